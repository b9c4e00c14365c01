from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.checkout.builders import card, catalog, error, outbox, row_counts
from tests.conftest import Api
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def shop(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=START)


def buyer(api: Api, email: str = "carl@example.com", with_card: bool = False) -> dict[str, Any]:
    contact: dict[str, Any] = api.ok(api.post("/contacts", {"email": email}))
    if with_card:
        api.ok(api.post(f"/contacts/{contact['id']}/payment-methods", card()))
    return contact


def published_quote(api: Api, contact_id: str, items: list[dict[str, Any]]) -> Any:
    body = {"name": "Office coffee", "contact_id": contact_id, "line_items": items}
    quote = api.ok(api.post("/quotes", body))
    return api.ok(api.post(f"/quotes/{quote['id']}/publish"))


def deal(api: Api, items: list[dict[str, Any]], contact_id: str | None) -> Any:
    body: dict[str, Any] = {"name": "Office coffee", "line_items": items}
    if contact_id:
        body["contact_id"] = contact_id
    return api.ok(api.post("/deals", body))


# Quotes


def test_quote_with_recurring_and_one_time_items_becomes_subscriptions(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    contact = buyer(api, with_card=True)
    quote = published_quote(
        api,
        contact["id"],
        [
            {"product_id": products["monthly"]["id"]},
            {"product_id": products["annual"]["id"]},
            {"product_id": products["setup"]["id"]},
        ],
    )
    converted = api.ok(api.post(f"/quotes/{quote['id']}/convert"))
    assert converted["object"] == "conversion"
    assert (converted["source_type"], converted["source_id"]) == ("quote", quote["id"])
    monthly_id, annual_id = converted["subscriptions"]
    monthly, annual = shop.subscription(monthly_id), shop.subscription(annual_id)
    assert (monthly["billing_frequency"], annual["billing_frequency"]) == ("monthly", "annually")
    # The contact has a saved card: charged automatically with it.
    for sub in (monthly, annual):
        assert sub["contact_id"] == contact["id"]
        assert sub["collection_method"] == "charge_automatically"
        assert sub["payment_method_id"] is not None
        assert sub["status"] == "active"
    # The one-time item is on the first subscription's first invoice, charged once.
    first = api.ok(api.get(f"/invoices/{converted['invoice_id']}"))
    assert first["subscription_id"] == monthly_id
    assert first["total"] == "15.00"
    assert first["status"] == "paid"
    assert [line["description"] for line in first["lines"]] == [
        "Coffee subscription",
        "Welcome kit",
    ]
    assert len(converted["invoices"]) == 2
    assert shop.invoices(annual_id) == [
        ("2026-03-01", "2027-03-01", "100.00", "paid", "2026-03-01")
    ]

    assert api.ok(api.get(f"/quotes/{quote['id']}"))["status"] == "accepted"
    again = api.post(f"/quotes/{quote['id']}/convert")
    assert error(again, 409)["type"] == "conflict"

    # Associated with the quote: findable with the filter language.
    found = api.ok(
        api.post(
            "/subscriptions/search",
            {
                "filter_groups": [
                    {"filters": [{"property": "associations.quote", "operator": "has_property"}]}
                ]
            },
        )
    )
    assert sorted(s["id"] for s in found["data"]) == sorted(converted["subscriptions"])


def test_quote_without_saved_payment_method_is_invoiced(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    contact = buyer(api)
    quote = published_quote(api, contact["id"], [{"product_id": products["monthly"]["id"]}])
    converted = api.ok(api.post(f"/quotes/{quote['id']}/convert", {"payment_terms": "net_30"}))
    [sub_id] = converted["subscriptions"]
    sub = shop.subscription(sub_id)
    assert (sub["collection_method"], sub["payment_terms"]) == ("send_invoice", "net_30")
    invoice = api.ok(api.get(f"/invoices/{converted['invoice_id']}"))
    assert (invoice["status"], invoice["due_date"], invoice["total"]) == (
        "open",
        "2026-03-31",
        "10.00",
    )
    assert api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"] == []


def test_quote_with_only_one_time_items_becomes_one_invoice(
    shop: Story, session_factory: Any
) -> None:
    api = shop.api
    products = catalog(api)
    contact = buyer(api, with_card=True)
    quote = published_quote(
        api,
        contact["id"],
        [
            {"product_id": products["setup"]["id"], "quantity": 2},
            {"name": "Installation", "unit_price": "40.00"},
        ],
    )
    converted = api.ok(api.post(f"/quotes/{quote['id']}/convert", {"payment_terms": "net_15"}))
    assert converted["subscriptions"] == []
    assert converted["invoices"] == [converted["invoice_id"]]
    invoice = api.ok(api.get(f"/invoices/{converted['invoice_id']}"))
    assert invoice["billing_reason"] == "manual"
    assert invoice["collection_method"] == "send_invoice"
    assert invoice["status"] == "open"  # sent to be paid, not charged (even with a saved card)
    assert invoice["subscription_id"] is None
    assert invoice["contact_id"] == contact["id"]
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-03-01", "2026-03-16")
    assert invoice["total"] == "50.00"
    assert api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"] == []
    emails = outbox(session_factory, api.account_id, "invoice.created")
    assert [e["invoice_id"] for e in emails] == [invoice["id"]]
    assert api.ok(api.get(f"/quotes/{quote['id']}"))["status"] == "accepted"

    charge = api.post(f"/quotes/{quote['id']}/convert", {"collection_method": "send_invoice"})
    assert error(charge, 409)


def test_only_published_quotes_convert(api: Api) -> None:
    products = catalog(api)
    contact = buyer(api)
    draft = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Draft",
                "contact_id": contact["id"],
                "line_items": [{"product_id": products["monthly"]["id"]}],
            },
        )
    )
    assert "published" in error(api.post(f"/quotes/{draft['id']}/convert"), 409)["message"]
    assert api.ok(api.get(f"/quotes/{draft['id']}"))["status"] == "draft"
    assert error(api.post("/quotes/quote_nope/convert"), 404)["type"] == "not_found"


