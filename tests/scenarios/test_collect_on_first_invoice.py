"""A subscription charged automatically that collects its payment method on the first invoice
(SPEC §4): that invoice is emailed to the buyer with the link to its hosted page, the engine
waits for the buyer until its due date (nothing to charge, no dunning), the method the buyer
pays it with becomes the subscription's, and later renewals are charged automatically."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI

from tests.notifications.conftest import BASE_URL, SmtpServer, deliver
from tests.notifications.conftest import smtp_server as smtp_server  # the fixture
from tests.scenarios.story import Story, declined, inv, paid, processing
from tests.web.http import SignedIn, signed_in

MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")
MAY = ("2026-05-01", "2026-06-01")
BUYER = "collect@buyer.test"
CARD = {"exp_month": "12", "exp_year": "2045", "cvc": "123"}


def collecting_subscription(story: Story, **extra: Any) -> tuple[dict[str, Any], str]:
    """A monthly $25 subscription whose buyer has no payment method yet."""
    contact = story.api.ok(story.api.post("/contacts", {"email": BUYER, "first_name": "Ann"}))
    body = {
        "contact_id": contact["id"],
        "currency": "USD",
        "line_items": [{"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}],
        "collection_method": "charge_automatically",
        "collect_payment_method_on_first_invoice": True,
        **extra,
    }
    sub = story.api.ok(story.api.post("/subscriptions", body))
    story.assert_quiet()
    return sub, contact["id"]


def emails(story: Story, smtp: SmtpServer) -> list[tuple[str, str, str]]:
    """(kind, recipient, plain text) of each email the outbox sent since the last call."""
    summary = deliver(story.session_factory, story.api.account_id, smtp.url)
    assert summary.errors == [] and summary.failed == 0 and summary.retrying == 0
    return sorted(
        (str(m.message["X-Cadency-Email"]), m.to[0], m.text)
        for m in smtp.inbox.take()
        if m.to == [BUYER]
    )


def pay_on_hosted_page(story: Story, path: str, number: str) -> Any:
    """What the buyer does: open the invoice's page and pay it with a new card (or, for a
    number starting with 0, a bank account)."""
    page = story.api.client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token, page.text
    return story.api.client.post(
        f"{path}/pay",
        # The buyer agrees to the later charges (the page requires it when the method is
        # kept; where it is not kept the box is not shown and nothing is kept).
        data={"form_token": token.group(1), "save_payment_method": "1", **method_fields(number)},
        follow_redirects=False,
    )


def method_fields(number: str) -> dict[str, str]:
    if number.startswith("0"):
        return {"type": "bank_debit", "routing_number": "110000000", "account_number": number}
    return {"type": "card", "number": number, **CARD}


def contact_methods(story: Story, contact_id: str) -> list[str]:
    data = story.api.ok(story.api.get(f"/contacts/{contact_id}/payment-methods"))["data"]
    return [method["id"] for method in data]


def paid_with(story: Story, sub_id: str) -> str:
    """The payment method of the subscription's latest succeeded payment."""
    data = story.api.ok(story.api.get("/payments", params={"subscription_id": sub_id}))["data"]
    return str(next(p for p in data if p["status"] == "succeeded")["payment_method_id"])


def payment_method_fact(staff: SignedIn, sub_id: str) -> str:
    """What the subscription's record panel shows as its payment method."""
    page = staff.client.get(f"/subscriptions/{sub_id}")
    assert page.status_code == 200
    found = re.search(r'data-testid="fact-payment-method">([^<]*)<', page.text)
    assert found, page.text
    return found.group(1)


