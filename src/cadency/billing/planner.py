"""Billing rules that decide, without writing anything, what is due for a subscription: the
engine (one subscription at a time) and the bulk path (many plain renewals at once) both ask
here, so they cannot disagree about when a term is fully billed or where a period ends."""

from __future__ import annotations

from datetime import date

from cadency.accounts.models import Account
from cadency.billing.invoicing import Period
from cadency.kit import periods
from cadency.subscriptions.models import Subscription, SubscriptionStatus


def all_periods_billed(sub: Subscription) -> bool:
    """A fixed term whose every payment has been invoiced: nothing more to renew."""
    return (
        sub.billing_terms == "fixed"
        and sub.number_of_payments is not None
        and sub.periods_billed >= sub.number_of_payments
    )


def period_from(sub: Subscription, start: date) -> Period:
    """The billing period that begins on `start`: it ends where the next one of the
    subscription's cycle (from its anchor) begins."""
    index = periods.period_index_containing(sub.billing_anchor, sub.billing_frequency, start)
    return Period(start, periods.period_start(sub.billing_anchor, sub.billing_frequency, index + 1))


def renewal_due(sub: Subscription, today: date) -> bool:
    """Whether the next period is due to be invoiced: past due or not, each period's invoice
    is issued on its first day (SPEC §4)."""
    return (
        sub.invoice_creation
        and sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNPAID)
        and sub.next_payment_date is not None
        and not all_periods_billed(sub)
        and sub.next_payment_date <= today
    )


def plain_renewal(sub: Subscription, account: Account, today: date) -> Period | None:
    """The period to renew when that renewal is all that is due and an automatic card charge
    settles it, so the bulk path may write it; None when anything else is due (a trial, a
    cancellation or plan change, a first period, several periods, a reminder) and the engine
    must take the subscription step by step."""
    if (
        sub.status != SubscriptionStatus.ACTIVE
        or sub.collection_method != "charge_automatically"
        or sub.payment_method_id is None
        or sub.periods_billed == 0
        or sub.pending_change
        or sub.cancel_at is not None
        or not renewal_due(sub, today)
    ):
        return None
    assert sub.next_payment_date is not None
    period = period_from(sub, sub.next_payment_date)
    if period.end <= today:
        return None  # several periods are due: the engine catches up one by one
    days = account.renewal_reminder_days
    if days and periods.add_days(period.end, -days) <= today:
        return None  # the reminder of the next renewal is due already: the engine sends it
    return period
