"""A library product's name and price may be changed on a line item only with
`line_items.create_custom` (issue 11): otherwise the permission is sidestepped by picking any
product and typing another name and price. Repeating the product's own values is fine (forms
send them back)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.subscriptions.models import Subscription
from tests.conftest import Api

PERMISSION = "line_items.create_custom"


@pytest.fixture
def plan(api: Api) -> dict[str, Any]:
    body = {"name": "Coffee plan", "unit_price": "25.00", "billing_frequency": "monthly"}
    created: dict[str, Any] = api.ok(api.post("/products", body))
    return created


def forbidden(response: Any, param: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["type"] == "permission"
    assert PERMISSION in error["message"]
    assert error["param"] == param


def subscription_body(
    api: Api, item: dict[str, Any], email: str = "ann@example.com"
) -> dict[str, Any]:
    buyer = api.ok(api.post("/contacts", {"email": email}))
    return {
        "contact_id": buyer["id"],
        "currency": "USD",
        "collection_method": "send_invoice",
        "line_items": [item],
    }


@pytest.mark.parametrize(
    ("override", "param"),
    [({"unit_price": "0.01"}, "line_items.0.unit_price"), ({"name": "Gold"}, "line_items.0.name")],
)
def test_overriding_a_product_needs_the_custom_permission(
    api: Api,
    api_with_scopes: Callable[..., Api],
    plan: dict[str, Any],
    override: dict[str, str],
    param: str,
) -> None:
    editor = api_with_scopes("subscriptions.edit")
    item = {"product_id": plan["id"], **override}
    forbidden(editor.post("/subscriptions", subscription_body(editor, item)), param)
    assert api.ok(api.get("/subscriptions"))["data"] == []
    forbidden(editor.post("/deals", {"name": "Deal", "line_items": [item]}), param)
    link = {"name": "Link", "currency": "USD", "line_items": [item]}
    forbidden(editor.post("/payment-links", link), param)

    # With the permission the line is the user's to price.
    custom = api_with_scopes("subscriptions.edit", PERMISSION)
    body = subscription_body(custom, item, "cy@example.com")
    made = custom.ok(custom.post("/subscriptions", body))
    assert made["line_items"][0]["product_id"] == plan["id"]


def test_the_products_own_values_need_no_permission(
    api_with_scopes: Callable[..., Api], plan: dict[str, Any]
) -> None:
    editor = api_with_scopes("subscriptions.edit")
    item = {"product_id": plan["id"], "name": "Coffee plan", "unit_price": "25.0", "quantity": 2}
    made = editor.ok(editor.post("/subscriptions", subscription_body(editor, item)))
    assert (made["line_items"][0]["name"], made["line_items"][0]["unit_price"]) == (
        "Coffee plan",
        "25.00",
    )


def test_the_create_form_refuses_an_override_without_the_permission(
    api: Api, client: TestClient, session_factory: Any, plan: dict[str, Any]
) -> None:
    buyer = api.ok(api.post("/contacts", {"email": "bo@example.com"}))
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        user = account_service.create_user(
            session,
            account,
            email="limited@example.com",
            password="a long enough password 1",
            permissions=["subscriptions.view", "subscriptions.edit"],
        )
        token, row = account_service.start_session(session, user)
        csrf = row.csrf_token
        session.commit()
    form = {
        "csrf_token": csrf,
        "contact_id": buyer["id"],
        "currency": "USD",
        "collection_method": "send_invoice",
        "payment_terms": "due_on_receipt",
        "line": "a1",
        "line.a1.product_id": plan["id"],
        "line.a1.name": "Coffee plan",
        "line.a1.unit_price": "0.01",
        "line.a1.quantity": "1",
        "line.a1.billing_frequency": "monthly",
        "line.a1.billing_terms": "auto_renew",
    }
    client.cookies.set("cadency_session", token)
    try:
        refused = client.post("/subscriptions/new", data=form, follow_redirects=False)
        assert refused.status_code == 422
        assert PERMISSION in refused.text
        with session_factory() as session:
            count = session.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(Subscription.account_id == api.account_id)
            )
        assert count == 0
        # The product's own price goes through.
        form["line.a1.unit_price"] = "25.00"
        made = client.post("/subscriptions/new", data=form, follow_redirects=False)
        assert made.status_code == 303, made.text
    finally:
        client.cookies.clear()
