"""The account's default invoice comment and tax IDs (issue 19, seed 004): set on
/account/settings, applied to new subscriptions and invoices made without their own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.subscriptions.helpers import subscription_body

COMMENT = "Thank you for your order!\n**Questions?** Write to [us](https://example.com)."


def _invoices(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    return api.ok(api.get("/invoices", params={"subscription_id": subscription_id}))["data"]


def test_the_defaults_are_set_replaced_and_cleared(api: Api) -> None:
    updated = api.ok(
        api.patch(
            "/account/settings",
            {"default_invoice_comment": f"  {COMMENT}\n", "tax_ids": ["NL123456789B01", "DE999"]},
        )
    )
    assert updated["default_invoice_comment"] == COMMENT
    assert updated["tax_ids"] == ["NL123456789B01", "DE999"]
    # Other settings leave them alone; a new list replaces the old one.
    api.ok(api.patch("/account/settings", {"invoice_number_prefix": "CAD"}))
    assert api.ok(api.get("/account/settings"))["tax_ids"] == ["NL123456789B01", "DE999"]
    assert api.ok(api.patch("/account/settings", {"tax_ids": ["DE999"]}))["tax_ids"] == ["DE999"]
    cleared = api.ok(
        api.patch("/account/settings", {"default_invoice_comment": None, "tax_ids": []})
    )
    assert (cleared["default_invoice_comment"], cleared["tax_ids"]) == (None, [])
    api.ok(api.patch("/account/settings", {"default_invoice_comment": "Thanks"}))
    emptied = api.ok(api.patch("/account/settings", {"default_invoice_comment": "  "}))
    assert emptied["default_invoice_comment"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"tax_ids": ["NL123456789B01", "NL123456789B01"]},
        {"tax_ids": ["NL123456789B01", " NL123456789B01 "]},
        {"tax_ids": [f"ID{n}" for n in range(11)]},
        {"tax_ids": ["x" * 65]},
        {"tax_ids": [""]},
        {"tax_ids": ["NL1", "  "]},
        {"tax_ids": ["NL1\nNL2"]},
        {"tax_ids": "NL123456789B01"},
        {"tax_ids": None},
        {"default_invoice_comment": "x" * 5001},
    ],
)
def test_bad_defaults_are_refused_naming_the_field(api: Api, body: dict[str, Any]) -> None:
    api.ok(api.patch("/account/settings", {"tax_ids": ["DE999"], "default_invoice_comment": "Hi"}))
    refused = api.patch("/account/settings", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["param"].split(".")[0] == next(iter(body))
    settings = api.ok(api.get("/account/settings"))
    assert (settings["tax_ids"], settings["default_invoice_comment"]) == (["DE999"], "Hi")


def test_a_subscription_without_its_own_takes_the_defaults(api: Api) -> None:
    api.ok(
        api.patch(
            "/account/settings", {"default_invoice_comment": COMMENT, "tax_ids": ["NL123456789B01"]}
        )
    )
    plain = api.ok(api.post("/subscriptions", subscription_body(api)))
    assert plain["invoice_settings"]["comments"] == COMMENT
    assert plain["invoice_settings"]["tax_ids"] == ["NL123456789B01"]
    [invoice] = _invoices(api, plain["id"])
    assert (invoice["comments"], invoice["tax_ids"]) == (COMMENT, ["NL123456789B01"])

    # Settings that leave both out (a language only) still take both defaults.
    body = subscription_body(api, email="lars@example.com", invoice_settings={"language": "nl"})
    languaged = api.ok(api.post("/subscriptions", body))
    assert languaged["invoice_settings"]["comments"] == COMMENT
    assert languaged["invoice_settings"]["tax_ids"] == ["NL123456789B01"]

    # Its own comment and tax IDs win; given empty, there are none.
    own = {"comments": "Just for you", "tax_ids": ["DE999"]}
    body = subscription_body(api, email="ada@example.com", invoice_settings=own)
    mine = api.ok(api.post("/subscriptions", body))
    [invoice] = _invoices(api, mine["id"])
    assert (invoice["comments"], invoice["tax_ids"]) == ("Just for you", ["DE999"])
    none = {"comments": "", "tax_ids": []}
    body = subscription_body(api, email="bo@example.com", invoice_settings=none)
    bare = api.ok(api.post("/subscriptions", body))
    [invoice] = _invoices(api, bare["id"])
    assert (invoice["comments"], invoice["tax_ids"]) == (None, [])
    body = subscription_body(api, email="cy@example.com", invoice_settings={"comments": None})
    nulled = api.ok(api.post("/subscriptions", body))
    assert nulled["invoice_settings"]["comments"] is None
    assert nulled["invoice_settings"]["tax_ids"] == ["NL123456789B01"]

    # A later change of the defaults leaves existing subscriptions as they were made.
    api.ok(api.patch("/account/settings", {"default_invoice_comment": None, "tax_ids": []}))
    again = api.ok(api.get(f"/subscriptions/{plain['id']}"))
    assert again["invoice_settings"]["comments"] == COMMENT
    later = api.ok(api.post("/subscriptions", subscription_body(api, email="di@example.com")))
    assert (later["invoice_settings"]["comments"], later["invoice_settings"]["tax_ids"]) == (
        None,
        [],
    )


def test_without_defaults_nothing_changes(api: Api) -> None:
    plain = api.ok(api.post("/subscriptions", subscription_body(api)))
    [invoice] = _invoices(api, plain["id"])
    assert (invoice["comments"], invoice["tax_ids"]) == (None, [])


def test_an_invoice_made_by_a_conversion_takes_the_defaults(api: Api) -> None:
    # A deal of one-time items becomes an invoice of its own, which has no comment to give.
    api.ok(api.patch("/account/settings", {"default_invoice_comment": COMMENT, "tax_ids": ["B1"]}))
    setup = api.ok(
        api.post("/products", {"name": "Setup", "unit_price": "5.00", "currency": "USD"})
    )
    buyer = api.ok(api.post("/contacts", {"email": "carl@example.com"}))
    body = {"name": "Office coffee", "contact_id": buyer["id"]}
    deal = api.ok(api.post("/deals", body | {"line_items": [{"product_id": setup["id"]}]}))
    converted = api.ok(api.post(f"/deals/{deal['id']}/convert"))
    invoice = api.ok(api.get(f"/invoices/{converted['invoice_id']}"))
    assert (invoice["subscription_id"], invoice["total"]) == (None, "5.00")
    assert (invoice["comments"], invoice["tax_ids"]) == (COMMENT, ["B1"])
