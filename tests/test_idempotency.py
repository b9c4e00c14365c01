from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from cadency.catalog.models import Product
from cadency.kit import clock, idempotency
from cadency.kit.idempotency import IdempotencyRecord, request_fingerprint
from tests.conftest import Api
from tests.servers import serving

BODY = {"name": "Coffee casual - 250g", "unit_price": "12.50", "billing_frequency": "monthly"}


def count_products(db: Any, account_id: int) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count()).select_from(Product).where(Product.account_id == account_id)
    )


def test_same_key_same_body_replays_the_first_response(api: Api, db: Any) -> None:
    first = api.post("/products", BODY, headers={"Idempotency-Key": "k-1"})
    second = api.post("/products", BODY, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert count_products(db, api.account_id) == 1


def test_same_key_other_body_is_a_conflict(api: Api, db: Any) -> None:
    api.ok(api.post("/products", BODY, headers={"Idempotency-Key": "k-2"}))
    other = api.post(
        "/products", {**BODY, "unit_price": "13.00"}, headers={"Idempotency-Key": "k-2"}
    )
    assert other.status_code == 409
    assert other.json()["error"]["type"] == "idempotency"
    assert count_products(db, api.account_id) == 1


def test_errors_are_replayed_too_and_keys_are_per_account(
    api: Api, other_api: Api, db: Any
) -> None:
    bad = api.post("/products", {**BODY, "unit_price": 12.5}, headers={"Idempotency-Key": "k-3"})
    again = api.post("/products", {**BODY, "unit_price": 12.5}, headers={"Idempotency-Key": "k-3"})
    assert bad.status_code == again.status_code == 422
    assert again.json() == bad.json()
    # Another account may use the same key for its own request.
    assert other_api.ok(other_api.post("/products", BODY, headers={"Idempotency-Key": "k-3"}))
    assert count_products(db, other_api.account_id) == 1


def test_without_a_key_each_request_acts(api: Api, db: Any) -> None:
    api.ok(api.post("/products", BODY))
    api.ok(api.post("/products", BODY))
    assert count_products(db, api.account_id) == 2


def test_card_numbers_are_not_stored_in_idempotency_records(api: Api, db: Any) -> None:
    contact = api.ok(api.post("/contacts", {"email": "card@example.com"}))
    body = {
        "type": "card",
        "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "321"},
    }
    response = api.post(
        f"/contacts/{contact['id']}/payment-methods", body, headers={"Idempotency-Key": "pm-1"}
    )
    assert response.status_code == 200
    record = db.get(IdempotencyRecord, (api.account_id, "pm-1"))
    assert record is not None and record.status_code == 200
    assert "4242424242424242" not in (record.response_body or "")
    assert record.response_body is not None and '"last4":"4242"' in record.response_body


def test_overlong_key_is_refused(api: Api) -> None:
    response = api.post("/products", BODY, headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["message"]


def _raw_post(api: Api, body: bytes, key: str) -> Any:
    return api.client.post(
        "/api/v1/products",
        content=body,
        headers={
            "Authorization": f"Bearer {api.key}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )


def test_a_claim_left_by_a_crashed_request_lapses_and_a_retry_runs_once(
    api: Api, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(BODY).encode()
    fingerprint = request_fingerprint(api.key, "POST", "/api/v1/products", b"", raw)
    # The claim a request leaves when its process is killed before answering, made longer ago
    # than the lease.
    started = clock.real_now() - idempotency.CLAIM_LEASE - timedelta(seconds=5)
    with monkeypatch.context() as patch:
        patch.setattr(clock, "real_now", lambda: started)
        assert idempotency._claim(db, api.account_id, "crashed", fingerprint) is None

    retry = _raw_post(api, raw, "crashed")
    assert retry.status_code == 200, retry.text
    again = _raw_post(api, raw, "crashed")
    assert again.status_code == 200
    assert again.json() == retry.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert count_products(db, api.account_id) == 1
    db.expire_all()
    record = db.get(IdempotencyRecord, (api.account_id, "crashed"))
    assert record is not None and record.status_code == 200 and record.claimed_until is None


def test_a_lapsed_claim_whose_effect_was_committed_is_not_run_again(
    api: Api, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server died after the effect's commit, before the answer was recorded: a retry must
    not make a second product; it is told what happened."""
    raw = json.dumps(BODY).encode()
    fingerprint = request_fingerprint(api.key, "POST", "/api/v1/products", b"", raw)
    started = clock.real_now() - idempotency.CLAIM_LEASE - timedelta(seconds=5)
    with monkeypatch.context() as patch:
        patch.setattr(clock, "real_now", lambda: started)
        assert idempotency._claim(db, api.account_id, "lost", fingerprint) is None
    record = db.get(IdempotencyRecord, (api.account_id, "lost"))
    record.effect_committed = True
    db.commit()

    retry = _raw_post(api, raw, "lost")
    assert retry.status_code == 409
    assert retry.json()["error"]["message"] == (
        "The request with this Idempotency-Key was carried out, but the server stopped before "
        "its answer was recorded; look the result up instead of repeating it"
    )
    assert count_products(db, api.account_id) == 0


def test_the_effect_is_marked_in_its_own_transaction(api: Api, db: Any) -> None:
    made = api.post("/products", BODY, headers={"Idempotency-Key": "made"})
    refused = api.post("/products", {**BODY, "unit_price": "x"}, headers={"Idempotency-Key": "no"})
    assert (made.status_code, refused.status_code) == (200, 422)
    db.expire_all()
    made_record = db.get(IdempotencyRecord, (api.account_id, "made"))
    refused_record = db.get(IdempotencyRecord, (api.account_id, "no"))
    assert made_record is not None and made_record.effect_committed
    assert refused_record is not None and not refused_record.effect_committed
    assert (made_record.status_code, refused_record.status_code) == (200, 422)


def test_a_claim_within_its_lease_is_still_in_progress(api: Api, db: Any) -> None:
    raw = json.dumps(BODY).encode()
    fingerprint = request_fingerprint(api.key, "POST", "/api/v1/products", b"", raw)
    assert idempotency._claim(db, api.account_id, "running", fingerprint) is None

    response = _raw_post(api, raw, "running")
    assert response.status_code == 409
    assert "in progress" in response.json()["error"]["message"]
    assert count_products(db, api.account_id) == 0


def test_a_long_request_renews_its_claim(
    api: Api, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that runs past the lease keeps its key: a retry meanwhile is told it is in
    progress instead of running the effect a second time."""
    monkeypatch.setattr(idempotency, "CLAIM_LEASE", timedelta(seconds=1.5))
    runs = []

    async def slow_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        runs.append(scope["path"])
        await anyio.sleep(5.0)  # more than three leases
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"done":true}'})

    app = idempotency.IdempotencyMiddleware(
        slow_endpoint, session_factory, lambda session, token: api.account_id
    )
    headers = {"Authorization": f"Bearer {api.key}", "Idempotency-Key": "slow"}

    def post() -> httpx.Response:
        return TestClient(app).post("/api/v1/slow", content=b"{}", headers=headers)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post)
        time.sleep(3.5)  # past two leases
        retry = post()
        assert first.result().status_code == 200
    assert retry.status_code == 409
    assert "in progress" in retry.json()["error"]["message"]
    assert runs == ["/api/v1/slow"]
    replay = post()
    assert (replay.status_code, replay.json()) == (200, {"done": True})


def test_an_immediate_replay_gets_the_stored_answer_from_a_real_server(
    app: FastAPI, api: Api, db: Any
) -> None:
    """The answer is recorded before it leaves: a replay sent the moment the first answer
    arrives finds it (before, 56 of 160 such replays with 8 clients got 409 "in progress")."""
    clients, pairs = 8, 10

    def client(number: int) -> list[tuple[httpx.Response, httpx.Response]]:
        seen = []
        headers = {"Authorization": f"Bearer {api.key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for i in range(pairs):
                body = {**BODY, "name": f"Replayed {number}-{i}"}
                key = {"Idempotency-Key": f"replay-{number}-{i}"}
                first = http.post("/api/v1/products", json=body, headers=key)
                seen.append((first, http.post("/api/v1/products", json=body, headers=key)))
        return seen

    with serving(app) as base, ThreadPoolExecutor(clients) as pool:
        results = [pair for seen in pool.map(client, range(clients)) for pair in seen]

    assert len(results) == clients * pairs
    for first, replay in results:
        assert first.status_code == 200, first.text
        assert "idempotent-replayed" not in first.headers
        assert (replay.status_code, replay.content) == (first.status_code, first.content)
        assert replay.headers["idempotent-replayed"] == "true"
    assert count_products(db, api.account_id) == clients * pairs
