"""POST /crm/v3/objects/{deals,products,quotes,line_items,invoices}/search with HubSpot's official
client: the filter language over specs derived from each type's HubSpot properties (HubSpot's
names and values: `closedwon`, money as "12.50"), with the same semantics as for contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm import deals as deal_models
from hubspot.crm import line_items as line_item_models
from hubspot.crm import products as product_models
from hubspot.crm import quotes as quote_models
from hubspot.crm.commerce import invoices as invoice_models

from tests.conftest import Api, pin_clock
from tests.hubspot.conftest import client_for, error_of
from tests.subscriptions.helpers import create_subscription


def f(prop: str, operator: str, **rest: Any) -> dict[str, Any]:
    return {"property_name": prop, "operator": operator, **rest}


def do_search(search_api: Any, models: ModuleType, *filters: dict[str, Any], **request: Any) -> Any:
    """One search through a type's own client API, with that package's request models."""
    groups = (
        [models.FilterGroup(filters=[models.Filter(**x) for x in filters])] if filters else None
    )
    return search_api.do_search(models.PublicObjectSearchRequest(filter_groups=groups, **request))


def refused(search_api: Any, models: ModuleType, *filters: dict[str, Any], **request: Any) -> Any:
    """The error body of a search that must fail with 400 VALIDATION_ERROR."""
    with pytest.raises(models.ApiException) as caught:
        do_search(search_api, models, *filters, **request)
    assert caught.value.status == 400
    body = error_of(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    return body


def deal(api: Api, name: str, stage: str, *items: dict[str, Any], **rest: Any) -> str:
    body = {"name": name, "stage": stage, "line_items": list(items), **rest}
    created: dict[str, Any] = api.ok(api.post("/deals", body))
    return str(created["id"])


def custom_item(name: str, price: str, **rest: Any) -> dict[str, Any]:
    return {"name": name, "unit_price": price, **rest}


# --------------------------------------------------------------------------- deals


@pytest.fixture
def deals(api: Api, other_api: Api) -> dict[str, str]:
    """Four deals by name → ID, and one of another account that no search here may find."""
    buyer = api.ok(api.post("/contacts", {"email": "buyer@example.com"}))
    found = {
        "Coffee upsell": deal(
            api,
            "Coffee upsell",
            "closed_won",
            custom_item("Setup", "12.50"),
            contact_id=buyer["id"],
        ),
        "Tea renewal": deal(api, "Tea renewal", "contract_sent", custom_item("Tea", "99.00")),
        "Empty pipeline": deal(api, "Empty pipeline", "appointment_scheduled"),
        # 1000 yen: more than 12.50 in its own currency, though only 1000 in minor units.
        "Espresso machine": deal(
            api,
            "Espresso machine",
            "qualified_to_buy",
            custom_item("Machine", "1000"),
            currency="JPY",
        ),
    }
    deal(other_api, "Coffee upsell", "closed_won", custom_item("Setup", "500.00"))
    return found


def deal_names(hubspot: HubSpot, *filters: dict[str, Any], **request: Any) -> list[str]:
    found = do_search(
        hubspot.crm.deals.search_api, deal_models, *filters, properties=["dealname"], **request
    )
    assert found.total == len(found.results)
    return [r.properties["dealname"] for r in found.results]


ALL_DEALS = {"Coffee upsell", "Tea renewal", "Empty pipeline", "Espresso machine"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # HubSpot's stage IDs match Cadency's stored stages.
        ([f("dealstage", "EQ", value="closedwon")], {"Coffee upsell"}),
        ([f("dealstage", "NEQ", value="closedwon")], ALL_DEALS - {"Coffee upsell"}),
        ([f("dealstage", "IN", values=["closedwon", "contractsent"])],
         {"Coffee upsell", "Tea renewal"}),
        ([f("dealstage", "NOT_IN", values=["appointmentscheduled"])],
         ALL_DEALS - {"Empty pipeline"}),
        # Money in major units of each deal's own currency.
        ([f("amount", "GT", value="12.50")], {"Tea renewal", "Espresso machine"}),
        ([f("amount", "GTE", value="12.50")], ALL_DEALS - {"Empty pipeline"}),
        ([f("amount", "LT", value="12.50")], {"Empty pipeline"}),
        ([f("amount", "LTE", value="12.5")], {"Empty pipeline", "Coffee upsell"}),
        ([f("amount", "BETWEEN", value="12.50", high_value="99.00")],
         {"Coffee upsell", "Tea renewal"}),
        ([f("amount", "EQ", value="0")], {"Empty pipeline"}),
        ([f("dealname", "EQ", value="tea renewal")], {"Tea renewal"}),
        ([f("dealname", "CONTAINS_TOKEN", value="coffee")], {"Coffee upsell"}),
        ([f("dealname", "CONTAINS_TOKEN", value="esp*")], {"Espresso machine"}),
        ([f("dealname", "NOT_CONTAINS_TOKEN", value="coffee")], ALL_DEALS - {"Coffee upsell"}),
        ([f("contact_id", "HAS_PROPERTY")], {"Coffee upsell"}),
        ([f("contact_id", "NOT_HAS_PROPERTY")], ALL_DEALS - {"Coffee upsell"}),
        ([f("deal_currency_code", "EQ", value="JPY")], {"Espresso machine"}),
        ([f("createdate", "GTE", value="2000-01-01T00:00:00Z")], ALL_DEALS),
        ([f("hs_lastmodifieddate", "LT", value="946684800000")], set()),
        # AND within a group.
        ([f("amount", "GT", value="12.50"), f("deal_currency_code", "EQ", value="USD")],
         {"Tea renewal"}),
    ],
)  # fmt: skip
def test_deal_operators(
    hubspot: HubSpot, deals: dict[str, str], filters: list[dict[str, Any]], expected: set[str]
) -> None:
    assert set(deal_names(hubspot, *filters)) == expected


def test_deals_by_id_query_sorts_and_pages(hubspot: HubSpot, deals: dict[str, str]) -> None:
    coffee = deals["Coffee upsell"]
    assert deal_names(hubspot, f("hs_object_id", "EQ", value=coffee)) == ["Coffee upsell"]
    assert deal_names(hubspot, query="RENEWAL") == ["Tea renewal"]
    assert deal_names(hubspot, query=coffee) == ["Coffee upsell"]
    # Stages sort in the pipeline's order (closed won after contract sent), not alphabetically.
    by_stage = [{"propertyName": "dealstage", "direction": "DESCENDING"}]
    assert deal_names(hubspot, sorts=by_stage) == [
        "Coffee upsell",
        "Tea renewal",
        "Espresso machine",
        "Empty pipeline",
    ]
    # Amounts sort by their value in major units, whatever the currency.
    assert deal_names(hubspot, sorts=["-amount"]) == [
        "Espresso machine",
        "Tea renewal",
        "Coffee upsell",
        "Empty pipeline",
    ]
    shown = do_search(
        hubspot.crm.deals.search_api,
        deal_models,
        f("dealstage", "EQ", value="closedwon"),
        properties=["dealstage", "amount", "pipeline"],
    ).results[0]
    assert (shown.id, shown.properties["dealstage"]) == (coffee, "closedwon")
    assert (shown.properties["amount"], shown.properties["pipeline"]) == ("12.50", "default")

    seen: list[str] = []
    after = None
    while True:
        page = do_search(
            hubspot.crm.deals.search_api,
            deal_models,
            sorts=["dealname"],
            properties=["dealname"],
            limit=3,
            after=after,
        )
        assert page.total == 4  # never the other account's deal
        seen += [r.properties["dealname"] for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == sorted(ALL_DEALS)


def test_bad_deal_searches(hubspot: HubSpot, deals: dict[str, str]) -> None:
    search_api = hubspot.crm.deals.search_api
    for filters, where, named in (
        ([f("nonexistent", "EQ", value="x")], "filterGroups.0.filters.0.propertyName",
         "nonexistent"),
        # Deals have no custom properties: any other name is unknown.
        ([f("seats", "GT", value="5")], "filterGroups.0.filters.0.propertyName", "seats"),
        # A constant has no column to filter on.
        ([f("pipeline", "EQ", value="default")], "filterGroups.0.filters.0.propertyName",
         "pipeline"),
        ([f("dealname", "LT", value="m")], "filterGroups.0.filters.0.operator", "dealname"),
        ([f("dealstage", "EQ", value="won")], "filterGroups.0.filters.0.value", "dealstage"),
        ([f("amount", "GT", value="lots")], "filterGroups.0.filters.0.value", "amount"),
    ):  # fmt: skip
        body = refused(search_api, deal_models, *filters)
        assert body["errors"][0]["in"] == where
        assert f"'{named}'" in body["message"]
    body = refused(search_api, deal_models, sorts=["seats"])
    assert body["errors"][0]["in"] == "sorts.0.propertyName"


def test_another_accounts_deals_are_not_found(
    hubspot: HubSpot, deals: dict[str, str], other_api: Api, base_url: str
) -> None:
    everything = do_search(hubspot.crm.deals.search_api, deal_models, limit=100)
    assert {r.id for r in everything.results} == set(deals.values())
    theirs = client_for(base_url, other_api.key)
    found = do_search(
        theirs.crm.deals.search_api, deal_models, f("dealstage", "EQ", value="closedwon")
    )
    assert found.total == 1
    assert found.results[0].id not in deals.values()
    assert found.results[0].properties["amount"] == "500.00"


def test_archived_deals_are_not_found(hubspot: HubSpot, deals: dict[str, str]) -> None:
    hubspot.crm.deals.basic_api.archive(deals["Tea renewal"])
    assert set(deal_names(hubspot)) == ALL_DEALS - {"Tea renewal"}
    assert deal_names(hubspot, query=deals["Tea renewal"]) == []


# --------------------------------------------------------------------------- products


@pytest.fixture
def products(api: Api, other_api: Api) -> dict[str, str]:
    """Three products by name → ID (and an archived one, which search never finds)."""

    def product(api: Api, name: str, price: str, **rest: Any) -> str:
        body = {"name": name, "unit_price": price, "currency": "USD", **rest}
        return str(api.ok(api.post("/products", body))["id"])

    found = {
        "Coffee plan": product(
            api,
            "Coffee plan",
            "25.00",
            billing_frequency="monthly",
            sku="COF-1",
            description="Fresh beans every month",
        ),
        "Tea sampler": product(api, "Tea sampler", "9.99"),
        "Grinder": product(
            api,
            "Grinder",
            "120.00",
            currency="EUR",
            billing_frequency="annually",
            description="A burr grinder for coffee",
        ),
    }
    product(api, "Old coffee plan", "50.00", archived=True)
    product(other_api, "Coffee plan", "25.00", billing_frequency="monthly")
    return found


def product_names(hubspot: HubSpot, *filters: dict[str, Any], **request: Any) -> list[str]:
    found = do_search(
        hubspot.crm.products.search_api, product_models, *filters, properties=["name"], **request
    )
    assert found.total == len(found.results)
    return [r.properties["name"] for r in found.results]


def test_product_search(hubspot: HubSpot, products: dict[str, str]) -> None:
    def names(*filters: dict[str, Any], **request: Any) -> set[str]:
        return set(product_names(hubspot, *filters, **request))

    assert names() == set(products)  # not the archived one, nor the other account's
    assert names(f("price", "GT", value="12.50")) == {"Coffee plan", "Grinder"}
    assert names(f("price", "LTE", value="9.99")) == {"Tea sampler"}
    assert names(f("recurringbillingfrequency", "IN", values=["monthly", "annually"])) == {
        "Coffee plan",
        "Grinder",
    }
    assert names(f("recurringbillingfrequency", "NOT_HAS_PROPERTY")) == {"Tea sampler"}
    assert names(f("hs_sku", "HAS_PROPERTY")) == {"Coffee plan"}
    assert names(f("hs_sku", "EQ", value="cof-1")) == {"Coffee plan"}
    assert names(f("description", "CONTAINS_TOKEN", value="beans")) == {"Coffee plan"}
    assert names(f("currency", "NEQ", value="USD")) == {"Grinder"}
    # `query` looks in the name, SKU and description.
    assert names(query="coffee") == {"Coffee plan", "Grinder"}
    assert names(query="COF-1") == {"Coffee plan"}
    assert product_names(hubspot, sorts=[{"propertyName": "price", "direction": "DESCENDING"}]) == [
        "Grinder",
        "Coffee plan",
        "Tea sampler",
    ]
    shown = do_search(
        hubspot.crm.products.search_api, product_models, query="tea", properties=["price"]
    ).results
    assert [(r.id, r.properties["price"]) for r in shown] == [(products["Tea sampler"], "9.99")]

    body = refused(hubspot.crm.products.search_api, product_models, f("name", "GT", value="A"))
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.operator"
    body = refused(
        hubspot.crm.products.search_api,
        product_models,
        f("recurringbillingfrequency", "EQ", value="hourly"),
    )
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.value"


# --------------------------------------------------------------------------- quotes, line items


@pytest.fixture
def quotes(api: Api, other_api: Api) -> dict[str, Any]:
    """Two quotes by name → the REST API's view (with their line items), one published, and the
    deal of the second; another account's quote."""
    plan = api.ok(
        api.post(
            "/products",
            {"name": "Coffee plan", "unit_price": "25.00", "billing_frequency": "monthly"},
        )
    )
    buyer = api.ok(api.post("/contacts", {"email": "office@example.com"}))
    office = api.ok(
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
    team_deal = deal(api, "Team tea", "contract_sent", contact_id=buyer["id"])
    team = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Tea for the team",
                "deal_id": team_deal,
                "line_items": [custom_item("Tea bags", "3.50", quantity=2)],
            },
        )
    )
    api.ok(api.post(f"/quotes/{office['id']}/publish"))
    other_buyer = other_api.ok(other_api.post("/contacts", {"email": "office@example.com"}))
    other_api.ok(
        other_api.post(
            "/quotes",
            {
                "name": "Office coffee",
                "contact_id": other_buyer["id"],
                "line_items": [custom_item("Coffee", "40.00")],
            },
        )
    )
    return {"Office coffee": office, "Tea for the team": team, "deal": team_deal, "plan": plan}


