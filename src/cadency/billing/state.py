"""A subscription's derived state and timeline: shared by the lifecycle service and the billing
engine, so neither has to import the other."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.analytics.models import (
    MRR_CHURNED,
    MRR_CONTRACTION,
    MRR_EXPANSION,
    MRR_NEW,
    MRR_REACTIVATED,
    MrrDay,
    MrrMovement,
)
from cadency.catalog import taxes
from cadency.catalog.line_items import LineItemInput, build_line_items
from cadency.catalog.models import Fee
from cadency.catalog.service import fee_amount
from cadency.invoices.models import Invoice
from cadency.kit import clock, money, outbox, periods
from cadency.kit.events import SUBSCRIPTION_CHANGES, EventType
from cadency.kit.ids import new_id
from cadency.kit.terms import BillingTerms, CollectionMethod
from cadency.subscriptions.models import (
    DEFAULT_PAYMENT_OPTIONS,
    LineItem,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)

# Statuses in which a subscription brings in recurring revenue.
REVENUE_STATUSES = ("active", "unpaid")
# The timeline entries after which a subscription's recurring items may differ: they carry what
# its MRR is made of (`mrr_basis`), so the MRR ledger can be rebuilt from the timeline
# (analytics.rebuild) — the statuses come from its status_changed entries.
BASIS_EVENTS = frozenset(
    {
        EventType.SUBSCRIPTION_CREATED,
        EventType.SUBSCRIPTION_PLAN_CHANGED,
        EventType.SUBSCRIPTION_DOWNGRADED,
    }
)


def mrr_basis(subscription: Subscription) -> dict[str, Any]:
    """What a subscription's MRR is made of: its recurring items before tax, per period, and
    the period (the status decides whether it counts)."""
    net = sum(item.amount for item in subscription.line_items if item.billing_frequency)
    return {"recurring_net": net, "billing_frequency": subscription.billing_frequency}


def basis_mrr(basis: dict[str, Any], status: str) -> int:
    """The exact MRR (in MRR_SCALE units) of a basis in a status."""
    if status not in REVENUE_STATUSES:
        return 0
    return periods.scaled_monthly(int(basis["recurring_net"]), str(basis["billing_frequency"]))


def record_event(
    session: Session,
    subscription: Subscription,
    event_type: EventType,
    data: dict[str, Any],
    account: Account,
) -> SubscriptionEvent:
    if event_type in BASIS_EVENTS:
        data = {**data, "mrr_basis": mrr_basis(subscription)}
    event = SubscriptionEvent(
        id=new_id("evt"),
        account_id=subscription.account_id,
        subscription_id=subscription.id,
        type=event_type,
        data=data,
        created_at=clock.account_now(account),
    )
    session.add(event)
    if event_type in BASIS_EVENTS or event_type == EventType.SUBSCRIPTION_STATUS_CHANGED:
        # Each entry the MRR ledger could be rebuilt from moves the ledger now, so it holds
        # every state the timeline shows (a trial that converts and is canceled in one run
        # of the engine brought in MRR, if only for an instant).
        sync_mrr(session, subscription, account)
    if event_type in SUBSCRIPTION_CHANGES:
        outbox.emit(
            session,
            account_id=subscription.account_id,
            type=event_type,
            dedup_key=f"timeline:{event.id}",
            payload={"subscription_id": subscription.id, **data},
            at=event.created_at,
            subscription_id=subscription.id,
            fresh=True,
        )
    return event


def options_with_defaults(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored online payment options (a subscription's or a payment link's); what was never
    set reads as the defaults."""
    return {**copy.deepcopy(DEFAULT_PAYMENT_OPTIONS), **(stored or {})}


def payment_options(subscription: Subscription) -> dict[str, Any]:
    """The subscription's online payment options; what was never set reads as the defaults."""
    return options_with_defaults(subscription.payment_options)


def awaits_payment_method(subscription: Subscription) -> bool:
    """Charged automatically, but its buyer gives the payment method by paying an invoice
    (`collect_payment_method_on_first_invoice`, SPEC §4) and has not yet: until then there is
    nothing to charge, so its invoices are sent to the buyer to pay by their due date."""
    return (
        subscription.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
        and subscription.collect_payment_method_on_first_invoice
        and subscription.payment_method_id is None
    )


