from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


def make_product(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Coffee casual - 250g", "unit_price": "12.50", "billing_frequency": "monthly"}
    return api.ok(api.post("/products", {**body, **fields}))


def test_product_defaults_to_the_account_currency_and_one_time(api: Api) -> None:
    product = api.ok(api.post("/products", {"name": "Grinder", "unit_price": "80"}))
    assert product["currency"] == "USD"
    assert product["unit_price"] == "80.00"
    assert product["billing_frequency"] is None
    assert product["archived"] is False


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"unit_price": 12.5}, "unit_price"),
        ({"unit_price": "12.505"}, "unit_price"),
        ({"unit_price": "-1.00"}, "unit_price"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"billing_frequency": "yearly"}, "billing_frequency"),
        ({"archived": "false"}, "archived"),
        ({"name": ""}, "name"),
        ({"colour": "brown"}, "colour"),
    ],
)
def test_product_validation_names_the_field(api: Api, fields: dict[str, Any], param: str) -> None:
    body = {"name": "Beans", "unit_price": "12.50", **fields}
    response = api.post("/products", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    assert api.ok(api.get("/products"))["data"] == []


def test_patch_product_and_archived_filter(api: Api) -> None:
    kept = make_product(api)
    old = make_product(api, name="Old blend")
    patched = api.ok(api.patch(f"/products/{old['id']}", {"archived": True, "unit_price": "9.99"}))
    assert patched["archived"] is True and patched["unit_price"] == "9.99"
    active = api.ok(api.get("/products", params={"archived": "false"}))["data"]
    assert [p["id"] for p in active] == [kept["id"]]
    assert api.patch(f"/products/{old['id']}", {"name": None}).status_code == 422
    assert api.patch(f"/products/{old['id']}", {"currency": "EUR"}).status_code == 422


def test_kwd_and_jpy_products_keep_their_precision(api: Api) -> None:
    kwd = make_product(api, currency="KWD", unit_price="1.250")
    jpy = make_product(api, currency="JPY", unit_price="1200")
    assert (kwd["unit_price"], jpy["unit_price"]) == ("1.250", "1200")
    assert (
        api.post("/products", {"name": "x", "unit_price": "1.5", "currency": "JPY"}).status_code
        == 422
    )


def test_tax_rates(api: Api, other_api: Api) -> None:
    rate = api.ok(
        api.post("/tax-rates", {"name": "BTW hoog", "percentage": "21", "jurisdiction": "NL"})
    )
    assert rate["id"].startswith("txr_")
    assert rate["percentage"] == "21.00"
    fine = api.ok(api.post("/tax-rates", {"name": "Odd", "percentage": "8.875"}))
    assert fine["percentage"] == "8.875"
    assert [r["id"] for r in api.ok(api.get("/tax-rates"))["data"]] == [fine["id"], rate["id"]]
    assert api.ok(api.get(f"/tax-rates/{rate['id']}")) == rate
    for bad in ("101", "21.5%", "-1", 21):
        response = api.post("/tax-rates", {"name": "Bad", "percentage": bad})
        assert response.status_code == 422 and response.json()["error"]["param"] == "percentage"
    assert other_api.get(f"/tax-rates/{rate['id']}").status_code == 404


def test_fees(api: Api) -> None:
    fixed = api.ok(
        api.post("/fees", {"name": "Card surcharge", "fee_type": "fixed", "amount": "0.30"})
    )
    assert (fixed["amount"], fixed["currency"], fixed["percentage"]) == ("0.30", "USD", None)
    pct = api.ok(
        api.post("/fees", {"name": "Card fee", "fee_type": "percentage", "percentage": "2.9"})
    )
    assert (pct["amount"], pct["percentage"]) == (None, "2.90")
    assert api.post("/fees", {"name": "x", "fee_type": "fixed"}).status_code == 422
    mixed = api.post(
        "/fees", {"name": "x", "fee_type": "percentage", "percentage": "1", "amount": "1.00"}
    )
    assert mixed.status_code == 422
    assert api.ok(api.get(f"/fees/{fixed['id']}")) == fixed
    assert len(api.ok(api.get("/fees"))["data"]) == 2


def test_catalog_is_private_to_each_account(api: Api, other_api: Api) -> None:
    product = make_product(api)
    assert other_api.get(f"/products/{product['id']}").status_code == 404
    assert other_api.patch(f"/products/{product['id']}", {"name": "Mine"}).status_code == 404
    assert other_api.ok(other_api.get("/products"))["data"] == []
    assert api.ok(api.get(f"/products/{product['id']}"))["name"] == "Coffee casual - 250g"


def test_product_list_pagination(api: Api) -> None:
    ids = [make_product(api, name=f"Blend {i}")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.ok(api.get("/products", params=params))
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == list(reversed(ids))
    assert api.get("/products", params={"limit": 101}).status_code == 422
