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

from tests.conftest import Api
from tests.servers import serving


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
