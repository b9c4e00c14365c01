"""Events and webhooks through the REST API, delivered to a real HTTP receiver on loopback and
verified with the `standardwebhooks` package: signing, the event's object, retries on the
account's clock, the delivery log, safety (private addresses, redirects, huge or slow
answers), rolling the secret, disabling after three days, other accounts and permissions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import select, text
from standardwebhooks import Webhook

from cadency import housekeeping
from cadency.cli import main
from cadency.kit.events import SUBSCRIPTION_CHANGES
from cadency.kit.idempotency import IdempotencyRecord
from cadency.kit.outbox import OutboxMessage
from cadency.webhooks import service
from cadency.webhooks.models import Event, WebhookDelivery
from tests.conftest import Api, pin_clock
from tests.notifications.conftest import SmtpServer, add_user, deliver, plain, smtp_server
from tests.subscriptions.helpers import create_subscription
from tests.webhooks.receiver import Receiver, allow_private, receiver

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
# Fixtures, imported for the tests that use them.
__all__ = ["allow_private", "receiver", "smtp_server"]


@pytest.fixture
def clocked(api: Api, session_factory: Any) -> Api:
    pin_clock(session_factory, api.account_id, NOW)
    return api


def run(app: FastAPI, account_id: int | None = None) -> int:
    """What the worker's webhook lane does in one pass, for one account's deliveries (earlier
    tests leave other accounts' events and endpoints in the shared database)."""
    settings = app.state.settings
    return service.run(
        app.state.session_factory,
        service.Links(settings.base_url, settings),
        allow_private=settings.webhook_allow_private,
        account_id=account_id,
    )


def advance(api: Api, to: datetime) -> None:
    api.ok(api.post("/clock/advance", {"to": to.isoformat()}))


def make_endpoint(api: Api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    return api.ok(
        api.post(
            "/webhook-endpoints",
            {"url": url + "/hook", "enabled_events": events or ["*"], "description": "CRM sync"},
        )
    )


def deliveries(api: Api, endpoint_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok(api.get(f"/webhook-endpoints/{endpoint_id}/deliveries"))[
        "data"
    ]
    return found


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def test_an_event_is_signed_and_verified_by_standard_webhooks(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    endpoint = make_endpoint(api, receiver.url, ["subscription.created"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    sub = create_subscription(api)

    assert run(app, api.account_id) == 1
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hook"
    # The receiver verifies with an off-the-shelf library: headers, timestamp and signature.
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "subscription.created"
    assert request.headers["webhook-id"] == payload["id"]
    assert payload["data"]["object"] == api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert payload["created_at"] == "2026-06-01T09:00:00Z"  # the account's clock

    # The same event is listed, and the delivery is in the endpoint's log.
    events = api.ok(api.get("/events", params={"type": "subscription.created"}))["data"]
    assert [e["id"] for e in events] == [payload["id"]]
    assert events[0]["data"] == payload["data"]
    [delivery] = deliveries(api, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["attempt"] == 1
    assert delivery["response_status"] == 200 and delivery["response_body"] == "xx"
    assert delivery["event_id"] == payload["id"] and delivery["duration_ms"] >= 0

    # Another pass sends nothing more; a wrong secret does not verify.
    assert run(app, api.account_id) == 0 and len(receiver.requests) == 1
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)


def test_only_the_types_an_endpoint_wants(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    endpoint = make_endpoint(api, receiver.url, ["invoice.created"])
    create_subscription(api)  # subscription.created, invoice.created, payment.succeeded, …
    run(app, api.account_id)
    types = [
        Webhook(endpoint["secret"]).verify(r.body, r.headers)["type"] for r in receiver.requests
    ]
    assert types == ["invoice.created"]
    assert {d["event_type"] for d in deliveries(api, endpoint["id"])} == {"invoice.created"}
    # All of them are events all the same.
    listed = {e["type"] for e in api.ok(api.get("/events", params={"limit": 100}))["data"]}
    assert {"subscription.created", "invoice.created", "payment.succeeded"} <= listed


def test_retries_follow_the_accounts_clock_then_succeed(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    receiver.answers = [500, 503, 200]
    endpoint = make_endpoint(api, receiver.url, ["subscription.created"])
    create_subscription(api)
    run(app, api.account_id)
    [delivery] = deliveries(api, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["response_status"]) == (
        "retrying",
        1,
        500,
    )
    assert delivery["next_attempt_at"] == "2026-06-01T09:00:05Z"  # 5 s later, on its clock

    # Real time passing does not send it: the account's clock has not moved.
    assert run(app, api.account_id) == 0 and len(receiver.requests) == 1
    advance(api, NOW + timedelta(seconds=5))  # the advance runs what is due
    [delivery] = deliveries(api, endpoint["id"])
    assert (delivery["status"], delivery["attempt"]) == ("retrying", 2)
    # Then 5 min after that attempt was due.
    assert delivery["next_attempt_at"] == "2026-06-01T09:05:05Z"
    advance(api, NOW + timedelta(minutes=5, seconds=5))
    [delivery] = deliveries(api, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["next_attempt_at"]) == (
        "succeeded",
        3,
        None,
    )
    assert len(receiver.requests) == 3
    # Each attempt is the same event, signed afresh.
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1
    for request in receiver.requests:
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert run(app, api.account_id) == 0


def test_eight_attempts_then_failed_and_three_failing_days_disable_the_endpoint(
    clocked: Api,
    app: FastAPI,
    receiver: Receiver,
    allow_private: None,
    session_factory: Any,
    smtp_server: SmtpServer,
) -> None:
    api = clocked
    add_user(session_factory, api.account_id, "boss@shop.test", ("super_admin",))
    add_user(session_factory, api.account_id, "viewer@shop.test", ("subscriptions.view",))
    receiver.answers = [500]
    endpoint = make_endpoint(api, receiver.url, ["subscription.created"])
    create_subscription(api)
    run(app, api.account_id)
    moment = NOW
    for delay in service.RETRY_DELAYS:
        moment += delay
        advance(api, moment)
    [delivery] = deliveries(api, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["next_attempt_at"]) == (
        "failed",
        8,
        None,
    )
    assert len(receiver.requests) == 8
    assert api.ok(api.get(f"/webhook-endpoints/{endpoint['id']}"))["status"] == "enabled"

    # Failing on: a test event on day 2 and on day 3; failing three days disables it.
    for day in (2, 3):
        advance(api, NOW + timedelta(days=day, hours=1))
        api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
        run(app, api.account_id)
    found = api.ok(api.get(f"/webhook-endpoints/{endpoint['id']}"))
    assert found["status"] == "disabled"
    assert found["disabled_reason"] == "Every delivery failed for 3 days"
    with session_factory() as db:
        disabled = db.scalars(
            select(OutboxMessage).where(
                OutboxMessage.account_id == api.account_id,
                OutboxMessage.type == "webhook_endpoint.disabled",
            )
        ).all()
        assert [m.payload["endpoint_id"] for m in disabled] == [endpoint["id"]]
    # The super admins are emailed (not the other users).
    deliver(session_factory, api.account_id, smtp_server.url)
    mails = [
        m for m in smtp_server.inbox.take() if m.message["X-Cadency-Email"] == "webhook_disabled"
    ]
    assert [m.to for m in mails] == [["boss@shop.test"]]
    assert receiver.url + "/hook" in plain(mails[0].text)
    assert "failed for 3 days" in plain(mails[0].text)
    # A disabled endpoint gets nothing; enabled again, it starts afresh.
    sent = len(receiver.requests)
    api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
    run(app, api.account_id)
    assert len(receiver.requests) == sent
    enabled = api.ok(api.patch(f"/webhook-endpoints/{endpoint['id']}", {"status": "enabled"}))
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None


def test_send_again_and_the_test_event(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    endpoint = make_endpoint(api, receiver.url, ["invoice.created"])
    ping = api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
    assert ping["status"] == "pending" and ping["event_type"] == "ping"
    run(app, api.account_id)
    body = Webhook(endpoint["secret"]).verify(
        receiver.requests[0].body, receiver.requests[0].headers
    )
    assert body["type"] == "ping" and body["data"]["object"]["id"] == endpoint["id"]
    again = api.ok(api.post(f"/webhook-deliveries/{ping['id']}/retry", {}))
    assert (again["status"], again["attempt"]) == ("pending", 0)
    run(app, api.account_id)
    assert len(receiver.requests) == 2
    assert receiver.requests[1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    [delivery] = deliveries(api, endpoint["id"])
    assert (delivery["status"], delivery["attempt"]) == ("succeeded", 1)


def test_a_rolled_secret_signs_beside_the_old_one_for_a_day(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    endpoint = make_endpoint(api, receiver.url)
    rolled = api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/roll-secret", {}))
    assert rolled["secret"].startswith("whsec_") and rolled["secret"] != endpoint["secret"]
    assert api.ok(api.get(f"/webhook-endpoints/{endpoint['id']}"))["secret"] is None
    api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
    run(app, api.account_id)
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rolled["secret"]):
        Webhook(secret).verify(request.body, request.headers)


def test_redirects_are_not_followed_and_huge_answers_are_cut(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    endpoint = make_endpoint(api, receiver.url)
    receiver.answers = [302]
    api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
    run(app, api.account_id)
    [redirected] = deliveries(api, endpoint["id"])
    assert (redirected["status"], redirected["response_status"]) == ("retrying", 302)
    assert [r.path for r in receiver.requests] == ["/hook"]  # /elsewhere never asked

    receiver.answers = [200]
    receiver.answer_bytes = 10 * 1024 * 1024
    api.ok(api.post(f"/webhook-deliveries/{redirected['id']}/retry", {}))
    run(app, api.account_id)
    [big] = deliveries(api, endpoint["id"])
    assert big["status"] == "succeeded"
    assert big["response_body"] == "x" * service.RESPONSE_KEPT


def test_a_receiver_that_hangs_times_out(
    clocked: Api,
    app: FastAPI,
    receiver: Receiver,
    allow_private: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = clocked
    monkeypatch.setattr(service, "TIMEOUT", 0.3)
    receiver.delay = 1.5
    endpoint = make_endpoint(api, receiver.url)
    api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
    run(app, api.account_id)
    [delivery] = deliveries(api, endpoint["id"])
    assert delivery["status"] == "retrying" and delivery["response_status"] is None
    assert "No answer within" in delivery["error"]


def test_urls_and_event_types_are_checked(api: Api, receiver: Receiver) -> None:
    # Without CADENCY_WEBHOOK_ALLOW_PRIVATE, loopback is refused.
    refused = error(
        api.post("/webhook-endpoints", {"url": receiver.url, "enabled_events": ["*"]}), 422
    )
    assert refused["param"] == "url" and "private or local address" in refused["message"]
    for url in ("ftp://example.com/x", "not a url", "http://user:pw@example.com/"):
        assert (
            error(api.post("/webhook-endpoints", {"url": url, "enabled_events": ["*"]}), 422)[
                "param"
            ]
            == "url"
        )
    unknown = error(
        api.post(
            "/webhook-endpoints",
            {"url": "https://example.com/", "enabled_events": ["subscription.created", "nope"]},
        ),
        422,
    )
    assert unknown["param"] == "enabled_events.1" and "nope" in unknown["message"]
    assert error(
        api.post("/webhook-endpoints", {"url": "https://example.com/", "enabled_events": []}), 422
    )


def test_other_accounts_and_permissions(
    api: Api,
    other_api: Api,
    receiver: Receiver,
    allow_private: None,
    api_with_scopes: Callable[..., Api],
) -> None:
    endpoint = make_endpoint(api, receiver.url)
    assert error(other_api.get(f"/webhook-endpoints/{endpoint['id']}"), 404)
    assert error(other_api.get(f"/webhook-endpoints/{endpoint['id']}/deliveries"), 404)
    assert other_api.ok(other_api.get("/webhook-endpoints"))["data"] == []
    viewer = api_with_scopes("subscriptions.view")
    assert error(viewer.get("/webhook-endpoints"), 403)
    assert error(
        viewer.post("/webhook-endpoints", {"url": receiver.url, "enabled_events": ["*"]}), 403
    )
    assert viewer.ok(viewer.get("/events"))["object"] == "list"
    assert error(api_with_scopes("billing.edit").get("/events"), 403)


def test_the_secret_is_never_stored(
    api: Api, receiver: Receiver, allow_private: None, session_factory: Any
) -> None:
    made = api.post(
        "/webhook-endpoints",
        {"url": receiver.url, "enabled_events": ["*"]},
        headers={"Idempotency-Key": "endpoint-1"},
    )
    secret = api.ok(made)["secret"]
    key = secret.removeprefix("whsec_")
    with session_factory() as db:
        assert db.get(IdempotencyRecord, (api.account_id, "endpoint-1")) is None
        for table in ("webhook_endpoints", "idempotency_records", "installation_secrets"):
            rows = db.execute(text(f"SELECT * FROM {table}")).all()
            assert rows or table == "idempotency_records"
            assert key not in str(rows), table


def test_update_of_an_event_names_the_previous_values(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    api = clocked
    endpoint = make_endpoint(api, receiver.url, ["subscription.updated"])
    sub = create_subscription(api)
    api.ok(api.patch(f"/subscriptions/{sub['id']}", {"name": "Coffee club"}))
    run(app, api.account_id)
    [request] = receiver.requests
    body = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert body["data"]["object"]["name"] == "Coffee club"
    assert body["data"]["previous_attributes"] == {"name": sub["name"]}


def test_events_are_kept_30_days(clocked: Api, app: FastAPI, session_factory: Any) -> None:
    create_subscription(clocked)
    run(app, clocked.account_id)
    with session_factory() as db:
        kept = db.scalars(select(Event).where(Event.account_id == clocked.account_id)).all()
        assert kept
        newest = max(e.created_at for e in kept)
    housekeeping.run(session_factory, now=newest + timedelta(days=29))
    with session_factory() as db:
        assert db.scalars(select(Event).where(Event.account_id == clocked.account_id)).all()
    housekeeping.run(session_factory, now=newest + timedelta(days=30, seconds=1))
    with session_factory() as db:
        assert not db.scalars(select(Event).where(Event.account_id == clocked.account_id)).all()
        assert not db.scalars(
            select(WebhookDelivery).where(WebhookDelivery.account_id == clocked.account_id)
        ).all()


def test_bad_input_is_a_4xx_naming_it(api: Api, receiver: Receiver, allow_private: None) -> None:
    assert (
        error(
            api.post("/webhook-endpoints", {"url": "http://host:99999/", "enabled_events": ["*"]}),
            422,
        )["param"]
        == "url"
    )
    endpoint = make_endpoint(api, receiver.url)
    for name in ("url", "enabled_events", "status"):
        assert (
            error(api.patch(f"/webhook-endpoints/{endpoint['id']}", {name: None}), 422)["param"]
            == name
        )
    assert (
        error(
            api.patch(f"/webhook-endpoints/{endpoint['id']}", {"enabled_events": ["*", "ping"]}),
            422,
        )["param"]
        == "enabled_events"
    )
    cleared = api.ok(api.patch(f"/webhook-endpoints/{endpoint['id']}", {"description": None}))
    assert cleared["description"] is None and cleared["url"] == receiver.url + "/hook"
    assert error(api.get("/events/evt_nope"), 404)
    assert error(api.get("/events", params={"type": "subscription.nope"}), 422)["param"] == "type"
    assert error(api.post("/webhook-deliveries/whd_nope/retry", {}), 404)


def test_a_subscriptions_own_changes_reach_the_outbox_once_each(
    clocked: Api, app: FastAPI, session_factory: Any
) -> None:
    """The timeline's changes (made, edited, paused, resumed) are in the outbox one for one,
    so they become events; publishing twice makes no second event."""
    api = clocked
    sub = create_subscription(api)
    api.ok(api.patch(f"/subscriptions/{sub['id']}", {"name": "Tea club"}))
    api.ok(api.post(f"/subscriptions/{sub['id']}/pause", {}))
    api.ok(api.post(f"/subscriptions/{sub['id']}/resume", {}))
    timeline = api.ok(api.get(f"/subscriptions/{sub['id']}/events", params={"limit": 100}))
    changes = [e["type"] for e in timeline["data"] if e["type"] in SUBSCRIPTION_CHANGES]
    assert changes == [
        "subscription.created",
        "subscription.updated",
        "subscription.paused",
        "subscription.resumed",
    ]
    with session_factory() as db:
        queued = db.scalars(
            select(OutboxMessage.type)
            .where(
                OutboxMessage.subscription_id == sub["id"],
                OutboxMessage.type.in_(SUBSCRIPTION_CHANGES),
            )
            .order_by(OutboxMessage.id)
        ).all()
    assert list(queued) == changes
    run(app, api.account_id)
    run(app, api.account_id)
    listed = api.ok(api.get("/events", params={"limit": 100}))["data"]
    mine = [e["type"] for e in reversed(listed) if e["data"]["object"].get("id") == sub["id"]]
    assert [t for t in mine if t in SUBSCRIPTION_CHANGES] == changes


def test_a_sender_that_died_mid_pass_leaves_its_deliveries_to_the_next_one(
    clocked: Api, app: FastAPI, receiver: Receiver, allow_private: None, session_factory: Any
) -> None:
    """Claimed but never sent (the worker was killed): held while its lease runs, then sent by
    the next pass, once."""
    api = clocked
    endpoint = make_endpoint(api, receiver.url)
    api.ok(api.post(f"/webhook-endpoints/{endpoint['id']}/test", {}))
    with session_factory() as db:
        claimed = service._claim(db, api.account_id)
        db.commit()
        [(delivery, _endpoint, _event, _now)] = claimed
        delivery_id = delivery.id
    assert run(app, api.account_id) == 0 and receiver.requests == []  # its lease holds
    with session_factory() as db:
        held = db.get(WebhookDelivery, delivery_id)
        assert held is not None and held.lease_until is not None
        held.lease_until = held.lease_until - service.LEASE - timedelta(seconds=1)
        db.commit()
    assert run(app, api.account_id) == 1 and len(receiver.requests) == 1
    [found] = deliveries(api, endpoint["id"])
    assert (found["status"], found["attempt"]) == ("succeeded", 1)
    assert run(app, api.account_id) == 0


def test_the_worker_publishes_and_delivers(
    clocked: Api, receiver: Receiver, allow_private: None, database_url: str
) -> None:
    """`cadency worker --once` does what its webhook lane does every second."""
    api = clocked
    endpoint = make_endpoint(api, receiver.url, ["subscription.created"])
    sub = create_subscription(api)
    env = {"CADENCY_DATABASE_URL": database_url, "CADENCY_WEBHOOK_ALLOW_PRIVATE": "1"}
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stderr.strip().splitlines()[-1])["webhooks_sent"] >= 1
    mine = [
        Webhook(endpoint["secret"]).verify(r.body, r.headers)
        for r in receiver.requests
        if r.path == "/hook"
    ]
    assert [(e["type"], e["data"]["object"]["id"]) for e in mine] == [
        ("subscription.created", sub["id"])
    ]
    again = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert again.exit_code == 0 and len(receiver.requests) == 1


def test_events_are_found_by_time(clocked: Api, app: FastAPI) -> None:
    """created_gte / created_lt bound when events happened; a time without an offset is UTC."""
    api = clocked
    create_subscription(api)
    run(app, api.account_id)

    def found(**bounds: str) -> list[str]:
        params = {"type": "subscription.created", **bounds}
        return [e["type"] for e in api.ok(api.get("/events", params=params))["data"]]

    assert found(created_gte="2026-06-01T09:00:00") == ["subscription.created"]
    assert found(created_gte="2026-06-01T11:00:00+02:00") == ["subscription.created"]
    assert found(created_lt="2026-06-01T09:00:00Z") == []
    assert found(created_gte="2026-06-01T09:00:01Z") == []
    assert error(api.get("/events", params={"created_gte": "yesterday"}), 422)


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday", ""])
def test_event_time_bounds_are_iso_8601(api: Api, value: str) -> None:
    answer = api.get("/events", params={"created_lt": value})
    assert answer.status_code == 422, answer.text
    assert api.get("/events", params={"created_gte": "2026-06-01T09:00:00Z"}).status_code == 200
