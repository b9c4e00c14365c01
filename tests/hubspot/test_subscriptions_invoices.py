"""Subscriptions (`0-69`) and invoices (`0-53`) through /crm/v3/objects with HubSpot's official
client (its generic `crm.objects` API): the records /api/v1 shows, read, searched (subscriptions)
and renamed or given custom property values (subscriptions) through Cadency's own services."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import (
    ApiException,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import PropertyCreate

from tests.conftest import Api
from tests.hubspot.conftest import error_of
from tests.subscriptions.helpers import create_subscription


@pytest.fixture
def subs(api: Api) -> list[dict[str, Any]]:
    """Two subscriptions (the REST API's view of them), oldest first."""
    first = create_subscription(api, name="Coffee monthly")
    second = create_subscription(api, email="otto@example.com", name="Tea club")
    return [first, second]


def test_list_and_read(hubspot: HubSpot, api: Api, subs: list[dict[str, Any]]) -> None:
    objects = hubspot.crm.objects.basic_api
    page = objects.get_page("subscriptions", limit=1)
    assert [r.id for r in page.results] == [subs[1]["id"]]  # newest first
    assert page.paging.next.after
    rest = objects.get_page("0-69", limit=10, after=page.paging.next.after)
    assert [r.id for r in rest.results] == [subs[0]["id"]]
    assert rest.paging is None

    read = objects.get_by_id("subscriptions", subs[0]["id"])
    assert set(read.properties) == {
        "createdate",
        "hs_lastmodifieddate",
        "hs_next_payment_due_date",
        "hs_object_id",
        "hs_recurring_billing_start_date",
        "hs_status",
        "name",
    }
    rest_view = api.ok(api.get(f"/subscriptions/{subs[0]['id']}"))
    assert read.properties["name"] == "Coffee monthly"
    assert read.properties["hs_status"] == rest_view["status"]
    assert read.properties["hs_recurring_billing_start_date"] == rest_view["start_date"]
    assert read.properties["hs_next_payment_due_date"] == rest_view["next_payment_date"]
    assert read.properties["hs_object_id"] == subs[0]["id"]
    assert read.properties["createdate"].endswith("Z") and "." in read.properties["createdate"]

    money = objects.get_by_id(
        "subscriptions", subs[0]["id"], properties=["mrr,currency", "total_collected", "nope"]
    )
    assert money.properties["currency"] == "USD"
    assert money.properties["mrr"] == "25.00"  # money as a decimal string
    assert money.properties["total_collected"] == rest_view["total_collected"]
    assert "nope" not in money.properties

    assert objects.get_page("subscriptions", archived=True).results == []
    with pytest.raises(ApiException) as missing:
        objects.get_by_id("subscriptions", "sub_nope")
    assert missing.value.status == 404
    assert error_of(missing.value)["category"] == "OBJECT_NOT_FOUND"


def test_update_name_and_custom_properties(
    hubspot: HubSpot, api: Api, subs: list[dict[str, Any]]
) -> None:
    assert (
        api.post(
            "/properties/subscriptions", {"name": "seats", "label": "Seats", "field_type": "number"}
        ).status_code
        == 200
    )
    # Subscriptions' custom properties through HubSpot's properties API too.
    hubspot.crm.properties.core_api.create(
        "subscriptions",
        PropertyCreate(
            name="note", label="Note", type="string", field_type="text", group_name="extra"
        ),
    )
    # The properties API reads the built-in properties, then the custom ones.
    listed = hubspot.crm.properties.core_api.get_all("subscriptions").results
    assert [p.name for p in listed][:2] == ["name", "hs_status"]
    seats = next(p for p in listed if p.name == "seats")
    assert (seats.type, seats.group_name) == ("number", "subscriptioninformation")
    status = hubspot.crm.properties.core_api.get_by_name("0-69", "hs_status")
    assert status.modification_metadata.read_only_value is True
    assert "active" in [o.value for o in status.options]

    objects = hubspot.crm.objects.basic_api
    sub_id = subs[0]["id"]
    updated = objects.update(
        "subscriptions",
        sub_id,
        SimplePublicObjectInput(
            properties={"name": "Coffee, renamed", "seats": "7", "note": "VIP"}
        ),
    )
    assert updated.properties["note"] == "VIP"
    assert updated.properties["name"] == "Coffee, renamed"
    assert updated.properties["seats"] == "7"
    rest = api.ok(api.get(f"/subscriptions/{sub_id}"))
    assert rest["name"] == "Coffee, renamed"
    assert rest["properties"]["seats"] == 7
    assert rest["properties"]["note"] == "VIP"

    for values in ({"hs_status": "canceled"}, {"hs_next_payment_due_date": "2030-01-01"}):
        with pytest.raises(ApiException) as refused:
            objects.update("subscriptions", sub_id, SimplePublicObjectInput(properties=values))
        assert refused.value.status == 400
        assert "read-only" in error_of(refused.value)["message"]
    with pytest.raises(ApiException) as unknown:
        objects.update("subscriptions", sub_id, SimplePublicObjectInput(properties={"x": "1"}))
    assert unknown.value.status == 400

    with pytest.raises(ApiException) as create:
        objects.create("subscriptions", SimplePublicObjectInputForCreate(properties={"name": "x"}))
    assert create.value.status == 400
    assert error_of(create.value)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as archive:
        objects.archive("subscriptions", sub_id)
    assert archive.value.status == 409


def test_search(hubspot: HubSpot, api: Api, subs: list[dict[str, Any]]) -> None:
    def search(*filters: dict[str, Any], **request: Any) -> list[str]:
        groups = [FilterGroup(filters=[Filter(**f) for f in filters])] if filters else None
        found = hubspot.crm.objects.search_api.do_search(
            "subscriptions", PublicObjectSearchRequest(filter_groups=groups, **request)
        )
        assert found.total == len(found.results)
        return [r.properties["name"] for r in found.results]

    status = subs[0]["status"]
    both = ["Coffee monthly", "Tea club"]
    assert search({"property_name": "hs_status", "operator": "EQ", "value": status}) == both
    assert search({"property_name": "name", "operator": "CONTAINS_TOKEN", "value": "tea"}) == [
        "Tea club"
    ]
    assert search({"property_name": "hs_status", "operator": "NEQ", "value": status}) == []
    assert search(
        {"property_name": "hs_recurring_billing_start_date", "operator": "HAS_PROPERTY"},
        sorts=[{"propertyName": "name", "direction": "DESCENDING"}],
    ) == ["Tea club", "Coffee monthly"]
    assert search(query="coffee") == ["Coffee monthly"]
    assert search(query=subs[1]["id"]) == ["Tea club"]
    assert search({"property_name": "mrr", "operator": "GTE", "value": "25.00"}) == both

    with pytest.raises(ApiException) as bad:
        search({"property_name": "name", "operator": "LT", "value": "x"})
    assert bad.value.status == 400


def test_invoices(hubspot: HubSpot, api: Api, subs: list[dict[str, Any]]) -> None:
    invoices = api.ok(api.get("/invoices"))["data"]
    assert invoices, "creating a subscription bills its first period"
    objects = hubspot.crm.objects.basic_api
    page = objects.get_page("invoices", limit=100)
    assert [r.id for r in page.results] == [i["id"] for i in invoices]
    first = invoices[0]
    read = objects.get_by_id("0-53", first["id"], properties=["hs_number", "subscription_id"])
    assert read.properties["hs_number"] == first["number"]
    assert read.properties["subscription_id"] == first["subscription_id"]
    default = objects.get_by_id("invoices", first["id"])
    assert set(default.properties) == {
        "createdate",
        "hs_amount_billed",
        "hs_balance_due",
        "hs_due_date",
        "hs_invoice_status",
        "hs_lastmodifieddate",
        "hs_number",
        "hs_object_id",
    }
    assert default.properties["hs_invoice_status"] == first["status"]
    assert default.properties["hs_amount_billed"] == first["total"]
    assert default.properties["hs_due_date"] == first["due_date"]

    with pytest.raises(ApiException) as update:
        objects.update("invoices", first["id"], SimplePublicObjectInput(properties={"x": "1"}))
    assert update.value.status == 400
    # Searched like the other types (tests/hubspot/test_search_objects.py).
    found = hubspot.crm.objects.search_api.do_search("invoices", PublicObjectSearchRequest())
    assert first["id"] in {r.id for r in found.results}
