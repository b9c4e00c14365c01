"""The queries of the billing portal's pages (ENGINEERING.md: pages call these, they build no
SQL): the buyer's history of one subscription, and what the merchant's settings page offers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.catalog.models import Product
from cadency.invoices.models import Invoice
from cadency.payments.models import Payment


def latest_invoices(session: Session, subscription_id: str, limit: int) -> Sequence[Invoice]:
    """The subscription's invoices, newest issue date first."""
    return session.scalars(
        select(Invoice)
        .where(Invoice.subscription_id == subscription_id)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(limit)
    ).all()


def latest_payments(session: Session, subscription_id: str, limit: int) -> Sequence[Payment]:
    """The subscription's payments, newest first."""
    return session.scalars(
        select(Payment)
        .where(Payment.subscription_id == subscription_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    ).all()


def recurring_products(session: Session, account_id: int) -> Sequence[Product]:
    """The account's active recurring products (what the portal may offer to switch to), by
    name."""
    return session.scalars(
        select(Product)
        .where(
            Product.account_id == account_id,
            Product.billing_frequency.is_not(None),
            Product.archived.is_(False),
        )
        .order_by(Product.name, Product.id)
    ).all()
