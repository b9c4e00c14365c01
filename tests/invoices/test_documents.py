"""Invoice documents: the PDF (read back with poppler's pdftotext) in each language, with the
locale's dates and money, taxes per rate, fees, totals and payment instructions; and the API's
GET /invoices/{id}/pdf with its links on the invoice object."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, make_api, pin_clock

NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)  # issue date 10 March 2026; net 30 → 9 April


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as pdftotext reads it, with every kind of space made a plain space."""
    result = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    )
    text = result.stdout.decode()
    for space in ("\xa0", "\u202f", "\u2009"):
        text = text.replace(space, " ")
    return text


def set_clock(session_factory: Any, api: Api) -> None:
    pin_clock(session_factory, api.account_id, NOW)


def billed_invoice(
    api: Api,
    session_factory: Any,
    language: str,
    locale: str,
    comments: str = "Thank you for brewing with us.",
) -> dict[str, Any]:
    """An open send_invoice invoice of 2 x Pro plan (100.00, 10 % off, 21 % VAT) and
    1 x Support (50.00, 9 % VAT), with a 5.00 setup fee, in EUR."""
    set_clock(session_factory, api)
    high = api.ok(api.post("/tax-rates", {"name": "VAT high", "percentage": "21"}))
    low = api.ok(api.post("/tax-rates", {"name": "VAT low", "percentage": "9"}))
    fee = api.ok(
        api.post(
            "/fees", {"name": "Setup", "fee_type": "fixed", "amount": "5.00", "currency": "EUR"}
        )
    )
    company = api.ok(api.post("/companies", {"name": "Molen Koffie BV"}))
    contact = api.ok(
        api.post(
            "/contacts",
            {"email": "anna@molen.example", "first_name": "Anna", "last_name": "de Vries"},
        )
    )
    subscription = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "company_id": company["id"],
                "name": "Coffee plan",
                "currency": "EUR",
                "collection_method": "send_invoice",
                "payment_terms": "net_30",
                "billing_address": {
                    "line1": "Keizersgracht 12",
                    "postal_code": "1015 CJ",
                    "city": "Amsterdam",
                    "country": "NL",
                },
                "fee_ids": [fee["id"]],
                "invoice_settings": {
                    "language": language,
                    "locale": locale,
                    "comments": comments,
                    "tax_ids": ["NL123456789B01"],
                },
                "line_items": [
                    {
                        "name": "Pro plan",
                        "unit_price": "100.00",
                        "quantity": 2,
                        "unit_discount_percent": "10",
                        "tax_rate_id": high["id"],
                        "billing_frequency": "monthly",
                    },
                    {
                        "name": "Support",
                        "unit_price": "50.00",
                        "tax_rate_id": low["id"],
                        "billing_frequency": "monthly",
                    },
                ],
            },
        )
    )
    invoices = api.ok(api.get("/invoices", params={"subscription_id": subscription["id"]}))
    assert len(invoices["data"]) == 1
    invoice: dict[str, Any] = invoices["data"][0]
    assert invoice["total"] == "277.30"  # 180.00 + 50.00 + 37.80 + 4.50 tax + 5.00 fee
    return invoice


# What each language's document must say: the title, then texts in the locale's format.
EXPECTED = {
    ("en", "en-US"): [
        "Invoice",
        "Mar 10, 2026",  # issue date
        "Apr 9, 2026",  # due date (net 30)
        "€100.00",  # Pro plan: unit price
        "-€20.00",  # its discount
        "VAT high (21% of €180.00)",
        "€37.80",
        "VAT low (9% of €50.00)",
        "€4.50",
        "Fee: Setup",
        "€277.30",  # total and amount due
        "Amount due",
        "Netherlands",
        "Please pay €277.30 by Apr 9, 2026.",
    ],
    ("nl", "nl-NL"): [
        "Factuur",
        "10 mrt 2026",
        "9 apr 2026",
        "€ 100,00",
        "VAT high (21% van € 180,00)",
        "€ 37,80",
        "VAT low (9% van € 50,00)",
        "€ 4,50",
        "€ 277,30",
        "Te betalen",
        "Nederland",
    ],
    ("da", "da-DK"): [
        "Faktura",
        "10. mar. 2026",
        "9. apr. 2026",
        "100,00 €",
        "VAT high (21 % af 180,00 €)",
        "37,80 €",
        "VAT low (9 % af 50,00 €)",
        "277,30 €",
        "Nederlandene",
    ],
    ("de", "de-DE"): [
        "Rechnung",
        "10.03.2026",
        "09.04.2026",
        "100,00 €",
        "VAT high (21 % von 180,00 €)",
        "37,80 €",
        "VAT low (9 % von 50,00 €)",
        "277,30 €",
        "Niederlande",
    ],
}