def adopt_payment_method(
    session: Session, account: Account, subscription: Subscription, payment_method_id: str
) -> bool:
    """The buyer paid an invoice of a subscription that `awaits_payment_method` with a saved
    method: that method becomes the subscription's, so later renewals are charged with it.
    Not when the merchant chose not to keep the buyer's method for future charges: then each
    invoice goes on being sent to the buyer. Returns whether it was adopted."""
    if not awaits_payment_method(subscription):
        return False
    if not payment_options(subscription)["save_payment_method"]:
        return False
    subscription.payment_method_id = payment_method_id
    subscription.updated_at = clock.account_now(account)
    record_event(
        session,
        subscription,
        EventType.SUBSCRIPTION_UPDATED,
        {"changes": {"payment_method_id": {"from": None, "to": payment_method_id}}},
        account,
    )
    return True


@dataclass(frozen=True)
class Amounts:
    recurring_net: int  # one period of the recurring items, before tax
    recurring_total: int  # one period, with tax
    first_payment_total: int  # the first invoice: recurring + one-time items, with tax


def compute_amounts(
    session: Session, items: Sequence[LineItem], fees: Sequence[Fee] = ()
) -> Amounts:
    rates = taxes.rates(session, (item.tax_rate_id for item in items))

    def with_tax(item: LineItem) -> int:
        rate = rates.get(item.tax_rate_id) if item.tax_rate_id else None
        return item.amount + taxes.line_tax(item.amount, rate)

    recurring = [item for item in items if item.billing_frequency]
    one_time = [item for item in items if not item.billing_frequency]
    recurring_total = sum(with_tax(item) for item in recurring)
    first = recurring_total + sum(with_tax(item) for item in one_time)
    return Amounts(
        recurring_net=sum(item.amount for item in recurring),
        recurring_total=recurring_total,
        first_payment_total=first + sum(fee_amount(fee, first) for fee in fees),
    )


def checkout_fees(session: Session, subscription: Subscription) -> list[Fee]:
    """The fees of the subscription's first invoice, in the order they were given."""
    if not subscription.fee_ids:
        return []
    found = {f.id: f for f in session.scalars(select(Fee).where(Fee.id.in_(subscription.fee_ids)))}
    return [found[fee_id] for fee_id in subscription.fee_ids if fee_id in found]


def refresh_derived(session: Session, subscription: Subscription, account: Account) -> None:
    """Recompute the stored amounts and MRR from the subscription's items and status."""
    billed_before = subscription.periods_billed > 0
    fees = [] if billed_before else checkout_fees(session, subscription)
    amounts = compute_amounts(session, subscription.line_items, fees)
    subscription.recurring_amount = amounts.recurring_total
    subscription.next_payment_amount = (
        amounts.recurring_total if billed_before else amounts.first_payment_total
    )
    sync_mrr(session, subscription, account)
    # When the engine next wakes up is the engine's to say (billing.engine), from all pending
    # work: every service that changes a subscription ends by running it.


def sync_mrr(session: Session, subscription: Subscription, account: Account) -> None:
    """Bring the subscription's MRR up to date with its items and status, writing the change
    to the MRR movements ledger."""
    scaled = basis_mrr(mrr_basis(subscription), subscription.status)
    # (None on a subscription not yet inserted: its column default is 0.)
    if scaled != (subscription.mrr_scaled or 0):
        record_mrr_movement(session, subscription, account, scaled)
    elif subscription.mrr_scaled is None:
        subscription.mrr_scaled = 0
    subscription.mrr = money.prorate(scaled, 1, periods.MRR_SCALE)  # in minor units


def movement_kind(before: int, after: int, *, had_mrr: bool) -> str:
    """What a change of MRR from `before` to `after` is (API.md "Analytics")."""
    if before == 0:
        return MRR_REACTIVATED if had_mrr else MRR_NEW
    if after == 0:
        return MRR_CHURNED
    return MRR_EXPANSION if after > before else MRR_CONTRACTION


def record_mrr_movement(
    session: Session, subscription: Subscription, account: Account, mrr_after: int
) -> MrrMovement:
    """A change of the subscription's exact MRR (in MRR_SCALE units) on the ledger, dated the
    account's today: new (its first MRR), reactivated (back from zero), churned (to zero), or
    an expansion or contraction."""
    before = subscription.mrr_scaled or 0
    had_mrr = before > 0 or (
        session.scalar(
            select(MrrMovement.id).where(MrrMovement.subscription_id == subscription.id).limit(1)
        )
        is not None
    )
    kind = movement_kind(before, mrr_after, had_mrr=had_mrr)
    now = clock.account_now(account)
    movement = MrrMovement(
        id=new_id("mrm"),
        account_id=subscription.account_id,
        subscription_id=subscription.id,
        currency=subscription.currency,
        effective_on=periods.local_date(now, account.timezone),
        kind=kind,
        amount=mrr_after - before,
        mrr_after=mrr_after,
        created_at=now,
    )
    session.add(movement)
    add_to_day(session, movement)
    subscription.mrr_scaled = mrr_after
    return movement


