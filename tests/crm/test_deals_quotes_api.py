from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from cadency.accounts.models import Account
from cadency.crm.models import Quote
from cadency.kit import clock
from tests.conftest import Api, pin_clock
from tests.crm.test_contacts_api import error


def product(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Coffee plan", "unit_price": "25.00", "currency": "USD"}
    body.update(fields)
    created: dict[str, Any] = api.ok(api.post("/products", body))
    return created


def contact(api: Api, email: str = "buyer@example.com") -> dict[str, Any]:
    created: dict[str, Any] = api.ok(api.post("/contacts", {"email": email}))
    return created


def account_today(session_factory: Any, account_id: int) -> date:
    with session_factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        return clock.account_today(account)


# Deals


def test_deal_amount_is_the_sum_of_its_line_items(api: Api) -> None:
    monthly = product(api, billing_frequency="monthly")
    rate = api.ok(api.post("/tax-rates", {"name": "VAT", "percentage": "21.00"}))
    buyer = contact(api)
    company = api.ok(api.post("/companies", {"name": "Buyer Co"}))

    deal = api.ok(
        api.post(
            "/deals",
            {
                "name": "Coffee for the office",
                "contact_id": buyer["id"],
                "company_id": company["id"],
                "line_items": [
                    {"product_id": monthly["id"], "quantity": 2, "tax_rate_id": rate["id"]},
                    {
                        "name": "Setup",
                        "unit_price": "10.00",
                        "quantity": 3,
                        "unit_discount_percent": "12.5",
                    },
                    {
                        "product_id": monthly["id"],
                        "name": "Coffee plan (yearly contract)",
                        "unit_price": "20.00",
                        "billing_terms": "fixed",
                        "number_of_payments": 12,
                        "billing_start_date": "2031-01-31",
                    },
                ],
            },
        )
    )
    assert deal["id"].startswith("deal_")
    assert deal["object"] == "deal"
    assert deal["stage"] == "appointment_scheduled"
    assert deal["currency"] == "USD"
    assert deal["contact_id"] == buyer["id"]
    assert deal["company_id"] == company["id"]
    # 2 * 25.00 + 3 * (10.00 - 1.25) + 1 * 20.00
    assert deal["amount"] == "96.25"
    first, setup, fixed = deal["line_items"]
    assert first["id"].startswith("li_")
    assert first["name"] == "Coffee plan"
    assert first["product_id"] == monthly["id"]
    assert first["unit_price"] == "25.00"
    assert first["quantity"] == 2
    assert first["tax_rate_id"] == rate["id"]
    assert first["billing_frequency"] == "monthly"
    assert first["billing_terms"] == "auto_renew"
    assert first["number_of_payments"] is None
    assert first["amount"] == "50.00"
    assert setup["product_id"] is None
    assert setup["unit_discount_percent"] == "12.50"
    assert setup["billing_frequency"] is None and setup["billing_terms"] is None
    assert setup["amount"] == "26.25"
    assert fixed["name"] == "Coffee plan (yearly contract)"
    assert fixed["billing_terms"] == "fixed"
    assert fixed["number_of_payments"] == 12
    assert fixed["billing_start_date"] == "2031-01-31"
    assert fixed["amount"] == "20.00"
    assert api.ok(api.get(f"/deals/{deal['id']}")) == deal
    # Editing the product later never changes the line item.
    api.ok(api.patch(f"/products/{monthly['id']}", {"unit_price": "99.00"}))
    assert api.ok(api.get(f"/deals/{deal['id']}"))["line_items"][0]["unit_price"] == "25.00"


def test_deal_in_a_zero_decimal_currency(api: Api) -> None:
    yen = product(api, unit_price="1200", currency="JPY")
    deal = api.ok(
        api.post(
            "/deals",
            {"name": "Yen deal", "currency": "JPY", "line_items": [{"product_id": yen["id"]}]},
        )
    )
    assert deal["amount"] == "1200"
    body = error(
        api.post(
            "/deals",
            {"name": "x", "currency": "JPY", "line_items": [{"name": "a", "unit_price": "12.5"}]},
        ),
        422,
    )
    assert body["param"] == "line_items.0.unit_price"


def test_deal_line_item_validation(api: Api) -> None:
    monthly = product(api, billing_frequency="monthly")
    one_time = product(api, name="Grinder", unit_price="80.00")
    euro = product(api, name="Euro plan", currency="EUR")
    p = "line_items.0."
    monthly_id = monthly["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "unit_price": 10.5}, p + "unit_price"),
        ({"name": "x", "unit_price": "1e3"}, p + "unit_price"),
        ({"name": "x", "unit_price": "-5.00"}, p + "unit_price"),
        ({"name": "x"}, p + "unit_price"),
        ({"unit_price": "5.00"}, p + "name"),
        ({"product_id": euro["id"]}, p + "product_id"),
        ({"product_id": "prod_doesnotexist"}, p + "product_id"),
        ({"product_id": monthly_id, "quantity": 0}, p + "quantity"),
        ({"product_id": monthly_id, "quantity": "2"}, p + "quantity"),
        ({"product_id": monthly_id, "billing_terms": "fixed"}, p + "number_of_payments"),
        (
            {"product_id": monthly_id, "billing_terms": "auto_renew", "number_of_payments": 3},
            p + "number_of_payments",
        ),
        ({"product_id": monthly_id, "number_of_payments": 3}, p + "number_of_payments"),
        ({"product_id": monthly_id, "billing_terms": "forever"}, p + "billing_terms"),
        ({"product_id": monthly_id, "billing_frequency": "daily"}, p + "billing_frequency"),
        ({"product_id": one_time["id"], "billing_terms": "auto_renew"}, p + "billing_terms"),
        ({"product_id": monthly_id, "unit_discount_percent": "101"}, p + "unit_discount_percent"),
        ({"product_id": monthly_id, "unit_discount_percent": 10}, p + "unit_discount_percent"),
        ({"product_id": monthly_id, "tax_rate_id": "txr_nope"}, p + "tax_rate_id"),
        ({"product_id": monthly_id, "billing_start_date": "31-01-2031"}, p + "billing_start_date"),
        ({"product_id": monthly_id, "colour": "red"}, p + "colour"),
    ]
    for item, param in cases:
        body = error(api.post("/deals", {"name": "Bad", "line_items": [item]}), 422)
        assert body["param"] == param, (item, body)
        assert body["type"] == "invalid_request"
    # The second item is named by its position.
    body = error(
        api.post(
            "/deals",
            {"name": "Bad", "line_items": [{"product_id": monthly["id"]}, {"name": "no price"}]},
        ),
        422,
    )
    assert body["param"] == "line_items.1.unit_price"
    # Nothing was written by the failed requests.
    assert api.ok(api.get("/deals"))["data"] == []


def test_deal_fields_are_checked(api: Api, other_api: Api) -> None:
    theirs = contact(other_api, "theirs@example.com")
    their_product = product(other_api)
    assert error(api.post("/deals", {"name": "x", "amount": "10.00"}), 422)["param"] == "amount"
    assert error(api.post("/deals", {"line_items": []}), 422)["param"] == "name"
    assert error(api.post("/deals", {"name": "x", "stage": "won"}), 422)["param"] == "stage"
    assert error(api.post("/deals", {"name": "x", "currency": "usd"}), 422)["param"] == "currency"
    assert error(api.post("/deals", {"name": "x", "currency": "ABC"}), 422)["param"] == "currency"
    body = error(api.post("/deals", {"name": "x", "contact_id": theirs["id"]}), 422)
    assert body["param"] == "contact_id"
    body = error(
        api.post("/deals", {"name": "x", "line_items": [{"product_id": their_product["id"]}]}), 422
    )
    assert body["param"] == "line_items.0.product_id"


def test_custom_line_items_need_their_permission(
    api: Api, api_with_scopes: Callable[..., Api]
) -> None:
    plan = product(api, billing_frequency="annually")
    editor = api_with_scopes("subscriptions.edit")
    body = error(
        editor.post(
            "/deals", {"name": "Custom", "line_items": [{"name": "x", "unit_price": "1.00"}]}
        ),
        403,
    )
    assert body["type"] == "permission"
    assert "line_items.create_custom" in body["message"]
    deal = editor.ok(
        editor.post("/deals", {"name": "Library", "line_items": [{"product_id": plan["id"]}]})
    )
    assert deal["amount"] == "25.00"
    assert deal["line_items"][0]["billing_frequency"] == "annually"

    custom = api_with_scopes("subscriptions.edit", "line_items.create_custom")
    deal = custom.ok(
        custom.post(
            "/deals", {"name": "Custom", "line_items": [{"name": "x", "unit_price": "1.00"}]}
        )
    )
    assert deal["amount"] == "1.00"


def test_list_deals_paginates_with_line_items(api: Api, other_api: Api) -> None:
    plan = product(api)
    ids = [
        api.ok(
            api.post(
                "/deals",
                {
                    "name": f"Deal {i}",
                    "line_items": [{"product_id": plan["id"], "quantity": i + 1}],
                },
            )
        )["id"]
        for i in range(3)
    ]
    first = api.ok(api.get("/deals", {"limit": 2}))
    assert [d["id"] for d in first["data"]] == [ids[2], ids[1]]
    assert [d["amount"] for d in first["data"]] == ["75.00", "50.00"]
    assert [len(d["line_items"]) for d in first["data"]] == [1, 1]
    assert first["has_more"] is True
    second = api.ok(api.get("/deals", {"limit": 2, "cursor": first["next_cursor"]}))
    assert [d["id"] for d in second["data"]] == [ids[0]]
    assert second["data"][0]["line_items"][0]["quantity"] == 1
    assert second["has_more"] is False

    assert error(other_api.get(f"/deals/{ids[0]}"), 404)["type"] == "not_found"
    assert other_api.ok(other_api.get("/deals"))["data"] == []


# Quotes


def test_create_and_publish_a_quote(api: Api, session_factory: Any) -> None:
    plan = product(api, billing_frequency="monthly")
    buyer = contact(api)
    expires = account_today(session_factory, api.account_id) + timedelta(days=30)
    quote = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Office coffee",
                "contact_id": buyer["id"],
                "expires_on": expires.isoformat(),
                "line_items": [{"product_id": plan["id"], "quantity": 4}],
            },
        )
    )
    assert quote["id"].startswith("quote_")
    assert quote["object"] == "quote"
    assert quote["status"] == "draft"
    assert quote["currency"] == "USD"
    assert quote["contact_id"] == buyer["id"]
    assert quote["company_id"] is None and quote["deal_id"] is None
    assert quote["expires_on"] == expires.isoformat()
    assert quote["published_at"] is None
    assert quote["amount"] == "100.00"
    assert [(i["name"], i["amount"]) for i in quote["line_items"]] == [("Coffee plan", "100.00")]
    assert api.ok(api.get(f"/quotes/{quote['id']}")) == quote

    # A test-mode account stamps records with its own clock: stop it to compare exactly.
    moment = datetime.fromisoformat(api.ok(api.get("/clock"))["now"]).replace(microsecond=0)
    pin_clock(session_factory, api.account_id, moment)
    published = api.ok(api.post(f"/quotes/{quote['id']}/publish"))
    assert published["status"] == "published"
    assert datetime.fromisoformat(published["published_at"]) == moment
    assert published["line_items"] == quote["line_items"]
    assert api.ok(api.get(f"/quotes/{quote['id']}"))["status"] == "published"

    again = error(api.post(f"/quotes/{quote['id']}/publish"), 409)
    assert again["type"] == "conflict"
    assert "published" in again["message"]


