"""HubSpot's names for Cadency's records and their properties (docs/hubspot.md).

Per object type: its HubSpot names (`contacts`, type ID `0-1`), its built-in properties under
HubSpot's internal names where HubSpot has one (`firstname` is the contact's `first_name`) and
Cadency's own names otherwise, each with the Cadency field it reads and writes and its HubSpot
type. Custom properties (cadency.properties) keep their own names. Filtering uses the one filter
language over the same columns: `spec` is the object's `ObjectSpec` with its built-ins renamed
to HubSpot's names, nothing else changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement

from cadency.crm.models import Company, Contact
from cadency.kit.filters import BuiltinProperty, ObjectSpec
from cadency.views.catalogs import COMPANY_SPEC, CONTACT_SPEC

ADDRESS_PREFIX = "address."


@dataclass(frozen=True)
class HubProperty:
    """A built-in property as HubSpot names it.

    `field`: the Cadency field it is — a field of the record's create/update body
    (`first_name`), a part of its address (`address.city`), or a read-only column (`id`,
    `created_at`). `filter`: the filter language's built-in property of the same column, or
    None when it cannot be filtered or sorted on. `type`: HubSpot's property type.
    """

    name: str
    field: str
    type: str
    filter: str | None = None
    read_only: bool = False


@dataclass(frozen=True)
class HubObject:
    """One object type of the surface."""

    name: str  # HubSpot's plural name, in the path: "contacts"
    type_id: str  # HubSpot's object type ID: "0-1"
    record_type: str  # Cadency's record type (associations): "contact"
    model: type[Contact] | type[Company]
    builtins: dict[str, HubProperty]
    # What a read returns when no `properties` are asked for (HubSpot's defaults).
    default_properties: tuple[str, ...]
    # Unique properties a record can be read by (`idProperty`), besides its ID.
    id_properties: tuple[str, ...]
    # The "last modified" property HubSpot always returns for this type.
    modified_property: str
    spec: ObjectSpec
    # The columns `query` of a search looks in: those of the record lists' text search
    # (crm.service.list_contacts / list_companies).
    searchable: tuple[Any, ...]

    def id_column(self) -> ColumnElement[Any]:
        return self.model.id.expression


def _props(*items: HubProperty) -> dict[str, HubProperty]:
    return {item.name: item for item in items}


# Read-only properties every record has.
_RECORD = (
    HubProperty("hs_object_id", "id", "number", "id", read_only=True),
    HubProperty("createdate", "created_at", "datetime", "created_at", read_only=True),
    HubProperty("hs_createdate", "created_at", "datetime", "created_at", read_only=True),
    HubProperty("lastmodifieddate", "updated_at", "datetime", "updated_at", read_only=True),
    HubProperty("hs_lastmodifieddate", "updated_at", "datetime", "updated_at", read_only=True),
)
# A postal address: HubSpot's contact and company address properties.
_ADDRESS = (
    HubProperty("address", "address.line1", "string"),
    HubProperty("address2", "address.line2", "string"),
    HubProperty("city", "address.city", "string"),
    HubProperty("zip", "address.postal_code", "string"),
    HubProperty("state", "address.region", "string"),
    HubProperty("country", "address.country", "string"),
)


def _renamed(spec: ObjectSpec, builtins: dict[str, HubProperty]) -> ObjectSpec:
    """`spec` with its built-in properties under their HubSpot names (same columns, kinds)."""
    renamed: dict[str, BuiltinProperty] = {
        name: spec.builtins[prop.filter]
        for name, prop in builtins.items()
        if prop.filter is not None
    }
    return replace(spec, builtins=renamed)


_CONTACT_PROPERTIES = _props(
    HubProperty("email", "email", "string", "email"),
    HubProperty("firstname", "first_name", "string", "first_name"),
    HubProperty("lastname", "last_name", "string", "last_name"),
    HubProperty("phone", "phone", "string", "phone"),
    HubProperty("hs_language", "language", "enumeration", "language"),
    *_ADDRESS,
    *_RECORD,
)
_COMPANY_PROPERTIES = _props(
    HubProperty("name", "name", "string", "name"),
    HubProperty("domain", "domain", "string", "domain"),
    *_ADDRESS,
    *_RECORD,
)

CONTACTS = HubObject(
    name="contacts",
    type_id="0-1",
    record_type="contact",
    model=Contact,
    builtins=_CONTACT_PROPERTIES,
    default_properties=(
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    id_properties=("email",),
    modified_property="lastmodifieddate",
    spec=_renamed(CONTACT_SPEC, _CONTACT_PROPERTIES),
    searchable=(Contact.email, Contact.first_name, Contact.last_name),
)
COMPANIES = HubObject(
    name="companies",
    type_id="0-2",
    record_type="company",
    model=Company,
    builtins=_COMPANY_PROPERTIES,
    default_properties=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_renamed(COMPANY_SPEC, _COMPANY_PROPERTIES),
    searchable=(Company.name, Company.domain),
)

OBJECTS: dict[str, HubObject] = {o.name: o for o in (CONTACTS, COMPANIES)}
OBJECTS.update({o.type_id: o for o in (CONTACTS, COMPANIES)})
# HubSpot's other object types: served by the REST API, not yet by this surface.
LATER = {
    "deals": "0-3",
    "quotes": "0-14",
    "products": "0-7",
    "line_items": "0-8",
    "subscriptions": "0-69",
    "invoices": "0-53",
}
# HubSpot's association names (`associations=companies`) → Cadency's record types.
ASSOCIATED_TYPES = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "quotes": "quote",
    "subscriptions": "subscription",
    "invoices": "invoice",
}


# --------------------------------------------------------------------------- values as text


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as HubSpot writes them: 2026-03-01T10:00:00.000Z."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def builtin_value(record: Contact | Company, prop: HubProperty) -> str | None:
    """A built-in property of a record as HubSpot sends it: a string, or None."""
    if prop.field.startswith(ADDRESS_PREFIX):
        value = (record.address or {}).get(prop.field.removeprefix(ADDRESS_PREFIX))
    else:
        value = getattr(record, prop.field)
    return text_value(value)


def text_value(value: Any) -> str | None:
    """Any stored value as HubSpot's string: numbers exactly, booleans as true/false,
    timestamps with milliseconds, multiple choices joined with `;`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    if isinstance(value, int | Decimal):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)
