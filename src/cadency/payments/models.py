"""Saved payment methods: processor tokens only, never a full card or account number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base
from cadency.kit.i18n import N_

NOT_KEPT = N_(
    "The buyer used this payment method for one payment without agreeing to keep it for "
    "future charges"
)
"""Why a payment method that is not `reusable` cannot be charged again."""


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
    # The processor's customer the method is attached to (a Stripe `cus_…`), which a charge
    # names with the method; None for the sandbox.
    processor_customer: Mapped[str | None] = mapped_column(String(255))
    # False for a method the buyer used for one payment without agreeing to keep it: the row
    # stays for that payment's history (and to settle or refund it), but it is not among the
    # contact's saved methods and nothing charges it again.
    reusable: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime]


class Payment(Base):
    """One charge attempt against a payment method, as the processor answered it."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_account_id_id", "account_id", "id"),
        Index("ix_payments_invoice_id", "invoice_id"),
        Index("ix_payments_subscription_id", "subscription_id"),
        # A processor's webhook names the payment by its reference (a Stripe PaymentIntent).
        Index("ix_payments_account_id_processor_reference", "account_id", "processor_reference"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[str | None] = mapped_column(String(40))
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    processor: Mapped[str] = mapped_column(String(16))
    processor_reference: Mapped[str | None] = mapped_column(String(255))
    # Derived from the invoice and the attempt number, so a retried call never charges twice.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    settles_on: Mapped[date | None]  # bank debits stay processing until this date
    # Asked on the hosted page when the purchase or invoice collects them.
    billing_address: Mapped[dict[str, Any] | None]
    shipping_address: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_payment_id", "payment_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(64))
    processor_reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class ProcessorSettings(Base):
    """Which payment processor serves an account, and its Stripe keys. No row: the default
    (the sandbox for a test-mode account, none for a live one). The secret key and the webhook
    secret are stored encrypted (`kit.encryption`), never in plain text; only the secret key's
    last four characters are kept readable, to show which key is set."""

    __tablename__ = "processor_settings"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    processor: Mapped[str] = mapped_column(String(16))  # "sandbox" | "stripe"
    stripe_publishable_key: Mapped[str | None] = mapped_column(String(255))
    stripe_secret_key_encrypted: Mapped[str | None] = mapped_column(String(1024))
    stripe_secret_key_last4: Mapped[str | None] = mapped_column(String(4))
    stripe_webhook_secret_encrypted: Mapped[str | None] = mapped_column(String(1024))
    # A Stripe-compatible server instead of api.stripe.com (tests, localstripe); None: Stripe.
    stripe_api_base: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime]


class StripeEvent(Base):
    """A Stripe event already handled for the account: Stripe delivers an event at least once,
    so a second delivery of the same ID is answered and ignored."""

    __tablename__ = "stripe_events"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
