"""Contacts, companies, deals and quotes in the browser: what the pages show, and what the API
holds afterwards."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.conftest import Api
from tests.web.conftest import Staff, screenshot

CARD = {
    "type": "card",
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
}


def _product(api: Api, name: str, price: str, frequency: str | None = "monthly") -> Any:
    body = {"name": name, "unit_price": price, "currency": "USD", "billing_frequency": frequency}
    return api.ok(api.post("/products", body))


def _contact(api: Api, email: str, **fields: Any) -> Any:
    return api.ok(api.post("/contacts", {"email": email, **fields}))


def _today(api: Api) -> date:
    return date.fromisoformat(api.ok(api.get("/clock"))["now"][:10])


def _subscribe(api: Api, **body: Any) -> Any:
    return api.ok(api.post("/subscriptions", {"currency": "USD", **body}))


def _define_tier(api: Api, object_type: str) -> None:
    api.ok(
        api.post(
            f"/properties/{object_type}",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}],
            },
        )
    )


def _card_row(page: Page, subscription_id: str) -> Any:
    return page.get_by_test_id("subscriptions-card").locator(f"tr[data-id='{subscription_id}']")


def test_create_a_contact_and_edit_its_custom_property(staff: Staff) -> None:
    _define_tier(staff.api, "contacts")
    page = staff.goto("/contacts")
    page.get_by_role("link", name="Create contact").click()
    page.get_by_label("Email").fill("Emma@Example.com")
    page.get_by_label("First name").fill("Emma")
    page.get_by_label("Last name").fill("Jansen")
    page.get_by_label("Phone number").fill("+31 20 123 4567")
    page.get_by_label("Street address").fill("Keizersgracht 1")
    page.get_by_label("City").fill("Amsterdam")
    page.get_by_label("Country code").fill("NL")
    page.get_by_label("Tier").select_option("basic")
    page.get_by_label("Preferred language").select_option("de")
    page.get_by_role("button", name="Create contact").click()

    expect(page.get_by_test_id("flash")).to_have_text("The contact was created.")
    expect(page.get_by_role("heading", name="Emma Jansen")).to_be_visible()
    expect(page.get_by_test_id("contact-facts")).to_contain_text("emma@example.com")
    expect(page.get_by_test_id("address")).to_contain_text("Amsterdam")
    expect(page.get_by_test_id("contact-facts")).to_contain_text("Deutsch")
    contact_id = page.url.rsplit("/", 1)[1]
    stored = staff.api.ok(staff.api.get(f"/contacts/{contact_id}"))
    assert stored["email"] == "emma@example.com"
    assert stored["language"] == "de"
    assert stored["phone"] == "+31 20 123 4567"
    assert stored["address"]["city"] == "Amsterdam"
    assert stored["address"]["country"] == "NL"
    assert stored["properties"] == {"tier": "basic"}

    card = page.get_by_test_id("properties-card")
    expect(card.get_by_label("Tier")).to_have_value("basic")
    card.get_by_label("Tier").select_option("pro")
    card.get_by_role("button", name="Save properties").click()
    expect(page.get_by_test_id("flash")).to_have_text("The properties were saved.")
    expect(page.get_by_test_id("properties-card").get_by_label("Tier")).to_have_value("pro")
    assert staff.api.ok(staff.api.get(f"/contacts/{contact_id}"))["properties"] == {"tier": "pro"}

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Phone number").fill("")
    page.get_by_label("City").fill("Utrecht")
    expect(page.get_by_label("Preferred language")).to_have_value("de")
    page.get_by_label("Preferred language").select_option("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The contact was saved.")
    expect(page.get_by_test_id("contact-facts")).to_contain_text("Account default")
    edited = staff.api.ok(staff.api.get(f"/contacts/{contact_id}"))
    assert edited["phone"] is None
    assert edited["language"] is None
    assert edited["address"]["city"] == "Utrecht"
    assert edited["address"]["line1"] == "Keizersgracht 1"
    assert edited["properties"] == {"tier": "pro"}


def test_bad_contact_input_is_shown_next_to_the_fields_and_nothing_is_written(
    staff: Staff,
) -> None:
    staff.api.ok(
        staff.api.post(
            "/properties/contacts",
            {
                "name": "employees",
                "label": "Employees",
                "field_type": "number",
                "rules": {"min": 1},
            },
        )
    )
    _contact(staff.api, "taken@example.com")
    page = staff.goto("/contacts/new")
    page.get_by_label("Email").fill("taken@example.com")
    page.get_by_label("Country code").fill("XX")
    page.get_by_label("Employees").fill("0")
    with page.expect_response(lambda r: r.url.endswith("/contacts")) as answer:
        page.get_by_role("button", name="Create contact").click()
    assert answer.value.status == 422
    expect(page.get_by_test_id("error-address.country")).to_contain_text("country code")
    expect(page.get_by_label("Email")).to_have_value("taken@example.com")
    # The address is checked before anything is written; then the service's own checks.
    page.get_by_label("Country code").fill("NL")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_test_id("error-email")).to_contain_text("already exists")
    # The contact is written before its properties are checked: a bad property undoes it.
    page.get_by_label("Email").fill("new@example.com")
    page.get_by_role("button", name="Create contact").click()
    expect(page.locator("[data-property=employees] .field-error")).to_be_visible()
    contacts = staff.api.ok(staff.api.get("/contacts"))["data"]
    assert [c["email"] for c in contacts] == ["taken@example.com"]
    page.get_by_label("Employees").fill("12")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_test_id("flash")).to_have_text("The contact was created.")
    contacts = staff.api.ok(staff.api.get("/contacts"))["data"]
    assert [(c["email"], c["properties"]) for c in contacts] == [
        ("new@example.com", {"employees": 12}),
        ("taken@example.com", {}),
    ]

    # A bad value on the contact's page: refused, the stored value stays.
    contact = _contact(staff.api, "emma@example.com", properties={"employees": 5})
    page.goto(f"{staff.base_url}/contacts/{contact['id']}")
    page.get_by_label("Employees").fill("-3")
    page.get_by_role("button", name="Save properties").click()
    expect(page.locator("[data-property=employees] .field-error")).to_be_visible()
    expect(page.get_by_label("Employees")).to_have_value("-3")
    assert staff.api.ok(staff.api.get(f"/contacts/{contact['id']}"))["properties"] == {
        "employees": 5
    }


def test_contact_page_shows_its_subscriptions_and_payment_methods(staff: Staff) -> None:
    contact = _contact(staff.api, "ann@example.com", first_name="Ann", last_name="Smith")
    method = staff.api.ok(staff.api.post(f"/contacts/{contact['id']}/payment-methods", CARD))
    monthly = _product(staff.api, "Coffee club", "12.50")
    today = _today(staff.api)
    active = _subscribe(
        staff.api,
        contact_id=contact["id"],
        line_items=[{"product_id": monthly["id"], "quantity": 2}],
        collection_method="charge_automatically",
        payment_method_id=method["id"],
    )
    later = today + timedelta(days=10)
    scheduled = _subscribe(
        staff.api,
        contact_id=contact["id"],
        line_items=[{"product_id": monthly["id"], "billing_start_date": later.isoformat()}],
        collection_method="send_invoice",
        payment_terms="net_30",
    )
    someone_else = _contact(staff.api, "bob@example.com")
    theirs = _subscribe(
        staff.api,
        contact_id=someone_else["id"],
        line_items=[{"product_id": monthly["id"]}],
        collection_method="send_invoice",
    )

    page = staff.goto("/contacts")
    expect(page.get_by_test_id("contacts")).to_contain_text("Ann Smith")
    screenshot(page, "contacts")
    page.get_by_label("Search contacts").fill("ann@")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("contacts").locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Ann Smith").click()

    row = _card_row(page, active["id"])
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    expect(row.get_by_test_id("next-payment-amount")).to_have_text("$25.00")
    next_payment = date.fromisoformat(active["next_payment_date"])
    expect(row.get_by_test_id("next-payment-date")).to_have_text(
        f"{next_payment:%b} {next_payment.day}, {next_payment.year}"
    )
    row = _card_row(page, scheduled["id"])
    expect(row.get_by_test_id("status-badge")).to_have_text("Scheduled")
    expect(row.get_by_test_id("next-payment-amount")).to_have_text("$12.50")
    expect(_card_row(page, theirs["id"])).to_have_count(0)
    expect(page.get_by_test_id("payment-methods")).to_contain_text("•••• 4242")
    expect(page.get_by_test_id("payment-methods")).to_contain_text("12/2040")
    create = page.get_by_test_id("subscriptions-card").get_by_role(
        "link", name="Create subscription"
    )
    expect(create).to_have_attribute("href", f"/subscriptions/new?contact_id={contact['id']}")
    screenshot(page, "contact-detail")

    # A subscription set to end shows "Canceling".
    staff.api.ok(staff.api.post(f"/subscriptions/{active['id']}/cancel", {"mode": "at_period_end"}))
    page.reload()
    expect(_card_row(page, active["id"]).get_by_test_id("status-badge")).to_have_text("Canceling")


def test_company_page_with_properties_and_subscriptions(staff: Staff) -> None:
    _define_tier(staff.api, "companies")
    page = staff.goto("/companies")
    page.get_by_role("link", name="Create company").click()
    page.get_by_label("Company name").fill("Koffie BV")
    page.get_by_label("Domain").fill("https://koffie.example")
    page.get_by_role("button", name="Create company").click()
    expect(page.get_by_test_id("error-domain")).to_contain_text("domain name")
    page.get_by_label("Domain").fill("Koffie.example")
    page.get_by_label("Tier").select_option("pro")
    page.get_by_role("button", name="Create company").click()
    expect(page.get_by_test_id("flash")).to_have_text("The company was created.")
    company_id = page.url.rsplit("/", 1)[1]
    stored = staff.api.ok(staff.api.get(f"/companies/{company_id}"))
    assert (stored["name"], stored["domain"], stored["properties"]) == (
        "Koffie BV",
        "koffie.example",
        {"tier": "pro"},
    )

    page.get_by_test_id("properties-card").get_by_label("Tier").select_option("")
    page.get_by_role("button", name="Save properties").click()
    expect(page.get_by_test_id("flash")).to_have_text("The properties were saved.")
    assert staff.api.ok(staff.api.get(f"/companies/{company_id}"))["properties"] == {}

    contact = _contact(staff.api, "ann@example.com")
    plan = _product(staff.api, "Office coffee", "99.00", "quarterly")
    subscription = _subscribe(
        staff.api,
        contact_id=contact["id"],
        company_id=company_id,
        line_items=[{"product_id": plan["id"]}],
        collection_method="send_invoice",
    )
    _subscribe(
        staff.api,
        contact_id=contact["id"],
        line_items=[{"product_id": plan["id"]}],
        collection_method="send_invoice",
    )
    page.reload()
    rows = page.get_by_test_id("subscriptions-card").locator("tbody tr")
    expect(rows).to_have_count(1)
    row = _card_row(page, subscription["id"])
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    expect(row.get_by_test_id("next-payment-amount")).to_have_text("$99.00")
    create = page.get_by_test_id("subscriptions-card").get_by_role(
        "link", name="Create subscription"
    )
    expect(create).to_have_attribute("href", f"/subscriptions/new?company_id={company_id}")

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Company name").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error-name")).to_be_visible()
    assert staff.api.ok(staff.api.get(f"/companies/{company_id}"))["name"] == "Koffie BV"
    page.get_by_label("Company name").fill("Koffie Holding BV")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Koffie Holding BV")).to_be_visible()

    page.goto(staff.base_url + "/companies")
    expect(page.get_by_test_id("companies")).to_contain_text("koffie.example")
    screenshot(page, "companies")


def test_create_a_quote_publish_and_convert_it(staff: Staff) -> None:
    contact = _contact(staff.api, "ann@example.com", first_name="Ann")
    monthly = _product(staff.api, "Coffee club", "12.50")
    setup = _product(staff.api, "Welcome kit", "5.00", None)

    page = staff.goto("/quotes")
    page.get_by_role("link", name="Create quote").click()
    page.get_by_label("Quote name").fill("Coffee for Ann")
    page.get_by_label("Contact").select_option(contact["id"])
    page.get_by_label("Product of line 1").select_option(monthly["id"])
    page.get_by_label("Quantity of line 1").fill("abc")
    page.get_by_label("Product of line 3").select_option(setup["id"])
    page.get_by_role("button", name="Create quote").click()
    expect(page.get_by_test_id("error-line_items.0.quantity")).to_be_visible()
    assert staff.api.ok(staff.api.get("/quotes"))["data"] == []
    page.get_by_label("Quantity of line 1").fill("2")
    page.get_by_role("button", name="Create quote").click()

    expect(page.get_by_test_id("flash")).to_have_text("The quote was created.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Draft")
    expect(page.get_by_test_id("quote-amount")).to_have_text("$30.00")
    quote_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("flash")).to_have_text("The quote was published.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Published")
    assert staff.api.ok(staff.api.get(f"/quotes/{quote_id}"))["status"] == "published"

    page.goto(staff.base_url + "/quotes")
    expect(page.get_by_test_id("quotes")).to_contain_text("Coffee for Ann")
    screenshot(page, "quotes")
    page.get_by_role("link", name="Coffee for Ann").click()
    page.get_by_role("button", name="Convert quote to subscription").click()

    expect(page).to_have_url(re.compile(r"/subscriptions/sub_\w+$"))
    expect(page.get_by_test_id("flash")).to_have_text(
        "The quote was converted into a subscription."
    )
    subscription_id = page.url.rsplit("/", 1)[1]
    subscription = staff.api.ok(staff.api.get(f"/subscriptions/{subscription_id}"))
    assert subscription["contact_id"] == contact["id"]
    assert subscription["status"] == "active"
    assert subscription["collection_method"] == "send_invoice"
    assert [(i["product_id"], i["quantity"]) for i in subscription["line_items"]] == [
        (monthly["id"], 2),
        (setup["id"], 1),
    ]
    assert staff.api.ok(staff.api.get(f"/quotes/{quote_id}"))["status"] == "accepted"

    page.goto(f"{staff.base_url}/quotes/{quote_id}")
    expect(page.get_by_test_id("status-badge").first).to_have_text("Accepted")
    expect(page.get_by_test_id("conversion")).to_contain_text(subscription["name"])
    expect(page.get_by_role("button", name="Convert quote to subscription")).to_have_count(0)


def test_create_a_deal_and_convert_it_into_subscriptions(staff: Staff) -> None:
    contact = _contact(staff.api, "ann@example.com", first_name="Ann", last_name="Smith")
    company = staff.api.ok(staff.api.post("/companies", {"name": "Koffie BV"}))
    monthly = _product(staff.api, "Coffee club", "12.50")
    annual = _product(staff.api, "Grinder service", "100.00", "annually")

    page = staff.goto(f"/deals/new?contact_id={contact['id']}&company_id={company['id']}")
    expect(page.get_by_label("Contact")).to_have_value(contact["id"])
    page.get_by_label("Deal name").fill("Office coffee")
    page.get_by_label("Deal stage").select_option(label="Contract sent")
    page.get_by_label("Product of line 1").select_option(monthly["id"])
    page.get_by_label("Product of line 2").select_option(annual["id"])
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_test_id("flash")).to_have_text("The deal was created.")
    expect(page.get_by_test_id("deal-amount")).to_have_text("$112.50")
    deal_id = page.url.rsplit("/", 1)[1]
    deal = staff.api.ok(staff.api.get(f"/deals/{deal_id}"))
    assert (deal["stage"], deal["amount"], deal["contact_id"], deal["company_id"]) == (
        "contract_sent",
        "112.50",
        contact["id"],
        company["id"],
    )
    expect(page.get_by_role("link", name="Create subscription")).to_have_attribute(
        "href", f"/subscriptions/new?deal_id={deal_id}"
    )

    page.goto(staff.base_url + "/deals")
    expect(page.get_by_test_id("deals")).to_contain_text("Contract sent")
    screenshot(page, "deals")
    page.get_by_role("link", name="Office coffee").click()
    page.get_by_role("button", name="Convert deal to subscription").click()

    # Two billing frequencies: two subscriptions (the grouping rule); the page opens the first.
    expect(page).to_have_url(re.compile(r"/subscriptions/sub_\w+$"))
    expect(page.get_by_test_id("flash")).to_have_text(
        "The deal was converted into 2 subscriptions."
    )
    listed = staff.api.ok(staff.api.get("/subscriptions", params={"contact_id": contact["id"]}))
    made = {s["billing_frequency"]: s for s in listed["data"]}
    assert set(made) == {"monthly", "annually"}
    assert all(s["company_id"] == company["id"] for s in made.values())
    assert page.url.endswith(made["monthly"]["id"])

    page.goto(f"{staff.base_url}/deals/{deal_id}")
    expect(page.get_by_test_id("conversion").locator("li")).to_have_count(2)
    expect(page.get_by_role("button", name="Convert deal to subscription")).to_have_count(0)


def test_a_deal_without_a_contact_cannot_be_converted(staff: Staff) -> None:
    plan = _product(staff.api, "Coffee club", "12.50")
    deal = staff.api.ok(
        staff.api.post("/deals", {"name": "Lead", "line_items": [{"product_id": plan["id"]}]})
    )
    page = staff.goto(f"/deals/{deal['id']}")
    with page.expect_response(lambda r: r.url.endswith("/convert")) as answer:
        page.get_by_role("button", name="Convert deal to subscription").click()
    assert answer.value.status == 409
    expect(page.get_by_test_id("form-error")).to_contain_text("has no contact")
    assert staff.api.ok(staff.api.get("/subscriptions"))["data"] == []


def test_another_accounts_records_are_not_found(staff: Staff, other_api: Api) -> None:
    contact = _contact(other_api, "secret@example.com")
    company = other_api.ok(other_api.post("/companies", {"name": "Secret BV"}))
    deal = other_api.ok(other_api.post("/deals", {"name": "Secret deal"}))
    for path in (
        f"/contacts/{contact['id']}",
        f"/contacts/{contact['id']}/edit",
        f"/companies/{company['id']}",
        f"/deals/{deal['id']}",
    ):
        response = staff.page.request.get(staff.base_url + path)
        assert response.status == 404, path
    page = staff.goto(f"/contacts/{contact['id']}")
    expect(page.get_by_test_id("error-message")).to_contain_text("No such contact")
    expect(page.locator("body")).not_to_contain_text("secret@example.com")
    # A forged post with this session's token cannot touch the other account's record.
    token = (page.locator("body").get_attribute("hx-headers") or "").split('"')[3]
    response = page.request.post(
        f"{staff.base_url}/deals/{deal['id']}/convert", form={"csrf_token": token}
    )
    assert response.status == 404


def test_a_quote_without_recurring_items_becomes_an_invoice(staff: Staff) -> None:
    contact = _contact(staff.api, "ann@example.com")
    kit = _product(staff.api, "Welcome kit", "5.00", None)
    quote = staff.api.ok(
        staff.api.post(
            "/quotes",
            {
                "name": "Starter kit",
                "contact_id": contact["id"],
                "line_items": [{"product_id": kit["id"], "quantity": 3}],
            },
        )
    )
    staff.api.ok(staff.api.post(f"/quotes/{quote['id']}/publish"))
    page = staff.goto(f"/quotes/{quote['id']}")
    page.get_by_role("button", name="Convert quote to subscription").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "The quote has no recurring items, so it was converted into invoice INV-000001."
    )
    expect(page.get_by_test_id("conversion")).to_contain_text("INV-000001 ($15.00)")
    invoices = staff.api.ok(staff.api.get("/invoices"))["data"]
    assert [(i["number"], i["total"], i["contact_id"]) for i in invoices] == [
        ("INV-000001", "15.00", contact["id"])
    ]
    assert staff.api.ok(staff.api.get("/subscriptions"))["data"] == []


def test_a_deal_with_nothing_recurring_converts_to_an_invoice(staff: Staff) -> None:
    contact = _contact(staff.api, "bo@example.com")
    kit = _product(staff.api, "Espresso machine", "450.00", None)
    deal = staff.api.ok(
        staff.api.post(
            "/deals",
            {
                "name": "Machine sale",
                "contact_id": contact["id"],
                "line_items": [{"product_id": kit["id"]}],
            },
        )
    )
    page = staff.goto(f"/deals/{deal['id']}")
    expect(page.get_by_test_id("convert-deal")).to_have_text("Convert deal to invoice")
    page.get_by_test_id("convert-deal").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "The deal has no recurring items, so it was converted into invoice INV-000001."
    )
    # Converted once: the button is gone, the invoice is named.
    expect(page.get_by_test_id("convert-deal")).to_have_count(0)
    expect(page.get_by_test_id("conversion")).to_contain_text("INV-000001")
    expect(page.get_by_test_id("subscriptions-card")).to_contain_text("No subscriptions yet.")
    assert staff.api.ok(staff.api.get("/subscriptions"))["data"] == []
