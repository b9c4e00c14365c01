"""Invoices and their lines. Financial records: they outlive the subscription they bill."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cadency.kit.db import Base


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        # The backstop of exactly-once billing: one cycle invoice per subscription period.
        UniqueConstraint("subscription_id", "cycle_period_start"),
        UniqueConstraint("account_id", "number"),
        Index("ix_invoices_account_id_id", "account_id", "id"),
        Index("ix_invoices_subscription_id", "subscription_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # No foreign key: a deleted subscription's invoices stay, with the ID they were billed under.
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[str | None] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # draft|open|paid|void|uncollectible
    billing_reason: Mapped[str] = mapped_column(String(32))
    collection_method: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date]
    due_date: Mapped[date]
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    # Set only on the regular invoice of a period (see the unique constraint above).
    cycle_period_start: Mapped[date | None]
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount_total: Mapped[int] = mapped_column(BigInteger)
    tax_total: Mapped[int] = mapped_column(BigInteger)
    fee_total: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8))
    locale: Mapped[str] = mapped_column(String(16))
    comments: Mapped[str | None] = mapped_column(Text)
    tax_ids: Mapped[list[Any]]
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    # Dunning: how many charges were tried and the date of the next retry, if any.
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_date: Mapped[date | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", lazy="raise", cascade="all, delete-orphan"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (Index("ix_invoice_lines_invoice_id", "invoice_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(500))
    line_item_id: Mapped[str | None] = mapped_column(String(40))
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    tax_rate_id: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)  # after discount, before tax
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
