"""From an HTML form to a service call and back: build the API schema from form fields, and
turn what goes wrong (schema validation or a service's APIError with its `param`) into
messages next to the fields, so pages and the REST API share one set of rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from cadency.kit.errors import APIError, describe_validation_error
from cadency.kit.i18n import N_, Message

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


async def form_data(request: Request) -> FormData:
    """The posted form, as a dependency (`form: FormData = Depends(form_data)`), so a handler
    can stay synchronous and run its database work off the event loop. Starlette keeps the
    parsed form, so reading it after page_context checked the CSRF token costs nothing."""
    return await request.form()


# Errors of a form: field name (dotted like the API's `param`, e.g. "line_items.0.quantity")
# → message; "__all__" for what belongs to no field.
FormErrors = dict[str, str]


class FormInvalid(Exception):
    def __init__(self, errors: FormErrors) -> None:
        super().__init__(next(iter(errors.values()), "invalid"))
        self.errors = errors


def text(form: FormData | Mapping[str, Any], name: str) -> str | None:
    """A trimmed text field; empty means not given."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def checked(form: FormData | Mapping[str, Any], name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


# What a form says for the schema's refusals, by pydantic's error type: in the reader's words,
# next to the field (the API's messages name the field and speak of types).
_SCHEMA_MESSAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "missing": (N_("Enter a value."), ()),
    "string_too_long": (N_("Enter at most %(max_length)s characters."), ("max_length",)),
    "string_pattern_mismatch": (N_("This value does not have the expected form."), ()),
    "too_long": (N_("Choose at most %(max_length)s."), ("max_length",)),
    "too_short": (N_("Choose at least %(min_length)s."), ("min_length",)),
    "greater_than_equal": (N_("Enter %(ge)s or more."), ("ge",)),
    "greater_than": (N_("Enter more than %(gt)s."), ("gt",)),
    "less_than_equal": (N_("Enter %(le)s or less."), ("le",)),
    "less_than": (N_("Enter less than %(lt)s."), ("lt",)),
    "int_parsing": (N_("Enter a whole number."), ()),
    "int_type": (N_("Enter a whole number."), ()),
    "int_from_float": (N_("Enter a whole number."), ()),
    "decimal_parsing": (N_("Enter a number."), ()),
    "float_parsing": (N_("Enter a number."), ()),
    "decimal_max_places": (N_("Enter at most %(decimal_places)s decimals."), ("decimal_places",)),
    "literal_error": (N_("Choose one of the options."), ()),
    "enum": (N_("Choose one of the options."), ()),
    "date_parsing": (N_("Enter a date such as 2027-01-31."), ()),
    "date_from_datetime_parsing": (N_("Enter a date such as 2027-01-31."), ()),
    "bool_parsing": (N_("Choose yes or no."), ()),
}


def schema_message(error: Mapping[str, Any], english: str) -> str:
    """The form's message for one pydantic error; `english` (the API's) where none fits."""
    kind = str(error.get("type", ""))
    if kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        kind = f"string_{kind}"  # some text types report their length as a collection's
    if kind == "string_too_short":
        least = (error.get("ctx") or {}).get("min_length", 1)
        if least == 1:
            return Message(N_("Enter a value."))
        return Message(N_("Enter at least %(min_length)s characters."), min_length=least)
    if kind == "value_error":
        # The validator's own words say what is wrong: the API's English, which the catalog
        # translates where the validator marked them (N_), as the schemas' common ones are.
        detail = str(error.get("msg", "")).removeprefix("Value error, ")
        # A validator that raised a Message (with values) keeps it in the error's context.
        cause = (error.get("ctx") or {}).get("error")
        said = cause.args[0] if isinstance(cause, ValueError) and cause.args else None
        kept = said if isinstance(said, Message) and said == detail else Message(detail)
        return Message(N_("Check this value: %(detail)s"), detail=kept)
    found = _SCHEMA_MESSAGES.get(kind)
    if found is None:
        return english
    template, names = found
    context = error.get("ctx") or {}
    if any(name not in context for name in names):
        return english
    return Message(template, **{name: str(context[name]) for name in names})


def build(schema: type[Model], data: Mapping[str, Any]) -> Model:
    """The schema from form data; FormInvalid with one message per field otherwise.
    Empty values are left out, so the schema's defaults apply."""
    cleaned = {k: v for k, v in data.items() if v is not None and v != ""}
    try:
        return schema.model_validate(cleaned)
    except ValidationError as exc:
        errors: FormErrors = {}
        for error in exc.errors():
            # The API's errors come with FastAPI's "body" first; a form's do not.
            located = {**error, "loc": ("body", *error.get("loc", ()))}
            message, param = describe_validation_error(located)
            # Next to a field, in the reader's words; a refusal of no field keeps the API's,
            # which names what it refuses.
            shown = schema_message(error, message) if param else message
            errors.setdefault(param or "__all__", shown)
        raise FormInvalid(errors) from exc


def attempt(call: Callable[[], T]) -> T:
    """Run a service call; its APIError becomes FormInvalid on the field it names (its message
    a kit.i18n.Message, which the page shows in its language with the `translated` filter)."""
    try:
        return call()
    except APIError as exc:
        raise FormInvalid({exc.param or "__all__": exc.message}) from exc
