"""Bank debits are `processing` for four days before they settle or fail; a failed debit starts
dunning from the day it failed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, inv, paid, processing

SETTLES = "000123456789"
FAILS = "000111111116"
MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")
DEBIT_FAILED = ("25.00", "failed", "bank_account_debit_failed")


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_bank_debit_settles_after_four_days(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(card=SETTLES)
    sid = sub["id"]
    # The subscription exists and is active while its first payment is processing.
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[processing()],
        outbox=["invoice.created"],
        last_payment_status="processing",
        payments_completed=0,
    )
    assert story.invoice(sid)["next_attempt_date"] is None

    story.advance_to(date(2026, 3, 4), 23)
    story.expect(
        sid, status="active", invoices=[inv(*MARCH, status="open")], payments=[processing()]
    )

    story.advance_to(date(2026, 3, 5), 0)
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["payment.succeeded"],
        last_payment_status="succeeded",
        payments_completed=1,
        total_collected="25.00",
    )
    assert story.invoice(sid)["paid_at"] == "2026-03-05T00:00:00Z"

    story.advance_to(date(2026, 3, 18))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )

    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid(), processing()],
        outbox=["invoice.created"],
        next_payment_date="2026-05-01",
    )
    story.advance_to(date(2026, 4, 5))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[paid(), paid()],
        outbox=["payment.succeeded"],
        payments_completed=2,
        total_collected="50.00",
    )


def test_failed_bank_debit_is_retried_from_the_day_it_failed(
    client: Any, session_factory: Any
) -> None:
    """The debit of March 1st fails on March 5th: the retries are due 3, 5 and 7 days after that
    failure (March 8th, 10th, 12th). Each retry is a new debit that takes four days, so a retry
    whose day has passed while the previous one was processing goes out as soon as it fails."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=FAILS)
    sid = sub["id"]
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open")],
        payments=[processing()],
        outbox=["invoice.created"],
    )

    story.advance_to(date(2026, 3, 5))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[DEBIT_FAILED],
        outbox=["payment.failed", "subscription.status_changed"],
        last_payment_status="failed",
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-08"

    story.advance_to(date(2026, 3, 7))
    story.expect(
        sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[DEBIT_FAILED]
    )

    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[DEBIT_FAILED, processing()],
        last_payment_status="processing",
    )
    assert story.invoice(sid)["next_attempt_date"] is None

    # The second attempt fails on the 12th; its retry day (the 10th) has passed: debit again.
    story.advance_to(date(2026, 3, 12))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[DEBIT_FAILED, DEBIT_FAILED, processing()],
        outbox=["payment.failed"],
    )
    story.advance_to(date(2026, 3, 16))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[DEBIT_FAILED, DEBIT_FAILED, DEBIT_FAILED, processing()],
        outbox=["payment.failed"],
    )
    story.advance_to(date(2026, 3, 20))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[DEBIT_FAILED] * 4,
        outbox=["payment.failed", "subscription.status_changed", "subscription.canceled"],
        next_payment_date=None,
        canceled_at="2026-03-20T00:00:00Z",
    )
    failures = story.outbox_payloads(sid, "payment.failed")
    assert [(f["attempt"], f["next_retry_date"]) for f in failures] == [
        (1, "2026-03-08"),
        (2, "2026-03-10"),
        (3, "2026-03-12"),
        (4, None),
    ]
    story.advance_to(date(2026, 4, 2))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[DEBIT_FAILED] * 4,
    )


def test_a_debit_in_flight_when_the_subscription_is_canceled_still_settles(
    client: Any, session_factory: Any
) -> None:
    """Canceling neither stops nor refunds a bank debit in flight (SPEC §6): it settles on its
    day all the same, and once it has succeeded the merchant can refund it."""
    story = new_story(client, session_factory)
    sid = story.subscribe(card=SETTLES)["id"]
    story.advance_to(date(2026, 3, 2))
    story.cancel(sid, "immediately")
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="open")],
        payments=[processing()],
        outbox=["invoice.created", "subscription.status_changed", "subscription.canceled"],
    )
    assert story.subscription(sid)["next_payment_date"] is None

    story.advance_to(date(2026, 3, 5), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["payment.succeeded"],
        last_payment_status="succeeded",
        payments_completed=1,
        total_collected="25.00",
    )
    payment_id = story.api.ok(story.api.get("/payments", params={"subscription_id": sid}))["data"][
        0
    ]["id"]
    refunded = story.api.ok(story.api.post(f"/payments/{payment_id}/refund", {}))
    assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", "25.00")

    # Nothing more happens to the ended subscription.
    story.advance_to(date(2026, 5, 1))
    assert story.status(sid) == "canceled"
    assert story.invoices(sid) == [inv(*MARCH)]


def test_a_debit_that_fails_after_the_cancel_is_not_retried(
    client: Any, session_factory: Any
) -> None:
    """The failure is recorded and the invoice stays owed, but an ended subscription is not
    dunned: no retry date, no change of status."""
    story = new_story(client, session_factory)
    sid = story.subscribe(card=FAILS)["id"]
    story.cancel(sid, "immediately")
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 5), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="open")],
        payments=[DEBIT_FAILED],
        outbox=["payment.failed"],
        last_payment_status="failed",
    )
    assert story.invoice(sid)["next_attempt_date"] is None
    story.advance_to(date(2026, 4, 2))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="open")],
        payments=[DEBIT_FAILED],
    )
