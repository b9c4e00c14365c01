"""Only currencies payments are made in are accepted (issue 11): ISO 4217 testing, metal, fund
and withdrawn codes are refused with a 422 naming the field, wherever a currency is given."""

from __future__ import annotations

from typing import Any

import pytest

from cadency.accounts import service
from cadency.kit.errors import InvalidRequest
from tests.conftest import Api

NOT_PAID_IN = ["XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "BOV", "XXX", "CLF", "USN", "DEM"]


def refused(response: Any, param: str, code: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert f"'{code}' is not a currency payments are made in" in error["message"]


@pytest.mark.parametrize("code", NOT_PAID_IN)
def test_an_account_cannot_be_priced_in_a_non_transaction_code(
    code: str, session_factory: Any
) -> None:
    with session_factory() as session, pytest.raises(InvalidRequest) as raised:
        service.create_account(session, name="Gold shop", currency=code)
    assert raised.value.param == "currency"
    assert code in raised.value.message


@pytest.mark.parametrize("code", ["XTS", "XAU", "BOV"])
def test_the_api_refuses_non_transaction_codes_everywhere(api: Api, code: str) -> None:
    refused(api.patch("/account/settings", {"currency": code}), "currency", code)
    assert api.ok(api.get("/account/settings"))["currency"] == "USD"
    product = {"name": "Bar", "unit_price": "10.00", "currency": code}
    refused(api.post("/products", product), "currency", code)
    contact = api.ok(api.post("/contacts", {"email": "gold@example.com"}))
    subscription = {
        "contact_id": contact["id"],
        "currency": code,
        "collection_method": "send_invoice",
        "line_items": [{"name": "Bar", "unit_price": "10.00", "billing_frequency": "monthly"}],
    }
    refused(api.post("/subscriptions", subscription), "currency", code)
    assert api.ok(api.get("/subscriptions"))["data"] == []


@pytest.mark.parametrize("code", ["EUR", "JPY", "KWD", "XOF"])
def test_currencies_people_pay_in_are_accepted(api: Api, code: str) -> None:
    product = {"name": "Beans", "unit_price": "10", "currency": code}
    assert api.ok(api.post("/products", product))["currency"] == code
