"""Month-end anchors: a period anchored on the 29th-31st falls on the last day of shorter months
and returns to its anchor day afterwards (SPEC §4)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.scenarios.story import Story, inv, paid

REMINDER = "subscription.renewal_reminder"
RENEWED = ["invoice.created", "payment.succeeded"]


def test_january_31st_anchor_in_a_common_year(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2027, 1, 31, 10, tzinfo=UTC))
    sub = story.subscribe()
    sid = sub["id"]
    bounds = ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30"]
    invoices = [inv(bounds[0], bounds[1])]
    story.expect(
        sid,
        status="active",
        invoices=invoices,
        payments=[paid()],
        outbox=RENEWED,
        next_payment_date="2027-02-28",
    )
    for start, end in itertools.pairwise(bounds[1:]):
        renewal = date.fromisoformat(start)
        story.advance_to(renewal - timedelta(days=1), 23)
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid()] * len(invoices),
            outbox=[REMINDER],
        )
        story.advance_to(renewal, 0)
        invoices.append(inv(start, end))
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid()] * len(invoices),
            outbox=RENEWED,
            current_period_start=start,
            current_period_end=end,
            next_payment_date=end,
        )
    assert [r["next_payment_date"] for r in story.outbox_payloads(sid, REMINDER)] == bounds[1:5]


def test_january_31st_fixed_term_ends_on_april_30th(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2027, 1, 31, 10, tzinfo=UTC))
    story.settings(renewal_reminder_days=None)
    sub = story.subscribe(item={"billing_terms": "fixed", "number_of_payments": 3})
    sid = sub["id"]
    assert sub["end_date"] == "2027-04-30"
    story.new_outbox(sid)
    story.advance_to(date(2027, 3, 31))
    invoices = [
        inv("2027-01-31", "2027-02-28"),
        inv("2027-02-28", "2027-03-31"),
        inv("2027-03-31", "2027-04-30"),
    ]
    story.expect(
        sid,
        status="active",
        invoices=invoices,
        payments=[paid()] * 3,
        outbox=RENEWED * 2,
        next_payment_date=None,
    )
    story.advance_to(date(2027, 4, 29), 23)
    story.expect(sid, status="active", invoices=invoices, payments=[paid()] * 3)
    story.advance_to(date(2027, 4, 30), 0)
    story.expect(
        sid,
        status="expired",
        invoices=invoices,
        payments=[paid()] * 3,
        outbox=["subscription.status_changed", "subscription.expired"],
    )
    story.advance_to(date(2027, 6, 1))
    story.expect(sid, status="expired", invoices=invoices, payments=[paid()] * 3)


def test_february_29th_annual_anchor(client: Any, session_factory: Any) -> None:
    """Anchored on leap day 2028: renewals on February 28th in common years, and on February
    29th again in 2032."""
    story = Story(client, session_factory, start=datetime(2028, 2, 29, 10, tzinfo=UTC))
    sub = story.subscribe(frequency="annually", price="120.00")
    sid = sub["id"]
    bounds = ["2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29", "2033-02-28"]
    invoices = [inv(bounds[0], bounds[1], "120.00")]
    story.expect(sid, status="active", invoices=invoices, payments=[paid("120.00")], outbox=RENEWED)
    for start, end in itertools.pairwise(bounds[1:]):
        renewal = date.fromisoformat(start)
        story.advance_to(renewal - timedelta(days=1), 23)
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid("120.00")] * len(invoices),
            outbox=[REMINDER],
        )
        story.advance_to(renewal, 0)
        invoices.append(inv(start, end, "120.00"))
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid("120.00")] * len(invoices),
            outbox=RENEWED,
            next_payment_date=end,
        )
    reminders = story.outbox_payloads(sid, REMINDER)
    assert [r["next_payment_date"] for r in reminders] == bounds[1:5]
