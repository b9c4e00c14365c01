"""The MRR movements ledger: one row per change of a subscription's MRR, written by the one
writer of billing state (billing.state.refresh_derived) in the transaction of the change.

Amounts are exact: MRR is stored scaled by `MRR_SCALE` (720), the least common multiple of the
denominators of every frequency's monthly factor (weekly 52/12, quarterly 1/3, every five
years 1/60, ...), so a monthly figure of any subscription is a whole number of 720ths of a
minor unit. A reported figure is summed exactly and rounded half-even once, at the end.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base

# The kinds of movement (API.md "Analytics").
MRR_NEW = "new"
MRR_EXPANSION = "expansion"
MRR_CONTRACTION = "contraction"
MRR_CHURNED = "churned"
MRR_REACTIVATED = "reactivated"
MRR_KINDS = (MRR_NEW, MRR_EXPANSION, MRR_CONTRACTION, MRR_CHURNED, MRR_REACTIVATED)


class MrrMovement(Base):
    __tablename__ = "mrr_movements"
    __table_args__ = (
        Index("ix_mrr_movements_account_currency_on", "account_id", "currency", "effective_on"),
        Index("ix_mrr_movements_subscription_on", "subscription_id", "effective_on"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # mrm_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    # The day the change took effect, in the account's timezone.
    effective_on: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16))  # MRR_KINDS
    # The change and the MRR after it, in 720ths of a minor unit (MRR_SCALE).
    amount: Mapped[int] = mapped_column(BigInteger)
    mrr_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class MrrDay(Base):
    """The ledger summed per account, currency, day and kind, kept by the same writer in the
    same transaction: a series of three years reads about a thousand of these rows, not the
    millions of movements behind them."""

    __tablename__ = "mrr_days"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # in 720ths, like the movements
    count: Mapped[int] = mapped_column(Integer)
