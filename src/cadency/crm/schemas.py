"""API shapes of contacts, companies, deals and quotes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal

from babel import Locale
from pydantic import AfterValidator, Field, StrictStr

from cadency.catalog.line_items import LineItemList, LineItemOut
from cadency.crm.models import Company, Contact, Deal, Quote
from cadency.kit import money
from cadency.kit.i18n import N_
from cadency.kit.schemas import (
    CurrencyCode,
    DateStr,
    DocumentLanguage,
    Name,
    OutputModel,
    SingleLineText,
    StrictModel,
)
from cadency.properties.schemas import PropertyValues
from cadency.subscriptions.models import LineItem

_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})",
    re.ASCII,
)
_DOMAIN_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.ASCII,
)
_PHONE_RE = re.compile(r"\+?[0-9 ().\-/]{3,40}(?:\s*(?:x|ext\.?)\s*[0-9]{1,10})?", re.ASCII)

# Babel's territory list is ISO 3166-1 alpha-2 plus CLDR's own regions and pseudo-locales.
_NOT_COUNTRIES = {
    "AC",
    "CP",
    "CQ",
    "DG",
    "EA",
    "EU",
    "EZ",
    "IC",
    "QO",
    "TA",
    "UN",
    "XA",
    "XB",
    "ZZ",
}

DEAL_STAGES = (
    "appointment_scheduled",
    "qualified_to_buy",
    "presentation_scheduled",
    "decision_maker_bought_in",
    "contract_sent",
    "closed_won",
    "closed_lost",
)
DealStage = Literal[
    "appointment_scheduled",
    "qualified_to_buy",
    "presentation_scheduled",
    "decision_maker_bought_in",
    "contract_sent",
    "closed_won",
    "closed_lost",
]
QuoteStatus = Literal["draft", "published", "accepted"]


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (and XK, Kosovo, which processors accept)."""
    codes = {str(code) for code in Locale("en").territories}
    return frozenset(c for c in codes if len(c) == 2 and c.isalpha()) - _NOT_COUNTRIES


def normalise_email(value: str) -> str:
    value = value.strip()
    if len(value) > 320 or not _EMAIL_RE.fullmatch(value) or len(value.split("@")[0]) > 64:
        raise ValueError(N_("must be an email address such as 'name@example.com'"))
    return value.lower()


def _domain(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 253 or not _DOMAIN_RE.fullmatch(value):
        raise ValueError(N_("must be a domain name such as 'example.com' (no scheme or path)"))
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE_RE.fullmatch(value) or sum(c.isdigit() for c in value) < 3:
        raise ValueError(N_("must be a phone number such as '+31 20 123 4567'"))
    return value


def _country(value: str) -> str:
    if value not in country_codes():
        raise ValueError(N_("must be an ISO 3166-1 alpha-2 country code in capitals, such as 'NL'"))
    return value


Email = Annotated[
    SingleLineText,
    Field(max_length=320, examples=["ada@example.com"]),
    AfterValidator(normalise_email),
]
Domain = Annotated[SingleLineText, Field(max_length=253), AfterValidator(_domain)]
Phone = Annotated[SingleLineText, Field(max_length=64), AfterValidator(_phone)]
PersonName = Annotated[SingleLineText, Field(max_length=255)]
Country = Annotated[StrictStr, Field(max_length=2, examples=["NL"]), AfterValidator(_country)]
AddressLine = Annotated[SingleLineText, Field(max_length=255)]
Properties = dict[str, Any]


class AddressIn(StrictModel):
    """A postal address; every part is optional, the country is ISO 3166-1 alpha-2."""

    line1: AddressLine | None = None
    line2: AddressLine | None = None
    city: AddressLine | None = None
    postal_code: Annotated[SingleLineText, Field(max_length=32)] | None = None
    region: AddressLine | None = None
    country: Country | None = None

    def stored(self) -> dict[str, Any] | None:
        """The JSON kept on the record; an address with no parts is no address."""
        data = self.model_dump()
        return data if any(v is not None for v in data.values()) else None


class AddressOut(OutputModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> AddressOut | None:
        if not stored:
            return None
        return cls(**{k: stored.get(k) for k in cls.model_fields})


# Contacts


class ContactCreate(StrictModel):
    email: Email
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None
    address: AddressIn | None = None
    language: DocumentLanguage | None = Field(
        None, description="Emails and invoices, unless the subscription names a language"
    )
    properties: PropertyValues | None = None


class ContactUpdate(StrictModel):
    email: Email | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None
    address: AddressIn | None = Field(None, description="Replaces the address; null clears it")
    language: DocumentLanguage | None = Field(None, description="null: the account's language")
    properties: PropertyValues | None = None


class ContactOut(OutputModel):
    id: str
    object: Literal["contact"] = "contact"
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    address: AddressOut | None
    language: str | None
    properties: Properties
    archived: bool = Field(description="Archived: left out of lists unless asked for")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact, properties: Properties) -> ContactOut:
        return cls(
            id=contact.id,
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            phone=contact.phone,
            address=AddressOut.of(contact.address),
            language=contact.language,
            properties=properties,
            archived=contact.archived,
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )


# Companies


class CompanyCreate(StrictModel):
    name: Name
    domain: Domain | None = None
    address: AddressIn | None = None
    properties: PropertyValues | None = None


class CompanyUpdate(StrictModel):
    name: Name | None = None
    domain: Domain | None = None
    address: AddressIn | None = Field(None, description="Replaces the address; null clears it")
    properties: PropertyValues | None = None


class CompanyOut(OutputModel):
    id: str
    object: Literal["company"] = "company"
    name: str
    domain: str | None
    address: AddressOut | None
    properties: Properties
    archived: bool = Field(description="Archived: left out of lists unless asked for")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, company: Company, properties: Properties) -> CompanyOut:
        return cls(
            id=company.id,
            name=company.name,
            domain=company.domain,
            address=AddressOut.of(company.address),
            properties=properties,
            archived=company.archived,
            created_at=company.created_at,
            updated_at=company.updated_at,
        )


