"""The stream of a subscription's status changes has one writer: every change of status writes
exactly one `subscription.status_changed` (outbox row and timeline entry, from → to with a
reason), whoever caused it — an API call, the engine, dunning, a payment — and an action that
leaves the status as it is writes none. One story walks every kind of change through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from cadency.subscriptions.models import SubscriptionEvent
from tests.scenarios.story import Story

DECLINING_CARD = "4000000000000341"


def changes(story: Story, sid: str) -> list[tuple[str, str, str]]:
    """(from, to, reason) of every status change announced so far, oldest first; the timeline
    must tell exactly the same story as the outbox."""
    announced = [
        (p["from"], p["to"], p["reason"])
        for p in story.outbox_payloads(sid, "subscription.status_changed")
    ]
    with story.session_factory() as session:
        timeline = [
            (e["from"], e["to"], e["reason"])
            for e in session.scalars(
                select(SubscriptionEvent.data)
                .where(
                    SubscriptionEvent.subscription_id == sid,
                    SubscriptionEvent.type == "subscription.status_changed",
                )
                .order_by(SubscriptionEvent.created_at, SubscriptionEvent.id)
            )
        ]
    assert timeline == announced
    return announced


def post(story: Story, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = story.api.ok(story.api.post(path, body or {}))
    story.assert_quiet()
    return result


def test_every_status_change_is_announced_once_whoever_causes_it(
    client: Any, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    subscribe = story.subscribe

    paused = subscribe(email="pause@example.com")["id"]
    resumes_later = subscribe(email="resume-later@example.com")["id"]
    at_period_end = subscribe(email="period-end@example.com")["id"]
    at_date = subscribe(email="at-date@example.com")["id"]
    now = subscribe(email="now@example.com")["id"]
    fixed_id = subscribe(
        email="fixed@example.com", item={"billing_terms": "fixed", "number_of_payments": 1}
    )["id"]
    trial = subscribe(email="trial@example.com", trial_days=7)["id"]
    scheduled = subscribe(email="scheduled@example.com", item={"billing_start_date": "2026-03-05"})[
        "id"
    ]
    dunned = subscribe(email="dunned@example.com", card=DECLINING_CARD)["id"]
    recovered = subscribe(email="recovered@example.com", card=DECLINING_CARD)["id"]
    changed = subscribe(email="changed@example.com")["id"]
    manual = subscribe(
        email="manual@example.com", collection_method="send_invoice", payment_terms="net_7"
    )["id"]
    never_paid = subscribe(
        email="never-paid@example.com", collection_method="send_invoice", payment_terms="net_7"
    )["id"]

    # Creating writes no change: a subscription starts in its status. A first charge that is
    # declined at once is a change (active → unpaid), written once.
    for sid in (paused, at_period_end, now, trial, scheduled, changed, manual, never_paid):
        assert changes(story, sid) == []
    assert story.status(trial) == "trialing"
    assert story.status(scheduled) == "scheduled"
    for sid in (dunned, recovered):
        assert changes(story, sid) == [("active", "unpaid", "payment_failed")]

    # By hand: pause, resume, cancel now.
    post(story, f"/subscriptions/{paused}/pause")
    post(story, f"/subscriptions/{paused}/resume")
    post(story, f"/subscriptions/{resumes_later}/pause", {"resume_at": "2026-03-10"})
    post(story, f"/subscriptions/{now}/cancel", {"mode": "immediately"})
    assert changes(story, paused) == [
        ("active", "paused", "paused"),
        ("paused", "active", "resumed"),
    ]
    assert changes(story, resumes_later) == [("active", "paused", "paused")]
    assert changes(story, now) == [("active", "canceled", "canceled_now")]

    # Scheduling and undoing a cancellation changes no status; neither does a plan change or
    # an edit.
    post(story, f"/subscriptions/{at_period_end}/cancel", {"mode": "at_period_end"})
    post(story, f"/subscriptions/{at_period_end}/reactivate")
    post(story, f"/subscriptions/{at_period_end}/cancel", {"mode": "at_period_end"})
    post(story, f"/subscriptions/{at_date}/cancel", {"mode": "at_date", "cancel_at": "2026-03-20"})
    post(
        story,
        f"/subscriptions/{changed}/change",
        {
            "line_items": [
                {"name": "More beans", "unit_price": "40.00", "billing_frequency": "monthly"}
            ]
        },
    )
    story.patch(changed, name="Renamed")
    for sid in (at_period_end, at_date, changed):
        assert changes(story, sid) == []

    # A new card for the declined one: the open invoice is retried at once and recovers.
    good_card = story.add_payment_method(
        story.subscription(recovered)["contact_id"], "4242424242424242"
    )
    story.patch(recovered, payment_method_id=good_card)
    assert changes(story, recovered) == [
        ("active", "unpaid", "payment_failed"),
        ("unpaid", "active", "payment_recovered"),
    ]

    # The engine: a scheduled start, a trial end, a resume date, a cancellation date, dunning's
    # final action, an overdue manual invoice.
    story.advance_to(date(2026, 3, 5))
    assert changes(story, scheduled) == [("scheduled", "active", "start_date_reached")]
    story.advance_to(date(2026, 3, 8))
    assert changes(story, trial) == [("trialing", "active", "trial_ended")]
    story.advance_to(date(2026, 3, 9))
    assert changes(story, manual) == [("active", "unpaid", "invoice_overdue")]
    assert changes(story, never_paid) == [("active", "unpaid", "invoice_overdue")]
    # A manual invoice paid out of band brings its subscription back.
    invoice = story.invoice(manual)
    post(story, f"/invoices/{invoice['id']}/pay", {"paid_out_of_band": True, "reference": "T-1"})
    assert changes(story, manual) == [
        ("active", "unpaid", "invoice_overdue"),
        ("unpaid", "active", "payment_recovered"),
    ]
    story.advance_to(date(2026, 3, 10))
    assert changes(story, resumes_later) == [
        ("active", "paused", "paused"),
        ("paused", "active", "resumed"),
    ]
    story.advance_to(date(2026, 3, 20))
    assert changes(story, at_date) == [("active", "canceled", "scheduled_cancellation")]
    assert changes(story, dunned) == [
        ("active", "unpaid", "payment_failed"),
        ("unpaid", "canceled", "payment_failed"),
    ]

    # The manual invoice left unpaid meets the account's final dunning action (cancel) on its
    # due date plus the last retry day (8 March + 7).
    assert changes(story, never_paid) == [
        ("active", "unpaid", "invoice_overdue"),
        ("unpaid", "canceled", "invoice_overdue"),
    ]

    # The period ends: the cancellation at its end lands; a fixed term of one payment expires.
    story.advance_to(date(2026, 4, 1))
    assert changes(story, at_period_end) == [("active", "canceled", "scheduled_cancellation")]
    assert changes(story, fixed_id) == [("active", "expired", "term_completed")]

    # Nothing that did not change status announced anything, then or since.
    assert changes(story, changed) == []
    assert changes(story, paused) == [
        ("active", "paused", "paused"),
        ("paused", "active", "resumed"),
    ]
    assert changes(story, now) == [("active", "canceled", "canceled_now")]