@pytest.mark.parametrize(("language", "locale"), list(EXPECTED))
def test_pdf_in_each_language(api: Api, session_factory: Any, language: str, locale: str) -> None:
    invoice = billed_invoice(api, session_factory, language, locale)
    response = api.get(f"/invoices/{invoice['id']}/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    for expected in EXPECTED[(language, locale)]:
        assert expected in text, f"{expected!r} missing from the {language} PDF:\n{text}"
    # The same in every language: merchant, buyer, number, lines, comments, tax IDs.
    for expected in (
        "Test shop",
        "Molen Koffie BV",
        "Anna de Vries",
        "Keizersgracht 12",
        "1015 CJ Amsterdam",
        invoice["number"],
        "Pro plan",
        "Support",
        "Thank you for brewing with us.",
        "NL123456789B01",
    ):
        assert expected in text, f"{expected!r} missing from the {language} PDF:\n{text}"
    # An open invoice tells the buyer where to pay online: its hosted page.
    assert "/billing/invoices/" in text
    other_titles = {"Invoice", "Factuur", "Faktura", "Rechnung"} - {EXPECTED[(language, locale)][0]}
    assert not any(title in text for title in other_titles)


def test_paid_invoice_says_so_and_has_no_pay_link(api: Api, session_factory: Any) -> None:
    invoice = billed_invoice(api, session_factory, "en", "en-GB")
    contact_id = invoice["contact_id"]
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2045, "cvc": "123"}
    method = api.ok(
        api.post(f"/contacts/{contact_id}/payment-methods", {"type": "card", "card": card})
    )
    paid = api.ok(api.post(f"/invoices/{invoice['id']}/pay", {"payment_method_id": method["id"]}))
    assert paid["status"] == "paid"
    text = pdf_text(api.get(f"/invoices/{invoice['id']}/pdf").content)
    assert "This invoice has been paid. Thank you!" in text
    assert "10 Mar 2026" in text  # en-GB dates
    assert "/billing/invoices/" not in text
    assert "Amount paid" in text