def add_to_day(session: Session, movement: MrrMovement) -> None:
    """Count a movement in its day's sum (analytics.models.MrrDay), in one upsert."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(MrrDay).values(
        account_id=movement.account_id,
        currency=movement.currency,
        day=movement.effective_on,
        kind=movement.kind,
        amount=movement.amount,
        count=1,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["account_id", "currency", "day", "kind"],
            set_={
                "amount": MrrDay.amount + statement.excluded.amount,
                "count": MrrDay.count + 1,
            },
        )
    )


def restart_billing(subscription: Subscription, on: date) -> None:
    """Start a new period on `on` (resuming after a pause): periods count from there, and a
    fixed term keeps the payments it has left."""
    subscription.paused_at = None
    subscription.resume_at = None
    subscription.billing_anchor = on
    subscription.next_payment_date = on
    if subscription.billing_terms == BillingTerms.FIXED and subscription.number_of_payments:
        remaining = subscription.number_of_payments - subscription.periods_billed
        subscription.end_date = periods.fixed_term_end(
            on, subscription.billing_frequency, max(remaining, 1)
        )


def move_next_payment_date(subscription: Subscription, new_date: date) -> None:
    """Bill next on `new_date` (an edit, or a trial ended today): periods count from it, so the
    current period — or the trial, or the wait for a scheduled start — stretches or shrinks to
    meet it, and a fixed term keeps the payments it has left."""
    subscription.next_payment_date = new_date
    subscription.billing_anchor = new_date
    if subscription.status == SubscriptionStatus.SCHEDULED:
        subscription.start_date = new_date
    elif subscription.status == SubscriptionStatus.TRIALING:
        subscription.trial_end = new_date
        subscription.current_period_end = new_date
    else:
        subscription.current_period_end = new_date
    if subscription.billing_terms == BillingTerms.FIXED and subscription.number_of_payments:
        remaining = subscription.number_of_payments - subscription.payments_completed
        subscription.end_date = periods.fixed_term_end(
            new_date, subscription.billing_frequency, remaining
        )


def stop_billing(subscription: Subscription, ended_on: date | None = None) -> None:
    """Nothing more is billed (paused, or ended on `ended_on`): no next payment, and an ended
    subscription's period ends that day rather than in the future."""
    subscription.next_payment_date = None
    end = subscription.current_period_end
    if ended_on is not None and end is not None and end > ended_on:
        subscription.current_period_end = ended_on


def start_new_cycle(session: Session, subscription: Subscription, frequency: str, on: date) -> None:
    """A plan change to another billing frequency: periods count afresh from `on`, whose period
    is billed by the engine."""
    subscription.billing_frequency = frequency
    subscription.periods_billed = 0
    restart_billing(subscription, on)
    # If the old cycle's period began on `on` too, its invoice (settled by the change's credit)
    # no longer marks that period billed: otherwise the engine would take the new cycle's first
    # period as billed and never charge it.
    session.execute(
        update(Invoice)
        .where(Invoice.subscription_id == subscription.id, Invoice.cycle_period_start == on)
        .values(cycle_period_start=None)
    )


def apply_pending_change(
    session: Session, account: Account, subscription: Subscription, on: date
) -> dict[str, Any]:
    """Swap in the line items of a plan change scheduled for the period that starts `on`.
    They were validated when the change was requested; a new frequency starts its periods on
    `on`. Returns the timeline data of the change."""
    pending = subscription.pending_change or {}
    inputs = [LineItemInput.model_validate(item) for item in pending.get("line_items", [])]
    old_names = [item.name for item in subscription.line_items]
    items = build_line_items(
        session,
        account,
        inputs,
        subscription.currency,
        allow_custom=True,
        parent={"subscription_id": subscription.id},
    )
    terms = next(item for item in items if item.billing_frequency)
    assert terms.billing_frequency is not None and terms.billing_terms is not None
    subscription.line_items = list(items)
    subscription.pending_change = None
    subscription.billing_terms = terms.billing_terms
    subscription.number_of_payments = terms.number_of_payments
    if terms.billing_frequency != subscription.billing_frequency:
        subscription.billing_frequency = terms.billing_frequency
        subscription.periods_billed = 0
        restart_billing(subscription, on)
    return {"from": old_names, "to": [item.name for item in items], "effective": on.isoformat()}