def test_first_invoice_is_emailed_paid_online_and_the_card_then_renews(
    app: FastAPI, client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    staff = signed_in(app, session_factory, story.api)
    sub, contact_id = collecting_subscription(story, payment_terms="net_15")
    sid = sub["id"]
    # Nothing to charge yet: the first invoice is open and waits for the buyer.
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.created"],
        collection_method="charge_automatically",
        payment_method_id=None,
    )
    # The merchant sees why there is no payment method yet.
    assert payment_method_fact(staff, sid) == "Collect the payment method on the first paid invoice"
    first = story.invoice(sid)
    # The invoice says how it is collected: sent to the buyer, due after the payment terms.
    assert (first["collection_method"], first["due_date"], first["amount_due"]) == (
        "send_invoice",
        "2026-03-16",
        "25.00",
    )
    [created] = story.outbox_payloads(sid, "invoice.created")
    assert created["collection_method"] == "send_invoice"

    # The buyer is emailed the invoice, with the link to pay it online.
    [(kind, _to, text)] = emails(story, smtp_server)
    assert kind == "invoice_issued"
    assert f"{first['number']}" in text and "due on Mar 16, 2026" in text
    link = re.search(rf"{re.escape(BASE_URL)}(/billing/invoices/\S+)", text)
    assert link, text
    # The emailed link opens the invoice's hosted page, where it can be paid.
    page = story.api.client.get(link.group(1))
    assert page.status_code == 200 and first["number"] in page.text

    # Before the due date the engine waits: no charge, no dunning, no overdue notice.
    story.advance_to(date(2026, 3, 16), 23)
    story.expect(
        sid, status="active", invoices=[inv(*MARCH, status="open")], payments=[], outbox=[]
    )
    assert emails(story, smtp_server) == []

    # The buyer pays on the hosted page; the card is saved and becomes the subscription's.
    response = pay_on_hosted_page(story, link.group(1), "4242424242424242")
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("?paid=1")
    [method_id] = contact_methods(story, contact_id)
    assert paid_with(story, sid) == method_id
    assert payment_method_fact(staff, sid) == "Visa ending in 4242"
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="paid")],
        payments=[paid()],
        outbox=["payment.succeeded"],
        payment_method_id=method_id,
        payments_completed=1,
        total_collected="25.00",
    )
    story.assert_quiet()
    assert [kind for kind, _to, _text in emails(story, smtp_server)] == ["receipt"]

    # The next renewal is charged to that card, as any automatic renewal is.
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, issued="2026-03-01"), inv(*APRIL)],
        payments=[paid(), paid()],
        outbox=["subscription.renewal_reminder", "invoice.created", "payment.succeeded"],
        payment_method_id=method_id,
        next_payment_date="2026-05-01",
    )
    april = story.invoice(sid)
    assert (april["collection_method"], april["status"]) == ("charge_automatically", "paid")
    # A charged invoice is not sent for payment: the buyer gets a receipt (and had a reminder).
    assert [kind for kind, _to, _text in emails(story, smtp_server)] == [
        "receipt",
        "renewal_reminder",
    ]

    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL), inv(*MAY)],
        payments=[paid(), paid(), paid()],
        outbox=["subscription.renewal_reminder", "invoice.created", "payment.succeeded"],
    )


