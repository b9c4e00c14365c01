"""The hosted invoice page follows the subscription's payment options (issue 16, seed 004): with
online payments off it shows how to pay by bank transfer and refuses a posted payment; it offers
only the accepted payment types; it asks the addresses the options ask and keeps them on the
payment; and it keeps the payment method only with the buyer's consent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.models import Subscription
from tests.conftest import Api, pin_clock

NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)
CARD = {
    "type": "card",
    "number": "4242424242424242",
    "exp_month": "12",
    "exp_year": "2045",
    "cvc": "123",
}
ADDRESS = {
    "billing_address.line1": "Keizersgracht 1",
    "billing_address.postal_code": "1015 CJ",
    "billing_address.city": "Amsterdam",
    "billing_address.country": "NL",
}


def sent(api: Api, session_factory: Any, options: dict[str, Any]) -> tuple[str, str]:
    """(hosted page path, invoice id) of an open invoice of 49.00 sent to its buyer (one
    contact, anna@example.com, for every invoice of a test)."""
    pin_clock(session_factory, api.account_id, NOW)
    found = api.ok(api.get("/contacts", params={"email": "anna@example.com"}))["data"]
    buyer = (
        found[0]
        if found
        else api.ok(api.post("/contacts", {"email": "anna@example.com", "first_name": "Anna"}))
    )
    sub = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": buyer["id"],
                "currency": "USD",
                "collection_method": "send_invoice",
                "payment_terms": "net_14",
                "payment_options": options,
                "line_items": [
                    {"name": "Beans", "unit_price": "49.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    [invoice] = api.ok(api.get("/invoices", params={"subscription_id": sub["id"]}))["data"]
    return urlsplit(invoice["hosted_url"]).path, invoice["id"]


def post(api: Api, path: str, **fields: str) -> Any:
    page = api.client.get(path).text
    token = re.search(r'name="form_token" value="([^"]*)"', page)
    return api.client.post(
        f"{path}/pay",
        data={"form_token": token.group(1) if token else "", **CARD, **fields},
        follow_redirects=False,
    )


def payments(api: Api, invoice_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = api.ok(api.get("/payments", params={"invoice_id": invoice_id}))[
        "data"
    ]
    return data


def test_without_online_payment_the_page_says_how_to_pay_by_bank_transfer(
    api: Api, session_factory: Any
) -> None:
    api.ok(
        api.patch(
            "/account/settings",
            {"bank_transfer_details": "Test shop B.V.\nIBAN NL91 ABNA 0417 1643 00\nBIC ABNANL2A"},
        )
    )
    path, invoice_id = sent(api, session_factory, {"accept_online_payments": False})
    page = api.client.get(path).text
    assert 'data-testid="pay-form"' not in page
    assert 'data-testid="bank-transfer"' in page
    assert "IBAN NL91 ABNA 0417 1643 00" in page
    number = api.ok(api.get(f"/invoices/{invoice_id}"))["number"]
    assert f"with invoice number {number} as the reference" in page
    # A payment posted anyway is refused and nothing is charged.
    refused = post(api, path)
    assert refused.status_code == 409
    assert payments(api, invoice_id) == []
    assert api.ok(api.get(f"/invoices/{invoice_id}"))["status"] == "open"


def test_without_bank_details_the_buyer_is_told_to_ask(api: Api, session_factory: Any) -> None:
    path, _ = sent(api, session_factory, {"accept_online_payments": False})
    assert "Please contact Test shop for their bank details." in api.client.get(path).text


def test_only_the_accepted_payment_types_are_offered(api: Api, session_factory: Any) -> None:
    path, invoice_id = sent(api, session_factory, {"payment_types": ["card"]})
    page = api.client.get(path).text
    assert 'data-testid="card-fields"' in page and 'data-testid="bank-fields"' not in page
    assert "by card." in page
    bank = {"type": "bank_debit", "routing_number": "110000000", "account_number": "000123456789"}
    refused = post(api, path, **bank)
    assert refused.status_code == 422
    assert "Choose one of the payment methods offered here." in refused.text
    assert payments(api, invoice_id) == []

    path, _ = sent(api, session_factory, {"payment_types": ["bank_debit"]})
    page = api.client.get(path).text
    assert 'data-testid="bank-fields"' in page and 'data-testid="card-fields"' not in page


def test_asked_addresses_are_required_and_kept_on_the_payment(
    api: Api, session_factory: Any
) -> None:
    path, invoice_id = sent(api, session_factory, {"collect_billing_address": True})
    page = api.client.get(path).text
    assert 'data-testid="billing_address"' in page and 'data-testid="shipping_address"' not in page
    missing = post(api, path)
    assert missing.status_code == 422
    assert 'data-testid="error-billing_address.line1"' in missing.text
    assert payments(api, invoice_id) == []
    bad_country = post(api, path, **{**ADDRESS, "billing_address.country": "XX"})
    assert bad_country.status_code == 422
    assert 'data-testid="error-billing_address.country"' in bad_country.text
    assert 'value="Keizersgracht 1"' in bad_country.text  # what was typed stays

    paid = post(api, path, **ADDRESS)
    assert paid.status_code == 303
    with session_factory() as session:
        payment = session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)).one()
        assert payment.billing_address == {
            "line1": "Keizersgracht 1",
            "line2": None,
            "city": "Amsterdam",
            "postal_code": "1015 CJ",
            "region": None,
            "country": "NL",
        }
        assert payment.shipping_address is None


def test_the_method_is_kept_only_with_consent(api: Api, session_factory: Any) -> None:
    path, invoice_id = sent(api, session_factory, {})
    assert 'data-testid="consent"' in api.client.get(path).text
    assert post(api, path).status_code == 303  # no consent given
    contact_id = api.ok(api.get(f"/invoices/{invoice_id}"))["contact_id"]
    assert api.ok(api.get(f"/contacts/{contact_id}/payment-methods"))["data"] == []
    with session_factory() as session:
        payment = session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)).one()
        method = session.get(PaymentMethod, payment.payment_method_id)
        assert method is not None and not method.reusable

    path, invoice_id = sent(api, session_factory, {})
    assert post(api, path, save_payment_method="1").status_code == 303
    saved = api.ok(api.get(f"/contacts/{contact_id}/payment-methods"))["data"]
    assert len(saved) == 1


def test_a_seller_who_keeps_no_methods_asks_no_consent(api: Api, session_factory: Any) -> None:
    path, invoice_id = sent(api, session_factory, {"save_payment_method": False})
    assert 'data-testid="consent"' not in api.client.get(path).text
    assert post(api, path, save_payment_method="1").status_code == 303
    contact_id = api.ok(api.get(f"/invoices/{invoice_id}"))["contact_id"]
    assert api.ok(api.get(f"/contacts/{contact_id}/payment-methods"))["data"] == []


def _update_method_path(api: Api, session_factory: Any, options: dict[str, Any]) -> str:
    """The update-payment-method page of a send-invoice subscription with `options`."""
    pin_clock(session_factory, api.account_id, NOW)
    buyer = api.ok(api.post("/contacts", {"email": "olga@example.com", "first_name": "Olga"}))
    sub = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": buyer["id"],
                "currency": "USD",
                "collection_method": "send_invoice",
                "payment_options": options,
                "line_items": [
                    {"name": "Beans", "unit_price": "49.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    with session_factory() as session:
        subscription = session.get(Subscription, sub["id"])
        assert subscription is not None
        path, _expires = subscription_service.payment_method_link_path(session, subscription)
        session.commit()
    return path


def test_the_update_payment_method_page_follows_the_options(api: Api, session_factory: Any) -> None:
    path = _update_method_path(api, session_factory, {"payment_types": ["bank_debit"]})
    page = api.client.get(path).text
    assert 'data-testid="bank-form"' in page and 'data-testid="card-form"' not in page
    token = re.search(r'name="form_token" value="([^"]*)"', page)
    assert token
    refused = api.client.post(path, data={"form_token": token.group(1), **CARD})
    assert refused.status_code == 422
    assert "Choose one of the payment methods offered here." in refused.text


def test_without_online_payments_no_method_is_taken(api: Api, session_factory: Any) -> None:
    path = _update_method_path(api, session_factory, {"accept_online_payments": False})
    page = api.client.get(path).text
    assert 'data-testid="no-online-payments"' in page
    assert 'data-testid="card-form"' not in page
    refused = api.client.post(path, data={"form_token": "x", **CARD})
    assert refused.status_code == 409
