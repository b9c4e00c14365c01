"""The Stripe adapter against localstripe: payment methods (test cards, pm_ IDs, SEPA), charges
(success, declines into dunning, 3-D Secure waiting for the buyer, SEPA processing until the
webhook), refunds (made here and in Stripe's dashboard, never doubled) and the webhook
receiver (signatures, duplicates)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cadency.notifications.dispatcher import Dispatcher
from cadency.notifications.models import MailboxMessage
from cadency.payments.models import Payment, PaymentMethod, Refund
from tests.conftest import Api
from tests.servers import serving
from tests.stripe_server import (
    StripeAccount,
    card,
    event,
    sepa,
    signature_header,
    wait_for,
)

VISA = "4242424242424242"
DECLINED_AT_ATTACH = "4000000000000002"
CHARGES_FAIL = "4000000000000341"
THREE_D_SECURE = "4000000000003220"
IBAN_SETTLES = "DE89370400440532013000"
IBAN_FAILS = "DE62370400440532013001"


def attach(api: Api, contact_id: str, body: dict[str, Any]) -> httpx.Response:
    return api.post(f"/contacts/{contact_id}/payment-methods", body)


def stored_method(session_factory: Any, method_id: str) -> PaymentMethod:
    with session_factory() as session:
        method = session.get(PaymentMethod, method_id)
        assert method is not None
        return method


def subscribe(api: Api, contact_id: str, method_id: str, price: str = "25.00") -> dict[str, Any]:
    body = {
        "contact_id": contact_id,
        "currency": "EUR",
        "line_items": [{"name": "Beans", "unit_price": price, "billing_frequency": "monthly"}],
        "collection_method": "charge_automatically",
        "payment_method_id": method_id,
    }
    return dict(api.ok(api.post("/subscriptions", body)))


def payments_of(api: Api, sub_id: str) -> list[dict[str, Any]]:
    data = api.ok(api.get("/payments", params={"subscription_id": sub_id}))["data"]
    return list(reversed(data))


def invoices_of(api: Api, sub_id: str) -> list[dict[str, Any]]:
    data = api.ok(api.get("/invoices", params={"subscription_id": sub_id}))["data"]
    return list(reversed(data))


def deliver(api: Api, secret: str, payload: bytes, header: str | None = None) -> httpx.Response:
    return api.client.post(
        f"/webhooks/stripe/{api.account_id}",
        content=payload,
        headers={
            "Stripe-Signature": header or signature_header(secret, payload),
            "Content-Type": "application/json",
        },
    )


@pytest.fixture
def webhooks(app: FastAPI, stripe_account: StripeAccount) -> Iterator[str]:
    """The app served on a real port, with localstripe sending the account's events to it."""
    with serving(app) as base:
        stripe_account.server.register_webhook(
            f"{base}/webhooks/stripe/{stripe_account.api.account_id}",
            stripe_account.webhook_secret,
        )
        yield base


# --- payment methods ---------------------------------------------------------------------------


def test_a_test_card_becomes_a_stripe_payment_method_on_the_contacts_customer(
    stripe_account: StripeAccount, contact_id: str, session_factory: Any
) -> None:
    api, server = stripe_account.api, stripe_account.server
    first = api.ok(attach(api, contact_id, card(VISA)))
    assert (first["type"], first["brand"], first["last4"]) == ("card", "visa", "4242")
    assert (first["exp_month"], first["exp_year"]) == (12, 2045)
    method = stored_method(session_factory, first["id"])
    assert method.processor == "stripe"
    assert method.processor_token.startswith("pm_")
    assert method.processor_customer and method.processor_customer.startswith("cus_")
    at_stripe = server.get(f"/v1/payment_methods/{method.processor_token}")
    assert at_stripe["customer"] == method.processor_customer
    customer = server.get(f"/v1/customers/{method.processor_customer}")
    assert customer["email"] == "ann@example.com"
    assert customer["metadata"]["cadency_contact"] == contact_id

    # The contact's next method goes to the same customer.
    second = api.ok(attach(api, contact_id, card("5555555555554444")))
    assert stored_method(session_factory, second["id"]).processor_customer == (
        method.processor_customer
    )


