"""Creating a subscription in the browser (SPEC §4, seed "Opret abonnementer"): billing
contact and company, line items from the library or custom, reordering, collection and invoice
settings, the live summary — and what the API holds afterwards."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from cadency.accounts import service as account_service
from cadency.accounts.models import User
from cadency.crm.models import Association
from cadency.kit import periods
from tests.conftest import Api
from tests.web.conftest import Staff, add_user, screenshot, sign_in

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


# --- setup through the API ----------------------------------------------------------------------


def shop(api: Api) -> dict[str, Any]:
    """A euro shop: a monthly and an annual product, 21% VAT, and Emma with a saved card."""
    api.ok(api.patch("/account/settings", {"currency": "EUR"}))
    coffee = api.ok(
        api.post(
            "/products",
            {
                "name": "Coffee beans",
                "unit_price": "10.00",
                "currency": "EUR",
                "billing_frequency": "monthly",
                "sku": "BEANS-1KG",
            },
        )
    )
    grinder = api.ok(
        api.post(
            "/products",
            {
                "name": "Grinder service plan",
                "unit_price": "100.00",
                "currency": "EUR",
                "billing_frequency": "annually",
            },
        )
    )
    vat = api.ok(api.post("/tax-rates", {"name": "VAT", "percentage": "21"}))
    emma = api.ok(
        api.post(
            "/contacts", {"email": "emma@example.com", "first_name": "Emma", "last_name": "Jansen"}
        )
    )
    card = api.ok(
        api.post(f"/contacts/{emma['id']}/payment-methods", {"type": "card", "card": CARD})
    )
    return {"coffee": coffee, "grinder": grinder, "vat": vat, "emma": emma, "card": card}


def today(api: Api) -> date:
    """The account's date (its test clock, in UTC)."""
    now: str = api.ok(api.get("/clock"))["now"]
    return date.fromisoformat(now[:10])


def subscriptions_of(api: Api, contact_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok(api.get("/subscriptions", {"contact_id": contact_id}))[
        "data"
    ]
    return found


# --- page helpers --------------------------------------------------------------------------------


def summary(page: Page, name: str) -> Locator:
    return page.get_by_test_id(f"summary-{name}")


def expect_summary(page: Page, subtotal: str, due_now: str, future: str, total: str) -> None:
    expect(summary(page, "subtotal")).to_have_text(subtotal)
    expect(summary(page, "due-now")).to_have_text(due_now)
    expect(summary(page, "future")).to_have_text(future)
    expect(summary(page, "total")).to_have_text(total)


def rows(page: Page) -> Locator:
    return page.get_by_test_id("line-row")


def choose_contact(page: Page, query: str, name: str) -> None:
    page.get_by_label("Search contacts").fill(query)
    page.get_by_role("button", name=f"Choose {name}").click()
    expect(page.get_by_test_id("chosen-contact")).to_contain_text(name)


def add_product(page: Page, query: str, name: str) -> Locator:
    before = rows(page).count()
    page.get_by_label("Add from the product library").fill(query)
    page.get_by_role("button", name=f"Add {name}").click()
    expect(rows(page)).to_have_count(before + 1)
    return rows(page).nth(before)


def add_custom(page: Page, name: str, price: str) -> Locator:
    before = rows(page).count()
    page.get_by_role("button", name="Create custom line item").click()
    expect(rows(page)).to_have_count(before + 1)
    row = rows(page).nth(before)
    row.get_by_label("Name", exact=True).fill(name)
    row.get_by_label("Unit price").fill(price)
    return row


def create(page: Page, button: str) -> None:
    """Create: the form's button, then the confirmation dialog's `button`."""
    page.get_by_role("button", name="Create subscription").click()
    dialog = page.get_by_test_id("confirm-create")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button, exact=True).click()


def show_column(page: Page, name: str) -> None:
    """Show an optional column of the line item table through "Edit columns"."""
    editor = page.locator("#column-editor")
    if not editor.get_by_label(name, exact=True).is_visible():
        editor.get_by_text("Edit columns").click()
    editor.get_by_label(name, exact=True).check()


def names_in_order(page: Page) -> list[str]:
    return [
        rows(page).nth(i).get_by_label("Name", exact=True).input_value()
        for i in range(rows(page).count())
    ]


