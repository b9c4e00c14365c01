"""Saved payment methods: processor tokens only, never a full card or account number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (Index("ix_payment_methods_contact_id", "contact_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))  # "card" | "bank_debit"
    brand: Mapped[str | None] = mapped_column(String(24))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    processor: Mapped[str] = mapped_column(String(16))
    processor_token: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
