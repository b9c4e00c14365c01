"""How a subscription's state reads on pages: the badge of SPEC §4 ("Canceling" while a
cancellation is scheduled, "Past due" for unpaid)."""

from __future__ import annotations

from cadency.kit import labels
from cadency.subscriptions.models import Subscription

BADGE_LABELS = labels.SUBSCRIPTION_STATUSES


def badge_key(status: str, cancel_at_period_end: bool, has_cancel_at: bool) -> str:
    """The badge of a status: an active or trialing subscription set to end shows Canceling."""
    if status in ("active", "trialing") and (cancel_at_period_end or has_cancel_at):
        return "canceling"
    return status


def badge(subscription: Subscription) -> tuple[str, str]:
    """(badge key for CSS, English label to translate) of one subscription."""
    key = badge_key(
        subscription.status,
        bool(subscription.cancel_at_period_end),
        subscription.cancel_at is not None,
    )
    return key, BADGE_LABELS[key]
