from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictStr

from cadency.catalog.models import Fee, Product, TaxRate
from cadency.kit import money
from cadency.kit.periods import BillingFrequency
from cadency.kit.schemas import (
    CurrencyCode,
    MoneyStr,
    Name,
    OptionalText,
    OutputModel,
    PercentStr,
    SingleLineText,
    StrictModel,
)


def format_percent(value: Decimal) -> str:
    """ "21.00" — at least two decimals, more only when the rate has them."""
    text = format(value.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


class ProductCreate(StrictModel):
    name: Name
    description: OptionalText | None = None
    sku: Annotated[SingleLineText, Field(max_length=100)] | None = None
    unit_price: MoneyStr
    currency: CurrencyCode | None = Field(None, description="Defaults to the account currency")
    billing_frequency: BillingFrequency | None = Field(None, description="null: one-time")
    tax_category: Annotated[SingleLineText, Field(max_length=100)] | None = None
    archived: StrictBool = False
    fallback_product_id: Annotated[StrictStr, Field(max_length=40)] | None = Field(
        None, description="Free plan to fall back to when a commitment ends without renewal"
    )


class ProductUpdate(StrictModel):
    name: Name | None = None
    description: OptionalText | None = None
    sku: Annotated[SingleLineText, Field(max_length=100)] | None = None
    unit_price: MoneyStr | None = None
    billing_frequency: BillingFrequency | None = None
    tax_category: Annotated[SingleLineText, Field(max_length=100)] | None = None
    archived: StrictBool | None = None
    fallback_product_id: Annotated[StrictStr, Field(max_length=40)] | None = None


class ProductOut(OutputModel):
    id: str
    object: Literal["product"] = "product"
    name: str
    description: str | None
    sku: str | None
    unit_price: str
    currency: str
    billing_frequency: BillingFrequency | None
    tax_category: str | None
    archived: bool
    fallback_product_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            name=product.name,
            description=product.description,
            sku=product.sku,
            unit_price=money.format_amount(product.unit_price, product.currency),
            currency=product.currency,
            billing_frequency=(
                BillingFrequency(product.billing_frequency) if product.billing_frequency else None
            ),
            tax_category=product.tax_category,
            archived=product.archived,
            fallback_product_id=product.fallback_product_id,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class TaxRateCreate(StrictModel):
    name: Name
    percentage: PercentStr
    jurisdiction: Annotated[SingleLineText, Field(max_length=255)] | None = None


class TaxRateOut(OutputModel):
    id: str
    object: Literal["tax_rate"] = "tax_rate"
    name: str
    percentage: str
    jurisdiction: str | None
    created_at: datetime

    @classmethod
    def of(cls, rate: TaxRate) -> TaxRateOut:
        return cls(
            id=rate.id,
            name=rate.name,
            percentage=format_percent(rate.percentage),
            jurisdiction=rate.jurisdiction,
            created_at=rate.created_at,
        )


class FeeCreate(StrictModel):
    name: Name
    fee_type: Literal["fixed", "percentage"]
    amount: MoneyStr | None = Field(None, description="For fixed fees")
    currency: CurrencyCode | None = Field(None, description="For fixed fees; default: account's")
    percentage: PercentStr | None = Field(None, description="For percentage fees")


class FeeOut(OutputModel):
    id: str
    object: Literal["fee"] = "fee"
    name: str
    fee_type: Literal["fixed", "percentage"]
    amount: str | None
    currency: str | None
    percentage: str | None
    created_at: datetime

    @classmethod
    def of(cls, fee: Fee) -> FeeOut:
        return cls(
            id=fee.id,
            name=fee.name,
            fee_type=fee.fee_type,
            amount=(
                money.format_amount(fee.amount, fee.currency)
                if fee.amount is not None and fee.currency
                else None
            ),
            currency=fee.currency,
            percentage=format_percent(fee.percentage) if fee.percentage is not None else None,
            created_at=fee.created_at,
        )
