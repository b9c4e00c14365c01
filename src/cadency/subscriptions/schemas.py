from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator

from cadency.billing.state import payment_options
from cadency.catalog.line_items import LineItemInput, LineItemOut
from cadency.kit import money
from cadency.kit.filters import FilterGroup, Sort
from cadency.kit.i18n import N_
from cadency.kit.periods import BillingFrequency
from cadency.kit.schemas import (
    MAX_TAX_IDS,
    CurrencyCode,
    DateStr,
    DocumentLanguage,
    Name,
    OptionalText,
    OutputModel,
    SingleLineText,
    StrictModel,
    TaxId,
)
from cadency.subscriptions.models import DEFAULT_PAYMENT_OPTIONS as DEFAULTS
from cadency.subscriptions.models import Subscription, cancellation_reasons

Status = Literal["scheduled", "trialing", "active", "unpaid", "paused", "canceled", "expired"]
STATUSES: tuple[str, ...] = get_args(Status)
CollectionMethod = Literal["charge_automatically", "send_invoice"]
CancellationReason = Literal[
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
]
CANCELLATION_REASONS: tuple[str, ...] = get_args(CancellationReason)
PaymentTerms = Annotated[
    StrictStr,
    Field(
        pattern=r"^(due_on_receipt|net_[1-9][0-9]{0,2})$",
        description="due_on_receipt, net_15, net_30, net_45, net_60, net_90, or net_N days",
        examples=["net_30"],
    ),
]
ShortText = Annotated[SingleLineText, Field(max_length=255)]


class Address(StrictModel):
    line1: ShortText | None = None
    line2: ShortText | None = None
    city: ShortText | None = None
    postal_code: Annotated[SingleLineText, Field(max_length=32)] | None = None
    region: ShortText | None = None
    country: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")] | None = None


