"""Permissions on the subscription record panel are checked on the server: a button a user may
not use is not shown, and a forged POST (valid session and CSRF token) is refused with 403."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Api
from tests.web.conftest import add_user, sign_in
from tests.web.test_subscription_actions import action, forged_post
from tests.web.test_subscription_record import set_clock, subscribe


def signed_in_as(
    api: Api,
    session_factory: Any,
    context: BrowserContext,
    base_url: str,
    permissions: list[str],
) -> None:
    user_id = add_user(api, session_factory, f"limited-{api.account_id}@example.com", permissions)
    sign_in(context, session_factory, user_id, base_url)


def test_without_the_delete_permission_a_canceled_subscription_cannot_be_deleted(
    api: Api, session_factory: Any, page: Page, context: BrowserContext, base_url: str
) -> None:
    set_clock(session_factory, api)
    sub = subscribe(api)
    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}))
    signed_in_as(
        api, session_factory, context, base_url, ["subscriptions.view", "subscriptions.edit"]
    )

    page.goto(f"{base_url}/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceled")
    expect(action(page, "Edit")).to_be_visible()  # the user may edit, just not delete
    expect(action(page, "Delete")).to_have_count(0)
    expect(page.locator("#delete-dialog")).to_have_count(0)

    forged = forged_post(page, base_url, f"/subscriptions/{sub['id']}/delete", {})
    assert forged.status_code == 403
    assert "subscriptions.delete" in forged.text
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "canceled"


def test_a_view_only_user_sees_no_actions_and_cannot_cancel_or_edit(
    api: Api, session_factory: Any, page: Page, context: BrowserContext, base_url: str
) -> None:
    set_clock(session_factory, api)
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "tier", "label": "Tier", "field_type": "text"}
        )
    )
    sub = subscribe(api)
    signed_in_as(api, session_factory, context, base_url, ["subscriptions.view"])

    page.goto(f"{base_url}/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("status-badge")).to_have_text("Active")
    expect(page.get_by_test_id("record-actions").get_by_role("button")).to_have_count(0)
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.get_by_test_id("property-group").get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_test_id("association-contact").locator("summary")).to_have_count(0)

    refused = {
        "cancel": {"mode": "immediately", "refund": "full", "understood": "on"},
        "pause": {},
        "edit": {"name": "Renamed"},
        "payment-method-link": {},
        "properties": {"group": "subscription_information", "properties.tier": "Gold"},
    }
    for path, data in refused.items():
        forged = forged_post(page, base_url, f"/subscriptions/{sub['id']}/{path}", data)
        assert forged.status_code == 403, path
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["name"], stored["properties"]) == ("active", "Beans", {})
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert payment["status"] == "succeeded"


def test_a_user_without_view_permission_cannot_open_the_panel(
    api: Api, session_factory: Any, page: Page, context: BrowserContext, base_url: str
) -> None:
    set_clock(session_factory, api)
    sub = subscribe(api)
    # (no permissions at all would make a super admin: add_user's default)
    signed_in_as(api, session_factory, context, base_url, ["subscriptions.export"])
    response = page.goto(f"{base_url}/subscriptions/{sub['id']}")
    assert response is not None and response.status == 403
    assert "Beans" not in page.content()


def test_a_signed_out_visitor_is_sent_to_the_login_page(
    api: Api, session_factory: Any, base_url: str
) -> None:
    set_clock(session_factory, api)
    sub = subscribe(api)
    with httpx.Client(base_url=base_url) as client:
        response = client.get(f"/subscriptions/{sub['id']}")
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=/subscriptions/{sub['id']}"
        posted = client.post(f"/subscriptions/{sub['id']}/delete")
        assert posted.status_code == 303
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"
