from __future__ import annotations

from typing import Any

from cadency.accounts.models import Account
from cadency.properties import service as properties_service
from cadency.properties.schemas import PropertyCreate
from tests.conftest import Api
from tests.crm.test_contacts_api import error


def test_create_and_get_company(api: Api) -> None:
    created = api.ok(
        api.post(
            "/companies",
            {
                "name": "Analytical Engines Ltd",
                "domain": "Engines.Example.CO.UK",
                "address": {"line1": "1 Dorset St", "city": "London", "country": "GB"},
            },
        )
    )
    assert created["id"].startswith("comp_")
    assert created["object"] == "company"
    assert created["name"] == "Analytical Engines Ltd"
    assert created["domain"] == "engines.example.co.uk"
    assert created["address"] == {
        "line1": "1 Dorset St",
        "line2": None,
        "city": "London",
        "postal_code": None,
        "region": None,
        "country": "GB",
    }
    assert created["properties"] == {}
    assert api.ok(api.get(f"/companies/{created['id']}")) == created


def test_company_validation(api: Api) -> None:
    assert error(api.post("/companies", {"domain": "example.com"}), 422)["param"] == "name"
    assert error(api.post("/companies", {"name": ""}), 422)["param"] == "name"
    for bad in ("https://example.com", "example", "exa mple.com", "example.com/path"):
        body = error(api.post("/companies", {"name": "X", "domain": bad}), 422)
        assert body["param"] == "domain", bad
    body = error(api.post("/companies", {"name": "X", "address": {"country": "nl"}}), 422)
    assert body["param"] == "address.country"
    body = error(api.post("/companies", {"name": "X", "vat_id": "NL123"}), 422)
    assert body["param"] == "vat_id"


def test_patch_company(api: Api) -> None:
    company = api.ok(api.post("/companies", {"name": "Old name", "domain": "old.example"}))
    updated = api.ok(api.patch(f"/companies/{company['id']}", {"name": "New name"}))
    assert updated["name"] == "New name"
    assert updated["domain"] == "old.example"
    cleared = api.ok(api.patch(f"/companies/{company['id']}", {"domain": None}))
    assert cleared["domain"] is None and cleared["name"] == "New name"
    assert error(api.patch(f"/companies/{company['id']}", {"name": None}), 422)["param"] == "name"
    assert api.ok(api.get(f"/companies/{company['id']}"))["name"] == "New name"


def test_list_companies_pagination_and_domain_filter(api: Api) -> None:
    ids = [
        api.ok(api.post("/companies", {"name": f"C{i}", "domain": f"c{i}.example"}))["id"]
        for i in range(3)
    ]
    first = api.ok(api.get("/companies", {"limit": 2}))
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    second = api.ok(api.get("/companies", {"limit": 2, "cursor": first["next_cursor"]}))
    assert [c["id"] for c in second["data"]] == [ids[0]]
    assert second["has_more"] is False and second["next_cursor"] is None
    filtered = api.ok(api.get("/companies", {"domain": "C1.example"}))
    assert [c["id"] for c in filtered["data"]] == [ids[1]]


def test_company_isolation(api: Api, other_api: Api) -> None:
    company = api.ok(api.post("/companies", {"name": "Mine"}))
    assert error(other_api.get(f"/companies/{company['id']}"), 404)["type"] == "not_found"
    error(other_api.patch(f"/companies/{company['id']}", {"name": "Stolen"}), 404)
    assert other_api.ok(other_api.get("/companies"))["data"] == []
    assert api.ok(api.get(f"/companies/{company['id']}"))["name"] == "Mine"


def test_company_custom_properties(api: Api, session_factory: Any) -> None:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        properties_service.create_definition(
            session,
            account,
            "companies",
            PropertyCreate(name="employees", label="Employees", field_type="number"),
            plan_limit=None,  # not enrolled in a plan
        )
        session.commit()
    company = api.ok(api.post("/companies", {"name": "Big", "properties": {"employees": 250}}))
    assert company["properties"] == {"employees": 250}
    body = error(
        api.patch(f"/companies/{company['id']}", {"properties": {"employees": "many"}}), 422
    )
    assert body["param"] == "properties.employees"
