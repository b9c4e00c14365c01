"""The HubSpot-compatible surface as a translation over Cadency's own services: HubSpot's
property names and string values in, the same create/update service calls as `/api/v1` (so the
same validation, permissions and events), and the same records out in HubSpot's shape.

Nothing here stores anything of its own: a contact written through `/crm/v3` is the contact the
web app and `/api/v1` show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.catalog import service as catalog
from cadency.catalog.schemas import ProductCreate, ProductUpdate
from cadency.crm import service as crm
from cadency.crm.models import Association, Company, Contact, Deal
from cadency.crm.schemas import (
    CompanyCreate,
    CompanyUpdate,
    ContactCreate,
    ContactUpdate,
    DealCreate,
    DealUpdate,
)
from cadency.hubspot.errors import HubSpotError
from cadency.hubspot.mapping import (
    ADDRESS_PREFIX,
    ASSOCIATED_TYPES,
    LATER,
    OBJECTS,
    READ_ONLY,
    HubObject,
    HubProperty,
    Record,
    builtin_value,
    text_value,
    timestamp,
)
from cadency.hubspot.schemas import (
    AssociatedId,
    AssociatedIds,
    BatchError,
    BatchOut,
    BatchUpsertOut,
    NextPage,
    ObjectInput,
    ObjectOut,
    Paging,
    SearchOut,
    SearchRequest,
    SearchSort,
    UpdateInput,
    UpsertOut,
)
from cadency.invoices.models import Invoice
from cadency.kit import clock
from cadency.kit.errors import APIError, Conflict, InvalidRequest, NotFound
from cadency.kit.errors import describe_validation_error as describe
from cadency.kit.filters import (
    compile_filter_groups,
    compile_sorts,
    count_statement,
    parse_filter_groups,
    parse_sorts,
)
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.kit.text_search import contains_text
from cadency.properties import service as properties
from cadency.properties.models import PropertyDefinition
from cadency.subscriptions import search as subscription_search
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.models import LineItem
from cadency.subscriptions.schemas import SubscriptionUpdate

_EPOCH_MILLIS = re.compile(r"-?[0-9]{1,15}")


@dataclass(frozen=True)
class Operations:
    """The existing services an object type is read and written through: the very functions
    (and body models) behind `/api/v1/contacts`, `/companies`, `/deals` and `/products`.
    Another object type joins the surface with its `HubObject` (mapping.py) and one of these;
    an operation Cadency has no service for is None (answered with 400)."""

    # One page, newest first: (session, account, limit, after, archived).
    list_page: Callable[[Session, Account, int, str | None, bool], crm.Page]
    # None: not created through this surface (subscriptions, invoices).
    create_body: type[BaseModel] | None = None
    create: Callable[[Session, Account, Any], Record] | None = None
    update_body: type[BaseModel] | None = None
    update: Callable[[Session, Account, str, dict[str, Any]], Record] | None = None
    # The record with this value of the type's unique property (`idProperty`), if any.
    find_unique: Callable[[Session, int, str], Record | None] | None = None
    # Archive a record: HubSpot's soft delete (products: their `archived` flag; contacts,
    # companies and deals: their `archived_at`).
    archive: Callable[[Session, Account, str], Record] | None = None


OPERATIONS: dict[str, Operations] = {
    "contacts": Operations(
        create_body=ContactCreate,
        update_body=ContactUpdate,
        create=crm.create_contact,
        update=crm.update_contact,
        list_page=lambda session, account, limit, after, archived: crm.list_contacts(
            session, account, email=None, limit=limit, cursor=after, archived=archived
        ),
        find_unique=crm.find_contact_by_email,
        archive=lambda session, account, record_id: crm.archive(
            session, account, Contact, record_id
        ),
    ),
    "companies": Operations(
        create_body=CompanyCreate,
        update_body=CompanyUpdate,
        create=crm.create_company,
        update=crm.update_company,
        list_page=lambda session, account, limit, after, archived: crm.list_companies(
            session, account, domain=None, limit=limit, cursor=after, archived=archived
        ),
        archive=lambda session, account, record_id: crm.archive(
            session, account, Company, record_id
        ),
    ),
    # Its amount stays the sum of its line items (read only here).
    "deals": Operations(
        create_body=DealCreate,
        update_body=DealUpdate,
        create=lambda session, account, data: crm.create_deal(
            session, account, data, allow_custom=False
        ),
        update=crm.update_deal,
        list_page=lambda session, account, limit, after, archived: crm.list_deals(
            session,
            account,
            contact_id=None,
            company_id=None,
            stage=None,
            limit=limit,
            cursor=after,
            archived=archived,
        ),
        archive=lambda session, account, record_id: crm.archive(session, account, Deal, record_id),
    ),
    "products": Operations(
        create_body=ProductCreate,
        update_body=ProductUpdate,
        create=catalog.create_product,
        update=catalog.update_product,
        list_page=lambda session, account, limit, after, archived: catalog.list_products(
            session, account, archived=archived, limit=limit, cursor=after
        ),
        archive=lambda session, account, product_id: catalog.update_product(
            session, account, product_id, {"archived": True}
        ),
    ),
    # Created, canceled, paused … through Cadency's own API; here renamed and given custom
    # property values, through the service of `PATCH /api/v1/subscriptions/{id}`.
    "subscriptions": Operations(
        update_body=SubscriptionUpdate,
        update=lambda session, account, subscription_id, changes: subscriptions.update(
            session, account, subscription_id, changes
        ),
        list_page=lambda session, account, limit, after, _archived: (
            subscriptions.list_subscriptions(
                session,
                account,
                statuses=(),
                contact_id=None,
                next_payment_date_gte=None,
                next_payment_date_lte=None,
                limit=limit,
                cursor=after,
            )
        ),
    ),
    # Read only here (see mapping.READ_ONLY): newest first, as /api/v1 lists them.
    "quotes": Operations(
        list_page=lambda session, account, limit, after, _archived: crm.list_quotes(
            session, account, status=None, deal_id=None, contact_id=None, limit=limit, cursor=after
        ),
    ),
    "line_items": Operations(
        list_page=lambda session, account, limit, after, _archived: paginate(
            session,
            select(LineItem).where(LineItem.account_id == account.id),
            LineItem.id,
            limit=limit,
            cursor=after,
        ),
    ),
    # Made by billing; read only (as /api/v1/invoices lists them).
    "invoices": Operations(
        list_page=lambda session, account, limit, after, _archived: paginate(
            session,
            select(Invoice).where(Invoice.account_id == account.id),
            Invoice.id,
            limit=limit,
            cursor=after,
        ),
    ),
}


# --------------------------------------------------------------------------- object types


def object_type(name: str) -> HubObject:
    """The object type a path names (`contacts` or `0-1`); 400 for one not served (yet)."""
    found = OBJECTS.get(name.lower())
    if found is not None:
        return found
    if name in LATER or name in LATER.values():
        raise HubSpotError(
            f"Object type '{name}' is not available through the HubSpot-compatible API yet; "
            "use /api/v1 for it (see docs/hubspot.md)"
        )
    raise HubSpotError(f"Unable to infer object type from: {name}")


@contextmanager
def hubspot_terms(obj: HubObject, where: str | None = None) -> Iterator[None]:
    """Errors of Cadency's services named in HubSpot's terms: `param` and the quoted field in
    the message become the HubSpot property (`first_name` → `firstname`), under `where` (e.g.
    `inputs.2`) in a batch."""
    try:
        yield
    except APIError as exc:
        if exc.param is not None:
            name = _hubspot_param(obj, exc.param)
            if name != exc.param:
                exc.message = exc.message.replace(f"'{exc.param}'", f"'{name}'")
                exc.param = name
        if where is not None:
            exc.param = f"{where}.{exc.param}" if exc.param else where
            exc.message = f"{where}: {exc.message}"
        raise


# The filter language's field names in a search body's path → HubSpot's.
_SEARCH_FIELD = re.compile(r"((?:filterGroups|sorts)\..*\.)(property|high_value)")
_SEARCH_FIELDS = {"property": "propertyName", "high_value": "highValue"}


def _hubspot_param(obj: HubObject, param: str) -> str:
    fields = {prop.field: prop.name for prop in obj.builtins.values() if not prop.read_only}
    fields.update({"cursor": "after"})
    if param in fields:
        return fields[param]
    search_field = _SEARCH_FIELD.fullmatch(param)
    if search_field is not None:
        return search_field.group(1) + _SEARCH_FIELDS[search_field.group(2)]
    if param.startswith("properties."):
        return param.removeprefix("properties.")
    return param


def _record_or_404(session: Session, obj: HubObject, account_id: int, record_id: str) -> Record:
    record: Record = get_owned(session, obj.model, account_id, record_id, obj.record_type)
    return record


def find_record(
    session: Session, obj: HubObject, account_id: int, record_id: str, id_property: str | None
) -> Record:
    """A record by its ID, or by a unique property (`idProperty=email` for contacts); 404."""
    if id_property is None or id_property == "hs_object_id":
        return _record_or_404(session, obj, account_id, record_id)
    if id_property not in obj.id_properties:
        usable = ", ".join(("hs_object_id", *obj.id_properties))
        raise InvalidRequest(
            f"'{id_property}' is not a unique property of {obj.name}; use one of: {usable}",
            param="idProperty",
        )
    find_unique = OPERATIONS[obj.name].find_unique
    found = find_unique(session, account_id, record_id) if find_unique else None
    if found is None:
        raise NotFound(f"No such {obj.record_type} with {id_property} '{record_id}'")
    return found


# --------------------------------------------------------------------------- reading


def requested_properties(obj: HubObject, asked: Sequence[str] | None) -> list[str]:
    """The property names a read returns: those asked for (a list, each item possibly
    comma-separated, as HubSpot takes them), else the object's defaults; always with the ID and
    the created and modified dates, as HubSpot does."""
    names = [part.strip() for item in asked or () for part in item.split(",") if part.strip()]
    chosen = names or list(obj.default_properties)
    for always in ("hs_object_id", "createdate", obj.modified_property):
        if always not in chosen:
            chosen.append(always)
    return list(dict.fromkeys(chosen))


class Reader:
    """Records of one account in HubSpot's shape, with their custom values in one query."""

    def __init__(
        self, session: Session, account: Account, obj: HubObject, *, view_sensitive: bool
    ) -> None:
        self.session = session
        self.account = account
        self.obj = obj
        self.view_sensitive = view_sensitive

    def out(
        self,
        records: Sequence[Record],
        names: Sequence[str] | None = None,
        associations: Sequence[str] | None = None,
    ) -> list[ObjectOut]:
        chosen = requested_properties(self.obj, names)
        custom_names = (
            [n for n in chosen if n not in self.obj.builtins]
            if self.obj.name in properties.OBJECT_TYPES  # invoices have no custom properties
            else []
        )
        values = (
            properties.get_values(
                self.session,
                self.account.id,
                self.obj.name,
                [r.id for r in records],
                view_sensitive=self.view_sensitive,
            )
            if custom_names
            else {}
        )
        defined = (
            properties.definitions(self.session, self.account.id, self.obj.name)
            if custom_names
            else {}
        )
        linked = self._associations([r.id for r in records], associations or ())
        results = []
        for record in records:
            shown: dict[str, str | None] = {}
            for name in chosen:
                prop = self.obj.builtins.get(name)
                if prop is not None:
                    shown[name] = builtin_value(record, prop)
                elif name in defined:  # unknown names are left out, as HubSpot does
                    shown[name] = _shown(defined[name], values.get(record.id, {}).get(name))
            results.append(
                ObjectOut(
                    id=record.id,
                    properties=shown,
                    createdAt=timestamp(record.created_at),
                    # A line item has no modification time (see mapping.py).
                    updatedAt=timestamp(getattr(record, "updated_at", record.created_at)),
                    archived=bool(getattr(record, "archived", False)),
                    associations=linked.get(record.id) if associations else None,
                )
            )
        return results

    def _associations(
        self, ids: list[str], names: Sequence[str]
    ) -> dict[str, dict[str, AssociatedIds]]:
        """Associated record IDs by record, then by HubSpot object name (`companies`), from the
        typed, labelled association rows."""
        wanted = {
            ASSOCIATED_TYPES[part.strip()]: part.strip()
            for item in names
            for part in item.split(",")
            if part.strip() in ASSOCIATED_TYPES
        }
        if not ids or not wanted:
            return {}
        rows = self.session.scalars(
            select(Association)
            .where(
                Association.account_id == self.account.id,
                or_(
                    and_(Association.from_id.in_(ids), Association.to_type.in_(list(wanted))),
                    and_(Association.to_id.in_(ids), Association.from_type.in_(list(wanted))),
                ),
            )
            .order_by(Association.id)
        ).all()
        found: dict[str, dict[str, AssociatedIds]] = {}
        own = self.obj.record_type
        for row in rows:
            if row.from_id in ids and row.to_type in wanted:
                record_id, other_type, other_id = row.from_id, row.to_type, row.to_id
            else:
                record_id, other_type, other_id = row.to_id, row.from_type, row.from_id
            group = found.setdefault(record_id, {}).setdefault(
                wanted[other_type], AssociatedIds(results=[])
            )
            if all(item.id != other_id for item in group.results):
                group.results.append(AssociatedId(id=other_id, type=f"{own}_to_{other_type}"))
        return found