def test_one_time_quote_cannot_be_charged_automatically(api: Api, session_factory: Any) -> None:
    products = catalog(api)
    contact = buyer(api, with_card=True)
    quote = published_quote(api, contact["id"], [{"product_id": products["setup"]["id"]}])
    before = row_counts(session_factory, api.account_id)
    refused = api.post(
        f"/quotes/{quote['id']}/convert", {"collection_method": "charge_automatically"}
    )
    assert error(refused, 422)["param"] == "collection_method"
    assert row_counts(session_factory, api.account_id) == before
    assert api.ok(api.get(f"/quotes/{quote['id']}"))["status"] == "published"


def test_charge_automatically_needs_a_payment_method(api: Api) -> None:
    products = catalog(api)
    contact = buyer(api)
    quote = published_quote(api, contact["id"], [{"product_id": products["monthly"]["id"]}])
    refused = api.post(
        f"/quotes/{quote['id']}/convert", {"collection_method": "charge_automatically"}
    )
    assert error(refused, 422)["param"] == "payment_method_id"
    unknown = api.post(f"/quotes/{quote['id']}/convert", {"colour": "red"})
    assert error(unknown, 422)["param"] == "colour"


# Deals


def test_deal_becomes_subscriptions_by_the_grouping_rule(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    contact = buyer(api)
    company = api.ok(api.post("/companies", {"name": "Carl & Co"}))
    made = api.ok(
        api.post(
            "/deals",
            {
                "name": "Office coffee",
                "contact_id": contact["id"],
                "company_id": company["id"],
                "line_items": [
                    {"product_id": products["setup"]["id"]},
                    {"product_id": products["monthly"]["id"], "billing_start_date": "2026-04-01"},
                    {"product_id": products["annual"]["id"]},
                    {"name": "Milk", "unit_price": "2.00", "billing_frequency": "monthly"},
                ],
            },
        )
    )
    converted = api.ok(api.post(f"/deals/{made['id']}/convert"))
    assert (converted["source_type"], converted["source_id"]) == ("deal", made["id"])
    # Monthly from 1 April, annual from today, monthly from today: three subscriptions.
    later, annual, milk = (shop.subscription(s) for s in converted["subscriptions"])
    assert (later["status"], later["start_date"]) == ("scheduled", "2026-04-01")
    assert [i["name"] for i in later["line_items"]] == ["Coffee subscription"]
    assert annual["status"] == "active"
    assert milk["billing_frequency"] == "monthly"
    for sub in (later, annual, milk):
        assert (sub["collection_method"], sub["payment_terms"]) == (
            "send_invoice",
            "due_on_receipt",
        )
        assert sub["company_id"] == company["id"]
    # The one-time item goes on the subscription that bills first (ties: the earlier item).
    assert [i["name"] for i in annual["line_items"]] == ["Grinder service plan", "Welcome kit"]
    first = api.ok(api.get(f"/invoices/{converted['invoice_id']}"))
    assert (first["subscription_id"], first["total"], first["status"]) == (
        annual["id"],
        "105.00",
        "open",
    )
    assert len(converted["invoices"]) == 2  # annual and milk now; the April one later

    again = api.post(f"/deals/{made['id']}/convert")
    assert "converted already" in error(again, 409)["message"]


def test_deal_without_recurring_items_becomes_an_invoice(api: Api) -> None:
    products = catalog(api)
    contact = buyer(api)
    made = deal(api, [{"product_id": products["setup"]["id"], "quantity": 4}], contact["id"])
    converted = api.ok(api.post(f"/deals/{made['id']}/convert"))
    assert converted["subscriptions"] == []
    invoice = api.ok(api.get(f"/invoices/{converted['invoice_id']}"))
    assert (invoice["billing_reason"], invoice["status"], invoice["total"]) == (
        "manual",
        "open",
        "20.00",
    )
    assert invoice["due_date"] == invoice["issue_date"]  # due on receipt


def test_deal_conversion_conflicts(api: Api) -> None:
    products = catalog(api)
    items = [{"product_id": products["monthly"]["id"]}]
    no_contact = deal(api, items, None)
    assert "no contact" in error(api.post(f"/deals/{no_contact['id']}/convert"), 409)["message"]

    empty = deal(api, [], buyer(api)["id"])
    assert "no line items" in error(api.post(f"/deals/{empty['id']}/convert"), 409)["message"]

    # A deal sold through its quote is converted already, and the other way round.
    contact = buyer(api, "dora@example.com")
    sold = deal(api, items, contact["id"])
    quote = api.ok(api.post("/quotes", {"name": "Q", "deal_id": sold["id"]}))
    api.ok(api.post(f"/quotes/{quote['id']}/publish"))
    api.ok(api.post(f"/quotes/{quote['id']}/convert"))
    assert quote["id"] in error(api.post(f"/deals/{sold['id']}/convert"), 409)["message"]

    direct = deal(api, items, contact["id"])
    second_quote = api.ok(api.post("/quotes", {"name": "Q2", "deal_id": direct["id"]}))
    api.ok(api.post(f"/quotes/{second_quote['id']}/publish"))
    api.ok(api.post(f"/deals/{direct['id']}/convert"))
    assert error(api.post(f"/quotes/{second_quote['id']}/convert"), 409)
    assert api.ok(api.get(f"/quotes/{second_quote['id']}"))["status"] == "published"


def test_conversion_is_private_to_the_account(api: Api, other_api: Api) -> None:
    products = catalog(api)
    contact = buyer(api)
    quote = published_quote(api, contact["id"], [{"product_id": products["monthly"]["id"]}])
    made = deal(api, [{"product_id": products["monthly"]["id"]}], contact["id"])
    assert error(other_api.post(f"/quotes/{quote['id']}/convert"), 404)["type"] == "not_found"
    assert error(other_api.post(f"/deals/{made['id']}/convert"), 404)["type"] == "not_found"
    assert api.ok(api.get(f"/quotes/{quote['id']}"))["status"] == "published"
    # Still convertible by its own account.
    assert api.ok(api.post(f"/deals/{made['id']}/convert"))["subscriptions"]


def test_scheduled_first_subscription_bills_one_time_items_when_it_starts(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    contact = buyer(api, with_card=True)
    quote = published_quote(
        api,
        contact["id"],
        [
            {"product_id": products["monthly"]["id"], "billing_start_date": "2026-03-10"},
            {"product_id": products["setup"]["id"]},
        ],
    )
    converted = api.ok(api.post(f"/quotes/{quote['id']}/convert"))
    assert (converted["invoice_id"], converted["invoices"]) == (None, [])
    [sub_id] = converted["subscriptions"]
    shop.advance_to(date(2026, 3, 10))
    assert shop.invoices(sub_id) == [("2026-03-10", "2026-04-10", "15.00", "paid", "2026-03-10")]
    shop.advance_to(date(2026, 4, 10))
    assert shop.invoices(sub_id)[-1] == ("2026-04-10", "2026-05-10", "10.00", "paid", "2026-04-10")
