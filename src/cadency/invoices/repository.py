"""The queries of the buyer's hosted invoice and update-payment-method pages (ENGINEERING.md:
pages call these, they build no SQL). The pages have already checked the link, so each query
is limited by the invoice or subscription the link names."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.invoices.models import Invoice
from cadency.payments import processor
from cadency.payments.models import Payment


def processing_payment(session: Session, invoice_id: str) -> Payment | None:
    """The invoice's payment still being processed (a bank debit), if any."""
    return session.scalar(
        select(Payment).where(Payment.invoice_id == invoice_id, Payment.status == "processing")
    )


def awaiting_buyer(session: Session, invoice_id: str) -> Payment | None:
    """The invoice's payment waiting for the buyer to authenticate it (3-D Secure), if any."""
    return session.scalar(
        select(Payment).where(
            Payment.invoice_id == invoice_id, Payment.status == processor.REQUIRES_ACTION
        )
    )


def latest_failed_payment(session: Session, invoice_id: str) -> Payment | None:
    """The invoice's most recent failed payment."""
    return session.scalar(
        select(Payment)
        .where(Payment.invoice_id == invoice_id, Payment.status == "failed")
        .order_by(Payment.created_at.desc(), Payment.id.desc())
    )


def open_invoices(session: Session, subscription_id: str) -> list[Invoice]:
    """The subscription's open invoices, oldest first."""
    return list(
        session.scalars(
            select(Invoice)
            .where(Invoice.subscription_id == subscription_id, Invoice.status == "open")
            .order_by(Invoice.issue_date, Invoice.id)
        )
    )


def payment_ids(session: Session, invoice_ids: Sequence[str]) -> list[str]:
    """The IDs of every payment of these invoices."""
    if not invoice_ids:
        return []
    return list(session.scalars(select(Payment.id).where(Payment.invoice_id.in_(invoice_ids))))


def payments_newest_first(session: Session, invoice_ids: Sequence[str]) -> list[Payment]:
    """Every payment of these invoices, newest first."""
    if not invoice_ids:
        return []
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.invoice_id.in_(invoice_ids))
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )
    )


def invoices_by_ids(session: Session, invoice_ids: Sequence[str]) -> list[Invoice]:
    """These invoices (the ones an update of the payment method charged)."""
    return list(session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids))))
