"""API shapes of payment links, their checkout, and quote/deal conversions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictStr

from cadency.billing.state import options_with_defaults
from cadency.catalog.line_items import LineItemInput, LineItemOut
from cadency.catalog.schemas import format_percent
from cadency.checkout.models import Conversion, PaymentLink, PaymentLinkItem
from cadency.crm.schemas import AddressIn, Email, PersonName, Phone
from cadency.kit import money
from cadency.kit.periods import BillingFrequency
from cadency.kit.schemas import CurrencyCode, Name, OutputModel, StrictModel
from cadency.payments.schemas import PaymentMethodCreate
from cadency.subscriptions.schemas import (
    CollectionMethod,
    PaymentOptions,
    PaymentOptionsOut,
    PaymentTerms,
)

RecordId = Annotated[StrictStr, Field(max_length=40)]
LogoUrl = Annotated[
    StrictStr,
    Field(
        max_length=2048,
        pattern=r"^https://[^\s\"'<>]+$",
        description="An https URL of the merchant's logo, shown at the top of the hosted page",
    ),
]
ButtonText = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[^\r\n]+$",
        description="The pay button's words (default: 'Pay' and the amount due today)",
    ),
]
ConfirmationMessage = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=1000,
        description="Shown to the buyer after the purchase (plain text; line breaks kept)",
    ),
]


# Payment links


class PaymentLinkCreate(StrictModel):
    name: Name
    line_items: Annotated[list[LineItemInput], Field(min_length=1, max_length=100)] = Field(
        description="Recurring and one-time items; recurring items with different terms become "
        "separate subscriptions at checkout (the grouping rule)"
    )
    currency: CurrencyCode | None = Field(None, description="Defaults to the account currency")
    collection_method: CollectionMethod = Field(
        "charge_automatically",
        description="How the subscriptions collect later payments. The first payment is always "
        "taken at checkout.",
    )
    payment_terms: PaymentTerms | None = Field(
        None, description="send_invoice only: terms of the renewal invoices (due_on_receipt)"
    )
    active: StrictBool = True
    payment_options: PaymentOptions | None = Field(
        None,
        description="What the hosted page offers and asks (payment types, addresses, saving "
        "the method); the subscriptions a checkout makes take these options",
    )
    logo_url: LogoUrl | None = None
    button_text: ButtonText | None = None
    confirmation_message: ConfirmationMessage | None = None
    deal_id: RecordId | None = Field(
        None, description="A deal of the account (not archived) the link is associated with"
    )


class PaymentLinkUpdate(StrictModel):
    name: Name | None = None
    active: StrictBool | None = Field(None, description="An inactive link refuses checkouts")
    payment_options: PaymentOptions | None = None
    logo_url: LogoUrl | None = None
    button_text: ButtonText | None = None
    confirmation_message: ConfirmationMessage | None = None
    deal_id: RecordId | None = Field(
        None, description="Associate the link with this deal (not archived); null removes it"
    )


def link_item_out(item: PaymentLinkItem) -> LineItemOut:
    return LineItemOut(
        id=item.id,
        name=item.name,
        product_id=item.product_id,
        quantity=item.quantity,
        unit_price=money.format_amount(item.unit_price, item.currency),
        unit_discount_percent=(
            format_percent(item.unit_discount_percent)
            if item.unit_discount_percent is not None
            else None
        ),
        tax_rate_id=item.tax_rate_id,
        currency=item.currency,
        billing_frequency=(
            BillingFrequency(item.billing_frequency) if item.billing_frequency else None
        ),
        billing_terms=item.billing_terms,
        number_of_payments=item.number_of_payments,
        billing_start_date=item.billing_start_date,
        amount=money.format_amount(item.amount, item.currency),
    )


class PaymentLinkOut(OutputModel):
    id: str
    object: Literal["payment_link"] = "payment_link"
    url: str = Field(description="The hosted checkout page")
    name: str
    currency: str
    collection_method: CollectionMethod
    payment_terms: str | None
    line_items: list[LineItemOut]
    active: bool
    payment_options: PaymentOptionsOut
    logo_url: str | None
    button_text: str | None
    confirmation_message: str | None
    deal_id: str | None = Field(description="The deal the link is associated with, if any")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: PaymentLink, base_url: str) -> PaymentLinkOut:
        return cls(
            id=link.id,
            url=f"{base_url.rstrip('/')}/pay/{link.id}",
            name=link.name,
            currency=link.currency,
            collection_method=link.collection_method,
            payment_terms=link.payment_terms,
            line_items=[link_item_out(item) for item in link.line_items],
            active=link.active,
            payment_options=options_with_defaults(link.payment_options),
            logo_url=link.logo_url,
            button_text=link.button_text,
            confirmation_message=link.confirmation_message,
            deal_id=link.deal_id,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


# Checkout


class CheckoutContact(StrictModel):
    email: Email = Field(description="Matched case-insensitively to an existing contact")
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None


class CheckoutRequest(StrictModel):
    contact: CheckoutContact
    payment_method: PaymentMethodCreate
    save_payment_method: StrictBool = Field(
        True,
        description="Keep the payment method on the contact for later charges (the buyer's "
        "consent). Required when the link's subscriptions are charged automatically; refused "
        "when the link does not save payment methods.",
    )
    billing_address: AddressIn | None = Field(
        None, description="Required (line1, city, postal_code, country) when the link asks"
    )
    shipping_address: AddressIn | None = Field(
        None, description="Required (line1, city, postal_code, country) when the link asks"
    )


class CheckoutOut(OutputModel):
    object: Literal["checkout"] = "checkout"
    payment_link_id: str
    contact_id: str
    subscriptions: list[str] = Field(description="In the order of their first line item")
    invoice_id: str | None = Field(description="What was due at checkout; null if nothing was")
    payment_id: str | None
    payment_status: Literal["succeeded", "processing"] | None
    amount: str = Field(description="Charged at checkout")
    currency: str
    payment_method_id: str | None = Field(description="The saved payment method, if saved")


# Conversion


class ConvertRequest(StrictModel):
    collection_method: CollectionMethod | None = Field(
        None,
        description="Default: charge_automatically with the contact's newest saved payment "
        "method if it has one, else send_invoice",
    )
    payment_method_id: RecordId | None = Field(
        None, description="A payment method of the contact (charge_automatically)"
    )
    payment_terms: PaymentTerms | None = Field(
        None, description="For invoices sent (send_invoice); default due_on_receipt"
    )


class ConversionOut(OutputModel):
    object: Literal["conversion"] = "conversion"
    source_type: Literal["quote", "deal"]
    source_id: str
    subscriptions: list[str]
    invoice_id: str | None = Field(
        description="The first invoice: of the first subscription when it starts today (one-time "
        "items are on it), or the one invoice of a purchase without recurring items"
    )
    invoices: list[str] = Field(description="Every invoice the conversion issued")
    created_at: datetime

    @classmethod
    def of(cls, conversion: Conversion) -> ConversionOut:
        return cls(
            source_type=conversion.source_type,
            source_id=conversion.source_id,
            subscriptions=list(conversion.subscription_ids),
            invoice_id=conversion.invoice_id,
            invoices=list(conversion.invoice_ids),
            created_at=conversion.created_at,
        )
