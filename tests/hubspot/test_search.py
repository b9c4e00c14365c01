"""POST /crm/v3/objects/contacts/search: HubSpot's filterGroups over the one filter language,
on built-in properties (HubSpot's names) and custom properties (their own names)."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
)

from tests.conftest import Api, pin_clock
from tests.hubspot.conftest import error_of

PEOPLE = [
    {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "seats": "5",
     "tier": "pro", "notes": "golden customer"},
    {"email": "grace@navy.example", "firstname": "Grace", "lastname": "Hopper", "seats": "12",
     "tier": "basic"},
    {"email": "alan@example.org", "firstname": "Alan", "seats": "20"},
    {"email": "edsger@example.nl", "lastname": "Dijkstra"},
]  # fmt: skip


@pytest.fixture
def people(hubspot: HubSpot, api: Api) -> dict[str, str]:
    """The people above, by email → contact ID."""
    for body in (
        {"name": "seats", "label": "Seats", "field_type": "number"},
        {"name": "notes", "label": "Notes", "field_type": "text"},
        {"name": "tier", "label": "Tier", "field_type": "select",
         "options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}]},
    ):  # fmt: skip
        assert api.post("/properties/contacts", body).status_code == 200
    created = hubspot.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties=p) for p in PEOPLE]
        )
    )
    return {r.properties["email"]: r.id for r in created.results}


def search(hubspot: HubSpot, *filters: dict[str, Any], **request: Any) -> Any:
    groups = [FilterGroup(filters=[Filter(**f) for f in filters])] if filters else None
    return hubspot.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=groups, **request)
    )


def emails(hubspot: HubSpot, *filters: dict[str, Any], **request: Any) -> set[str]:
    found = search(hubspot, *filters, properties=["email"], **request)
    assert found.total == len(found.results)
    return {r.properties["email"] for r in found.results}


def f(prop: str, operator: str, **rest: Any) -> dict[str, Any]:
    return {"property_name": prop, "operator": operator, **rest}


ALL = {p["email"] for p in PEOPLE}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([f("firstname", "EQ", value="ada")], {"ada@example.com"}),
        ([f("firstname", "NEQ", value="Ada")], ALL - {"ada@example.com"}),
        ([f("seats", "LT", value="12")], {"ada@example.com"}),
        ([f("seats", "LTE", value="12")], {"ada@example.com", "grace@navy.example"}),
        ([f("seats", "GT", value="12")], {"alan@example.org"}),
        ([f("seats", "GTE", value="12")], {"grace@navy.example", "alan@example.org"}),
        (
            [f("seats", "BETWEEN", value="5", high_value="12")],
            {"ada@example.com", "grace@navy.example"},
        ),
        ([f("tier", "IN", values=["pro", "basic"])], {"ada@example.com", "grace@navy.example"}),
        ([f("tier", "NOT_IN", values=["pro"])], ALL - {"ada@example.com"}),
        ([f("lastname", "HAS_PROPERTY")], ALL - {"alan@example.org"}),
        ([f("firstname", "NOT_HAS_PROPERTY")], {"edsger@example.nl"}),
        ([f("notes", "CONTAINS_TOKEN", value="golden")], {"ada@example.com"}),
        ([f("email", "CONTAINS_TOKEN", value="navy")], {"grace@navy.example"}),
        ([f("notes", "NOT_CONTAINS_TOKEN", value="gold*")], ALL - {"ada@example.com"}),
        # AND within a group.
        ([f("seats", "GTE", value="5"), f("tier", "HAS_PROPERTY")], {
            "ada@example.com", "grace@navy.example"}),
    ],
)  # fmt: skip
def test_each_operator(
    hubspot: HubSpot, people: dict[str, str], filters: list[dict[str, Any]], expected: set[str]
) -> None:
    assert emails(hubspot, *filters) == expected


def test_or_of_groups_ids_and_dates(hubspot: HubSpot, people: dict[str, str], api: Api) -> None:
    found = hubspot.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(filters=[Filter(**f("firstname", "EQ", value="Ada"))]),
                FilterGroup(filters=[Filter(**f("lastname", "EQ", value="hopper"))]),
            ],
            properties=["email"],
        )
    )
    assert {r.properties["email"] for r in found.results} == {
        "ada@example.com",
        "grace@navy.example",
    }
    ada = people["ada@example.com"]
    assert emails(hubspot, f("hs_object_id", "EQ", value=ada)) == {"ada@example.com"}
    # createdate takes ISO 8601 and epoch milliseconds, as HubSpot's clients send either.
    assert emails(hubspot, f("createdate", "GTE", value="2000-01-01T00:00:00Z")) == ALL
    assert emails(hubspot, f("createdate", "LT", value="946684800000")) == set()
    assert emails(hubspot, f("lastmodifieddate", "GT", value="946684800000")) == ALL


def test_query_sorts_and_paging(hubspot: HubSpot, people: dict[str, str]) -> None:
    assert emails(hubspot, query="LOVE") == {"ada@example.com"}
    assert emails(hubspot, query="example") == ALL
    ordered = search(
        hubspot,
        sorts=[{"propertyName": "seats", "direction": "DESCENDING"}],
        properties=["email", "seats"],
    )
    # Records without a value sort last, either way.
    assert [r.properties["email"] for r in ordered.results] == [
        "alan@example.org",
        "grace@navy.example",
        "ada@example.com",
        "edsger@example.nl",
    ]
    seen: list[str] = []
    after = None
    while True:
        page = search(hubspot, sorts=["email"], properties=["email"], limit=3, after=after)
        assert page.total == 4
        seen += [r.properties["email"] for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == sorted(ALL)

    # A text search counts what it finds in the pass that sorts it: the same totals, page by
    # page, and past the last page.
    seen = []
    after = None
    while True:
        page = search(hubspot, sorts=["-email"], properties=["email"], limit=1, after=after,
                      query="example")  # fmt: skip
        assert page.total == 4
        seen += [r.properties["email"] for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == sorted(ALL, reverse=True)
    beyond = search(hubspot, properties=["email"], limit=2, after="10", query="example")
    assert (beyond.total, beyond.results) == (4, [])


def test_bad_searches_are_validation_errors(hubspot: HubSpot, people: dict[str, str]) -> None:
    for filters, where in (
        ([f("nonexistent", "EQ", value="x")], "filterGroups.0.filters.0.propertyName"),
        ([f("seats", "EQ", value="many")], "filterGroups.0.filters.0.value"),
        ([f("firstname", "GT", value="A")], "filterGroups.0.filters.0.operator"),
        ([f("tier", "EQ", value="gold")], "filterGroups.0.filters.0.value"),
    ):
        with pytest.raises(ApiException) as caught:
            search(hubspot, *filters)
        assert caught.value.status == 400
        body = error_of(caught.value)
        assert body["category"] == "VALIDATION_ERROR"
        assert body["errors"][0]["in"] == where
    with pytest.raises(ApiException) as caught:
        search(hubspot, limit=201)
    assert caught.value.status == 400
    assert len(search(hubspot, limit=200).results) == 4
    with pytest.raises(ApiException) as caught:
        search(hubspot, sorts=["nonexistent"])
    assert caught.value.status == 400
    assert error_of(caught.value)["errors"][0]["in"] == "sorts.0.propertyName"
    with pytest.raises(ApiException) as caught:
        search(hubspot, f("seats", "BETWEEN", value="12", high_value="5"))
    assert error_of(caught.value)["errors"][0]["in"] == "filterGroups.0.filters.0.highValue"


def test_days_of_the_account_clock(hubspot: HubSpot, api: Api, session_factory: Any) -> None:
    from datetime import UTC, datetime

    pin_clock(session_factory, api.account_id, datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    created = hubspot.crm.contacts.basic_api.create(
        {"properties": {"email": "clock@example.com"}}  # a plain dict is fine for the client
    )
    # A test-mode account's records carry its clock's time, in HubSpot's format.
    assert created.properties["createdate"] == "2026-03-01T10:00:00.000Z"
    assert emails(hubspot, f("createdate", "EQ", value="1772359200000")) == {"clock@example.com"}
