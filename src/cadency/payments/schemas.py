"""API shapes of saved payment methods. Card and account numbers come in, never go out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from cadency.kit import money
from cadency.kit.schemas import OutputModel, StrictModel
from cadency.payments.models import Payment, PaymentMethod

# Only types and lengths are checked here; the processor validates the digits, so that its
# errors can name the field without repeating the value.
Digits = Annotated[StrictStr, Field(max_length=64)]


class CardIn(StrictModel):
    number: Digits = Field(examples=["4242424242424242"])
    exp_month: Annotated[StrictInt, Field(ge=1, le=12)]
    exp_year: Annotated[StrictInt, Field(ge=2000, le=2100)]
    cvc: Annotated[StrictStr, Field(max_length=8)] = Field(examples=["123"])


class BankDebitIn(StrictModel):
    """A US bank account (`routing_number` and `account_number`: the sandbox) or a SEPA
    account (`iban`: Stripe, raw IBANs in test-mode accounts only)."""

    routing_number: Digits | None = Field(default=None, examples=["110000000"])
    account_number: Digits | None = Field(default=None, examples=["000123456789"])
    iban: Annotated[StrictStr, Field(max_length=42)] | None = Field(
        default=None, examples=["DE89370400440532013000"]
    )


class StripeMethodIn(StrictModel):
    """A PaymentMethod made with Stripe (Stripe.js on the hosted pages, or the merchant's own
    integration): its ID."""

    payment_method: Annotated[StrictStr, Field(pattern=r"^pm_[A-Za-z0-9_]{1,250}$")] = Field(
        examples=["pm_1PqX2eLkdIwHu7ix0dE5zQmR"]
    )


class PaymentMethodCreate(StrictModel):
    type: Literal["card", "bank_debit", "stripe"]
    card: CardIn | None = None
    bank_debit: BankDebitIn | None = None
    stripe: StripeMethodIn | None = None


class PaymentMethodOut(OutputModel):
    id: str
    object: Literal["payment_method"] = "payment_method"
    type: Literal["card", "bank_debit"]
    brand: str | None
    last4: str
    exp_month: int | None
    exp_year: int | None
    contact_id: str
    created_at: datetime

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodOut:
        return cls(
            id=method.id,
            type=method.type,
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            contact_id=method.contact_id,
            created_at=method.created_at,
        )


class PaymentOut(OutputModel):
    id: str
    object: Literal["payment"] = "payment"
    # requires_action: the buyer must authenticate the payment (3-D Secure) on the hosted
    # invoice page; the invoice stays open meanwhile.
    status: Literal[
        "processing", "requires_action", "succeeded", "failed", "refunded", "partially_refunded"
    ]
    amount: str
    refunded_amount: str
    currency: str
    invoice_id: str | None
    subscription_id: str | None
    contact_id: str | None
    payment_method_id: str | None
    failure_reason: str | None
    # Who took the money: the processor that charged, or "out_of_band" for a payment the
    # merchant received by hand and recorded (its reference is then the merchant's own).
    processor: str
    processor_reference: str | None
    created_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        c = payment.currency
        return cls(
            id=payment.id,
            status=payment.status,
            amount=money.format_amount(payment.amount, c),
            refunded_amount=money.format_amount(payment.refunded_amount, c),
            currency=c,
            invoice_id=payment.invoice_id,
            subscription_id=payment.subscription_id,
            contact_id=payment.contact_id,
            payment_method_id=payment.payment_method_id,
            failure_reason=payment.failure_reason,
            processor=payment.processor,
            processor_reference=payment.processor_reference,
            created_at=payment.created_at,
        )


# --- the account's payment processor (GET/PATCH /account/processor) --------------------------

Key = Annotated[StrictStr, Field(max_length=255)]


class StripeSettingsIn(StrictModel):
    publishable_key: Key | None = Field(default=None, examples=["pk_test_51H…"])
    # Write-only: answered as its mode and last four characters, never whole.
    secret_key: Key | None = Field(default=None, examples=["sk_test_51H…"])
    # Write-only: the signing secret of the webhook endpoint made in Stripe's dashboard.
    webhook_secret: Key | None = Field(default=None, examples=["whsec_…"])
    # A Stripe-compatible server instead of api.stripe.com (tests); test-mode accounts only.
    api_base: Key | None = Field(default=None, examples=["http://127.0.0.1:8420"])


class ProcessorSettingsUpdate(StrictModel):
    processor: Literal["sandbox", "stripe"] | None = None
    stripe: StripeSettingsIn | None = None


class StripeSettingsOut(OutputModel):
    publishable_key: str | None
    # "sk_test_…4242": the key's mode and last four characters; null when none is set.
    secret_key: str | None
    # "whsec_…" when one is set (nothing of it is shown), else null.
    webhook_secret: str | None
    api_base: str | None
    # Where Stripe sends the account's events: add it as an endpoint in Stripe's dashboard.
    webhook_url: str


class ProcessorSettingsOut(OutputModel):
    # null: a live account with no processor yet (the sandbox serves test-mode accounts only).
    processor: Literal["sandbox", "stripe"] | None
    stripe: StripeSettingsOut
