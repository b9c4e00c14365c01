from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.checkout.builders import (
    CHARGES_FAIL,
    DECLINED_AT_ATTACH,
    bank,
    card,
    catalog,
    checkout,
    checkout_body,
    error,
    link,
    outbox,
    row_counts,
)
from tests.conftest import Api
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def shop(client: Any, session_factory: Any) -> Story:
    """A test-mode shop whose clock stands at 1 March 2026, 10:00 UTC."""
    return Story(client, session_factory, start=START)


def mixed_link(api: Api) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    products = catalog(api)
    created = link(
        api,
        [
            {"product_id": products["monthly"]["id"], "quantity": 2},
            {"product_id": products["annual"]["id"]},
            {"product_id": products["setup"]["id"]},
        ],
    )
    return created, products


# Payment links


def test_create_get_and_list_payment_links(api: Api) -> None:
    products = catalog(api)
    rate = api.ok(api.post("/tax-rates", {"name": "VAT", "percentage": "21.00"}))
    created = link(
        api,
        [
            {"product_id": products["monthly"]["id"], "tax_rate_id": rate["id"]},
            {"name": "Custom engraving", "unit_price": "7.50", "unit_discount_percent": "10"},
        ],
    )
    assert created["id"].startswith("plink_")
    assert created["object"] == "payment_link"
    assert created["url"] == f"http://testserver/pay/{created['id']}"
    assert created["name"] == "Coffee club"
    assert created["currency"] == "USD"
    assert created["collection_method"] == "charge_automatically"
    assert created["active"] is True
    monthly, engraving = created["line_items"]
    assert monthly["id"].startswith("li_")
    assert monthly["billing_frequency"] == "monthly"
    assert monthly["billing_terms"] == "auto_renew"
    assert monthly["amount"] == "10.00"
    assert engraving["billing_frequency"] is None
    assert engraving["amount"] == "6.75"

    assert api.ok(api.get(f"/payment-links/{created['id']}")) == created
    listed = api.ok(api.get("/payment-links"))
    assert [item["id"] for item in listed["data"]] == [created["id"]]

    # Prices are frozen on the link: editing the product changes nothing it sells.
    api.ok(api.patch(f"/products/{products['monthly']['id']}", {"unit_price": "99.00"}))
    again = api.ok(api.get(f"/payment-links/{created['id']}"))
    assert again["line_items"][0]["unit_price"] == "10.00"


def test_payment_link_input_is_validated(api: Api) -> None:
    products = catalog(api)
    assert (
        error(api.post("/payment-links", {"name": "Empty", "line_items": []}), 422)["param"]
        == "line_items"
    )
    unknown = api.post(
        "/payment-links",
        {"name": "X", "line_items": [{"product_id": products["setup"]["id"]}], "colour": "red"},
    )
    assert error(unknown, 422)["param"] == "colour"
    missing = api.post("/payment-links", {"name": "X", "line_items": [{"product_id": "prod_x"}]})
    assert error(missing, 422)["param"] == "line_items.0.product_id"
    terms = api.post(
        "/payment-links",
        {
            "name": "X",
            "line_items": [{"product_id": products["monthly"]["id"]}],
            "payment_terms": "net_30",
        },
    )
    assert error(terms, 422)["param"] == "payment_terms"
    past = api.post(
        "/payment-links",
        {
            "name": "X",
            "line_items": [
                {"product_id": products["monthly"]["id"], "billing_start_date": "2020-01-01"}
            ],
        },
    )
    assert error(past, 422)["param"] == "line_items.0.billing_start_date"
    # Nothing half-made stays behind (the builder's line item rows are never written).
    assert api.ok(api.get("/payment-links"))["data"] == []


def test_deactivated_link_refuses_checkout(api: Api) -> None:
    created, _ = mixed_link(api)
    updated = api.ok(api.patch(f"/payment-links/{created['id']}", {"active": False}))
    assert updated["active"] is False
    assert api.ok(api.get("/payment-links", params={"active": "true"}))["data"] == []
    refused = api.post(f"/payment-links/{created['id']}/checkout", checkout_body())
    assert error(refused, 409)["type"] == "conflict"


# Checkout


