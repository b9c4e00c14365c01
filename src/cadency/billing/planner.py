"""Billing rules that decide, without writing anything, what is due for a subscription: the
engine (one subscription at a time) and the bulk path (many plain renewals at once) both ask
here, so they cannot disagree about when a term is fully billed or where a period ends."""

from __future__ import annotations

from dataclasses import dataclass
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


# --- the next step ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenInvoice:
    """An open invoice of the subscription, as the planner needs it."""

    id: str
    due_date: date
    next_attempt_date: date | None
    attempt_count: int


@dataclass(frozen=True)
class PendingDebit:
    """A payment still processing (a bank debit) and the day it settles."""

    id: str
    settles_on: date | None


@dataclass(frozen=True)
class Situation:
    """Everything the next step depends on, read before deciding; nothing here is written."""

    sub: Subscription
    today: date
    open_invoices: tuple[OpenInvoice, ...] = ()
    pending_debits: tuple[PendingDebit, ...] = ()
    # Overdue invoices already announced (their `invoice.overdue` is in the outbox).
    overdue_announced: frozenset[str] = frozenset()
    # Whether the subscription's plan has a free fallback plan to move to (SPEC §6, §9).
    has_fallback: bool = False


@dataclass(frozen=True)
class SettleDebits:
    payment_ids: tuple[str, ...]


@dataclass(frozen=True)
class Start:
    into_trial: bool


@dataclass(frozen=True)
class Cancel:
    on: date


@dataclass(frozen=True)
class Downgrade:
    """Move to the free fallback plan on `on` (a commitment ends without renewal)."""

    on: date


@dataclass(frozen=True)
class EndTrial:
    downgrade: bool  # no payment method on file and a free fallback: move to it


@dataclass(frozen=True)
class Resume:
    on: date


@dataclass(frozen=True)
class Retry:
    invoice_id: str


@dataclass(frozen=True)
class Overdue:
    invoice_ids: tuple[str, ...]  # overdue manual invoices, oldest first


@dataclass(frozen=True)
class Expire:
    pass


@dataclass(frozen=True)
class Renew:
    period: Period


Step = (
    SettleDebits | Start | Cancel | Downgrade | EndTrial | Resume | Retry | Overdue | Expire | Renew
)

ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)


def expiry_due(sub: Subscription, today: date) -> bool:
    """A fully billed fixed term whose end date has come."""
    return (
        sub.status == SubscriptionStatus.ACTIVE
        and all_periods_billed(sub)
        and sub.end_date is not None
        and sub.end_date <= today
    )


def next_step(situation: Situation) -> Step | None:
    """The earliest piece of work due for the subscription, in the order the engine does it;
    None when nothing is due. Applying the step and asking again walks the subscription up
    to today."""
    sub, today = situation.sub, situation.today
    # A bank debit settles whatever became of its subscription since (SPEC §6).
    settling = tuple(
        debit.id
        for debit in situation.pending_debits
        if debit.settles_on is not None and debit.settles_on <= today
    )
    if settling:
        return SettleDebits(settling)
    if sub.status in ENDED:
        return None
    if sub.status == SubscriptionStatus.SCHEDULED and sub.start_date <= today:
        return Start(into_trial=sub.trial_end is not None and sub.trial_end > sub.start_date)
    if (
        sub.cancel_at is not None
        and sub.cancel_at <= today
        and (sub.next_payment_date is None or sub.cancel_at <= sub.next_payment_date)
    ):
        # Canceling "at period end" in a fixed term's last period lands on its end date: the
        # term was billed in full, so it expires rather than counting as canceled early.
        if sub.cancel_at == sub.end_date and expiry_due(sub, today):
            return Expire()
        if sub.cancel_at == sub.commitment_end and situation.has_fallback:
            return Downgrade(sub.cancel_at)
        return Cancel(sub.cancel_at)
    if (
        sub.status == SubscriptionStatus.TRIALING
        and sub.trial_end is not None
        and sub.trial_end <= today
    ):
        # A trial that ends with no payment method on file moves to the plan's free fallback
        # instead of billing nobody (SPEC §9: a trial account is downgraded).
        return EndTrial(downgrade=sub.payment_method_id is None and situation.has_fallback)
    if sub.status == SubscriptionStatus.PAUSED:
        if sub.resume_at is not None and sub.resume_at <= today:
            return Resume(sub.resume_at)
        return None
    if sub.status == SubscriptionStatus.UNPAID:
        for invoice in situation.open_invoices:
            if invoice.next_attempt_date is not None and invoice.next_attempt_date <= today:
                return Retry(invoice.id)
    if sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNPAID):
        overdue = tuple(
            invoice.id
            for invoice in situation.open_invoices
            if invoice.attempt_count == 0 and invoice.due_date < today
        )
        news = any(invoice_id not in situation.overdue_announced for invoice_id in overdue)
        if overdue and (news or sub.status == SubscriptionStatus.ACTIVE):
            return Overdue(overdue)
    if expiry_due(sub, today):
        return Expire()
    if renewal_due(sub, today):
        assert sub.next_payment_date is not None
        return Renew(period_from(sub, sub.next_payment_date))
    return None
