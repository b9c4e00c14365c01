"""The account settings page (API.md "Account settings") and each user's profile page."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from cadency.accounts.models import User
from tests.conftest import Api
from tests.web.conftest import Staff, add_user, screenshot, sign_in

DEFAULTS = {
    "timezone": "UTC",
    "currency": "USD",
    "language": "en",
    "locale": "en-US",
    "renewal_reminder_days": 14,
    "dunning_retry_days": [3, 5, 7],
    "dunning_final_action": "cancel",
    "dunning_invoice_action": "mark_uncollectible",
    "invoice_number_prefix": "INV",
    "bank_transfer_details": None,
    "default_invoice_comment": None,
    "tax_ids": [],
}


def settings(api: Api) -> dict[str, Any]:
    body: dict[str, Any] = api.ok(api.get("/account/settings"))
    return body


def forger(page: Page, base_url: str) -> tuple[httpx.Client, str]:
    """The browser's session cookie and CSRF token in a hand-made HTTP client."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    return httpx.Client(base_url=base_url, cookies=cookies), token


def field(page: Page, name: str) -> Any:
    """An input of the settings form by its field name."""
    return page.locator(f"#f-{name}")


def test_change_the_settings(staff: Staff) -> None:
    page = staff.goto("/settings/account")
    facts = page.get_by_test_id("account-facts")
    expect(facts).to_contain_text(str(staff.api.account_id))
    expect(facts).to_contain_text("Test shop")
    expect(page.get_by_test_id("account-mode")).to_contain_text("Test")
    expect(field(page, "timezone")).to_have_value("UTC")
    expect(page.get_by_label("Retry schedule")).to_have_value("3, 5, 7")
    expect(page.get_by_label("Days before the payment")).to_have_value("14")
    screenshot(page, "settings-account")

    field(page, "timezone").fill("Asia/Kolkata")
    field(page, "currency").fill("eur")
    page.get_by_label("Days before the payment").fill("7")
    page.get_by_label("Retry schedule").fill("2, 4,8")
    page.get_by_label("When every retry has failed").select_option(label="Pause the subscription")
    page.get_by_label("And the unpaid invoice").select_option(label="Leave the invoice open")
    field(page, "invoice_number_prefix").fill("CAD-")
    page.get_by_test_id("bank-transfer-details").fill("Test shop B.V.\nIBAN NL91 ABNA 0417 1643 00")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_have_text("Account settings saved.")
    expect(field(page, "timezone")).to_have_value("Asia/Kolkata")
    expect(page.get_by_label("Retry schedule")).to_have_value("2, 4, 8")

    assert settings(staff.api) == {
        **DEFAULTS,
        "account_id": staff.api.account_id,
        "name": "Test shop",
        "mode": "test",
        "timezone": "Asia/Kolkata",
        "currency": "EUR",
        "renewal_reminder_days": 7,
        "dunning_retry_days": [2, 4, 8],
        "dunning_final_action": "pause",
        "dunning_invoice_action": "leave_open",
        "invoice_number_prefix": "CAD-",
        "bank_transfer_details": "Test shop B.V.\nIBAN NL91 ABNA 0417 1643 00",
    }

    # Reminders off; the language alone moves the locale to the language's own.
    page.get_by_label("Email buyers before each renewal payment").uncheck()
    field(page, "language").select_option("nl")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(page.get_by_label("Email buyers before each renewal payment")).not_to_be_checked()
    after = settings(staff.api)
    assert after["renewal_reminder_days"] is None
    assert (after["language"], after["locale"]) == ("nl", "nl-NL")
    assert after["timezone"] == "Asia/Kolkata"

    page.get_by_label("Email buyers before each renewal payment").check()
    expect(page.get_by_label("Days before the payment")).to_have_value("14")
    page.get_by_label("Days before the payment").fill("10")
    field(page, "locale").fill("nl-BE")
    page.get_by_label("Retry schedule").fill("")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    after = settings(staff.api)
    assert after["renewal_reminder_days"] == 10
    assert after["locale"] == "nl-BE"
    assert after["dunning_retry_days"] == []