def _shown(definition: PropertyDefinition, value: Any) -> str | None:
    """A custom value as HubSpot's string; times with milliseconds, as the built-in ones."""
    if definition.field_type == "datetime" and isinstance(value, str) and value != "":
        try:
            return timestamp(datetime.fromisoformat(value))
        except ValueError:  # the mask of a sensitive value
            return value
    return text_value(value)


def list_page(
    reader: Reader,
    *,
    limit: int,
    after: str | None,
    names: Sequence[str] | None,
    associations: Sequence[str] | None,
    archived: bool,
) -> tuple[list[ObjectOut], str | None]:
    """One page of the records (newest first, as the REST API lists them) and the `after` of
    the next page: the archived ones or the others. A type Cadency does not archive has an empty
    archived list."""
    if archived and not reader.obj.archivable:
        return [], None
    obj, session, account = reader.obj, reader.session, reader.account
    with hubspot_terms(obj):
        rows, _, next_cursor = OPERATIONS[obj.name].list_page(
            session, account, limit, after, archived
        )
    return reader.out(rows, names, associations), next_cursor


# --------------------------------------------------------------------------- writing


def _text(value: Any) -> str | None:
    """A HubSpot property value as text; an empty string clears, as in HubSpot."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _custom_value(definition: PropertyDefinition, value: Any) -> Any:
    """A HubSpot string as the JSON value the properties service takes for this field type
    (which then checks it, as for `/api/v1`)."""
    text = _text(value)
    if text is None:
        return [] if definition.field_type == "checkboxes" else None
    field_type = definition.field_type
    if field_type == "boolean":
        lowered = text.lower()
        return {"true": True, "false": False}.get(lowered, text)
    if field_type == "checkboxes":
        return [part for part in text.split(";") if part]
    if field_type in ("date", "datetime") and _EPOCH_MILLIS.fullmatch(text):
        # HubSpot writes dates and times as milliseconds since 1970 too.
        try:
            moment = datetime.fromtimestamp(int(text) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return text
        return moment.date().isoformat() if field_type == "date" else timestamp(moment)
    return text


def _split(
    session: Session,
    account: Account,
    obj: HubObject,
    values: Mapping[str, Any],
    current_address: dict[str, Any] | None,
) -> dict[str, Any]:
    """HubSpot properties → the fields of Cadency's create/update body (address parts merged
    into the record's current address, custom properties under `properties`)."""
    body: dict[str, Any] = {}
    address: dict[str, Any] | None = None
    custom: dict[str, Any] = {}
    defined: dict[str, PropertyDefinition] | None = None
    for name, value in values.items():
        prop: HubProperty | None = obj.builtins.get(name)
        if prop is not None:
            if prop.constant is not None and _text(value) in (None, prop.constant):
                continue  # e.g. `pipeline: default`: Cadency's one pipeline
            if prop.read_only:
                raise InvalidRequest(f"Property '{name}' is read-only", param=name)
            if prop.field.startswith(ADDRESS_PREFIX):
                if address is None:
                    address = dict(current_address or {})
                address[prop.field.removeprefix(ADDRESS_PREFIX)] = _text(value)
            else:
                text = _text(value)
                body[prop.field] = prop.to_cadency(text) if text is not None else None
            continue
        if defined is None:
            defined = properties.definitions(session, account.id, obj.name)
        definition = defined.get(name)
        if definition is None:
            raise InvalidRequest(f'Property "{name}" does not exist', param=name)
        custom[name] = _custom_value(definition, value)
    if address is not None:
        body["address"] = {k: v for k, v in address.items() if v is not None} or None
    if custom:
        body["properties"] = custom
    return body


