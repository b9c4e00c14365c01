"""The one writer of a subscription's status.

Whoever causes a change — the API, a page, the portal, the engine, checkout, a payment — calls
`transition`, so every change of status leaves the same trace: the timeline entry and one
`subscription.status_changed` outbox row (from, to, reason). Anything that consumes the stream
of a subscription's state changes (webhooks, workflows, analytics) reads that row and nothing
else, and sees the same story whoever caused the change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing.state import record_event
from cadency.kit import outbox
from cadency.subscriptions.models import Subscription, SubscriptionStatus

STATUS_CHANGED = "subscription.status_changed"


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
