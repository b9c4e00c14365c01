"""SQLite has one writer: a write request waits for a billing batch, then works on what the
batch wrote, instead of editing a copy it read before."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cadency.kit.db import is_sqlite
from cadency.subscriptions.models import Subscription
from tests.conftest import Api
from tests.subscriptions.helpers import create_subscription


def test_a_write_waits_for_the_batch_and_sees_its_work(
    api: Api, app: Any, database_url: str
) -> None:
    if not is_sqlite(database_url):
        pytest.skip("PostgreSQL locks the subscription row instead (FOR UPDATE)")
    sub = create_subscription(api)
    batch = Session(app.state.engine)
    batch.connection().exec_driver_sql("BEGIN IMMEDIATE")  # as a billing batch does
    # The batch cancels the subscription (a scheduled cancellation came due).
    batch.connection().exec_driver_sql(
        "UPDATE subscriptions SET status = 'canceled', next_action_at = NULL WHERE id = ?",
        (sub["id"],),
    )
    answer: dict[str, Any] = {}

    def rename() -> None:
        started = time.monotonic()
        response = api.patch(f"/subscriptions/{sub['id']}", {"name": "Renamed"})
        answer.update(response=response, waited=time.monotonic() - started)

    editor = threading.Thread(target=rename)
    editor.start()
    time.sleep(0.5)
    assert editor.is_alive(), "the write did not wait for the batch"
    batch.commit()
    batch.close()
    editor.join(timeout=30)
    assert answer["waited"] >= 0.4
    renamed = api.ok(answer["response"])
    # The edit saw the batch's cancellation: it did not bring back a renewal wake-up.
    assert (renamed["name"], renamed["status"]) == ("Renamed", "canceled")
    with Session(app.state.engine) as session:
        assert session.get(Subscription, sub["id"]).next_action_at is None
