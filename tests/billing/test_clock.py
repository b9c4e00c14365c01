"""The test clock: bounded moves, a clock that runs on with real time between moves, work done
in committed chunks that let other accounts in and stop when the client leaves, and a worker
that gives every account its turn."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from cadency.accounts.models import Account
from cadency.billing import runner
from cadency.invoices.models import Invoice
from cadency.subscriptions.models import Subscription
from tests.scenarios.story import Story
from tests.servers import serving

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _account(session_factory: Any, account_id: int) -> Account:
    with session_factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account


def _invoice_count(session_factory: Any, account_id: int) -> int:
    with session_factory() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id)
            )
            or 0
        )


def _run_on_from(session_factory: Any, account_id: int, instant: datetime, ago: float) -> None:
    """As if the clock had been set to `instant` `ago` seconds of real time back."""
    with session_factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        account.clock_now = instant
        account.clock_set_at = datetime.now(UTC) - timedelta(seconds=ago)
        session.commit()


def _next_action(session_factory: Any, account_id: int) -> datetime:
    with session_factory() as session:
        found = session.scalar(
            select(func.min(Subscription.next_action_at)).where(
                Subscription.account_id == account_id
            )
        )
        assert found is not None
        return found


def test_one_advance_moves_at_most_five_years(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=START)
    too_far = datetime(2031, 3, 2, 9, tzinfo=UTC)
    response = story.api.post("/clock/advance", {"to": too_far.isoformat()})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == "to"
    assert "at most 5 years" in error["message"]
    assert _account(session_factory, story.api.account_id).clock_now == START
    backwards = story.api.post("/clock/advance", {"to": (START - timedelta(days=1)).isoformat()})
    assert backwards.status_code == 422
    assert "backwards" in backwards.json()["error"]["message"]


def test_a_moved_clock_runs_on_with_real_time(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=START)
    story.api.ok(story.api.post("/clock/advance", {"to": "2026-03-05T09:00:00Z"}))
    first = datetime.fromisoformat(story.api.ok(story.api.get("/clock"))["now"])
    time.sleep(0.05)
    second = datetime.fromisoformat(story.api.ok(story.api.get("/clock"))["now"])
    assert datetime(2026, 3, 5, 9, tzinfo=UTC) <= first < second < first + timedelta(seconds=5)


def test_a_test_account_left_alone_renews_like_a_live_one(
    client: Any, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=START)
    sid = story.subscribe()["id"]
    assert len(story.invoices(sid)) == 1
    renewal = datetime(2026, 4, 1, 9, tzinfo=UTC)
    assert _next_action(session_factory, story.api.account_id) < renewal
    # The clock was last set a second before the renewal, three seconds of real time ago.
    _run_on_from(session_factory, story.api.account_id, renewal - timedelta(seconds=1), ago=3)
    with session_factory() as session:
        runner.run_due(session)
    assert [row[0] for row in story.invoices(sid)] == ["2026-03-01", "2026-04-01"]
    assert story.payments(sid) == [("25.00", "succeeded", None)] * 2
    with session_factory() as session:
        runner.run_due(session)
    assert _invoice_count(session_factory, story.api.account_id) == 2


def test_the_worker_gives_every_account_its_turn(
    client: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big backlog in one account does not hold back another's due work: accounts take
    turns, one batch each per round."""
    busy = Story(client, session_factory, start=START)
    quiet = Story(client, session_factory, start=START)
    for n in range(3):
        busy.subscribe(email=f"busy{n}@example.com")
    quiet.subscribe(email="quiet@example.com")
    for story in (busy, quiet):
        _run_on_from(session_factory, story.api.account_id, datetime(2026, 4, 1, 9, tzinfo=UTC), 1)
    order: list[int] = []
    run_batch = runner.run_batch

    def recording(session: Any, until: datetime, **kwargs: Any) -> runner.RunSummary:
        if kwargs.get("account_id") in (busy.api.account_id, quiet.api.account_id):
            order.append(kwargs["account_id"])
        return run_batch(session, until, **kwargs)

    monkeypatch.setattr(runner, "BATCH_SIZE", 1)
    monkeypatch.setattr(runner, "run_batch", recording)
    with session_factory() as session:
        runner.run_due(session)
    b, q = busy.api.account_id, quiet.api.account_id
    # Round one: a batch of each, so the quiet account is done before the busy account's second
    # batch; then the busy account's rest (the quiet one is looked at once more at most).
    assert order[:3] == [*sorted([b, q]), b], order
    assert order.count(q) <= 2 and order.count(b) >= 3
    assert _invoice_count(session_factory, b) == 6
    assert _invoice_count(session_factory, q) == 2


