"""Deals change after they are created: renamed, moved through stages, linked to another
contact or company, and (while they have no line items) given another currency."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api
from tests.crm.test_contacts_api import error
from tests.crm.test_deals_quotes_api import contact, product


def test_rename_move_stage_and_relink(api: Api) -> None:
    buyer = contact(api)
    other = contact(api, "other@example.com")
    company = api.ok(api.post("/companies", {"name": "Buyer Co"}))
    deal = api.ok(api.post("/deals", {"name": "Office coffee", "contact_id": buyer["id"]}))

    changed = api.ok(
        api.patch(
            f"/deals/{deal['id']}",
            {
                "name": "Office coffee, two floors",
                "stage": "contract_sent",
                "contact_id": other["id"],
                "company_id": company["id"],
            },
        )
    )
    assert changed["name"] == "Office coffee, two floors"
    assert changed["stage"] == "contract_sent"
    assert changed["contact_id"] == other["id"]
    assert changed["company_id"] == company["id"]
    assert changed["updated_at"] >= deal["updated_at"]
    assert changed["created_at"] == deal["created_at"]

    # Only the fields sent change; null unlinks a contact or company.
    again = api.ok(api.patch(f"/deals/{deal['id']}", {"stage": "closed_won", "company_id": None}))
    assert again["stage"] == "closed_won"
    assert again["company_id"] is None
    assert again["contact_id"] == other["id"]
    assert again["name"] == "Office coffee, two floors"
    stored = api.ok(api.get(f"/deals/{deal['id']}"))
    assert (stored["stage"], stored["company_id"]) == ("closed_won", None)
    listed = api.ok(api.get("/deals", params={"stage": "closed_won"}))["data"]
    assert [d["id"] for d in listed] == [deal["id"]]


def test_refused_changes_leave_the_deal_as_it_was(api: Api, other_api: Api) -> None:
    deal = api.ok(api.post("/deals", {"name": "Kept", "stage": "qualified_to_buy"}))
    foreign = other_api.ok(other_api.post("/contacts", {"email": "x@example.com"}))
    for body, status, param in (
        ({"stage": "won"}, 422, "stage"),
        ({"name": None}, 422, "name"),
        ({"stage": None}, 422, "stage"),
        ({"name": "X", "amount": "10.00"}, 422, "amount"),  # the sum of its line items
        ({"contact_id": "cont_missing"}, 422, "contact_id"),
        ({"contact_id": foreign["id"]}, 422, "contact_id"),  # another account's contact
        ({"company_id": "comp_missing"}, 422, "company_id"),
        ({"currency": "XXX"}, 422, "currency"),
    ):
        body_error = error(api.patch(f"/deals/{deal['id']}", body), status)
        assert body_error["param"] == param, body
    stored = api.ok(api.get(f"/deals/{deal['id']}"))
    assert (stored["name"], stored["stage"], stored["contact_id"]) == (
        "Kept",
        "qualified_to_buy",
        None,
    )
    assert error(api.patch("/deals/deal_missing", {"name": "X"}), 404)["type"] == "not_found"
    error(other_api.patch(f"/deals/{deal['id']}", {"name": "Stolen"}), 404)
    assert api.ok(api.get(f"/deals/{deal['id']}"))["name"] == "Kept"


def test_currency_changes_only_without_line_items(api: Api) -> None:
    empty = api.ok(api.post("/deals", {"name": "Not priced yet", "currency": "USD"}))
    changed = api.ok(api.patch(f"/deals/{empty['id']}", {"currency": "EUR"}))
    assert changed["currency"] == "EUR"
    assert changed["amount"] == "0.00"

    plan = product(api, billing_frequency="monthly")
    priced = api.ok(
        api.post(
            "/deals",
            {"name": "Priced", "line_items": [{"product_id": plan["id"], "quantity": 1}]},
        )
    )
    assert priced["currency"] == "USD"
    body = error(api.patch(f"/deals/{priced['id']}", {"currency": "EUR"}), 409)
    assert body["param"] == "currency"
    assert "line items" in body["message"]
    # Its own currency again is no change; other fields still change.
    same = api.ok(api.patch(f"/deals/{priced['id']}", {"currency": "USD", "name": "Renamed"}))
    assert (same["currency"], same["name"], same["amount"]) == ("USD", "Renamed", "25.00")
    assert len(same["line_items"]) == 1


def test_changing_a_deal_needs_the_edit_permission(
    api: Api, api_with_scopes: Callable[..., Api]
) -> None:
    deal = api.ok(api.post("/deals", {"name": "Kept"}))
    viewer = api_with_scopes("subscriptions.view")
    error(viewer.patch(f"/deals/{deal['id']}", {"name": "Viewer"}), 403)
    editor = api_with_scopes("subscriptions.edit")
    assert api.ok(editor.patch(f"/deals/{deal['id']}", {"name": "Editor"}))["name"] == "Editor"
