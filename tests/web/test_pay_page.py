"""The payment-link page in the browser (issue 16): the merchant makes a link on the web form with
its payment options and look, and a Dutch buyer buys a monthly + annual + one-time mix on the
hosted page, with a billing address and consent, and sees the confirmation in Dutch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlalchemy import select

from cadency.checkout.models import PaymentLinkPurchase
from cadency.payments.models import Payment, PaymentMethod
from tests.conftest import Api, pin_clock
from tests.web.conftest import Staff, screenshot

NOW = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _product(api: Api, name: str, price: str, frequency: str | None) -> Any:
    body = {"name": name, "unit_price": price, "currency": "EUR", "billing_frequency": frequency}
    return api.ok(api.post("/products", body))


def test_a_dutch_buyer_buys_a_mix_on_the_payment_link_page(
    staff: Staff, session_factory: Any
) -> None:
    pin_clock(session_factory, staff.api.account_id, NOW)
    monthly = _product(staff.api, "Koffieclub", "10.00", "monthly")
    annual = _product(staff.api, "Molenonderhoud", "100.00", "annually")
    kit = _product(staff.api, "Welkomstpakket", "5.00", None)

    page = staff.goto("/payment-links/new")
    page.get_by_label("Name").fill("Koffieclub")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_label("Product of line 1").select_option(monthly["id"])
    page.get_by_label("Quantity of line 1").fill("2")
    page.get_by_label("Product of line 2").select_option(annual["id"])
    page.get_by_label("Product of line 3").select_option(kit["id"])
    page.get_by_test_id("link-payment-types").get_by_label("Bank debit").check()
    page.get_by_label("Collect billing address").check()
    page.get_by_label("Button text (optional)").fill("Word lid")
    page.get_by_label("Confirmation message (optional)").fill(
        "Je eerste pakket gaat maandag op de post."
    )
    page.get_by_role("button", name="Create payment link").click()
    expect(page.get_by_test_id("flash")).to_have_text("The payment link was created.")
    link_id = page.url.rsplit("/", 1)[1]
    link = staff.api.ok(staff.api.get(f"/payment-links/{link_id}"))
    assert link["payment_options"]["payment_types"] == ["card", "bank_debit"]
    assert link["payment_options"]["collect_billing_address"] is True
    assert link["button_text"] == "Word lid"

    buyer = page.context.new_page()
    buyer.set_default_timeout(7_000)
    buyer.goto(staff.base_url + urlsplit(link["url"]).path + "?lang=nl")
    expect(buyer.locator("html")).to_have_attribute("lang", "nl")
    expect(buyer.get_by_test_id("pay-line")).to_have_count(3)
    expect(buyer.get_by_test_id("due-today")).to_have_text("€ 125,00")
    recurring = buyer.get_by_test_id("pay-recurring")
    expect(recurring).to_contain_text("€ 20,00, maandelijks, vanaf 1 apr 2026, tot je annuleert")
    expect(recurring).to_contain_text("€ 100,00, jaarlijks, vanaf 1 mrt 2027, tot je annuleert")
    # Card is the first choice; the bank fields show only when bank debit is chosen.
    expect(buyer.get_by_test_id("bank-routing-number")).to_be_hidden()
    buyer.get_by_test_id("type-bank_debit").check()
    expect(buyer.get_by_test_id("bank-routing-number")).to_be_visible()
    expect(buyer.get_by_test_id("card-number")).to_be_hidden()
    buyer.get_by_test_id("type-card").check()

    form = buyer.get_by_test_id("pay-form")
    form.get_by_test_id("email").fill("anna@voorbeeld.nl")
    form.get_by_test_id("first-name").fill("Anna")
    form.get_by_test_id("last-name").fill("de Vries")
    form.get_by_test_id("card-number").fill("4242424242424242")
    form.get_by_test_id("card-exp-month").fill("12")
    form.get_by_test_id("card-exp-year").fill("2045")
    form.get_by_test_id("card-cvc").fill("123")
    # Without the address and the consent the page says what is missing, in Dutch.
    form.get_by_test_id("pay-submit").click()
    expect(buyer.get_by_test_id("error-billing_address.line1")).to_have_text(
        "Vul de straat en het huisnummer in."
    )
    expect(buyer.get_by_test_id("error-save_payment_method")).to_be_visible()
    expect(form.get_by_test_id("email")).to_have_value("anna@voorbeeld.nl")
    expect(form.get_by_test_id("card-number")).to_have_value("")  # never typed back

    form.get_by_test_id("billing_address-line1").fill("Keizersgracht 1")
    form.get_by_test_id("billing_address-postal-code").fill("1015 CJ")
    form.get_by_test_id("billing_address-city").fill("Amsterdam")
    form.get_by_test_id("billing_address-country").select_option("NL")
    form.get_by_test_id("card-number").fill("4242424242424242")
    form.get_by_test_id("card-exp-month").fill("12")
    form.get_by_test_id("card-exp-year").fill("2045")
    form.get_by_test_id("card-cvc").fill("123")
    form.get_by_test_id("consent").check()
    expect(form.get_by_test_id("pay-submit")).to_have_text("Word lid")
    screenshot(buyer, "pay-page-nl")
    form.get_by_test_id("pay-submit").click()

    done = buyer.get_by_test_id("pay-done")
    expect(done).to_contain_text("Bedankt!")
    expect(done).to_contain_text("Je eerste pakket gaat maandag op de post.")
    expect(buyer.get_by_test_id("paid")).to_contain_text("€ 125,00")
    expect(buyer.get_by_test_id("paid")).to_contain_text("anna@voorbeeld.nl")
    expect(buyer.get_by_test_id("bought").locator("li")).to_have_count(2)
    screenshot(buyer, "pay-page-done-nl")

    # A reload of the confirmation buys nothing more.
    buyer.reload()
    with session_factory() as session:
        [purchase] = session.scalars(
            select(PaymentLinkPurchase).where(PaymentLinkPurchase.payment_link_id == link_id)
        ).all()
        assert len(purchase.subscription_ids) == 2
        payment = session.get(Payment, purchase.payment_id)
        assert payment is not None
        assert (payment.amount, payment.currency, payment.status) == (12500, "EUR", "succeeded")
        assert payment.billing_address is not None
        assert payment.billing_address["city"] == "Amsterdam"
        method = session.get(PaymentMethod, payment.payment_method_id)
        assert method is not None and method.reusable