def _busy_story(client: Any, session_factory: Any, subscriptions: int = 8) -> Story:
    story = Story(client, session_factory, start=START)
    for n in range(subscriptions):
        story.subscribe(email=f"weekly{n}@example.com", frequency="weekly")
    return story


def _start_advance(url: str, key: str, to: datetime) -> socket.socket:
    """POST an advance over a raw connection that the test can hang up on."""
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps({"to": to.isoformat()}).encode()
    request = (
        "POST /api/v1/clock/advance HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(request)
    return connection


FAR = datetime(2031, 2, 28, 9, tzinfo=UTC)


def _clock_once_still(session_factory: Any, account_id: int) -> datetime | None:
    """The account's clock once it has stayed put for a second (within half a minute)."""
    deadline = time.monotonic() + 30
    last = _account(session_factory, account_id).clock_now
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _account(session_factory, account_id).clock_now
        if now == last:
            return now
        last = now
    raise AssertionError("the advance went on after its client hung up")


def test_an_advance_stops_when_its_client_hangs_up(app: FastAPI, client: Any) -> None:
    session_factory = app.state.session_factory
    story = _busy_story(client, session_factory)
    with serving(app) as url:
        with _start_advance(url, story.api.key, FAR):
            time.sleep(0.6)
        # The advance notices after its current chunk; then the clock stops changing.
        stopped = _clock_once_still(session_factory, story.api.account_id)
    assert stopped is not None and START < stopped < FAR - timedelta(days=365)
    # What ran stays, consistently: every period up to the clock is billed once, and running
    # the engine again over the same time writes nothing.
    invoices = _invoice_count(session_factory, story.api.account_id)
    assert invoices > 8
    story.advance(stopped)
    assert _invoice_count(session_factory, story.api.account_id) == invoices


def test_another_account_writes_while_a_long_advance_runs(app: FastAPI, client: Any) -> None:
    """SQLite has one writer: the advance yields its lock between chunks, so another account's
    request waits a moment, not until the advance is done (or into "database is locked")."""
    session_factory = app.state.session_factory
    story = _busy_story(client, session_factory)
    other = Story(client, session_factory, start=START)
    with serving(app) as url:
        with _start_advance(url, story.api.key, FAR):
            time.sleep(0.5)
            started = time.monotonic()
            response = httpx.post(
                f"{url}/api/v1/contacts",
                json={"email": "meanwhile@example.com"},
                headers={"Authorization": f"Bearer {other.api.key}"},
                timeout=60,
            )
            took = time.monotonic() - started
            clock_then = _account(session_factory, story.api.account_id).clock_now
        time.sleep(1.0)  # let the abandoned advance wind down before the server stops
    assert response.status_code == 200, response.text
    assert clock_then is not None and clock_then < FAR - timedelta(days=365), "advance was done"
    assert took < 5


def test_an_advance_with_an_idempotency_key_runs_to_the_end(
    client: Any, session_factory: Any
) -> None:
    """The idempotency layer hands the body on and then the client's own messages, so the
    advance does not mistake the end of the body for a client that hung up."""
    story = Story(client, session_factory, start=START)
    sid = story.subscribe(frequency="weekly")["id"]
    response = story.api.post(
        "/clock/advance", {"to": "2027-03-01T09:00:00Z"}, headers={"Idempotency-Key": "adv-1"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["today"] == "2027-03-01"
    assert len(story.invoices(sid)) == 53
