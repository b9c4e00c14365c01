"""The planner decides what is due from a subscription's state alone: no database here. The
bulk path's "plain renewal" must be exactly the planner's renewal, a fixed term is billed its
number of payments and then expires, and nothing is planned for an ended subscription but the
settlement of a bank debit it still has in flight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cadency.accounts.models import Account
from cadency.billing import ledger, planner
from cadency.kit import periods
from cadency.kit.periods import BillingFrequency
from cadency.subscriptions.models import Subscription, SubscriptionStatus

DAY0 = date(2026, 1, 1)
NOW = datetime(2026, 1, 1, tzinfo=UTC)

days = st.integers(min_value=0, max_value=800).map(lambda n: DAY0 + timedelta(days=n))
maybe_day = st.none() | days


@st.composite
def subscriptions(draw: st.DrawFn) -> Subscription:
    start = draw(days)
    frequency = draw(st.sampled_from(list(BillingFrequency)))
    fixed = draw(st.booleans())
    number = draw(st.integers(min_value=1, max_value=6)) if fixed else None
    return Subscription(
        id="sub_test",
        status=draw(st.sampled_from(list(SubscriptionStatus))),
        start_date=start,
        billing_anchor=start,
        billing_frequency=frequency,
        billing_terms="fixed" if fixed else "auto_renew",
        number_of_payments=number,
        end_date=periods.fixed_term_end(start, frequency, number) if number else None,
        periods_billed=draw(st.integers(min_value=0, max_value=8)),
        payments_completed=0,
        # Billing moves from one period start of the cycle to the next.
        next_payment_date=draw(
            st.none()
            | st.integers(min_value=0, max_value=8).map(
                lambda k: periods.period_start(start, frequency, k)
            )
        ),
        trial_end=draw(maybe_day),
        cancel_at=draw(maybe_day),
        commitment_end=draw(maybe_day),
        resume_at=draw(maybe_day),
        invoice_creation=draw(st.booleans()),
        collection_method=draw(st.sampled_from(["charge_automatically", "send_invoice"])),
        payment_method_id=draw(st.sampled_from([None, "pm_1"])),
        pending_change=None,
    )


def account(reminder_days: int | None = None) -> Account:
    return Account(renewal_reminder_days=reminder_days, timezone="UTC")


@given(subscriptions(), days, st.sampled_from([None, 3, 7]))
def test_the_bulk_path_renews_exactly_what_the_planner_renews(
    sub: Subscription, today: date, reminder_days: int | None
) -> None:
    plain = planner.plain_renewal(sub, account(reminder_days), today)
    step = planner.next_step(planner.Situation(sub, account(), today))
    if plain is not None:
        assert step == planner.Renew(plain)
        assert plain.start == sub.next_payment_date
        assert plain.start <= today < plain.end
    if planner.all_periods_billed(sub):
        assert not isinstance(step, planner.Renew)


@given(subscriptions(), st.integers(min_value=-10, max_value=60))
def test_a_plain_renewal_is_taken_by_the_bulk_path_unless_more_is_due(
    sub: Subscription, offset: int
) -> None:
    """Subscriptions shaped like the common case: active, charged to a card, past their first
    period, nothing scheduled. The planner renews them; the bulk path takes exactly those
    renewals whose period is the only one due."""
    sub.status = SubscriptionStatus.ACTIVE
    sub.collection_method = "charge_automatically"
    sub.payment_method_id = "pm_1"
    sub.invoice_creation = True
    sub.cancel_at = None
    sub.periods_billed = max(sub.periods_billed, 1)
    # Around the next payment date, where the renewal becomes due.
    today = (sub.next_payment_date or sub.start_date) + timedelta(days=offset)
    step = planner.next_step(planner.Situation(sub, account(), today))
    plain = planner.plain_renewal(sub, account(), today)
    if isinstance(step, planner.Renew) and step.period.end > today:
        assert plain == step.period
    else:
        assert plain is None


@given(subscriptions(), days)
def test_an_ended_subscription_only_settles_its_debits(sub: Subscription, today: date) -> None:
    sub.status = SubscriptionStatus.CANCELED
    assert planner.next_step(planner.Situation(sub, account(), today)) is None
    debit = planner.PendingDebit("pay_1", today)
    later = planner.PendingDebit("pay_2", today + timedelta(days=1))
    step = planner.next_step(
        planner.Situation(sub, account(), today, pending_debits=(debit, later))
    )
    assert step == planner.SettleDebits(("pay_1",))


@given(subscriptions(), days)
def test_a_paused_subscription_waits_for_its_resume_date(sub: Subscription, today: date) -> None:
    sub.status = SubscriptionStatus.PAUSED
    sub.cancel_at = None
    step = planner.next_step(planner.Situation(sub, account(), today))
    if sub.resume_at is not None and sub.resume_at <= today:
        assert step == planner.Resume(sub.resume_at)
    else:
        assert step is None


@given(
    st.sampled_from(list(BillingFrequency)),
    st.integers(min_value=1, max_value=12),
    days,
)
def test_a_fixed_term_is_billed_its_payments_then_expires(
    frequency: BillingFrequency, number: int, start: date
) -> None:
    """Walk a fixed term to its end by applying only what the planner asks for."""
    sub = Subscription(
        id="sub_fixed",
        status=SubscriptionStatus.ACTIVE,
        start_date=start,
        billing_anchor=start,
        billing_frequency=frequency,
        billing_terms="fixed",
        number_of_payments=number,
        end_date=periods.fixed_term_end(start, frequency, number),
        periods_billed=0,
        payments_completed=0,
        next_payment_date=start,
        invoice_creation=True,
        collection_method="charge_automatically",
        payment_method_id="pm_1",
        pending_change=None,
    )
    billed: list[planner.Period] = []
    today = start
    while today <= sub.end_date:
        step = planner.next_step(planner.Situation(sub, account(), today))
        if isinstance(step, planner.Renew):
            assert step.period.start == today  # issued on the first day of its period
            billed.append(step.period)
            ledger.period_billed(sub, step.period, NOW)
            continue
        if isinstance(step, planner.Expire):
            break
        assert step is None
        # Nothing due: the next day the planner has work is the next payment or the end.
        wake = sub.next_payment_date or sub.end_date
        assert wake > today
        today = wake
    assert len(billed) == number
    assert today == sub.end_date
    assert [p.start for p in billed] == [
        periods.period_start(start, frequency, n) for n in range(number)
    ]
    assert billed[-1].end == sub.end_date
    assert sub.next_payment_date is None
