"""A subscription's webhooks over three months of its account's clock: each renewal's events
reach the receiver once, signed; while the receiver is down they are retried on the clock and
arrive once it is back; after every step, running the engine (and its webhook pass) again
sends nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks import Webhook

from cadency.webhooks.models import Event, WebhookDelivery
from tests.scenarios.story import Story
from tests.webhooks.receiver import Receiver, allow_private, receiver

__all__ = ["allow_private", "receiver"]  # fixtures

WANTED = ["invoice.created", "payment.succeeded", "subscription.status_changed"]


def received(receiver: Receiver, secret: str) -> list[tuple[str, str]]:
    """(type, created_at) of every request so far, each verified."""
    found = []
    for request in receiver.requests:
        event = Webhook(secret).verify(request.body, request.headers)
        found.append((event["type"], event["created_at"]))
    return found


def test_three_months_of_webhooks_with_the_receiver_down_for_a_while(
    client: Any, app: FastAPI, session_factory: Any, receiver: Receiver, allow_private: None
) -> None:
    story = Story(
        client,
        session_factory,
        timezone="Europe/Amsterdam",
        start=datetime(2026, 1, 31, 8, tzinfo=UTC),
    )
    api = story.api
    endpoint = api.ok(
        api.post("/webhook-endpoints", {"url": receiver.url + "/in", "enabled_events": WANTED})
    )
    secret = endpoint["secret"]

    # Subscribed on 31 January: the first invoice, paid at once. (The story's quiet check
    # advances the clock to where it is, which runs the webhook pass.)
    story.subscribe(price="30.00")
    # (Sent in parallel, so in no particular order.)
    assert sorted(received(receiver, secret)) == [
        ("invoice.created", "2026-01-31T08:00:00Z"),
        ("payment.succeeded", "2026-01-31T08:00:00Z"),
    ]

    # Down for the renewal of 28 February (a month end): its events are tried and kept.
    receiver.answers = [500]
    story.advance_to(date(2026, 2, 28))
    assert len(receiver.requests) == 4
    assert sorted(t for t, _ in received(receiver, secret)[2:]) == [
        "invoice.created",
        "payment.succeeded",
    ]
    with session_factory() as db:
        waiting = db.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.account_id == api.account_id,
                WebhookDelivery.status == "retrying",
            )
        ).all()
        assert len(waiting) == 2 and all(d.attempt == 1 for d in waiting)

    # Back up: the retries 5 s later arrive, once each.
    receiver.answers = [200]
    story.advance(story.at(date(2026, 2, 28)) + timedelta(seconds=5))
    assert len(receiver.requests) == 6
    story.advance_to(date(2026, 3, 31))
    assert sorted(t for t, _ in received(receiver, secret)[6:]) == [
        "invoice.created",
        "payment.succeeded",
    ]

    # In all: every event of a wanted type delivered, once, in one or two attempts.
    with session_factory() as db:
        events = db.scalars(
            select(Event).where(Event.account_id == api.account_id, Event.type.in_(WANTED))
        ).all()
        delivered = db.scalars(
            select(WebhookDelivery).where(WebhookDelivery.account_id == api.account_id)
        ).all()
    assert len(events) == 6
    assert sorted(d.event_id for d in delivered) == sorted(e.id for e in events)
    assert Counter((d.status, d.attempt) for d in delivered) == {
        ("succeeded", 1): 4,
        ("succeeded", 2): 2,
    }
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert Counter(Counter(ids).values()) == {1: 4, 2: 2}