def quote_titles(hubspot: HubSpot, *filters: dict[str, Any], **request: Any) -> list[str]:
    found = do_search(
        hubspot.crm.quotes.search_api, quote_models, *filters, properties=["hs_title"], **request
    )
    assert found.total == len(found.results)
    return [r.properties["hs_title"] for r in found.results]


def test_quote_search(hubspot: HubSpot, quotes: dict[str, Any]) -> None:
    def titles(*filters: dict[str, Any], **request: Any) -> set[str]:
        return set(quote_titles(hubspot, *filters, **request))

    both = {"Office coffee", "Tea for the team"}
    assert titles() == both
    assert titles(f("hs_status", "EQ", value="published")) == {"Office coffee"}
    assert titles(f("hs_status", "IN", values=["draft", "accepted"])) == {"Tea for the team"}
    assert titles(f("hs_expiration_date", "HAS_PROPERTY")) == {"Office coffee"}
    assert titles(
        f("hs_expiration_date", "BETWEEN", value="2031-01-01", high_value="2031-12-31")
    ) == {"Office coffee"}
    assert titles(f("deal_id", "EQ", value=quotes["deal"])) == {"Tea for the team"}
    assert titles(f("deal_id", "NOT_HAS_PROPERTY")) == {"Office coffee"}
    assert titles(f("published_at", "HAS_PROPERTY")) == {"Office coffee"}
    assert titles(f("hs_title", "CONTAINS_TOKEN", value="team")) == {"Tea for the team"}
    assert titles(query="office") == {"Office coffee"}
    assert quote_titles(hubspot, sorts=["-hs_title"]) == ["Tea for the team", "Office coffee"]

    search_api = hubspot.crm.quotes.search_api
    body = refused(search_api, quote_models, f("hs_status", "EQ", value="approved"))
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.value"
    # Quotes have no custom properties.
    body = refused(search_api, quote_models, f("tier", "EQ", value="pro"))
    assert "'tier'" in body["message"]
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.propertyName"


