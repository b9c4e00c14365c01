from __future__ import annotations

from tests.conftest import Api


def test_create_and_get_product(api: Api) -> None:
    created = api.ok(
        api.post(
            "/products",
            {
                "name": "Just one more cup - 1 KG",
                "unit_price": "25.00",
                "currency": "USD",
                "billing_frequency": "monthly",
            },
        )
    )
    assert created["id"].startswith("prod_")
    assert created["unit_price"] == "25.00"
    assert created["billing_frequency"] == "monthly"
    fetched = api.ok(api.get(f"/products/{created['id']}"))
    assert fetched == created
