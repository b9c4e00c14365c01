from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from cadency.kit.schemas import CurrencyCode, OutputModel, SingleLineText, StrictModel

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
