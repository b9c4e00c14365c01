"""The confirmation before creating a subscription (issue 19; seed "Klik in het dialoogvenster op
Maken om het abonnement te bevestigen of klik op Annuleren"): what is charged now, the recurring
amount and the first payment, from the form's own summary; Cancel keeps the form; without
JavaScript the form submits as before."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from playwright.sync_api import expect

from tests.conftest import Api
from tests.web.conftest import Staff, add_user, screenshot, sign_in
from tests.web.http import signed_in
from tests.web.test_create_subscription import (
    add_product,
    rows,
    shop,
    show_column,
    subscriptions_of,
    today,
)


def test_the_dialog_says_what_is_charged_and_cancel_keeps_the_form(staff: Staff) -> None:
    api = staff.api
    data = shop(api)
    emma = data["emma"]
    violations: list[str] = []
    staff.page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    coffee = add_product(page, "coffee", "Coffee beans")
    coffee.get_by_label("Quantity").fill("2")
    show_column(page, "Tax rate")
    coffee.get_by_label("Tax rate").select_option(label="VAT (21%)")
    grinder = add_product(page, "grinder", "Grinder service plan")
    grinder.get_by_label("Billing starts").select_option("delay")
    grinder.get_by_label("Delay", exact=True).fill("10")
    expect(page.get_by_test_id("summary-due-now")).to_have_text("€24.20")  # 2 x 10.00 + 21%

    page.get_by_role("button", name="Create subscription").click()
    dialog = page.get_by_test_id("confirm-create")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("confirm-due-now")).to_have_text("€24.20")
    expect(dialog.get_by_test_id("confirm-now")).to_have_text(
        "€24.20 is charged to the saved payment method now."
    )
    recurring = dialog.get_by_test_id("confirm-recurring")
    expect(recurring).to_have_count(2)
    expect(recurring.nth(0)).to_contain_text("Monthly")
    expect(recurring.nth(0)).to_contain_text("€24.20")
    expect(recurring.nth(1)).to_contain_text("Annually")
    expect(recurring.nth(1)).to_contain_text("€100.00")
    day = today(api)
    expect(dialog.get_by_test_id("confirm-first-payment")).to_have_text(
        f"{day:%b} {day.day}, {day.year}"
    )
    expect(dialog).to_contain_text("2 subscriptions will be created")
    expect(dialog.get_by_role("button", name="Create and charge")).to_be_focused()
    screenshot(page, "subscription-create-confirm-en")
    assert violations == []  # create.js did it all under the page's Content-Security-Policy

    # Cancel closes the dialog; the form is as it was, and nothing was created.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first.get_by_label("Quantity")).to_have_value("2")
    assert subscriptions_of(api, emma["id"]) == []

    # Invoiced rather than charged: plain "Create". Only the grinder, later: nothing now.
    rows(page).first.get_by_role("button", name="Remove line item").click()
    page.get_by_label("Collect payment manually on each invoice").check()
    expect(page.get_by_test_id("summary-due-now")).to_have_text("€0.00")
    page.get_by_role("button", name="Create subscription").click()
    expect(dialog.get_by_test_id("confirm-now")).to_have_text("Nothing is charged now.")
    start = day.toordinal() + 10
    first = type(day).fromordinal(start)
    expect(dialog.get_by_test_id("confirm-first-payment")).to_have_text(
        f"{first:%b} {first.day}, {first.year}"
    )
    expect(dialog.get_by_role("button", name="Create and charge")).to_have_count(0)
    dialog.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    [created] = subscriptions_of(api, emma["id"])
    assert (created["billing_frequency"], created["status"]) == ("annually", "scheduled")
    assert created["collection_method"] == "send_invoice"
    assert created["total_collected"] == "0.00"

    # In Dutch.
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.goto(f"{staff.base_url}/subscriptions/new?contact_id={emma['id']}")
    page.locator("#product-search").fill("coffee")
    page.locator("#product-results button").first.click()
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_test_id("summary-due-now")).to_have_text("€ 10,00")
    page.locator("#create-subscription").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("confirm-due-now")).to_have_text("€ 10,00")
    expect(dialog.locator("[data-confirm-create]")).to_have_text("Maken en in rekening brengen")
    screenshot(page, "subscription-create-confirm-nl")


def test_without_javascript_the_form_submits_at_once(staff: Staff, browser: Any) -> None:
    api = staff.api
    data = shop(api)
    emma = data["emma"]
    deal = api.ok(
        api.post(
            "/deals",
            {
                "name": "Beans deal",
                "currency": "EUR",
                "contact_id": emma["id"],
                "line_items": [{"product_id": data["coffee"]["id"], "quantity": 1}],
            },
        )
    )
    factory = api.client.app.state.session_factory  # type: ignore[attr-defined]
    user_id = add_user(api, factory, f"nojs-{api.account_id}@example.com")
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    sign_in(context, factory, user_id, staff.base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)
    page.goto(f"{staff.base_url}/subscriptions/new?deal_id={deal['id']}")
    expect(page.get_by_test_id("confirm-create")).to_be_hidden()
    page.get_by_role("button", name="Create subscription").click()
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    [created] = subscriptions_of(api, emma["id"])
    assert created["total_collected"] == "10.00"
    context.close()


def test_what_the_confirmation_answers(app: FastAPI, session_factory: Any, api: Api) -> None:
    """A form with errors gets no dialog (create.js then submits it, so the errors come back on
    the form); a record-only subscription charges nothing."""
    data = shop(api)
    user = signed_in(app, session_factory, api)
    form = {
        "csrf_token": user.csrf_token,
        "currency": "EUR",
        "line": "k1",
        "line.k1.product_id": data["coffee"]["id"],
        "line.k1.name": "Coffee beans",
        "line.k1.unit_price": "10.00",
        "line.k1.billing_frequency": "monthly",
        "collection_method": "charge_automatically",
        "payment_method": data["card"]["id"],
    }
    with user.client as client:
        assert client.post("/subscriptions/new/confirm", data=form).status_code == 422
        answer = client.post(
            "/subscriptions/new/confirm", data={**form, "contact_id": data["emma"]["id"]}
        )
        assert answer.status_code == 200
        assert "Create and charge" in answer.text
        assert "€10.00 is charged to the saved payment method now." in answer.text
        # A record only: nothing is invoiced or charged, so nothing is due either.
        record = {**form, "contact_id": data["emma"]["id"], "invoice_creation.present": "1"}
        answer = client.post("/subscriptions/new/confirm", data=record)
        assert answer.status_code == 200
        assert "nothing is invoiced or charged" in answer.text
        assert "Create and charge" not in answer.text
        assert 'data-testid="confirm-due-now"' not in answer.text
        # Nothing was created by asking.
    assert subscriptions_of(api, data["emma"]["id"]) == []
