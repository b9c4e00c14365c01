"""Refunding the current period's payment when a subscription is canceled (SPEC §6): the unused
days of it, prorated by day, or all of it. One rule for both ways a cancellation happens: now
(subscriptions.service.cancel) and on a scheduled date (the billing engine), so the two can
never disagree by a cent."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.invoices.models import Invoice
from cadency.kit import money, periods
from cadency.payments import service as payments
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription

# The refund choices a cancellation at a date may keep for its day. "full" is not one of them:
# by that date part of the period has been used (SPEC §6 refunds the unused days).
SCHEDULED_REFUNDS = ("none", "prorated")


def period_payment_in_flight(session: Session, subscription: Subscription) -> Payment | None:
    """The current period's bank debit that has not settled yet, if any: it cannot be refunded
    (SPEC §6), and refunding nothing must not look like success."""
    if subscription.current_period_start is None:
        return None
    return session.scalar(
        select(Payment)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(
            Invoice.subscription_id == subscription.id,
            Invoice.cycle_period_start == subscription.current_period_start,
            Payment.status == "processing",
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


def refund_current_period(
    session: Session, account: Account, subscription: Subscription, refund: str, on: date
) -> int:
    """Refund the current period's paid payment for a cancellation that takes effect on `on`:
    the days from `on` to the period end (prorated by day, of the recurring lines only — a
    one-time item is not "unused"), or all that is left of it. Returns the amount refunded, in
    minor units; nothing when the period was not paid. Callers check
    `period_payment_in_flight` first."""
    if refund == "none" or subscription.current_period_start is None:
        return 0
    invoice = session.scalar(
        select(Invoice)
        .where(
            Invoice.subscription_id == subscription.id,
            Invoice.cycle_period_start == subscription.current_period_start,
            Invoice.status == "paid",
        )
        .options(selectinload(Invoice.lines))
    )
    payment = (
        session.scalar(
            select(Payment)
            .where(
                Payment.invoice_id == invoice.id,
                Payment.status.in_(("succeeded", "partially_refunded")),
            )
            .order_by(Payment.id.desc())
            .limit(1)
        )
        if invoice is not None
        else None
    )
    if invoice is None or payment is None:
        return 0
    refundable = payment.amount - payment.refunded_amount
    if refund == "full":
        amount = refundable
    else:
        end = subscription.current_period_end or on
        period_days = periods.days_between(subscription.current_period_start, end)
        unused_days = max(0, periods.days_between(on, end))
        recurring = sum(line.amount + line.tax for line in invoice.lines if line.period_start)
        amount = min(refundable, money.prorate(recurring, unused_days, max(period_days, 1)))
    if amount > 0:
        payments.refund_payment(session, account, payment, amount, reason="subscription_canceled")
    return amount
