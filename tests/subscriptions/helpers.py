"""Builders for subscription tests, all through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def product(
    api: Api,
    name: str = "Just one more cup - 1 KG",
    price: str = "25.00",
    frequency: str | None = "monthly",
    currency: str = "USD",
) -> dict[str, Any]:
    return api.ok(
        api.post(
            "/products",
            {
                "name": name,
                "unit_price": price,
                "currency": currency,
                "billing_frequency": frequency,
            },
        )
    )


def contact(api: Api, email: str = "emma@example.com") -> dict[str, Any]:
    return api.ok(
        api.post("/contacts", {"email": email, "first_name": "Emma", "last_name": "Jansen"})
    )


def card(api: Api, contact_id: str, number: str = "4242424242424242") -> dict[str, Any]:
    return api.ok(
        api.post(
            f"/contacts/{contact_id}/payment-methods",
            {
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            },
        )
    )


def subscription_body(api: Api, **overrides: Any) -> dict[str, Any]:
    """A valid body: one monthly product, charged automatically to a fresh contact's card."""
    c = contact(api, overrides.pop("email", "emma@example.com"))
    pm = card(api, c["id"])
    p = product(api)
    body: dict[str, Any] = {
        "contact_id": c["id"],
        "currency": "USD",
        "line_items": [{"product_id": p["id"]}],
        "collection_method": "charge_automatically",
        "payment_method_id": pm["id"],
    }
    body.update(overrides)
    return body


def create_subscription(api: Api, **overrides: Any) -> dict[str, Any]:
    return api.ok(api.post("/subscriptions", subscription_body(api, **overrides)))
