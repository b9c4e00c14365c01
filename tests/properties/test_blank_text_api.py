"""Labels, groups and options made only of spaces are refused: they would show as nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cadency.properties import service as properties
from tests.conftest import Api

TIER = {"name": "tier", "label": "Tier", "field_type": "select",
        "options": [{"value": "basic", "label": "Basic"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"label": "   "}, "label"),
        ({"group": " "}, "group"),
        ({"options": [{"value": " ", "label": "Basic"}]}, "options.0.value"),
        ({"options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "\u3000"}]},
         "options.1.label"),
    ],
)  # fmt: skip
def test_blank_text_is_refused_on_create(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.post("/properties/subscriptions", {**TIER, **body})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["message"] == f"'{param}' cannot be blank"
    assert api.get("/properties/subscriptions/tier").status_code == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"label": "  "}, "label"),
        ({"group": "   "}, "group"),
        ({"options": [{"value": "basic", "label": " "}]}, "options.0.label"),
    ],
)
def test_blank_text_is_refused_on_update(api: Api, body: dict[str, Any], param: str) -> None:
    created = api.ok(api.post("/properties/subscriptions", TIER))
    response = api.patch("/properties/subscriptions/tier", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    assert api.ok(api.get("/properties/subscriptions/tier")) == created


def test_count_and_default_group(api: Api, session_factory: Any) -> None:
    api.ok(api.post("/properties/companies", {**TIER, "group": "sales"}))
    api.ok(
        api.post("/properties/companies", {"name": "size", "label": "Size", "field_type": "number"})
    )
    with session_factory() as session:
        assert properties.count_definitions(session, api.account_id, "companies") == 2
        assert properties.count_definitions(session, api.account_id, "contacts") == 0
    assert properties.default_group("companies") == "company_information"
    assert api.ok(api.get("/properties/companies/size"))["group"] == "company_information"
    assert api.ok(api.get("/properties/companies/tier"))["group"] == "sales"
