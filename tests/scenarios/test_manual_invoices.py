"""Subscriptions billed by invoice (`send_invoice`): an open invoice each period with a due date
from the payment terms; the day after the due date the subscription is past due."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, declined, inv, paid

MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_net_15_invoice_becomes_overdue_the_day_after_its_due_date(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(collection_method="send_invoice", payment_terms="net_15")
    sid = sub["id"]
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.created"],
        payment_terms="net_15",
        payment_method_id=None,
    )
    invoice = story.invoice(sid)
    assert (invoice["due_date"], invoice["collection_method"], invoice["amount_due"]) == (
        "2026-03-16",
        "send_invoice",
        "25.00",
    )
    assert story.outbox_payloads(sid, "invoice.created")[0]["due_date"] == "2026-03-16"

    story.advance_to(date(2026, 3, 16), 23)
    story.expect(sid, status="active", invoices=[inv(*MARCH, status="open")], payments=[])

    story.advance_to(date(2026, 3, 17), 0)
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    overdue = story.outbox_payloads(sid, "invoice.overdue")
    assert [(o["due_date"], o["amount_due"], o["number"]) for o in overdue] == [
        ("2026-03-16", "25.00", invoice["number"])
    ]
    assert story.outbox_payloads(sid, "subscription.status_changed")[0]["reason"] == (
        "invoice_overdue"
    )

    # Once: later days write nothing more (no second notice, no reminder while past due), up
    # to the dunning's final day (the 23rd: the due date + the last retry day, 7).
    story.advance_to(date(2026, 3, 22))
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[])

    # The buyer pays on the hosted page: active again, and reminded of the renewal (its
    # reminder day, the 18th, passed while the subscription was past due).
    card = story.add_payment_method(sub["contact_id"], "4242424242424242")
    story.api.ok(story.api.post(f"/invoices/{invoice['id']}/pay", {"payment_method_id": card}))
    story.assert_quiet()
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=[
            "payment.succeeded",
            "subscription.status_changed",
            "subscription.renewal_reminder",
        ],
        payments_completed=1,
    )

    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid()],
        outbox=["invoice.created"],
    )
    assert story.invoice(sid)["due_date"] == "2026-04-16"
    story.advance_to(date(2026, 4, 17))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid()],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )


def test_due_on_receipt_is_overdue_the_next_day(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(collection_method="send_invoice")
    sid = sub["id"]
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.created"],
        payment_terms="due_on_receipt",
    )
    assert story.invoice(sid)["due_date"] == "2026-03-01"
    story.advance_to(date(2026, 3, 2))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )


def test_declined_payment_of_a_manual_invoice_does_not_wedge_the_engine(
    client: Any, session_factory: Any
) -> None:
    """The buyer tries to pay a manual invoice with a card that is declined. The subscription has
    no saved payment method to retry with: the engine must not spin on a retry it cannot make."""
    story = new_story(client, session_factory)
    sub = story.subscribe(collection_method="send_invoice", payment_terms="net_15")
    sid = sub["id"]
    story.new_outbox(sid)
    invoice = story.invoice(sid)
    bad = story.add_payment_method(sub["contact_id"], "4000000000000341")
    answer = story.api.post(f"/invoices/{invoice['id']}/pay", {"payment_method_id": bad})
    assert answer.status_code == 402, answer.text
    story.assert_quiet()
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()],
        outbox=["payment.failed", "subscription.status_changed"],
    )
    result = story.advance_to(date(2026, 3, 20))
    assert result["summary"]["subscriptions_failed"] == 0
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[declined()])


def test_net_30_monthly_keeps_invoicing_while_an_invoice_is_overdue(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(collection_method="send_invoice", payment_terms="net_30")
    sid = sub["id"]
    story.new_outbox(sid)
    assert story.invoice(sid)["due_date"] == "2026-03-31"
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open"), inv(*APRIL, status="open")],
        payments=[],
        outbox=[
            "subscription.renewal_reminder",
            "invoice.overdue",
            "subscription.status_changed",
            "invoice.created",
        ],
    )


def test_unpaid_manual_subscription_keeps_invoicing_and_recovers_when_nothing_is_past_due(
    client: Any, session_factory: Any
) -> None:
    """March's invoice goes unpaid; April's is still issued on April 1st. Paying March on
    April 5th leaves only April's invoice open, which is not due until the 16th: the
    subscription is no longer past due. April's invoice then becomes overdue in its turn.
    The account's dunning leaves the subscription unpaid and the invoice open when it gives up
    (on March 23rd), so the story goes on past it."""
    story = new_story(client, session_factory)
    story.settings(
        renewal_reminder_days=None,
        dunning_final_action="leave_unpaid",
        dunning_invoice_action="leave_open",
    )
    sub = story.subscribe(collection_method="send_invoice", payment_terms="net_15")
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 17))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open"), inv(*APRIL, status="open")],
        payments=[],
        outbox=["invoice.created"],
        next_payment_date="2026-05-01",
    )
    assert story.invoice(sid)["due_date"] == "2026-04-16"

    story.advance_to(date(2026, 4, 5))
    card = story.add_payment_method(sub["contact_id"], "4242424242424242")
    march = story.invoice(sid, 0)
    story.api.ok(story.api.post(f"/invoices/{march['id']}/pay", {"payment_method_id": card}))
    story.assert_quiet()
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
    )

    story.advance_to(date(2026, 4, 17))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid()],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    assert [o["due_date"] for o in story.outbox_payloads(sid, "invoice.overdue")] == [
        "2026-03-16",
        "2026-04-16",
    ]
