"""A payment link's own payment options and look (issue 16): what the buyer may pay with, the
addresses asked and kept on the payment, whether the method is kept, and what the hosted page
shows of the merchant. Refusals name the field and write nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cadency.payments.models import Payment
from tests.checkout.builders import (
    bank,
    card,
    catalog,
    checkout,
    checkout_body,
    error,
    link,
    row_counts,
)
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 10, tzinfo=UTC)
ADDRESS = {
    "line1": "Keizersgracht 1",
    "city": "Amsterdam",
    "postal_code": "1015 CJ",
    "country": "NL",
}


def _payment(shop: Story, payment_id: str) -> Payment:
    with shop.session_factory() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        return payment


@pytest.fixture
def shop(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=START)


def test_a_link_keeps_its_options_and_look_and_its_subscriptions_take_the_options(
    shop: Story,
) -> None:
    api = shop.api
    products = catalog(api)
    options = {
        "accept_online_payments": True,
        "payment_types": ["card", "bank_debit"],
        "collect_billing_address": True,
        "collect_shipping_address": False,
        "save_payment_method": True,
    }
    created = link(
        api,
        [{"product_id": products["monthly"]["id"]}],
        payment_options=options,
        logo_url="https://cdn.example.com/logo.png",
        button_text="Start my box",
        confirmation_message="Thanks!\nYour first box ships Monday.",
    )
    assert created["payment_options"] == options
    assert (created["logo_url"], created["button_text"]) == (
        "https://cdn.example.com/logo.png",
        "Start my box",
    )
    assert created["confirmation_message"] == "Thanks!\nYour first box ships Monday."
    done = checkout(api, created["id"], billing_address=ADDRESS)
    sub = shop.subscription(done["subscriptions"][0])
    assert sub["payment_options"] == options
    payment = _payment(shop, done["payment_id"])
    assert payment.billing_address == {**ADDRESS, "line2": None, "region": None}
    assert payment.shipping_address is None

    patched = api.ok(
        api.patch(
            f"/payment-links/{created['id']}",
            {"payment_options": {"collect_shipping_address": True}, "button_text": None},
        )
    )
    assert patched["payment_options"] == {**options, "collect_shipping_address": True}
    assert patched["button_text"] is None
    assert patched["logo_url"] == "https://cdn.example.com/logo.png"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {"payment_options": {"accept_online_payments": False}},
            "payment_options.accept_online_payments",
        ),
        (
            {"payment_options": {"save_payment_method": False}},
            "payment_options.save_payment_method",
        ),
        ({"payment_options": {"payment_types": []}}, "payment_options.payment_types"),
        ({"logo_url": "http://example.com/logo.png"}, "logo_url"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"button_text": "Pay\nnow"}, "button_text"),
        ({"button_text": "x" * 41}, "button_text"),
    ],
)
def test_bad_link_options_are_refused_naming_the_field(
    shop: Story, fields: dict[str, Any], param: str
) -> None:
    api = shop.api
    products = catalog(api)
    body = {
        "name": "Box",
        "currency": "USD",
        "line_items": [{"product_id": products["monthly"]["id"]}],
    }
    assert error(api.post("/payment-links", {**body, **fields}), 422)["param"] == param
    assert api.ok(api.get("/payment-links"))["data"] == []


def test_a_send_invoice_link_may_leave_the_method_unkept(shop: Story) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api,
        [{"product_id": products["monthly"]["id"]}],
        collection_method="send_invoice",
        payment_options={"save_payment_method": False},
    )
    # Asking to keep it where the link keeps nothing is refused; leaving it out is not.
    refused = api.post(
        f"/payment-links/{created['id']}/checkout", checkout_body(save_payment_method=True)
    )
    assert error(refused, 422)["param"] == "save_payment_method"
    done = checkout(api, created["id"])
    assert done["payment_method_id"] is None
    assert api.ok(api.get(f"/contacts/{done['contact_id']}/payment-methods"))["data"] == []
    sub = shop.subscription(done["subscriptions"][0])
    assert sub["payment_method_id"] is None
    assert sub["collection_method"] == "send_invoice"


def test_refused_checkouts_write_nothing(shop: Story, session_factory: Any) -> None:
    api = shop.api
    products = catalog(api)
    created = link(
        api,
        [{"product_id": products["monthly"]["id"]}],
        payment_options={"collect_billing_address": True, "collect_shipping_address": True},
    )
    before = row_counts(session_factory, shop.api.account_id)
    path = f"/payment-links/{created['id']}/checkout"
    # Card only (the default): a bank debit is refused before the bank is asked.
    assert (
        error(
            api.post(
                path,
                checkout_body(
                    payment_method=bank(), billing_address=ADDRESS, shipping_address=ADDRESS
                ),
            ),
            422,
        )["param"]
        == "payment_method.type"
    )
    # Addresses asked: each missing part is named.
    assert error(api.post(path, checkout_body()), 422)["param"] == "billing_address.line1"
    partial = {**ADDRESS, "postal_code": None}
    assert (
        error(
            api.post(path, checkout_body(billing_address=ADDRESS, shipping_address=partial)), 422
        )["param"]
        == "shipping_address.postal_code"
    )
    assert row_counts(session_factory, shop.api.account_id) == before
    done = checkout(
        api, created["id"], payment_method=card(), billing_address=ADDRESS, shipping_address=ADDRESS
    )
    payment = _payment(shop, done["payment_id"])
    assert payment.shipping_address["city"] == "Amsterdam"