def test_invoice_links_and_pdf_of_another_account(
    api: Api, client: TestClient, session_factory: Any
) -> None:
    invoice = billed_invoice(api, session_factory, "en", "en-US")
    assert invoice["pdf_url"].endswith(f"/api/v1/invoices/{invoice['id']}/pdf")
    assert "/billing/invoices/" in invoice["hosted_url"]
    single = api.ok(api.get(f"/invoices/{invoice['id']}"))
    assert single["pdf_url"] == invoice["pdf_url"]

    # The hosted link opens the invoice with no login at all.
    hosted = client.get(invoice["hosted_url"].split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert hosted.status_code == 200
    assert invoice["number"] in hosted.text

    other = make_api(client, session_factory, name="Another shop")
    response = other.get(f"/invoices/{invoice['id']}/pdf")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert api.get("/invoices/inv_missing/pdf").status_code == 404


def test_comments_keep_their_simple_formatting(
    api: Api, client: TestClient, session_factory: Any
) -> None:
    comments = (
        "Thank you for brewing **with us**.\nTerms: [our terms](https://shop.example/terms)"
        " <script>alert(1)</script>"
    )
    invoice = billed_invoice(api, session_factory, "en", "en-US", comments=comments)
    hosted = client.get("/" + invoice["hosted_url"].split("://", 1)[1].split("/", 1)[1])
    assert hosted.status_code == 200
    assert "Thank you for brewing <strong>with us</strong>.<br>" in hosted.text
    assert '<a href="https://shop.example/terms">our terms</a>' in hosted.text
    assert "<script>alert(1)</script>" not in hosted.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hosted.text
    text = pdf_text(api.get(f"/invoices/{invoice['id']}/pdf").content)
    assert "Thank you for brewing with us." in text and "**" not in text
    assert "Terms: our terms" in text


# What the facts column must show whole, per language and locale: the issue date (11 March
# where the account is), the period's end, the "Paid on" label; and the paper of the locale.
FACTS = {
    ("en", "en-US"): ("Mar 11, 2026", "Apr 11, 2026", "Paid on", "letter"),
    ("en", "en-GB"): ("11 Mar 2026", "11 Apr 2026", "Paid on", "A4"),
    ("nl", "nl-NL"): ("11 mrt 2026", "11 apr 2026", "Betaald op", "A4"),
    ("da", "da-DK"): ("11. mar. 2026", "11. apr. 2026", "Betalt den", "A4"),
    ("de", "de-DE"): ("11.03.2026", "11.04.2026", "Bezahlt am", "A4"),
    # German words, dates as German (the invoice's locale speaks another language), US paper.
    ("de", "en-US"): ("11.03.2026", "11.04.2026", "Bezahlt am", "letter"),
}


@pytest.mark.parametrize(("language", "locale"), list(FACTS))
def test_every_date_stays_whole_on_the_page(
    api: Api, session_factory: Any, language: str, locale: str
) -> None:
    # Auckland is 13 hours ahead: at 12:00 UTC on March 10th it is March 11th there.
    api.ok(api.patch("/account/settings", {"timezone": "Pacific/Auckland"}))
    pin_clock(session_factory, api.account_id, datetime(2026, 3, 10, 12, tzinfo=UTC))
    contact = api.ok(api.post("/contacts", {"email": "lange@example.com", "first_name": "Lang"}))
    company = api.ok(
        api.post(
            "/companies",
            {"name": "Internationale Koffiebranderij en Theehandel Gebroeders Van Oosterhout BV"},
        )
    )
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2045, "cvc": "123"}
    method = api.ok(
        api.post(f"/contacts/{contact['id']}/payment-methods", {"type": "card", "card": card})
    )
    subscription = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "company_id": company["id"],
                "currency": "EUR",
                "collection_method": "charge_automatically",
                "payment_method_id": method["id"],
                "invoice_settings": {"language": language, "locale": locale},
                "line_items": [
                    {"name": "Pro", "unit_price": "1234567.89", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    [invoice] = api.ok(api.get("/invoices", params={"subscription_id": subscription["id"]}))["data"]
    assert invoice["status"] == "paid"
    pdf = api.get(f"/invoices/{invoice['id']}/pdf").content
    text = pdf_text(pdf)
    issued, period_end, paid_label, paper = FACTS[(language, locale)]
    # Issue date, period start and the day it was paid: all March 11th where the account is,
    # each whole on its line (a clipped column loses the end of its dates).
    assert sum(issued in line for line in text.splitlines()) >= 3, text
    assert period_end in text, text
    [paid] = [line for line in text.splitlines() if paid_label in line]
    assert issued in paid, text
    assert "Internationale Koffiebranderij" in text
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    assert f"({paper})" in info.stdout.decode(), info.stdout.decode()


def test_proration_lines_read_in_the_buyers_language(api: Api, session_factory: Any) -> None:
    pin_clock(session_factory, api.account_id, datetime(2026, 3, 1, 8, tzinfo=UTC))
    contact = api.ok(api.post("/contacts", {"email": "sanne@example.com"}))
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2045, "cvc": "123"}
    method = api.ok(
        api.post(f"/contacts/{contact['id']}/payment-methods", {"type": "card", "card": card})
    )
    monthly = {"currency": "EUR", "billing_frequency": "monthly"}
    basic = api.ok(api.post("/products", {"name": "Basic", "unit_price": "10.00", **monthly}))
    pro = api.ok(api.post("/products", {"name": "Pro", "unit_price": "25.00", **monthly}))
    sub = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "currency": "EUR",
                "collection_method": "charge_automatically",
                "payment_method_id": method["id"],
                "invoice_settings": {"language": "nl", "locale": "nl-NL"},
                "line_items": [{"product_id": basic["id"]}],
            },
        )
    )
    api.ok(api.post("/clock/advance", {"to": "2026-03-11T08:00:00+00:00"}))
    change = {"line_items": [{"product_id": pro["id"]}], "proration": "prorate", "effective": "now"}
    api.ok(api.post(f"/subscriptions/{sub['id']}/change", change))
    invoices = api.ok(api.get("/invoices", params={"subscription_id": sub["id"]}))["data"]
    [adjustment] = [i for i in invoices if i["billing_reason"] == "subscription_update"]
    # Stored as written (the API's lines), shown in the buyer's language on the document.
    assert [line["description"] for line in adjustment["lines"]] == [
        "Unused time on Basic",
        "Remaining time on Pro",
    ]
    text = pdf_text(api.get(f"/invoices/{adjustment['id']}/pdf").content)
    assert "Ongebruikte tijd van Basic" in text and "Resterende tijd van Pro" in text
    assert "Unused time" not in text and "Remaining time" not in text