def test_line_item_search(hubspot: HubSpot, quotes: dict[str, Any]) -> None:
    office = quotes["Office coffee"]["line_items"][0]["id"]
    tea = quotes["Tea for the team"]["line_items"][0]["id"]

    def ids(*filters: dict[str, Any], **request: Any) -> list[str]:
        found = do_search(hubspot.crm.line_items.search_api, line_item_models, *filters, **request)
        assert found.total == len(found.results)
        return [r.id for r in found.results]

    assert set(ids()) == {office, tea}  # not the other account's
    assert ids(f("quote_id", "EQ", value=quotes["Office coffee"]["id"])) == [office]
    assert ids(f("price", "GT", value="12.50")) == [office]
    assert ids(f("amount", "EQ", value="7.00")) == [tea]  # 2 x 3.50
    assert ids(f("quantity", "GTE", value="4")) == [office]
    assert ids(f("quantity", "IN", values=["1", "2"])) == [tea]
    assert ids(f("hs_product_id", "EQ", value=quotes["plan"]["id"])) == [office]
    assert ids(f("hs_product_id", "NOT_HAS_PROPERTY")) == [tea]
    assert ids(f("recurringbillingfrequency", "EQ", value="monthly")) == [office]
    assert ids(f("name", "CONTAINS_TOKEN", value="bags")) == [tea]
    # A line item's last modification is its creation.
    assert set(ids(f("hs_lastmodifieddate", "GT", value="2000-01-01T00:00:00Z"))) == {office, tea}
    assert ids(query="tea") == [tea]
    assert ids(sorts=[{"propertyName": "amount", "direction": "DESCENDING"}]) == [office, tea]
    shown = do_search(
        hubspot.crm.line_items.search_api,
        line_item_models,
        f("hs_object_id", "EQ", value=tea),
        properties=["amount", "quantity"],
    ).results[0]
    assert (shown.properties["amount"], shown.properties["quantity"]) == ("7.00", "2")

    body = refused(
        hubspot.crm.line_items.search_api,
        line_item_models,
        f("quantity", "CONTAINS_TOKEN", value="2"),
    )
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.operator"
    body = refused(hubspot.crm.line_items.search_api, line_item_models, sorts=["updated_at"])
    assert "'updated_at'" in body["message"]


