"""Shared API shapes: strict input models and the value types money and dates travel in."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

T = TypeVar("T")

_DECIMAL_RE = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")


class StrictModel(BaseModel):
    """Input bodies: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _decimal_string(value: str) -> str:
    if not _DECIMAL_RE.match(value):
        raise ValueError('must be a decimal string such as "12.50"')
    return value


def _iso_date(value: Any) -> Any:
    # Lax date parsing would turn integers into dates; only "YYYY-MM-DD" strings are dates here.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date string in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("is not a valid calendar date") from exc


def _percent(value: str) -> str:
    if not re.fullmatch(r"\d{1,3}(\.\d{1,4})?", value) or Decimal(value) > 100:
        raise ValueError('must be a percentage string from "0" to "100", e.g. "21.00"')
    return value


# Money in major units as a string; its precision is checked against the currency in services.
MoneyStr = Annotated[StrictStr, AfterValidator(_decimal_string), Field(examples=["12.50"])]
PercentStr = Annotated[StrictStr, AfterValidator(_percent), Field(examples=["21.00"])]
DateStr = Annotated[date, BeforeValidator(_iso_date)]
CurrencyCode = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$", examples=["USD"])]
Name = Annotated[StrictStr, Field(min_length=1, max_length=255)]
# The languages emails and invoice documents are written in (SPEC §9).
DocumentLanguage = Literal["en", "nl", "da", "de"]
OptionalText = Annotated[StrictStr, Field(max_length=5000)]


class ListResponse(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None


class ErrorBody(BaseModel):
    type: Literal[
        "invalid_request",
        "not_found",
        "conflict",
        "authentication",
        "permission",
        "idempotency",
        "rate_limit",
        "payment",
        "internal",
    ]
    message: str
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class DeletedResponse(BaseModel):
    id: str
    object: str
    deleted: Literal[True] = True