def test_a_card_declined_at_attach_is_a_402_like_the_sandbox(
    stripe_account: StripeAccount, contact_id: str
) -> None:
    response = attach(stripe_account.api, contact_id, card(DECLINED_AT_ATTACH))
    assert response.status_code == 402, response.text
    assert response.json()["error"] == {
        "type": "payment",
        "message": "Your card was declined.",
        "param": "card",
    }


def test_bad_card_details_are_named_without_asking_stripe(
    stripe_account: StripeAccount, contact_id: str
) -> None:
    response = attach(stripe_account.api, contact_id, card("4242424242424241"))
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "card.number"
    assert "4242424242424241" not in response.text
    expired = attach(stripe_account.api, contact_id, card(VISA, exp_year=2001))
    assert expired.json()["error"]["param"] == "card.exp_year"


def test_a_payment_method_made_by_stripe_js_is_attached_by_its_id(
    stripe_account: StripeAccount, contact_id: str, session_factory: Any
) -> None:
    api, server = stripe_account.api, stripe_account.server
    made = server.post(
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": "4000056655665556",
            "card[exp_month]": "3",
            "card[exp_year]": "2044",
            "card[cvc]": "314",
        },
    )
    saved = api.ok(
        attach(api, contact_id, {"type": "stripe", "stripe": {"payment_method": made["id"]}})
    )
    assert (saved["type"], saved["last4"], saved["exp_month"]) == ("card", "5556", 3)
    method = stored_method(session_factory, saved["id"])
    assert method.processor_token == made["id"]
    assert server.get(f"/v1/payment_methods/{made['id']}")["customer"] == (
        method.processor_customer
    )
    unknown = attach(api, contact_id, {"type": "stripe", "stripe": {"payment_method": "pm_nope"}})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["param"] == "stripe.payment_method"


def test_an_iban_becomes_a_sepa_debit_in_test_mode(
    stripe_account: StripeAccount, contact_id: str, session_factory: Any
) -> None:
    api = stripe_account.api
    saved = api.ok(attach(api, contact_id, sepa("DE89 3704 0044 0532 0130 00")))
    assert (saved["type"], saved["last4"], saved["brand"]) == ("bank_debit", "3000", None)
    method = stored_method(session_factory, saved["id"])
    at_stripe = stripe_account.server.get(f"/v1/payment_methods/{method.processor_token}")
    assert at_stripe["type"] == "sepa_debit"
    assert at_stripe["billing_details"]["name"] == "Ann Lee"
    us_account = {
        "type": "bank_debit",
        "bank_debit": {"routing_number": "110000000", "account_number": "000123456789"},
    }
    assert attach(api, contact_id, us_account).json()["error"]["param"] == "bank_debit.iban"


def test_the_sandbox_takes_no_stripe_payment_methods(api: Api, contact_id: str) -> None:
    body = {"type": "stripe", "stripe": {"payment_method": "pm_123"}}
    assert attach(api, contact_id, body).json()["error"]["param"] == "type"
    assert attach(api, contact_id, sepa(IBAN_SETTLES)).json()["error"]["param"] == (
        "bank_debit.iban"
    )


# --- charges -----------------------------------------------------------------------------------


