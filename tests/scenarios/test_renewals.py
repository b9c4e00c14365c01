from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story


def test_fixed_term_monthly_runs_to_expiry(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sub = story.subscribe(item={"billing_terms": "fixed", "number_of_payments": 6})
    assert sub["end_date"] == "2026-09-01"
    assert story.invoices(sub["id"]) == [
        ("2026-03-01", "2026-04-01", "25.00", "paid", "2026-03-01")
    ]

    story.advance_to(date(2026, 3, 31))
    assert len(story.invoices(sub["id"])) == 1
    story.advance_to(date(2026, 4, 1))
    assert story.invoices(sub["id"])[-1] == (
        "2026-04-01",
        "2026-05-01",
        "25.00",
        "paid",
        "2026-04-01",
    )

    story.advance_to(date(2026, 8, 15))
    assert [i[0] for i in story.invoices(sub["id"])] == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
        "2026-06-01",
        "2026-07-01",
        "2026-08-01",
    ]
    current = story.subscription(sub["id"])
    assert current["status"] == "active"
    assert current["payments_completed"] == 6
    assert current["total_collected"] == "150.00"
    assert current["next_payment_date"] is None

    story.advance_to(date(2026, 9, 1))
    ended = story.subscription(sub["id"])
    assert ended["status"] == "expired"
    assert len(story.invoices(sub["id"])) == 6
    story.advance_to(date(2027, 3, 1))
    assert len(story.invoices(sub["id"])) == 6
    assert story.payments(sub["id"]) == [("25.00", "succeeded", None)] * 6


def test_month_end_anchor_across_a_leap_february(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2028, 1, 31, 10, tzinfo=UTC))
    sub = story.subscribe()
    story.advance_to(date(2028, 5, 1))
    assert [(i[0], i[1]) for i in story.invoices(sub["id"])] == [
        ("2028-01-31", "2028-02-29"),
        ("2028-02-29", "2028-03-31"),
        ("2028-03-31", "2028-04-30"),
        ("2028-04-30", "2028-05-31"),
    ]