def forger(page: Page, base_url: str) -> tuple[httpx.Client, str]:
    """The browser's session cookie and CSRF token in a hand-made HTTP client."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    return httpx.Client(base_url=base_url, cookies=cookies), token


# --- the main flow --------------------------------------------------------------------------------


def test_create_a_subscription_with_a_live_summary(staff: Staff) -> None:
    data = shop(staff.api)
    page = staff.goto("/subscriptions/new")
    expect(page.get_by_role("heading", name="Create subscription")).to_be_visible()
    expect_summary(page, "€0.00", "€0.00", "€0.00", "€0.00")

    choose_contact(page, "jans", "Emma Jansen")
    # Her saved card is chosen for automatic charging.
    expect(page.get_by_label("Payment method", exact=True)).to_have_value(data["card"]["id"])

    coffee = add_product(page, "beans-1", "Coffee beans")  # found by its SKU
    expect(coffee.get_by_label("Unit price")).to_have_value("10.00")
    expect(coffee.get_by_label("Billing frequency")).to_have_value("monthly")
    expect_summary(page, "€10.00", "€10.00", "€0.00", "—")

    coffee.get_by_label("Quantity").fill("2")
    coffee.get_by_label("Unit discount (%)").fill("10")
    show_column(page, "Tax rate")  # hidden while no line has a tax rate
    coffee.get_by_label("Tax rate").select_option(label="VAT (21%)")
    # 2 x (10.00 - 10%) = 18.00, plus 21% VAT 3.78.
    expect_summary(page, "€18.00", "€21.78", "€0.00", "—")
    expect(summary(page, "discount-total")).to_have_text("-€2.00")
    expect(summary(page, "tax-total")).to_have_text("€3.78")
    expect(summary(page, "total-hint")).to_be_visible()

    setup = add_custom(page, "Setup fee", "25.00")
    expect(setup.get_by_label("Billing frequency")).to_have_value("")  # one-time
    expect_summary(page, "€43.00", "€46.78", "€0.00", "—")

    mistake = add_custom(page, "Mistake", "99.00")
    expect_summary(page, "€142.00", "€145.78", "€0.00", "—")
    mistake.get_by_role("button", name="Remove line item").click()
    expect(rows(page)).to_have_count(2)
    expect_summary(page, "€43.00", "€46.78", "€0.00", "—")

    # The setup fee goes first, with the keyboard: the focus stays on the button.
    setup.get_by_role("button", name="Move up").press("Enter")
    expect(rows(page).first.get_by_label("Name", exact=True)).to_have_value("Setup fee")
    assert names_in_order(page) == ["Setup fee", "Coffee beans"]
    expect(rows(page).first.get_by_role("button", name="Move up")).to_be_focused()
    expect_summary(page, "€43.00", "€46.78", "€0.00", "—")

    # The tax breakdown opens, and stays open while the summary follows the form.
    taxes = page.get_by_test_id("summary-taxes")
    taxes.locator("summary").click()
    expect(taxes.get_by_text("Coffee beans: VAT (21%) · Monthly")).to_be_visible()

    # Twelve fixed payments: the total can be computed.
    coffee = rows(page).nth(1)
    coffee.get_by_label("Billing terms").select_option("fixed")
    coffee.get_by_label("Number of payments").fill("12")
    expect_summary(page, "€43.00", "€46.78", "€0.00", "€286.36")  # 12 x 21.78 + 25.00
    expect(taxes.get_by_text("Coffee beans: VAT (21%) · Monthly")).to_be_visible()
    screenshot(page, "subscription-create")

    create(page, "Create and charge")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    subscription_id = page.url.rsplit("/", 1)[1]

    created = staff.api.ok(staff.api.get(f"/subscriptions/{subscription_id}"))
    day = today(staff.api)
    assert created["status"] == "active"
    assert created["contact_id"] == data["emma"]["id"]
    assert created["currency"] == "EUR"
    assert created["collection_method"] == "charge_automatically"
    assert created["payment_method_id"] == data["card"]["id"]
    assert (created["billing_frequency"], created["billing_terms"]) == ("monthly", "fixed")
    assert created["number_of_payments"] == 12
    assert created["start_date"] == day.isoformat()
    assert created["next_payment_date"] == periods.add_months(day, 1).isoformat()
    assert created["end_date"] == periods.add_months(day, 12).isoformat()
    # The first invoice (both items, with tax) was charged at once.
    assert created["total_collected"] == "46.78"
    assert created["next_payment_amount"] == "21.78"
    lines = created["line_items"]
    assert [line["name"] for line in lines] == ["Setup fee", "Coffee beans"]
    assert [line["product_id"] for line in lines] == [None, data["coffee"]["id"]]
    assert [line["amount"] for line in lines] == ["25.00", "18.00"]
    assert lines[1]["quantity"] == 2
    assert lines[1]["unit_discount_percent"] == "10.00"
    assert lines[1]["tax_rate_id"] == data["vat"]["id"]
    assert lines[0]["billing_frequency"] is None
    # Editing the line never changed the product.
    product = staff.api.ok(staff.api.get(f"/products/{data['coffee']['id']}"))
    assert (product["unit_price"], product["name"]) == ("10.00", "Coffee beans")


def test_a_monthly_and_an_annual_item_become_two_subscriptions(staff: Staff) -> None:
    data = shop(staff.api)
    emma = data["emma"]
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}")
    expect(page.get_by_test_id("chosen-contact")).to_contain_text("Emma Jansen")

    add_product(page, "coffee", "Coffee beans")
    add_product(page, "grinder", "Grinder service plan")
    add_custom(page, "Welcome kit", "5.00")
    expect_summary(page, "€115.00", "€115.00", "€0.00", "—")
    expect(summary(page, "subscriptions")).to_contain_text("2 subscriptions will be created")

    # Dragging by the handle reorders too: the kit goes to the top.
    rows(page).nth(2).locator(".drag-handle").drag_to(rows(page).first)
    expect(rows(page).first.get_by_label("Name", exact=True)).to_have_value("Welcome kit")

    create(page, "Create and charge")
    page.wait_for_url(f"{staff.base_url}/subscriptions")
    created = sorted(subscriptions_of(staff.api, emma["id"]), key=lambda s: s["billing_frequency"])
    assert [s["billing_frequency"] for s in created] == ["annually", "monthly"]
    annual, monthly = created
    assert [line["name"] for line in annual["line_items"]] == ["Grinder service plan"]
    # The one-time item is charged once, with the subscription billed first (the first group).
    assert [line["name"] for line in monthly["line_items"]] == ["Welcome kit", "Coffee beans"]
    assert (monthly["total_collected"], annual["total_collected"]) == ("15.00", "100.00")
    assert {s["status"] for s in created} == {"active"}
    flash = page.get_by_test_id("flash")
    expect(flash).to_contain_text("2 subscriptions were created")
    for subscription in created:
        expect(flash).to_contain_text(subscription["id"])


# --- errors and permissions -----------------------------------------------------------------------


def test_errors_show_next_to_their_fields_and_nothing_is_written(staff: Staff) -> None:
    data = shop(staff.api)
    page = staff.goto("/subscriptions/new")
    coffee = add_product(page, "coffee", "Coffee beans")
    coffee.get_by_label("Quantity").fill("-1")
    expect(summary(page, "left-out")).to_contain_text("1 line item is left out")

    with page.expect_response(
        lambda r: r.url.endswith("/subscriptions/new") and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Create subscription").click()
    assert answer.value.status == 422
    expect(page.locator("#contact-picker")).to_contain_text("Choose or create a billing contact.")
    coffee = rows(page).first
    expect(coffee.get_by_test_id("line-error-quantity")).to_have_text("Enter 1 or more.")
    # The form keeps what was typed.
    expect(coffee.get_by_label("Quantity")).to_have_value("-1")
    expect(coffee.get_by_label("Name", exact=True)).to_have_value("Coffee beans")

    # A price with too many decimals is refused by the service, next to the price.
    choose_contact(page, "emma", "Emma Jansen")
    coffee.get_by_label("Quantity").fill("1")
    coffee.get_by_label("Unit price").fill("9.999")
    create(page, "Create")
    price_error = rows(page).first.get_by_test_id("line-error-unit_price")
    expect(price_error).to_contain_text("EUR amounts have at most 2 decimal places")
    expect(price_error).not_to_contain_text("Invalid value for")
    assert subscriptions_of(staff.api, data["emma"]["id"]) == []

    # Corrected, with a Dutch decimal comma: created.
    rows(page).first.get_by_label("Unit price").fill("9,50")
    expect_summary(page, "€9.50", "€9.50", "€0.00", "—")
    create(page, "Create and charge")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    [created] = subscriptions_of(staff.api, data["emma"]["id"])
    assert created["line_items"][0]["unit_price"] == "9.50"


def test_a_user_without_the_custom_line_item_permission(staff: Staff, browser: Any) -> None:
    data = shop(staff.api)
    user_id = add_user(
        staff.api,
        staff.api.client.app.state.session_factory,  # type: ignore[attr-defined]
        f"clerk-{staff.api.account_id}@example.com",
        ["subscriptions.view", "subscriptions.edit"],
    )
    context = browser.new_context(locale="en-US")
    sign_in(context, staff.api.client.app.state.session_factory, user_id, staff.base_url)  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(7_000)
    page.goto(f"{staff.base_url}/subscriptions/new?contact_id={data['emma']['id']}")
    expect(page.get_by_role("heading", name="Create subscription")).to_be_visible()
    add_product(page, "coffee", "Coffee beans")
    expect(page.get_by_role("button", name="Create custom line item")).to_have_count(0)

    client, token = forger(page, staff.base_url)
    with client:
        assert client.get("/subscriptions/new/line").status_code == 403
        forged = client.post(
            "/subscriptions/new",
            data={
                "csrf_token": token,
                "contact_id": data["emma"]["id"],
                "currency": "EUR",
                "line": "a1",
                "line.a1.name": "Free money",
                "line.a1.unit_price": "1.00",
                "line.a1.billing_frequency": "monthly",
                "collection_method": "send_invoice",
            },
        )
        assert forged.status_code == 403
        assert "custom line items" in forged.text
    assert subscriptions_of(staff.api, data["emma"]["id"]) == []

    # A product line is fine.
    create(page, "Create and charge")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    [created] = subscriptions_of(staff.api, data["emma"]["id"])
    assert created["line_items"][0]["product_id"] == data["coffee"]["id"]
    context.close()


def test_viewing_is_not_enough_to_create(staff: Staff, browser: Any) -> None:
    factory = staff.api.client.app.state.session_factory  # type: ignore[attr-defined]
    user_id = add_user(
        staff.api, factory, f"viewer-{staff.api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context(locale="en-US")
    sign_in(context, factory, user_id, staff.base_url)
    page = context.new_page()
    response = page.goto(f"{staff.base_url}/subscriptions/new")
    assert response is not None and response.status == 403
    client, token = forger(page, staff.base_url)
    with client:
        summary_post = client.post("/subscriptions/new/summary", data={"csrf_token": token})
        assert summary_post.status_code == 403
    context.close()


# --- prefill from CRM records, inline creation, invoice collection ------------------------------


def test_create_from_a_deal_with_its_contact_company_and_line_items(staff: Staff) -> None:
    data = shop(staff.api)
    api = staff.api
    acme = api.ok(
        api.post(
            "/companies",
            {
                "name": "Acme BV",
                "domain": "acme.example",
                "address": {"line1": "Damrak 1", "city": "Amsterdam", "country": "NL"},
            },
        )
    )
    deal = api.ok(
        api.post(
            "/deals",
            {
                "name": "Acme coffee deal",
                "currency": "EUR",
                "contact_id": data["emma"]["id"],
                "company_id": acme["id"],
                "line_items": [
                    {"product_id": data["coffee"]["id"], "quantity": 3},
                    {"name": "Barista training", "unit_price": "40.00"},
                ],
            },
        )
    )
    api.ok(
        api.post(
            "/fees", {"name": "Handling", "fee_type": "fixed", "amount": "1.50", "currency": "EUR"}
        )
    )
    page = staff.goto(f"/deals/{deal['id']}")
    page.get_by_role("link", name="Create subscription").click()
    page.wait_for_url(f"**/subscriptions/new?deal_id={deal['id']}")
    expect(page.get_by_test_id("from-deal")).to_contain_text("Acme coffee deal")
    expect(page.get_by_test_id("chosen-contact")).to_contain_text("Emma Jansen")
    expect(page.get_by_test_id("chosen-company")).to_contain_text("Acme BV")
    assert names_in_order(page) == ["Coffee beans", "Barista training"]
    expect(rows(page).first.get_by_label("Quantity")).to_have_value("3")
    expect_summary(page, "€70.00", "€70.00", "€0.00", "—")
    page.get_by_label("Handling").check()
    expect_summary(page, "€70.00", "€71.50", "€0.00", "—")
    expect(page.get_by_test_id("summary-fee")).to_contain_text("€1.50")

    page.get_by_label("Same as company address").check()
    expect(page.locator("#company-address")).to_contain_text("Damrak 1, Amsterdam, NL")
    create(page, "Create and charge")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")
    subscription_id = page.url.rsplit("/", 1)[1]
    created = api.ok(api.get(f"/subscriptions/{subscription_id}"))
    assert created["company_id"] == acme["id"]
    assert created["name"] == "Acme coffee deal"
    assert created["billing_address"]["line1"] == "Damrak 1"
    assert created["billing_address"]["country"] == "NL"
    assert [line["name"] for line in created["line_items"]] == ["Coffee beans", "Barista training"]
    assert created["fee_ids"] == [api.ok(api.get("/fees"))["data"][0]["id"]]
    assert created["total_collected"] == "71.50"  # charged now, the fee with the first invoice
    with api.client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        link = session.scalars(
            select(Association).where(Association.from_id == subscription_id)
        ).one()
        assert (link.to_type, link.to_id) == ("deal", deal["id"])
    # The deal's page lists it, with its status.
    page = staff.goto(f"/deals/{deal['id']}")
    card = page.get_by_test_id("subscriptions-card")
    expect(card.locator(f'tr[data-id="{subscription_id}"]')).to_contain_text("Acme coffee deal")
    expect(card.locator(f'tr[data-id="{subscription_id}"]')).to_contain_text("Active")


def test_create_from_contact_and_company_pages(staff: Staff) -> None:
    data = shop(staff.api)
    acme = staff.api.ok(staff.api.post("/companies", {"name": "Acme BV"}))
    page = staff.goto(f"/contacts/{data['emma']['id']}")
    page.get_by_test_id("subscriptions-card").get_by_role(
        "link", name="Create subscription"
    ).click()
    page.wait_for_url(f"**/subscriptions/new?contact_id={data['emma']['id']}")
    expect(page.get_by_test_id("chosen-contact")).to_contain_text("Emma Jansen")

    page = staff.goto(f"/companies/{acme['id']}")
    page.get_by_test_id("subscriptions-card").get_by_role(
        "link", name="Create subscription"
    ).click()
    page.wait_for_url(f"**/subscriptions/new?company_id={acme['id']}")
    expect(page.get_by_test_id("chosen-company")).to_contain_text("Acme BV")
    expect(page.get_by_label("Search contacts")).to_be_visible()

    response = page.goto(f"{staff.base_url}/subscriptions/new?contact_id=cont_nope")
    assert response is not None and response.status == 404


def test_new_contact_and_company_invoice_collection_and_a_delayed_start(staff: Staff) -> None:
    api = staff.api
    shop(api)
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [
                    {"value": "basic", "label": "Basic"},
                    {"value": "gold", "label": "Gold"},
                ],
                "rules": {"required": True},
            },
        )
    )
    page = staff.goto("/subscriptions/new")
    page.get_by_text("Create a new contact").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_test_id("chosen-contact")).to_contain_text("Ada Lovelace")
    expect(page.get_by_label("Payment method", exact=True)).to_have_value("collect")

    page.get_by_text("Create a new company").click()
    page.get_by_label("Company name").fill("Analytical Engines Ltd")
    page.get_by_role("button", name="Create company").click()
    expect(page.get_by_test_id("chosen-company")).to_contain_text("Analytical Engines Ltd")

    coffee = add_product(page, "coffee", "Coffee beans")
    coffee.get_by_label("Billing starts").select_option("delay")
    coffee.get_by_label("Delay", exact=True).fill("1")
    coffee.get_by_label("Delay unit").select_option("months")
    day = today(api)
    start = periods.add_months(day, 1)
    expect_summary(page, "€0.00", "€0.00", "€10.00", "—")
    page.get_by_test_id("summary-future-list").locator("summary").click()
    expect(page.get_by_test_id("summary-future-list")).to_contain_text("Coffee beans")

    page.get_by_label("Collect payment manually on each invoice").check()
    expect(page.get_by_label("Payment method", exact=True)).to_be_hidden()
    page.get_by_label("Payment terms").select_option("net_30")
    page.get_by_text("Invoice settings").click()
    page.get_by_label("Invoice comments").fill("Thank you for your order.")
    page.get_by_label("Tax IDs on the invoice").fill("NL123456789B01, DE999")
    page.get_by_label("Invoice language").select_option("nl")
    # The required custom property is checked by the service, and shown next to its field.
    create(page, "Create")
    expect(page.locator('[data-property="tier"]')).to_contain_text("Property 'tier' is required")
    expect(page.get_by_label("Invoice comments")).to_have_value("Thank you for your order.")
    page.get_by_label("Tier").select_option("gold")
    create(page, "Create")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")

    ada = api.ok(api.get("/contacts", {"email": "ada@example.com"}))["data"][0]
    assert (ada["first_name"], ada["last_name"]) == ("Ada", "Lovelace")
    [created] = subscriptions_of(api, ada["id"])
    company = api.ok(api.get(f"/companies/{created['company_id']}"))
    assert company["name"] == "Analytical Engines Ltd"
    assert created["status"] == "scheduled"
    assert created["start_date"] == created["next_payment_date"] == start.isoformat()
    assert (created["collection_method"], created["payment_terms"]) == ("send_invoice", "net_30")
    assert created["invoice_settings"]["comments"] == "Thank you for your order."
    assert created["invoice_settings"]["tax_ids"] == ["NL123456789B01", "DE999"]
    assert created["invoice_settings"]["language"] == "nl"
    assert created["total_collected"] == "0.00"
    assert created["properties"] == {"tier": "gold"}


def test_a_record_only_subscription_and_what_the_form_itself_refuses(
    api: Api, session_factory: Any, base_url: str
) -> None:
    """Without a browser: the form's own checks (a delay, "same as company" without a
    company, a recurring product sold once) and invoice creation off."""
    data = shop(api)
    user_id = add_user(api, session_factory, f"http-{api.account_id}@example.com")
    with session_factory() as session:
        user = session.get(User, user_id)
        token, row = account_service.start_session(session, user)
        csrf = row.csrf_token
        session.commit()
    form = {
        "csrf_token": csrf,
        "contact_id": data["emma"]["id"],
        "currency": "EUR",
        "line": "k1",
        "line.k1.product_id": data["coffee"]["id"],
        "line.k1.name": "Coffee beans",
        "line.k1.unit_price": "10.00",
        "line.k1.quantity": "1",
        "line.k1.billing_frequency": "",
        "line.k1.start": "delay",
        "line.k1.delay": "9999",
        "line.k1.delay_unit": "months",
        "billing_address.same_as_company": "on",
        "collection_method": "send_invoice",
        "invoice_creation.present": "1",
    }
    with httpx.Client(base_url=base_url, cookies={"cadency_session": token}) as client:
        refused = client.post("/subscriptions/new", data=form)
        assert refused.status_code == 422
        for message in (
            "Enter a delay from 0 to 120 months.",
            "Choose a company to use its address.",
            "This product is billed on a schedule. To sell it once, add a custom line item.",
        ):
            assert message in refused.text
        assert subscriptions_of(api, data["emma"]["id"]) == []

        form.update(
            {
                "line.k1.billing_frequency": "monthly",
                "line.k1.delay": "",
                "line.k1.start": "now",
                "billing_address.same_as_company": "",
                "billing_address.city": "Utrecht",
                "billing_address.country": "nl",
            }
        )  # invoice_creation is unchecked: a record only
        # The second subscription (an annual product in dollars) is refused by the service:
        # the message names the form's second row, and the first subscription is not kept.
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
            "line.k2.product_id": dollars["id"],
            "line.k2.billing_frequency": "annually",
            "invoice_creation": "on",
        }
        refused = client.post("/subscriptions/new", data=mixed)
        assert refused.status_code == 422
        assert refused.text.count('data-testid="line-error-product_id"') == 1
        second_row = refused.text.split('data-testid="line-row"')[2]
        assert f"Product &#39;{dollars['id']}&#39; is priced in USD, not EUR" in second_row
        assert subscriptions_of(api, data["emma"]["id"]) == []

        summary_html = client.post("/subscriptions/new/summary", data=form).text
        assert "Invoice creation is off" in summary_html
        created = client.post("/subscriptions/new", data=form)
        assert created.status_code == 303
    [subscription] = subscriptions_of(api, data["emma"]["id"])
    assert created.headers["location"] == f"/subscriptions/{subscription['id']}"
    assert subscription["invoice_creation"] is False
    assert subscription["next_payment_date"] is None
    assert subscription["billing_address"]["city"] == "Utrecht"
    assert subscription["billing_address"]["country"] == "NL"
    assert api.ok(api.get("/invoices", {"subscription_id": subscription["id"]}))["data"] == []


def test_online_payment_options_and_a_free_trial(staff: Staff) -> None:
    api = staff.api
    data = shop(api)
    page = staff.goto("/subscriptions/new")
    choose_contact(page, "emma", "Emma Jansen")
    add_product(page, "beans", "Coffee beans")
    add_custom(page, "Setup fee", "25.00")
    expect_summary(page, "€35.00", "€35.00", "€0.00", "—")

    # With a trial the whole first invoice waits for the trial's end: nothing is due now.
    page.get_by_label("Free trial (days)").fill("14")
    expect_summary(page, "€0.00", "€0.00", "€35.00", "—")
    expect(summary(page, "trial")).to_contain_text("Free trial of 14 days")
    day = today(api)
    trial_end = periods.add_days(day, 14)
    shown_end = f"{trial_end:%b} {trial_end.day}, {trial_end.year}"
    page.get_by_test_id("summary-future-list").locator("summary").click()
    expect(page.get_by_test_id("summary-future-list")).to_contain_text(f"from {shown_end}")

    options = page.get_by_test_id("online-payment")
    expect(options.get_by_label("Accept online payments")).to_be_checked()
    expect(options.get_by_label("Card")).to_be_checked()
    expect(options.get_by_label("Bank debit")).not_to_be_checked()
    expect(options.get_by_label("Save the payment method for future charges")).to_be_checked()
    # Online payments without any payment type are refused, next to the options.
    options.get_by_label("Card").uncheck()
    create(page, "Create")  # nothing is due now: a trial
    expect(page.get_by_test_id("online-payment")).to_contain_text("Name at least one payment type")
    assert subscriptions_of(api, data["emma"]["id"]) == []
    options = page.get_by_test_id("online-payment")
    expect(options.get_by_label("Card")).not_to_be_checked()
    expect(page.get_by_label("Free trial (days)")).to_have_value("14")

    options.get_by_label("Card").check()
    options.get_by_label("Bank debit").check()
    options.get_by_label("Collect billing address").check()
    options.get_by_label("Save the payment method for future charges").uncheck()
    create(page, "Create")
    page.wait_for_url(f"{staff.base_url}/subscriptions/sub_*")

    [created] = subscriptions_of(api, data["emma"]["id"])
    assert created["payment_options"] == {
        "accept_online_payments": True,
        "payment_types": ["card", "bank_debit"],
        "collect_billing_address": True,
        "collect_shipping_address": False,
        "save_payment_method": False,
    }
    assert created["status"] == "trialing"
    assert created["start_date"] == day.isoformat()
    assert created["trial_end"] == created["next_payment_date"] == trial_end.isoformat()
    assert created["total_collected"] == "0.00"
    assert created["payments_completed"] == 0

    expect(page.get_by_test_id("fact-status")).to_have_text("Trial")
    expect(page.get_by_test_id("fact-trial-end")).to_have_text(shown_end)
    expect(page.get_by_test_id("fact-online-payments")).to_have_text("Accepted: Card, Bank debit")
    expect(page.get_by_test_id("fact-collected-at-payment")).to_have_text("Billing address")
    expect(page.get_by_test_id("fact-save-payment-method")).to_have_text("No")

    # Charged automatically, online payments cannot be turned off (seed 004).
    refused = api.patch(
        f"/subscriptions/{created['id']}",
        {"payment_options": {"accept_online_payments": False}},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["param"] == "payment_options.accept_online_payments"
    page.reload()
    expect(page.get_by_test_id("fact-online-payments")).to_have_text("Accepted: Card, Bank debit")

    # An invoice sent each period may be paid outside the processor only: the record says so.
    manual = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": data["emma"]["id"],
                "currency": "EUR",
                "collection_method": "send_invoice",
                "payment_options": {"accept_online_payments": False, "payment_types": []},
                "line_items": [
                    {"name": "Beans", "unit_price": "10.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    staff.goto(f"/subscriptions/{manual['id']}")
    expect(page.get_by_test_id("fact-online-payments")).to_have_text("Not accepted")
    expect(page.get_by_test_id("fact-save-payment-method")).to_have_count(0)
