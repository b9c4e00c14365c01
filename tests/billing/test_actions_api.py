"""Invoice actions, refunds, cancel-with-refund, pause/resume and the payment-method retry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story

FAILS = "4000000000000341"


def story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_cancel_immediately_with_prorated_refund(client: Any, session_factory: Any) -> None:
    s = story(client, session_factory)
    sub = s.subscribe(price="31.00")  # March has 31 days: 1.00 a day
    s.advance_to(date(2026, 3, 11))
    canceled = s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately", "refund": "prorated"}
        )
    )
    assert canceled["status"] == "canceled"
    # 11 March to 1 April: 21 unused days.
    assert s.payments(sub["id"]) == [("31.00", "partially_refunded", None)]
    payment = s.api.ok(s.api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert payment["refunded_amount"] == "21.00"
    assert canceled["total_collected"] == "10.00"
    events = s.api.ok(s.api.get(f"/subscriptions/{sub['id']}/events"))["data"]
    assert events[-1]["type"] == "subscription.canceled"
    assert events[-1]["data"]["refunded_amount"] == "21.00"
    assert "subscription.canceled" in s.outbox(sub["id"])
    assert "payment.refunded" in [m for m in s.outbox(sub["id"])]
    s.advance_to(date(2026, 6, 1))
    assert len(s.invoices(sub["id"])) == 1


def test_cancel_immediately_with_full_refund(client: Any, session_factory: Any) -> None:
    s = story(client, session_factory)
    sub = s.subscribe(price="25.00")
    s.api.ok(
        s.api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately", "refund": "full"})
    )
    assert s.payments(sub["id"]) == [("25.00", "refunded", None)]


def test_refund_endpoint(client: Any, session_factory: Any) -> None:
    s = story(client, session_factory)
    sub = s.subscribe(price="25.00")
    payment_id = s.api.ok(s.api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0][
        "id"
    ]
    partial = s.api.ok(s.api.post(f"/payments/{payment_id}/refund", {"amount": "5.00"}))
    assert (partial["status"], partial["refunded_amount"]) == ("partially_refunded", "5.00")
    too_much = s.api.post(f"/payments/{payment_id}/refund", {"amount": "20.01"})
    assert too_much.status_code == 422 and too_much.json()["error"]["param"] == "amount"
    rest = s.api.ok(s.api.post(f"/payments/{payment_id}/refund", {}))
    assert (rest["status"], rest["refunded_amount"]) == ("refunded", "25.00")
    assert s.api.post(f"/payments/{payment_id}/refund", {}).status_code == 409
    assert s.api.post(f"/payments/{payment_id}/refund", {"amount": 1.0}).status_code == 422
    assert s.subscription(sub["id"])["total_collected"] == "0.00"


def test_payment_method_update_retries_at_once(client: Any, session_factory: Any) -> None:
    s = story(client, session_factory)
    sub = s.subscribe(card=FAILS)
    assert s.subscription(sub["id"])["status"] == "unpaid"
    assert s.payments(sub["id"]) == [("25.00", "failed", "card_declined")]
    invoice = s.api.ok(s.api.get("/invoices", params={"subscription_id": sub["id"]}))["data"][0]
    assert (invoice["status"], invoice["next_attempt_date"]) == ("open", "2026-03-04")
    s.advance_to(date(2026, 3, 2))
    good = s.api.ok(
        s.api.post(
            f"/contacts/{sub['contact_id']}/payment-methods",
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 1,
                    "exp_year": 2040,
                    "cvc": "123",
                },
            },
        )
    )
    recovered = s.api.ok(
        s.api.patch(f"/subscriptions/{sub['id']}", {"payment_method_id": good["id"]})
    )
    assert recovered["status"] == "active"
    assert s.payments(sub["id"]) == [
        ("25.00", "failed", "card_declined"),
        ("25.00", "succeeded", None),
    ]
    assert s.invoices(sub["id"]) == [("2026-03-01", "2026-04-01", "25.00", "paid", "2026-03-01")]
    s.assert_quiet()
    s.advance_to(date(2026, 4, 1))
    assert s.invoices(sub["id"])[-1] == ("2026-04-01", "2026-05-01", "25.00", "paid", "2026-04-01")


def test_pay_void_and_mark_uncollectible(client: Any, session_factory: Any) -> None:
    s = story(client, session_factory)
    manual = s.subscribe(
        collection_method="send_invoice", payment_terms="net_15", email="m@example.com"
    )
    invoice = s.api.ok(s.api.get("/invoices", params={"subscription_id": manual["id"]}))["data"][0]
    assert (invoice["status"], invoice["due_date"], invoice["number"]) == (
        "open",
        "2026-03-16",
        "INV-000001",
    )
    methods = s.api.ok(s.api.get(f"/contacts/{manual['contact_id']}/payment-methods"))["data"]
    paid = s.api.ok(
        s.api.post(f"/invoices/{invoice['id']}/pay", {"payment_method_id": methods[0]["id"]})
    )
    assert (paid["status"], paid["amount_paid"], paid["amount_due"]) == ("paid", "25.00", "0.00")
    assert s.api.post(f"/invoices/{invoice['id']}/void").status_code == 409
    assert s.subscription(manual["id"])["payments_completed"] == 1

    failing = s.subscribe(card=FAILS, email="f@example.com")
    open_invoice = s.api.ok(s.api.get("/invoices", params={"subscription_id": failing["id"]}))[
        "data"
    ][0]
    declined = s.api.post(f"/invoices/{open_invoice['id']}/pay", {})
    assert declined.status_code == 402 and declined.json()["error"]["type"] == "payment"
    assert len(s.payments(failing["id"])) == 2  # the declined attempt is on record
    voided = s.api.ok(s.api.post(f"/invoices/{open_invoice['id']}/void"))
    assert (voided["status"], voided["amount_due"]) == ("void", "0.00")
    assert s.subscription(failing["id"])["status"] == "active"

    third = s.subscribe(card=FAILS, email="u@example.com")
    third_invoice = s.api.ok(s.api.get("/invoices", params={"subscription_id": third["id"]}))[
        "data"
    ][0]
    written_off = s.api.ok(s.api.post(f"/invoices/{third_invoice['id']}/mark-uncollectible"))
    assert written_off["status"] == "uncollectible" and written_off["next_attempt_date"] is None
    s.advance_to(date(2026, 3, 10))
    assert len(s.payments(third["id"])) == 1  # no retries after writing it off
    assert s.api.get("/invoices/inv_nope").status_code == 404


def test_pause_and_resume(client: Any, session_factory: Any) -> None:
    s = story(client, session_factory)
    sub = s.subscribe(item={"billing_terms": "fixed", "number_of_payments": 3})
    s.advance_to(date(2026, 3, 20))
    paused = s.api.ok(s.api.post(f"/subscriptions/{sub['id']}/pause", {"resume_at": "2026-06-10"}))
    assert (paused["status"], paused["resume_at"], paused["next_payment_date"]) == (
        "paused",
        "2026-06-10",
        None,
    )
    assert paused["mrr"] == "0.00"
    s.advance_to(date(2026, 6, 9))
    assert len(s.invoices(sub["id"])) == 1
    s.advance_to(date(2026, 6, 10))
    resumed = s.subscription(sub["id"])
    assert resumed["status"] == "active"
    assert s.invoices(sub["id"])[-1] == ("2026-06-10", "2026-07-10", "25.00", "paid", "2026-06-10")
    # A fixed term keeps the payments it had left: 3 in all.
    assert resumed["end_date"] == "2026-08-10"
    s.advance_to(date(2026, 9, 1))
    assert len(s.invoices(sub["id"])) == 3
    assert s.subscription(sub["id"])["status"] == "expired"

    other = s.subscribe(email="p@example.com")
    s.api.ok(s.api.post(f"/subscriptions/{other['id']}/pause", {}))
    assert s.api.post(f"/subscriptions/{other['id']}/pause", {}).status_code == 409
    back = s.api.ok(s.api.post(f"/subscriptions/{other['id']}/resume"))
    assert back["status"] == "active"
    assert back["current_period_start"] == "2026-09-01"
    assert s.api.post(f"/subscriptions/{other['id']}/resume").status_code == 409
