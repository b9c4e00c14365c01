"""API keys through the API (API.md "API keys"): made with scopes and an expiry by super admin
keys, listed without secrets, revoked with effect on the next request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cadency.accounts import service
from cadency.accounts.models import ApiKey
from cadency.kit.idempotency import IdempotencyRecord
from tests.conftest import Api


def _with_key(api: Api, secret: str) -> Api:
    return Api(client=api.client, account_id=api.account_id, key=secret)


def test_a_super_admin_key_makes_a_scoped_key_whose_secret_is_shown_once(api: Api, db: Any) -> None:
    created = api.ok(
        api.post(
            "/api-keys",
            {"name": "Zapier", "scopes": ["subscriptions.edit", "subscriptions.view"]},
        )
    )
    secret = created["key"]
    assert secret.startswith("cad_test_") and created["prefix"] == secret[:14]
    assert created["object"] == "api_key"
    # Kept in the order of PERMISSIONS, whatever order they were sent in.
    assert created["scopes"] == ["subscriptions.view", "subscriptions.edit"]
    assert created["expires_at"] is None and created["revoked_at"] is None
    default_key = api.ok(api.get("/api-keys"))["data"][-1]
    assert created["created_by"] == default_key["id"]
    # Stored hashed: the database holds no copy of the secret.
    row = db.get(ApiKey, created["id"])
    assert row.key_hash == service.hash_api_key(secret) and secret not in row.key_hash
    # Never again in a response.
    listed = api.ok(api.get("/api-keys"))
    assert listed["data"][0]["id"] == created["id"]
    assert all("key" not in k for k in listed["data"])
    assert secret not in api.get(f"/api-keys/{created['id']}").text
    # The new key works within its scopes and is refused outside them, naming the permission.
    zapier = _with_key(api, secret)
    assert zapier.get("/subscriptions").status_code == 200
    refused = zapier.patch("/account/settings", {"timezone": "Europe/Amsterdam"})
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission"
    assert "billing.edit" in refused.json()["error"]["message"]


def test_only_super_admin_keys_manage_keys(api: Api, api_with_scopes: Callable[..., Api]) -> None:
    limited = api_with_scopes("subscriptions.view", "billing.edit")
    for response in (
        limited.get("/api-keys"),
        limited.post("/api-keys", {"name": "Mine", "scopes": ["subscriptions.view"]}),
        limited.delete(f"/api-keys/{api.ok(api.get('/api-keys'))['data'][0]['id']}"),
    ):
        assert response.status_code == 403, response.text
        assert "super_admin" in response.json()["error"]["message"]


def test_a_creator_cannot_grant_a_permission_it_lacks(api: Api, db: Any) -> None:
    account = service.get_account(db, api.account_id)
    assert account is not None
    try:
        service.create_api_key(
            db,
            account,
            name="Escalation",
            scopes=["billing.edit"],
            creator_permissions=["subscriptions.view"],
        )
    except service.PermissionDenied as denied:
        assert denied.param == "scopes" and "billing.edit" in denied.message
    else:
        raise AssertionError("a key was made with a permission its creator lacks")
    finally:
        db.rollback()


def test_revocation_takes_effect_on_the_next_request(api: Api) -> None:
    created = api.ok(api.post("/api-keys", {"name": "Old laptop", "scopes": ["super_admin"]}))
    old = _with_key(api, created["key"])
    assert old.get("/subscriptions").status_code == 200
    revoked = api.ok(api.delete(f"/api-keys/{created['id']}"))
    assert revoked["revoked_at"] is not None
    refused = old.get("/subscriptions")
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication"
    # Listed with its revocation; revoking again changes nothing.
    again = api.ok(api.delete(f"/api-keys/{created['id']}"))
    assert again["revoked_at"] == revoked["revoked_at"]
    assert api.ok(api.get(f"/api-keys/{created['id']}"))["revoked_at"] == revoked["revoked_at"]


def test_an_expired_key_is_refused_saying_it_expired(api: Api, db: Any) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    created = api.ok(
        api.post(
            "/api-keys",
            {"name": "Temp", "scopes": ["subscriptions.view"], "expires_at": soon.isoformat()},
        )
    )
    assert created["expires_at"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))
    temp = _with_key(api, created["key"])
    assert temp.get("/subscriptions").status_code == 200
    row = db.get(ApiKey, created["id"])
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.commit()
    refused = temp.get("/subscriptions")
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]


def test_bad_requests_name_the_problem(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    cases = [
        ({"name": "x", "scopes": ["subscriptions.fly"]}, "scopes", "subscriptions.fly"),
        ({"name": "x", "scopes": []}, "scopes", None),
        ({"name": "   ", "scopes": ["super_admin"]}, "name", None),
        ({"name": "x" * 256, "scopes": ["super_admin"]}, "name", None),
        ({"name": "x", "scopes": ["super_admin"], "expires_at": past}, "expires_at", "future"),
        ({"name": "x", "scopes": ["super_admin"], "expires_at": "2030-01-01"}, "expires_at", None),
        ({"name": "x", "scopes": ["super_admin"], "owner": "me"}, "owner", None),
    ]
    for body, param, words in cases:
        response = api.post("/api-keys", body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["param"].startswith(param), (body, error)
        if words:
            assert words in error["message"], (body, error)


def test_keys_of_another_account_are_not_found(api: Api, other_api: Api) -> None:
    theirs = other_api.ok(other_api.get("/api-keys"))["data"][0]["id"]
    assert api.get(f"/api-keys/{theirs}").status_code == 404
    assert api.delete(f"/api-keys/{theirs}").status_code == 404
    assert theirs not in api.get("/api-keys").text
    assert other_api.get("/subscriptions").status_code == 200  # still working


def test_last_used_is_written_at_most_once_a_minute(api: Api, db: Any) -> None:
    created = api.ok(api.post("/api-keys", {"name": "Reader", "scopes": ["subscriptions.view"]}))
    assert created["last_used_at"] is None
    reader = _with_key(api, created["key"])
    assert reader.get("/subscriptions").status_code == 200
    first = db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == created["id"]))
    assert first is not None
    assert reader.get("/subscriptions").status_code == 200
    db.expire_all()
    assert db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == created["id"])) == first
    # A minute later the next request moves it on.
    row = db.get(ApiKey, created["id"])
    row.last_used_at = first - timedelta(minutes=2)
    db.commit()
    assert reader.get("/subscriptions").status_code == 200
    db.expire_all()
    assert db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == created["id"])) >= first


def test_the_secret_never_reaches_the_idempotency_records(api: Api, db: Any) -> None:
    made = api.ok(
        api.post(
            "/api-keys",
            {"name": "Retried", "scopes": ["subscriptions.view"]},
            headers={"Idempotency-Key": "make-retried-key"},
        )
    )
    stored = db.scalars(
        select(IdempotencyRecord.response_body).where(
            IdempotencyRecord.account_id == api.account_id
        )
    ).all()
    assert not any(made["key"] in (body or "") for body in stored)


def test_a_key_without_the_view_permission_reads_no_records(
    api: Api, api_with_scopes: Callable[..., Api]
) -> None:
    contact = api.ok(api.post("/contacts", {"email": "private@example.com"}))
    billing_only = api_with_scopes("billing.edit")
    for path in (
        "/contacts",
        f"/contacts/{contact['id']}",
        f"/contacts/{contact['id']}/payment-methods",
        "/companies",
        "/deals",
        "/quotes",
        "/products",
        "/tax-rates",
        "/fees",
        "/payment-links",
        "/subscriptions",
    ):
        response = billing_only.get(path)
        assert response.status_code == 403, (path, response.text)
        assert "subscriptions.view" in response.json()["error"]["message"]
    assert "private@example.com" not in billing_only.get("/contacts").text
    # What it was made for still works.
    assert billing_only.get("/account/settings").status_code == 200
