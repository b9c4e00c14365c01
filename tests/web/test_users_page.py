"""The users page (super admins only): add users with permissions, change permissions,
deactivate and reactivate, and the guards that keep an account manageable."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from cadency.accounts.models import User, UserSession
from tests.conftest import Api
from tests.web.conftest import PASSWORD, Staff, add_user, screenshot, sign_in


def forger(page: Page, base_url: str) -> tuple[httpx.Client, str]:
    """The browser's session cookie and CSRF token in a hand-made HTTP client."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    return httpx.Client(base_url=base_url, cookies=cookies), token


def user_row(session_factory: Any, api: Api, email: str) -> User:
    with session_factory() as session:
        user: User = session.query(User).filter_by(account_id=api.account_id, email=email).one()
        session.expunge(user)
        return user


def new_page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(7_000)
    return page


def log_in(page: Page, base_url: str, email: str, password: str, next_path: str) -> None:
    page.goto(f"{base_url}/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_add_a_user_who_signs_in_and_sees_only_what_they_may(
    staff: Staff, session_factory: Any, browser: Browser
) -> None:
    email = f"clerk-{staff.api.account_id}@example.com"
    page = staff.goto("/settings/users")
    expect(page.locator(f"tr[data-user='{staff.email}']")).to_contain_text("(you)")
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Email").fill(email.upper())
    page.get_by_label("Initial password").fill("clerk password 1")
    # "View subscriptions" is checked to start with.
    expect(page.get_by_label("View subscriptions")).to_be_checked()
    page.get_by_label("Edit property settings").check()
    screenshot(page, "settings-user-form")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("flash")).to_have_text(f"User {email} added. They can now log in.")
    row = page.locator(f"tr[data-user='{email}']")
    expect(row.locator("[data-permission]")).to_have_text(
        ["View subscriptions", "Edit property settings"]
    )
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    screenshot(page, "settings-users")
    clerk = user_row(session_factory, staff.api, email)
    assert clerk.permissions == ["subscriptions.view", "properties.edit"]
    assert clerk.is_active is True
    assert clerk.password_hash.startswith("$argon2")

    context = browser.new_context()
    clerk_page = new_page(context)
    log_in(clerk_page, staff.base_url, email, "clerk password 1", "/settings/properties")
    expect(clerk_page).to_have_url(staff.base_url + "/settings/properties")
    expect(clerk_page.get_by_role("link", name="Create property")).to_be_visible()
    # No Users entry in the menu, and the page itself refuses.
    expect(clerk_page.get_by_role("navigation", name="Main")).not_to_contain_text("Users")
    response = clerk_page.goto(staff.base_url + "/settings/users")
    assert response is not None and response.status == 403
    # Account settings: readable, not changeable.
    clerk_page.goto(staff.base_url + "/settings/account")
    expect(clerk_page.get_by_role("button", name="Save settings")).to_have_count(0)
    context.close()


def test_bad_input_when_adding_a_user(staff: Staff, session_factory: Any) -> None:
    page = staff.goto("/settings/users/new")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Initial password").fill("long enough password")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("error-email")).to_contain_text("already exists")

    page.get_by_label("Email").fill(f"new-{staff.api.account_id}@example.com")
    page.get_by_label("Initial password").fill("short")
    page.evaluate("document.getElementById('f-password').removeAttribute('minlength')")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("error-password")).to_have_text(
        "The password needs at least 8 characters"
    )

    page.get_by_label("Initial password").fill("long enough password")
    page.get_by_label("View subscriptions").uncheck()
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("error-permissions")).to_have_text("Choose at least one permission.")
    with session_factory() as session:
        emails = [u.email for u in session.query(User).filter_by(account_id=staff.api.account_id)]
    assert emails == [staff.email]


def test_edit_permissions(staff: Staff, session_factory: Any) -> None:
    email = f"sales-{staff.api.account_id}@example.com"
    user_id = add_user(staff.api, session_factory, email, ["subscriptions.view"])
    page = staff.goto("/settings/users")
    page.locator(f"tr[data-user='{email}']").get_by_role("link", name="Edit permissions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Permissions of {email}")
    page.get_by_label("Edit subscriptions").check()
    page.get_by_label("Export subscriptions").check()
    page.get_by_label("View subscriptions").uncheck()
    page.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_test_id("flash")).to_have_text(f"Permissions of {email} saved.")
    expect(page.locator(f"tr[data-user='{email}'] [data-permission]")).to_have_text(
        ["Edit subscriptions", "Export subscriptions"]
    )
    assert user_row(session_factory, staff.api, email).permissions == [
        "subscriptions.edit",
        "subscriptions.export",
    ]

    page.goto(f"{staff.base_url}/settings/users/{user_id}")
    for box in page.locator("input[name=permissions]").all():
        box.uncheck()
    page.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_test_id("error-permissions")).to_contain_text("at least one permission")
    assert user_row(session_factory, staff.api, email).permissions == [
        "subscriptions.edit",
        "subscriptions.export",
    ]


