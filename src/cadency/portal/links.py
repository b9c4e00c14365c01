"""Signed, expiring links to a subscription's billing settings page and portal (SPEC §9): the
buyer opens them with no login, so the link itself is the permission to manage that one
subscription."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cadency.kit import clock, signing
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.service import buyer_link_payload

PORTAL_PURPOSE = "portal"
# A session made by the merchant or the API is opened soon; a link in an email may be opened
# days later (as the update-payment-method link).
SESSION_LIFETIME = timedelta(hours=24)
EMAIL_LINK_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class PortalLink:
    path: str
    expires_at: datetime


def portal_link(
    session: Session,
    subscription: Subscription,
    lifetime: timedelta,
    return_url: str | None = None,
) -> PortalLink:
    # The buyer opens the link in the real world, and unsign checks it against real time.
    expires_at = clock.real_now() + lifetime
    payload = buyer_link_payload(subscription)
    if return_url:
        payload["return_url"] = return_url
    token = signing.sign(session, PORTAL_PURPOSE, payload, expires_at)
    return PortalLink(f"/billing/portal/{token}", expires_at)


def portal_url(session: Session, base_url: str, subscription: Subscription) -> str:
    """The absolute address of the billing settings page, for emails."""
    link = portal_link(session, subscription, EMAIL_LINK_LIFETIME)
    return f"{base_url.rstrip('/')}{link.path}"