def test_publishing_needs_a_draft_with_line_items(api: Api, session_factory: Any) -> None:
    buyer = contact(api)
    empty = api.ok(api.post("/quotes", {"name": "Empty", "contact_id": buyer["id"]}))
    assert empty["line_items"] == [] and empty["amount"] == "0.00"
    body = error(api.post(f"/quotes/{empty['id']}/publish"), 409)
    assert "line items" in body["message"]
    assert api.ok(api.get(f"/quotes/{empty['id']}"))["status"] == "draft"

    plan = product(api)
    accepted = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Accepted",
                "contact_id": buyer["id"],
                "line_items": [{"product_id": plan["id"]}],
            },
        )
    )
    with session_factory() as session:
        row = session.get(Quote, accepted["id"])
        assert row is not None
        row.status = "accepted"
        session.commit()
    assert "accepted" in error(api.post(f"/quotes/{accepted['id']}/publish"), 409)["message"]

    # A quote whose expiry date has passed on the account's clock cannot be published.
    expiring = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Expiring",
                "contact_id": buyer["id"],
                "expires_on": account_today(session_factory, api.account_id).isoformat(),
                "line_items": [{"product_id": plan["id"]}],
            },
        )
    )
    later = datetime.fromisoformat(api.ok(api.get("/clock"))["now"]) + timedelta(days=2)
    api.ok(api.post("/clock/advance", {"to": later.isoformat()}))
    assert "expired" in error(api.post(f"/quotes/{expiring['id']}/publish"), 409)["message"]
    assert error(api.post("/quotes/quote_nope/publish"), 404)["type"] == "not_found"


