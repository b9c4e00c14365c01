"""`GET /analytics/cancellation-reasons` when cancellations give several reasons (issue 19): a
cancellation counts, with all the MRR it took, under each reason it gave."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from cadency.subscriptions.models import Subscription
from tests.scenarios.story import Story


def test_a_cancellation_counts_under_each_of_its_reasons(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    story.settings(renewal_reminder_days=None)
    two = story.subscribe(price="20.00", email="two@example.com")["id"]
    one = story.subscribe(price="30.00", email="one@example.com")["id"]
    silent = story.subscribe(price="45.00", email="silent@example.com")["id"]
    bulk = story.subscribe(price="5.00", email="bulk@example.com")["id"]
    story.subscribe(price="99.00", email="stays@example.com")
    story.advance_to(date(2026, 3, 10))
    story.cancel(two, "immediately", reasons=["too_expensive", "missing_features"])
    story.cancel(one, "immediately", reason="too_expensive")
    story.cancel(silent, "immediately")
    story.cancel(bulk, "immediately")
    # A row written with the first reason only (as bulk inserts do) counts under it.
    with session_factory() as session:
        row = session.get(Subscription, bulk)
        assert row is not None
        row.cancellation_reason = "missing_features"
        session.commit()

    reasons = story.api.ok(
        story.api.get(
            "/analytics/cancellation-reasons", params={"start": "2026-03", "end": "2026-03"}
        )
    )
    # Four cancellations, five counts: the first gave two reasons. Most MRR first.
    assert reasons["data"] == [
        {"reason": "too_expensive", "count": 2, "mrr": "50.00"},
        {"reason": "unknown", "count": 1, "mrr": "45.00"},
        {"reason": "missing_features", "count": 2, "mrr": "25.00"},
    ]
    # Outside the months asked for, nothing.
    before = story.api.ok(
        story.api.get(
            "/analytics/cancellation-reasons", params={"start": "2026-02", "end": "2026-02"}
        )
    )
    assert before["data"] == []
