"""Settings pages of custom properties (SPEC §8): one tab per object type listing its
definitions, and the forms that create, edit and delete them through `properties.service`, the
same calls the REST endpoints make."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.kit.i18n import N_
from cadency.plans.limits import custom_property_limit
from cadency.properties import patterns, service
from cadency.properties.forms import input_value, values_from_form
from cadency.properties.models import PropertyDefinition
from cadency.properties.schemas import NAME_PATTERN, PropertyCreate, PropertyOut, PropertyUpdate
from cadency.web.auth import PageContext
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, form_data, text
from cadency.web.sections import SECTIONS, edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

EDIT = SECTIONS["properties"].edit
PAGE_SIZE = 100
# The Preview's internal name for a property not (validly) named yet.
PREVIEW_NAME = "preview"

OBJECT_TYPE_LABELS = {
    "subscriptions": N_("Subscriptions"),
    "contacts": N_("Contacts"),
    "companies": N_("Companies"),
}
FIELD_TYPE_LABELS = {
    "text": N_("Single-line text"),
    "textarea": N_("Multi-line text"),
    "number": N_("Number field"),
    "date": N_("Date picker"),
    "datetime": N_("Date and time picker"),
    "select": N_("Dropdown select"),
    "radio": N_("Radio select"),
    "checkboxes": N_("Multiple checkboxes"),
    "boolean": N_("Single checkbox"),
}
# Which parts of the form a field type uses; the page hides (and disables) the others, and the
# service refuses them when sent anyway.
FORM_SECTIONS = {
    "options": sorted(service.OPTION_TYPES),
    "unique": sorted(service.UNIQUE_TYPES),
    "bounds": sorted(service.TEXT_TYPES | {"number"}),
    "pattern": sorted(service.TEXT_TYPES),
}


# Fields that show their own error message; any other error goes to the top of the form.
FORM_FIELDS = frozenset(
    {"name", "label", "group", "description", "field_type", "sensitive"}
    | {f"rules.{rule}" for rule in ("required", "unique", "min", "max", "pattern")}
)


def shown_errors(errors: FormErrors, fields: frozenset[str]) -> FormErrors:
    """Errors by the field that shows them; one no field shows moves to the top ("__all__"),
    so no message is ever lost."""
    shown: FormErrors = {}
    for key, message in errors.items():
        if key in fields or key.startswith("options"):
            shown[key] = message
        else:
            shown.setdefault("__all__", message)
    return shown


def _object_type(object_type: str) -> str:
    return service.check_object_type(object_type)


# ---------------------------------------------------------------------------------------------
# The list


@router.get("/settings/properties")
def properties_home(request: Request, page: PageContext = Depends(reads("properties"))) -> Response:
    return _list_page(request, page, "subscriptions", None)


@router.get("/settings/properties/{object_type}")
def list_properties(
    request: Request,
    object_type: str,
    cursor: str | None = None,
    page: PageContext = Depends(reads("properties")),
) -> Response:
    return _list_page(request, page, _object_type(object_type), cursor)


def _list_page(
    request: Request, page: PageContext, object_type: str, cursor: str | None
) -> Response:
    rows, has_more, next_cursor = service.list_definitions(
        page.session, page.account.id, object_type, limit=PAGE_SIZE, cursor=cursor
    )
    used = service.count_definitions(page.session, page.account.id, object_type)
    limit = service.property_limit(custom_property_limit(page.session, page.account))
    definitions = [PropertyOut.of(row) for row in rows]
    context = {
        **_common(page, object_type),
        "definitions": definitions,
        "rule_summaries": {row.name: _rule_summary(page, row) for row in rows},
        "cursor": cursor,
        "has_more": has_more,
        "next_cursor": next_cursor,
        "used": used,
        "limit": limit,
        "at_limit": used >= limit,
    }
    return render(request, "properties/settings.html", context)


def _rule_summary(page: PageContext, definition: PropertyDefinition) -> list[str]:
    """The rules as short phrases for the table ("Required", "At most 10 characters"); bounds
    as their exact stored decimal text."""
    rules, texts = definition.rules, definition.field_type in service.TEXT_TYPES
    summary: list[str] = []
    if rules.get("required"):
        summary.append(page.gettext("Required"))
    if rules.get("unique"):
        summary.append(page.gettext("Unique"))
    if rules.get("min") is not None:
        message = N_("At least %(value)s characters") if texts else N_("Minimum %(value)s")
        summary.append(page.gettext(message) % {"value": rules["min"]})
    if rules.get("max") is not None:
        message = N_("At most %(value)s characters") if texts else N_("Maximum %(value)s")
        summary.append(page.gettext(message) % {"value": rules["max"]})
    if rules.get("pattern") is not None:
        summary.append(page.gettext("Matches %(pattern)s") % {"pattern": rules["pattern"]})
    return summary


def _common(page: PageContext, object_type: str) -> dict[str, Any]:
    return {
        "object_type": object_type,
        "object_types": [(key, page.gettext(label)) for key, label in OBJECT_TYPE_LABELS.items()],
        "field_types": [(key, page.gettext(label)) for key, label in FIELD_TYPE_LABELS.items()],
        "field_type_labels": {key: page.gettext(label) for key, label in FIELD_TYPE_LABELS.items()},
        "sections": {key: " ".join(types) for key, types in FORM_SECTIONS.items()},
        "can_edit": page.allows(EDIT),
    }


# ---------------------------------------------------------------------------------------------
# Create


@router.get("/settings/properties/{object_type}/new")
def new_property(
    request: Request, object_type: str, page: PageContext = Depends(edits("properties"))
) -> Response:
    object_type = _object_type(object_type)
    values: dict[str, Any] = {
        "name": None,
        "label": None,
        "group": None,
        "description": None,
        "field_type": "text",
        "sensitive": False,
        "options": [],
        "rules": {},
    }
    return _form_page(request, page, object_type, None, values, {})


@router.post("/settings/properties/{object_type}")
def create_property(
    request: Request,
    object_type: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("properties")),
) -> Response:
    object_type = _object_type(object_type)
    values = _submitted(form, text(form, "field_type"))
    try:
        _require(
            page, values, {"name": N_("Enter an internal name."), "label": N_("Enter a label.")}
        )
        data = {key: values[key] for key in ("name", "label", "group", "description")}
        data |= {"field_type": values["field_type"], "sensitive": values["sensitive"]}
        data |= {"rules": values["rules"]}
        if values["field_type"] in service.OPTION_TYPES:
            data["options"] = values["options"]
        body = build(PropertyCreate, data)
        definition = attempt(
            lambda: service.create_definition(
                page.session,
                page.account,
                object_type,
                body,
                plan_limit=custom_property_limit(page.session, page.account),
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        return _form_page(request, page, object_type, None, values, invalid.errors, 422)
    page.session.commit()
    message = page.gettext("Property “%(label)s” created.") % {"label": definition.label}
    return redirect(f"/settings/properties/{object_type}", flash=message)


# ---------------------------------------------------------------------------------------------
# Edit and delete


@router.get("/settings/properties/{object_type}/{name}/edit")
def edit_property(
    request: Request, object_type: str, name: str, page: PageContext = Depends(reads("properties"))
) -> Response:
    """Everyone who may see properties may open one; only `properties.edit` gets a form that
    saves (the others see it read-only)."""
    object_type = _object_type(object_type)
    definition = service.get_definition(page.session, page.account.id, object_type, name)
    return _form_page(request, page, object_type, definition, _stored_values(definition), {})


def _stored_values(definition: PropertyDefinition) -> dict[str, Any]:
    """The form's fields as they show a stored property."""
    shown = PropertyOut.of(definition)
    return {
        "name": shown.name,
        "label": shown.label,
        "group": shown.group,
        "description": shown.description,
        "field_type": shown.field_type,
        "sensitive": shown.sensitive,
        "options": [option.model_dump() for option in shown.options],
        # The stored rules keep bounds as exact decimal text ("0.00001"), which the form
        # sends back unchanged; the API's JSON numbers could turn into "1e-05".
        "rules": dict(definition.rules),
    }


