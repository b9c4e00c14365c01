"""Signing in and out, languages of the login page, and the guards every page has."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from cadency.accounts.models import User, UserSession
from tests.conftest import Api
from tests.web.conftest import PASSWORD, Staff, add_user, screenshot


def test_login_with_email_and_password_then_logout(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    email = f"owner-{api.account_id}@example.com"
    add_user(api, session_factory, email)

    page.goto(base_url + "/subscriptions")
    expect(page).to_have_url(base_url + "/login?next=/subscriptions")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "login")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base_url + "/subscriptions")
    expect(page.get_by_test_id("account-name")).to_contain_text(str(api.account_id))
    cookie = next(c for c in page.context.cookies() if c["name"] == "cadency_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    with session_factory() as session:
        user = session.query(User).filter_by(email=email).one()
        assert session.query(UserSession).filter_by(user_id=user.id).count() == 1

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(base_url + "/login")
    with session_factory() as session:
        assert session.query(UserSession).filter_by(user_id=user.id).count() == 0
    page.goto(base_url + "/subscriptions")
    expect(page).to_have_url(base_url + "/login?next=/subscriptions")


def test_login_page_in_dutch_and_danish(browser: Any, base_url: str) -> None:
    for locale, labels in {
        "nl-NL": ("E-mailadres", "Wachtwoord", "Inloggen"),
        "da-DK": ("E-mail", "Adgangskode", "Log ind"),
    }.items():
        context = browser.new_context(locale=locale)
        page = context.new_page()
        page.goto(base_url + "/login")
        expect(page.get_by_label(labels[0], exact=True)).to_be_visible()
        expect(page.get_by_label(labels[1], exact=True)).to_be_visible()
        expect(page.get_by_role("button", name=labels[2])).to_be_visible()
        screenshot(page, f"login-{locale}")
        context.close()


def test_a_post_without_the_csrf_token_is_refused(staff: Staff) -> None:
    cookies = {c["name"]: c["value"] for c in staff.page.context.cookies()}
    with httpx.Client(base_url=staff.base_url, cookies=cookies) as client:
        forged = client.post("/me/language", data={"language": "nl", "next": "/"})
        assert forged.status_code == 403
        assert "expired" in forged.text
    with staff.api.client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        user = session.query(User).filter_by(email=staff.email).one()
        assert user.language is None


def test_the_next_parameter_never_leaves_the_site(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    email = f"nav-{api.account_id}@example.com"
    add_user(api, session_factory, email)
    page.goto(base_url + "/login?next=https://evil.example/steal")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base_url + "/subscriptions")
