"""Free trials and scheduled starts: nothing is billed before the first billing date, which then
anchors the periods."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, declined, inv, paid


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_trial_bills_at_its_end_after_a_notice_three_days_before(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(trial_days=14)
    sid = sub["id"]
    story.expect(
        sid,
        status="trialing",
        invoices=[],
        payments=[],
        trial_end="2026-03-15",
        next_payment_date="2026-03-15",
        current_period_start="2026-03-01",
        current_period_end="2026-03-15",
        mrr="0.00",
    )

    story.advance_to(date(2026, 3, 11), 23)
    story.expect(sid, status="trialing", invoices=[], payments=[])

    story.advance_to(date(2026, 3, 12), 0)
    story.expect(
        sid, status="trialing", invoices=[], payments=[], outbox=["subscription.trial_will_end"]
    )
    assert story.outbox_payloads(sid, "subscription.trial_will_end")[0]["trial_end"] == "2026-03-15"

    story.advance_to(date(2026, 3, 14), 23)
    story.expect(sid, status="trialing", invoices=[], payments=[])

    first = inv("2026-03-15", "2026-04-15")
    story.advance_to(date(2026, 3, 15), 0)
    story.expect(
        sid,
        status="active",
        invoices=[first],
        payments=[paid()],
        outbox=["subscription.status_changed", "invoice.created", "payment.succeeded"],
        current_period_start="2026-03-15",
        current_period_end="2026-04-15",
        next_payment_date="2026-04-15",
        payments_completed=1,
        mrr="25.00",
    )
    assert story.outbox_payloads(sid, "subscription.status_changed")[0]["reason"] == "trial_ended"
    assert story.invoice(sid)["billing_reason"] == "subscription_create"

    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[first],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )
    story.advance_to(date(2026, 4, 15))
    story.expect(
        sid,
        status="active",
        invoices=[first, inv("2026-04-15", "2026-05-15")],
        payments=[paid(), paid()],
        outbox=["invoice.created", "payment.succeeded"],
    )
    assert story.invoice(sid)["billing_reason"] == "subscription_cycle"


def test_trial_ending_on_a_declining_card_goes_into_dunning(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(trial_days=7, card="4000000000000341")
    sid = sub["id"]
    story.advance_to(date(2026, 3, 7))
    story.expect(
        sid, status="trialing", invoices=[], payments=[], outbox=["subscription.trial_will_end"]
    )
    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv("2026-03-08", "2026-04-08", status="open")],
        payments=[declined()],
        outbox=[
            "subscription.status_changed",
            "invoice.created",
            "payment.failed",
            "subscription.status_changed",
        ],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-11"


def test_scheduled_start_becomes_active_and_bills_on_its_start_date(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(item={"billing_start_date": "2026-03-20"})
    sid = sub["id"]
    story.expect(
        sid,
        status="scheduled",
        invoices=[],
        payments=[],
        start_date="2026-03-20",
        next_payment_date="2026-03-20",
        current_period_start=None,
        current_period_end=None,
    )

    story.advance_to(date(2026, 3, 19), 23)
    story.expect(sid, status="scheduled", invoices=[], payments=[])

    first = inv("2026-03-20", "2026-04-20")
    story.advance_to(date(2026, 3, 20), 0)
    story.expect(
        sid,
        status="active",
        invoices=[first],
        payments=[paid()],
        outbox=["subscription.status_changed", "invoice.created", "payment.succeeded"],
        next_payment_date="2026-04-20",
        current_period_start="2026-03-20",
        current_period_end="2026-04-20",
    )
    assert story.outbox_payloads(sid, "subscription.status_changed")[0] == {
        "subscription_id": sid,
        "contact_id": sub["contact_id"],
        "currency": "USD",
        "from": "scheduled",
        "to": "active",
        "reason": "start_date_reached",
    }

    story.advance_to(date(2026, 4, 6))
    story.expect(
        sid,
        status="active",
        invoices=[first],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )
    story.advance_to(date(2026, 5, 20))
    story.expect(
        sid,
        status="active",
        invoices=[first, inv("2026-04-20", "2026-05-20"), inv("2026-05-20", "2026-06-20")],
        payments=[paid()] * 3,
        outbox=[
            "invoice.created",
            "payment.succeeded",
            "subscription.renewal_reminder",
            "invoice.created",
            "payment.succeeded",
        ],
    )


def test_scheduled_start_with_a_trial(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(item={"billing_start_date": "2026-03-10"}, trial_days=7)
    sid = sub["id"]
    story.expect(sid, status="scheduled", invoices=[], payments=[], trial_end="2026-03-17")
    story.advance_to(date(2026, 3, 10))
    story.expect(
        sid,
        status="trialing",
        invoices=[],
        payments=[],
        outbox=["subscription.status_changed"],
        current_period_start="2026-03-10",
        current_period_end="2026-03-17",
        next_payment_date="2026-03-17",
    )
    story.advance_to(date(2026, 3, 14))
    story.expect(
        sid, status="trialing", invoices=[], payments=[], outbox=["subscription.trial_will_end"]
    )
    story.advance_to(date(2026, 3, 17))
    story.expect(
        sid,
        status="active",
        invoices=[inv("2026-03-17", "2026-04-17")],
        payments=[paid()],
        outbox=["subscription.status_changed", "invoice.created", "payment.succeeded"],
    )
