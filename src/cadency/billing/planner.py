"""Billing rules that decide, without writing anything, what is due for a subscription: the
engine (one subscription at a time) and the bulk path (many plain renewals at once) both ask
here, so they cannot disagree about when a term is fully billed or where a period ends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cadency.accounts.models import Account
from cadency.billing.invoicing import Period
from cadency.invoices.models import Invoice
from cadency.kit import periods
from cadency.kit.terms import BillingTerms, CollectionMethod
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription, SubscriptionStatus


def starting_status(start: date, trial_end: date | None, today: date) -> SubscriptionStatus:
    """The status a new subscription is created in: scheduled until its start date, then in
    its trial if it has one, else active. Later changes go through `ledger.transition`."""
    if start > today:
        return SubscriptionStatus.SCHEDULED
    if trial_end is not None:
        return SubscriptionStatus.TRIALING
    return SubscriptionStatus.ACTIVE


def all_periods_billed(sub: Subscription) -> bool:
    """A fixed term whose every payment has been invoiced: nothing more to renew."""
    return (
        sub.billing_terms == BillingTerms.FIXED
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
        or sub.collection_method != CollectionMethod.CHARGE_AUTOMATICALLY
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
    account: Account
    today: date
    open_invoices: tuple[OpenInvoice, ...] = ()
    pending_debits: tuple[PendingDebit, ...] = ()
    # Overdue invoices already announced (their `invoice.overdue` is in the outbox).
    overdue_announced: frozenset[str] = frozenset()
    # Open invoices the account's final dunning action was already applied to.
    dunning_done: frozenset[str] = frozenset()
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
class ManualDunningEnds:
    """A manual invoice is still unpaid on its last dunning day: the final action applies."""

    invoice_id: str


@dataclass(frozen=True)
class Expire:
    pass


@dataclass(frozen=True)
class Renew:
    period: Period


Step = (
    SettleDebits
    | Start
    | Cancel
    | Downgrade
    | EndTrial
    | Resume
    | Retry
    | Overdue
    | ManualDunningEnds
    | Expire
    | Renew
)

# The "trial will end" notice goes out this many days before the trial's end.
TRIAL_ENDING_NOTICE_DAYS = 3

ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)


def manual_dunning_ends_on(account: Account, due_date: date) -> date:
    """The day the account's final dunning action applies to a manual invoice (one no charge
    was attempted for) that is still unpaid.

    SPEC §5 counts automatic retries in days after the failure (default 3, 5 and 7) and §4
    says a past-due manual invoice is "unpaid" while "retries and emails are under way". A
    manual invoice has no charge to retry: what stands in for the retries is the overdue
    notice, sent the day after the due date, and the account's dunning schedule, counted from
    the due date. So the final action comes on the due date plus the last retry day (with the
    default schedule, 7 days after the due date); with no retry days configured, on the first
    day the invoice is overdue, as an automatic charge with no retries is given up on its
    first failure."""
    last = max((int(day) for day in account.dunning_retry_days or []), default=1)
    return periods.add_days(due_date, max(last, 1))


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
        for invoice in situation.open_invoices:
            if (
                invoice.id in overdue
                and invoice.id not in situation.dunning_done
                and manual_dunning_ends_on(situation.account, invoice.due_date) <= today
            ):
                return ManualDunningEnds(invoice.id)
    if expiry_due(sub, today):
        return Expire()
    if renewal_due(sub, today):
        assert sub.next_payment_date is not None
        return Renew(period_from(sub, sub.next_payment_date))
    return None


def wake_at(
    sub: Subscription,
    account: Account,
    today: date,
    pending_debits: Sequence[PendingDebit | Payment],
    open_invoices: Sequence[OpenInvoice | Invoice],
) -> datetime | None:
    """The first instant after `today` at which the subscription has work: the start of that
    day in the account's time zone. The one place that knows everything the engine waits for;
    it must name every day on which `next_step` can find something due."""
    candidates: list[date] = []
    if sub.status not in (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED):
        if sub.status == SubscriptionStatus.SCHEDULED:
            candidates.append(sub.start_date)
        if sub.status == SubscriptionStatus.TRIALING and sub.trial_end:
            candidates.append(sub.trial_end)
            candidates.append(periods.add_days(sub.trial_end, -TRIAL_ENDING_NOTICE_DAYS))
        if sub.cancel_at:
            candidates.append(sub.cancel_at)
        if sub.status == SubscriptionStatus.PAUSED and sub.resume_at:
            candidates.append(sub.resume_at)
        if (
            sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNPAID)
            and sub.invoice_creation
            and sub.next_payment_date
        ):
            candidates.append(sub.next_payment_date)
            if account.renewal_reminder_days:
                candidates.append(
                    periods.add_days(sub.next_payment_date, -account.renewal_reminder_days)
                )
        if sub.end_date and sub.billing_terms == BillingTerms.FIXED:
            candidates.append(sub.end_date)
        for invoice in open_invoices:
            if invoice.next_attempt_date:
                candidates.append(invoice.next_attempt_date)
            if invoice.attempt_count == 0:
                candidates.append(periods.add_days(invoice.due_date, 1))
                candidates.append(manual_dunning_ends_on(account, invoice.due_date))
    # A bank debit settles whatever became of its subscription since (SPEC §6).
    candidates += [debit.settles_on for debit in pending_debits if debit.settles_on]
    future = [day for day in candidates if day > today]
    return periods.start_of_day_utc(min(future), account.timezone) if future else None
