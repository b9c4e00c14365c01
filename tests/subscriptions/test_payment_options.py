"""A subscription's online payment options (SPEC §4 "Collection"): set at creation, read with
their defaults, changed with PATCH, and refused with the field named when they are wrong."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from cadency.subscriptions.models import Subscription
from tests.conftest import Api
from tests.subscriptions.helpers import create_subscription, subscription_body

DEFAULTS = {
    "accept_online_payments": True,
    "payment_types": ["card"],
    "collect_billing_address": False,
    "collect_shipping_address": False,
    "save_payment_method": True,
}


def test_without_options_a_subscription_reads_the_defaults(api: Api, db: Any) -> None:
    sub = create_subscription(api)
    assert sub["payment_options"] == DEFAULTS
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["payment_options"] == DEFAULTS
    # A row written before the options existed (NULL) reads as the defaults too.
    db.execute(
        update(Subscription).where(Subscription.id == sub["id"]).values(payment_options=None)
    )
    db.commit()
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["payment_options"] == DEFAULTS


def test_options_given_at_creation_are_kept(api: Api) -> None:
    options = {
        "accept_online_payments": True,
        "payment_types": ["bank_debit", "card"],
        "collect_billing_address": True,
        "collect_shipping_address": True,
        "save_payment_method": False,
    }
    sub = create_subscription(api, payment_options=options)
    assert sub["payment_options"] == options
    listed = api.ok(api.get("/subscriptions", {"contact_id": sub["contact_id"]}))["data"]
    assert listed[0]["payment_options"] == options


def test_a_partial_object_takes_the_defaults_for_the_rest(api: Api) -> None:
    sub = create_subscription(api, payment_options={"collect_billing_address": True})
    assert sub["payment_options"] == {**DEFAULTS, "collect_billing_address": True}


def test_without_online_payments_no_payment_type_is_needed(api: Api) -> None:
    sub = create_subscription(
        api,
        collection_method="send_invoice",
        payment_method_id=None,
        payment_options={"accept_online_payments": False, "payment_types": []},
    )
    assert sub["payment_options"]["accept_online_payments"] is False
    assert sub["payment_options"]["payment_types"] == []


def test_charged_automatically_online_payments_cannot_be_turned_off(api: Api) -> None:
    """Seed 004: with automatic collection "Accept online payments" is on and cannot be
    turned off; at creation and in a PATCH, 422 naming the switch, and nothing changes."""
    body = subscription_body(api, payment_options={"accept_online_payments": False})
    response = api.post("/subscriptions", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "payment_options.accept_online_payments"
    assert api.ok(api.get("/subscriptions"))["data"] == []

    sub = create_subscription(api, email="olga@example.com")
    response = api.patch(
        f"/subscriptions/{sub['id']}", {"payment_options": {"accept_online_payments": False}}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == "payment_options.accept_online_payments"
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["payment_options"] == DEFAULTS


def test_patch_changes_only_the_options_given_and_records_it(api: Api) -> None:
    sub = create_subscription(api)
    patched = api.ok(
        api.patch(
            f"/subscriptions/{sub['id']}",
            {"payment_options": {"payment_types": ["bank_debit"], "save_payment_method": False}},
        )
    )
    expected = {**DEFAULTS, "payment_types": ["bank_debit"], "save_payment_method": False}
    assert patched["payment_options"] == expected
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["payment_options"] == expected
    events = api.ok(api.get(f"/subscriptions/{sub['id']}/events"))["data"]
    assert events[-1]["type"] == "subscription.updated"
    assert events[-1]["data"]["changes"]["payment_options"] == {"from": DEFAULTS, "to": expected}

    # The next change starts from what is stored, not from the defaults.
    again = api.ok(
        api.patch(
            f"/subscriptions/{sub['id']}", {"payment_options": {"collect_shipping_address": True}}
        )
    )
    assert again["payment_options"] == {**expected, "collect_shipping_address": True}


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"payment_types": ["card", "cash"]}, "payment_options.payment_types.1"),
        ({"payment_types": ["paypal"]}, "payment_options.payment_types.0"),
        ({"payment_types": ["card", "card"]}, "payment_options.payment_types"),
        ({"payment_types": []}, "payment_options.payment_types"),
        ({"accept_online_payments": "yes"}, "payment_options.accept_online_payments"),
        ({"fees": True}, "payment_options.fees"),
    ],
)
def test_bad_options_are_refused_naming_the_field(
    api: Api, options: dict[str, Any], param: str
) -> None:
    response = api.post("/subscriptions", subscription_body(api, payment_options=options))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    assert api.ok(api.get("/subscriptions"))["data"] == []


def test_bad_options_in_a_patch_change_nothing(api: Api) -> None:
    sub = create_subscription(api)
    for body, param in [
        ({"payment_options": {"payment_types": ["cheque"]}}, "payment_options.payment_types.0"),
        ({"payment_options": {"payment_types": []}}, "payment_options.payment_types"),
        ({"payment_options": None}, "payment_options"),
    ]:
        response = api.patch(f"/subscriptions/{sub['id']}", body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == param
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["payment_options"] == DEFAULTS


def test_a_record_only_subscription_has_no_payment_options_to_edit(api: Api) -> None:
    sub = create_subscription(api, invoice_creation=False)
    response = api.patch(
        f"/subscriptions/{sub['id']}", {"payment_options": {"save_payment_method": False}}
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["param"] == "payment_options"
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["payment_options"] == DEFAULTS
