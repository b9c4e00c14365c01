"""The product library, tax library and fees."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (Index("ix_products_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    sku: Mapped[str | None] = mapped_column(String(100))
    unit_price: Mapped[int] = mapped_column(BigInteger)  # minor units of `currency`
    currency: Mapped[str] = mapped_column(String(3))
    billing_frequency: Mapped[str | None] = mapped_column(String(20))  # None: one-time
    tax_category: Mapped[str | None] = mapped_column(String(100))
    archived: Mapped[bool] = mapped_column(default=False)
    # The free plan a subscription to this product falls back to when its renewal is canceled
    # at the end of a commitment, instead of ending (SPEC §6).
    fallback_product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TaxRate(Base):
    __tablename__ = "tax_rates"
    __table_args__ = (Index("ix_tax_rates_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    percentage: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    jurisdiction: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class Fee(Base):
    __tablename__ = "fees"
    __table_args__ = (Index("ix_fees_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    fee_type: Mapped[str] = mapped_column(String(12))  # "fixed" | "percentage"
    amount: Mapped[int | None] = mapped_column(BigInteger)  # fixed fees, minor units
    currency: Mapped[str | None] = mapped_column(String(3))
    percentage: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    created_at: Mapped[datetime]
