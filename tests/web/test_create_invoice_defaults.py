"""The create form starts from the account's invoice defaults (seed 004: a default comment
shown on all invoices; the account's tax IDs as a list to choose from): the comment is
prefilled and the tax IDs offered ticked. What the form sends is what is meant: an emptied
comment is no comment, an unticked tax ID stays off the invoices."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import Staff, screenshot
from tests.web.test_create_subscription import add_product, create, shop, subscriptions_of


def test_the_form_offers_the_account_defaults(staff: Staff) -> None:
    api = staff.api
    data = shop(api)
    api.ok(
        api.patch(
            "/account/settings",
            {
                "default_invoice_comment": "Thank you for drinking **our** coffee.",
                "tax_ids": ["NL123456789B01", "KVK 12345678"],
            },
        )
    )
    emma = data["emma"]
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    add_product(page, "coffee", "Coffee beans")
    page.get_by_text("Invoice settings").click()
    comments = page.get_by_label("Invoice comments")
    expect(comments).to_have_value("Thank you for drinking **our** coffee.")
    offered = page.get_by_test_id("account-tax-ids")
    expect(offered.get_by_label("NL123456789B01")).to_be_checked()
    expect(offered.get_by_label("KVK 12345678")).to_be_checked()
    screenshot(page, "subscription-create-invoice-defaults-en")

    # As offered: both tax IDs, the default comment, plus one typed for this buyer.
    page.get_by_label("Other tax IDs").fill("DE811907980")
    create(page, "Create and charge")
    expect(page.get_by_test_id("flash")).to_be_visible()
    [first] = subscriptions_of(api, emma["id"])
    settings = first["invoice_settings"]
    assert settings["comments"] == "Thank you for drinking **our** coffee."
    assert settings["tax_ids"] == ["NL123456789B01", "KVK 12345678", "DE811907980"]

    # Emptied and unticked: no comment, one tax ID.
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    add_product(page, "coffee", "Coffee beans")
    page.get_by_text("Invoice settings").click()
    page.get_by_label("Invoice comments").fill("")
    page.get_by_test_id("account-tax-ids").get_by_label("KVK 12345678").uncheck()
    create(page, "Create and charge")
    expect(page.get_by_test_id("flash")).to_be_visible()
    second = next(s for s in subscriptions_of(api, emma["id"]) if s["id"] != first["id"])
    assert second["invoice_settings"]["comments"] in (None, "")
    assert second["invoice_settings"]["tax_ids"] == ["NL123456789B01"]

    # The API, asked without invoice settings, applies the defaults itself.
    third = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": emma["id"],
                "currency": "EUR",
                "line_items": [{"product_id": data["coffee"]["id"]}],
                "collection_method": "charge_automatically",
                "payment_method_id": data["card"]["id"],
            },
        )
    )
    assert third["invoice_settings"]["comments"] == "Thank you for drinking **our** coffee."
    assert third["invoice_settings"]["tax_ids"] == ["NL123456789B01", "KVK 12345678"]

    page.locator("#language-switch").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    page.get_by_text("Factuurinstellingen").click()
    expect(page.get_by_test_id("account-tax-ids")).to_contain_text("Belasting-ID's van het account")
    screenshot(page, "subscription-create-invoice-defaults-nl")
    page.locator("#language-switch").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