def test_quote_from_a_deal_copies_its_terms(api: Api) -> None:
    plan = product(api, unit_price="30.00", currency="EUR", billing_frequency="quarterly")
    buyer = contact(api)
    company = api.ok(api.post("/companies", {"name": "Buyer BV"}))
    deal = api.ok(
        api.post(
            "/deals",
            {
                "name": "EUR deal",
                "currency": "EUR",
                "contact_id": buyer["id"],
                "company_id": company["id"],
                "line_items": [{"product_id": plan["id"], "quantity": 2}],
            },
        )
    )
    quote = api.ok(api.post("/quotes", {"name": "From deal", "deal_id": deal["id"]}))
    assert quote["deal_id"] == deal["id"]
    assert quote["currency"] == "EUR"
    assert quote["contact_id"] == buyer["id"]
    assert quote["company_id"] == company["id"]
    assert quote["amount"] == "60.00"
    (item,) = quote["line_items"]
    assert item["id"] != deal["line_items"][0]["id"]
    assert {k: v for k, v in item.items() if k != "id"} == {
        k: v for k, v in deal["line_items"][0].items() if k != "id"
    }
    # The deal keeps its own line items.
    assert api.ok(api.get(f"/deals/{deal['id']}"))["line_items"] == deal["line_items"]

    body = error(api.post("/quotes", {"name": "x", "deal_id": deal["id"], "currency": "USD"}), 422)
    assert body["param"] == "currency"
    own_items = api.ok(
        api.post(
            "/quotes",
            {
                "name": "Own items",
                "deal_id": deal["id"],
                "line_items": [{"product_id": plan["id"]}],
            },
        )
    )
    assert own_items["amount"] == "30.00"