# Deals and quotes

RecordId = Annotated[StrictStr, Field(max_length=40)]


class DealCreate(StrictModel):
    name: Name
    stage: DealStage = "appointment_scheduled"
    currency: CurrencyCode | None = Field(None, description="Defaults to the account currency")
    contact_id: RecordId | None = None
    company_id: RecordId | None = None
    line_items: LineItemList = Field(default_factory=list)


class DealUpdate(StrictModel):
    name: Name | None = None
    stage: DealStage | None = None
    currency: CurrencyCode | None = Field(
        None, description="Only while the deal has no line items (their prices are in it)"
    )
    contact_id: RecordId | None = Field(None, description="null: no contact")
    company_id: RecordId | None = Field(None, description="null: no company")


class DealOut(OutputModel):
    id: str
    object: Literal["deal"] = "deal"
    name: str
    stage: str
    currency: str
    amount: str = Field(description="Sum of the line item amounts")
    contact_id: str | None
    company_id: str | None
    line_items: list[LineItemOut]
    archived: bool = Field(description="Archived: left out of lists unless asked for")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, deal: Deal, line_items: Sequence[LineItem]) -> DealOut:
        return cls(
            id=deal.id,
            name=deal.name,
            stage=deal.stage,
            currency=deal.currency,
            amount=money.format_amount(deal.amount, deal.currency),
            contact_id=deal.contact_id,
            company_id=deal.company_id,
            line_items=[LineItemOut.of(item) for item in line_items],
            archived=deal.archived,
            created_at=deal.created_at,
            updated_at=deal.updated_at,
        )


class QuoteCreate(StrictModel):
    name: Name
    currency: CurrencyCode | None = Field(
        None, description="Default: the deal's currency, else the account currency"
    )
    contact_id: RecordId | None = Field(None, description="The buyer; default: the deal's contact")
    company_id: RecordId | None = Field(None, description="Default: the deal's company")
    deal_id: RecordId | None = None
    expires_on: DateStr | None = None
    line_items: LineItemList | None = Field(
        None, description="Omitted with a deal_id: copies of the deal's line items"
    )


class QuoteOut(OutputModel):
    id: str
    object: Literal["quote"] = "quote"
    name: str
    status: QuoteStatus
    currency: str
    amount: str = Field(description="Sum of the line item amounts")
    contact_id: str
    company_id: str | None
    deal_id: str | None
    expires_on: date | None
    published_at: datetime | None
    line_items: list[LineItemOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, quote: Quote, line_items: Sequence[LineItem]) -> QuoteOut:
        return cls(
            id=quote.id,
            name=quote.name,
            status=quote.status,
            currency=quote.currency,
            amount=money.format_amount(sum(i.amount for i in line_items), quote.currency),
            contact_id=quote.contact_id,
            company_id=quote.company_id,
            deal_id=quote.deal_id,
            expires_on=quote.expires_on,
            published_at=quote.published_at,
            line_items=[LineItemOut.of(item) for item in line_items],
            created_at=quote.created_at,
            updated_at=quote.updated_at,
        )