# --------------------------------------------------------------------------- invoices


@pytest.fixture
def invoices(api: Api, other_api: Api, session_factory: Any) -> dict[str, dict[str, Any]]:
    """The first invoices of two subscriptions, billed on 1 and 20 March 2026 (the REST API's
    view, by subscription name), and one of another account."""
    pin_clock(session_factory, api.account_id, datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    coffee = create_subscription(api, name="Coffee monthly")
    pin_clock(session_factory, api.account_id, datetime(2026, 3, 20, 10, 0, tzinfo=UTC))
    tea = create_subscription(
        api,
        email="otto@example.com",
        name="Tea club",
        collection_method="send_invoice",
        payment_method_id=None,
        line_items=[custom_item("Tea club", "9.00", billing_frequency="monthly")],
    )
    create_subscription(other_api, name="Coffee monthly")
    listed = api.ok(api.get("/invoices"))["data"]
    by_subscription = {sub["id"]: sub["name"] for sub in (coffee, tea)}
    assert len(listed) == 2
    return {by_subscription[i["subscription_id"]]: i for i in listed}


def test_invoice_search(hubspot: HubSpot, invoices: dict[str, dict[str, Any]]) -> None:
    coffee, tea = invoices["Coffee monthly"], invoices["Tea club"]
    assert (coffee["issue_date"], tea["issue_date"]) == ("2026-03-01", "2026-03-20")
    assert coffee["status"] != tea["status"]
    search_api = hubspot.crm.commerce.invoices.search_api

    def ids(*filters: dict[str, Any], **request: Any) -> list[str]:
        found = do_search(search_api, invoice_models, *filters, **request)
        assert found.total == len(found.results)
        return [r.id for r in found.results]

    assert set(ids()) == {coffee["id"], tea["id"]}  # not the other account's
    assert ids(f("hs_amount_billed", "GT", value="12.50")) == [coffee["id"]]
    # The coffee invoice was charged to the card; the tea invoice waits for payment.
    assert (coffee["amount_due"], tea["amount_due"]) == ("0.00", "9.00")
    assert ids(f("hs_balance_due", "GT", value="0")) == [tea["id"]]
    assert ids(f("paid_at", "HAS_PROPERTY")) == [coffee["id"]]
    assert ids(f("hs_invoice_date", "BETWEEN", value="2026-03-15", high_value="2026-03-31")) == [
        tea["id"]
    ]
    # Dates also as epoch milliseconds (2026-03-10T00:00:00Z).
    assert ids(f("hs_invoice_date", "LT", value="1773100800000")) == [coffee["id"]]
    assert ids(f("hs_invoice_status", "IN", values=[tea["status"]])) == [tea["id"]]
    assert ids(f("hs_invoice_status", "NOT_IN", values=[tea["status"]])) == [coffee["id"]]
    assert ids(f("collection_method", "EQ", value="send_invoice")) == [tea["id"]]
    assert ids(f("subscription_id", "EQ", value=coffee["subscription_id"])) == [coffee["id"]]
    assert ids(f("hs_number", "EQ", value=tea["number"].lower())) == [tea["id"]]
    assert ids(query=coffee["number"]) == [coffee["id"]]
    assert ids(sorts=[{"propertyName": "hs_invoice_date", "direction": "DESCENDING"}]) == [
        tea["id"],
        coffee["id"],
    ]
    assert ids(sorts=["hs_amount_billed"]) == [tea["id"], coffee["id"]]
    first = do_search(search_api, invoice_models, sorts=["hs_invoice_date"], limit=1)
    assert [r.id for r in first.results] == [coffee["id"]] and first.total == 2
    rest = do_search(
        search_api,
        invoice_models,
        sorts=["hs_invoice_date"],
        limit=1,
        after=first.paging.next.after,
    )
    assert [r.id for r in rest.results] == [tea["id"]] and rest.paging is None
    shown = do_search(
        search_api,
        invoice_models,
        f("hs_object_id", "EQ", value=coffee["id"]),
        properties=["hs_amount_billed", "hs_invoice_date"],
    ).results[0]
    assert shown.properties["hs_amount_billed"] == coffee["total"]
    assert shown.properties["hs_invoice_date"] == "2026-03-01"

    body = refused(search_api, invoice_models, f("hs_invoice_date", "EQ", value="March"))
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.value"
    body = refused(search_api, invoice_models, f("hs_number", "GTE", value="INV"))
    assert body["errors"][0]["in"] == "filterGroups.0.filters.0.operator"
    # Invoices have no custom properties.
    body = refused(search_api, invoice_models, f("po_number", "HAS_PROPERTY"))
    assert "'po_number'" in body["message"]