def test_checkout_groups_items_into_subscriptions_and_charges_once(
    shop: Story, session_factory: Any
) -> None:
    api = shop.api
    created, products = mixed_link(api)
    done = checkout(api, created["id"])

    assert done["object"] == "checkout"
    assert done["payment_status"] == "succeeded"
    # A monthly and an annual item: two subscriptions; the one-time item is on neither's terms.
    assert len(done["subscriptions"]) == 2
    monthly = shop.subscription(done["subscriptions"][0])
    annual = shop.subscription(done["subscriptions"][1])
    assert monthly["billing_frequency"] == "monthly"
    assert annual["billing_frequency"] == "annually"

    # One invoice: both first periods and the one-time item, paid with one payment.
    invoice = api.ok(api.get(f"/invoices/{done['invoice_id']}"))
    assert invoice["billing_reason"] == "checkout"
    assert invoice["status"] == "paid"
    assert invoice["subscription_id"] is None
    assert invoice["contact_id"] == done["contact_id"]
    assert invoice["total"] == "125.00"  # 2 x 10.00 + 100.00 + 5.00
    assert invoice["amount_due"] == "0.00"
    lines = {line["description"]: line for line in invoice["lines"]}
    assert (
        lines["Coffee subscription"]["period_start"],
        lines["Coffee subscription"]["period_end"],
    ) == (
        "2026-03-01",
        "2026-04-01",
    )
    assert lines["Grinder service plan"]["period_end"] == "2027-03-01"
    assert lines["Welcome kit"]["period_start"] is None
    payments = api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"]
    assert [(p["id"], p["amount"], p["status"]) for p in payments] == [
        (done["payment_id"], "125.00", "succeeded")
    ]
    assert done["amount"] == "125.00"

    # Each subscription counts its first period as billed and paid, with its share.
    assert monthly["status"] == "active"
    assert monthly["payments_completed"] == 1
    assert monthly["total_collected"] == "25.00"  # 20.00 + the 5.00 one-time item it carries
    assert monthly["last_payment_amount"] == "25.00"
    assert monthly["last_payment_status"] == "succeeded"
    assert (monthly["current_period_start"], monthly["current_period_end"]) == (
        "2026-03-01",
        "2026-04-01",
    )
    assert monthly["next_payment_date"] == "2026-04-01"
    assert monthly["next_payment_amount"] == "20.00"
    assert [item["name"] for item in monthly["line_items"]] == [
        "Coffee subscription",
        "Welcome kit",
    ]
    assert annual["payments_completed"] == 1
    assert annual["total_collected"] == "100.00"
    assert annual["next_payment_date"] == "2027-03-01"
    assert annual["payment_method_id"] == done["payment_method_id"]
    assert monthly["payment_method_id"] == done["payment_method_id"]
    assert monthly["collection_method"] == "charge_automatically"

    # The contact was created from the buyer's details; the card is saved on it.
    contact = api.ok(api.get(f"/contacts/{done['contact_id']}"))
    assert (contact["email"], contact["first_name"], contact["last_name"]) == (
        "ann@example.com",
        "Ann",
        "Smith",
    )
    methods = api.ok(api.get(f"/contacts/{contact['id']}/payment-methods"))["data"]
    assert [m["id"] for m in methods] == [done["payment_method_id"]]

    # Timelines and the receipt.
    for sub_id in done["subscriptions"]:
        events = api.ok(api.get(f"/subscriptions/{sub_id}/events"))["data"]
        assert [e["type"] for e in events][:1] == ["subscription.created"]
        assert "payment.succeeded" in [e["type"] for e in events]
    receipts = outbox(session_factory, api.account_id, "payment.succeeded")
    assert len(receipts) == 1
    receipt = receipts[0]
    assert receipt["payment_id"] == done["payment_id"]
    assert receipt["email"] == "ann@example.com"
    assert receipt["name"] == "Ann Smith"
    assert receipt["amount"] == "125.00"
    assert receipt["invoice_number"] == invoice["number"]
    assert receipt["subscription_ids"] == done["subscriptions"]
    assert receipt["payment_method"] == {"type": "card", "brand": "visa", "last4": "4242"}
    assert len(receipt["lines"]) == 3
    assert len(outbox(session_factory, api.account_id, "invoice.created")) == 1

    # Nothing else is due: the engine has no first period left to bill.
    shop.assert_quiet()
    assert products  # (used to build the link)


