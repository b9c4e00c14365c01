"""Payment links associated with deals in the browser: created from a deal's page with the deal
chosen, the link's page links to its deal, and the deal's page lists its payment links."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.conftest import Api
from tests.crm.test_archive import archive
from tests.web.conftest import Staff, screenshot


def _product(api: Api, name: str, price: str, frequency: str | None = "monthly") -> Any:
    body = {"name": name, "unit_price": price, "currency": "USD", "billing_frequency": frequency}
    return api.ok(api.post("/products", body))


def test_a_payment_link_for_a_deal_is_listed_on_the_deals_page(staff: Staff) -> None:
    api = staff.api
    plan = _product(api, "Coffee club", "10.00")
    deal = api.ok(api.post("/deals", {"name": "Office coffee"}))
    other = api.ok(api.post("/deals", {"name": "Second office"}))

    page = staff.goto(f"/deals/{deal['id']}")
    card = page.get_by_test_id("deal-payment-links")
    expect(card).to_contain_text("No payment links yet.")
    card.get_by_role("link", name="Create payment link").click()
    expect(page.get_by_label("Deal (optional)")).to_have_value(deal["id"])
    page.get_by_label("Name").fill("Office coffee link")
    page.get_by_label("Product of line 1").select_option(plan["id"])
    page.get_by_label("Quantity of line 1").fill("3")
    page.get_by_role("button", name="Create payment link").click()

    expect(page.get_by_test_id("flash")).to_have_text("The payment link was created.")
    link_id = page.url.rsplit("/", 1)[1]
    assert api.ok(api.get(f"/payment-links/{link_id}"))["deal_id"] == deal["id"]
    expect(page.get_by_test_id("link-deal")).to_have_text("Office coffee")
    page.get_by_test_id("link-deal").get_by_role("link").click()

    assert page.url.endswith(f"/deals/{deal['id']}")
    row = page.get_by_test_id("deal-payment-links").locator(f"tr[data-id='{link_id}']")
    expect(row).to_contain_text("Office coffee link")
    expect(row).to_contain_text("$30.00")
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    screenshot(page, "deal-payment-links-en")
    # Another deal lists none of it.
    page.goto(f"{staff.base_url}/deals/{other['id']}")
    expect(page.get_by_test_id("deal-payment-links")).to_contain_text("No payment links yet.")

    page.goto(f"{staff.base_url}/deals/{deal['id']}")
    page.locator("#language-switch").select_option("nl")
    card = page.get_by_test_id("deal-payment-links")
    expect(card.get_by_role("heading")).to_have_text("Betaallinks")
    expect(card.get_by_role("link", name="Betaallink maken")).to_be_visible()
    expect(card.get_by_test_id("status-badge")).to_have_text("Actief")
    screenshot(page, "deal-payment-links-nl")
    page.locator("#language-switch").select_option("en")
    expect(page.get_by_test_id("deal-payment-links").get_by_role("heading")).to_have_text(
        "Payment links"
    )

    # The link's page moves it to the other deal, then to none.
    page.goto(f"{staff.base_url}/payment-links/{link_id}")
    page.get_by_text("Change deal").click()
    page.get_by_label("Deal", exact=True).select_option(other["id"])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The payment link's deal was saved.")
    expect(page.get_by_test_id("link-deal")).to_have_text("Second office")
    assert api.ok(api.get(f"/payment-links/{link_id}"))["deal_id"] == other["id"]
    page.get_by_text("Change deal").click()
    page.get_by_label("Deal", exact=True).select_option("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_contain_text("no longer associated")
    expect(page.get_by_test_id("link-deal")).to_have_text("—")
    assert api.ok(api.get(f"/payment-links/{link_id}"))["deal_id"] is None


def test_an_archived_or_foreign_deal_is_refused_on_the_form(
    staff: Staff, other_api: Api, session_factory: Any
) -> None:
    api = staff.api
    plan = _product(api, "Coffee club", "10.00")
    lost = api.ok(api.post("/deals", {"name": "Lost deal"}))
    theirs = other_api.ok(other_api.post("/deals", {"name": "Their deal"}))
    archive(session_factory, api, "deal", lost["id"])

    # An archived deal is not offered; chosen by hand (from its old link) it is refused.
    page = staff.goto("/payment-links/new")
    expect(page.get_by_label("Deal (optional)")).not_to_contain_text("Lost deal")
    page = staff.goto(f"/payment-links/new?deal_id={lost['id']}")
    page.get_by_label("Name").fill("Coffee")
    page.get_by_label("Product of line 1").select_option(plan["id"])
    page.get_by_role("button", name="Create payment link").click()
    expect(page.get_by_test_id("error-deal_id")).to_contain_text("archived")
    # Another account's deal is not shown, and posting it is refused the same way.
    page = staff.goto(f"/payment-links/new?deal_id={theirs['id']}")
    expect(page.get_by_label("Deal (optional)")).not_to_contain_text("Their deal")
    expect(page.get_by_label("Deal (optional)")).to_have_value("")
    token = (page.locator("body").get_attribute("hx-headers") or "").split('"')[3]
    answer = page.request.post(
        f"{staff.base_url}/payment-links",
        form={
            "csrf_token": token,
            "name": "Coffee",
            "currency": "USD",
            "collection_method": "charge_automatically",
            "deal_id": theirs["id"],
            "payment_types": "card",
            "save_payment_method": "1",
            "line_items.0.product_id": plan["id"],
            "line_items.0.quantity": "1",
        },
    )
    assert answer.status == 422
    assert "No such deal" in answer.text()
    assert "Their deal" not in answer.text()
    assert api.ok(api.get("/payment-links"))["data"] == []