def _validated(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        message, param = describe(dict(exc.errors()[0]))
        raise InvalidRequest(message, param=param) from exc


def create(
    session: Session, account: Account, obj: HubObject, data: ObjectInput, where: str | None = None
) -> Record:
    """A new record through the same service as `POST /api/v1/contacts` (or companies)."""
    with hubspot_terms(obj, where):
        _refuse_associations(data)
        _refuse_read_only(obj)
        operations = OPERATIONS[obj.name]
        if operations.create is None or operations.create_body is None:
            raise HubSpotError(
                f"{obj.name.capitalize()} cannot be created through the HubSpot-compatible API; "
                "use /api/v1 (see docs/hubspot.md)"
            )
        body = _split(session, account, obj, data.properties, None)
        return operations.create(session, account, _validated(operations.create_body, body))


def _refuse_read_only(obj: HubObject) -> None:
    """Quotes and line items are written through Cadency's own API only: HubSpot's 400."""
    if obj.name in READ_ONLY:
        raise HubSpotError(
            f"{obj.name} are read only through the HubSpot-compatible API; create and change "
            "them through /api/v1 (see docs/hubspot.md)"
        )


def _refuse_associations(data: ObjectInput) -> None:
    if data.associations:
        raise InvalidRequest(
            "Associations on create are not supported yet; link records in Cadency",
            param="associations",
        )


def update(
    session: Session,
    account: Account,
    obj: HubObject,
    record_id: str,
    values: Mapping[str, Any],
    *,
    id_property: str | None = None,
    where: str | None = None,
) -> Record:
    """Change the given properties through the same service as `PATCH /api/v1/contacts/{id}`."""
    with hubspot_terms(obj, where):
        _refuse_read_only(obj)
        record = find_record(session, obj, account.id, record_id, id_property)
        if obj.archivable and bool(getattr(record, "archived", False)):
            # As HubSpot: an archived record is not there to change (404, as GET without
            # `archived=true`).
            raise NotFound(f"No active {obj.record_type}: '{record.id}' is archived")
        operations = OPERATIONS[obj.name]
        if operations.update is None or operations.update_body is None:
            raise HubSpotError(
                f"Cadency does not change {obj.name} once created; see docs/hubspot.md"
            )
        body = _split(session, account, obj, values, getattr(record, "address", None))
        parsed = _validated(operations.update_body, body)
        changes = parsed.model_dump(exclude_unset=True)
        if "address" in parsed.model_fields_set:
            # As PATCH /api/v1 does: the model knows how an address is stored.
            changes["address"] = parsed.address
        return operations.update(session, account, record.id, changes)


def archive(session: Session, account: Account, obj: HubObject, record_id: str) -> None:
    """Archive through the type's own service: HubSpot's soft delete (products, contacts,
    companies, deals), which refuses with 409 what the record's state does not allow (a
    contact a subscription still bills); archiving an archived record changes nothing.
    Subscriptions and invoices are ended through /api/v1 instead (409); an unknown ID 404."""
    _refuse_read_only(obj)
    _record_or_404(session, obj, account.id, record_id)
    archive_one = OPERATIONS[obj.name].archive
    if archive_one is None:
        raise Conflict(
            f"Cadency does not archive {obj.name} through this API: '{record_id}' stays "
            "(cancel a subscription or void an invoice through /api/v1)"
        )
    archive_one(session, account, record_id)


def batch_read(
    reader: Reader,
    ids: Sequence[str],
    *,
    names: Sequence[str] | None,
    id_property: str | None,
) -> tuple[list[ObjectOut], list[BatchError]]:
    """The records found (in the order asked) and one error naming the IDs not found."""
    found: list[Record] = []
    missing: list[str] = []
    for record_id in dict.fromkeys(ids):
        try:
            record = find_record(
                reader.session, reader.obj, reader.account.id, record_id, id_property
            )
        except NotFound:
            missing.append(record_id)
            continue
        if getattr(record, "archived", False):  # as HubSpot: archived records are not read
            missing.append(record_id)
        else:
            found.append(record)
    errors = (
        [
            BatchError(
                category="OBJECT_NOT_FOUND",
                message=f"Could not get some {reader.obj.name} objects, they may be deleted or "
                "not exist. Check that ids are valid.",
                context={"ids": missing},
            )
        ]
        if missing
        else []
    )
    return reader.out(found, names), errors


def batch_update(
    session: Session, account: Account, obj: HubObject, inputs: Sequence[UpdateInput]
) -> list[Record]:
    """Every input or none: the first that fails stops the batch (the caller rolls back)."""
    return [
        update(
            session,
            account,
            obj,
            item.id,
            item.properties,
            id_property=item.idProperty,
            where=f"inputs.{i}",
        )
        for i, item in enumerate(inputs)
    ]


def batch_upsert(
    session: Session, account: Account, obj: HubObject, inputs: Sequence[UpdateInput]
) -> list[tuple[Record, bool]]:
    """Update the record each input names by a unique property, or create it with that value;
    (record, created) per input, all or none."""
    results: list[tuple[Record, bool]] = []
    for i, item in enumerate(inputs):
        where = f"inputs.{i}"
        find_unique = OPERATIONS[obj.name].find_unique
        if item.idProperty not in obj.id_properties or find_unique is None:
            raise InvalidRequest(
                f"{where}: upsert needs an idProperty that is unique for {obj.name} "
                f"({', '.join(obj.id_properties) or 'none yet'})",
                param=f"{where}.idProperty",
            )
        existing = find_unique(session, account.id, item.id)
        if existing is not None:
            record = update(session, account, obj, existing.id, item.properties, where=where)
            results.append((record, False))
        else:
            values = {**item.properties, item.idProperty: item.id}
            created = create(session, account, obj, ObjectInput(properties=values), where)
            results.append((created, True))
    return results


def batch_archive(session: Session, account: Account, obj: HubObject, ids: Sequence[str]) -> None:
    """Every record or none: the first that cannot be archived stops the batch (the caller
    rolls back), naming its input."""
    for i, record_id in enumerate(ids):
        with hubspot_terms(obj, f"inputs.{i}"):
            archive(session, account, obj, record_id)


def batch_response(
    results: list[ObjectOut], started: datetime, errors: list[BatchError] | None = None
) -> BatchOut:
    return BatchOut(
        results=results,
        startedAt=timestamp(started),
        completedAt=timestamp(clock.real_now()),
        errors=errors or None,
        numErrors=len(errors) if errors else None,
    )


def upsert_response(
    reader: Reader, done: list[tuple[Record, bool]], started: datetime
) -> BatchUpsertOut:
    shown = reader.out([record for record, _ in done])
    return BatchUpsertOut(
        results=[
            UpsertOut(**out.model_dump(), new=created)
            for out, (_, created) in zip(shown, done, strict=True)
        ],
        startedAt=timestamp(started),
        completedAt=timestamp(clock.real_now()),
    )


# --------------------------------------------------------------------------- search

_DATETIME_KINDS = ("datetime", "date")


def _filter_value(value: Any, kind: str | None, prop: HubProperty | None = None) -> Any:
    """A HubSpot filter value for the filter language: epoch milliseconds become ISO 8601 for
    dates and times (HubSpot's clients send both forms), and HubSpot's values of a property
    whose values differ from Cadency's become the stored ones (`closedwon` → `closed_won`),
    since the filter compares with the column."""
    if prop is not None and prop.values and isinstance(value, str):
        return prop.to_cadency(value)
    if kind in _DATETIME_KINDS and isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if _EPOCH_MILLIS.fullmatch(text) and len(text) > 4:
            try:
                moment = datetime.fromtimestamp(int(text) / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                return value
            return moment.date().isoformat() if kind == "date" else timestamp(moment)
    if isinstance(value, float):
        return text_value(value)
    return value


def _kind(obj: HubObject, name: str, custom: Mapping[str, str]) -> str | None:
    builtin = obj.spec.builtins.get(name)
    if builtin is not None:
        return builtin.kind
    return custom.get(name)


def _filter_groups(obj: HubObject, request: SearchRequest, custom: Mapping[str, str]) -> Any:
    groups = []
    for group in request.filterGroups:
        filters = []
        for f in group.filters:
            kind = _kind(obj, f.propertyName, custom)
            prop = obj.builtins.get(f.propertyName) if kind is not None else None
            item: dict[str, Any] = {"property": f.propertyName, "operator": f.operator}
            if f.value is not None:
                item["value"] = _filter_value(f.value, kind, prop)
            if f.values is not None:
                item["values"] = [_filter_value(v, kind, prop) for v in f.values]
            if f.highValue is not None:
                item["high_value"] = _filter_value(f.highValue, kind, prop)
            filters.append(item)
        groups.append({"filters": filters})
    return parse_filter_groups(groups, param="filterGroups")


def _sorts(request: SearchRequest) -> Any:
    sorts = []
    for sort in request.sorts:
        if isinstance(sort, SearchSort):
            sorts.append({"property": sort.propertyName, "direction": sort.direction})
        else:
            descending = sort.startswith("-")
            sorts.append(
                {"property": sort.lstrip("-"), "direction": "desc" if descending else "asc"}
            )
    return parse_sorts(sorts)


def _offset(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isascii() or not after.isdigit() or len(after) > 9:
        raise InvalidRequest(
            "'after' is not valid: pass paging.next.after of the previous page unchanged",
            param="after",
        )
    return int(after)


def search(reader: Reader, request: SearchRequest) -> SearchOut:
    """Records not archived matching `filterGroups` (the one filter language, with HubSpot's
    property names), `query` (the record lists' text search), in `sorts` order (then oldest
    first), `limit` at a time from the offset `after`."""
    obj, session, account = reader.obj, reader.session, reader.account
    spec = obj.spec
    # Deals, products, quotes, line items and invoices have no custom properties: a name that
    # is not a built-in is then an unknown property (400 naming it).
    has_custom = obj.name in properties.OBJECT_TYPES
    types: dict[str, str] = {}
    options: dict[str, tuple[str, ...]] = {}
    if has_custom:
        types, options = subscription_search.custom_properties(session, account.id, obj.name)
    groups = _filter_groups(obj, request, types)
    sorts = _sorts(request)
    if has_custom:
        properties.check_filterable(
            session, account.id, obj.name, groups, sorts, view_sensitive=reader.view_sensitive
        )
    related = (
        {"subscription": subscription_search.custom_properties(session, account.id)}
        if spec.related
        else {}
    )
    condition = and_(
        spec.account_column == account.id,
        compile_filter_groups(
            groups,
            spec,
            types,
            account.id,
            options=options,
            today=subscription_search.account_today(session, account.id),
            related=related,
            param="filterGroups",
        ),
    )
    if obj.archivable:
        # As in HubSpot, search finds only records that are not archived.
        condition = and_(condition, obj.not_archived())
    if request.query and request.query.strip():
        condition = and_(
            condition,
            or_(
                contains_text(list(obj.searchable), request.query),
                obj.id_column() == request.query.strip(),
            ),
        )
    # A text search (`query`, CONTAINS_TOKEN) finds its few records through the text indexes;
    # they are then sorted, rather than found by walking the sort order through every record.
    texts = bool(request.query and request.query.strip()) or any(
        f.operator.upper() == "CONTAINS_TOKEN" for g in request.filterGroups for f in g.filters
    )
    order = compile_sorts(sorts, obj.sorting_spec(), types, few=texts)
    offset = _offset(request.after)
    dialect = session.get_bind().dialect.name
    counted = count_statement(obj.id_column(), condition, dialect)
    if texts and dialect == "sqlite":
        # Every record a text search finds is read to sort them anyway (sorted after filtering,
        # see compile_sorts): count them in the same pass, a window over the whole result
        # before the page is cut from it. Not on PostgreSQL, whose planner would then walk the
        # table in the sort's order to feed the window (a whole table for a short term: 0.5 s
        # at 1M contacts); there a count and a page each take the indexes.
        found = session.execute(
            select(obj.model, func.count().over())
            .where(condition)
            .order_by(*order)
            .offset(offset)
            .limit(request.limit + 1)
        ).all()
        rows = cast(Sequence[Record], [row[0] for row in found])
        # Past the last page the window has no row to say it on.
        total = int(found[0][1]) if found else (session.scalar(counted) or 0 if offset else 0)
    else:
        total = session.scalar(counted) or 0
        statement = select(obj.model).where(condition).order_by(*order)
        rows = cast(
            Sequence[Record],
            session.scalars(statement.offset(offset).limit(request.limit + 1)).all(),
        )
    more = len(rows) > request.limit
    rows = rows[: request.limit]
    paging = Paging(next=NextPage(after=str(offset + request.limit))) if more else None
    return SearchOut(total=total, results=reader.out(rows, request.properties), paging=paging)
