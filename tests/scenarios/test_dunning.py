"""Failed payments: retries on the account's schedule, then the configured final action; and the
ways out of dunning (a payment-method update, a retry that succeeds)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story, declined, inv, paid

DECLINING_CARD = "4000000000000341"
NO_FUNDS_CARD = "4000000000009995"
GOOD_CARD = "4242424242424242"
MARCH = ("2026-03-01", "2026-04-01")
APRIL = ("2026-04-01", "2026-05-01")


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def test_declined_card_is_retried_3_5_7_days_after_the_failure_then_canceled(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    failed_once = [declined()]
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=failed_once,
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
        next_payment_date="2026-04-01",
        last_payment_status="failed",
        payments_completed=0,
    )
    invoice = story.invoice(sid)
    assert (invoice["attempt_count"], invoice["next_attempt_date"]) == (1, "2026-03-04")
    assert invoice["amount_due"] == "25.00"
    assert story.outbox_payloads(sid, "subscription.status_changed")[0]["to"] == "unpaid"

    # The evening before a retry nothing happens; the retry runs as the day begins.
    story.advance(story.at(date(2026, 3, 3), 23))
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=failed_once)

    story.advance_to(date(2026, 3, 4), 0)
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 2,
        outbox=["payment.failed"],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-06"

    story.advance_to(date(2026, 3, 5))
    story.expect(
        sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[declined()] * 2
    )

    story.advance_to(date(2026, 3, 6))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 3,
        outbox=["payment.failed"],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-08"

    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined()] * 4,
        outbox=["payment.failed", "subscription.status_changed", "subscription.canceled"],
        next_payment_date=None,
        canceled_at="2026-03-08T00:00:00Z",
    )
    invoice = story.invoice(sid)
    assert (invoice["attempt_count"], invoice["next_attempt_date"]) == (4, None)
    failures = story.outbox_payloads(sid, "payment.failed")
    assert [(f["attempt"], f["next_retry_date"]) for f in failures] == [
        (1, "2026-03-04"),
        (2, "2026-03-06"),
        (3, "2026-03-08"),
        (4, None),
    ]
    assert {f["failure_reason"] for f in failures} == {"card_declined"}
    assert story.outbox_payloads(sid, "subscription.canceled") == [
        {
            "subscription_id": sid,
            "contact_id": sub["contact_id"],
            "currency": "USD",
            "canceled_on": "2026-03-08",
            "reason": "payment_failed",
        }
    ]

    # A canceled subscription is never billed again.
    story.advance_to(date(2026, 6, 1))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined()] * 4,
    )


def test_renewal_that_fails_later_goes_through_dunning_from_its_own_date(
    client: Any, session_factory: Any
) -> None:
    """The first payment succeeds; the April renewal fails (insufficient funds) and its retries
    count from April 1st."""
    story = new_story(client, session_factory)
    contact_id, good = story.customer(card=GOOD_CARD)
    sub = story.api.ok(
        story.api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [
                    {"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": good,
            },
        )
    )
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 20))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[paid()],
        outbox=["subscription.renewal_reminder"],
    )
    broke = story.add_payment_method(contact_id, NO_FUNDS_CARD)
    story.patch(sid, payment_method_id=broke)
    story.advance_to(date(2026, 3, 31))
    story.expect(
        sid, status="active", invoices=[inv(*MARCH)], payments=[paid()], payment_method_id=broke
    )

    no_funds = declined(reason="insufficient_funds")
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[paid(), no_funds],
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
        next_payment_date="2026-05-01",
        payments_completed=1,
    )
    for day, retries in ((date(2026, 4, 4), 1), (date(2026, 4, 6), 2)):
        story.advance_to(day)
        story.expect(
            sid,
            status="unpaid",
            invoices=[inv(*MARCH), inv(*APRIL, status="open")],
            payments=[paid(), no_funds, *[no_funds] * retries],
            outbox=["payment.failed"],
        )
    story.advance_to(date(2026, 4, 8))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH), inv(*APRIL, status="uncollectible")],
        payments=[paid(), *[no_funds] * 4],
        outbox=["payment.failed", "subscription.status_changed", "subscription.canceled"],
        next_payment_date=None,
        total_collected="25.00",
    )


def test_retry_that_succeeds_ends_dunning(client: Any, session_factory: Any) -> None:
    """Insufficient funds on the 1st; the buyer tops up; the retry on the 4th succeeds, the
    subscription is active again and renews as usual."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=NO_FUNDS_CARD)
    sid = sub["id"]
    no_funds = declined(reason="insufficient_funds")
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[no_funds],
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 3, 2))
    story.card_starts_working(sub["payment_method_id"])

    story.advance_to(date(2026, 3, 3))
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[no_funds])

    story.advance_to(date(2026, 3, 4))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[no_funds, paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
        payments_completed=1,
        total_collected="25.00",
        last_payment_status="succeeded",
        next_payment_date="2026-04-01",
    )
    invoice = story.invoice(sid)
    assert (invoice["attempt_count"], invoice["next_attempt_date"]) == (2, None)
    assert invoice["paid_at"] == "2026-03-04T00:00:00Z"
    assert story.outbox_payloads(sid, "subscription.status_changed")[-1]["to"] == "active"

    # No more retries on the 6th and 8th; the renewal reminder and the renewal come as usual.
    story.advance_to(date(2026, 3, 17))
    story.expect(sid, status="active", invoices=[inv(*MARCH)], payments=[no_funds, paid()])
    story.advance_to(date(2026, 3, 18))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[no_funds, paid()],
        outbox=["subscription.renewal_reminder"],
    )
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[no_funds, paid(), paid()],
        outbox=["invoice.created", "payment.succeeded"],
        payments_completed=2,
    )


