"""Subscriptions, line items and each subscription's timeline."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cadency.kit.db import Base
from cadency.kit.text_search import text_index


class SubscriptionStatus(StrEnum):
    """A subscription's status (SPEC §3). Stored as its value; being a `str`, a member equals
    the plain string, so rows and JSON read back compare as they are."""

    SCHEDULED = "scheduled"
    TRIALING = "trialing"
    ACTIVE = "active"
    UNPAID = "unpaid"
    PAUSED = "paused"
    CANCELED = "canceled"
    EXPIRED = "expired"


# How a buyer may pay online when the merchant never said otherwise (SPEC §4 "Collection"):
# the API's PaymentOptions declares its defaults from here.
DEFAULT_PAYMENT_OPTIONS: dict[str, Any] = {
    "accept_online_payments": True,
    "payment_types": ["card"],
    "collect_billing_address": False,
    "collect_shipping_address": False,
    # Keep the method for future charges, with the buyer's consent.
    "save_payment_method": True,
}

# Statuses a subscription does not leave: nothing is billed any more.
ENDED_STATUSES = (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_account_id_id", "account_id", "id"),
        Index("ix_subscriptions_account_id_status", "account_id", "status"),
        Index("ix_subscriptions_account_id_next_payment_date", "account_id", "next_payment_date"),
        Index("ix_subscriptions_contact_id", "contact_id"),
        Index("ix_subscriptions_next_action_at", "next_action_at"),
        # A test clock's next stop and the worker's per-account rounds look due work up by account.
        Index("ix_subscriptions_account_id_next_action_at", "account_id", "next_action_at"),
        # The subscriptions index page on 100,000+ rows (measured by benchmarks/web.py): each
        # ends with the ID, the tie-breaker of keyset pagination, so a page is one range scan.
        # Newest first (the default sort); next billing date, alone and after a status (the
        # tabs and quick filters; the capped count reads only the index).
        Index("ix_subscriptions_account_created_id", "account_id", "created_at", "id"),
        Index("ix_subscriptions_account_next_payment_id", "account_id", "next_payment_date", "id"),
        Index(
            "ix_subscriptions_account_status_next_payment_id",
            "account_id",
            "status",
            "next_payment_date",
            "id",
        ),
        # Segments over 1,000,000 subscriptions (migration 0024, benchmarks/exports.py): ended
        # ones by when they were canceled, with the ID a count reads (win-back), and one
        # status's IDs in ID order, which a custom property's matching records are joined with
        # (upsell: tier is Basic).
        Index(
            "ix_subscriptions_account_status_canceled_id",
            "account_id",
            "status",
            "canceled_at",
            "id",
        ),
        Index("ix_subscriptions_account_status_id", "account_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"))
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    billing_address: Mapped[dict[str, Any] | None]

    collection_method: Mapped[str] = mapped_column(String(24))
    payment_terms: Mapped[str | None] = mapped_column(String(24))
    payment_method_id: Mapped[str | None] = mapped_column(
        ForeignKey("payment_methods.id"), index=True
    )
    collect_payment_method_on_first_invoice: Mapped[bool] = mapped_column(default=False)
    invoice_creation: Mapped[bool] = mapped_column(default=True)
    invoice_settings: Mapped[dict[str, Any] | None]
    # How the buyer may pay online (schemas.PaymentOptions as JSON); None: the defaults, so rows
    # written before the options existed (or by bulk inserts) read as the defaults.
    payment_options: Mapped[dict[str, Any] | None]
    # Fees (e.g. a card surcharge) added to what is due at checkout: the first invoice only.
    fee_ids: Mapped[list[Any] | None]

    # The terms all recurring line items share (the grouping rule).
    billing_frequency: Mapped[str] = mapped_column(String(20))
    billing_terms: Mapped[str] = mapped_column(String(12))  # "auto_renew" | "fixed"
    number_of_payments: Mapped[int | None]
    start_date: Mapped[date]
    # The date periods are counted from: the start date, or the trial end when there is a trial.
    billing_anchor: Mapped[date]
    end_date: Mapped[date | None]
    current_period_start: Mapped[date | None]
    current_period_end: Mapped[date | None]
    next_payment_date: Mapped[date | None]
    trial_end: Mapped[date | None]
    commitment_months: Mapped[int | None]
    commitment_end: Mapped[date | None]

    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    cancel_at: Mapped[date | None]
    # The refund chosen with a cancellation at a date ("none" | "prorated"), made on that date.
    cancel_refund: Mapped[str | None] = mapped_column(String(16))
    canceled_at: Mapped[datetime | None]
    # The first of the reasons given, kept for the clients and filters that read one.
    cancellation_reason: Mapped[str | None] = mapped_column(String(32))
    # Every reason given, in the order given (`cancellation_reason` first); read them with
    # `cancellation_reasons(...)`, which also knows rows written with the first alone.
    cancellation_reasons: Mapped[list[Any]] = mapped_column(default=lambda: [], server_default="[]")
    cancellation_comment: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    resume_at: Mapped[date | None]

    # Amounts in minor units of `currency`, kept current so lists and filters need no joins.
    next_payment_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    recurring_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    last_payment_amount: Mapped[int | None] = mapped_column(BigInteger)
    last_payment_status: Mapped[str | None] = mapped_column(String(16))
    payments_completed: Mapped[int] = mapped_column(default=0)
    # Periods invoiced so far; the next period to bill is period number `periods_billed`.
    periods_billed: Mapped[int] = mapped_column(default=0, server_default="0")
    total_collected: Mapped[int] = mapped_column(BigInteger, default=0)
    mrr: Mapped[int] = mapped_column(BigInteger, default=0)
    # The exact MRR, in 720ths of a minor unit (kit.periods.MRR_SCALE): what the MRR movements
    # ledger last recorded for it (analytics.models.MrrMovement).
    mrr_scaled: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # A plan change waiting for the next period: {"line_items": [LineItemInput as JSON], ...}.
    pending_change: Mapped[dict[str, Any] | None]
    # When the billing engine next has work for this subscription (UTC); None: nothing due.
    next_action_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    line_items: Mapped[list[LineItem]] = relationship(
        order_by="LineItem.position", lazy="raise", cascade="all, delete-orphan"
    )


def cancellation_reasons(reason: str | None, reasons: list[Any] | None) -> list[str]:
    """The reasons a cancellation gave: the stored list, or the first reason alone for a row
    written without the list (bulk inserts that set only `cancellation_reason`)."""
    if reasons:
        return [str(r) for r in reasons]
    return [reason] if reason else []


# The subscriptions index's search box and `contains_token` on the name read a trigram index
# (kit/text_search.py).
SUBSCRIPTION_TEXT = text_index("subscriptions", "name")


class LineItem(Base):
    """A priced line on a subscription, deal or quote; a copy, so editing it never edits the
    product it came from."""

    __tablename__ = "line_items"
    __table_args__ = (
        Index("ix_line_items_subscription_id", "subscription_id"),
        Index("ix_line_items_deal_id", "deal_id"),
        Index("ix_line_items_quote_id", "quote_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    deal_id: Mapped[str | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    quote_id: Mapped[str | None] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(255))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    unit_discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    tax_rate_id: Mapped[str | None] = mapped_column(ForeignKey("tax_rates.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    billing_frequency: Mapped[str | None] = mapped_column(String(20))  # None: one-time
    billing_terms: Mapped[str | None] = mapped_column(String(12))
    number_of_payments: Mapped[int | None]
    billing_start_date: Mapped[date | None]
    amount: Mapped[int] = mapped_column(BigInteger)  # quantity x discounted unit price
    created_at: Mapped[datetime]


class SubscriptionEvent(Base):
    """One entry of a subscription's timeline."""

    __tablename__ = "subscription_events"
    __table_args__ = (Index("ix_subscription_events_subscription_id_id", "subscription_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
