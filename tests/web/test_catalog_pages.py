"""The product library, tax rates and fees in the browser: what the pages show, and what the
API holds afterwards."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Api
from tests.web.conftest import Staff, add_user, screenshot, sign_in


def _product(
    api: Api, name: str, price: str, frequency: str | None = "monthly", **extra: Any
) -> Any:
    body = {"name": name, "unit_price": price, "currency": "EUR", "billing_frequency": frequency}
    return api.ok(api.post("/products", {**body, **extra}))


def _products_table(page: Page) -> Any:
    return page.get_by_test_id("products")


def test_create_edit_and_archive_a_product(staff: Staff) -> None:
    free = _product(staff.api, "Coffee club free", "0.00")
    page = staff.goto("/products")
    page.get_by_role("link", name="Create product").click()
    page.get_by_label("Name").fill("Coffee club")
    page.get_by_label("Unit price").fill("12.50")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_label("Billing frequency").select_option(label="Monthly")
    page.get_by_label("Tax category").fill("food")
    page.get_by_label("SKU").fill("CC-1")
    page.get_by_label("Fallback free plan").select_option(free["id"])
    page.get_by_role("button", name="Create product").click()

    expect(page.get_by_test_id("flash")).to_have_text("The product was created.")
    expect(page.get_by_test_id("unit-price")).to_have_text("€12.50")
    product_id = page.url.rsplit("/", 1)[1]
    created = staff.api.ok(staff.api.get(f"/products/{product_id}"))
    assert created["name"] == "Coffee club"
    assert created["unit_price"] == "12.50"
    assert created["currency"] == "EUR"
    assert created["billing_frequency"] == "monthly"
    assert created["tax_category"] == "food"
    assert created["sku"] == "CC-1"
    assert created["fallback_product_id"] == free["id"]

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Unit price").fill("14.00")
    page.get_by_label("Billing frequency").select_option(label="Annually")
    page.get_by_label("SKU").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The product was saved.")
    expect(page.get_by_test_id("unit-price")).to_have_text("€14.00")
    expect(page.get_by_test_id("product-facts")).to_contain_text("Annually")
    edited = staff.api.ok(staff.api.get(f"/products/{product_id}"))
    assert (edited["unit_price"], edited["billing_frequency"], edited["sku"]) == (
        "14.00",
        "annually",
        None,
    )
    # The fallback plan must be another recurring product: unchanged by this edit.
    assert edited["fallback_product_id"] == free["id"]

    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_test_id("flash")).to_contain_text("The product was archived.")
    assert staff.api.ok(staff.api.get(f"/products/{product_id}"))["archived"] is True

    page.goto(staff.base_url + "/products")
    expect(_products_table(page)).to_contain_text("Coffee club free")
    expect(_products_table(page).locator(f"tr[data-id='{product_id}']")).to_have_count(0)
    page.get_by_test_id("archived-toggle").click()
    expect(_products_table(page).locator(f"tr[data-id='{product_id}']")).to_contain_text(
        "Coffee club"
    )
    expect(_products_table(page)).not_to_contain_text("Coffee club free")

    page.get_by_role("link", name="Coffee club").click()
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_test_id("flash")).to_have_text("The product was restored.")
    assert staff.api.ok(staff.api.get(f"/products/{product_id}"))["archived"] is False


def test_a_price_with_too_many_decimals_is_refused_next_to_the_field(staff: Staff) -> None:
    page = staff.goto("/products/new")
    page.get_by_label("Name").fill("Tea")
    page.get_by_label("Unit price").fill("12.345")
    page.get_by_label("Currency").fill("EUR")
    with page.expect_response(lambda r: r.url.endswith("/products")) as answer:
        page.get_by_role("button", name="Create product").click()
    assert answer.value.status == 422
    expect(page.get_by_test_id("error-unit_price")).to_contain_text("2 decimal")
    # What was typed stays in the form.
    expect(page.get_by_label("Name")).to_have_value("Tea")
    assert staff.api.ok(staff.api.get("/products"))["data"] == []

    # An edit is checked the same way, and the product keeps its price.
    product = _product(staff.api, "Tea", "3.00", None)
    page.goto(f"{staff.base_url}/products/{product['id']}/edit")
    page.get_by_label("Unit price").fill("3.999")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error-unit_price")).to_contain_text("2 decimal")
    assert staff.api.ok(staff.api.get(f"/products/{product['id']}"))["unit_price"] == "3.00"


def test_search_finds_products_by_name_and_sku(staff: Staff) -> None:
    _product(staff.api, "Espresso beans", "9.00", None, sku="BEAN-1")
    _product(staff.api, "Filter papers", "2.00", None, sku="PAPER-100")
    page = staff.goto("/products")
    expect(_products_table(page).locator("tbody tr")).to_have_count(2)
    screenshot(page, "products")
    page.get_by_label("Search products").fill("paper-1")
    page.get_by_role("button", name="Search").click()
    expect(_products_table(page).locator("tbody tr")).to_have_count(1)
    expect(_products_table(page)).to_contain_text("Filter papers")
    # A LIKE wildcard is searched for literally.
    page.goto(staff.base_url + "/products?q=%25")
    expect(_products_table(page)).to_contain_text("No products match your search.")


def test_products_list_pages_with_the_cursor(staff: Staff) -> None:
    for n in range(22):
        _product(staff.api, f"Plan {n:02d}", "1.00")
    page = staff.goto("/products")
    expect(_products_table(page).locator("tbody tr")).to_have_count(20)
    expect(_products_table(page)).to_contain_text("Plan 21")  # newest first
    page.get_by_test_id("next-page").click()
    expect(_products_table(page).locator("tbody tr")).to_have_count(2)
    expect(_products_table(page)).to_contain_text("Plan 00")
    expect(page.get_by_test_id("next-page")).to_have_count(0)


def test_create_a_tax_rate_and_fees(staff: Staff) -> None:
    page = staff.goto("/tax-rates")
    page.get_by_role("link", name="Create tax rate").click()
    page.get_by_label("Name").fill("VAT high")
    page.get_by_label("Percentage").fill("21.00")
    page.get_by_label("Jurisdiction").fill("Netherlands")
    page.get_by_role("button", name="Create tax rate").click()
    expect(page.get_by_test_id("flash")).to_have_text("The tax rate was created.")
    row = page.get_by_test_id("tax-rates").locator("tbody tr").first
    expect(row).to_contain_text("VAT high")
    expect(row).to_contain_text("Netherlands")
    expect(row).to_contain_text("21%")
    screenshot(page, "tax-rates")
    rates = staff.api.ok(staff.api.get("/tax-rates"))["data"]
    assert [(r["name"], r["percentage"], r["jurisdiction"]) for r in rates] == [
        ("VAT high", "21.00", "Netherlands")
    ]

    page.goto(staff.base_url + "/tax-rates/new")
    page.get_by_label("Name").fill("Too much")
    page.get_by_label("Percentage").fill("120")
    page.get_by_role("button", name="Create tax rate").click()
    expect(page.get_by_test_id("error-percentage")).to_contain_text('from "0" to "100"')
    assert len(staff.api.ok(staff.api.get("/tax-rates"))["data"]) == 1

    page.goto(staff.base_url + "/fees")
    page.get_by_role("link", name="Create fee").click()
    page.get_by_label("Name").fill("Card surcharge")
    page.get_by_role("textbox", name="Fixed amount").fill("2.50")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_role("button", name="Create fee").click()
    expect(page.get_by_test_id("flash")).to_have_text("The fee was created.")

    page.get_by_role("link", name="Create fee").click()
    page.get_by_label("Name").fill("Service fee")
    page.get_by_role("radio", name="Percentage").check()
    page.get_by_role("textbox", name="Percentage").fill("2.9")
    page.get_by_role("button", name="Create fee").click()
    table = page.get_by_test_id("fees")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(0)).to_contain_text("Service fee")
    expect(table.locator("tbody tr").nth(0)).to_contain_text("2.9%")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("€2.50")
    screenshot(page, "fees")
    fees = staff.api.ok(staff.api.get("/fees"))["data"]
    assert [
        (f["name"], f["fee_type"], f["amount"], f["currency"], f["percentage"]) for f in fees
    ] == [
        ("Service fee", "percentage", None, None, "2.90"),
        ("Card surcharge", "fixed", "2.50", "EUR", None),
    ]

    # A fixed fee without an amount: told where, nothing written.
    page.goto(staff.base_url + "/fees/new")
    page.get_by_label("Name").fill("Broken")
    page.get_by_role("button", name="Create fee").click()
    expect(page.get_by_test_id("error-amount")).to_be_visible()
    assert len(staff.api.ok(staff.api.get("/fees"))["data"]) == 2


def test_viewers_see_the_library_but_cannot_change_it(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    product = _product(api, "Coffee club", "12.50")
    user_id = add_user(
        api, session_factory, f"viewer-{api.account_id}@example.com", ["subscriptions.view"]
    )
    sign_in(page.context, session_factory, user_id, base_url)
    page.goto(base_url + "/products")
    expect(page.get_by_test_id("products")).to_contain_text("Coffee club")
    expect(page.get_by_role("link", name="Create product")).to_have_count(0)
    page.goto(f"{base_url}/products/{product['id']}")
    expect(page.get_by_role("button", name="Archive")).to_have_count(0)
    page.goto(base_url + "/products/new")
    expect(page.get_by_test_id("error-message")).to_contain_text("subscriptions.edit")

    # A forged POST with a valid CSRF token is refused on the server as well.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = page.locator("body").get_attribute("hx-headers") or ""
    csrf = token.split('"')[3]
    with httpx.Client(base_url=base_url, cookies=cookies) as client:
        forged = client.post(f"/products/{product['id']}/archive", data={"csrf_token": csrf})
        assert forged.status_code == 403
    assert api.ok(api.get(f"/products/{product['id']}"))["archived"] is False


def test_another_accounts_product_is_not_found(staff: Staff, other_api: Api) -> None:
    theirs = _product(other_api, "Secret plan", "99.00")
    page = staff.goto(f"/products/{theirs['id']}")
    expect(page.get_by_test_id("error-message")).to_contain_text("No such product")
    expect(page.locator("body")).not_to_contain_text("Secret plan")
    response = page.request.get(f"{staff.base_url}/products/{theirs['id']}/edit")
    assert response.status == 404
