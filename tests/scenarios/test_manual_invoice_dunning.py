"""A manual (`send_invoice`) invoice that is never paid does not leave its subscription past due
forever: after the overdue notice and the account's dunning schedule, counted from the due date,
the account's final dunning action applies once, as it does after an automatic charge's last
failed retry. Paying out of band before then stops it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from cadency.subscriptions.models import SubscriptionEvent
from tests.scenarios.story import Story, inv

MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def exhausted(story: Story, sid: str) -> list[dict[str, Any]]:
    with story.session_factory() as session:
        rows = session.scalars(
            select(SubscriptionEvent.data)
            .where(
                SubscriptionEvent.subscription_id == sid,
                SubscriptionEvent.type == "dunning.exhausted",
            )
            .order_by(SubscriptionEvent.id)
        ).all()
    return [dict(row) for row in rows]


def test_a_never_paid_manual_invoice_cancels_on_the_dunning_final_day(
    client: Any, session_factory: Any
) -> None:
    """Net 14 from March 1st: due March 15th, overdue on the 16th, and with the default schedule
    (3, 5, 7 days) the final action — cancel, the invoice marked uncollectible — on the 22nd."""
    story = new_story(client, session_factory)
    sid = story.subscribe(collection_method="send_invoice", payment_terms="net_14")["id"]
    story.new_outbox(sid)
    invoice = story.invoice(sid)
    assert invoice["due_date"] == "2026-03-15"

    story.advance_to(date(2026, 3, 16), 0)
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 3, 21), 23)
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[])
    assert exhausted(story, sid) == []

    story.advance_to(date(2026, 3, 22), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[],
        outbox=["subscription.status_changed", "subscription.canceled"],
        canceled_at="2026-03-22T00:00:00Z",
        next_payment_date=None,
    )
    assert exhausted(story, sid) == [
        {"invoice_id": invoice["id"], "action": "cancel", "reason": "invoice_overdue"}
    ]
    changed = story.outbox_payloads(sid, "subscription.status_changed")[-1]
    assert (changed["from"], changed["to"], changed["reason"]) == (
        "unpaid",
        "canceled",
        "invoice_overdue",
    )
    canceled = story.outbox_payloads(sid, "subscription.canceled")
    assert [(c["canceled_on"], c["reason"]) for c in canceled] == [
        ("2026-03-22", "invoice_overdue")
    ]

    # No invoice after the cancel: April 1st passes without one, and nothing more is written.
    story.advance_to(date(2026, 5, 2))
    story.expect(
        sid, status="canceled", invoices=[inv(*MARCH, status="uncollectible")], payments=[]
    )
    assert len(exhausted(story, sid)) == 1


def test_paid_out_of_band_before_the_final_day_stays_active(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.settings(renewal_reminder_days=None)
    sid = story.subscribe(collection_method="send_invoice", payment_terms="net_14")["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 20))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    march = story.invoice(sid)
    story.api.ok(
        story.api.post(
            f"/invoices/{march['id']}/pay", {"paid_out_of_band": True, "reference": "TRF-1"}
        )
    )
    story.assert_quiet()
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[("25.00", "succeeded", None)],
        outbox=["payment.succeeded", "subscription.status_changed"],
    )
    # The 22nd passes without the final action; April is invoiced as usual.
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[("25.00", "succeeded", None)],
        outbox=["invoice.created"],
    )
    assert exhausted(story, sid) == []


def test_the_account_schedule_and_final_action_apply_once(
    client: Any, session_factory: Any
) -> None:
    """Retry days 2 and 4, pause, invoice left open: paused on the due date + 4, once; the
    invoice stays open and owed."""
    story = new_story(client, session_factory)
    story.settings(
        renewal_reminder_days=None,
        dunning_retry_days=[2, 4],
        dunning_final_action="pause",
        dunning_invoice_action="leave_open",
    )
    sid = story.subscribe(collection_method="send_invoice", payment_terms="net_14")["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 18), 23)
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 3, 19), 0)
    story.expect(
        sid,
        status="paused",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["subscription.status_changed"],
        paused_at="2026-03-19T00:00:00Z",
    )
    assert story.outbox_payloads(sid, "subscription.status_changed")[-1]["reason"] == (
        "invoice_overdue"
    )
    story.advance_to(date(2026, 4, 15))
    story.expect(sid, status="paused", invoices=[inv(*MARCH, status="open")], payments=[])
    assert len(exhausted(story, sid)) == 1


def test_with_no_retry_days_the_final_action_comes_when_the_invoice_is_overdue(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.settings(dunning_retry_days=[], dunning_final_action="leave_unpaid")
    sid = story.subscribe(collection_method="send_invoice", payment_terms="net_14")["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 16), 0)
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    assert len(exhausted(story, sid)) == 1
    story.advance_to(date(2026, 3, 30))
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="uncollectible")], payments=[])
    assert len(exhausted(story, sid)) == 1
