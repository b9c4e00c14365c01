"""Canceling inside a running commitment: it keeps billing to its end unless the merchant
overrides it (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, inv, paid

MARCH = inv("2026-03-01", "2026-04-01")
APRIL = inv("2026-04-01", "2026-05-01")
COMMITTED = (
    "The subscription is committed until 2027-03-01: cancel at the period end to stop renewal "
    "on 2027-03-01, or send override_commitment: true to end the commitment early"
)


def committed_story(client: Any, session_factory: Any) -> tuple[Story, str]:
    """A monthly subscription with a 12-month commitment from March 1st 2026, in month 2."""
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sub = story.subscribe(commitment_months=12)
    assert sub["commitment_end"] == "2027-03-01"
    story.advance_to(date(2026, 4, 10))
    story.new_outbox(sub["id"])
    return story, sub["id"]


def refused(story: Story, sid: str, body: dict[str, Any]) -> None:
    """The cancel answers 409 naming the commitment end, and nothing about the subscription
    changes: still active, nothing scheduled, no refund, no event, no email."""
    before = story.subscription(sid)
    events = story.api.ok(story.api.get(f"/subscriptions/{sid}/events"))
    response = story.api.post(f"/subscriptions/{sid}/cancel", body)
    assert response.status_code == 409, response.text
    assert response.json()["error"] == {
        "type": "conflict",
        "message": COMMITTED,
        "param": "override_commitment",
    }
    assert story.subscription(sid) == before
    assert story.api.ok(story.api.get(f"/subscriptions/{sid}/events")) == events
    story.expect(
        sid,
        status="active",
        invoices=[MARCH, APRIL],
        payments=[paid(), paid()],
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
    )


def test_cancel_immediately_inside_a_commitment_is_refused_without_the_override(
    client: Any, session_factory: Any
) -> None:
    story, sid = committed_story(client, session_factory)
    refused(story, sid, {"mode": "immediately", "refund": "prorated"})
    refused(story, sid, {"mode": "immediately", "override_commitment": False})


def test_cancel_immediately_with_the_override_ends_the_commitment_now(
    client: Any, session_factory: Any
) -> None:
    story, sid = committed_story(client, session_factory)
    canceled = story.cancel(
        sid, "immediately", refund="prorated", reason="unused", override_commitment=True
    )
    assert (canceled["status"], canceled["canceled_at"]) == ("canceled", "2026-04-10T09:00:00Z")
    assert canceled["next_payment_date"] is None
    # April 10th to May 1st: 21 of April's 30 days unused, of 25.00.
    story.expect(
        sid,
        status="canceled",
        invoices=[MARCH, APRIL],
        payments=[paid(), ("25.00", "partially_refunded", None)],
        outbox=["payment.refunded", "subscription.status_changed", "subscription.canceled"],
        cancellation_reason="unused",
    )
    assert story.outbox_payloads(sid, "subscription.canceled")[0]["refunded_amount"] == "17.50"


def test_cancel_at_a_date_before_the_commitment_end_needs_the_override(
    client: Any, session_factory: Any
) -> None:
    story, sid = committed_story(client, session_factory)
    refused(story, sid, {"mode": "at_date", "cancel_at": "2026-06-01"})
    # On the commitment's end (or later) nothing is cut short.
    on_the_end = story.cancel(sid, "at_date", cancel_at="2027-03-01")
    assert on_the_end["cancel_at"] == "2027-03-01"
    story.reactivate(sid)
    early = story.cancel(sid, "at_date", cancel_at="2026-06-01", override_commitment=True)
    assert early["cancel_at"] == "2026-06-01"
    story.advance_to(date(2026, 6, 1))
    story.expect(
        sid,
        status="canceled",
        invoices=[MARCH, APRIL, inv("2026-05-01", "2026-06-01")],
        payments=[paid()] * 3,
        outbox=[
            "subscription.renewal_reminder",
            "invoice.created",
            "payment.succeeded",
            "subscription.status_changed",
            "subscription.canceled",
        ],
    )


def test_cancel_at_period_end_runs_to_the_commitment_end(client: Any, session_factory: Any) -> None:
    story, sid = committed_story(client, session_factory)
    kept = story.cancel(sid, "at_period_end")
    assert (kept["cancel_at"], kept["cancel_at_period_end"]) == ("2027-03-01", True)
    assert story.new_outbox(sid) == ["subscription.non_renewal_notice"]
    story.reactivate(sid)
    # The period end of a commitment is its end: an earlier end is canceling at a date.
    response = story.api.post(
        f"/subscriptions/{sid}/cancel", {"mode": "at_period_end", "override_commitment": True}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {
        "type": "invalid_request",
        "message": "override_commitment goes with mode 'immediately' or 'at_date'; at the "
        "period end a running commitment runs to its end",
        "param": "override_commitment",
    }
    assert story.subscription(sid)["cancel_at"] is None
    assert story.new_outbox(sid) == []


def test_override_commitment_is_a_strict_boolean(client: Any, session_factory: Any) -> None:
    story, sid = committed_story(client, session_factory)
    response = story.api.post(
        f"/subscriptions/{sid}/cancel", {"mode": "immediately", "override_commitment": "true"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "override_commitment"
    assert story.subscription(sid)["status"] == "active"


def test_without_a_running_commitment_cancel_immediately_needs_no_override(
    client: Any, session_factory: Any
) -> None:
    """In a trial the commitment has not begun; once it has ended it no longer holds."""
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    trialing = story.subscribe(trial_days=14, commitment_months=12)
    assert trialing["status"] == "trialing"
    assert story.cancel(trialing["id"], "immediately")["status"] == "canceled"

    ended = story.subscribe(commitment_months=1, email="other@example.com")
    assert ended["commitment_end"] == "2026-04-01"
    story.advance_to(date(2026, 4, 2))
    assert story.cancel(ended["id"], "immediately")["status"] == "canceled"


def test_a_commitment_shorter_than_the_paid_period_names_both_dates(
    client: Any, session_factory: Any
) -> None:
    """A yearly plan with a 6-month commitment: "at the period end" is the paid year's end."""
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sid = story.subscribe(frequency="annually", price="300.00", commitment_months=6)["id"]
    story.advance_to(date(2026, 4, 10))
    response = story.api.post(f"/subscriptions/{sid}/cancel", {"mode": "immediately"})
    assert response.status_code == 409, response.text
    assert response.json()["error"]["message"] == (
        "The subscription is committed until 2026-09-01: cancel at the period end to stop "
        "renewal on 2027-03-01, or send override_commitment: true to end the commitment early"
    )
    assert story.subscription(sid)["status"] == "active"
    assert story.cancel(sid, "at_period_end")["cancel_at"] == "2027-03-01"
