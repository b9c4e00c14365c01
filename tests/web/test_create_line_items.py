"""Line items of the create-subscription form (issue 19; seed "Opret abonnementer", "Tilføj
linjeposter"): saving a custom line item to the product library, cloning a row, and the
optional tax columns of "Edit columns"."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cadency.catalog.models import Product
from tests.conftest import Api
from tests.web.conftest import Staff, screenshot
from tests.web.http import signed_in
from tests.web.test_create_subscription import (
    add_custom,
    add_product,
    create,
    expect_summary,
    rows,
    shop,
    show_column,
    subscriptions_of,
)


def products_named(session_factory: Any, account_id: int, name: str) -> list[Product]:
    with session_factory() as session:
        found = session.scalars(
            select(Product).where(Product.account_id == account_id, Product.name == name)
        )
        return list(found)


# --- save to the product library ------------------------------------------------------------------


def test_a_custom_line_item_saved_to_the_product_library(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    data = shop(api)
    emma = data["emma"]
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    add_product(page, "coffee", "Coffee beans")
    course = add_custom(page, "Espresso course", "45.50")
    course.get_by_label("Billing frequency").select_option("monthly")
    course.get_by_label("Save line item to the product library").check()
    # Library rows offer no such box: they are in it already.
    expect(rows(page).first.get_by_label("Save line item to the product library")).to_have_count(0)
    expect_summary(page, "€55.50", "€55.50", "€0.00", "—")
    create(page, "Create and charge")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")

    [product] = products_named(session_factory, api.account_id, "Espresso course")
    assert (product.unit_price, product.currency) == (4550, "EUR")
    assert (product.billing_frequency, product.archived) == ("monthly", False)
    [created] = subscriptions_of(api, emma["id"])
    lines = {line["name"]: line for line in created["line_items"]}
    assert lines["Espresso course"]["product_id"] == product.id
    assert lines["Espresso course"]["unit_price"] == "45.50"
    assert lines["Coffee beans"]["product_id"] == data["coffee"]["id"]
    assert created["total_collected"] == "55.50"


def test_a_name_clash_or_a_refused_subscription_writes_no_product(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    data = shop(api)
    user = signed_in(app, session_factory, api)
    form: dict[str, Any] = {
        "csrf_token": user.csrf_token,
        "contact_id": data["emma"]["id"],
        "currency": "EUR",
        "line": "k1",
        "line.k1.name": "coffee BEANS",
        "line.k1.unit_price": "12.00",
        "line.k1.billing_frequency": "monthly",
        "line.k1.save_to_library": "on",
        "collection_method": "send_invoice",
    }
    with user.client as client:
        # The library has "Coffee beans": the row says so, and nothing is written.
        refused = client.post("/subscriptions/new", data=form)
        assert refused.status_code == 422
        [row] = refused.text.split('data-testid="line-row"')[1:]
        assert "The product library already has a product named “coffee BEANS”." in row
        assert 'data-testid="line-error-save_to_library"' in row
        assert products_named(session_factory, api.account_id, "coffee BEANS") == []

        # Two rows saving one name clash with each other.
        twice = {
            **form,
            "line": ["k1", "k2"],
            "line.k1.name": "Tasting",
            "line.k2.name": "Tasting",
            "line.k2.unit_price": "3.00",
            "line.k2.billing_frequency": "monthly",
            "line.k2.save_to_library": "on",
        }
        refused = client.post("/subscriptions/new", data=twice)
        assert refused.status_code == 422
        second = refused.text.split('data-testid="line-row"')[2]
        assert "already has a product named “Tasting”" in second
        assert products_named(session_factory, api.account_id, "Tasting") == []

        # The product is fine but the subscription is refused (a second subscription in
        # dollars): the product made for it is not kept either.
        dollars = api.ok(
            api.post(
                "/products",
                {
                    "name": "US plan",
                    "unit_price": "5.00",
                    "currency": "USD",
                    "billing_frequency": "annually",
                },
            )
        )
        mixed = {
            **form,
            "line": ["k1", "k2"],
            "line.k1.name": "Tasting",
            "line.k2.product_id": dollars["id"],
            "line.k2.billing_frequency": "annually",
        }
        refused = client.post("/subscriptions/new", data=mixed)
        assert refused.status_code == 422
        assert "is priced in USD, not EUR" in refused.text
        assert products_named(session_factory, api.account_id, "Tasting") == []
        # The box stays checked on the re-rendered row.
        first = refused.text.split('data-testid="line-row"')[1]
        assert 'name="line.k1.save_to_library" checked' in first

        created = client.post(
            "/subscriptions/new", data={**form, "line.k1.name": "Tasting"}, follow_redirects=False
        )
        assert created.status_code == 303
    [product] = products_named(session_factory, api.account_id, "Tasting")
    [subscription] = subscriptions_of(api, data["emma"]["id"])
    assert subscription["line_items"][0]["product_id"] == product.id


# --- clone --------------------------------------------------------------------------------------


def test_clone_a_line_item(staff: Staff) -> None:
    api = staff.api
    data = shop(api)
    page = staff.goto(f"/subscriptions/new?contact_id={data['emma']['id']}")
    coffee = add_product(page, "coffee", "Coffee beans")
    coffee.get_by_label("Quantity").fill("3")
    coffee.get_by_label("Unit discount (%)").fill("10")
    coffee.get_by_label("Billing terms").select_option("fixed")
    coffee.get_by_label("Number of payments").fill("6")
    show_column(page, "Tax rate")
    coffee.get_by_label("Tax rate").select_option(label="VAT (21%)")
    coffee.get_by_label("Billing starts").select_option("delay")
    coffee.get_by_label("Delay", exact=True).fill("2")
    coffee.get_by_label("Delay unit").select_option("months")
    add_custom(page, "Setup fee", "25.00")
    # The coffee starts in two months, and the one-time fee goes with it: nothing is due now.
    expect_summary(page, "€0.00", "€0.00", "€57.67", "€221.02")  # 27.00 + 21% = 32.67

    coffee.get_by_role("button", name="Clone line item").click()
    expect(rows(page)).to_have_count(3)
    copy = rows(page).nth(1)  # right below the original
    assert copy.get_attribute("data-key") != coffee.get_attribute("data-key")
    for label, value in [
        ("Name", "Coffee beans"),
        ("Quantity", "3"),
        ("Unit price", "10.00"),
        ("Unit discount (%)", "10"),
        ("Billing frequency", "monthly"),
        ("Billing terms", "fixed"),
        ("Number of payments", "6"),
        ("Tax rate", data["vat"]["id"]),
        ("Billing starts", "delay"),
        ("Delay", "2"),
        ("Delay unit", "months"),
    ]:
        expect(copy.get_by_label(label, exact=True)).to_have_value(value)
    assert copy.locator("input[name$='.product_id']").input_value() == data["coffee"]["id"]
    expect(copy.get_by_text("From the product library")).to_be_visible()
    # Twice the coffee now: 6 payments of 2 x 32.67, and the setup fee.
    expect_summary(page, "€0.00", "€0.00", "€90.34", "€417.04")

    # A custom row clones as a custom row, below it.
    rows(page).nth(2).get_by_role("button", name="Clone line item").click()
    expect(rows(page)).to_have_count(4)
    expect(rows(page).nth(3).get_by_label("Name", exact=True)).to_have_value("Setup fee")
    expect(
        rows(page).nth(3).get_by_label("Save line item to the product library")
    ).not_to_be_checked()
    expect_summary(page, "€0.00", "€0.00", "€115.34", "€442.04")

    create(page, "Create")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    [created] = subscriptions_of(api, data["emma"]["id"])
    assert created["status"] == "scheduled"
    lines = created["line_items"]
    assert [line["name"] for line in lines] == [
        "Coffee beans",
        "Coffee beans",
        "Setup fee",
        "Setup fee",
    ]
    assert [line["quantity"] for line in lines] == [3, 3, 1, 1]
    assert [line["product_id"] for line in lines[:2]] == [data["coffee"]["id"]] * 2
    assert [line["amount"] for line in lines] == ["27.00", "27.00", "25.00", "25.00"]
    assert [line["tax_rate_id"] for line in lines[:2]] == [data["vat"]["id"]] * 2


def test_clone_checks_the_row_and_the_permission(
    app: FastAPI, session_factory: Any, api: Api, other_api: Api
) -> None:
    data = shop(api)
    theirs = other_api.ok(
        other_api.post("/products", {"name": "Theirs", "unit_price": "1.00", "currency": "USD"})
    )
    admin = signed_in(app, session_factory, api)
    clerk = signed_in(
        app,
        session_factory,
        api,
        email=f"clerk-{api.account_id}@example.com",
        permissions=["subscriptions.view", "subscriptions.edit"],
    )
    row = {"line": "k1", "line.k1.name": "Setup", "line.k1.unit_price": "5.00", "clone": "k1"}
    with admin.client as client:
        headers = {"X-CSRF-Token": admin.csrf_token}
        cloned = client.post("/subscriptions/new/line/clone", data=row, headers=headers)
        assert cloned.status_code == 200
        assert 'value="Setup"' in cloned.text and 'data-key="k1"' not in cloned.text
        missing = client.post(
            "/subscriptions/new/line/clone", data={**row, "clone": "k9"}, headers=headers
        )
        assert missing.status_code == 404
        foreign = {**row, "line.k1.product_id": theirs["id"]}
        assert (
            client.post("/subscriptions/new/line/clone", data=foreign, headers=headers).status_code
            == 404
        )
    with clerk.client as client:
        headers = {"X-CSRF-Token": clerk.csrf_token}
        # No permission for custom line items: no copy of one either; a product's is fine.
        assert (
            client.post("/subscriptions/new/line/clone", data=row, headers=headers).status_code
            == 403
        )
        product_row = {**row, "line.k1.product_id": data["coffee"]["id"]}
        copied = client.post("/subscriptions/new/line/clone", data=product_row, headers=headers)
        assert copied.status_code == 200


# --- edit columns --------------------------------------------------------------------------------


def tax_columns_shown(page: Page) -> tuple[bool, bool]:
    table = page.locator("#line-items-table")
    return (
        table.get_by_role("columnheader", name="Tax rate").is_visible(),
        table.get_by_role("columnheader", name="Tax amount").is_visible(),
    )


def test_edit_columns_shows_the_tax_columns_and_keeps_the_choice(staff: Staff) -> None:
    api = staff.api
    data = shop(api)
    emma = data["emma"]
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    coffee = add_product(page, "coffee", "Coffee beans")
    # No line has a tax rate: hidden by default.
    expect(page.locator("#line-items-table th.col-tax-rate")).to_be_hidden()
    expect(page.locator("#line-items-table th.col-tax-amount")).to_be_hidden()
    expect(coffee.get_by_label("Tax rate")).to_be_hidden()

    page.get_by_text("Edit columns").click()
    editor = page.locator("#column-editor")
    editor.get_by_label("Tax rate", exact=True).check()
    editor.get_by_label("Tax amount", exact=True).check()
    assert tax_columns_shown(page) == (True, True)
    coffee.get_by_label("Quantity").fill("2")
    coffee.get_by_label("Tax rate").select_option(label="VAT (21%)")
    # The tax of one payment of the row: the summary's rule (2 x 10.00 x 21%).
    expect(coffee.get_by_test_id("line-tax")).to_have_text("€4.20")
    expect(page.get_by_test_id("summary-tax-total")).to_have_text("€4.20")
    add_custom(page, "Setup fee", "25.00")
    expect(rows(page).nth(1).get_by_test_id("line-tax")).to_have_text("€0.00")
    page.set_viewport_size({"width": 1700, "height": 900})  # the whole line item table
    screenshot(page, "subscription-create-columns-en")
    page.set_viewport_size({"width": 1400, "height": 900})

    # The choice outlives the page: a fresh form shows the columns although no line is taxed.
    page.goto(f"{staff.base_url}/subscriptions/new?contact_id={emma['id']}")
    add_product(page, "grinder", "Grinder service plan")
    expect(page.locator("#line-items-table th.col-tax-amount")).to_be_visible()
    page.get_by_text("Edit columns").click()
    editor.get_by_label("Tax amount", exact=True).uncheck()
    expect(page.locator("#line-items-table th.col-tax-amount")).to_be_hidden()
    page.reload()
    expect(page.locator("#line-items-table th.col-tax-rate")).to_be_visible()
    expect(page.locator("#line-items-table th.col-tax-amount")).to_be_hidden()

    # In Dutch, from a deal whose line has a tax rate.
    deal = api.ok(
        api.post(
            "/deals",
            {
                "name": "Beans deal",
                "currency": "EUR",
                "contact_id": emma["id"],
                "line_items": [
                    {
                        "product_id": data["coffee"]["id"],
                        "quantity": 2,
                        "tax_rate_id": data["vat"]["id"],
                    }
                ],
            },
        )
    )
    page.get_by_text("Edit columns").click()
    editor.get_by_label("Tax amount", exact=True).check()
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.goto(f"{staff.base_url}/subscriptions/new?deal_id={deal['id']}")
    expect(page.locator("#line-items-table th.col-tax-amount")).to_have_text("Btw-bedrag")
    expect(rows(page).first.get_by_test_id("line-tax")).to_have_text("€ 4,20")
    page.set_viewport_size({"width": 1700, "height": 900})  # the whole line item table
    screenshot(page, "subscription-create-columns-nl")
    page.set_viewport_size({"width": 1400, "height": 900})


def test_a_taxed_line_shows_the_tax_columns_by_default(staff: Staff) -> None:
    """Without a choice kept, the columns show when some line has a tax rate."""
    api = staff.api
    data = shop(api)
    deal = api.ok(
        api.post(
            "/deals",
            {
                "name": "Beans deal",
                "currency": "EUR",
                "contact_id": data["emma"]["id"],
                "line_items": [
                    {"product_id": data["coffee"]["id"], "tax_rate_id": data["vat"]["id"]}
                ],
            },
        )
    )
    page = staff.goto(f"/subscriptions/new?deal_id={deal['id']}")
    expect(page.locator("#line-items-table th.col-tax-rate")).to_be_visible()
    expect(page.locator("#line-items-table th.col-tax-amount")).to_be_visible()
    expect(rows(page).first.get_by_test_id("line-tax")).to_have_text("€2.10")
