"""The Stripe adapter's tests run against localstripe (tests/stripe_server.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.stripe_server import LocalStripe, StripeAccount, shared, use_stripe


@pytest.fixture
def localstripe(request: pytest.FixtureRequest) -> LocalStripe:
    return shared(request.config)


@pytest.fixture
def stripe_account(api: Api, localstripe: LocalStripe) -> StripeAccount:
    """A test-mode account whose processor is Stripe (localstripe)."""
    return use_stripe(api, localstripe)


@pytest.fixture
def contact_id(api: Api) -> Any:
    contact = api.ok(
        api.post("/contacts", {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"})
    )
    return contact["id"]
