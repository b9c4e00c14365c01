"""Recording an offline payment (bank transfer, cash, cheque) of an open invoice:
`POST /invoices/{id}/pay {"paid_out_of_band": true, "reference"?, "paid_at"?}`. Nothing is
charged; the invoice is paid, a succeeded payment with the processor "out_of_band" is written, and
the subscription follows exactly as after a charge that succeeded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from cadency.payments.models import Payment
from tests.conftest import make_api, pin_clock
from tests.payments.test_live_without_processor import contact, invoiced_subscription, open_invoice
from tests.scenarios.story import Story, inv, paid

MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def payment_row(session_factory: Any, invoice_id: str) -> Payment:
    with session_factory() as session:
        rows = session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)).all()
        assert len(rows) == 1, rows
        session.expunge(rows[0])
        return rows[0]


def payment_count(session_factory: Any, account_id: int) -> int:
    with session_factory() as session:
        return int(
            session.scalar(select(func.count()).where(Payment.account_id == account_id)) or 0
        )


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def test_an_offline_payment_recovers_an_overdue_manual_subscription(
    client: Any, session_factory: Any
) -> None:
    """The same story as paying the overdue invoice by card (test_manual_invoices), settled by
    a bank transfer instead: the same state and the same outbox events follow."""
    story = new_story(client, session_factory)
    sub = story.subscribe(collection_method="send_invoice", payment_terms="net_15")
    sid = sub["id"]
    story.new_outbox(sid)
    # Before the 23rd, when the dunning would give up on it (due date + the last retry day).
    story.advance_to(date(2026, 3, 22))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[],
        outbox=["invoice.overdue", "subscription.status_changed"],
    )
    invoice = story.invoice(sid)

    answer = story.api.ok(
        story.api.post(
            f"/invoices/{invoice['id']}/pay",
            {
                "paid_out_of_band": True,
                "reference": "Transfer NL91 ABNA 0417 164300 / INV-1",
                "paid_at": "2026-03-21T14:30:00+01:00",
            },
        )
    )
    assert (answer["status"], answer["amount_paid"], answer["amount_due"]) == (
        "paid",
        "25.00",
        "0.00",
    )
    assert answer["paid_at"].startswith("2026-03-21T13:30:00")
    story.assert_quiet()
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=[
            "payment.succeeded",
            "subscription.status_changed",
            "subscription.renewal_reminder",
        ],
        payments_completed=1,
        total_collected="25.00",
    )
    payment = payment_row(session_factory, invoice["id"])
    assert (
        payment.status,
        payment.processor,
        payment.processor_reference,
        payment.payment_method_id,
        payment.amount,
        payment.created_at.astimezone(UTC),
    ) == (
        "succeeded",
        "out_of_band",
        "Transfer NL91 ABNA 0417 164300 / INV-1",
        None,
        2500,
        datetime(2026, 3, 21, 13, 30, tzinfo=UTC),
    )
    receipt = story.outbox_payloads(sid, "payment.succeeded")[0]
    assert (receipt["payment_id"], receipt["invoice_number"], receipt["amount"]) == (
        payment.id,
        invoice["number"],
        "25.00",
    )
    changed = story.outbox_payloads(sid, "subscription.status_changed")[-1]
    assert (changed["from"], changed["to"], changed["reason"]) == (
        "unpaid",
        "active",
        "payment_recovered",
    )

    # Billing goes on as usual: April is invoiced, nothing is charged.
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid()],
        outbox=["invoice.created"],
    )


def test_a_live_account_without_a_processor_records_an_offline_payment(
    client: Any, session_factory: Any
) -> None:
    live = make_api(client, session_factory, name="Live shop", mode="live")
    invoice = open_invoice(live, invoiced_subscription(live, contact(live))["id"])
    before = datetime.now(UTC)
    answer = live.ok(live.post(f"/invoices/{invoice['id']}/pay", {"paid_out_of_band": True}))
    assert answer["status"] == "paid"
    payment = payment_row(session_factory, invoice["id"])
    assert (payment.status, payment.processor, payment.processor_reference) == (
        "succeeded",
        "out_of_band",
        None,
    )
    # paid_at defaults to now on the account's (real) clock.
    assert before <= payment.created_at.astimezone(UTC) <= datetime.now(UTC)
    listed = live.ok(live.get("/payments", params={"invoice_id": invoice["id"]}))["data"]
    assert [(p["status"], p["amount"], p["payment_method_id"], p["processor"]) for p in listed] == [
        ("succeeded", "49.00", None, "out_of_band")
    ]


def test_an_offline_payment_cannot_be_refunded_through_a_processor(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    api = story.api
    sub = story.subscribe(collection_method="send_invoice")
    invoice_id = story.invoice(sub["id"])["id"]
    api.ok(api.post(f"/invoices/{invoice_id}/pay", {"paid_out_of_band": True}))
    payment_id = payment_row(session_factory, invoice_id).id
    story.new_outbox(sub["id"])

    refused = error(api.post(f"/payments/{payment_id}/refund", {}), 409)
    assert refused["message"].startswith(
        "This payment was received outside the payment processor, so no processor can refund it"
    )
    payment = api.ok(api.get(f"/payments/{payment_id}"))
    assert (payment["status"], payment["refunded_amount"]) == ("succeeded", "0.00")
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["total_collected"] == "25.00"
    assert story.new_outbox(sub["id"]) == []


def test_only_an_open_invoice_takes_an_offline_payment(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    api = story.api
    first = story.subscribe(collection_method="send_invoice", email="a@example.com")
    second = story.subscribe(collection_method="send_invoice", email="b@example.com")
    paid_invoice = story.invoice(first["id"])["id"]
    api.ok(api.post(f"/invoices/{paid_invoice}/pay", {"paid_out_of_band": True}))
    void_invoice = story.invoice(second["id"])["id"]
    api.ok(api.post(f"/invoices/{void_invoice}/void"))
    payments = payment_count(session_factory, api.account_id)
    story.new_outbox(first["id"])

    again = error(api.post(f"/invoices/{paid_invoice}/pay", {"paid_out_of_band": True}), 409)
    assert again["message"] == "Only an open invoice can be paid; this one is paid"
    voided = error(api.post(f"/invoices/{void_invoice}/pay", {"paid_out_of_band": True}), 409)
    assert voided["message"] == "Only an open invoice can be paid; this one is void"
    assert payment_count(session_factory, api.account_id) == payments
    assert story.new_outbox(first["id"]) == []
    # Another account's invoice is not found.
    other = make_api(client, session_factory, name="Other shop")
    assert other.post(f"/invoices/{paid_invoice}/pay", {"paid_out_of_band": True}).status_code == (
        404
    )


def test_bad_offline_payments_are_refused_and_write_nothing(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    api = story.api
    sub = story.subscribe(collection_method="send_invoice", payment_terms="net_15")
    invoice_id = story.invoice(sub["id"])["id"]
    card = story.add_payment_method(sub["contact_id"], "4242424242424242")
    path = f"/invoices/{invoice_id}/pay"
    pin_clock(session_factory, api.account_id, datetime(2026, 3, 1, 8, tzinfo=UTC))

    future = error(
        api.post(path, {"paid_out_of_band": True, "paid_at": "2026-03-01T08:00:01+00:00"}), 422
    )
    assert future["param"] == "paid_at"
    assert future["message"] == (
        "paid_at must not be in the future (it is 2026-03-01T08:00:00+00:00 on the account's clock)"
    )
    naive = error(api.post(path, {"paid_out_of_band": True, "paid_at": "2026-02-28T10:00:00"}), 422)
    assert naive["param"] == "paid_at"
    two_lines = error(api.post(path, {"paid_out_of_band": True, "reference": "a\nb"}), 422)
    assert two_lines["param"] == "reference"
    assert "single line" in two_lines["message"]
    too_long = error(api.post(path, {"paid_out_of_band": True, "reference": "x" * 256}), 422)
    assert too_long["param"] == "reference"
    mixed = error(api.post(path, {"paid_out_of_band": True, "payment_method_id": card}), 422)
    assert mixed["param"] == "payment_method_id"
    assert "leave out payment_method_id" in mixed["message"]
    online = error(api.post(path, {"payment_method_id": card, "reference": "cheque 12"}), 422)
    assert online["param"] == "reference"
    assert online["message"] == (
        "reference describes an offline payment; send paid_out_of_band: true"
    )

    assert payment_count(session_factory, api.account_id) == 0
    assert api.ok(api.get(f"/invoices/{invoice_id}"))["status"] == "open"
    # The longest reference allowed, on the account's very instant, is accepted.
    accepted = api.post(
        path,
        {
            "paid_out_of_band": True,
            "reference": "x" * 255,
            "paid_at": "2026-03-01T08:00:00+00:00",
        },
    )
    assert accepted.status_code == 200, accepted.text
    assert payment_row(session_factory, invoice_id).processor_reference == "x" * 255