def test_new_payment_method_retries_the_past_due_invoice_at_once(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()],
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 3, 2), 15)
    good = story.add_payment_method(sub["contact_id"], GOOD_CARD)
    story.patch(sid, payment_method_id=good)
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[declined(), paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
        payment_method_id=good,
        payments_completed=1,
        total_collected="25.00",
    )
    assert story.invoice(sid)["paid_at"] == "2026-03-02T15:00:00Z"

    # The scheduled retries are off; the next renewal charges the new card.
    story.advance_to(date(2026, 3, 9))
    story.expect(sid, status="active", invoices=[inv(*MARCH)], payments=[declined(), paid()])
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL)],
        payments=[declined(), paid(), paid()],
        outbox=["subscription.renewal_reminder", "invoice.created", "payment.succeeded"],
    )


def test_new_payment_method_that_also_fails_keeps_the_retry_schedule(
    client: Any, session_factory: Any
) -> None:
    """A second bad card is tried at once (one more failed attempt); the retries still come
    3, 5 and 7 days after the first failure and use the new card."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 2))
    broke = story.add_payment_method(sub["contact_id"], NO_FUNDS_CARD)
    story.patch(sid, payment_method_id=broke)
    no_funds = declined(reason="insufficient_funds")
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined(), no_funds],
        outbox=["payment.failed"],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-06"
    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined(), no_funds, no_funds, no_funds],
        outbox=[
            "payment.failed",
            "payment.failed",
            "subscription.status_changed",
            "subscription.canceled",
        ],
    )


def test_editing_a_subscription_in_dunning_keeps_its_retries(
    client: Any, session_factory: Any
) -> None:
    """Renaming (any edit) while a retry is pending must not push the retry back to the next
    renewal date."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 2))
    story.patch(sid, name="Beans, renamed")
    story.advance_to(date(2026, 3, 4))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 2,
        outbox=["payment.failed"],
    )


# --- the account's dunning settings ------------------------------------------------------------


def test_custom_retry_days_and_an_invoice_left_open(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    settings = story.settings(dunning_retry_days=[2, 10], dunning_invoice_action="leave_open")
    assert (settings["dunning_retry_days"], settings["dunning_final_action"]) == ([2, 10], "cancel")
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()],
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-03"

    story.advance_to(date(2026, 3, 3))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 2,
        outbox=["payment.failed"],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-03-11"

    story.advance_to(date(2026, 3, 10))
    story.expect(
        sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=[declined()] * 2
    )

    story.advance_to(date(2026, 3, 11))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 3,
        outbox=["payment.failed", "subscription.status_changed", "subscription.canceled"],
        next_payment_date=None,
    )
    invoice = story.invoice(sid)
    assert (invoice["attempt_count"], invoice["next_attempt_date"]) == (3, None)
    assert invoice["amount_due"] == "25.00"

    # The open invoice of a canceled subscription is neither retried nor reported overdue.
    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid, status="canceled", invoices=[inv(*MARCH, status="open")], payments=[declined()] * 3
    )


