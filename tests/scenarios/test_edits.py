"""Edits made between engine runs (through the API) must not lose work the engine has planned:
a reminder, a retry, an expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, inv, paid


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_rename_after_the_reminder_changes_nothing(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 20))
    story.patch(sid, name="Beans (renamed)")
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv("2026-03-01", "2026-04-01"), inv("2026-04-01", "2026-05-01")],
        payments=[paid()] * 2,
        outbox=["subscription.renewal_reminder", "invoice.created", "payment.succeeded"],
        name="Beans (renamed)",
    )


def test_rename_before_the_reminder_keeps_the_reminder(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe()
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 10))
    story.patch(sid, name="Beans (renamed)")
    story.advance_to(date(2026, 3, 18))
    story.expect(
        sid,
        status="active",
        invoices=[inv("2026-03-01", "2026-04-01")],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )


def test_rename_in_the_last_period_of_a_fixed_term_keeps_its_expiry(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.settings(renewal_reminder_days=None)
    sub = story.subscribe(item={"billing_terms": "fixed", "number_of_payments": 2})
    sid = sub["id"]
    story.advance_to(date(2026, 4, 10))
    story.new_outbox(sid)
    story.patch(sid, name="Beans (renamed)")
    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid,
        status="expired",
        invoices=[inv("2026-03-01", "2026-04-01"), inv("2026-04-01", "2026-05-01")],
        payments=[paid()] * 2,
        outbox=["subscription.status_changed", "subscription.expired"],
    )
