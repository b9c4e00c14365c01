from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StrictInt, StrictStr

from cadency.accounts.models import PERMISSIONS, ApiKey
from cadency.kit.schemas import (
    MAX_TAX_IDS,
    CurrencyCode,
    Name,
    OptionalText,
    OutputModel,
    SingleLineText,
    StrictModel,
    TaxId,
)

RetryDay = Annotated[StrictInt, Field(ge=1, le=60)]


class AccountSettings(OutputModel):
    account_id: int
    name: str
    mode: Literal["test", "live"]
    timezone: str
    currency: str
    language: str
    locale: str
    renewal_reminder_days: int | None
    dunning_retry_days: list[int]
    dunning_final_action: Literal["cancel", "leave_unpaid", "pause"]
    dunning_invoice_action: Literal["mark_uncollectible", "leave_open"]
    invoice_number_prefix: str
    bank_transfer_details: str | None = Field(
        description="How buyers pay by bank transfer (account holder, IBAN, BIC): shown on "
        "hosted invoice pages when online payment is off"
    )
    default_invoice_comment: str | None = Field(
        description="Markdown (bold, italic, links): the comment of a new invoice or "
        "subscription made without one of its own; null: none"
    )
    tax_ids: list[str] = Field(
        description="The account's tax IDs (e.g. a VAT number): a new invoice or subscription "
        "made without invoice_settings.tax_ids shows these"
    )


class AccountSettingsUpdate(StrictModel):
    timezone: SingleLineText | None = None
    currency: CurrencyCode | None = None
    language: Literal["en", "nl", "da", "de"] | None = None
    locale: Annotated[StrictStr, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None
    renewal_reminder_days: Annotated[StrictInt, Field(ge=1, le=365)] | None = None
    dunning_retry_days: Annotated[list[RetryDay], Field(max_length=10)] | None = None
    dunning_final_action: Literal["cancel", "leave_unpaid", "pause"] | None = None
    dunning_invoice_action: Literal["mark_uncollectible", "leave_open"] | None = None
    invoice_number_prefix: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9-]{1,12}$")] | None = (
        None
    )
    bank_transfer_details: Annotated[StrictStr, Field(max_length=1000)] | None = Field(
        None, description="Plain text, line breaks kept; null or empty removes them"
    )
    default_invoice_comment: OptionalText | None = Field(
        None, description="Markdown; null or empty: no default comment"
    )
    tax_ids: Annotated[list[TaxId], Field(max_length=MAX_TAX_IDS)] | None = Field(
        None, description="Replaces the list; each at most once; [] removes them all"
    )


class ApiKeyOut(OutputModel):
    """An API key as listed: never its secret (only its first characters, `prefix`)."""

    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    scopes: list[str] = Field(
        description='Permission names the key holds, or ["super_admin"] for every permission'
    )
    prefix: str = Field(description="The secret's first characters, to recognise the key")
    created_at: datetime
    created_by: str | None = Field(
        description="The email of the user who made the key, the ID of the API key that made "
        'it, or "cli" for the operator\'s command line; null for keys older than this field'
    )
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request, to the minute (it is not "
        "rewritten more than once a minute)"
    )
    expires_at: datetime | None = Field(
        description="From this instant (real time, also in test mode) the key is refused with "
        "401; null: it does not expire"
    )
    revoked_at: datetime | None = Field(
        description="When the key was revoked; a revoked key is refused with 401"
    )

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            scopes=list(key.scopes),
            prefix=key.key_prefix,
            created_at=key.created_at,
            created_by=key.created_by,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. It is shown in this answer only: store it now")


class ApiKeyCreate(StrictModel):
    name: Name
    scopes: Annotated[list[StrictStr], Field(min_length=1, max_length=len(PERMISSIONS))] = Field(
        description="Permission names (" + ", ".join(PERMISSIONS) + "); a key cannot hold a "
        "permission its creator lacks"
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="Optional: when the key stops working (must be in the future)"
    )