def test_bad_input_changes_nothing(staff: Staff) -> None:
    page = staff.goto("/settings/account")
    field(page, "timezone").fill("Mars/Base")
    page.get_by_label("When every retry has failed").select_option("pause")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-timezone")).to_have_text("Unknown time zone: 'Mars/Base'")
    # What was typed stays in the form to be corrected.
    expect(field(page, "timezone")).to_have_value("Mars/Base")
    expect(page.get_by_label("When every retry has failed")).to_have_value("pause")
    assert settings(staff.api)["dunning_final_action"] == "cancel"

    field(page, "timezone").fill("Europe/Amsterdam")
    page.get_by_label("Retry schedule").fill("3, x")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-dunning_retry_days")).to_have_text(
        "Enter the retry days as whole numbers separated by commas, e.g. 3, 5, 7."
    )
    page.get_by_label("Retry schedule").fill("5, 3")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-dunning_retry_days")).to_contain_text("must be increasing")
    page.get_by_label("Retry schedule").fill("0, 3")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-dunning_retry_days")).to_have_text("Enter 1 or more.")
    page.get_by_label("Retry schedule").fill("3, 5")
    page.get_by_label("Days before the payment").fill("two weeks")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-renewal_reminder_days")).to_contain_text("whole number")
    page.get_by_label("Days before the payment").fill("400")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-renewal_reminder_days")).to_contain_text("365")
    page.get_by_label("Days before the payment").fill("14")
    field(page, "currency").fill("XYZ")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-currency")).to_contain_text("Unknown currency")
    field(page, "currency").fill("USD")
    field(page, "invoice_number_prefix").fill("")
    page.evaluate("document.getElementById('f-invoice_number_prefix').removeAttribute('required')")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-invoice_number_prefix")).to_have_text(
        "This field is required."
    )
    after = settings(staff.api)
    assert {key: after[key] for key in DEFAULTS} == DEFAULTS


def test_who_may_change_the_settings(
    api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    viewer = add_user(
        api, session_factory, f"viewer-{api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, viewer, base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)
    page.goto(base_url + "/settings/account")
    expect(field(page, "timezone")).to_have_value("UTC")
    expect(field(page, "timezone")).to_be_disabled()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    client, token = forger(page, base_url)
    with client:
        forged = client.post(
            "/settings/account",
            data={
                "csrf_token": token,
                **{k: str(v) for k, v in DEFAULTS.items()},
                "timezone": "Asia/Tokyo",
            },
        )
        assert forged.status_code == 403
        assert "billing.edit" in forged.text
    assert settings(api)["timezone"] == "UTC"
    context.close()

    billing = add_user(
        api, session_factory, f"billing-{api.account_id}@example.com", ["billing.edit"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, billing, base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)
    page.goto(base_url + "/settings/account")
    field(page, "timezone").fill("Asia/Tokyo")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    assert settings(api)["timezone"] == "Asia/Tokyo"
    context.close()


def test_profile_language(staff: Staff, session_factory: Any) -> None:
    page = staff.goto("/settings/profile")
    expect(page.get_by_test_id("profile-email")).to_have_text(staff.email)
    expect(page.locator("[data-permission=super_admin]")).to_have_text("Super admin")
    expect(page.get_by_label("Language of the web app")).to_have_value("")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot(page, "settings-profile")

    page.get_by_label("Language of the web app").select_option(label="Dansk")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(field(page, "language")).to_have_value("da")
    with session_factory() as session:
        user = session.query(User).filter_by(email=staff.email).one()
        assert user.language == "da"

    # Back to the browser's language (en-US in these tests).
    page.locator("#f-language").select_option("")
    # (The profile page's first form; the second changes the password.)
    page.locator("form.settings-form button[type=submit]").first.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with session_factory() as session:
        assert session.query(User).filter_by(email=staff.email).one().language is None

    client, token = forger(page, staff.base_url)
    with client:
        refused = client.post("/settings/profile", data={"csrf_token": token, "language": "fr"})
        assert refused.status_code == 422
        assert "Choose one of the languages" in refused.text
    with session_factory() as session:
        assert session.query(User).filter_by(email=staff.email).one().language is None
