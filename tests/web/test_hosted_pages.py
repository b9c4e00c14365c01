"""The buyer's hosted pages behind signed links, with no login: the invoice page (view, PDF,
pay by card) and the update-payment-method page, which retries the past-due balance at once and
says how that went. Bad links (altered or expired) show an error page with no data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from cadency.accounts.models import Account
from cadency.invoices import links
from cadency.kit import clock, signing
from cadency.subscriptions import service as subscription_service
from tests.conftest import Api, pin_clock
from tests.web.conftest import screenshot

CARD = "4242424242424242"
CHARGES_FAIL = "4000000000000341"
NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)


def set_clock(session_factory: Any, api: Api) -> None:
    pin_clock(session_factory, api.account_id, NOW)


def contact(api: Api, email: str = "anna@example.com") -> dict[str, Any]:
    body = {"email": email, "first_name": "Anna", "last_name": "Berg"}
    created: dict[str, Any] = api.ok(api.post("/contacts", body))
    return created


def card_of(api: Api, contact_id: str, number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2045, "cvc": "123"}
    method = api.ok(
        api.post(f"/contacts/{contact_id}/payment-methods", {"type": "card", "card": card})
    )
    return str(method["id"])


def sent_invoice(
    api: Api,
    session_factory: Any,
    language: str = "en",
    payment_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An open invoice of 49.00 sent to the buyer (payment terms net 14)."""
    set_clock(session_factory, api)
    buyer = contact(api)
    subscription = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": buyer["id"],
                "name": "Beans monthly",
                "currency": "USD",
                "collection_method": "send_invoice",
                "payment_terms": "net_14",
                "invoice_settings": {"language": language},
                "payment_options": payment_options
                or {"payment_types": ["card"], "accept_online_payments": True},
                "line_items": [
                    {"name": "Beans", "unit_price": "49.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    invoices = api.ok(api.get("/invoices", params={"subscription_id": subscription["id"]}))
    invoice: dict[str, Any] = invoices["data"][0]
    assert invoice["status"] == "open"
    return invoice


def path_of(url: str) -> str:
    return urlsplit(url).path


def fill_card(page: Page, number: str) -> None:
    """Pay or save with a card: on the invoice page's one form (choosing "Card" when bank
    debit is offered too), or in the card form of the update-payment-method page."""
    paying = page.get_by_test_id("pay-form").count() > 0
    form = page.get_by_test_id("pay-form" if paying else "card-form")
    if form.get_by_test_id("type-card").count():
        form.get_by_test_id("type-card").check()
    form.get_by_test_id("card-number").fill(number)
    form.get_by_test_id("card-exp-month").fill("12")
    form.get_by_test_id("card-exp-year").fill("2045")
    form.get_by_test_id("card-cvc").fill("123")
    form.get_by_test_id("pay-submit" if paying else "card-submit").click()


def test_view_and_pay_an_invoice_by_card(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    invoice = sent_invoice(api, session_factory)
    hosted = base_url + path_of(invoice["hosted_url"])
    page.goto(hosted)

    expect(page.get_by_test_id("invoice-title")).to_have_text("Invoice")
    expect(page.get_by_test_id("invoice-number")).to_have_text(invoice["number"])
    expect(page.get_by_test_id("merchant")).to_have_text("Test shop")
    expect(page.get_by_test_id("issue-date")).to_have_text("Mar 10, 2026")
    expect(page.get_by_test_id("due-date")).to_have_text("Mar 24, 2026")
    expect(page.get_by_test_id("amount-due")).to_have_text("$49.00")
    expect(page.get_by_test_id("pay-online")).to_contain_text("Pay $49.00 to Test shop")
    screenshot(page, "hosted-invoice")

    # The PDF comes from the same link, with no login.
    href = page.get_by_test_id("download-pdf").get_attribute("href")
    assert href is not None
    pdf = page.request.get(base_url + href)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")

    # A mistyped number is named, in the buyer's words; nothing is charged.
    fill_card(page, "4242424242424241")
    expect(page.get_by_test_id("error-number")).to_have_text("Check the card number.")
    expect(page.get_by_test_id("card-exp-year")).to_have_value("2045")  # kept; numbers are not
    expect(page.get_by_test_id("card-number")).to_have_value("")

    # A card whose charges fail: the page says so and the invoice stays open.
    fill_card(page, CHARGES_FAIL)
    expect(page.get_by_test_id("payment-error")).to_have_text("Your card was declined.")
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "open"

    fill_card(page, CARD)
    expect(page.get_by_test_id("paid-notice")).to_have_text("Thank you! Your payment was received.")
    expect(page.get_by_test_id("invoice-status")).to_have_text("Paid")
    expect(page.get_by_test_id("amount-due")).to_have_text("$0.00")
    expect(page.get_by_test_id("pay-online")).to_have_count(0)
    paid = api.ok(api.get(f"/invoices/{invoice['id']}"))
    assert paid["status"] == "paid"
    assert paid["amount_paid"] == "49.00"
    payments = api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"]
    assert sorted(p["status"] for p in payments) == ["failed", "succeeded"]


def test_pay_an_invoice_by_bank_debit(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    invoice = sent_invoice(
        api, session_factory, payment_options={"payment_types": ["card", "bank_debit"]}
    )
    page.goto(base_url + path_of(invoice["hosted_url"]))
    form = page.get_by_test_id("pay-form")
    form.get_by_test_id("type-bank_debit").check()
    expect(form.get_by_test_id("card-number")).to_be_hidden()  # only the chosen type's fields
    form.get_by_test_id("bank-routing-number").fill("12345")  # not an ABA routing number
    form.get_by_test_id("bank-account-number").fill("000123456789")
    form.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("error-routing_number")).to_have_text("Check the routing number.")
    assert api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"] == []

    form.get_by_test_id("type-bank_debit").check()
    form.get_by_test_id("bank-routing-number").fill("110000000")
    form.get_by_test_id("bank-account-number").fill("000123456789")
    form.get_by_test_id("pay-submit").click()
    # A bank debit settles days later: the page says it is processing and offers no second pay.
    expect(page.get_by_test_id("processing-notice")).to_contain_text("is processing")
    expect(page.get_by_test_id("pay-online")).to_have_count(0)
    [payment] = api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"]
    assert payment["status"] == "processing"
    assert payment["amount"] == "49.00"
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "open"


def test_invoice_page_speaks_the_invoice_language(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    invoice = sent_invoice(api, session_factory, language="de")
    page.goto(base_url + path_of(invoice["hosted_url"]))
    expect(page.get_by_test_id("invoice-title")).to_have_text("Rechnung")
    expect(page.get_by_test_id("issue-date")).to_have_text("10.03.2026")
    expect(page.get_by_test_id("amount-due")).to_have_text("49,00\xa0$")
    expect(page.get_by_test_id("pay-online")).to_contain_text("Online bezahlen")


def test_a_post_without_the_form_token_is_refused(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    invoice = sent_invoice(api, session_factory)
    path = path_of(invoice["hosted_url"])
    response = page.request.post(
        f"{base_url}{path}/pay",
        form={"type": "card", "number": CARD, "exp_month": "12", "exp_year": "2045", "cvc": "1"},
    )
    assert response.status == 403
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "open"
    assert api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"] == []


def test_tampered_and_expired_links_show_an_error_and_no_data(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    invoice = sent_invoice(api, session_factory)
    token = path_of(invoice["hosted_url"]).rsplit("/", 1)[1]
    body, _, mac = token.partition(".")
    tampered = f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    with session_factory() as session:
        expired = signing.sign(
            session,
            links.INVOICE_LINK_PURPOSE,
            {"invoice_id": invoice["id"], "account_id": api.account_id},
            clock.real_now() - timedelta(minutes=1),
        )
        # A valid link made for another purpose opens nothing here either.
        other_purpose = signing.sign(
            session,
            "update_payment_method",
            {"invoice_id": invoice["id"], "account_id": api.account_id},
            clock.real_now() + timedelta(days=1),
        )
        session.commit()
    for bad in (tampered, expired, other_purpose, "garbage"):
        for path in (f"/billing/invoices/{bad}", f"/billing/invoices/{bad}/pdf"):
            response = page.goto(base_url + path)
            assert response is not None and response.status == 404, path
            expect(page.get_by_test_id("error-message")).to_have_text(
                "This link is not valid or has expired. Ask the sender for a new link."
            )
            content = page.content()
            assert invoice["number"] not in content
            assert "Test shop" not in content
            assert "49.00" not in content
    screenshot(page, "hosted-link-error")
    # The update-payment-method page refuses an invoice link (another purpose) the same way.
    response = page.goto(f"{base_url}/billing/update-payment-method/{token}")
    assert response is not None and response.status == 404


# --- update payment method -------------------------------------------------------------------


def unpaid_subscription(api: Api, session_factory: Any) -> tuple[dict[str, Any], str]:
    """A subscription whose first charge (25.00) failed, and its update-payment-method link."""
    set_clock(session_factory, api)
    buyer = contact(api, "bob@example.com")
    method = card_of(api, buyer["id"], CHARGES_FAIL)
    subscription = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": buyer["id"],
                "name": "Silver coffee",
                "currency": "USD",
                "collection_method": "charge_automatically",
                "payment_method_id": method,
                "line_items": [
                    {"name": "Silver coffee", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    assert api.ok(api.get(f"/subscriptions/{subscription['id']}"))["status"] == "unpaid"
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        link = subscription_service.request_payment_method_update(
            session, account, subscription["id"], "http://buyer.example"
        )
        session.commit()
    return subscription, path_of(link.url)


def open_invoices(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    listed = api.ok(api.get("/invoices", params={"subscription_id": subscription_id}))
    return [i for i in listed["data"] if i["status"] == "open"]


def test_update_payment_method_retries_the_past_due_balance(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    subscription, path = unpaid_subscription(api, session_factory)
    [invoice] = open_invoices(api, subscription["id"])
    page.goto(base_url + path)
    expect(page.get_by_test_id("merchant")).to_have_text("Test shop")
    expect(page.get_by_test_id("past-due")).to_contain_text("$25.00 is unpaid")
    expect(page.get_by_test_id("current-method")).to_contain_text("card ending in 0341")
    screenshot(page, "hosted-update-payment-method")

    fill_card(page, CARD)
    expect(page.get_by_test_id("outcome")).to_have_text(
        "Your payment method was updated and your payment of $25.00 succeeded. Thank you!"
    )
    expect(page.get_by_test_id("card-form")).to_have_count(0)
    after = api.ok(api.get(f"/subscriptions/{subscription['id']}"))
    assert after["status"] == "active"
    method = api.ok(api.get(f"/payment-methods/{after['payment_method_id']}"))
    assert method["last4"] == "4242"
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "paid"

    # The link still works afterwards and shows no past-due balance.
    page.goto(base_url + path)
    expect(page.get_by_test_id("current-method")).to_contain_text("card ending in 4242")
    expect(page.get_by_test_id("past-due")).to_have_count(0)


def test_update_payment_method_with_a_card_that_still_fails(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    subscription, path = unpaid_subscription(api, session_factory)
    [invoice] = open_invoices(api, subscription["id"])
    page.goto(base_url + path)
    fill_card(page, "4000000000009995")  # insufficient funds on every charge
    expect(page.get_by_test_id("outcome")).to_have_text(
        "Your payment method was saved, but the payment of the past-due balance failed: "
        "The payment was declined: insufficient funds. Please try another payment method."
    )
    # The buyer can try again at once.
    expect(page.get_by_test_id("card-form")).to_be_visible()
    after = api.ok(api.get(f"/subscriptions/{subscription['id']}"))
    assert after["status"] == "unpaid"
    assert api.ok(api.get(f"/payment-methods/{after['payment_method_id']}"))["last4"] == "9995"
    assert api.ok(api.get(f"/invoices/{invoice['id']}"))["status"] == "open"
    payments = api.ok(api.get("/payments", params={"invoice_id": invoice["id"]}))["data"]
    assert [p["failure_reason"] for p in payments if p["status"] == "failed"].count(
        "insufficient_funds"
    ) == 1

    # A card the processor declines outright is not saved at all.
    fill_card(page, "4000000000000002")
    expect(page.get_by_test_id("payment-error")).to_have_text("Your card was declined.")
    after = api.ok(api.get(f"/subscriptions/{subscription['id']}"))
    assert api.ok(api.get(f"/payment-methods/{after['payment_method_id']}"))["last4"] == "9995"


def test_update_payment_method_link_expired(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    subscription, _path = unpaid_subscription(api, session_factory)
    with session_factory() as session:
        expired = signing.sign(
            session,
            subscription_service.PAYMENT_METHOD_LINK_PURPOSE,
            {"subscription_id": subscription["id"], "account_id": api.account_id},
            clock.real_now() - timedelta(seconds=5),
        )
        session.commit()
    response = page.goto(f"{base_url}/billing/update-payment-method/{expired}")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-message")).to_contain_text("not valid or has expired")
    assert "Silver coffee" not in page.content()
    assert "Test shop" not in page.content()