@router.post("/settings/properties/{object_type}/{name}/edit")
def update_property(
    request: Request,
    object_type: str,
    name: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("properties")),
) -> Response:
    object_type = _object_type(object_type)
    definition = service.get_definition(page.session, page.account.id, object_type, name)
    values = _submitted(form, definition.field_type) | {"name": definition.name}
    try:
        changes = _changes(page, definition, values)
        attempt(
            lambda: service.update_definition(
                page.session, page.account, object_type, name, changes
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        definition = service.get_definition(page.session, page.account.id, object_type, name)
        return _form_page(request, page, object_type, definition, values, invalid.errors, 422)
    page.session.commit()
    message = page.gettext("Property “%(label)s” saved.") % {"label": definition.label}
    return redirect(f"/settings/properties/{object_type}", flash=message)


def _changes(
    page: PageContext, definition: PropertyDefinition, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The PATCH body the form amounts to: every field of the form is sent, so a cleared
    description or bound is cleared (the rules merge, and the form sends all of them)."""
    _require(page, values, {"label": N_("Enter a label."), "group": N_("Enter a group.")})
    data = {key: values[key] for key in ("label", "group", "description", "sensitive", "rules")}
    if definition.field_type in service.OPTION_TYPES:
        data["options"] = values["options"]
    changes = build(PropertyUpdate, data).model_dump(exclude_unset=True)
    # build() leaves out empty fields; an emptied description means "no description".
    changes.setdefault("description", None)
    return changes


def _require(page: PageContext, values: Mapping[str, Any], messages: Mapping[str, str]) -> None:
    """Required text fields left empty, each with its own message (the schema's generic
    "Missing required field" reads like an API error)."""
    errors = {name: page.gettext(message) for name, message in messages.items() if not values[name]}
    if errors:
        raise FormInvalid(errors)


@router.post("/settings/properties/{object_type}/{name}/delete")
def delete_property(
    object_type: str, name: str, page: PageContext = Depends(edits("properties"))
) -> Response:
    object_type = _object_type(object_type)
    definition = service.get_definition(page.session, page.account.id, object_type, name)
    label = definition.label
    service.delete_definition(page.session, page.account, object_type, name)
    page.session.commit()
    message = page.gettext("Property “%(label)s” deleted.") % {"label": label}
    return redirect(f"/settings/properties/{object_type}", flash=message)


# ---------------------------------------------------------------------------------------------
# The Preview tab (seed 002: "see how your property will look and work")


@router.post("/settings/properties/{object_type}/preview")
def preview_new_property(
    request: Request,
    object_type: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("properties")),
) -> Response:
    object_type = _object_type(object_type)
    return _preview(request, page, object_type, _submitted(form, text(form, "field_type")), form)


@router.post("/settings/properties/{object_type}/{name}/preview")
def preview_property(
    request: Request,
    object_type: str,
    name: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(reads("properties")),
) -> Response:
    """Those who may not edit the property see it as stored (their form's inputs are disabled,
    so it sends nothing)."""
    object_type = _object_type(object_type)
    definition = service.get_definition(page.session, page.account.id, object_type, name)
    if page.allows(EDIT):
        values = _submitted(form, definition.field_type) | {"name": definition.name}
    else:
        values = _stored_values(definition)
    return _preview(request, page, object_type, values, form)


def _preview(
    request: Request,
    page: PageContext,
    object_type: str,
    values: Mapping[str, Any],
    form: FormData,
) -> Response:
    """The field drawn by the record forms' own macro from the form's unsaved values. A value
    tried in it ("try") is checked as saving a record would check it; nothing is stored."""
    field_type = values["field_type"]
    name = values["name"]
    type_label = FIELD_TYPE_LABELS.get(field_type or "")
    data = {
        # Not yet named or labelled: a stand-in, so the field can be drawn all the same.
        "name": name if name and re.fullmatch(NAME_PATTERN, name) else PREVIEW_NAME,
        "label": values["label"] or (page.gettext(type_label) if type_label else PREVIEW_NAME),
        "description": values["description"],
        "field_type": field_type,
        "options": values["options"] if field_type in service.OPTION_TYPES else [],
        "rules": values["rules"],
    }
    errors: FormErrors = {}
    context: dict[str, Any] = {"definition": None, "value": "", "rules": [], "tried": False}
    try:
        body = build(PropertyCreate, data)
        definition = attempt(lambda: service.unsaved_definition(object_type, body))
    except FormInvalid as invalid:
        context["problem"] = next(iter(invalid.errors.values()))
        return render(request, "properties/preview.html", context)
    tried = "try" in form
    given = values_from_form([definition], form, page.account.timezone).get(definition.name)
    if tried:
        try:
            attempt(lambda: service.try_value(definition, given))
        except FormInvalid as invalid:
            errors = invalid.errors
    context |= {
        "definition": definition,
        "value": input_value(definition, given, page.account.timezone),
        "errors": errors,
        "rules": _rule_summary(page, definition),
        "tried": tried,
    }
    return render(request, "properties/preview.html", context)


# ---------------------------------------------------------------------------------------------
# The form


def _submitted(form: FormData, field_type: str | None) -> dict[str, Any]:
    """What the form sent, in the shape the template shows and the API schemas take."""
    raw_pattern = form.get("rules.pattern")
    return {
        "name": text(form, "name"),
        "label": text(form, "label"),
        "group": text(form, "group"),
        "description": text(form, "description"),
        "field_type": field_type,
        "sensitive": checked(form, "sensitive"),
        "options": _options(form),
        "rules": {
            "required": checked(form, "rules.required"),
            "unique": checked(form, "rules.unique"),
            "min": text(form, "rules.min"),
            "max": text(form, "rules.max"),
            # Not trimmed: spaces can be part of a regular expression.
            "pattern": raw_pattern if isinstance(raw_pattern, str) and raw_pattern else None,
        },
    }


def _options(form: FormData) -> list[dict[str, str]]:
    """The option rows in their order on the page. Empty rows are dropped; a row with only a
    label (or only a value) uses it for both, as most people type just the label."""
    values = [v.strip() if isinstance(v, str) else "" for v in form.getlist("option_value")]
    labels = [v.strip() if isinstance(v, str) else "" for v in form.getlist("option_label")]
    options = []
    for value, label in zip(values, labels, strict=False):
        if value or label:
            options.append({"value": value or label, "label": label or value})
    return options


def _form_page(
    request: Request,
    page: PageContext,
    object_type: str,
    definition: PropertyDefinition | None,
    values: Mapping[str, Any],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    option_errors = [message for key, message in errors.items() if key.startswith("options")]
    errors = shown_errors(errors, FORM_FIELDS)
    base = f"/settings/properties/{object_type}"
    context = {
        **_common(page, object_type),
        "definition": definition,
        "preview_url": f"{base}/{definition.name}/preview" if definition else f"{base}/preview",
        "values": values,
        "errors": errors,
        "option_errors": option_errors,
        "default_group": service.default_group(object_type),
        "pattern_max_length": patterns.MAX_PATTERN_LENGTH,
    }
    return render(request, "properties/settings_form.html", context, status_code=status_code)
