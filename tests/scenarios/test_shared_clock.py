"""Many subscriptions on one account's clock: one advance runs each one's work at its own
instants, and they do not disturb each other."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, declined, inv, paid

RENEWED = ["invoice.created", "payment.succeeded"]


def test_one_long_advance_runs_every_subscriptions_work_in_order(
    client: Any, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    story.settings(renewal_reminder_days=None)
    monthly = story.subscribe(email="m@example.com")["id"]
    weekly = story.subscribe(email="w@example.com", frequency="weekly", price="5.00")["id"]
    failing = story.subscribe(email="f@example.com", card="4000000000000341")["id"]
    later = story.subscribe(email="l@example.com", item={"billing_start_date": "2026-03-17"})["id"]
    free = story.subscribe(
        email="z@example.com", card="4000000000000341", item={"unit_discount_percent": "100"}
    )["id"]
    for sid in (monthly, weekly, failing, later, free):
        story.new_outbox(sid)

    result = story.advance_to(date(2026, 4, 1))
    summary = result["summary"]
    assert (summary["invoices_created"], summary["payments_created"]) == (7, 9)
    assert summary["subscriptions_failed"] == 0

    story.expect(
        monthly,
        status="active",
        invoices=[inv("2026-03-01", "2026-04-01"), inv("2026-04-01", "2026-05-01")],
        payments=[paid()] * 2,
        outbox=RENEWED,
    )
    weeks = ["2026-03-01", "2026-03-08", "2026-03-15", "2026-03-22", "2026-03-29", "2026-04-05"]
    story.expect(
        weekly,
        status="active",
        invoices=[inv(s, e, "5.00") for s, e in itertools.pairwise(weeks)],
        payments=[paid("5.00")] * 5,
        outbox=RENEWED * 4,
    )
    story.expect(
        failing,
        status="canceled",
        invoices=[inv("2026-03-01", "2026-04-01", status="uncollectible")],
        payments=[declined()] * 4,
        outbox=[
            "payment.failed",
            "payment.failed",
            "payment.failed",
            "subscription.status_changed",
            "subscription.canceled",
        ],
        canceled_at="2026-03-08T00:00:00Z",
    )
    story.expect(
        later,
        status="active",
        invoices=[inv("2026-03-17", "2026-04-17")],
        payments=[paid()],
        outbox=["subscription.status_changed", *RENEWED],
    )
    # A free period is not charged, not even to a card that would decline.
    story.expect(
        free,
        status="active",
        invoices=[inv("2026-03-01", "2026-04-01", "0.00"), inv("2026-04-01", "2026-05-01", "0.00")],
        payments=[],
        outbox=["invoice.created"],
    )
