"""HubSpot's properties API (`/crm/v3/properties/{type}`) over Cadency's property definitions.

An object's built-in properties (mapping.py) read as HubSpot-defined properties whose
definition cannot change; its custom properties are Cadency's own definitions
(cadency.properties), created, changed and removed through the same service as
`/api/v1/properties/{type}`, with HubSpot's `type`/`fieldType` pairs for Cadency's field types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.hubspot.errors import HubSpotError
from cadency.hubspot.mapping import (
    BUILTIN_FIELD_TYPES,
    BUILTIN_OPTIONS,
    FIELD_TYPES,
    GROUPS,
    HUBSPOT_FIELD_TYPES,
    LABELS,
    HubObject,
    HubProperty,
    timestamp,
)
from cadency.hubspot.schemas import (
    ModificationMetadata,
    OptionInput,
    OptionOut,
    PropertyCreateInput,
    PropertyGroupOut,
    PropertyOut,
    PropertyUpdateInput,
)
from cadency.kit.errors import APIError, InvalidRequest
from cadency.kit.errors import describe_validation_error as describe
from cadency.properties import service as properties
from cadency.properties.models import PropertyDefinition
from cadency.properties.schemas import PropertyCreate

# Cadency's field names in errors → HubSpot's.
_PARAMS = {"field_type": "fieldType", "group": "groupName", "rules.unique": "hasUniqueValue"}


@contextmanager
def _hubspot_params() -> Iterator[None]:
    try:
        yield
    except APIError as exc:
        if exc.param is not None and exc.param in _PARAMS:
            name = _PARAMS[exc.param]
            exc.message = exc.message.replace(f"'{exc.param}'", f"'{name}'")
            exc.param = name
        raise


def has_custom(obj: HubObject) -> bool:
    """Whether Cadency keeps custom properties for this object type."""
    return obj.name in properties.OBJECT_TYPES


def _group(obj: HubObject) -> tuple[str, str]:
    return GROUPS.get(obj.name, (f"{obj.record_type}information", obj.record_type.title()))


def _hubspot_group(obj: HubObject, group_name: str) -> str:
    """Cadency's default group of the object is HubSpot's (`contact_information` →
    `contactinformation`); other groups keep their names."""
    if has_custom(obj) and group_name == properties.default_group(obj.name):
        return _group(obj)[0]
    return group_name


def _cadency_group(obj: HubObject, group_name: str | None) -> str | None:
    if group_name is not None and group_name == _group(obj)[0] and has_custom(obj):
        return properties.default_group(obj.name)
    return group_name


def _options(pairs: Any) -> list[OptionOut]:
    return [
        OptionOut(value=value, label=label, displayOrder=index)
        for index, (value, label) in enumerate(pairs)
    ]


def builtin_out(obj: HubObject, prop: HubProperty, order: int) -> PropertyOut:
    return PropertyOut(
        name=prop.name,
        label=LABELS.get(prop.name, prop.name),
        type=prop.type,
        fieldType=BUILTIN_FIELD_TYPES.get(prop.type, "text"),
        description="",
        groupName=_group(obj)[0],
        options=_options(
            BUILTIN_OPTIONS.get(f"{obj.name}.{prop.name}", BUILTIN_OPTIONS.get(prop.name, ()))
        ),
        displayOrder=order,
        hasUniqueValue=prop.name in ("hs_object_id", *obj.id_properties),
        formField=not prop.read_only,
        hubspotDefined=True,
        modificationMetadata=ModificationMetadata(
            archivable=False, readOnlyDefinition=True, readOnlyValue=prop.read_only
        ),
    )


def custom_out(obj: HubObject, definition: PropertyDefinition) -> PropertyOut:
    type_, field_type = HUBSPOT_FIELD_TYPES[definition.field_type]
    return PropertyOut(
        name=definition.name,
        label=definition.label,
        type=type_,
        fieldType=field_type,
        description=definition.description or "",
        groupName=_hubspot_group(obj, definition.group_name),
        options=_options((o["value"], o["label"]) for o in definition.options),
        displayOrder=-1,
        hasUniqueValue=bool(definition.rules.get("unique")),
        formField=True,
        modificationMetadata=ModificationMetadata(
            archivable=True, readOnlyDefinition=False, readOnlyValue=False
        ),
        createdAt=timestamp(definition.created_at),
        updatedAt=timestamp(definition.updated_at),
    )


def list_all(session: Session, account: Account, obj: HubObject) -> list[PropertyOut]:
    """The built-in properties (in mapping order), then the custom ones by name."""
    found = [builtin_out(obj, prop, i) for i, prop in enumerate(obj.builtins.values())]
    if has_custom(obj):
        custom = properties.definitions(session, account.id, obj.name)
        found += [custom_out(obj, custom[name]) for name in sorted(custom)]
    return found


def _custom(session: Session, account: Account, obj: HubObject, name: str) -> PropertyDefinition:
    if not has_custom(obj):
        raise HubSpotError(f"No such property: '{name}'", status=404, category="OBJECT_NOT_FOUND")
    return properties.get_definition(session, account.id, obj.name, name)


def get_one(session: Session, account: Account, obj: HubObject, name: str) -> PropertyOut:
    """A built-in or custom property by its name; 404."""
    if name in obj.builtins:
        return builtin_out(obj, obj.builtins[name], list(obj.builtins).index(name))
    return custom_out(obj, _custom(session, account, obj, name))


def _builtin_refused(obj: HubObject, name: str, what: str) -> HubSpotError:
    return HubSpotError(
        f"'{name}' is a built-in property of {obj.name}: its definition cannot be {what}"
    )


def _field_type(type_: str, field_type: str) -> str:
    found = FIELD_TYPES.get((type_, field_type))
    if found is None:
        pairs = ", ".join(f"{t}/{f}" for t, f in FIELD_TYPES)
        raise InvalidRequest(
            f"type '{type_}' with fieldType '{field_type}' is not supported; use one of: {pairs}",
            param="fieldType",
        )
    return found


def _option_values(options: list[OptionInput]) -> list[dict[str, str]]:
    return [{"value": option.value, "label": option.label} for option in options]


def create(
    session: Session,
    account: Account,
    obj: HubObject,
    body: PropertyCreateInput,
    *,
    plan_limit: int | None,
) -> PropertyOut:
    """A custom property through the properties service (its name, type and option rules,
    the account's limit); a built-in name or an unsupported type/fieldType pair is 400."""
    if not has_custom(obj):
        raise HubSpotError(f"Cadency keeps no custom properties for {obj.name}")
    if body.name in obj.builtins:
        raise _builtin_refused(obj, body.name, "created")
    with _hubspot_params():
        field_type = _field_type(body.type, body.fieldType)
        data: dict[str, Any] = {
            "name": body.name,
            "label": body.label,
            "group": _cadency_group(obj, body.groupName or None),
            "description": body.description or None,
            "field_type": field_type,
            "options": _option_values(body.options),
            "rules": {"unique": bool(body.hasUniqueValue)},
        }
        try:
            parsed = PropertyCreate.model_validate(data)
        except ValidationError as exc:
            message, param = describe(dict(exc.errors()[0]))
            raise InvalidRequest(message, param=param) from exc
        definition = properties.create_definition(
            session, account, obj.name, parsed, plan_limit=plan_limit
        )
    return custom_out(obj, definition)


def update(
    session: Session, account: Account, obj: HubObject, name: str, body: PropertyUpdateInput
) -> PropertyOut:
    """Change a custom property's label, description, group or options (as the properties
    service allows: an option some record uses stays); its type cannot change."""
    if name in obj.builtins:
        raise _builtin_refused(obj, name, "changed")
    definition = _custom(session, account, obj, name)
    with _hubspot_params():
        current = HUBSPOT_FIELD_TYPES[definition.field_type]
        asked = (body.type or current[0], body.fieldType or current[1])
        if (body.type or body.fieldType) and _field_type(*asked) != definition.field_type:
            raise InvalidRequest(
                f"The type of '{name}' cannot change ({current[0]}/{current[1]})",
                param="fieldType",
            )
        changes: dict[str, Any] = {}
        sent = body.model_fields_set
        if "label" in sent:
            changes["label"] = body.label
        if "description" in sent:
            changes["description"] = body.description or None
        if "groupName" in sent:
            changes["group"] = _cadency_group(obj, body.groupName)
        if "options" in sent:
            changes["options"] = _option_values(body.options or [])
        definition = properties.update_definition(session, account, obj.name, name, changes)
    return custom_out(obj, definition)


def archive(session: Session, account: Account, obj: HubObject, name: str) -> None:
    """Remove a custom property and its values, as `DELETE /api/v1/properties` does (409 while
    a segment filters on it); built-in properties stay (400)."""
    if name in obj.builtins:
        raise _builtin_refused(obj, name, "archived")
    _custom(session, account, obj, name)
    properties.delete_definition(session, account, obj.name, name)


def groups(session: Session, account: Account, obj: HubObject) -> list[PropertyGroupOut]:
    """HubSpot's group of the object's own properties, then every other group its custom
    properties are in."""
    name, label = _group(obj)
    found = [PropertyGroupOut(name=name, label=label, displayOrder=0)]
    if has_custom(obj):
        others = sorted(
            {
                _hubspot_group(obj, d.group_name)
                for d in properties.definitions(session, account.id, obj.name).values()
            }
            - {name}
        )
        found += [
            PropertyGroupOut(name=other, label=other.replace("_", " ").capitalize(), displayOrder=i)
            for i, other in enumerate(others, start=1)
        ]
    return found
