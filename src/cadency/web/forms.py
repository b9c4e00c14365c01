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
            errors.setdefault(param or "__all__", message)
        raise FormInvalid(errors) from exc


def attempt(call: Callable[[], T]) -> T:
    """Run a service call; its APIError becomes FormInvalid on the field it names."""
    try:
        return call()
    except APIError as exc:
        raise FormInvalid({exc.param or "__all__": exc.message}) from exc
