"""Renewal reminders: the buyer hears of each payment `renewal_reminder_days` before it (14 by
default), never of one that comes sooner than that after the subscription was created, and not
at all once the account turns reminders off."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.scenarios.story import Story, inv, paid

REMINDER = "subscription.renewal_reminder"
RENEWED = ["invoice.created", "payment.succeeded"]


def new_story(client: Any, session_factory: Any, start: datetime | None = None) -> Story:
    return Story(client, session_factory, start=start or datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_reminder_14_days_before_each_monthly_renewal(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    assert story.api.ok(story.api.get("/account/settings"))["renewal_reminder_days"] == 14
    sub = story.subscribe(price="30.00")
    sid = sub["id"]
    invoices = [inv("2026-03-01", "2026-04-01", "30.00")]
    story.expect(sid, status="active", invoices=invoices, payments=[paid("30.00")], outbox=RENEWED)

    story.advance_to(date(2026, 3, 17), 23)
    story.expect(sid, status="active", invoices=invoices, payments=[paid("30.00")])
    story.advance_to(date(2026, 3, 18), 0)
    story.expect(
        sid, status="active", invoices=invoices, payments=[paid("30.00")], outbox=[REMINDER]
    )
    story.advance_to(date(2026, 3, 31))
    story.expect(sid, status="active", invoices=invoices, payments=[paid("30.00")])

    # 14 days before May 1st is April 17th; before June 1st, May 18th.
    for renewal, period_end, reminder in (
        (date(2026, 4, 1), "2026-05-01", date(2026, 4, 17)),
        (date(2026, 5, 1), "2026-06-01", date(2026, 5, 18)),
    ):
        story.advance_to(renewal)
        invoices.append(inv(renewal.isoformat(), period_end, "30.00"))
        payments = [paid("30.00")] * len(invoices)
        story.expect(sid, status="active", invoices=invoices, payments=payments, outbox=RENEWED)
        story.advance(story.at(reminder, 0) - timedelta(minutes=1))
        story.expect(sid, status="active", invoices=invoices, payments=payments)
        story.advance_to(reminder, 0)
        story.expect(sid, status="active", invoices=invoices, payments=payments, outbox=[REMINDER])

    assert [
        (r["next_payment_date"], r["amount"]) for r in story.outbox_payloads(sid, REMINDER)
    ] == [("2026-04-01", "30.00"), ("2026-05-01", "30.00"), ("2026-06-01", "30.00")]


def test_no_reminder_for_a_renewal_sooner_than_the_reminder_days_after_creation(
    client: Any, session_factory: Any
) -> None:
    """Created February 1st with 30-day reminders: March 1st is 28 days away, so no reminder;
    April 1st is reminded on March 2nd."""
    story = new_story(client, session_factory, datetime(2026, 2, 1, 8, tzinfo=UTC))
    story.settings(renewal_reminder_days=30)
    sub = story.subscribe()
    sid = sub["id"]
    feb = inv("2026-02-01", "2026-03-01")
    story.expect(sid, status="active", invoices=[feb], payments=[paid()], outbox=RENEWED)
    story.advance_to(date(2026, 2, 28))
    story.expect(sid, status="active", invoices=[feb], payments=[paid()])
    mar = inv("2026-03-01", "2026-04-01")
    story.advance_to(date(2026, 3, 1))
    story.expect(sid, status="active", invoices=[feb, mar], payments=[paid()] * 2, outbox=RENEWED)
    story.advance_to(date(2026, 3, 2))
    story.expect(
        sid, status="active", invoices=[feb, mar], payments=[paid()] * 2, outbox=[REMINDER]
    )
    assert story.outbox_payloads(sid, REMINDER)[0]["next_payment_date"] == "2026-04-01"


def test_weekly_plan_with_three_day_reminders(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    story.settings(renewal_reminder_days=3)
    sub = story.subscribe(frequency="weekly", price="5.00")
    sid = sub["id"]
    invoices = [inv("2026-03-01", "2026-03-08", "5.00")]
    story.expect(sid, status="active", invoices=invoices, payments=[paid("5.00")], outbox=RENEWED)
    for week in range(3):
        renewal = date(2026, 3, 8 + 7 * week)
        story.advance_to(date(2026, 3, 4 + 7 * week))
        payments = [paid("5.00")] * len(invoices)
        story.expect(sid, status="active", invoices=invoices, payments=payments)
        story.advance_to(date(2026, 3, 5 + 7 * week))
        story.expect(sid, status="active", invoices=invoices, payments=payments, outbox=[REMINDER])
        story.advance_to(renewal)
        invoices.append(inv(renewal.isoformat(), date(2026, 3, 15 + 7 * week).isoformat(), "5.00"))
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid("5.00")] * len(invoices),
            outbox=RENEWED,
        )


def test_reminders_turned_off(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    assert story.settings(renewal_reminder_days=None)["renewal_reminder_days"] is None
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    invoices = [inv("2026-03-01", "2026-04-01")]
    for month in (4, 5, 6):
        story.advance_to(date(2026, month - 1, 20))
        story.expect(sid, status="active", invoices=invoices, payments=[paid()] * len(invoices))
        story.advance_to(date(2026, month, 1))
        invoices.append(inv(f"2026-{month:02d}-01", f"2026-{month + 1:02d}-01"))
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid()] * len(invoices),
            outbox=RENEWED,
        )


def test_reminders_turned_off_after_one_was_planned(client: Any, session_factory: Any) -> None:
    """The engine had planned to wake on the reminder day; by then reminders are off."""
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.settings(renewal_reminder_days=None)
    story.advance_to(date(2026, 3, 31))
    story.expect(
        sid, status="active", invoices=[inv("2026-03-01", "2026-04-01")], payments=[paid()]
    )
    # ...and on again: the next renewal is reminded.
    story.settings(renewal_reminder_days=14)
    story.advance_to(date(2026, 4, 17))
    story.expect(
        sid,
        status="active",
        invoices=[inv("2026-03-01", "2026-04-01"), inv("2026-04-01", "2026-05-01")],
        payments=[paid()] * 2,
        outbox=[*RENEWED, REMINDER],
    )


def test_weekly_plan_with_the_default_14_days(client: Any, session_factory: Any) -> None:
    """The renewals 7 and 14 days after creation (March 8th and 15th) are not reminded of: their
    reminder day is not after the creation. Later payments are announced as soon as the
    previous renewal has set their date, which is already within 14 days of them."""
    story = new_story(client, session_factory)
    sub = story.subscribe(frequency="weekly", price="5.00")
    sid = sub["id"]
    starts = [date(2026, 3, 1) + timedelta(weeks=n) for n in range(5)]
    rows = [inv(s.isoformat(), (s + timedelta(weeks=1)).isoformat(), "5.00") for s in starts]
    story.expect(sid, status="active", invoices=rows[:1], payments=[paid("5.00")], outbox=RENEWED)
    reminded = [*RENEWED, REMINDER]
    for n, outbox in enumerate([RENEWED, reminded, reminded, reminded], start=2):
        story.advance_to(starts[n - 1])
        story.expect(
            sid,
            status="active",
            invoices=rows[:n],
            payments=[paid("5.00")] * n,
            outbox=outbox,
        )
    assert [r["next_payment_date"] for r in story.outbox_payloads(sid, REMINDER)] == [
        "2026-03-22",
        "2026-03-29",
        "2026-04-05",
    ]
