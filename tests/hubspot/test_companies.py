"""Companies through /crm/v3/objects/companies (and its type ID 0-2) with HubSpot's client."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects import ApiException as ObjectsApiException

from tests.conftest import Api
from tests.hubspot.conftest import error_of


def create(hubspot: HubSpot, **properties: Any) -> Any:
    return hubspot.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties=properties)
    )


def test_create_read_update(hubspot: HubSpot, api: Api) -> None:
    created = create(hubspot, name="Analytical Engines", domain="Engines.example", city="London")
    assert created.id.startswith("comp_")
    assert created.properties["name"] == "Analytical Engines"
    assert created.properties["domain"] == "engines.example"
    assert created.properties["city"] == "London"

    read = hubspot.crm.companies.basic_api.get_by_id(created.id)
    assert set(read.properties) == {
        "createdate",
        "domain",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
    }
    updated = hubspot.crm.companies.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"name": "Difference Engines"})
    )
    assert updated.properties["name"] == "Difference Engines"
    rest = api.ok(api.get(f"/companies/{created.id}"))
    assert rest["name"] == "Difference Engines"
    assert rest["domain"] == "engines.example"
    assert rest["address"]["city"] == "London"

    # A company needs a name, through /crm/v3 as through /api/v1.
    with pytest.raises(ApiException) as caught:
        hubspot.crm.companies.basic_api.update(
            created.id, SimplePublicObjectInput(properties={"name": ""})
        )
    assert caught.value.status == 400
    assert error_of(caught.value)["errors"][0]["in"] == "name"
    with pytest.raises(ApiException) as caught:
        create(hubspot, domain="no-name.example")
    assert caught.value.status == 400
    with pytest.raises(ApiException) as caught:
        create(hubspot, name="Bad", domain="http://not a domain")
    body = error_of(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert "domain" in body["message"]


def test_by_type_id(hubspot: HubSpot) -> None:
    created = create(hubspot, name="Typed")
    read = hubspot.crm.objects.basic_api.get_by_id("0-2", created.id)
    assert read.properties["name"] == "Typed"
    page = hubspot.crm.objects.basic_api.get_page("0-2")
    assert [r.id for r in page.results] == [created.id]
    with pytest.raises(ObjectsApiException) as caught:
        hubspot.crm.objects.basic_api.get_page("tickets")
    assert caught.value.status == 400
    assert "tickets" in error_of(caught.value)["message"]


def test_batches_and_paging(hubspot: HubSpot, api: Api) -> None:
    batch = hubspot.crm.companies.batch_api
    created = batch.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"name": f"Company {i:02d}"})
                for i in range(25)
            ]
        )
    )
    ids = [r.id for r in created.results]
    assert len(set(ids)) == 25
    read = batch.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids[:3]], properties=["name"]
        )
    )
    assert sorted(r.properties["name"] for r in read.results) == [
        "Company 00",
        "Company 01",
        "Company 02",
    ]
    batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=ids[0], properties={"domain": "zero.example"})]
        )
    )
    assert api.ok(api.get(f"/companies/{ids[0]}"))["domain"] == "zero.example"

    seen: list[str] = []
    after = None
    while True:
        page = hubspot.crm.companies.basic_api.get_page(limit=10, after=after)
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert sorted(seen) == sorted(ids)

    found = hubspot.crm.companies.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[Filter(property_name="name", operator="CONTAINS_TOKEN", value="0*")]
                )
            ],
            sorts=["-name"],
            properties=["name"],
            limit=3,
        )
    )
    assert found.total == 10  # Company 00 … Company 09
    assert [r.properties["name"] for r in found.results] == [
        "Company 09",
        "Company 08",
        "Company 07",
    ]
    assert found.paging.next.after == "3"


def test_associated_contacts_and_archive(hubspot: HubSpot) -> None:
    created = create(hubspot, name="Kept")
    read = hubspot.crm.companies.basic_api.get_by_id(created.id, associations=["contacts"])
    assert read.associations is None or read.associations == {}
    # No subscription belongs to it: archived (more in test_archive_and_deal_updates.py).
    hubspot.crm.companies.basic_api.archive(created.id)
    with pytest.raises(ApiException) as caught:
        hubspot.crm.companies.basic_api.get_by_id(created.id)
    assert caught.value.status == 404
    assert error_of(caught.value)["category"] == "OBJECT_NOT_FOUND"
    assert hubspot.crm.companies.basic_api.get_by_id(created.id, archived=True).archived is True
