"""The HubSpot-compatible surface driven by HubSpot's official Python client, unchanged, against
the app served by a real uvicorn (tests/servers.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException
from hubspot.crm.deals import SimplePublicObjectInputForCreate as NewDeal

from tests.conftest import Api
from tests.servers import serving
from tests.subscriptions.helpers import create_subscription


@pytest.fixture(scope="session")
def base_url(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


def client_for(base_url: str, key: str) -> HubSpot:
    """HubSpot's client, pointed at Cadency: the host replaces https://api.hubapi.com."""
    return HubSpot(access_token=key, host=base_url)


@pytest.fixture
def hubspot(api: Api, base_url: str) -> HubSpot:
    return client_for(base_url, api.key)


@pytest.fixture
def hubspot_with_scopes(
    api_with_scopes: Callable[..., Api], base_url: str
) -> Callable[..., HubSpot]:
    return lambda *scopes: client_for(base_url, api_with_scopes(*scopes).key)


def error_of(exc: ApiException) -> dict[str, Any]:
    """The body of a failed call, which must be HubSpot's error shape."""
    body: dict[str, Any] = json.loads(exc.body)
    assert body["status"] == "error"
    assert {"message", "correlationId", "category"} <= set(body)
    return body


@pytest.fixture
def records(hubspot: HubSpot, api: Api) -> dict[str, Any]:
    """A subscription, a contact, a company and a deal (with that contact), none linked."""
    sub = create_subscription(api, name="Coffee monthly")
    other = api.ok(api.post("/contacts", {"email": "partner@example.com"}))
    company = api.ok(api.post("/companies", {"name": "Roasters BV"}))
    deal = hubspot.crm.deals.basic_api.create(
        NewDeal(properties={"dealname": "Upsell", "contact_id": other["id"]})
    )
    return {"sub": sub["id"], "contact": other["id"], "company": company["id"], "deal": deal.id}
