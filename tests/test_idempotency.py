from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cadency.catalog.models import Product
from cadency.kit.idempotency import IdempotencyRecord
from tests.conftest import Api

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
