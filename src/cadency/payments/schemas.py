"""API shapes of saved payment methods. Card and account numbers come in, never go out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from cadency.kit.schemas import OutputModel, StrictModel
from cadency.payments.models import PaymentMethod

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
