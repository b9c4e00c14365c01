"""Payment links in the browser: create one from the product library, copy its URL, and see the
purchases made through it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from cadency.checkout.models import PaymentLinkPurchase
from tests.checkout.builders import bank
from tests.conftest import Api
from tests.web.conftest import Staff, screenshot


def _product(api: Api, name: str, price: str, frequency: str | None) -> Any:
    body = {"name": name, "unit_price": price, "currency": "USD", "billing_frequency": frequency}
    return api.ok(api.post("/products", body))


def _checkout(api: Api, link_id: str, email: str, number: str = "4242424242424242") -> Any:
    body = {
        "contact": {"email": email, "first_name": "Ann", "last_name": "Smith"},
        "payment_method": {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
        },
    }
    return api.post(f"/payment-links/{link_id}/checkout", body)


def test_create_a_payment_link_copy_it_and_see_its_purchases(staff: Staff) -> None:
    monthly = _product(staff.api, "Coffee club", "10.00", "monthly")
    annual = _product(staff.api, "Grinder service", "100.00", "annually")
    kit = _product(staff.api, "Welcome kit", "5.00", None)
    archived = _product(staff.api, "Old blend", "7.00", "monthly")
    staff.api.ok(staff.api.patch(f"/products/{archived['id']}", {"archived": True}))

    page = staff.goto("/payment-links")
    page.get_by_role("link", name="Create payment link").click()
    # Archived products are not offered.
    options = page.get_by_label("Product of line 1").locator("option")
    expect(options).to_have_count(4)
    expect(page.get_by_label("Product of line 1")).not_to_contain_text("Old blend")
    page.get_by_role("button", name="Create payment link").click()
    expect(page.get_by_test_id("error-name")).to_be_visible()
    expect(page.get_by_test_id("error-line_items")).to_have_text("Choose at least one product.")

    page.get_by_label("Name").fill("Coffee club")
    page.get_by_label("Product of line 1").select_option(monthly["id"])
    page.get_by_label("Quantity of line 1").fill("2")
    page.get_by_label("Product of line 2").select_option(annual["id"])
    page.get_by_label("Product of line 4").select_option(kit["id"])
    page.get_by_role("button", name="Create payment link").click()

    expect(page.get_by_test_id("flash")).to_have_text("The payment link was created.")
    link_id = page.url.rsplit("/", 1)[1]
    link = staff.api.ok(staff.api.get(f"/payment-links/{link_id}"))
    assert link["name"] == "Coffee club"
    assert link["collection_method"] == "charge_automatically"
    assert [(i["product_id"], i["quantity"], i["amount"]) for i in link["line_items"]] == [
        (monthly["id"], 2, "20.00"),
        (annual["id"], 1, "100.00"),
        (kit["id"], 1, "5.00"),
    ]
    expect(page.get_by_test_id("link-url")).to_have_value(link["url"])
    expect(page.get_by_test_id("link-total")).to_have_text("$125.00")
    expect(page.get_by_test_id("purchases")).to_contain_text("No purchases yet.")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_test_id("copy-link")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link["url"]

    bought = staff.api.ok(_checkout(staff.api, link_id, "ann@example.com"))
    declined = _checkout(staff.api, link_id, "bob@example.com", "4000000000000002")
    assert declined.status_code == 402
    page.reload()
    rows = page.get_by_test_id("purchases").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ann Smith")
    expect(rows.first).to_contain_text("$125.00")
    invoice = staff.api.ok(staff.api.get(f"/invoices/{bought['invoice_id']}"))
    expect(rows.first).to_contain_text(invoice["number"])
    # Two frequencies: two subscriptions, each linked from the purchase.
    assert len(bought["subscriptions"]) == 2
    for subscription_id in bought["subscriptions"]:
        made = rows.first.locator(f"a[href='/subscriptions/{subscription_id}']")
        expect(made).to_have_count(1)
        assert staff.api.ok(staff.api.get(f"/subscriptions/{subscription_id}"))["status"] == (
            "active"
        )
    expect(rows.first.get_by_test_id("status-badge").first).to_have_text("Active")
    expect(rows.first.get_by_role("link", name="Ann Smith")).to_have_attribute(
        "href", f"/contacts/{bought['contact_id']}"
    )
    screenshot(page, "payment-link-detail")

    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_test_id("flash")).to_contain_text("deactivated")
    assert staff.api.ok(staff.api.get(f"/payment-links/{link_id}"))["active"] is False
    assert _checkout(staff.api, link_id, "cleo@example.com").status_code == 409
    page.get_by_role("button", name="Activate").click()
    assert staff.api.ok(staff.api.get(f"/payment-links/{link_id}"))["active"] is True

    page.goto(staff.base_url + "/payment-links")
    row = page.get_by_test_id("payment-links").locator(f"tr[data-id='{link_id}']")
    expect(row).to_contain_text("Coffee club")
    expect(row).to_contain_text("$125.00")
    screenshot(page, "payment-links")


def test_a_product_in_another_currency_is_refused_on_its_row(staff: Staff) -> None:
    euro = staff.api.ok(
        staff.api.post("/products", {"name": "Euro plan", "unit_price": "9.00", "currency": "EUR"})
    )
    dollar = _product(staff.api, "Dollar plan", "9.00", "monthly")
    page = staff.goto("/payment-links/new")
    page.get_by_label("Name").fill("Mixed")
    page.get_by_label("Currency").fill("USD")
    page.get_by_label("Product of line 1").select_option(dollar["id"])
    page.get_by_label("Product of line 3").select_option(euro["id"])
    with page.expect_response(lambda r: r.url.endswith("/payment-links")) as answer:
        page.get_by_role("button", name="Create payment link").click()
    assert answer.value.status == 422
    # The service names item 1; the page shows it on the third row, where it was chosen.
    expect(page.get_by_test_id("error-line_items.2.product_id")).to_contain_text("EUR")
    expect(page.get_by_label("Product of line 3")).to_have_value(euro["id"])
    assert staff.api.ok(staff.api.get("/payment-links"))["data"] == []


def test_another_accounts_payment_link_is_not_found(staff: Staff, other_api: Api) -> None:
    plan = _product(other_api, "Secret plan", "9.00", "monthly")
    theirs = other_api.ok(
        other_api.post(
            "/payment-links",
            {"name": "Secret link", "currency": "USD", "line_items": [{"product_id": plan["id"]}]},
        )
    )
    page = staff.goto(f"/payment-links/{theirs['id']}")
    expect(page.get_by_test_id("error-message")).to_contain_text("No such payment link")
    expect(page.locator("body")).not_to_contain_text("Secret link")
    token = (page.locator("body").get_attribute("hx-headers") or "").split('"')[3]
    response = page.request.post(
        f"{staff.base_url}/payment-links/{theirs['id']}/active", form={"csrf_token": token}
    )
    assert response.status == 404
    assert other_api.ok(other_api.get(f"/payment-links/{theirs['id']}"))["active"] is True


def test_a_purchase_paid_by_bank_debit_is_listed_while_its_payment_is_processing(
    staff: Staff, session_factory: Any
) -> None:
    plan = _product(staff.api, "Bean box", "30.00", "monthly")
    link = staff.api.ok(
        staff.api.post(
            "/payment-links",
            {
                "name": "Beans",
                "currency": "USD",
                "line_items": [{"product_id": plan["id"]}],
                "payment_options": {"payment_types": ["card", "bank_debit"]},
            },
        )
    )
    body = {
        "contact": {"email": "dora@example.com", "first_name": "Dora", "last_name": "Jones"},
        "payment_method": bank(),
        "save_payment_method": True,
    }
    bought = staff.api.ok(staff.api.post(f"/payment-links/{link['id']}/checkout", body))
    payment = staff.api.ok(staff.api.get(f"/payments/{bought['payment_id']}"))
    assert payment["status"] == "processing"
    with session_factory() as session:
        rows = session.query(PaymentLinkPurchase).filter_by(payment_link_id=link["id"]).all()
        assert [(r.contact_id, r.subscription_ids, r.invoice_id) for r in rows] == [
            (bought["contact_id"], bought["subscriptions"], bought["invoice_id"])
        ]

    page = staff.goto(f"/payment-links/{link['id']}")
    purchases = page.get_by_test_id("purchases").locator("tbody tr")
    expect(purchases).to_have_count(1)
    expect(purchases.first).to_contain_text("Dora Jones")
    expect(
        purchases.first.locator(f"a[href='/subscriptions/{bought['subscriptions'][0]}']")
    ).to_have_count(1)
