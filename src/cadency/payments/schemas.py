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
    routing_number: Digits = Field(examples=["110000000"])
    account_number: Digits = Field(examples=["000123456789"])


class PaymentMethodCreate(StrictModel):
    type: Literal["card", "bank_debit"]
    card: CardIn | None = None
    bank_debit: BankDebitIn | None = None


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
    status: Literal["processing", "succeeded", "failed", "refunded", "partially_refunded"]
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
