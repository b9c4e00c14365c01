"""The hosted pages with Stripe as the account's processor, in the browser against localstripe
(whose Stripe.js mock stands in for Stripe's): the card goes into Stripe's own field and to
Stripe only; the page posts the SetupIntent Stripe.js confirmed, and Cadency charges the
PaymentMethod it set up, off-session, through the same checkout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cadency.checkout.models import PaymentLinkPurchase
from cadency.payments.models import Payment, PaymentMethod
from tests.conftest import pin_clock
from tests.stripe_server import LocalStripe, shared, use_stripe, wait_for
from tests.web.conftest import Staff, screenshot

NOW = datetime(2026, 3, 1, 10, tzinfo=UTC)
THREE_D_SECURE = "4000000000003220"


@pytest.fixture
def localstripe(request: pytest.FixtureRequest) -> LocalStripe:
    return shared(request.config)


def fill_stripe_card(page: Page, number: str) -> None:
    """localstripe's card field: plain inputs named by their placeholders."""
    field = page.get_by_test_id("stripe-card")
    field.get_by_placeholder("number").fill(number)
    field.get_by_placeholder("exp_month").fill("12")
    field.get_by_placeholder("exp_year").fill("45")
    field.get_by_placeholder("cvc").fill("123")
    field.get_by_placeholder("postal_code").fill("1015")


def test_a_buyer_pays_a_payment_link_with_stripe(
    staff: Staff, session_factory: Any, localstripe: LocalStripe
) -> None:
    pin_clock(session_factory, staff.api.account_id, NOW)
    use_stripe(staff.api, localstripe)
    product = staff.api.ok(
        staff.api.post(
            "/products",
            {
                "name": "Coffee club",
                "unit_price": "10.00",
                "currency": "EUR",
                "billing_frequency": "monthly",
            },
        )
    )
    link = staff.api.ok(
        staff.api.post(
            "/payment-links",
            {
                "name": "Coffee club",
                "currency": "EUR",
                "line_items": [{"product_id": product["id"]}],
            },
        )
    )
    page = staff.page.context.new_page()
    page.set_default_timeout(10_000)
    response = page.goto(staff.base_url + urlsplit(link["url"]).path)
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert f"script-src 'self' {localstripe.url}" in policy
    # No card inputs of Cadency's own: the card is typed into Stripe's field.
    expect(page.locator('input[name="number"]')).to_have_count(0)
    expect(page.get_by_test_id("stripe-card").get_by_placeholder("number")).to_be_visible()

    page.get_by_test_id("email").fill("ann@example.com")
    fill_stripe_card(page, "4242424242424242")
    page.get_by_test_id("consent").check()
    screenshot(page, "pay-page-stripe")
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("pay-done")).to_contain_text("Thank you!")

    with session_factory() as session:
        [purchase] = session.scalars(
            select(PaymentLinkPurchase).where(PaymentLinkPurchase.payment_link_id == link["id"])
        ).all()
        payment = session.get(Payment, purchase.payment_id)
        assert payment is not None
        assert (payment.processor, payment.status, payment.amount) == ("stripe", "succeeded", 1000)
        assert payment.processor_reference is not None
        method = session.get(PaymentMethod, payment.payment_method_id)
        assert method is not None
        assert (method.processor, method.brand, method.last4) == ("stripe", "visa", "4242")
        assert method.processor_token.startswith("pm_")
    # Stripe charged the method the card field set up, once, for the amount due.
    [intent] = [
        pi for pi in localstripe.payment_intents() if pi["id"] == payment.processor_reference
    ]
    assert (intent["amount"], intent["currency"], intent["status"]) == (1000, "eur", "succeeded")
    assert intent["payment_method"] == method.processor_token


def test_a_declined_card_in_stripes_field_buys_nothing(
    staff: Staff, session_factory: Any, localstripe: LocalStripe
) -> None:
    pin_clock(session_factory, staff.api.account_id, NOW)
    use_stripe(staff.api, localstripe)
    product = staff.api.ok(
        staff.api.post(
            "/products",
            {"name": "Kit", "unit_price": "5.00", "currency": "EUR", "billing_frequency": None},
        )
    )
    link = staff.api.ok(
        staff.api.post(
            "/payment-links",
            {"name": "Kit", "currency": "EUR", "line_items": [{"product_id": product["id"]}]},
        )
    )
    page = staff.page.context.new_page()
    page.set_default_timeout(10_000)
    page.goto(staff.base_url + urlsplit(link["url"]).path)
    page.get_by_test_id("email").fill("bob@example.com")
    fill_stripe_card(page, "4000000000000341")  # attaches, but every charge fails
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("payment-error")).to_have_text("Your card was declined.")
    with session_factory() as session:
        purchases = session.scalars(
            select(PaymentLinkPurchase).where(PaymentLinkPurchase.payment_link_id == link["id"])
        ).all()
        assert purchases == []


def test_the_buyer_confirms_a_3d_secure_payment_on_the_invoice_page(
    staff: Staff, session_factory: Any, localstripe: LocalStripe
) -> None:
    """A renewal charged off-session that the bank wants confirmed: the invoice stays open and
    its page asks for the confirmation (no second payment form); Stripe.js confirms it, Stripe's
    webhook settles it, and the page then shows the invoice paid."""
    pin_clock(session_factory, staff.api.account_id, NOW)
    account = use_stripe(staff.api, localstripe)
    localstripe.register_webhook(
        f"{staff.base_url}/webhooks/stripe/{staff.api.account_id}", account.webhook_secret
    )
    api = staff.api
    contact = api.ok(api.post("/contacts", {"email": "cleo@example.com", "first_name": "Cleo"}))
    method = api.ok(
        api.post(
            f"/contacts/{contact['id']}/payment-methods",
            {
                "type": "card",
                "card": {"number": THREE_D_SECURE, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
            },
        )
    )
    sub = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "currency": "EUR",
                "collection_method": "charge_automatically",
                "payment_method_id": method["id"],
                "line_items": [
                    {"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    [invoice] = api.ok(api.get("/invoices", params={"subscription_id": sub["id"]}))["data"]
    assert invoice["status"] == "open"

    page = staff.page.context.new_page()
    page.set_default_timeout(10_000)
    page.goto(staff.base_url + urlsplit(invoice["hosted_url"]).path)
    expect(page.get_by_test_id("authenticate")).to_contain_text(
        "Your bank asks you to confirm the payment of €25.00 to Test shop."
    )
    expect(page.get_by_test_id("pay-form")).to_have_count(0)
    page.get_by_test_id("authenticate-button").click()
    # localstripe's Stripe.js stands in for the bank's page with a dialog of its own.
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_test_id("authenticated")).to_be_visible()

    def paid() -> bool:
        found = api.ok(api.get(f"/invoices/{invoice['id']}"))
        return bool(found["status"] == "paid")

    wait_for(paid, what="Stripe's webhook settling the payment")
    page.reload()
    expect(page.get_by_test_id("invoice-status")).to_have_text("Paid")
    [payment] = api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"]
    assert payment["status"] == "succeeded"
