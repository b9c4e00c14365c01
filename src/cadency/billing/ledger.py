"""The one writer of a subscription's status and billing counters.

Whoever causes a change of status — the API, a page, the portal, the engine, checkout, a
payment — calls `transition`, so every change leaves the same trace: the timeline entry and one
`subscription.status_changed` outbox row (from, to, reason). Anything that consumes the stream
of a subscription's state changes (webhooks, workflows, analytics) reads that row and sees the
same story whoever caused the change. The period and payment counters (`periods_billed`,
`next_payment_date`, `payments_completed`, `total_collected`) move here too, for the engine, the
bulk path and checkout alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import planner
from cadency.billing.invoicing import Period
from cadency.billing.state import record_event
from cadency.invoices.models import Invoice
from cadency.kit import money, outbox
from cadency.kit.events import EventType
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription, SubscriptionStatus

STATUS_CHANGED = EventType.SUBSCRIPTION_STATUS_CHANGED


def transition(
    session: Session,
    account: Account,
    subscription: Subscription,
    to: SubscriptionStatus,
    reason: str,
    now: datetime,
) -> bool:
    """Move the subscription to status `to` because of `reason`; returns whether it changed.

    Setting the status it already has writes nothing: a change is announced once, and a
    second run of the engine over the same time finds nothing to announce."""
    before = subscription.status
    if before == to:
        return False
    subscription.status = to.value
    subscription.updated_at = now
    data = {"from": str(before), "to": to.value, "reason": reason}
    record_event(session, subscription, STATUS_CHANGED, data, account)
    outbox.emit(
        session,
        account_id=account.id,
        type=STATUS_CHANGED,
        # The instant keeps two changes between the same statuses apart (paused, resumed and
        # paused again on one day), while a replay of the same change stays one row.
        dedup_key=f"status:{subscription.id}:{before}:{to.value}:{now.isoformat()}",
        payload={
            "subscription_id": subscription.id,
            "contact_id": subscription.contact_id,
            "currency": subscription.currency,
            **data,
        },
        at=now,
        subscription_id=subscription.id,
    )
    return True


def period_billed(sub: Subscription, period: Period, now: datetime) -> None:
    """The period's invoice is issued: count it, make it the current period, and bill next
    when it ends — unless that was a fixed term's last payment."""
    sub.periods_billed += 1
    sub.current_period_start, sub.current_period_end = period.start, period.end
    sub.next_payment_date = None if planner.all_periods_billed(sub) else period.end
    sub.updated_at = now


def payment_collected(sub: Subscription, amount: int) -> None:
    """A payment of `amount` for the subscription succeeded."""
    sub.payments_completed += 1
    sub.total_collected += amount
    sub.last_payment_amount = amount
    sub.last_payment_status = "succeeded"


def first_period_billed(
    session: Session,
    account: Account,
    subscription: Subscription,
    invoice: Invoice,
    payment: Payment | None,
    share: int,
    now: datetime,
) -> None:
    """The subscription's first period is on the checkout invoice: the engine bills from the
    second period on. A processing (bank) payment is counted when it settles."""
    sub = subscription
    currency = sub.currency
    assert sub.periods_billed == 0
    assert sub.current_period_start is not None and sub.current_period_end is not None
    period_billed(sub, Period(sub.current_period_start, sub.current_period_end), now)
    record_event(
        session,
        sub,
        EventType.INVOICE_CREATED,
        {
            "invoice_id": invoice.id,
            "number": invoice.number,
            "total": money.format_amount(invoice.total, currency),
            "amount": money.format_amount(share, currency),
            "period_start": sub.current_period_start.isoformat()
            if sub.current_period_start
            else None,
            "period_end": sub.current_period_end.isoformat() if sub.current_period_end else None,
            "billing_reason": "checkout",
        },
        account,
    )
    if payment is None or share == 0:
        return
    sub.last_payment_amount = share
    sub.last_payment_status = payment.status
    data: dict[str, Any] = {
        "payment_id": payment.id,
        "invoice_id": invoice.id,
        "amount": money.format_amount(share, currency),
        "payment_amount": money.format_amount(payment.amount, currency),
    }
    if payment.status == "succeeded":
        payment_collected(sub, share)
        record_event(session, sub, EventType.PAYMENT_SUCCEEDED, data, account)
    else:
        settles_on = payment.settles_on.isoformat() if payment.settles_on else None
        data["settles_on"] = settles_on
        record_event(session, sub, EventType.PAYMENT_PROCESSING, data, account)