class InvoiceSettings(StrictModel):
    comments: OptionalText | None = None
    tax_ids: Annotated[list[TaxId], Field(max_length=MAX_TAX_IDS)] = []
    language: DocumentLanguage | None = Field(
        None, description="Unset: the billing contact's language, else the account's"
    )
    locale: Annotated[StrictStr, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None


PaymentType = Literal["card", "bank_debit"]


class PaymentOptions(StrictModel):
    """How the buyer may pay online (SPEC §4 "Collection" options). With
    `accept_online_payments` false, `payment_types` is not used and may be empty; otherwise it
    names at least one type (the service checks that, as it depends on the other field)."""

    accept_online_payments: StrictBool = DEFAULTS["accept_online_payments"]
    payment_types: Annotated[list[PaymentType], Field(max_length=2)] = DEFAULTS["payment_types"]
    collect_billing_address: StrictBool = DEFAULTS["collect_billing_address"]
    collect_shipping_address: StrictBool = DEFAULTS["collect_shipping_address"]
    # Keep the method for future charges, with the buyer's consent.
    save_payment_method: StrictBool = DEFAULTS["save_payment_method"]

    @field_validator("payment_types")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(N_("must not name a payment type twice"))
        return value


class PaymentOptionsOut(OutputModel):
    accept_online_payments: bool
    payment_types: list[PaymentType]
    collect_billing_address: bool
    collect_shipping_address: bool
    save_payment_method: bool


class SubscriptionCreate(StrictModel):
    contact_id: StrictStr
    company_id: StrictStr | None = None
    name: Name | None = None
    currency: CurrencyCode
    billing_address: Address | None = None
    line_items: Annotated[list[LineItemInput], Field(min_length=1, max_length=100)]
    collection_method: CollectionMethod
    payment_method_id: StrictStr | None = None
    collect_payment_method_on_first_invoice: StrictBool = False
    payment_terms: PaymentTerms | None = None
    invoice_creation: StrictBool = True
    trial_days: Annotated[StrictInt, Field(ge=1, le=730)] | None = None
    commitment_months: Annotated[StrictInt, Field(ge=1, le=120)] | None = None
    invoice_settings: InvoiceSettings | None = None
    payment_options: PaymentOptions | None = None
    fee_ids: Annotated[list[Annotated[StrictStr, Field(max_length=40)]], Field(max_length=10)] = []
    properties: dict[str, Any] = {}


class SubscriptionUpdate(StrictModel):
    name: Name | None = None
    payment_method_id: StrictStr | None = None
    billing_address: Address | None = None
    next_payment_date: DateStr | None = None
    properties: dict[str, Any] | None = None
    company_id: StrictStr | None = None
    contact_id: StrictStr | None = None
    # Only the options given change; the others keep their values.
    payment_options: PaymentOptions | None = None
    # The user of the account who looks after the subscription (null: no one).
    owner_id: StrictInt | None = None


class CancelRequest(StrictModel):
    mode: Literal["immediately", "at_period_end", "at_date"]
    cancel_at: DateStr | None = None
    refund: Literal["none", "prorated", "full"] = "none"
    reason: CancellationReason | None = Field(
        None, description="Why the subscription is canceled; with `reasons`, the first one"
    )
    reasons: Annotated[list[CancellationReason], Field(max_length=len(CANCELLATION_REASONS))] = (
        Field(
            [],
            description="Every reason given, each once; with `reason`, it comes "
            "first and may be repeated here",
        )
    )
    comment: OptionalText | None = None
    # Ending a running commitment early is the merchant's explicit choice (SPEC §6).
    override_commitment: StrictBool = Field(
        False,
        description="End a running commitment early: needed to cancel immediately or at a "
        "date before commitment_end; without it those answer 409",
    )

    @field_validator("reasons")
    @classmethod
    def _unique_reasons(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(N_("must not name a reason twice"))
        return value

    @property
    def all_reasons(self) -> list[str]:
        """The reasons given: `reason` first, then those of `reasons` it does not repeat."""
        first: list[str] = [self.reason] if self.reason else []
        return first + [r for r in self.reasons if r != self.reason]


class SearchRequest(StrictModel):
    filter_groups: Annotated[list[FilterGroup], Field(max_length=5)] = []
    sorts: Annotated[list[Sort], Field(max_length=3)] = []
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 20
    cursor: Annotated[StrictStr, Field(max_length=300)] | None = None


class SubscriptionOut(OutputModel):
    id: str
    object: Literal["subscription"] = "subscription"
    name: str
    status: Status
    cancel_at_period_end: bool
    cancel_at: date | None
    cancel_refund: Literal["none", "prorated"] | None = Field(
        None,
        description="The refund chosen with a cancellation at a date (cancel_at): made on "
        "that date for the unused days of its period",
    )
    canceled_at: datetime | None
    cancellation_reason: CancellationReason | None = Field(
        description="The first of `cancellation_reasons`"
    )
    cancellation_reasons: list[CancellationReason] = Field(
        description="Every reason the cancellation gave, in the order given"
    )
    cancellation_comment: str | None
    contact_id: str
    company_id: str | None
    currency: str
    billing_address: dict[str, Any] | None
    collection_method: CollectionMethod
    payment_terms: str | None
    payment_method_id: str | None
    collect_payment_method_on_first_invoice: bool
    billing_frequency: BillingFrequency
    billing_terms: Literal["auto_renew", "fixed"]
    number_of_payments: int | None
    start_date: date
    end_date: date | None
    current_period_start: date | None
    current_period_end: date | None
    next_payment_date: date | None
    next_payment_amount: str | None
    last_payment_amount: str | None
    last_payment_status: str | None
    payments_completed: int
    total_collected: str
    mrr: str
    trial_end: date | None
    commitment_months: int | None
    commitment_end: date | None
    paused_at: datetime | None
    resume_at: date | None
    invoice_creation: bool
    invoice_settings: dict[str, Any] | None
    payment_options: PaymentOptionsOut
    fee_ids: list[str]
    line_items: list[LineItemOut]
    properties: dict[str, Any]
    owner_id: int | None = Field(
        None, description="The user of the account who looks after the subscription"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: Subscription, values: dict[str, Any]) -> SubscriptionOut:
        """A subscription as the API shows it: its line items loaded, `values` its custom
        property values (as properties.service.get_values reads them)."""
        return _present(subscription, values)


class SubscriptionSearchResponse(OutputModel):
    object: Literal["list"] = "list"
    data: list[SubscriptionOut]
    total: int
    has_more: bool
    next_cursor: str | None


class EventOut(OutputModel):
    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


class ChangeRequest(StrictModel):
    line_items: Annotated[list[LineItemInput], Field(min_length=1, max_length=100)]
    proration: Literal["prorate", "none"] = "prorate"
    effective: Literal["now", "period_end"] = "now"


def _money(amount: int | None, currency: str) -> str | None:
    return None if amount is None else money.format_amount(amount, currency)


def _present(s: Subscription, values: dict[str, Any]) -> SubscriptionOut:
    currency = s.currency
    return SubscriptionOut.model_validate(
        {
            **{name: getattr(s, name) for name in _PLAIN_FIELDS},
            "next_payment_amount": _money(s.next_payment_amount, currency)
            if s.next_payment_date is not None
            else None,
            "last_payment_amount": _money(s.last_payment_amount, currency),
            "total_collected": money.format_amount(s.total_collected, currency),
            "mrr": money.format_amount(s.mrr, currency),
            "cancellation_reasons": cancellation_reasons(
                s.cancellation_reason, s.cancellation_reasons
            ),
            "fee_ids": list(s.fee_ids or []),
            "payment_options": payment_options(s),
            "line_items": [LineItemOut.of(item) for item in s.line_items],
            "properties": values,
        }
    )


_PLAIN_FIELDS = [
    "id",
    "name",
    "status",
    "cancel_at_period_end",
    "cancel_at",
    "cancel_refund",
    "canceled_at",
    "cancellation_reason",
    "cancellation_comment",
    "contact_id",
    "company_id",
    "currency",
    "billing_address",
    "collection_method",
    "payment_terms",
    "payment_method_id",
    "collect_payment_method_on_first_invoice",
    "billing_frequency",
    "billing_terms",
    "number_of_payments",
    "start_date",
    "end_date",
    "current_period_start",
    "current_period_end",
    "next_payment_date",
    "last_payment_status",
    "payments_completed",
    "trial_end",
    "commitment_months",
    "commitment_end",
    "paused_at",
    "resume_at",
    "invoice_creation",
    "invoice_settings",
    "owner_id",
    "created_at",
    "updated_at",
]
