"""Failures on /crm/ paths in HubSpot's error shape, with HubSpot's categories and statuses;
/api/v1 keeps its own shape."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from cadency.config import Settings
from cadency.hubspot import service as hubspot_service
from cadency.web.app import create_app
from tests.conftest import Api
from tests.hubspot.conftest import client_for, error_of


def create(hubspot: HubSpot, **properties: Any) -> Any:
    return hubspot.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties=properties)
    )


def test_not_found_and_bad_properties(hubspot: HubSpot) -> None:
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.get_by_id("cont_doesnotexist")
    assert caught.value.status == 404
    body = error_of(caught.value)
    assert body["category"] == "OBJECT_NOT_FOUND"
    uuid.UUID(body["correlationId"], version=4)

    with pytest.raises(ApiException) as caught:
        create(hubspot, email="x@example.com", favourite_colour="blue")
    assert caught.value.status == 400
    body = error_of(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert "favourite_colour" in body["message"]

    for properties, name in (
        ({"email": "not-an-email"}, "email"),
        ({"email": "y@example.com", "phone": "call me"}, "phone"),
        ({"email": "y@example.com", "country": "Netherlands"}, "country"),
        ({"email": "y@example.com", "hs_object_id": "cont_x"}, "hs_object_id"),
        ({"firstname": "No email"}, "email"),
    ):
        with pytest.raises(ApiException) as caught:
            create(hubspot, **properties)
        assert caught.value.status == 400, properties
        body = error_of(caught.value)
        assert body["category"] == "VALIDATION_ERROR"
        assert body["errors"][0]["in"] == name
        assert f"'{name}'" in body["message"] or f'"{name}"' in body["message"]


def test_duplicate_email_is_a_conflict(hubspot: HubSpot) -> None:
    first = create(hubspot, email="twin@example.com")
    with pytest.raises(ApiException) as caught:
        create(hubspot, email="TWIN@example.com")
    assert caught.value.status == 409
    body = error_of(caught.value)
    assert body["category"] == "CONFLICT"
    assert first.id in body["message"]
    other = create(hubspot, email="other@example.com")
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.update(
            other.id, SimplePublicObjectInput(properties={"email": "twin@example.com"})
        )
    assert caught.value.status == 409


def test_authentication_and_scopes(
    base_url: str, api: Api, hubspot_with_scopes: Callable[..., HubSpot]
) -> None:
    for client in (client_for(base_url, "not-a-key"), HubSpot(host=base_url)):
        with pytest.raises(ApiException) as caught:
            client.crm.contacts.basic_api.get_page()
        assert caught.value.status == 401
        assert error_of(caught.value)["category"] == "INVALID_AUTHENTICATION"

    reader = hubspot_with_scopes("subscriptions.view")
    assert reader.crm.contacts.basic_api.get_page().results == []
    with pytest.raises(ApiException) as caught:
        create(reader, email="nope@example.com")
    assert caught.value.status == 403
    body = error_of(caught.value)
    assert body["category"] == "MISSING_SCOPES"
    assert "subscriptions.edit" in body["message"]

    unrelated = hubspot_with_scopes("billing.edit")
    for call in (
        lambda: unrelated.crm.contacts.basic_api.get_page(),
        lambda: unrelated.crm.contacts.search_api.do_search(PublicObjectSearchRequest()),
    ):
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403
        assert "subscriptions.view" in error_of(caught.value)["message"]


def test_another_accounts_records_are_not_found(
    hubspot: HubSpot, other_api: Api, base_url: str
) -> None:
    mine = create(hubspot, email="mine@example.com")
    theirs = client_for(base_url, other_api.key)
    with pytest.raises(ApiException) as caught:
        theirs.crm.contacts.basic_api.get_by_id(mine.id)
    assert caught.value.status == 404
    assert theirs.crm.contacts.basic_api.get_page().results == []


def test_malformed_requests(api: Api, base_url: str) -> None:
    headers = {"Authorization": f"Bearer {api.key}"}
    with httpx.Client(base_url=base_url, headers=headers) as http:
        broken = http.post(
            "/crm/v3/objects/contacts",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert broken.status_code == 400
        assert broken.json()["category"] == "VALIDATION_ERROR"
        unknown = http.post("/crm/v3/objects/contacts", json={"propertiez": {}})
        assert unknown.status_code == 400
        assert "propertiez" in unknown.json()["message"]
        bad_after = http.get("/crm/v3/objects/contacts", params={"after": "!!"})
        assert bad_after.status_code == 400
        assert bad_after.json()["errors"][0]["in"] == "after"
        wrong_method = http.put("/crm/v3/objects/contacts/cont_x", json={})
        assert wrong_method.status_code == 405
        assert wrong_method.json()["status"] == "error"
        # The REST API keeps its own shape.
        rest = http.get("/api/v1/contacts/cont_doesnotexist")
        assert rest.status_code == 404
        assert rest.json() == {
            "error": {"type": "not_found", "message": "No such contact: 'cont_doesnotexist'"}
        }


def test_idempotency_and_rate_limit_headers_apply(api: Api, base_url: str) -> None:
    headers = {"Authorization": f"Bearer {api.key}", "Idempotency-Key": "hub-create-1"}
    body = {"properties": {"email": "once@example.com"}}
    with httpx.Client(base_url=base_url, headers=headers) as http:
        first = http.post("/crm/v3/objects/contacts", json=body)
        again = http.post("/crm/v3/objects/contacts", json=body)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        assert "RateLimit-Limit" in first.headers
        # Also under HubSpot's names, which its clients and connectors pace themselves by.
        assert first.headers["X-HubSpot-RateLimit-Max"] == first.headers["RateLimit-Limit"]
        assert (
            first.headers["X-HubSpot-RateLimit-Remaining"] == first.headers["RateLimit-Remaining"]
        )
        assert int(first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"]) > 0
        changed = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@x.io"}})
        assert changed.status_code == 409
        assert changed.json()["category"] == "CONFLICT"
    assert len(api.ok(api.get("/contacts"))["data"]) == 1


def test_middleware_refusals_are_in_hubspot_shape(api: Api, base_url: str) -> None:
    headers = {"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers) as http:
        nul = http.post(
            "/crm/v3/objects/contacts", content=b'{"properties": {"firstname": "A\\u0000"}}'
        )
        assert nul.status_code == 400
        assert nul.json()["category"] == "VALIDATION_ERROR"
        assert "NUL" in nul.json()["message"]
        long_key = http.post(
            "/crm/v3/objects/contacts",
            json={"properties": {"email": "k@example.com"}},
            headers={"Idempotency-Key": "k" * 300},
        )
        assert long_key.status_code == 400
        assert long_key.json()["status"] == "error"


def test_rate_limit_and_unexpected_failures_in_hubspot_shape(
    app: FastAPI, database_url: str, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        database_url=database_url,
        base_url="http://testserver",
        smtp_url=None,
        api_limit_per_key="2 per minute",
    )
    limited = create_app(settings, migrate_db=False)
    auth = {"Authorization": f"Bearer {api.key}"}
    # Counters are windows of real time: a moment of its own, standing still.
    moment = datetime(2032, 1, 1, tzinfo=UTC) + timedelta(days=secrets.randbelow(10_000))
    try:
        with time_machine.travel(moment, tick=False):
            http = TestClient(limited, raise_server_exceptions=False)
            for _ in range(2):
                assert http.get("/crm/v3/objects/contacts", headers=auth).status_code == 200
            refused = http.get("/crm/v3/objects/contacts", headers=auth)
        assert refused.status_code == 429
        assert refused.json()["category"] == "RATE_LIMITS"
        assert refused.headers["Retry-After"] == "60"
        assert refused.headers["X-HubSpot-RateLimit-Max"] == "2"
        assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert refused.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "60000"
    finally:
        limited.state.engine.dispose()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hubspot_service, "list_page", broken)
    failed = TestClient(app, raise_server_exceptions=False).get(
        "/crm/v3/objects/contacts", headers=auth
    )
    assert failed.status_code == 500
    assert failed.json()["category"] == "INTERNAL_ERROR"
    assert failed.json()["message"] == "Something went wrong on our side"
