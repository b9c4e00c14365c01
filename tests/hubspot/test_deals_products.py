"""Deals (`0-3`) and products (`0-7`) through /crm/v3/objects with HubSpot's official client:
the records /api/v1/deals and /api/v1/products show, through their own services."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import SimplePublicObjectInput as DealInput
from hubspot.crm.deals import SimplePublicObjectInputForCreate as NewDeal
from hubspot.crm.products import ApiException as ProductsApiException
from hubspot.crm.products import (
    BatchInputSimplePublicObjectId,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate

from tests.conftest import Api
from tests.hubspot.conftest import error_of


def test_deals(hubspot: HubSpot, api: Api) -> None:
    contact = api.ok(api.post("/contacts", {"email": "buyer@example.com"}))
    deals = hubspot.crm.deals.basic_api
    created = deals.create(
        NewDeal(
            properties={
                "dealname": "Annual plan",
                "dealstage": "qualifiedtobuy",
                "pipeline": "default",
                "deal_currency_code": "EUR",
                "contact_id": contact["id"],
            }
        )
    )
    assert created.id.startswith("deal_")
    assert created.properties["dealname"] == "Annual plan"
    assert created.properties["dealstage"] == "qualifiedtobuy"
    assert created.properties["pipeline"] == "default"
    rest = api.ok(api.get(f"/deals/{created.id}"))
    assert rest["stage"] == "qualified_to_buy"
    assert rest["currency"] == "EUR"
    assert rest["contact_id"] == contact["id"]

    read = deals.get_by_id(created.id)
    assert set(read.properties) == {
        "amount",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    }
    assert read.properties["amount"] == "0.00"  # the sum of its line items: a money string
    # Cadency's own stage names are taken too.
    other = deals.create(NewDeal(properties={"dealname": "Other", "dealstage": "closed_won"}))
    assert other.properties["dealstage"] == "closedwon"
    page = deals.get_page(properties=["dealname", "contact_id"])
    assert [(r.properties["dealname"], r.properties["contact_id"]) for r in page.results] == [
        ("Other", None),
        ("Annual plan", contact["id"]),
    ]
    assert [d.id for d in hubspot.crm.deals.get_all()] == [other.id, created.id]

    for properties, status in (
        ({"dealname": "X", "amount": "10.00"}, 400),  # the sum of its line items
        ({"dealname": "X", "pipeline": "sales"}, 400),  # one pipeline
        ({"dealname": "X", "dealstage": "nope"}, 400),
        ({"dealname": "X", "contact_id": "cont_missing"}, 400),  # as /api/v1: 422
    ):
        with pytest.raises(DealsApiException) as caught:
            deals.create(NewDeal(properties=properties))
        assert caught.value.status == status, properties
    # Deals change (more in tests/hubspot/test_archive_and_deal_updates.py).
    renamed = deals.update(created.id, DealInput(properties={"dealname": "Renamed"}))
    assert renamed.properties["dealname"] == "Renamed"
    assert api.ok(api.get(f"/deals/{created.id}"))["name"] == "Renamed"
    deals.archive(created.id)
    assert api.ok(api.get(f"/deals/{created.id}"))["archived"] is True
    assert [d.id for d in deals.get_page().results] == [other.id]


def test_products(hubspot: HubSpot, api: Api) -> None:
    products = hubspot.crm.products.basic_api
    created = products.create(
        SimplePublicObjectInputForCreate(
            properties={
                "name": "Pro plan",
                "price": "49.50",
                "description": "Everything",
                "hs_sku": "PRO-1",
                "recurringbillingfrequency": "monthly",
            }
        )
    )
    assert created.id.startswith("prod_")
    assert created.properties["price"] == "49.50"
    assert created.properties["recurringbillingfrequency"] == "monthly"
    assert created.archived is False
    rest = api.ok(api.get(f"/products/{created.id}"))
    assert (rest["unit_price"], rest["sku"], rest["billing_frequency"]) == (
        "49.50",
        "PRO-1",
        "monthly",
    )

    read = products.get_by_id(created.id)
    assert set(read.properties) == {
        "createdate",
        "description",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
        "price",
    }
    updated = products.update(
        created.id,
        SimplePublicObjectInput(properties={"price": "55", "hs_sku": "", "description": "All"}),
    )
    assert updated.properties["price"] == "55.00"
    assert updated.properties["hs_sku"] is None
    rest = api.ok(api.get(f"/products/{created.id}"))
    assert (rest["unit_price"], rest["sku"], rest["description"]) == ("55.00", None, "All")

    with pytest.raises(ProductsApiException) as caught:
        products.update(created.id, SimplePublicObjectInput(properties={"price": "cheap"}))
    assert caught.value.status == 400
    assert error_of(caught.value)["errors"][0]["in"] == "price"
    with pytest.raises(ProductsApiException) as caught:
        products.create(SimplePublicObjectInputForCreate(properties={"name": "No price"}))
    assert caught.value.status == 400

    # Archiving is the product's `archived` flag.
    other = products.create(
        SimplePublicObjectInputForCreate(properties={"name": "Setup", "price": "100"})
    )
    products.archive(created.id)
    assert api.ok(api.get(f"/products/{created.id}"))["archived"] is True
    assert [p.id for p in products.get_page().results] == [other.id]
    archived = products.get_page(archived=True).results
    assert [(p.id, p.archived) for p in archived] == [(created.id, True)]
    with pytest.raises(ProductsApiException) as caught:
        products.get_by_id(created.id)
    assert caught.value.status == 404
    assert products.get_by_id(created.id, archived=True).archived is True
    hubspot.crm.products.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=other.id)])
    )
    assert api.ok(api.get(f"/products/{other.id}"))["archived"] is True
    assert products.get_page().results == []


def test_properties_of_deals_and_products(hubspot: HubSpot) -> None:
    core = hubspot.crm.properties.core_api
    deal_props = {p.name: p for p in core.get_all("deals").results}
    assert {"dealname", "dealstage", "pipeline", "amount", "hs_object_id"} <= set(deal_props)
    assert [o.value for o in deal_props["dealstage"].options][:2] == [
        "appointmentscheduled",
        "qualifiedtobuy",
    ]
    assert deal_props["amount"].modification_metadata.read_only_value is True
    assert deal_props["dealname"].group_name == "dealinformation"
    price = core.get_by_name("0-7", "price")
    assert (price.type, price.field_type) == ("number", "number")
    assert "monthly" in [
        o.value for o in core.get_by_name("products", "recurringbillingfrequency").options
    ]
    groups = hubspot.crm.properties.groups_api.get_all("products").results
    assert [g.name for g in groups] == ["productinformation"]
    # Cadency keeps custom properties for contacts and companies only (so far).
    with pytest.raises(PropertiesApiException) as caught:
        core.create(
            "deals",
            PropertyCreate(
                name="region", label="Region", type="string", field_type="text", group_name="x"
            ),
        )
    assert caught.value.status == 400
