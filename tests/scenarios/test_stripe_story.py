"""Four months with Stripe (localstripe) instead of the sandbox, on the account's test clock:
renewals charged as PaymentIntents, a declined card through dunning to recovery with a new
card, a card that asks for 3-D Secure every month (the invoice waits for the buyer, Stripe's
webhook settles it), and a refund. After every step the engine, run again, writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from tests.scenarios.story import Story, declined, inv, paid
from tests.servers import serving
from tests.stripe_server import LocalStripe, shared, use_stripe, wait_for

GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"
THREE_D_SECURE = "4000000000003220"
MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")
MAY = ("2026-05-01", "2026-06-01")
JUNE = ("2026-06-01", "2026-07-01")
WAITING = ("25.00", "requires_action", "authentication_required")


@pytest.fixture
def localstripe(request: pytest.FixtureRequest) -> LocalStripe:
    return shared(request.config)


@pytest.fixture
def story(
    app: FastAPI, client: Any, session_factory: Any, localstripe: LocalStripe
) -> Iterator[Story]:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    account = use_stripe(story.api, localstripe)
    with serving(app) as base:
        localstripe.register_webhook(
            f"{base}/webhooks/stripe/{story.api.account_id}", account.webhook_secret
        )
        yield story


def authenticate(story: Story, localstripe: LocalStripe, sub_id: str) -> None:
    """The buyer confirms the waiting payment (Stripe.js on the hosted invoice page; here
    localstripe's own call), and Stripe's webhook settles it."""
    data = story.api.ok(story.api.get("/payments", params={"subscription_id": sub_id}))["data"]
    [waiting] = [p for p in data if p["status"] == "requires_action"]
    intent = localstripe.get(f"/v1/payment_intents/{waiting['processor_reference']}")
    localstripe.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        {"client_secret": intent["client_secret"], "success": "true"},
    )

    def settled() -> bool:
        found = story.api.ok(story.api.get(f"/payments/{waiting['id']}"))
        return bool(found["status"] == "succeeded")

    wait_for(settled, what="Stripe's payment_intent.succeeded")
    story.assert_quiet()


def test_four_months_with_stripe(story: Story, localstripe: LocalStripe) -> None:
    steady = story.subscribe(card=GOOD_CARD, email="steady@example.com")["id"]
    failing = story.subscribe(card=DECLINING_CARD, email="failing@example.com")["id"]
    secure = story.subscribe(card=THREE_D_SECURE, email="secure@example.com")["id"]

    # March 1st: paid at once; declined into dunning; waiting for the buyer's confirmation.
    story.expect(
        steady,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["invoice.created", "payment.succeeded"],
    )
    story.expect(
        failing,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()],
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
    )
    assert story.invoice(failing)["next_attempt_date"] == "2026-03-04"
    story.expect(
        secure,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[WAITING],
        outbox=["invoice.created", "payment.action_required"],
        last_payment_status="requires_action",
    )
    assert story.invoice(secure)["next_attempt_date"] is None

    # The 3-D Secure buyer confirms on the hosted page the same morning.
    authenticate(story, localstripe, secure)
    story.expect(
        secure,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["payment.succeeded"],
        payments_completed=1,
    )

    # March 4th: the first retry is declined too; the next is due on the 6th.
    story.advance_to(date(2026, 3, 4))
    story.expect(
        failing,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 2,
        outbox=["payment.failed"],
    )
    assert story.invoice(failing)["next_attempt_date"] == "2026-03-06"

    # March 5th: the buyer saves a working card; the open invoice is charged with it at once.
    new_card = story.add_payment_method(story.subscription(failing)["contact_id"], GOOD_CARD)
    story.patch(failing, payment_method_id=new_card)
    story.expect(
        failing,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[declined(), declined(), paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
        payments_completed=1,
    )

    # A refund of part of the steady buyer's March payment: a Stripe refund.
    march_payment = story.api.ok(story.api.get("/payments", params={"subscription_id": steady}))[
        "data"
    ][0]
    refunded = story.api.ok(
        story.api.post(f"/payments/{march_payment['id']}/refund", {"amount": "10.00"})
    )
    assert (refunded["status"], refunded["refunded_amount"]) == ("partially_refunded", "10.00")
    story.assert_quiet()
    story.expect(
        steady,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[("25.00", "partially_refunded", None)],
        outbox=["payment.refunded"],
        total_collected="15.00",
    )

    # Reminders two weeks ahead, then three renewals each.
    story.advance_to(date(2026, 3, 18))
    for sid in (steady, failing, secure):
        assert story.new_outbox(sid) == ["subscription.renewal_reminder"]

    story.advance_to(date(2026, 4, 1))
    story.expect(
        steady,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[("25.00", "partially_refunded", None), paid()],
        outbox=["invoice.created", "payment.succeeded"],
        next_payment_date="2026-05-01",
    )
    story.expect(
        failing,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[declined(), declined(), paid(), paid()],
        outbox=["invoice.created", "payment.succeeded"],
    )
    # The 3-D Secure card asks again: the April invoice waits, and no dunning starts.
    story.expect(
        secure,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid(), WAITING],
        outbox=["invoice.created", "payment.action_required"],
    )
    story.advance_to(date(2026, 4, 3))
    story.expect(
        secure,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid(), WAITING],
    )
    authenticate(story, localstripe, secure)
    story.expect(
        secure,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[paid(), paid()],
        outbox=["payment.succeeded"],
        payments_completed=2,
        total_collected="50.00",
    )

    for month in (MAY, JUNE):
        story.advance_to(date.fromisoformat(month[0]))
        for sid in (steady, failing):
            outbox = story.new_outbox(sid)
            assert outbox == [
                "subscription.renewal_reminder",
                "invoice.created",
                "payment.succeeded",
            ], outbox
        assert story.new_outbox(secure) == [
            "subscription.renewal_reminder",
            "invoice.created",
            "payment.action_required",
        ]
        authenticate(story, localstripe, secure)
        assert story.new_outbox(secure) == ["payment.succeeded"]

    story.expect(
        steady,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL), inv(*MAY), inv(*JUNE)],
        payments=[("25.00", "partially_refunded", None), paid(), paid(), paid()],
        payments_completed=4,
        total_collected="90.00",
        next_payment_date="2026-07-01",
    )
    story.expect(
        failing,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL), inv(*MAY), inv(*JUNE)],
        payments=[declined(), declined(), paid(), paid(), paid(), paid()],
        payments_completed=4,
        total_collected="100.00",
    )
    story.expect(
        secure,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL), inv(*MAY), inv(*JUNE)],
        payments=[paid()] * 4,
        payments_completed=4,
        total_collected="100.00",
    )

    # Every charge is one PaymentIntent at Stripe, each keyed by its subscription and period.
    for sid in (steady, failing, secure):
        data = story.api.ok(story.api.get("/payments", params={"subscription_id": sid}))["data"]
        references = [p["processor_reference"] for p in data if p["status"] != "failed"]
        assert len(set(references)) == len(references) == 4
        for reference in references:
            intent = localstripe.get(f"/v1/payment_intents/{reference}")
            assert intent["status"] == "succeeded"
            assert intent["metadata"]["cadency_attempt"].startswith(f"{sid}:2026-")