def test_no_retries_means_the_first_failure_is_final(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    story.settings(dunning_retry_days=[])
    sub = story.subscribe(card=DECLINING_CARD)
    story.expect(
        sub["id"],
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined()],
        outbox=[
            "invoice.created",
            "payment.failed",
            "subscription.status_changed",
            "subscription.canceled",
        ],
        canceled_at="2026-03-01T08:00:00Z",
    )
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sub["id"],
        status="canceled",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined()],
    )


def test_leave_unpaid_after_the_final_retry(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    story.settings(dunning_final_action="leave_unpaid")
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 7))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 3,
        outbox=["payment.failed", "payment.failed"],
    )
    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined()] * 4,
        outbox=["payment.failed"],
        canceled_at=None,
        next_payment_date="2026-04-01",
    )
    story.advance_to(date(2026, 3, 31))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="uncollectible")],
        payments=[declined()] * 4,
    )


def test_leave_unpaid_subscription_is_still_invoiced_each_period(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.settings(dunning_final_action="leave_unpaid")
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.advance_to(date(2026, 3, 31))
    story.new_outbox(sid)
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="uncollectible"), inv(*APRIL, status="open")],
        payments=[declined()] * 5,
        outbox=["invoice.created", "payment.failed"],
        next_payment_date="2026-05-01",
    )


def test_pause_after_the_final_retry(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    story.settings(dunning_final_action="pause", dunning_invoice_action="leave_open")
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="paused",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 4,
        outbox=[
            "payment.failed",
            "payment.failed",
            "payment.failed",
            "subscription.status_changed",
        ],
        paused_at="2026-03-08T00:00:00Z",
        canceled_at=None,
    )
    assert story.outbox_payloads(sid, "subscription.status_changed")[-1]["to"] == "paused"
    assert story.invoice(sid)["next_attempt_date"] is None

    # Paused: no renewal, no retries, no reminders.
    story.advance_to(date(2026, 5, 15))
    story.expect(
        sid, status="paused", invoices=[inv(*MARCH, status="open")], payments=[declined()] * 4
    )


def test_resume_after_a_dunning_pause_with_a_new_card(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    story.settings(dunning_final_action="pause", dunning_invoice_action="leave_open")
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.advance_to(date(2026, 5, 15))
    story.new_outbox(sid)
    good = story.add_payment_method(sub["contact_id"], GOOD_CARD)
    story.patch(sid, payment_method_id=good)
    resumed = story.api.ok(story.api.post(f"/subscriptions/{sid}/resume"))
    story.assert_quiet()
    assert resumed["status"] == "active"
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH, status="open"), inv("2026-05-15", "2026-06-15")],
        payments=[*[declined()] * 4, paid()],
        outbox=["subscription.status_changed", "invoice.created", "payment.succeeded"],
        next_payment_date="2026-06-15",
        paused_at=None,
    )
    assert story.outbox_payloads(sid, "subscription.status_changed")[-1]["to"] == "active"