def test_quote_validation(api: Api, other_api: Api, session_factory: Any) -> None:
    buyer = contact(api)
    plan = product(api)
    body = error(api.post("/quotes", {"name": "No buyer"}), 422)
    assert body["param"] == "contact_id"
    theirs = contact(other_api, "theirs@example.com")
    assert (
        error(api.post("/quotes", {"name": "x", "contact_id": theirs["id"]}), 422)["param"]
        == "contact_id"
    )
    yesterday = account_today(session_factory, api.account_id) - timedelta(days=1)
    body = error(
        api.post(
            "/quotes",
            {"name": "x", "contact_id": buyer["id"], "expires_on": yesterday.isoformat()},
        ),
        422,
    )
    assert body["param"] == "expires_on"
    body = error(
        api.post("/quotes", {"name": "x", "contact_id": buyer["id"], "status": "accepted"}), 422
    )
    assert body["param"] == "status"
    body = error(
        api.post(
            "/quotes",
            {
                "name": "x",
                "contact_id": buyer["id"],
                "line_items": [{"product_id": plan["id"], "unit_price": 25}],
            },
        ),
        422,
    )
    assert body["param"] == "line_items.0.unit_price"
    body = error(
        api.post("/quotes", {"name": "x", "contact_id": buyer["id"], "deal_id": "deal_nope"}), 422
    )
    assert body["param"] == "deal_id"


def test_list_quotes_pagination_filters_and_isolation(api: Api, other_api: Api) -> None:
    buyer = contact(api)
    plan = product(api)
    ids = [
        api.ok(
            api.post(
                "/quotes",
                {
                    "name": f"Q{i}",
                    "contact_id": buyer["id"],
                    "line_items": [{"product_id": plan["id"]}],
                },
            )
        )["id"]
        for i in range(3)
    ]
    api.ok(api.post(f"/quotes/{ids[0]}/publish"))
    first = api.ok(api.get("/quotes", {"limit": 2}))
    assert [q["id"] for q in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    second = api.ok(api.get("/quotes", {"limit": 2, "cursor": first["next_cursor"]}))
    assert [q["id"] for q in second["data"]] == [ids[0]]
    assert second["has_more"] is False
    assert [q["id"] for q in api.ok(api.get("/quotes", {"status": "published"}))["data"]] == [
        ids[0]
    ]
    assert error(api.get("/quotes", {"status": "lost"}), 422)["param"] == "status"

    assert error(other_api.get(f"/quotes/{ids[1]}"), 404)["type"] == "not_found"
    assert error(other_api.post(f"/quotes/{ids[1]}/publish"), 404)["type"] == "not_found"
    assert api.ok(api.get(f"/quotes/{ids[1]}"))["status"] == "draft"
    assert other_api.ok(other_api.get("/quotes"))["data"] == []