def test_deactivating_ends_the_users_session(
    staff: Staff, session_factory: Any, browser: Browser
) -> None:
    email = f"leaver-{staff.api.account_id}@example.com"
    user_id = add_user(staff.api, session_factory, email, ["subscriptions.view"])
    context = browser.new_context()
    sign_in(context, session_factory, user_id, staff.base_url)
    leaver = new_page(context)
    leaver.goto(staff.base_url + "/settings/profile")
    expect(leaver.get_by_test_id("profile-email")).to_have_text(email)

    page = staff.goto("/settings/users")
    row = page.locator(f"tr[data-user='{email}']")
    row.get_by_role("button", name="Deactivate").click()
    dialog = page.locator(f"dialog#deactivate-{user_id}")
    expect(dialog).to_contain_text("They are signed out at once")
    dialog.get_by_role("button", name="Deactivate user").click()
    expect(page.get_by_test_id("flash")).to_have_text(f"{email} was deactivated and signed out.")
    expect(row.get_by_test_id("status-badge")).to_have_text("Deactivated")
    assert user_row(session_factory, staff.api, email).is_active is False
    with session_factory() as session:
        assert session.query(UserSession).filter_by(user_id=user_id).count() == 0

    # The open browser's next page load goes to the login page, and logging in fails.
    leaver.reload()
    expect(leaver).to_have_url(f"{staff.base_url}/login?next=/settings/profile")
    log_in(leaver, staff.base_url, email, PASSWORD, "/settings/profile")
    expect(leaver.get_by_role("alert")).to_have_text("Wrong email or password.")

    row.get_by_role("button", name="Reactivate").click()
    expect(page.get_by_test_id("flash")).to_have_text(f"{email} can log in again.")
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    log_in(leaver, staff.base_url, email, PASSWORD, "/settings/profile")
    expect(leaver.get_by_test_id("profile-email")).to_have_text(email)
    context.close()


def test_nobody_locks_themselves_out(staff: Staff, session_factory: Any) -> None:
    me = user_row(session_factory, staff.api, staff.email)
    page = staff.goto(f"/settings/users/{me.id}")
    page.get_by_label("Super admin").uncheck()
    page.get_by_label("View subscriptions").check()
    page.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_test_id("error-permissions")).to_have_text(
        "You cannot remove your own super admin permission; ask another super admin"
    )
    assert user_row(session_factory, staff.api, staff.email).permissions == ["super_admin"]

    # No Deactivate button on one's own row; a forged request is refused with a message.
    page = staff.goto("/settings/users")
    own_row = page.locator(f"tr[data-user='{staff.email}']")
    expect(own_row.get_by_role("button", name="Deactivate")).to_have_count(0)
    client, token = forger(page, staff.base_url)
    with client:
        response = client.post(f"/settings/users/{me.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 409
    assert "You cannot deactivate yourself" in response.text
    assert user_row(session_factory, staff.api, staff.email).is_active is True


def test_only_super_admins_manage_users(
    api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    everything_else = [
        "subscriptions.view",
        "subscriptions.edit",
        "subscriptions.delete",
        "subscriptions.export",
        "line_items.create_custom",
        "properties.edit",
        "billing.edit",
    ]
    manager = add_user(api, session_factory, f"mgr-{api.account_id}@example.com", everything_else)
    other = add_user(
        api, session_factory, f"other-{api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, manager, base_url)
    page = new_page(context)
    for path in ("/settings/users", "/settings/users/new", f"/settings/users/{other}"):
        response = page.goto(base_url + path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_test_id("error-message")).to_contain_text("super_admin")

    client, token = forger(page, base_url)
    with client:
        forged = [
            client.post(
                "/settings/users/new",
                data={
                    "csrf_token": token,
                    "email": "sneaky@example.com",
                    "password": "long enough password",
                    "permissions": "super_admin",
                },
            ),
            client.post(
                f"/settings/users/{manager}",
                data={"csrf_token": token, "permissions": "super_admin"},
            ),
            client.post(f"/settings/users/{other}/deactivate", data={"csrf_token": token}),
        ]
    assert [r.status_code for r in forged] == [403, 403, 403]
    with session_factory() as session:
        assert session.query(User).filter_by(email="sneaky@example.com").count() == 0
        assert "super_admin" not in session.get(User, manager).permissions
        assert session.get(User, other).is_active is True
    context.close()


def test_another_accounts_user_is_not_found(
    staff: Staff, other_api: Api, session_factory: Any
) -> None:
    stranger = add_user(
        other_api, session_factory, f"x-{other_api.account_id}@example.com", ["subscriptions.view"]
    )
    response = staff.page.goto(f"{staff.base_url}/settings/users/{stranger}")
    assert response is not None and response.status == 404
    client, token = forger(staff.page, staff.base_url)
    with client:
        refused = client.post(f"/settings/users/{stranger}/deactivate", data={"csrf_token": token})
    assert refused.status_code == 404
    with session_factory() as session:
        assert session.get(User, stranger).is_active is True