def test_past_due_invoice_paid_by_hand_ends_dunning(client: Any, session_factory: Any) -> None:
    """The buyer pays the past-due invoice on its hosted page with another card; the
    subscription is active again and later renewals charge its saved (declining) card."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 5))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH, status="open")],
        payments=[declined()] * 2,
        outbox=["payment.failed"],
    )
    good = story.add_payment_method(sub["contact_id"], GOOD_CARD)
    invoice = story.invoice(sid)
    story.api.ok(story.api.post(f"/invoices/{invoice['id']}/pay", {"payment_method_id": good}))
    story.assert_quiet()
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[declined(), declined(), paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
        payment_method_id=sub["payment_method_id"],
    )
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[declined(), declined(), paid(), declined()],
        outbox=[
            "subscription.renewal_reminder",
            "invoice.created",
            "payment.failed",
            "subscription.status_changed",
        ],
    )


def test_bank_account_as_the_new_payment_method_recovers_when_it_settles(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(card=DECLINING_CARD)
    sid = sub["id"]
    story.new_outbox(sid)
    story.advance_to(date(2026, 3, 2))
    bank = story.add_payment_method(sub["contact_id"], "000123456789")
    story.patch(sid, payment_method_id=bank)
    pending = [declined(), ("25.00", "processing", None)]
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=pending)
    assert story.invoice(sid)["next_attempt_date"] is None

    # No card retries on the 4th while the debit is processing.
    story.advance_to(date(2026, 3, 5))
    story.expect(sid, status="unpaid", invoices=[inv(*MARCH, status="open")], payments=pending)
    story.advance_to(date(2026, 3, 6))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH)],
        payments=[declined(), paid()],
        outbox=["payment.succeeded", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="active",
        invoices=[inv(*MARCH), inv(*APRIL, status="open")],
        payments=[declined(), paid(), ("25.00", "processing", None)],
        outbox=["subscription.renewal_reminder", "invoice.created"],
    )


def test_new_payment_method_pays_every_past_due_invoice(client: Any, session_factory: Any) -> None:
    """A weekly plan with retries 3, 5 and 10 days out: the second week's invoice fails too before
    the first one's dunning is over. A new card pays the whole past-due balance at once."""
    story = new_story(client, session_factory)
    story.settings(dunning_retry_days=[3, 5, 10], renewal_reminder_days=None)
    sub = story.subscribe(card=DECLINING_CARD, frequency="weekly", price="5.00")
    sid = sub["id"]
    story.new_outbox(sid)
    week1 = ("2026-03-01", "2026-03-08")
    week2 = ("2026-03-08", "2026-03-15")
    failed = declined("5.00")
    story.advance_to(date(2026, 3, 8))
    story.expect(
        sid,
        status="unpaid",
        invoices=[inv(*week1, "5.00", "open"), inv(*week2, "5.00", "open")],
        payments=[failed] * 4,
        outbox=["payment.failed", "payment.failed", "invoice.created", "payment.failed"],
    )
    assert [story.invoice(sid, n)["next_attempt_date"] for n in (0, 1)] == [
        "2026-03-11",
        "2026-03-11",
    ]
    story.advance_to(date(2026, 3, 9))
    good = story.add_payment_method(sub["contact_id"], GOOD_CARD)
    story.patch(sid, payment_method_id=good)
    story.expect(
        sid,
        status="active",
        invoices=[inv(*week1, "5.00"), inv(*week2, "5.00")],
        payments=[*[failed] * 4, paid("5.00"), paid("5.00")],
        outbox=["payment.succeeded", "payment.succeeded", "subscription.status_changed"],
    )
    story.advance_to(date(2026, 3, 15))
    story.expect(
        sid,
        status="active",
        invoices=[
            inv(*week1, "5.00"),
            inv(*week2, "5.00"),
            inv("2026-03-15", "2026-03-22", "5.00"),
        ],
        payments=[*[failed] * 4, paid("5.00"), paid("5.00"), paid("5.00")],
        outbox=["invoice.created", "payment.succeeded"],
    )


def test_dunning_cancellation_stops_collecting_every_open_invoice(
    client: Any, session_factory: Any
) -> None:
    """Weekly, retries 3, 5 and 10 days out: week 2's invoice is in its own dunning when week 1's
    last retry fails and cancels the subscription. Week 2's invoice stays open (owed), but
    nothing will retry it any more, and it says so."""
    story = new_story(client, session_factory)
    story.settings(dunning_retry_days=[3, 5, 10], renewal_reminder_days=None)
    sub = story.subscribe(card=DECLINING_CARD, frequency="weekly", price="5.00")
    sid = sub["id"]
    story.new_outbox(sid)
    week1 = ("2026-03-01", "2026-03-08")
    week2 = ("2026-03-08", "2026-03-15")
    failed = declined("5.00")
    story.advance_to(date(2026, 3, 11))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*week1, "5.00", "uncollectible"), inv(*week2, "5.00", "open")],
        payments=[failed] * 5,
        outbox=[
            "payment.failed",
            "payment.failed",
            "invoice.created",
            "payment.failed",
            "payment.failed",
            "subscription.status_changed",
            "subscription.canceled",
        ],
        canceled_at="2026-03-11T00:00:00Z",
    )
    week2_invoice = story.invoice(sid)
    assert (week2_invoice["attempt_count"], week2_invoice["next_attempt_date"]) == (1, None)
    story.advance_to(date(2026, 4, 1))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*week1, "5.00", "uncollectible"), inv(*week2, "5.00", "open")],
        payments=[failed] * 5,
    )