def test_taxes_are_shared_out_per_subscription(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    rate = api.ok(api.post("/tax-rates", {"name": "VAT", "percentage": "21.00"}))
    created = link(
        api,
        [
            {"product_id": products["monthly"]["id"], "tax_rate_id": rate["id"]},
            {"product_id": products["annual"]["id"]},
        ],
    )
    done = checkout(api, created["id"])
    invoice = api.ok(api.get(f"/invoices/{done['invoice_id']}"))
    assert (invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (
        "110.00",
        "2.10",
        "112.10",
    )
    monthly, annual = (shop.subscription(s) for s in done["subscriptions"])
    assert monthly["total_collected"] == "12.10"
    assert annual["total_collected"] == "100.00"


def test_items_with_the_same_terms_share_one_subscription(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api,
        [
            {"product_id": products["monthly"]["id"]},
            {"name": "Milk", "unit_price": "3.00", "billing_frequency": "monthly"},
            {
                "name": "Beans, six months",
                "unit_price": "8.00",
                "billing_frequency": "monthly",
                "billing_terms": "fixed",
                "number_of_payments": 6,
            },
        ],
    )
    done = checkout(api, created["id"])
    assert len(done["subscriptions"]) == 2
    open_ended, fixed = (shop.subscription(s) for s in done["subscriptions"])
    assert [i["name"] for i in open_ended["line_items"]] == ["Coffee subscription", "Milk"]
    assert (fixed["billing_terms"], fixed["number_of_payments"], fixed["end_date"]) == (
        "fixed",
        6,
        "2026-09-01",
    )
    assert api.ok(api.get(f"/invoices/{done['invoice_id']}"))["total"] == "21.00"


def test_a_single_subscription_checkout_is_that_subscriptions_first_invoice(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api, [{"product_id": products["monthly"]["id"]}, {"product_id": products["setup"]["id"]}]
    )
    done = checkout(api, created["id"])
    [sub_id] = done["subscriptions"]
    invoice = api.ok(api.get(f"/invoices/{done['invoice_id']}"))
    assert invoice["subscription_id"] == sub_id
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-03-01", "2026-04-01")
    assert shop.invoices(sub_id) == [("2026-03-01", "2026-04-01", "15.00", "paid", "2026-03-01")]
    assert shop.payments(sub_id) == [("15.00", "succeeded", None)]


def test_future_start_is_scheduled_and_not_charged_at_checkout(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api,
        [
            {"product_id": products["monthly"]["id"]},
            {"product_id": products["monthly"]["id"], "billing_start_date": "2026-03-15"},
            {"product_id": products["setup"]["id"]},
        ],
    )
    done = checkout(api, created["id"])
    now, later = (shop.subscription(s) for s in done["subscriptions"])
    assert now["status"] == "active"
    assert later["status"] == "scheduled"
    assert later["start_date"] == "2026-03-15"
    assert later["payments_completed"] == 0
    assert later["next_payment_amount"] == "10.00"  # the one-time item was paid at checkout
    assert api.ok(api.get(f"/invoices/{done['invoice_id']}"))["total"] == "15.00"

    shop.advance_to(datetime(2026, 3, 15).date())
    assert shop.invoices(later["id"]) == [
        ("2026-03-15", "2026-04-15", "10.00", "paid", "2026-03-15")
    ]
    assert shop.subscription(later["id"])["status"] == "active"


def test_only_future_subscriptions_charge_nothing_now(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api, [{"product_id": products["annual"]["id"], "billing_start_date": "2026-04-01"}]
    )
    done = checkout(api, created["id"])
    assert (done["invoice_id"], done["payment_id"], done["amount"]) == (None, None, "0.00")
    assert shop.subscription(done["subscriptions"][0])["status"] == "scheduled"
    shop.advance_to(datetime(2026, 4, 1).date())
    assert shop.payments(done["subscriptions"][0]) == [("100.00", "succeeded", None)]


def test_one_time_only_checkout_issues_one_paid_invoice(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(api, [{"product_id": products["setup"]["id"], "quantity": 3}])
    done = checkout(api, created["id"], save_payment_method=False)
    assert done["subscriptions"] == []
    assert done["payment_method_id"] is None
    invoice = api.ok(api.get(f"/invoices/{done['invoice_id']}"))
    assert (invoice["status"], invoice["total"], invoice["subscription_id"]) == (
        "paid",
        "15.00",
        None,
    )
    payment = api.ok(api.get(f"/payments/{done['payment_id']}"))
    # Used for this charge and not kept: the payment names it, the contact has no saved method
    # and it cannot be charged again.
    assert payment["payment_method_id"] is not None
    assert api.ok(api.get(f"/contacts/{done['contact_id']}/payment-methods"))["data"] == []
    again = api.post(
        f"/invoices/{done['invoice_id']}/pay", {"payment_method_id": payment["payment_method_id"]}
    )
    assert again.status_code == 409, again.text  # the invoice is paid; nothing to charge


def test_recurring_items_need_the_payment_method_saved(shop: Story, session_factory: Any) -> None:
    api = shop.api
    created, _ = mixed_link(api)
    before = row_counts(session_factory, api.account_id)
    refused = api.post(
        f"/payment-links/{created['id']}/checkout", checkout_body(save_payment_method=False)
    )
    assert error(refused, 422)["param"] == "save_payment_method"
    assert row_counts(session_factory, api.account_id) == before


def test_second_checkout_matches_the_contact_by_email(shop: Story) -> None:
    api = shop.api
    existing = api.ok(api.post("/contacts", {"email": "ann@example.com"}))
    created, _ = mixed_link(api)
    first = checkout(api, created["id"], email="Ann@Example.COM")
    assert first["contact_id"] == existing["id"]
    filled = api.ok(api.get(f"/contacts/{existing['id']}"))
    assert (filled["first_name"], filled["last_name"]) == ("Ann", "Smith")  # blanks filled in

    second = checkout(api, created["id"], email="ann@example.com")
    assert second["contact_id"] == existing["id"]
    assert len(api.ok(api.get("/contacts"))["data"]) == 1
    assert set(first["subscriptions"]).isdisjoint(second["subscriptions"])
    assert (
        len(api.ok(api.get("/subscriptions", params={"contact_id": existing["id"]}))["data"]) == 4
    )

    other = checkout(api, created["id"], email="bob@example.com")
    assert other["contact_id"] != existing["id"]


@pytest.mark.parametrize(
    ("number", "reason"), [(DECLINED_AT_ATTACH, "declined"), (CHARGES_FAIL, "card_declined")]
)
def test_a_declined_card_writes_nothing(
    shop: Story, session_factory: Any, number: str, reason: str
) -> None:
    api = shop.api
    created, _ = mixed_link(api)
    before = row_counts(session_factory, api.account_id)
    refused = api.post(
        f"/payment-links/{created['id']}/checkout", checkout_body(payment_method=card(number))
    )
    body = error(refused, 402)
    assert body["type"] == "payment"
    assert reason in body["message"]
    assert row_counts(session_factory, api.account_id) == before
    assert api.ok(api.get("/contacts"))["data"] == []
    with session_factory() as session:
        from cadency.accounts.models import Account

        account = session.get(Account, api.account_id)
        assert account is not None
        assert account.invoice_sequence == 0  # the invoice number was not used up either

    # The buyer tries again with a good card: everything is made once.
    done = checkout(api, created["id"])
    assert len(done["subscriptions"]) == 2
    assert api.ok(api.get(f"/invoices/{done['invoice_id']}"))["number"].endswith("000001")


def test_bank_debit_pays_a_single_subscription_checkout(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api,
        [{"product_id": products["monthly"]["id"]}, {"product_id": products["setup"]["id"]}],
        payment_options={"payment_types": ["card", "bank_debit"]},
    )
    done = checkout(api, created["id"], payment_method=bank())
    assert done["payment_status"] == "processing"
    [sub_id] = done["subscriptions"]
    sub = shop.subscription(sub_id)
    assert (sub["status"], sub["payments_completed"], sub["last_payment_status"]) == (
        "active",
        0,
        "processing",
    )
    assert api.ok(api.get(f"/invoices/{done['invoice_id']}"))["status"] == "open"

    shop.advance_to(datetime(2026, 3, 5).date())  # the debit settles after four days
    settled = shop.subscription(sub_id)
    assert (settled["payments_completed"], settled["total_collected"]) == (1, "15.00")
    assert api.ok(api.get(f"/invoices/{done['invoice_id']}"))["status"] == "paid"
    assert shop.payments(sub_id) == [("15.00", "succeeded", None)]

    mixed = link(
        api,
        [{"product_id": products["monthly"]["id"]}, {"product_id": products["annual"]["id"]}],
        payment_options={"payment_types": ["card", "bank_debit"]},
    )
    refused = api.post(
        f"/payment-links/{mixed['id']}/checkout", checkout_body(payment_method=bank())
    )
    assert error(refused, 422)["param"] == "payment_method.type"


def test_payment_links_are_private_to_their_account(api: Api, other_api: Api) -> None:
    created, _ = mixed_link(api)
    assert error(other_api.get(f"/payment-links/{created['id']}"), 404)["type"] == "not_found"
    assert error(other_api.patch(f"/payment-links/{created['id']}", {"active": False}), 404)
    assert error(other_api.post(f"/payment-links/{created['id']}/checkout", checkout_body()), 404)
    assert other_api.ok(other_api.get("/payment-links"))["data"] == []
    # Another account's product cannot go on a link either.
    products = catalog(api)
    foreign = other_api.post(
        "/payment-links", {"name": "X", "line_items": [{"product_id": products["setup"]["id"]}]}
    )
    assert error(foreign, 422)["param"] == "line_items.0.product_id"
