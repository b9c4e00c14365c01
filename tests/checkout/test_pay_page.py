"""The hosted payment-link page `/pay/{link_id}` (issue 16), as a buyer's browser posts it: no
sign-in, the link's items with what is due today and later, the link's options (payment
types, addresses, consent), one purchase per form however often it is posted, a calm page for
links that sell nothing now, and a lockout after repeated failed attempts (card testing)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from cadency.checkout.models import PaymentLinkPurchase
from cadency.kit.outbox import OutboxMessage
from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions.models import Subscription
from tests.checkout.builders import CHARGES_FAIL, DECLINED_AT_ATTACH, catalog, link, row_counts
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 10, tzinfo=UTC)
CARD = "4242424242424242"


@pytest.fixture
def shop(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=START)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def fields(html: str, **values: Any) -> dict[str, Any]:
    """A buyer's post of the page's form: its hidden fields, contact details and a card."""
    return {
        "form_token": hidden(html, "form_token"),
        "form_key": hidden(html, "form_key"),
        "type": "card",
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Smith",
        "number": CARD,
        "exp_month": "12",
        "exp_year": "2045",
        "cvc": "123",
        "save_payment_method": "1",
        **values,
    }


def mixed(shop: Story, **fields: Any) -> dict[str, Any]:
    products = catalog(shop.api)
    return link(
        shop.api,
        [
            {"product_id": products["monthly"]["id"], "quantity": 2},
            {"product_id": products["annual"]["id"]},
            {"product_id": products["setup"]["id"]},
        ],
        **fields,
    )


def count(shop: Story, model: Any) -> int:
    with shop.session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.account_id == shop.api.account_id)
            )
        )


def test_the_page_shows_the_items_the_summary_and_the_links_look(shop: Story) -> None:
    created = mixed(
        shop,
        logo_url="https://cdn.example.com/logo.png",
        button_text="Join the club",
    )
    page = shop.api.client.get(f"/pay/{created['id']}")
    assert page.status_code == 200
    html = page.text
    assert 'src="https://cdn.example.com/logo.png"' in html
    assert "Join the club" in html
    # Monthly 2 x 10.00 + annual 100.00 + one-time setup 5.00, all due at purchase.
    assert re.search(r'data-testid="due-today">\$125\.00<', html)
    assert "$20.00, monthly, from Apr 1, 2026, until you cancel" in html
    assert "$100.00, yearly, from Mar 1, 2027, until you cancel" in html
    # Card only (the default options): no bank fields, no address; the consent is required
    # because later payments are charged automatically.
    assert 'data-testid="card-fields"' in html and 'data-testid="bank-fields"' not in html
    assert 'data-testid="billing_address"' not in html
    assert re.search(r'name="save_payment_method"[^>]* required', html)
    # A public page: never cached; the logo may come from elsewhere, scripts may not.
    assert page.headers["cache-control"] == "no-store"
    assert "img-src 'self' data: https:" in page.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]


def test_buying_on_the_page_makes_the_purchase_once(shop: Story) -> None:
    created = mixed(shop, confirmation_message="Your box ships Monday.")
    html = shop.api.client.get(f"/pay/{created['id']}").text
    body = fields(html)
    bought = shop.api.client.post(f"/pay/{created['id']}", data=body, follow_redirects=False)
    assert bought.status_code == 303, bought.text
    done = shop.api.client.get(bought.headers["location"])
    assert "Your box ships Monday." in done.text
    assert "Your payment of $125.00 was received" in done.text
    with shop.session_factory() as session:
        [purchase] = session.scalars(
            select(PaymentLinkPurchase).where(PaymentLinkPurchase.account_id == shop.api.account_id)
        ).all()
        assert len(purchase.subscription_ids) == 2
        payment = session.get(Payment, purchase.payment_id)
        assert payment is not None and (payment.amount, payment.status) == (12500, "succeeded")
        method = session.get(PaymentMethod, payment.payment_method_id)
        assert method is not None and method.reusable
        assert {
            s.payment_method_id
            for s in session.scalars(
                select(Subscription).where(Subscription.account_id == shop.api.account_id)
            )
        } == {method.id}
        receipts = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.account_id == shop.api.account_id,
                OutboxMessage.type == "payment.succeeded",
            )
        ).all()
        assert len(receipts) == 1

    # The same form again (a reload, a second tab): the first purchase, nothing bought twice.
    again = shop.api.client.post(f"/pay/{created['id']}", data=body, follow_redirects=False)
    assert again.status_code == 303
    assert "Your box ships Monday." in shop.api.client.get(again.headers["location"]).text
    assert count(shop, PaymentLinkPurchase) == 1
    assert count(shop, Payment) == 1
    assert count(shop, Subscription) == 2


def test_consent_is_required_when_later_payments_are_charged_automatically(
    shop: Story, session_factory: Any
) -> None:
    created = mixed(shop)
    html = shop.api.client.get(f"/pay/{created['id']}").text
    before = row_counts(session_factory, shop.api.account_id)
    body = fields(html)
    del body["save_payment_method"]
    refused = shop.api.client.post(f"/pay/{created['id']}", data=body)
    assert refused.status_code == 422
    assert 'data-testid="error-save_payment_method"' in refused.text
    assert 'value="ann@example.com"' in refused.text  # what was typed stays
    assert CARD not in refused.text  # numbers are never typed back
    assert row_counts(session_factory, shop.api.account_id) == before


def test_options_decide_types_addresses_and_keeping_the_method(shop: Story) -> None:
    products = catalog(shop.api)
    created = link(
        shop.api,
        [{"product_id": products["monthly"]["id"]}],
        collection_method="send_invoice",
        payment_options={
            "payment_types": ["card", "bank_debit"],
            "collect_billing_address": True,
            "collect_shipping_address": True,
        },
    )
    html = shop.api.client.get(f"/pay/{created['id']}").text
    assert 'data-testid="bank-fields"' in html and 'data-testid="shipping_address"' in html
    # Optional consent (send_invoice): not asked as required.
    assert not re.search(r'name="save_payment_method"[^>]* required', html)
    body = fields(html)
    del body["save_payment_method"]
    missing = shop.api.client.post(f"/pay/{created['id']}", data=body)
    assert missing.status_code == 422
    assert 'data-testid="error-billing_address.line1"' in missing.text
    address = {
        "billing_address.line1": "Keizersgracht 1",
        "billing_address.postal_code": "1015 CJ",
        "billing_address.city": "Amsterdam",
        "billing_address.country": "NL",
        "shipping_address.line1": "Dorpsstraat 2",
        "shipping_address.postal_code": "1234 AB",
        "shipping_address.city": "Ede",
        "shipping_address.country": "NL",
    }
    body = {**fields(missing.text), **address}
    del body["save_payment_method"]
    bought = shop.api.client.post(f"/pay/{created['id']}", data=body, follow_redirects=False)
    assert bought.status_code == 303, bought.text
    with shop.session_factory() as session:
        payment = session.scalars(
            select(Payment).where(Payment.account_id == shop.api.account_id)
        ).one()
        assert payment.billing_address["city"] == "Amsterdam"
        assert payment.shipping_address["line1"] == "Dorpsstraat 2"
        method = session.get(PaymentMethod, payment.payment_method_id)
        assert method is not None and not method.reusable  # no consent: used once
        subscription = session.scalars(
            select(Subscription).where(Subscription.account_id == shop.api.account_id)
        ).one()
        assert subscription.payment_method_id is None


def test_a_card_only_link_refuses_a_posted_bank_debit(shop: Story) -> None:
    created = mixed(shop)
    html = shop.api.client.get(f"/pay/{created['id']}").text
    body = fields(
        html, type="bank_debit", routing_number="110000000", account_number="000123456789"
    )
    refused = shop.api.client.post(f"/pay/{created['id']}", data=body)
    assert refused.status_code == 422
    assert count(shop, Payment) == 0


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (DECLINED_AT_ATTACH, "Your card was declined."),
        (CHARGES_FAIL, "Your card was declined."),
        ("4242424242424241", "Check the card number."),
    ],
)
def test_a_failed_payment_says_why_and_keeps_nothing(
    shop: Story, session_factory: Any, number: str, message: str
) -> None:
    created = mixed(shop)
    html = shop.api.client.get(f"/pay/{created['id']}").text
    before = row_counts(session_factory, shop.api.account_id)
    failed = shop.api.client.post(f"/pay/{created['id']}", data=fields(html, number=number))
    assert failed.status_code in (402, 422)
    assert message in failed.text
    # A mistyped number is named at its field; nothing was charged, so nothing "failed".
    assert ("The payment failed." in failed.text) is False
    assert row_counts(session_factory, shop.api.account_id) == before


def test_ten_failed_attempts_lock_the_link_out_calmly(shop: Story) -> None:
    created = mixed(shop)
    html = shop.api.client.get(f"/pay/{created['id']}").text
    for _ in range(10):
        failed = shop.api.client.post(
            f"/pay/{created['id']}", data=fields(html, number=CHARGES_FAIL)
        )
        assert failed.status_code == 402
        html = failed.text
    locked = shop.api.client.post(f"/pay/{created['id']}", data=fields(html))
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many payment attempts" in locked.text
    assert count(shop, Payment) == 0


def test_links_that_sell_nothing_now_say_so(shop: Story) -> None:
    created = mixed(shop)
    html = shop.api.client.get(f"/pay/{created['id']}").text
    shop.api.ok(shop.api.patch(f"/payment-links/{created['id']}", {"active": False}))
    archived = shop.api.client.get(f"/pay/{created['id']}")
    assert archived.status_code == 410
    assert "no longer available" in archived.text
    posted = shop.api.client.post(f"/pay/{created['id']}", data=fields(html))
    assert posted.status_code == 410
    assert count(shop, Payment) == 0
    unknown = shop.api.client.get("/pay/plink_doesnotexist")
    assert unknown.status_code == 404


def test_a_post_without_the_pages_token_is_refused(shop: Story) -> None:
    created = mixed(shop)
    html = shop.api.client.get(f"/pay/{created['id']}").text
    refused = shop.api.client.post(f"/pay/{created['id']}", data=fields(html, form_token="forged"))
    assert refused.status_code == 403
    assert count(shop, Payment) == 0


@pytest.mark.parametrize(
    ("query", "header", "word"),
    [
        ("?lang=nl", None, "Vandaag te betalen"),
        ("", "da-DK,da;q=0.9", "Betales i dag"),
        ("", "de-DE", "Heute fällig"),
        ("?lang=xx", "fr-FR", "Due today"),
    ],
)
def test_the_page_speaks_the_buyers_language(
    shop: Story, query: str, header: str | None, word: str
) -> None:
    created = mixed(shop)
    headers = {"accept-language": header} if header else {}
    page = shop.api.client.get(f"/pay/{created['id']}{query}", headers=headers)
    assert word in page.text
