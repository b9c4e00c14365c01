"""A cancellation may give several reasons (issue 19): `reasons` in the cancel body, the
subscription's `cancellation_reasons`, and `cancellation_reason` still the first one for the
clients that read one."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from cadency.kit.outbox import OutboxMessage
from cadency.subscriptions.models import Subscription
from tests.conftest import Api
from tests.subscriptions.helpers import create_subscription


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()["error"]
    return found


def cancel(api: Api, sid: str, **body: Any) -> httpx.Response:
    return api.post(f"/subscriptions/{sid}/cancel", body)


def test_several_reasons_are_kept_in_order_and_the_first_is_the_reason(api: Api, db: Any) -> None:
    sub = create_subscription(api)
    canceled = api.ok(
        cancel(
            api,
            sub["id"],
            mode="immediately",
            reasons=["missing_features", "too_expensive"],
            comment="Lacks exports; too dear",
        )
    )
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reasons"] == ["missing_features", "too_expensive"]
    assert canceled["cancellation_reason"] == "missing_features"
    read = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (read["cancellation_reason"], read["cancellation_reasons"]) == (
        "missing_features",
        ["missing_features", "too_expensive"],
    )
    # The timeline and the canceled event carry them all, the first as `reason`.
    events = api.ok(api.get(f"/subscriptions/{sub['id']}/events"))["data"]
    entry = next(e for e in events if e["type"] == "subscription.canceled")
    assert (entry["data"]["reason"], entry["data"]["reasons"]) == (
        "missing_features",
        ["missing_features", "too_expensive"],
    )
    payload = db.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.subscription_id == sub["id"],
            OutboxMessage.type == "subscription.canceled",
        )
    ).one()
    assert (payload["reason"], payload["reasons"]) == (
        "missing_features",
        ["missing_features", "too_expensive"],
    )


def test_reason_and_reasons_together_are_their_union_with_the_reason_first(api: Api) -> None:
    sub = create_subscription(api)
    canceling = api.ok(
        cancel(
            api,
            sub["id"],
            mode="at_period_end",
            reason="unused",
            reasons=["too_complex", "unused", "low_quality"],
        )
    )
    assert canceling["cancel_at_period_end"] is True
    assert canceling["cancellation_reasons"] == ["unused", "too_complex", "low_quality"]
    assert canceling["cancellation_reason"] == "unused"


def test_one_reason_as_old_clients_send_it_is_a_list_of_one(api: Api) -> None:
    sub = create_subscription(api)
    canceled = api.ok(cancel(api, sub["id"], mode="immediately", reason="too_expensive"))
    assert (canceled["cancellation_reason"], canceled["cancellation_reasons"]) == (
        "too_expensive",
        ["too_expensive"],
    )
    other = create_subscription(api, email="noreason@example.com")
    silent = api.ok(cancel(api, other["id"], mode="immediately"))
    assert (silent["cancellation_reason"], silent["cancellation_reasons"]) == (None, [])
    # A subscription never canceled has none.
    fresh = create_subscription(api, email="fresh@example.com")
    assert (fresh["cancellation_reason"], fresh["cancellation_reasons"]) == (None, [])


def test_a_reason_named_twice_or_unknown_is_refused_and_nothing_changes(api: Api, db: Any) -> None:
    sub = create_subscription(api)
    twice = error(
        cancel(api, sub["id"], mode="immediately", reasons=["unused", "other", "unused"]), 422
    )
    assert twice["param"] == "reasons"
    assert "twice" in twice["message"]
    unknown = error(cancel(api, sub["id"], mode="immediately", reasons=["unused", "bored"]), 422)
    assert unknown["param"].startswith("reasons")
    not_a_list = error(cancel(api, sub["id"], mode="immediately", reasons="unused"), 422)
    assert not_a_list["param"] == "reasons"
    stored = db.get(Subscription, sub["id"])
    assert (stored.status, stored.cancellation_reason, stored.cancellation_reasons) == (
        "active",
        None,
        [],
    )


def test_reactivating_clears_every_reason(api: Api) -> None:
    sub = create_subscription(api)
    api.ok(cancel(api, sub["id"], mode="at_period_end", reasons=["switched_service", "other"]))
    reactivated = api.ok(api.post(f"/subscriptions/{sub['id']}/reactivate"))
    assert reactivated["cancel_at_period_end"] is False
    assert (reactivated["cancellation_reason"], reactivated["cancellation_reasons"]) == (None, [])
    # Canceling again gives the new reasons only.
    again = api.ok(cancel(api, sub["id"], mode="at_period_end", reasons=["customer_service"]))
    assert again["cancellation_reasons"] == ["customer_service"]


def test_a_row_written_with_the_first_reason_only_reads_as_a_list_of_it(api: Api, db: Any) -> None:
    """Bulk inserts (benchmarks, imports) may set only `cancellation_reason`."""
    sub = create_subscription(api)
    stored = db.get(Subscription, sub["id"])
    stored.cancellation_reason = "low_quality"
    db.commit()
    read = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (read["cancellation_reason"], read["cancellation_reasons"]) == (
        "low_quality",
        ["low_quality"],
    )