def test_a_charge_is_a_payment_intent_confirmed_off_session(
    stripe_account: StripeAccount, contact_id: str, session_factory: Any
) -> None:
    api, server = stripe_account.api, stripe_account.server
    method = api.ok(attach(api, contact_id, card(VISA)))
    sub = subscribe(api, contact_id, method["id"])
    assert sub["status"] == "active"
    [payment] = payments_of(api, sub["id"])
    assert (payment["status"], payment["amount"], payment["processor"]) == (
        "succeeded",
        "25.00",
        "stripe",
    )
    [invoice] = invoices_of(api, sub["id"])
    assert invoice["status"] == "paid"
    intent = server.get(f"/v1/payment_intents/{payment['processor_reference']}")
    stored = stored_method(session_factory, method["id"])
    assert (intent["amount"], intent["currency"], intent["status"]) == (2500, "eur", "succeeded")
    assert intent["customer"] == stored.processor_customer
    assert intent["payment_method"] == stored.processor_token
    with session_factory() as session:
        key = session.scalar(select(Payment.idempotency_key).where(Payment.id == payment["id"]))
    assert intent["metadata"] == {
        "cadency_account": str(api.account_id),
        "cadency_attempt": key,
    }
    assert key == f"{sub['id']}:{invoice['period_start']}:attempt:1"


def test_a_declined_charge_starts_dunning_and_a_new_card_recovers_it(
    stripe_account: StripeAccount, contact_id: str
) -> None:
    api = stripe_account.api
    failing = api.ok(attach(api, contact_id, card(CHARGES_FAIL)))
    sub = subscribe(api, contact_id, failing["id"])
    [payment] = payments_of(api, sub["id"])
    assert (payment["status"], payment["failure_reason"]) == ("failed", "card_declined")
    assert payment["processor_reference"].startswith("pi_")  # as Stripe's events name it
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "unpaid"
    [invoice] = invoices_of(api, sub["id"])
    assert invoice["status"] == "open"
    # The sandbox's schedule: the first retry 3 days after the failure.
    assert invoice["next_attempt_date"] is not None

    # A new card on the subscription is charged for the open invoice at once.
    working = api.ok(attach(api, contact_id, card(VISA)))
    api.ok(api.patch(f"/subscriptions/{sub['id']}", {"payment_method_id": working["id"]}))
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "paid"
    assert [p["status"] for p in payments_of(api, sub["id"])] == ["failed", "succeeded"]
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"


def test_three_d_secure_leaves_the_invoice_open_until_the_buyer_authenticates(
    app: FastAPI,
    stripe_account: StripeAccount,
    contact_id: str,
    session_factory: Any,
    webhooks: str,
) -> None:
    api, server = stripe_account.api, stripe_account.server
    method = api.ok(attach(api, contact_id, card(THREE_D_SECURE)))
    sub = subscribe(api, contact_id, method["id"])
    [payment] = payments_of(api, sub["id"])
    assert payment["status"] == "requires_action"
    assert payment["failure_reason"] == "authentication_required"
    [invoice] = invoices_of(api, sub["id"])
    # Waiting for the buyer: open, no retry scheduled, and no dunning.
    assert (invoice["status"], invoice["next_attempt_date"]) == ("open", None)
    subscription = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (subscription["status"], subscription["last_payment_status"]) == (
        "active",
        "requires_action",
    )
    events = api.ok(api.get(f"/subscriptions/{sub['id']}/events"))["data"]
    assert "payment.action_required" in [e["type"] for e in events]
    assert "payment.failed" not in [e["type"] for e in events]

    # The buyer is emailed the hosted invoice page, to authenticate there.
    with session_factory() as session:
        Dispatcher(app.state.settings).run(session, account_id=api.account_id)
        mails = session.scalars(
            select(MailboxMessage).where(MailboxMessage.account_id == api.account_id)
        ).all()
        [mail] = [m for m in mails if m.subject.startswith("Confirm your payment")]
        assert mail.to == "ann@example.com"
        assert "/billing/invoices/" in mail.text
        assert "confirm the payment of €25.00" in mail.text.replace("\xa0", " ")

    # The buyer authenticates (Stripe.js on the hosted page; here localstripe's own call).
    intent = server.get(f"/v1/payment_intents/{payment['processor_reference']}")
    assert intent["status"] == "requires_action"
    server.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        {"client_secret": intent["client_secret"], "success": "true"},
    )
    # Stripe's payment_intent.succeeded settles it, as a settled bank debit is.
    wait_for(lambda: payments_of(api, sub["id"])[0]["status"] == "succeeded", what="the webhook")
    assert invoices_of(api, sub["id"])[0]["status"] == "paid"
    settled = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (settled["status"], settled["payments_completed"]) == ("active", 1)


