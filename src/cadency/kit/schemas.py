"""Shared API shapes: strict input models and the value types money and dates travel in."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    model_validator,
)

from cadency.kit.errors import InvalidRequest
from cadency.kit.i18n import N_, Message

T = TypeVar("T")

_DECIMAL_RE = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")

# JSON's "\ud800" escape decodes to a lone surrogate, which no database can store as UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What a single line of text may not hold: C0 controls (CR and LF end a line and split an
# email header; TAB too), DEL, C1 controls (incl. NEL), the Unicode line and paragraph
# separators, and lone surrogates.
_NOT_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Multi-line text keeps line breaks and tabs; other controls are never typed on purpose.
_NOT_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why the text cannot be stored or shown as it is, or None when it can: the one rule
    for control characters and lone surrogates in text that people enter (API, forms,
    custom property values). The message names the character, never the input."""
    found = (_NOT_MULTI_LINE if multiline else _NOT_SINGLE_LINE).search(value)
    if found is None:
        return None
    code = f"U+{ord(found.group()):04X}"
    if _SURROGATE.match(found.group()):
        return Message(
            N_("must be valid Unicode text (it contains the unpaired surrogate %(code)s)"),
            code=code,
        )
    if multiline:
        return Message(N_("must not contain control characters (found %(code)s)"), code=code)
    return Message(
        N_("must be a single line without control characters such as line breaks (found %(code)s)"),
        code=code,
    )


def _single_line(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _multi_line(value: str) -> str:
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValueError(problem)
    return value


def _first_surrogate(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in a decoded JSON value a text holds a lone surrogate (keys included)."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            # The path becomes the error's `param`, which must itself be valid text.
            where = (*path, str(key).encode("utf-8", "backslashreplace").decode())
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            found = _first_surrogate(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_surrogate(item, (*path, str(index)))
            if found is not None:
                return found
    return None


class StrictModel(BaseModel):
    """Input bodies: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_lone_surrogates(cls, data: Any) -> Any:
        # Every text of a body, not only the typed text fields: an ID or a custom property
        # value with a lone surrogate would otherwise fail deep in the database driver (5xx).
        # InvalidRequest (not ValueError) passes through pydantic, so it keeps the full path.
        refuse_lone_surrogates(data)
        return data


def refuse_lone_surrogates(data: Any, *, param: str | None = None) -> None:
    """422 naming where a decoded JSON value (under `param`) holds a lone surrogate."""
    where = _first_surrogate(data, (param,) if param else ())
    if where is None:
        return
    named = ".".join(where) or None
    if named:
        raise InvalidRequest(
            "Invalid value for '%(field_name)s': text must be valid Unicode "
            "(it contains an unpaired surrogate code point)",
            field_name=named,
            param=named,
        )
    raise InvalidRequest(
        "Text must be valid Unicode (it contains an unpaired surrogate)",
        param=named,
    )


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _decimal_string(value: str) -> str:
    if not _DECIMAL_RE.match(value):
        raise ValueError(N_('must be a decimal string such as "12.50"'))
    return value


def _iso_date(value: Any) -> Any:
    # Lax date parsing would turn integers into dates; only "YYYY-MM-DD" strings are dates here.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(N_("must be a date string in the form YYYY-MM-DD"))
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(N_("is not a valid calendar date")) from exc


def _percent(value: str) -> str:
    if not re.fullmatch(r"\d{1,3}(\.\d{1,4})?", value) or Decimal(value) > 100:
        raise ValueError(N_('must be a percentage string from "0" to "100", e.g. "21.00"'))
    return value


# Money in major units as a string; its precision is checked against the currency in services.
MoneyStr = Annotated[StrictStr, AfterValidator(_decimal_string), Field(examples=["12.50"])]
PercentStr = Annotated[StrictStr, AfterValidator(_percent), Field(examples=["21.00"])]
DateStr = Annotated[date, BeforeValidator(_iso_date)]
CurrencyCode = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$", examples=["USD"])]
# Text people type: a single line (names, titles, emails, phone numbers, address lines)
# or several lines (descriptions, notes), both free of other control characters.
SingleLineText = Annotated[StrictStr, AfterValidator(_single_line)]
MultiLineText = Annotated[StrictStr, AfterValidator(_multi_line)]
Name = Annotated[SingleLineText, Field(min_length=1, max_length=255)]
# A tax ID as an invoice shows it (the account's, a subscription's invoice settings): some text,
# one line.
TaxId = Annotated[SingleLineText, Field(min_length=1, max_length=64)]
MAX_TAX_IDS = 10
# The languages emails and invoice documents are written in (SPEC §9).
DocumentLanguage = Literal["en", "nl", "da", "de"]
OptionalText = Annotated[MultiLineText, Field(max_length=5000)]


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
        "gone",
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
