"""Quotes (0-14) and line items (0-8) through HubSpot's generic objects API: read only, under
HubSpot's property names where it has one; written through /api/v1."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.objects import SimplePublicObjectInputForCreate as NewObject

from tests.conftest import Api
from tests.hubspot.conftest import error_of


@pytest.fixture
def quote(api: Api) -> dict[str, Any]:
    plan = api.ok(
        api.post(
            "/products",
            {
                "name": "Coffee plan",
                "unit_price": "25.00",
                "currency": "USD",
                "billing_frequency": "monthly",
            },
        )
    )
    buyer = api.ok(api.post("/contacts", {"email": "buyer@example.com"}))
    created: dict[str, Any] = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Office coffee",
                "contact_id": buyer["id"],
                "expires_on": "2031-01-31",
                "line_items": [{"product_id": plan["id"], "quantity": 4}],
            },
        )
    )
    created["product_id"] = plan["id"]
    return created


def test_quotes(hubspot: HubSpot, quote: dict[str, Any]) -> None:
    objects = hubspot.crm.objects.basic_api
    page = objects.get_page("quotes")
    assert [r.id for r in page.results] == [quote["id"]]
    shown = page.results[0].properties
    assert shown["hs_title"] == "Office coffee"
    assert shown["hs_status"] == "draft"
    assert shown["hs_expiration_date"] == "2031-01-31"
    assert shown["hs_object_id"] == quote["id"]
    assert {"createdate", "hs_lastmodifieddate"} <= set(shown)

    read = objects.get_by_id(
        "0-14", quote["id"], properties=["hs_currency", "contact_id", "deal_id", "nope"]
    )
    assert read.properties["hs_currency"] == "USD"
    assert read.properties["contact_id"] == quote["contact_id"]
    assert read.properties["deal_id"] is None
    assert "nope" not in read.properties
    assert read.archived is False


def test_line_items(hubspot: HubSpot, api: Api, quote: dict[str, Any]) -> None:
    objects = hubspot.crm.objects.basic_api
    # A deal's line items are line items too.
    deal = api.ok(
        api.post(
            "/deals",
            {"name": "Upsell", "line_items": [{"product_id": quote["product_id"], "quantity": 1}]},
        )
    )
    everything = objects.get_page("line_items", limit=1)
    rest = objects.get_page("0-8", limit=1, after=everything.paging.next.after)
    ids = [r.id for r in everything.results + rest.results]
    assert sorted(ids) == sorted([quote["line_items"][0]["id"], deal["line_items"][0]["id"]])
    assert rest.paging is None

    item = objects.get_by_id(
        "line_items",
        quote["line_items"][0]["id"],
        properties=[
            "name",
            "quantity",
            "price",
            "amount",
            "hs_product_id",
            "recurringbillingfrequency",
            "hs_line_item_currency_code",
            "quote_id",
            "deal_id",
            "hs_lastmodifieddate",
        ],
    )
    shown = item.properties
    assert (shown["name"], shown["quantity"]) == ("Coffee plan", "4")
    assert (shown["price"], shown["amount"]) == ("25.00", "100.00")  # money as strings
    assert shown["hs_product_id"] == quote["product_id"]
    assert shown["recurringbillingfrequency"] == "monthly"
    assert shown["hs_line_item_currency_code"] == "USD"
    assert (shown["quote_id"], shown["deal_id"]) == (quote["id"], None)
    # No modification time of its own: its creation time.
    assert shown["hs_lastmodifieddate"] == shown["createdate"]
    assert item.updated_at == item.created_at


def test_read_only(hubspot: HubSpot, quote: dict[str, Any]) -> None:
    objects = hubspot.crm.objects.basic_api
    item_id = quote["line_items"][0]["id"]

    def refused(call: Any, *args: Any) -> dict[str, Any]:
        with pytest.raises(ApiException) as caught:
            call(*args)
        assert caught.value.status == 400
        return error_of(caught.value)

    body = refused(objects.create, "quotes", NewObject(properties={"hs_title": "New"}))
    assert body["category"] == "VALIDATION_ERROR" and "/api/v1" in body["message"]
    body = refused(
        objects.update, "line_items", item_id, SimplePublicObjectInput(properties={"quantity": 2})
    )
    assert "/api/v1" in body["message"]
    assert "/api/v1" in refused(objects.archive, "quotes", quote["id"])["message"]
    # Searching reads only (tests/hubspot/test_search_objects.py searches them).
    found = hubspot.crm.objects.search_api.do_search("quotes", PublicObjectSearchRequest())
    assert [r.id for r in found.results] == [quote["id"]]
    # Unknown records.
    with pytest.raises(ApiException) as caught:
        objects.get_by_id("quotes", "quote_nope")
    assert caught.value.status == 404
    # Nothing changed.
    assert (
        objects.get_by_id("line_items", item_id, properties=["quantity"]).properties["quantity"]
        == "4"
    )


def test_properties(hubspot: HubSpot) -> None:
    core = hubspot.crm.properties.core_api
    quote = {p.name: p for p in core.get_all("quotes").results}
    assert {"hs_title", "hs_status", "hs_expiration_date"} <= set(quote)
    assert [o.value for o in quote["hs_status"].options] == ["draft", "published", "accepted"]
    assert quote["hs_title"].form_field is False
    items = {p.name for p in core.get_all("line_items").results}
    assert {"name", "quantity", "price", "amount", "hs_product_id"} <= items
