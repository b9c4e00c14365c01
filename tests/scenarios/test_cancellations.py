"""Scheduled cancellations: at the period end, at a date, undone by reactivation, and held back
by a running commitment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, days, inv, paid

MARCH = inv("2026-03-01", "2026-04-01")
APRIL = inv("2026-04-01", "2026-05-01")
RENEWED = ["invoice.created", "payment.succeeded"]
ENDED = ["subscription.status_changed", "subscription.canceled"]


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_cancel_at_period_end_ends_on_the_period_end_without_a_new_invoice(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 10))
    canceling = story.cancel(sid, "at_period_end", reason="too_expensive")
    assert (canceling["cancel_at_period_end"], canceling["cancel_at"]) == (True, "2026-04-01")
    story.expect(
        sid,
        status="active",
        invoices=[MARCH],
        payments=[paid()],
        cancel_at="2026-04-01",
        cancellation_reason="too_expensive",
        canceled_at=None,
    )

    # No reminder for a renewal that will not happen.
    story.advance_to(date(2026, 3, 31), 23)
    story.expect(sid, status="active", invoices=[MARCH], payments=[paid()])

    story.advance_to(date(2026, 4, 1), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[MARCH],
        payments=[paid()],
        outbox=ENDED,
        canceled_at="2026-04-01T00:00:00Z",
        next_payment_date=None,
        cancel_at_period_end=False,
    )
    assert story.outbox_payloads(sid, "subscription.canceled")[0]["reason"] == "too_expensive"
    story.advance_to(date(2026, 6, 1))
    story.expect(sid, status="canceled", invoices=[MARCH], payments=[paid()])


def test_several_reasons_last_until_the_scheduled_end_and_go_with_it(
    client: Any, session_factory: Any
) -> None:
    """Issue 19: the reasons of a cancellation at the period end are kept until the engine
    ends the subscription, and its canceled event carries them all (the first as `reason`)."""
    story = new_story(client, session_factory)
    sid = story.subscribe()["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 10))
    story.cancel(sid, "at_period_end", reasons=["switched_service", "too_expensive"])
    story.advance_to(date(2026, 4, 1), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[MARCH],
        payments=[paid()],
        outbox=ENDED,
        cancellation_reason="switched_service",
        cancellation_reasons=["switched_service", "too_expensive"],
    )
    (payload,) = story.outbox_payloads(sid, "subscription.canceled")
    assert (payload["reason"], payload["reasons"]) == (
        "switched_service",
        ["switched_service", "too_expensive"],
    )


def test_cancel_at_period_end_after_the_reminder(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 20))
    story.expect(
        sid,
        status="active",
        invoices=[MARCH],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )
    story.cancel(sid, "at_period_end")
    story.advance_to(date(2026, 4, 1))
    story.expect(sid, status="canceled", invoices=[MARCH], payments=[paid()], outbox=ENDED)


def test_reactivate_before_the_period_end_keeps_it_renewing(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 20))
    story.expect(
        sid,
        status="active",
        invoices=[MARCH],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )
    story.cancel(sid, "at_period_end")
    story.advance_to(date(2026, 3, 25))
    reactivated = story.reactivate(sid)
    assert (reactivated["cancel_at_period_end"], reactivated["cancel_at"]) == (False, None)
    story.expect(sid, status="active", invoices=[MARCH], payments=[paid()])

    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[MARCH, APRIL],
        payments=[paid()] * 2,
        outbox=RENEWED,
        next_payment_date="2026-05-01",
        canceled_at=None,
    )


def test_cancel_at_a_date_in_a_later_period(client: Any, session_factory: Any) -> None:
    """Canceled on a date after the next renewal: the renewal still happens, then the
    subscription ends on the date (mid-period; nothing is refunded)."""
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 20))
    story.new_outbox(sid)
    story.cancel(sid, "at_date", cancel_at="2026-04-15", reason="unused")
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[MARCH, APRIL],
        payments=[paid()] * 2,
        outbox=RENEWED,
        cancel_at="2026-04-15",
        cancel_at_period_end=False,
    )
    story.advance_to(date(2026, 4, 14), 23)
    story.expect(sid, status="active", invoices=[MARCH, APRIL], payments=[paid()] * 2)
    story.advance_to(date(2026, 4, 15), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[MARCH, APRIL],
        payments=[paid()] * 2,
        outbox=ENDED,
        canceled_at="2026-04-15T00:00:00Z",
        next_payment_date=None,
    )
    story.advance_to(date(2026, 5, 2))
    story.expect(sid, status="canceled", invoices=[MARCH, APRIL], payments=[paid()] * 2)


def test_cancel_at_a_date_within_the_current_period(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 5))
    story.cancel(sid, "at_date", cancel_at="2026-03-15")
    story.advance_to(date(2026, 3, 15))
    story.expect(
        sid,
        status="canceled",
        invoices=[MARCH],
        payments=[paid()],
        outbox=ENDED,
        canceled_at="2026-03-15T00:00:00Z",
    )


def test_reactivate_a_cancel_at_date(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.advance_to(date(2026, 3, 20))
    story.new_outbox(sid)
    story.cancel(sid, "at_date", cancel_at="2026-04-15")
    story.advance_to(date(2026, 4, 10))
    story.reactivate(sid)
    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid,
        status="active",
        invoices=[MARCH, APRIL, inv("2026-05-01", "2026-06-01")],
        payments=[paid()] * 3,
        outbox=[*RENEWED, "subscription.renewal_reminder", *RENEWED],
        cancel_at=None,
    )


def test_cancel_with_a_commitment_bills_until_the_commitment_ends(
    client: Any, session_factory: Any
) -> None:
    """12-month commitment from March 1st 2026; canceled at period end in month 3: it renews
    through February 2027 and ends on March 1st 2027, the commitment end."""
    story = new_story(client, session_factory)
    sub = story.subscribe(commitment_months=12)
    sid = sub["id"]
    assert sub["commitment_end"] == "2027-03-01"
    story.new_outbox(sid)
    story.advance_to(date(2026, 5, 20))  # month 3, after May's reminder
    story.new_outbox(sid)
    canceling = story.cancel(sid, "at_period_end", reason="switched_service")
    assert (canceling["cancel_at"], canceling["cancel_at_period_end"]) == ("2027-03-01", True)
    invoices = [
        inv("2026-03-01", "2026-04-01"),
        inv("2026-04-01", "2026-05-01"),
        inv("2026-05-01", "2026-06-01"),
    ]
    story.expect(
        sid,
        status="active",
        invoices=invoices,
        payments=[paid()] * 3,
        outbox=["subscription.non_renewal_notice"],
    )
    notice = story.outbox_payloads(sid, "subscription.non_renewal_notice")[0]
    assert (notice["commitment_end"], notice["effective_date"]) == ("2027-03-01", "2027-03-01")

    starts = [date(2026, month, 1) for month in range(6, 13)] + [date(2027, 1, 1), date(2027, 2, 1)]
    for start in starts:
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        story.advance_to(start)
        invoices.append(inv(start.isoformat(), end.isoformat()))
        payments = [paid()] * len(invoices)
        story.expect(sid, status="active", invoices=invoices, payments=payments, outbox=RENEWED)
        # The reminder 14 days before the next renewal; none before March 1st 2027, the end.
        story.advance_to(end - days(14))
        reminded = ["subscription.renewal_reminder"] if end < date(2027, 3, 1) else []
        story.expect(sid, status="active", invoices=invoices, payments=payments, outbox=reminded)
    story.advance_to(date(2027, 2, 28))
    story.expect(sid, status="active", invoices=invoices, payments=[paid()] * 12)
    story.advance_to(date(2027, 3, 1))
    story.expect(
        sid,
        status="canceled",
        invoices=invoices,
        payments=[paid()] * 12,
        outbox=ENDED,
        canceled_at="2027-03-01T00:00:00Z",
    )
    assert len(invoices) == 12


def test_cancel_at_period_end_during_a_trial_is_never_charged(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(trial_days=14)
    sid = sub["id"]
    story.advance_to(date(2026, 3, 5))
    canceling = story.cancel(sid, "at_period_end")
    assert canceling["cancel_at"] == "2026-03-15"
    # No notice of a charge that will not come.
    story.advance_to(date(2026, 3, 14))
    story.expect(sid, status="trialing", invoices=[], payments=[])
    story.advance_to(date(2026, 3, 15))
    story.expect(
        sid,
        status="canceled",
        invoices=[],
        payments=[],
        outbox=ENDED,
        canceled_at="2026-03-15T00:00:00Z",
    )
    assert story.outbox_payloads(sid, "subscription.status_changed")[0]["from"] == "trialing"
    story.advance_to(date(2026, 5, 1))
    story.expect(sid, status="canceled", invoices=[], payments=[])


def test_cancel_at_period_end_in_the_last_period_of_a_fixed_term(
    client: Any, session_factory: Any
) -> None:
    """The term ends on the same day the cancellation would: it was billed for its whole term,
    so it expires rather than being canceled early."""
    story = new_story(client, session_factory)
    story.settings(renewal_reminder_days=None)
    sub = story.subscribe(item={"billing_terms": "fixed", "number_of_payments": 2})
    sid = sub["id"]
    story.advance_to(date(2026, 4, 10))
    story.new_outbox(sid)
    canceling = story.cancel(sid, "at_period_end")
    assert canceling["cancel_at"] == canceling["end_date"] == "2026-05-01"
    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid,
        status="expired",
        invoices=[MARCH, APRIL],
        payments=[paid()] * 2,
        outbox=["subscription.status_changed", "subscription.expired"],
        canceled_at=None,
    )
