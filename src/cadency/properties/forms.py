"""Custom property values in HTML forms: the field names, the inputs to show, and the form's
answer turned into the values `service.set_values` takes (which does every check)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from cadency.properties.models import PropertyDefinition
from cadency.properties.service import MaskedValue

PREFIX = "properties."
# A hidden input saying "this property was on the form": an unchecked box sends nothing, and
# only this tells "unchecked" from "not on the form".
PRESENT = ".present"


def field_name(definition: PropertyDefinition) -> str:
    return PREFIX + definition.name


def values_from_form(
    definitions: Iterable[PropertyDefinition], form: FormData, timezone: str
) -> dict[str, Any]:
    """Values of the properties that were on the form, in the API's JSON shapes: "" clears a
    text, no box checked clears checkboxes, a date-time is read in the account's time zone.
    A masked sensitive value is shown without an input, so a save leaves it as it is."""
    values: dict[str, Any] = {}
    for definition in definitions:
        name = field_name(definition)
        if name + PRESENT not in form and name not in form:
            continue
        if definition.field_type == "checkboxes":
            values[definition.name] = [v for v in form.getlist(name) if isinstance(v, str)]
            continue
        if definition.field_type == "boolean":
            raw = form.get(name)
            values[definition.name] = raw in ("true", "on")
            continue
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if text == "":
            values[definition.name] = None
        elif definition.field_type == "datetime":
            values[definition.name] = _local_to_utc(text, timezone)
        else:
            values[definition.name] = text
    return values


def _local_to_utc(text: str, timezone: str) -> str:
    """A browser's datetime-local value ("2026-03-01T09:30") in the account's zone, as the
    ISO timestamp with offset the service expects; anything else goes on unchanged for the
    service to refuse with its own message."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.isoformat()


def input_value(definition: PropertyDefinition, value: Any, timezone: str) -> Any:
    """A stored (JSON-shaped) value as the form input shows it; a masked one stays masked (the
    form shows it without an input, see properties/fields.html)."""
    if isinstance(value, MaskedValue):
        return value
    if value is None:
        return [] if definition.field_type == "checkboxes" else ""
    if definition.field_type == "datetime" and isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
    return value


def display_value(definition: PropertyDefinition, value: Any) -> str:
    """A stored value as text for a panel or a table cell: option labels, not option values."""
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, MaskedValue):
        return value
    labels: Mapping[str, str] = {
        o["value"]: o.get("label") or o["value"] for o in definition.options
    }
    if definition.field_type in ("select", "radio"):
        return labels.get(value, value)
    if definition.field_type == "checkboxes":
        return ", ".join(labels.get(v, v) for v in value)
    return str(value)
