"""Signed, expiring links to an invoice's hosted page (SPEC §5): the buyer opens them from an
email with no login, so the link itself is the permission to see and pay that one invoice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from cadency.config import Settings
from cadency.invoices.models import Invoice
from cadency.kit import clock, signing

INVOICE_LINK_PURPOSE = "invoice"
# Long enough to pay an invoice with generous payment terms after its reminder emails.
INVOICE_LINK_LIFETIME = timedelta(days=60)


def invoice_token(session: Session, invoice: Invoice) -> str:
    """A token naming the invoice and its account, valid for INVOICE_LINK_LIFETIME."""
    # The buyer opens the link in the real world, and unsign checks it against real time.
    expires_at = clock.real_now() + INVOICE_LINK_LIFETIME
    return signing.sign(
        session,
        INVOICE_LINK_PURPOSE,
        {"invoice_id": invoice.id, "account_id": invoice.account_id},
        expires_at,
    )


def hosted_invoice_path(session: Session, invoice: Invoice) -> str:
    return f"/billing/invoices/{invoice_token(session, invoice)}"


def hosted_invoice_url(session: Session, settings: Settings, invoice: Invoice) -> str:
    """The absolute address of the invoice's hosted page, for emails and the API."""
    return f"{settings.base_url.rstrip('/')}{hosted_invoice_path(session, invoice)}"