def test_a_sepa_debit_is_processing_until_stripes_webhook(
    stripe_account: StripeAccount, contact_id: str, session_factory: Any, webhooks: str
) -> None:
    api = stripe_account.api
    # localstripe fails this IBAN's debits half a second after answering `processing`.
    fails = api.ok(attach(api, contact_id, sepa(IBAN_FAILS)))
    sub = subscribe(api, contact_id, fails["id"])
    [payment] = payments_of(api, sub["id"])
    assert payment["status"] == "processing"
    with session_factory() as session:
        stored = session.get(Payment, payment["id"])
        # No settlement day of its own: Stripe's webhook decides, not the engine's calendar.
        assert stored is not None and stored.settles_on is None
    assert invoices_of(api, sub["id"])[0]["next_attempt_date"] is None
    wait_for(lambda: payments_of(api, sub["id"])[0]["status"] == "failed", what="the webhook")
    [failed] = payments_of(api, sub["id"])
    assert failed["failure_reason"] == "bank_account_debit_failed"
    # Then dunning, as for a sandbox debit that failed.
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "unpaid"
    assert invoices_of(api, sub["id"])[0]["next_attempt_date"] is not None

    # localstripe answers a good IBAN's debit `succeeded` at once (Stripe: days later).
    other = api.ok(api.post("/contacts", {"email": "bo@example.com", "first_name": "Bo"}))
    settles = api.ok(attach(api, other["id"], sepa(IBAN_SETTLES)))
    paying = subscribe(api, other["id"], settles["id"])
    assert payments_of(api, paying["id"])[0]["status"] == "succeeded"
    assert invoices_of(api, paying["id"])[0]["status"] == "paid"


# --- refunds -----------------------------------------------------------------------------------


def refunds_of(session_factory: Any, payment_id: str) -> list[tuple[int, str | None, str | None]]:
    with session_factory() as session:
        rows = session.scalars(
            select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.created_at)
        ).all()
        return [(r.amount, r.reason, r.processor_reference) for r in rows]


def test_refunds_made_here_and_in_the_dashboard_are_recorded_once(
    stripe_account: StripeAccount, contact_id: str, session_factory: Any
) -> None:
    api, server, secret = stripe_account.api, stripe_account.server, stripe_account.webhook_secret
    method = api.ok(attach(api, contact_id, card(VISA)))
    sub = subscribe(api, contact_id, method["id"])
    [payment] = payments_of(api, sub["id"])
    intent_id = payment["processor_reference"]

    # Made here: a Stripe refund, its ID the reference.
    refunded = api.ok(api.post(f"/payments/{payment['id']}/refund", {"amount": "5.00"}))
    assert (refunded["status"], refunded["refunded_amount"]) == ("partially_refunded", "5.00")
    [(amount, _reason, reference)] = refunds_of(session_factory, payment["id"])
    assert amount == 500 and reference is not None and reference.startswith("re_")
    at_stripe = server.get(f"/v1/refunds/{reference}")
    assert (at_stripe["amount"], at_stripe["payment_intent"]) == (500, intent_id)

    # Made in Stripe's dashboard: Stripe tells by charge.refunded (localstripe sends no refund
    # events, so the test signs Stripe's event itself).
    dashboard = server.post("/v1/refunds", {"payment_intent": intent_id, "amount": "700"})
    charge = server.get(
        f"/v1/charges/{server.get(f'/v1/payment_intents/{intent_id}')['latest_charge']['id']}"
    )
    payload = event("charge.refunded", charge)
    assert deliver(api, secret, payload).status_code == 200
    after = api.ok(api.get(f"/payments/{payment['id']}"))
    assert (after["status"], after["refunded_amount"]) == ("partially_refunded", "12.00")
    assert refunds_of(session_factory, payment["id"]) == [
        (500, "requested_by_customer", reference),
        (700, "refunded_at_processor", dashboard["id"]),
    ]
    subscription = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert subscription["total_collected"] == "13.00"

    # The same news again (a new event, or the same event twice) records nothing more.
    assert deliver(api, secret, event("charge.refunded", charge)).status_code == 200
    again = deliver(api, secret, payload)
    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    single = event("charge.refund.updated", server.get(f"/v1/refunds/{dashboard['id']}"))
    assert deliver(api, secret, single).status_code == 200
    assert len(refunds_of(session_factory, payment["id"])) == 2
    assert api.ok(api.get(f"/payments/{payment['id']}"))["refunded_amount"] == "12.00"