def test_unpaid_by_its_due_date_the_first_invoice_is_overdue_until_the_buyer_pays(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sub, contact_id = collecting_subscription(story)  # no terms: due on receipt
    sid = sub["id"]
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.created"],
        payment_terms=None,
    )
    first = story.invoice(sid)
    assert (first["collection_method"], first["due_date"]) == ("send_invoice", "2026-03-01")
    [(kind, _to, text)] = emails(story, smtp_server)
    assert kind == "invoice_issued" and "due on Mar 1, 2026" in text

    # The day after its due date the invoice is overdue: the subscription is past due and the
    # buyer is reminded with the link, but nothing is charged (there is no card to charge).
    story.advance_to(date(2026, 3, 2))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
        payment_method_id=None,
    )
    [(kind, _to, text)] = emails(story, smtp_server)
    assert kind == "invoice_overdue"
    link = re.search(rf"{re.escape(BASE_URL)}(/billing/invoices/\S+)", text)
    assert link, text

    # A card that is declined is kept on the contact, but does not become the subscription's.
    declined_response = pay_on_hosted_page(story, link.group(1), "4000000000000341")
    assert declined_response.status_code == 402
    assert len(contact_methods(story, contact_id)) == 1
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()],
        outbox=["payment.failed"],
        payment_method_id=None,
    )
    story.assert_quiet()
    # The retry a failed attempt schedules has no card of the subscription to charge: on its
    # day it is dropped, and nothing is charged or written again.
    story.advance_to(date(2026, 3, 10))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()],
        payment_method_id=None,
    )
    assert story.invoice(sid)["next_attempt_date"] is None

    # Paid late with a good card: active again, with that card as the subscription's.
    response = pay_on_hosted_page(story, link.group(1), "4242424242424242")
    assert response.status_code == 303, response.text
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="paid")],
        payments=[declined(), paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
    )
    method_id = story.subscription(sid)["payment_method_id"]
    assert len(contact_methods(story, contact_id)) == 2
    assert method_id == paid_with(story, sid)
    story.assert_quiet()

    # April is charged to that card.
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="paid"), inv(*APRIL)],
        payments=[declined(), paid(), paid()],
        outbox=["subscription.renewal_reminder", "invoice.created", "payment.succeeded"],
        payment_method_id=method_id,
    )
    assert story.invoice(sid)["collection_method"] == "charge_automatically"


def test_a_bank_debit_on_the_first_invoice_is_kept_while_it_processes(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sub, contact_id = collecting_subscription(
        story, payment_terms="net_15", payment_options={"payment_types": ["card", "bank_debit"]}
    )
    sid = sub["id"]
    [(kind, _to, text)] = emails(story, smtp_server)
    link = re.search(rf"{re.escape(BASE_URL)}(/billing/invoices/\S+)", text)
    assert kind == "invoice_issued" and link, text
    story.new_outbox(sid)

    # An authorised bank debit processes for four days; the account is the subscription's
    # from now on, as a subscription is created while its first debit processes (SPEC §5).
    response = pay_on_hosted_page(story, link.group(1), "000123456789")
    assert response.status_code == 303, response.text
    [method_id] = contact_methods(story, contact_id)
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[processing()],
        payment_method_id=method_id,
        last_payment_status="processing",
    )
    story.assert_quiet()

    story.advance_to(date(2026, 3, 5))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["payment.succeeded"],
        payment_method_id=method_id,
    )

    # April is debited from the same account, without the buyer doing anything.
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid(), processing()],
        outbox=["subscription.renewal_reminder", "invoice.created"],
    )
    assert story.invoice(sid)["collection_method"] == "charge_automatically"
    story.advance_to(date(2026, 4, 5))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[paid(), paid()],
        outbox=["payment.succeeded"],
    )


def test_a_method_the_merchant_does_not_keep_is_asked_for_on_every_invoice(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sub, _contact = collecting_subscription(
        story, payment_terms="net_15", payment_options={"save_payment_method": False}
    )
    sid = sub["id"]
    [(kind, _to, text)] = emails(story, smtp_server)
    link = re.search(rf"{re.escape(BASE_URL)}(/billing/invoices/\S+)", text)
    assert kind == "invoice_issued" and link, text
    story.new_outbox(sid)

    response = pay_on_hosted_page(story, link.group(1), "4242424242424242")
    assert response.status_code == 303, response.text
    # Paid, but the card is not kept for future charges, as the merchant chose.
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["payment.succeeded"],
        payment_method_id=None,
    )
    story.assert_quiet()
    emails(story, smtp_server)

    # So April's invoice is sent to the buyer to pay, like the first; nothing is charged.
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid()],
        outbox=["subscription.renewal_reminder", "invoice.created"],
        payment_method_id=None,
    )
    april = story.invoice(sid)
    assert (april["collection_method"], april["due_date"]) == ("send_invoice", "2026-04-16")
    assert [kind for kind, _to, _text in emails(story, smtp_server)] == [
        "invoice_issued",
        "renewal_reminder",
    ]
