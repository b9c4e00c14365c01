"""The queries of the subscription pages (ENGINEERING.md: pages call these, they build no SQL).
Every table sits below the packages, so the record page reads invoices, payments and the
catalog here too; each query reads one account's rows (by its ID or by one of its records)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from cadency.catalog.models import Product, TaxRate
from cadency.invoices.models import Invoice
from cadency.kit.events import EventType
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription, SubscriptionEvent


def matching(condition: ColumnElement[bool]) -> Select[Subscription]:
    """The subscriptions that meet a compiled filter condition (which limits the account), as
    a query for the index to page through."""
    return select(Subscription).where(condition)


def tax_rates_by_id(session: Session, rate_ids: Iterable[str]) -> dict[str, TaxRate]:
    """The tax rates a subscription's line items use (IDs taken from those items)."""
    wanted = set(rate_ids)
    if not wanted:
        return {}
    return {r.id: r for r in session.scalars(select(TaxRate).where(TaxRate.id.in_(wanted)))}


def latest_invoices(
    session: Session, account_id: int, subscription_id: str, limit: int
) -> Sequence[Invoice]:
    """The subscription's newest invoices first."""
    return session.scalars(
        select(Invoice)
        .where(Invoice.account_id == account_id, Invoice.subscription_id == subscription_id)
        .order_by(Invoice.id.desc())
        .limit(limit)
    ).all()


def latest_payments(
    session: Session, account_id: int, subscription_id: str, limit: int
) -> Sequence[Payment]:
    """The subscription's newest payments first."""
    return session.scalars(
        select(Payment)
        .where(Payment.account_id == account_id, Payment.subscription_id == subscription_id)
        .order_by(Payment.id.desc())
        .limit(limit)
    ).all()


def products_to_add(
    session: Session, account_id: int, currency: str, limit: int
) -> Sequence[Product]:
    """The account's active products in the subscription's currency, by name."""
    return session.scalars(
        select(Product)
        .where(
            Product.account_id == account_id,
            Product.currency == currency,
            Product.archived.is_(False),
        )
        .order_by(Product.name)
        .limit(limit)
    ).all()


def product_currencies(session: Session, account_id: int) -> list[str]:
    """Every currency the account has products in, sorted."""
    rows = session.scalars(
        select(Product.currency).where(Product.account_id == account_id).distinct()
    )
    return sorted(set(rows))


def tax_rates(session: Session, account_id: int, limit: int) -> Sequence[TaxRate]:
    """The account's tax rates, by name."""
    return session.scalars(
        select(TaxRate).where(TaxRate.account_id == account_id).order_by(TaxRate.name).limit(limit)
    ).all()


def last_cancellation_data(session: Session, subscription_id: str) -> dict[str, Any] | None:
    """What the subscription's latest `subscription.canceled` timeline entry recorded."""
    data: dict[str, Any] | None = session.scalar(
        select(SubscriptionEvent.data)
        .where(
            SubscriptionEvent.subscription_id == subscription_id,
            SubscriptionEvent.type == EventType.SUBSCRIPTION_CANCELED,
        )
        .order_by(SubscriptionEvent.id.desc())
        .limit(1)
    )
    return data