# --- the webhook receiver ----------------------------------------------------------------------


def test_a_webhook_with_a_bad_signature_is_refused(
    stripe_account: StripeAccount, contact_id: str
) -> None:
    api, secret = stripe_account.api, stripe_account.webhook_secret
    payload = event("payment_intent.succeeded", {"id": "pi_123", "metadata": {}})
    assert deliver(api, "whsec_someone_else_000", payload).status_code == 400
    assert deliver(api, secret, payload, header="t=1,v1=00").status_code == 400
    old = signature_header(secret, payload, at=1_000_000_000)  # outside the 5 minutes
    assert deliver(api, secret, payload, header=old).status_code == 400
    tampered = payload.replace(b"pi_123", b"pi_456")
    assert (
        deliver(api, secret, tampered, header=signature_header(secret, payload)).status_code == 400
    )
    assert deliver(api, secret, payload).status_code == 200


def test_events_of_no_interest_and_unknown_accounts(
    stripe_account: StripeAccount, api: Api
) -> None:
    secret = stripe_account.webhook_secret
    ignored = deliver(api, secret, event("customer.created", {"id": "cus_1"}))
    assert ignored.status_code == 200 and ignored.json() == {"received": True}
    # Not Cadency's PaymentIntent (no metadata of this account): answered, nothing done.
    foreign = deliver(
        api, secret, event("payment_intent.succeeded", {"id": "pi_x", "metadata": {}})
    )
    assert foreign.status_code == 200
    nobody = api.client.post("/webhooks/stripe/1", content=b"{}")
    assert nobody.status_code == 404
    # An ID no account can have is a client error, not a server one.
    huge = api.client.post(f"/webhooks/stripe/{10**30}", content=b"{}")
    assert huge.status_code == 422


def test_a_duplicate_event_is_applied_once(stripe_account: StripeAccount, contact_id: str) -> None:
    api, server, secret = stripe_account.api, stripe_account.server, stripe_account.webhook_secret
    # No webhooks from localstripe here: the test delivers Stripe's event itself, twice.
    server.register_webhook("http://127.0.0.1:9/nowhere", "whsec_nobody")
    method = api.ok(attach(api, contact_id, card(THREE_D_SECURE)))
    sub = subscribe(api, contact_id, method["id"])
    [payment] = payments_of(api, sub["id"])
    intent = server.get(f"/v1/payment_intents/{payment['processor_reference']}")
    server.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        {"client_secret": intent["client_secret"], "success": "true"},
    )
    intent = server.get(f"/v1/payment_intents/{intent['id']}")
    assert intent["status"] == "succeeded"
    payload = event("payment_intent.succeeded", intent)
    assert deliver(api, secret, payload).json() == {"received": True}
    assert deliver(api, secret, payload).json() == {"received": True, "duplicate": True}
    # Another event with the same news (Stripe may send one) changes nothing either.
    assert deliver(api, secret, event("payment_intent.succeeded", intent)).status_code == 200
    subscription = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (subscription["payments_completed"], subscription["total_collected"]) == (1, "25.00")
    events = api.ok(api.get(f"/subscriptions/{sub['id']}/events"))["data"]
    assert [e["type"] for e in events].count("payment.succeeded") == 1
    assert payments_of(api, sub["id"])[0]["status"] == "succeeded"
