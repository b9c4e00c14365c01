"""The text search and currency filter of the product library (catalog.service), used by the
web pages."""

from __future__ import annotations

from typing import Any

from cadency.accounts.models import Account
from cadency.catalog import service
from tests.conftest import Api


def product_names(
    session_factory: Any,
    account_id: int,
    query: str | None,
    *,
    archived: bool | None = None,
    currency: str | None = None,
) -> set[str]:
    with session_factory() as session:
        account = session.get(Account, account_id)
        rows, _, _ = service.list_products(
            session,
            account,
            archived=archived,
            limit=100,
            cursor=None,
            currency=currency,
            query=query,
        )
        return {row.name for row in rows}


def test_products_match_name_sku_or_description(api: Api, session_factory: Any) -> None:
    coffee = {"name": "Coffee beans", "unit_price": "25.00", "currency": "USD", "sku": "CB_1KG"}
    tea = {"name": "Green tea", "unit_price": "9.50", "currency": "EUR", "description": "Sencha"}
    mug = {"name": "Mug", "unit_price": "5.00", "currency": "USD", "sku": "MUG-1"}
    created = [api.ok(api.post("/products", body)) for body in (coffee, tea, mug)]
    api.ok(api.patch(f"/products/{created[2]['id']}", {"archived": True}))
    account = api.account_id

    assert product_names(session_factory, account, "BEANS") == {"Coffee beans"}
    assert product_names(session_factory, account, "cb_1") == {"Coffee beans"}
    assert product_names(session_factory, account, "sench") == {"Green tea"}
    # `_` is not a wildcard: "G_1" does not match "MUG-1".
    assert product_names(session_factory, account, "G_1") == set()
    assert product_names(session_factory, account, "1") == {"Coffee beans", "Mug"}
    assert product_names(session_factory, account, "1", archived=False) == {"Coffee beans"}
    assert product_names(session_factory, account, "e", currency="EUR") == {"Green tea"}
    assert product_names(session_factory, account, None, currency="USD") == {
        "Coffee beans",
        "Mug",
    }
    assert product_names(session_factory, account, " ") == {"Coffee beans", "Green tea", "Mug"}
