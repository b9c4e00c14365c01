"""Deals changed, and contacts, companies and deals archived, through /crm/v3/objects with
HubSpot's official client: the same records /api/v1 and the web app show."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from hubspot import HubSpot
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInputForCreate
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInput as DealBatch
from hubspot.crm.deals import BatchInputSimplePublicObjectId as DealIds
from hubspot.crm.deals import SimplePublicObjectBatchInput as DealBatchItem
from hubspot.crm.deals import SimplePublicObjectId as DealId
from hubspot.crm.deals import SimplePublicObjectInput as DealInput
from hubspot.crm.deals import SimplePublicObjectInputForCreate as NewDeal
from hubspot.crm.objects import ApiException as ObjectsApiException

from tests.conftest import Api
from tests.hubspot.conftest import error_of
from tests.subscriptions.helpers import create_subscription
from tests.web.http import signed_in

# --------------------------------------------------------------------------- deal updates


def test_deal_moves_through_stages_and_is_renamed(hubspot: HubSpot, api: Api) -> None:
    deals = hubspot.crm.deals.basic_api
    buyer = api.ok(api.post("/contacts", {"email": "buyer@example.com"}))
    company = api.ok(api.post("/companies", {"name": "Buyer Co"}))
    created = deals.create(NewDeal(properties={"dealname": "Annual plan"}))
    assert deals.get_by_id(created.id).properties["dealstage"] == "appointmentscheduled"

    updated = deals.update(
        created.id,
        DealInput(
            properties={
                "dealname": "Annual plan, 20 seats",
                "dealstage": "closedwon",
                "contact_id": buyer["id"],
                "company_id": company["id"],
                "deal_currency_code": "EUR",
            }
        ),
    )
    assert updated.properties["dealname"] == "Annual plan, 20 seats"
    assert updated.properties["dealstage"] == "closedwon"
    read = deals.get_by_id(
        created.id, properties=["dealname", "dealstage", "contact_id", "deal_currency_code"]
    )
    assert read.properties["dealstage"] == "closedwon"
    assert read.properties["contact_id"] == buyer["id"]
    assert read.properties["deal_currency_code"] == "EUR"
    rest = api.ok(api.get(f"/deals/{created.id}"))
    assert (rest["name"], rest["stage"], rest["currency"]) == (
        "Annual plan, 20 seats",
        "closed_won",
        "EUR",
    )
    assert (rest["contact_id"], rest["company_id"]) == (buyer["id"], company["id"])

    # An empty value unlinks, as HubSpot clears a property.
    deals.update(created.id, DealInput(properties={"company_id": ""}))
    assert api.ok(api.get(f"/deals/{created.id}"))["company_id"] is None


def test_deal_update_refusals(hubspot: HubSpot, api: Api) -> None:
    deals = hubspot.crm.deals.basic_api
    product = api.ok(
        api.post(
            "/products",
            {
                "name": "Plan",
                "unit_price": "25.00",
                "currency": "USD",
                "billing_frequency": "monthly",
            },
        )
    )
    priced = api.ok(
        api.post(
            "/deals",
            {"name": "Priced", "line_items": [{"product_id": product["id"], "quantity": 1}]},
        )
    )
    for properties, status, name in (
        ({"dealstage": "nope"}, 400, "dealstage"),
        ({"amount": "10.00"}, 400, "amount"),  # the sum of its line items
        ({"contact_id": "cont_missing"}, 400, "contact_id"),
        ({"deal_currency_code": "EUR"}, 409, "deal_currency_code"),  # it has line items
    ):
        with pytest.raises(DealsApiException) as caught:
            deals.update(priced["id"], DealInput(properties=properties))
        assert caught.value.status == status, properties
        body = error_of(caught.value)
        assert (
            f"'{name}'" in body["message"]
            or f'"{name}"' in body["message"]
            or (body["errors"][0]["in"] == name)
        ), body
    rest = api.ok(api.get(f"/deals/{priced['id']}"))
    assert (rest["stage"], rest["currency"]) == ("appointment_scheduled", "USD")
    with pytest.raises(DealsApiException) as caught:
        deals.update("deal_missing", DealInput(properties={"dealname": "X"}))
    assert caught.value.status == 404


def test_deal_batch_update_is_all_or_nothing(hubspot: HubSpot, api: Api) -> None:
    deals = hubspot.crm.deals
    first = deals.basic_api.create(NewDeal(properties={"dealname": "First"}))
    second = deals.basic_api.create(NewDeal(properties={"dealname": "Second"}))
    done = deals.batch_api.update(
        DealBatch(
            inputs=[
                DealBatchItem(id=first.id, properties={"dealstage": "contractsent"}),
                DealBatchItem(id=second.id, properties={"dealstage": "closedlost"}),
            ]
        )
    )
    stages = {r.id: r.properties["dealstage"] for r in done.results}
    assert stages == {first.id: "contractsent", second.id: "closedlost"}
    assert api.ok(api.get(f"/deals/{second.id}"))["stage"] == "closed_lost"

    with pytest.raises(DealsApiException) as caught:
        deals.batch_api.update(
            DealBatch(
                inputs=[
                    DealBatchItem(id=first.id, properties={"dealstage": "closedwon"}),
                    DealBatchItem(id=second.id, properties={"dealstage": "nope"}),
                ]
            )
        )
    assert caught.value.status == 400
    assert "inputs.1" in error_of(caught.value)["message"]
    assert api.ok(api.get(f"/deals/{first.id}"))["stage"] == "contract_sent"


# --------------------------------------------------------------------------- archiving


def _contact(hubspot: HubSpot, email: str) -> Any:
    return hubspot.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": email})
    )


def test_archive_a_contact(hubspot: HubSpot, api: Api, app: FastAPI, session_factory: Any) -> None:
    contacts = hubspot.crm.contacts
    kept = _contact(hubspot, "kept@example.com")
    gone = _contact(hubspot, "gone@example.com")

    contacts.basic_api.archive(gone.id)

    with pytest.raises(ApiException) as caught:
        contacts.basic_api.get_by_id(gone.id)
    assert caught.value.status == 404
    assert error_of(caught.value)["category"] == "OBJECT_NOT_FOUND"
    archived = contacts.basic_api.get_by_id(gone.id, archived=True, properties=["email"])
    assert archived.archived is True
    assert archived.properties["email"] == "gone@example.com"
    assert [(r.id, r.archived) for r in contacts.basic_api.get_page().results] == [(kept.id, False)]
    assert [(r.id, r.archived) for r in contacts.basic_api.get_page(archived=True).results] == [
        (gone.id, True)
    ]
    with pytest.raises(ApiException) as caught:  # active and archived are apart, as in HubSpot
        contacts.basic_api.get_by_id(kept.id, archived=True)
    assert caught.value.status == 404
    # Search, batch/read and updates leave it out.
    found = contacts.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=[], properties=["email"], limit=10)
    )
    assert [r.id for r in found.results] == [kept.id]
    assert found.total == 1
    with pytest.raises(ApiException) as caught:
        contacts.basic_api.update(gone.id, SimplePublicObjectInput(properties={"firstname": "X"}))
    assert caught.value.status == 404
    read = contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=gone.id), SimplePublicObjectId(id=kept.id)],
            properties=["email"],
        )
    )
    assert [r.id for r in read.results] == [kept.id]
    assert read.errors[0].context == {"ids": [gone.id]}

    # /api/v1 still reads it by ID; its list leaves it out unless asked.
    rest = api.ok(api.get(f"/contacts/{gone.id}"))
    assert (rest["archived"], rest["email"]) == (True, "gone@example.com")
    assert [c["id"] for c in api.ok(api.get("/contacts"))["data"]] == [kept.id]
    # The web app's contacts index does not list it.
    index = signed_in(app, session_factory, api).client.get("/contacts")
    assert "kept@example.com" in index.text
    assert "gone@example.com" not in index.text

    # Archiving it again changes nothing; its email stays its own (409 naming it archived).
    contacts.basic_api.archive(gone.id)
    assert api.ok(api.get(f"/contacts/{gone.id}")) == rest
    with pytest.raises(ApiException) as caught:
        _contact(hubspot, "gone@example.com")
    assert caught.value.status == 409
    body = error_of(caught.value)
    assert body["category"] == "CONFLICT"
    assert gone.id in body["message"] and "archived" in body["message"]
    with pytest.raises(ApiException) as caught:
        contacts.basic_api.archive("cont_missing")
    assert caught.value.status == 404


def test_archive_refused_while_a_subscription_bills_the_contact(hubspot: HubSpot, api: Api) -> None:
    company = api.ok(api.post("/companies", {"name": "Billed BV"}))
    sub = create_subscription(api, company_id=company["id"])
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.archive(sub["contact_id"])
    assert caught.value.status == 409
    body = error_of(caught.value)
    assert body["category"] == "CONFLICT"
    assert sub["id"] in body["message"] and "still bills" in body["message"]
    with pytest.raises(CompaniesApiException) as refused:
        hubspot.crm.companies.basic_api.archive(company["id"])
    assert refused.value.status == 409
    assert sub["id"] in error_of(refused.value)["message"]
    assert hubspot.crm.contacts.basic_api.get_by_id(sub["contact_id"]).archived is False
    assert api.ok(api.get(f"/companies/{company['id']}"))["archived"] is False

    # Subscriptions and invoices are still not archived here.
    with pytest.raises(ObjectsApiException) as caught_sub:
        hubspot.crm.objects.basic_api.archive("subscriptions", sub["id"])
    assert caught_sub.value.status == 409
    assert "cancel" in error_of(caught_sub.value)["message"]

    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}))
    hubspot.crm.contacts.basic_api.archive(sub["contact_id"])
    hubspot.crm.companies.basic_api.archive(company["id"])
    assert api.ok(api.get(f"/contacts/{sub['contact_id']}"))["archived"] is True
    assert api.ok(api.get(f"/companies/{company['id']}"))["archived"] is True


def test_batch_archive_is_all_or_nothing(hubspot: HubSpot, api: Api) -> None:
    free = _contact(hubspot, "free@example.com")
    other = _contact(hubspot, "other@example.com")
    sub = create_subscription(api, email="billed@example.com")
    batch = hubspot.crm.contacts.batch_api

    with pytest.raises(ApiException) as caught:
        batch.archive(
            BatchInputSimplePublicObjectId(
                inputs=[
                    SimplePublicObjectId(id=free.id),
                    SimplePublicObjectId(id=sub["contact_id"]),
                ]
            )
        )
    assert caught.value.status == 409
    body = error_of(caught.value)
    assert "inputs.1" in body["message"] and sub["id"] in body["message"]
    assert api.ok(api.get(f"/contacts/{free.id}"))["archived"] is False  # nothing was archived

    batch.archive(
        BatchInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=free.id), SimplePublicObjectId(id=other.id)]
        )
    )
    archived = hubspot.crm.contacts.basic_api.get_page(archived=True).results
    assert {r.id for r in archived} == {free.id, other.id}
    assert [r.id for r in hubspot.crm.contacts.basic_api.get_page().results] == [sub["contact_id"]]


def test_archive_deals_and_companies(hubspot: HubSpot, api: Api) -> None:
    deals = hubspot.crm.deals
    kept = deals.basic_api.create(NewDeal(properties={"dealname": "Kept"}))
    gone = deals.basic_api.create(NewDeal(properties={"dealname": "Gone"}))
    deals.batch_api.archive(DealIds(inputs=[DealId(id=gone.id)]))
    assert [d.id for d in deals.basic_api.get_page().results] == [kept.id]
    assert [(d.id, d.archived) for d in deals.basic_api.get_page(archived=True).results] == [
        (gone.id, True)
    ]
    assert deals.basic_api.get_by_id(gone.id, archived=True).properties["dealname"] == "Gone"
    with pytest.raises(DealsApiException) as caught:
        deals.basic_api.get_by_id(gone.id)
    assert caught.value.status == 404
    assert api.ok(api.get("/deals", params={"archived": "true"}))["data"][0]["id"] == gone.id

    company = hubspot.crm.companies.basic_api.create(
        CompanyInputForCreate(properties={"name": "Gone BV"})
    )
    hubspot.crm.companies.basic_api.archive(company.id)
    assert hubspot.crm.companies.basic_api.get_page().results == []
    listed = hubspot.crm.companies.basic_api.get_page(archived=True).results
    assert [(c.id, c.archived) for c in listed] == [(company.id, True)]
