"""Cancel at a date with a prorated refund (SPEC §6, like Stripe's cancel_at with proration):
the refund choice is kept with the scheduled cancellation and made on the date, for the unused
days from it to the period end."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from cadency.payments.models import Refund
from cadency.subscriptions.models import Subscription, SubscriptionEvent
from tests.scenarios.story import Story, inv, paid, processing

# April has 30 days: a period of exactly 30 days.
APRIL = ("2026-04-01", "2026-05-01")
SETTLES = "000123456789"


def new_story(client: Any, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 4, 1, 8, tzinfo=UTC))


def stored_refund_choice(story: Story, sid: str) -> str | None:
    with story.session_factory() as session:
        sub = session.get(Subscription, sid)
        assert sub is not None
        return sub.cancel_refund


def canceled_event(story: Story, sid: str) -> dict[str, Any]:
    with story.session_factory() as session:
        data = session.scalars(
            select(SubscriptionEvent.data).where(
                SubscriptionEvent.subscription_id == sid,
                SubscriptionEvent.type == "subscription.canceled",
            )
        ).all()
    assert len(data) == 1
    return dict(data[0])


def test_cancel_at_a_date_refunds_the_unused_days_on_that_date(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sid = story.subscribe(price="30.00", currency="EUR")["id"]
    month = inv(*APRIL, total="30.00")
    story.new_outbox(sid)
    story.advance_to(date(2026, 4, 3))
    story.cancel(sid, "at_date", cancel_at="2026-04-11", refund="prorated", reason="unused")
    # Nothing is refunded before the date: the buyer still uses the subscription until then.
    story.expect(
        sid,
        status="active",
        invoices=[month],
        payments=[paid("30.00")],
        cancel_at="2026-04-11",
        cancel_refund="prorated",
        total_collected="30.00",
    )
    assert stored_refund_choice(story, sid) == "prorated"

    story.advance_to(date(2026, 4, 10), 23)
    story.expect(sid, status="active", invoices=[month], payments=[paid("30.00")])

    # On the date (10 days into the 30-day period) the 20 unused days are refunded:
    # 30.00 * 20 / 30 = 20.00, from the period's payment, which stays partially refunded.
    story.advance_to(date(2026, 4, 11), 0)
    story.expect(
        sid,
        status="canceled",
        invoices=[month],
        payments=[("30.00", "partially_refunded", None)],
        outbox=["payment.refunded", "subscription.status_changed", "subscription.canceled"],
        canceled_at="2026-04-11T00:00:00Z",
        next_payment_date=None,
        total_collected="10.00",
        cancel_refund=None,
    )
    payment = story.api.ok(story.api.get("/payments", params={"subscription_id": sid}))["data"][0]
    assert payment["refunded_amount"] == "20.00"
    with story.session_factory() as session:
        refunds = session.scalars(select(Refund).where(Refund.payment_id == payment["id"])).all()
        assert [(r.amount, r.reason) for r in refunds] == [(2000, "subscription_canceled")]
    assert story.outbox_payloads(sid, "payment.refunded")[0]["amount"] == "20.00"
    assert story.outbox_payloads(sid, "subscription.canceled")[0]["refunded_amount"] == "20.00"
    event = canceled_event(story, sid)
    assert (event["refund"], event["refunded_amount"]) == ("prorated", "20.00")
    assert stored_refund_choice(story, sid) is None

    # Later days write nothing more: no second refund, no new invoice.
    story.advance_to(date(2026, 5, 2))
    story.expect(
        sid,
        status="canceled",
        invoices=[month],
        payments=[("30.00", "partially_refunded", None)],
    )


def test_cancel_at_a_date_without_a_refund_keeps_the_charge(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sid = story.subscribe(price="30.00", currency="EUR")["id"]
    story.new_outbox(sid)
    story.cancel(sid, "at_date", cancel_at="2026-04-11", refund="none")
    assert stored_refund_choice(story, sid) == "none"
    story.advance_to(date(2026, 4, 11))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*APRIL, total="30.00")],
        payments=[paid("30.00")],
        outbox=["subscription.status_changed", "subscription.canceled"],
    )
    assert "refunded_amount" not in canceled_event(story, sid)


def test_reactivating_forgets_the_refund_choice(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sid = story.subscribe(price="30.00", currency="EUR")["id"]
    story.new_outbox(sid)
    story.cancel(sid, "at_date", cancel_at="2026-04-11", refund="prorated")
    story.reactivate(sid)
    assert stored_refund_choice(story, sid) is None
    # Canceling at the period end later must not pick up the old choice.
    story.cancel(sid, "at_period_end")
    assert stored_refund_choice(story, sid) is None
    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*APRIL, total="30.00")],
        payments=[paid("30.00")],
        outbox=["subscription.status_changed", "subscription.canceled"],
    )


def test_a_bank_debit_still_processing_on_the_date_is_not_refunded(
    client: Any, session_factory: Any
) -> None:
    """SPEC §6: a pending bank debit is neither stopped nor refunded; the timeline says so."""
    story = new_story(client, session_factory)
    sid = story.subscribe(price="30.00", currency="EUR", card=SETTLES)["id"]
    story.new_outbox(sid)
    story.cancel(sid, "at_date", cancel_at="2026-04-03", refund="prorated")
    story.advance_to(date(2026, 4, 3))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv(*APRIL, total="30.00", status="open")],
        payments=[processing("30.00")],
        outbox=["subscription.status_changed", "subscription.canceled"],
    )
    event = canceled_event(story, sid)
    assert (event["pending_bank_payment"], event["refunded_amount"]) == (True, "0.00")


def test_refund_choices_a_scheduled_cancel_refuses(client: Any, session_factory: Any) -> None:
    story = new_story(client, session_factory)
    sid = story.subscribe(price="30.00", currency="EUR")["id"]
    cases = [
        ({"mode": "at_date", "cancel_at": "2026-04-11", "refund": "full"}, "'prorated'"),
        ({"mode": "at_period_end", "refund": "prorated"}, "period end"),
        ({"mode": "at_period_end", "refund": "full"}, "period end"),
    ]
    for body, words in cases:
        answer = story.api.post(f"/subscriptions/{sid}/cancel", body)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["param"] == "refund"
        assert words in error["message"]
    assert story.subscription(sid)["cancel_at"] is None
    assert stored_refund_choice(story, sid) is None
    story.assert_quiet()


def test_a_date_in_a_later_period_refunds_from_that_periods_payment(
    client: Any, session_factory: Any
) -> None:
    """Set in April for May 11th: May is still renewed and paid, and on the 11th the unused 21
    of its 31 days come back from May's payment (30.00 * 21 / 31 = 20.32, rounded to the
    cent); April's payment is untouched."""
    story = new_story(client, session_factory)
    sid = story.subscribe(price="30.00", currency="EUR")["id"]
    april, may = inv(*APRIL, total="30.00"), inv("2026-05-01", "2026-06-01", total="30.00")
    story.advance_to(date(2026, 4, 20))
    story.cancel(sid, "at_date", cancel_at="2026-05-11", refund="prorated")
    story.new_outbox(sid)
    story.advance_to(date(2026, 5, 1))
    story.expect(
        sid,
        status="active",
        invoices=[april, may],
        payments=[paid("30.00")] * 2,
        outbox=["invoice.created", "payment.succeeded"],
    )
    story.advance_to(date(2026, 5, 11))
    story.expect(
        sid,
        status="canceled",
        invoices=[april, may],
        payments=[paid("30.00"), ("30.00", "partially_refunded", None)],
        outbox=["payment.refunded", "subscription.status_changed", "subscription.canceled"],
        total_collected="39.68",
    )
    assert story.outbox_payloads(sid, "payment.refunded")[0]["amount"] == "20.32"
