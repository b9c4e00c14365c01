"""Builders for payment link and conversion tests, all through the HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from cadency.checkout.models import PaymentLink
from cadency.crm.models import Contact
from cadency.invoices.models import Invoice
from cadency.kit.outbox import OutboxMessage
from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions.models import LineItem, Subscription, SubscriptionEvent
from tests.conftest import Api

CARD = "4242424242424242"
DECLINED_AT_ATTACH = "4000000000000002"
CHARGES_FAIL = "4000000000000341"


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def card(number: str = CARD) -> dict[str, Any]:
    return {
        "type": "card",
        "card": {"number": number, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
    }


def bank(account_number: str = "000123456789") -> dict[str, Any]:
    return {
        "type": "bank_debit",
        "bank_debit": {"routing_number": "110000000", "account_number": account_number},
    }


def product(api: Api, name: str, price: str, frequency: str | None) -> dict[str, Any]:
    body = {"name": name, "unit_price": price, "currency": "USD", "billing_frequency": frequency}
    created: dict[str, Any] = api.ok(api.post("/products", body))
    return created


def catalog(api: Api) -> dict[str, dict[str, Any]]:
    """A monthly, an annual and a one-time product."""
    return {
        "monthly": product(api, "Coffee subscription", "10.00", "monthly"),
        "annual": product(api, "Grinder service plan", "100.00", "annually"),
        "setup": product(api, "Welcome kit", "5.00", None),
    }


def link(api: Api, line_items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body = {"name": "Coffee club", "currency": "USD", "line_items": line_items, **fields}
    created: dict[str, Any] = api.ok(api.post("/payment-links", body))
    return created


def checkout_body(
    email: str = "ann@example.com", payment_method: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "contact": {"email": email, "first_name": "Ann", "last_name": "Smith"},
        "payment_method": payment_method or card(),
        **fields,
    }


def checkout(api: Api, link_id: str, **fields: Any) -> dict[str, Any]:
    done: dict[str, Any] = api.ok(
        api.post(f"/payment-links/{link_id}/checkout", checkout_body(**fields))
    )
    return done


def row_counts(session_factory: Any, account_id: int) -> dict[str, int]:
    """Rows of the account in every table a checkout or conversion writes."""
    models: dict[str, Any] = {
        "contacts": Contact,
        "payment_methods": PaymentMethod,
        "subscriptions": Subscription,
        "line_items": LineItem,
        "invoices": Invoice,
        "payments": Payment,
        "outbox": OutboxMessage,
        "events": SubscriptionEvent,
        "payment_links": PaymentLink,
    }
    with session_factory() as session:
        return {
            name: session.scalar(
                select(func.count()).select_from(model).where(model.account_id == account_id)
            )
            or 0
            for name, model in models.items()
        }


def outbox(session_factory: Any, account_id: int, type: str) -> list[dict[str, Any]]:
    with session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.account_id == account_id, OutboxMessage.type == type)
            .order_by(OutboxMessage.id)
        ).all()
        return [dict(row) for row in rows]
