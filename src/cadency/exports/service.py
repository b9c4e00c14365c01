"""Exports (SPEC §7): a request fixes what is exported (object, filters, columns, sort) on a
queued job; the worker builds the file in the background and the requester is emailed a link.

`create_export` checks and queues (the caller commits). `run_next` is the worker's: it claims
one job under a lease, streams the matching records in keyset batches (one query per batch
with the contact and company names and custom property values joined; associations looked
up once per batch, never per row), writes
`<files_dir>/exports/<account>/<id>.part` and renames it into place only when complete, so a
crash leaves no half file and the job is simply run again (at most `MAX_ATTEMPTS` times). Each
step commits its own transaction, as housekeeping does. `purge_expired_files` deletes files past
their 30 days.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    func,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, aliased

from cadency.accounts.models import Account, ApiKey, User, grants
from cadency.crm.models import Association, Company, Contact, Deal, Quote, display_name_sql
from cadency.exports.models import Export
from cadency.exports.writers import CellType, MoneyColumn, open_writer
from cadency.kit import clock, i18n, outbox, periods
from cadency.kit.db import begin_write
from cadency.kit.errors import Conflict, Gone, InvalidRequest, PermissionDenied, not_found
from cadency.kit.events import EventType
from cadency.kit.filters import Sort, parse_filter_groups, parse_sorts
from cadency.kit.i18n import N_
from cadency.kit.ids import new_id
from cadency.kit.repository import get_owned
from cadency.properties import service as property_service
from cadency.properties.models import PropertyDefinition, PropertyValue
from cadency.segments.models import Segment
from cadency.subscriptions.models import Subscription
from cadency.views.catalogs import CUSTOM_PREFIX, Catalog, Column, catalog_for
from cadency.views.listing import find_page, sort_keys
from cadency.views.models import SavedView
from cadency.views.schemas import MAX_QUERY

logger = logging.getLogger("cadency.exports")

EXPORT_PERMISSION = "subscriptions.export"
FORMATS = ("csv", "xlsx")
LANGUAGES = ("en", "nl", "da", "de")
PROPERTIES = ("view", "all", "all_with_associations")
ASSOCIATIONS_LIMITS = ("1000", "all")

BATCH_SIZE = 5000
# How long a claimed job is the worker's; a run renews it every batch, so it runs out only
# when the worker died (the job is then claimed again).
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
KEEP_FOR = timedelta(days=30)
# Associated records written per cell unless the export asked for all (CSV only: a
# spreadsheet cell holds at most 32,767 characters).
ASSOCIATIONS_CAP = 1000
ASSOCIATION_SEPARATOR = ";"

# German column headers: the web app has no German catalog, so the exports keep their own.
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

RECORD_ID = N_("Record ID")
# The record types each object can be associated with, in the order their columns come.
ASSOCIATED_TYPES: dict[str, tuple[str, ...]] = {
    "subscriptions": ("contact", "company", "deal", "quote"),
    "contacts": ("company", "deal", "subscription"),
    "companies": ("contact", "deal", "subscription"),
}
ASSOCIATION_HEADERS: dict[str, tuple[str, str]] = {
    "contact": (N_("Associated Contact IDs"), N_("Associated Contact")),
    "company": (N_("Associated Company IDs"), N_("Associated Company")),
    "deal": (N_("Associated Deal IDs"), N_("Associated Deal")),
    "quote": (N_("Associated Quote IDs"), N_("Associated Quote")),
    "subscription": (N_("Associated Subscription IDs"), N_("Associated Subscription")),
}
_RECORD_MODELS: dict[str, Any] = {
    "contact": Contact,
    "company": Company,
    "deal": Deal,
    "quote": Quote,
    "subscription": Subscription,
}
_FILE_EXTENSIONS = {"csv": "csv", "xlsx": "xlsx"}
_GONE = N_("The export's file was deleted when its 30 days were up; export again.")


# --- asking for an export ----------------------------------------------------------------------


def require_permissions(permissions: set[str], object_type: str) -> Catalog:
    """The catalog of `object_type`, after checking the caller may export it: the export
    permission and the object's own view permission (403 otherwise)."""
    catalog = _catalog(object_type)
    for needed in (EXPORT_PERMISSION, catalog.permission):
        if not grants(permissions, needed):
            raise PermissionDenied("You need the '%(needed)s' permission for this.", needed=needed)
    return catalog


def _catalog(object_type: str) -> Catalog:
    catalog = catalog_for(object_type)
    if catalog is None:
        raise InvalidRequest(
            "Nothing to export of the type '%(object_type)s'",
            object_type=object_type,
            param="object_type",
        )
    return catalog


def _choice(value: str, allowed: Sequence[str], param: str) -> str:
    if value not in allowed:
        raise InvalidRequest(
            "'%(field_name)s' is one of %(allowed)s",
            field_name=param,
            allowed=", ".join(allowed),
            param=param,
        )
    return value


def _both(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Filter groups meeting both lists: each is an OR of AND groups, so every pair of groups
    becomes one AND group."""
    if not a:
        return b
    if not b:
        return a
    return [{"filters": [*x["filters"], *y["filters"]]} for x in a for y in b]


def _view(session: Session, account_id: int, user_id: int | None, view_id: str) -> SavedView:
    view = session.get(SavedView, view_id) if len(view_id) <= 40 else None
    if (
        view is None
        or view.account_id != account_id
        or (user_id is not None and not view.shared and view.owner_user_id != user_id)
    ):
        raise not_found("view", view_id)
    return view


def create_export(
    session: Session,
    account_id: int,
    *,
    object_type: str = "subscriptions",
    format: str = "csv",
    language: str = "en",
    properties: str = "view",
    associations_limit: str = "1000",
    view_id: str | None = None,
    segment_id: str | None = None,
    filter_groups: Sequence[Mapping[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
    sort: tuple[str, str] | None = None,
    query: str | None = None,
    requested_by_user_id: int | None = None,
    requested_by_api_key_id: str | None = None,
    view_sensitive: bool = True,
    now: datetime | None = None,
) -> Export:
    """Queue an export of the account's `object_type` records: those of the view, the segment
    and the filters (all of them when none is given), with the view's columns and sort unless
    `columns`/`sort` say otherwise (the index page passes what it shows). Checks everything
    now (422 naming an unknown property, 404 for a view or segment not of this account) and
    fixes the filters, columns and sort on the job. Permissions are the caller's to check
    (`require_permissions`); `view_sensitive` says whether the requester may see sensitive
    properties (otherwise they cannot filter by them, and their values are masked)."""
    catalog = _catalog(object_type)
    _choice(format, FORMATS, "format")
    _choice(language, LANGUAGES, "language")
    _choice(properties, PROPERTIES, "properties")
    _choice(associations_limit, ASSOCIATIONS_LIMITS, "associations_limit")
    if associations_limit == "all" and format == "xlsx":
        raise InvalidRequest(
            N_("All associations fit only in a CSV file; choose CSV or at most 1,000."),
            param="associations_limit",
        )
    groups: list[dict[str, Any]] = []
    view: SavedView | None = None
    if view_id is not None:
        view = _view(session, account_id, requested_by_user_id, view_id)
        if view.object_type != catalog.object_type:
            raise InvalidRequest(
                "The view '%(view_id)s' is not a view of %(object_type)s",
                view_id=view_id,
                object_type=catalog.object_type,
                param="view_id",
            )
        groups = list(view.filter_groups or [])
    if segment_id is not None:
        segment = get_owned(session, Segment, account_id, segment_id, "segment")
        if segment.object_type != catalog.object_type:
            raise InvalidRequest(
                "The segment '%(segment_id)s' is not a segment of %(object_type)s",
                segment_id=segment_id,
                object_type=catalog.object_type,
                param="segment_id",
            )
        groups = _both(groups, list(segment.filter_groups or []))
    if filter_groups:
        given = [dict(g) for g in filter_groups]
        parse_filter_groups(given)  # a malformed group is named as the caller sent it
        groups = _both(groups, given)

    # Compiling now names an unknown property, operator or value while the caller waits.
    parsed = parse_filter_groups(groups)
    catalog.compile_filters(session, account_id, parsed)
    definitions = catalog.custom_definitions(session, account_id)
    custom_types = {d.name: d.field_type for d in definitions}

    if sort is None and view is not None and view.sort_property:
        sort = (view.sort_property, view.sort_direction or "desc")
    sorts = [] if sort is None else [{"property": sort[0], "direction": sort[1]}]
    parsed_sorts = parse_sorts(sorts, param="sort")
    for item in parsed_sorts:
        sort_keys(item, catalog.sort_spec, custom_types, param="sort")
    property_service.check_filterable(
        session,
        account_id,
        catalog.object_type,
        parsed,
        parsed_sorts,
        view_sensitive=view_sensitive,
    )
    if query is None and view is not None:
        query = view.query
    query = (query or "").strip() or None
    if query is not None and len(query) > MAX_QUERY:
        # The export must find what the page found: a search cut short would find more.
        raise InvalidRequest(
            "The search text is at most %(max_query)s characters long",
            max_query=MAX_QUERY,
            param="query",
        )

    known = catalog.all_columns(definitions)
    if properties == "view":
        chosen = list(columns or (view.columns if view is not None else None) or [])
        chosen = [key for key in dict.fromkeys(chosen) if key in known] or list(
            catalog.default_columns
        )
    else:
        # Every property as it is now; the worker orders them by label in the language.
        chosen = list(known)

    moment = now or clock.real_now()
    export = Export(
        id=new_id("exp"),
        account_id=account_id,
        requested_by_user_id=requested_by_user_id,
        requested_by_api_key_id=requested_by_api_key_id,
        object_type=catalog.object_type,
        format=format,
        language=language,
        properties=properties,
        associations_limit=associations_limit,
        view_id=view_id,
        segment_id=segment_id,
        filter_groups=groups,
        columns=chosen,
        sorts=sorts,
        query=query,
        status="queued",
        progress=0,
        row_count=0,
        attempts=0,
        created_at=moment,
    )
    session.add(export)
    session.flush()
    return export


def get_export(session: Session, account_id: int, export_id: str) -> Export:
    """One of the account's exports; another account's is simply not found."""
    return get_owned(session, Export, account_id, export_id, "export")


def recent_exports(session: Session, account_id: int, limit: int = 100) -> list[Export]:
    """The account's exports, newest first."""
    return list(
        session.scalars(
            select(Export)
            .where(Export.account_id == account_id)
            .order_by(Export.created_at.desc(), Export.id.desc())
            .limit(limit)
        )
    )


def expired(export: Export, now: datetime) -> bool:
    """Whether a finished export's file is past its 30 days (or already deleted)."""
    return (
        export.file_path is None
        or export.file_deleted_at is not None
        or (export.expires_at is not None and export.expires_at <= now)
    )


def downloadable(export: Export, files_dir: str, now: datetime) -> Path:
    """The finished file of an export: Conflict while it is being built (or failed), Gone once
    it expired or was deleted."""
    if export.status != "succeeded":
        raise Conflict(N_("The export is not ready yet."))
    if export.file_path is None or expired(export, now):
        raise Gone(_GONE)
    path = Path(files_dir) / export.file_path
    if not path.is_file():
        raise Gone(_GONE)
    return path


def content_type(export: Export) -> str:
    if export.format == "xlsx":
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return "text/csv; charset=utf-8"


# --- columns ----------------------------------------------------------------------------------


@cache
def _german() -> Any:
    return i18n.compile_catalog(TRANSLATIONS_DIR, "de")


def header_gettext(language: str) -> Callable[[str], str]:
    """How built-in column labels read in an export's language: the web app's catalogs for
    Dutch and Danish, the exports' own for German."""
    if language == "de":
        return _german().gettext  # type: ignore[no-any-return]
    if language in i18n.LANGUAGES:
        return i18n.translations(language).gettext
    return lambda text: text


@dataclass(frozen=True)
class ExportColumn:
    key: str  # a catalog column, or "associations.<type>.ids" / ".names"
    header: str
    kind: str
    association: str | None = None


def export_columns(
    export: Export, catalog: Catalog, definitions: Sequence[PropertyDefinition]
) -> list[ExportColumn]:
    """The columns of the file in their order, with headers in the export's language."""
    gettext = header_gettext(export.language)
    known = catalog.all_columns(list(definitions))

    def header(column: Column) -> str:
        return gettext(column.label) if column.translate else column.label

    # A custom property deleted since the export was asked for just leaves its column out.
    keys = [key for key in export.columns if key in known]
    if export.properties == "view":
        return [ExportColumn(k, header(known[k]), known[k].kind) for k in keys]
    rest = sorted(
        (ExportColumn(k, header(known[k]), known[k].kind) for k in keys if k != "id"),
        key=lambda c: (c.header.casefold(), c.key),
    )
    columns = [ExportColumn("id", gettext(RECORD_ID), "text"), *rest]
    if export.properties == "all_with_associations":
        for kind in ASSOCIATED_TYPES[catalog.object_type]:
            ids_header, names_header = ASSOCIATION_HEADERS[kind]
            columns.append(
                ExportColumn(f"associations.{kind}.ids", gettext(ids_header), "ids", kind)
            )
            columns.append(
                ExportColumn(f"associations.{kind}.names", gettext(names_header), "names", kind)
            )
    return columns


# --- reading a batch ----------------------------------------------------------------------------
#
# Each batch is one query: the records' own columns, their billing contact's and company's
# names (joined), and each custom property's value (joined by the value's primary key), as
# the driver gives them, without ORM objects or type conversion. Each file column is then made
# from those values a column at a time, never cell by cell where a column can go at once:
# a million rows of thirty columns is thirty million cells.

# For each record of a batch: its associated records per type, as (ID, name).
Associated = Mapping[str, Mapping[str, list[tuple[str, str]]]]
Cells = Callable[[Mapping[str, Sequence[Any]], Associated], Sequence[Any]]


@dataclass(frozen=True)
class _Reader:
    """How one column of the file is made from a batch: its cell type (see writers) and a
    function from the batch's selected values (a sequence per selected name) to its cells."""

    cell_type: CellType
    cells: Cells


Scope = Callable[[Any], ColumnElement[bool]]


class _Selection:
    """The columns of the batch query, each selected once however many file columns read it,
    and the outer joins they need."""

    def __init__(self, model: Any, dialect: str) -> None:
        self.model = model
        self.dialect = dialect
        self.expressions: dict[str, ColumnElement[Any]] = {"id": model.id}
        # name → (alias, join condition, the alias's column holding the record's ID or None)
        self._joins: dict[str, tuple[Any, ColumnElement[bool], Any]] = {}

    def add(self, name: str, expression: Any) -> str:
        self.expressions.setdefault(name, expression)
        return name

    def joined(
        self,
        name: str,
        entity: Any,
        on: Callable[[Any], ColumnElement[bool]],
        record_id: Callable[[Any], Any] | None = None,
    ) -> Any:
        """The alias `name` of `entity`, outer-joined `on` the record (once). `record_id`: the
        alias's column that holds the record's ID, when it is joined by that."""
        if name not in self._joins:
            target = aliased(entity, name=name)
            self._joins[name] = (target, on(target), record_id and record_id(target))
        return self._joins[name][0]

    def statement(self, scope: Scope) -> Select[Any]:
        """The batch's query for the records whose ID is in `scope` (a condition on an ID
        column). The scope is stated for the joined tables too: PostgreSQL does not carry a
        range over a join's equality, and would otherwise merge-join every batch against the
        values from the very first record (quadratic over a file)."""
        statement = select(*self.expressions.values()).select_from(self.model)
        for target, on, record_id in self._joins.values():
            statement = statement.outerjoin(
                target, on if record_id is None else and_(on, scope(record_id))
            )
        return statement.where(scope(self.model.id))


def _after(last_id: str | None) -> Scope:
    """The records after `last_id` in ID order (all of them before the first batch)."""
    return lambda column: true() if last_id is None else column > last_id


def _among(ids: Sequence[str]) -> Scope:
    return lambda column: column.in_(ids)


def _as_is(name: str) -> Cells:
    return lambda values, associated: values[name]


def _raw(column: Any) -> ColumnElement[Any]:
    """A column as the driver gives it: SQLite's dates stay the ISO text they are stored as,
    rather than being parsed into objects only to be written as text again."""
    return type_coerce(column, String())


def _local_days(selection: _Selection, name: str, column: Any, timezone: str) -> Cells:
    """A timestamp column as the calendar day in the account's time zone (periods.local_date),
    as ISO text. PostgreSQL converts in the query. SQLite has no time zones: its stored UTC
    text ("YYYY-MM-DD HH:MM:SS.ffffff") is read here, with the local days each UTC day spans
    worked out once per day (periods.local_days_of_utc_day), so a value needs only a
    comparison of its time of day (local days begin on whole seconds)."""
    if selection.dialect == "postgresql":
        local = func.timezone(timezone, func.timezone("UTC", column))
        return _as_is(selection.add(name, func.to_char(local, "YYYY-MM-DD")))
    key = selection.add(name, _raw(column))
    # UTC day → (local day from UTC midnight, then (time of day it changes, local day) …).
    spans: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}

    def span(utc_day: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        (_, first), *rest = periods.local_days_of_utc_day(date.fromisoformat(utc_day), timezone)
        found = spans[utc_day] = (
            first.isoformat(),
            tuple((begins.strftime("%H:%M:%S"), day.isoformat()) for begins, day in rest),
        )
        return found

    def cells(values: Mapping[str, Sequence[Any]], associated: Associated) -> list[str | None]:
        days: list[str | None] = []
        for value in values[key]:
            if value is None:
                days.append(None)
                continue
            day, changes = spans.get(value[:10]) or span(value[:10])
            clock = value[11:19]
            for begins, later in changes:
                if clock >= begins:
                    day = later
            days.append(day)
        return days

    return cells


def _money(selection: _Selection, column: Any) -> Cells:
    amount = selection.add(column.key, column)
    currency = selection.add("currency", selection.model.currency)
    return lambda values, associated: MoneyColumn(values[amount], values[currency])


_BOOLEAN_TEXT = {True: "true", False: "false"}


def _custom_reader(
    selection: _Selection,
    account_id: int,
    definition: PropertyDefinition,
    view_sensitive: bool,
    timezone: str,
) -> _Reader:
    """A custom property's column, from its value row joined by (record ID, name)."""
    model = selection.model
    value = selection.joined(
        f"value_{definition.name}",
        PropertyValue,
        lambda target: and_(
            target.object_id == model.id,
            target.name == definition.name,
            target.account_id == account_id,
        ),
        record_id=lambda target: target.object_id,
    )
    name = CUSTOM_PREFIX + definition.name
    if definition.sensitive and not view_sensitive:
        present, mask = selection.add(name, value.object_id), str(property_service.MASKED)
        return _Reader(
            "text",
            lambda values, associated: [None if v is None else mask for v in values[present]],
        )
    field_type = definition.field_type
    if field_type == "number":  # its exact canonical decimal text (see properties.service)
        return _Reader("number", _as_is(selection.add(name, value.text_value)))
    if field_type == "date":
        return _Reader("date", _as_is(selection.add(name, _raw(value.date_value))))
    if field_type == "datetime":
        return _Reader("date", _local_days(selection, name, value.datetime_value, timezone))
    if field_type == "boolean":
        flag = selection.add(name, value.bool_value)
        return _Reader(
            "text",
            lambda values, associated: [
                None if v is None else _BOOLEAN_TEXT[bool(v)] for v in values[flag]
            ],
        )
    # Text, choices, and checkboxes (stored joined by ";", as the file joins a list).
    return _Reader("text", _as_is(selection.add(name, value.text_value)))


def _association_reader(column: ExportColumn) -> _Reader:
    kind, index = column.association or "", 0 if column.kind == "ids" else 1

    def cells(values: Mapping[str, Sequence[Any]], associated: Associated) -> list[str | None]:
        return [
            ASSOCIATION_SEPARATOR.join(pair[index] for pair in associated[i][kind]) or None
            for i in values["id"]
        ]

    return _Reader("text", cells)


def _reader(
    selection: _Selection,
    column: ExportColumn,
    custom: Mapping[str, PropertyDefinition],
    account_id: int,
    timezone: str,
    view_sensitive: bool,
) -> _Reader:
    """How one column of the file is read (decided once per export)."""
    model, kind, key = selection.model, column.kind, column.key
    if column.association is not None:
        if model is Subscription:
            # A subscription's billing contact and company come first in its associations.
            selection.add("contact_id", model.contact_id)
            selection.add("company_id", model.company_id)
        return _association_reader(column)
    if kind == "custom":
        return _custom_reader(selection, account_id, custom[key], view_sensitive, timezone)
    if kind == "contact":
        contact = selection.joined(
            "billing_contact", Contact, lambda target: target.id == model.contact_id
        )
        return _Reader("text", _as_is(selection.add("contact", display_name_sql(contact))))
    if kind == "company":
        company = selection.joined(
            "billing_company", Company, lambda target: target.id == model.company_id
        )
        return _Reader("text", _as_is(selection.add("company", company.name)))
    if kind in ("amount", "money"):
        return _Reader(
            "money",
            _money(
                selection, model.recurring_amount if kind == "amount" else model.__table__.c[key]
            ),
        )
    table_column = model.__table__.c[key]
    if kind == "datetime":
        return _Reader("date", _local_days(selection, key, table_column, timezone))
    if kind == "date":
        return _Reader("date", _as_is(selection.add(key, _raw(table_column))))
    if kind == "number":
        return _Reader("number", _as_is(selection.add(key, table_column)))
    # Text and names; enums and statuses as the API names them (values are not translated).
    return _Reader("text", _as_is(selection.add(key, table_column)))


def _names(session: Session, kind: str, account_id: int, ids: set[str]) -> dict[str, str]:
    """The names of records of one type by ID."""
    if not ids:
        return {}
    model = _RECORD_MODELS[kind]
    name = display_name_sql(model) if kind == "contact" else model.name
    found: dict[str, str] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), BATCH_SIZE):
        rows = session.execute(
            select(model.id, name).where(
                model.account_id == account_id,
                model.id.in_(wanted[start : start + BATCH_SIZE]),
            )
        )
        found.update((record_id, str(text)) for record_id, text in rows)
    return found


def _associations(
    session: Session,
    account_id: int,
    object_type: str,
    values: Mapping[str, Sequence[Any]],
    cap: int | None,
) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """For each record of a batch (its selected `values`): its associated records per type as
    (ID, name), direct links first (a subscription's billing contact and company, a contact's
    subscriptions and deals), then association rows in the order they were made; at most
    `cap` per type."""
    ids = list(values["id"])
    wanted = ASSOCIATED_TYPES[object_type]
    linked: dict[str, dict[str, list[str]]] = {i: {t: [] for t in wanted} for i in ids}

    def add(own: str, kind: str, other: str | None) -> None:
        if other and kind in wanted:
            found = linked[own][kind]
            if other not in found:
                found.append(other)

    if object_type == "subscriptions":
        for own, contact_id, company_id in zip(
            ids, values["contact_id"], values["company_id"], strict=True
        ):
            add(own, "contact", contact_id)
            add(own, "company", company_id)
    else:
        own_column = (
            Subscription.contact_id if object_type == "contacts" else (Subscription.company_id)
        )
        deal_column = Deal.contact_id if object_type == "contacts" else Deal.company_id
        for model, column, kind in (
            (Subscription, own_column, "subscription"),
            (Deal, deal_column, "deal"),
        ):
            direct = session.execute(
                select(column, model.id)
                .where(model.account_id == account_id, column.in_(ids))
                .order_by(model.id)
            )
            for own, other in direct:
                if own is not None:
                    add(own, kind, other)
    rows = session.execute(
        select(Association.from_id, Association.from_type, Association.to_id, Association.to_type)
        .where(
            Association.account_id == account_id,
            or_(Association.from_id.in_(ids), Association.to_id.in_(ids)),
        )
        .order_by(Association.id)
    )
    for from_id, from_type, to_id, to_type in rows:
        if from_id in linked:
            add(from_id, to_type, to_id)
        if to_id in linked:
            add(to_id, from_type, from_id)

    if cap is not None:
        for per_type in linked.values():
            for kind in per_type:
                del per_type[kind][cap:]
    names: dict[str, dict[str, str]] = {}
    for kind in wanted:
        other_ids = {i for per_type in linked.values() for i in per_type[kind]}
        names[kind] = _names(session, kind, account_id, other_ids)
    return {
        own: {
            kind: [(i, names[kind][i]) for i in others if i in names[kind]]
            for kind, others in per_type.items()
        }
        for own, per_type in linked.items()
    }


# --- the worker ---------------------------------------------------------------------------------


def _waiting(now: datetime) -> ColumnElement[bool]:
    """Queued jobs, and running ones whose worker died (its lease ran out)."""
    return or_(
        Export.status == "queued",
        and_(Export.status == "running", Export.lease_until < now),
    )


def _claim(session_factory: Callable[[], Session], now: datetime) -> str | None:
    # A read first: the worker passes every few seconds, and should not take SQLite's write
    # lock each time to find nothing.
    with session_factory() as session:
        if session.scalar(select(Export.id).where(_waiting(now)).limit(1)) is None:
            return None
    with session_factory() as session:
        begin_write(session)
        export = session.scalars(
            select(Export)
            .where(_waiting(now))
            .order_by(Export.created_at, Export.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if export is None:
            return None
        if export.status == "running":  # its worker died mid-run: that run was an attempt
            export.attempts += 1
            if export.attempts >= MAX_ATTEMPTS:
                _fail(export, "The export was interrupted too many times.", now)
                session.commit()
                return export.id
        export.status = "running"
        export.lease_until = now + LEASE
        export.started_at = export.started_at or now
        export.progress = 0
        export.row_count = 0
        session.commit()
        return export.id


def _fail(export: Export, error: str, now: datetime) -> None:
    export.status = "failed"
    export.error = error[:500]
    export.finished_at = now
    export.lease_until = None


def _may_view_sensitive(session: Session, export: Export) -> bool:
    """Whether the requester may read sensitive properties (masked in the file otherwise)."""
    granted: set[str] = set()
    if export.requested_by_user_id is not None:
        user = session.get(User, export.requested_by_user_id)
        granted = set(user.permissions or []) if user else set()
    elif export.requested_by_api_key_id is not None:
        key = session.get(ApiKey, export.requested_by_api_key_id)
        granted = set(key.scopes or []) if key else set()
    return grants(granted, property_service.VIEW_SENSITIVE)


def file_name(export: Export, account: Account, finished: datetime) -> str:
    day = periods.local_date(finished, account.timezone).isoformat()
    return f"{export.object_type}-{day}-{export.id}.{_FILE_EXTENSIONS[export.format]}"


def _build(
    session_factory: Callable[[], Session], export_id: str, files_dir: str, now: datetime | None
) -> None:
    with session_factory() as session:
        export = session.get(Export, export_id)
        assert export is not None
        account = session.get(Account, export.account_id)
        assert account is not None
        catalog = _catalog(export.object_type)
        definitions = catalog.custom_definitions(session, export.account_id)
        columns = export_columns(export, catalog, definitions)
        view_sensitive = _may_view_sensitive(session, export)
        model = catalog.model
        selection = _Selection(model, session.get_bind().dialect.name)
        custom = {CUSTOM_PREFIX + d.name: d for d in definitions}
        readers = [
            _reader(selection, c, custom, export.account_id, account.timezone, view_sensitive)
            for c in columns
        ]
        wants_associations = any(c.association for c in columns)
        cap = None if export.associations_limit == "all" else ASSOCIATIONS_CAP
        condition: ColumnElement[bool] = catalog.compile_filters(
            session, export.account_id, parse_filter_groups(export.filter_groups or [])
        )
        if export.query:
            condition = and_(condition, catalog.text_search(export.query, export.account_id))
        total = int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)
        sort = export.sorts[0] if export.sorts else None
        keys = (
            sort_keys(
                Sort.model_validate(sort),
                catalog.sort_spec,
                {d.name: d.field_type for d in definitions},
            )
            if sort
            else []
        )
        descending = sort is not None and sort["direction"] == "desc"
        names = list(selection.expressions)
        # The reading session only reads (its transaction ends after every batch, so it never
        # holds an old snapshot); the job's progress is written in short transactions of its
        # own: on SQLite a read transaction that later writes fails if another writer
        # committed in between.
        # Kept as they are now, apart from the session (a rollback would expire them).
        session.expunge(export)
        session.expunge(account)
        session.rollback()
        _record(session_factory, export_id, total_rows=total, lease_until=_lease_end(now))

        folder = f"exports/{export.account_id}"
        (Path(files_dir) / folder).mkdir(parents=True, exist_ok=True)
        relative = f"{folder}/{export.id}.{_FILE_EXTENSIONS[export.format]}"
        final = Path(files_dir) / relative
        partial = Path(files_dir) / folder / f"{export.id}.part"
        writer = open_writer(export.format, str(partial), [r.cell_type for r in readers])
        try:
            writer.write_header([c.header for c in columns])
            cursor: str | None = None
            last_id: str | None = None
            written = 0
            while True:
                rows: Sequence[Any]
                if keys:
                    # The view's order: a page of IDs in that order, then their rows.
                    page = find_page(
                        session,
                        select(model.id).where(condition),
                        keys=keys,
                        id_column=model.id,
                        descending=descending,
                        limit=BATCH_SIZE,
                        after=cursor,
                        signature="export",
                    )
                    cursor, done = page.next_cursor, page.next_cursor is None
                    position = {record_id: i for i, record_id in enumerate(page.rows)}
                    ids = page.rows
                    rows = sorted(
                        session.connection().execute(selection.statement(_among(ids)))
                        if ids
                        else (),
                        key=lambda row: position[row[0]],
                    )
                else:
                    # No sort asked for: ID order, straight from the connection.
                    batch = selection.statement(_after(last_id)).where(condition)
                    rows = (
                        session.connection()
                        .execute(batch.order_by(model.id).limit(BATCH_SIZE))
                        .all()
                    )
                    done = len(rows) < BATCH_SIZE
                    last_id = rows[-1][0] if rows else None
                if rows:
                    values = dict(zip(names, zip(*rows, strict=True), strict=True))
                    associated = (
                        _associations(session, export.account_id, export.object_type, values, cap)
                        if wants_associations
                        else {}
                    )
                    writer.write_batch([r.cells(values, associated) for r in readers])
                    written += len(rows)
                session.expunge_all()
                session.rollback()
                # Progress, and a renewed lease: the job is still this worker's.
                _record(
                    session_factory,
                    export_id,
                    row_count=written,
                    progress=min(99, written * 100 // total) if total else 99,
                    lease_until=_lease_end(now),
                )
                if done:
                    break
            writer.close()
        except BaseException:
            _close_quietly(writer)
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, final)  # atomic: the file is there whole, or not at all

    size = final.stat().st_size
    finished = now or clock.real_now()
    with session_factory() as session:
        begin_write(session)
        export = session.get(Export, export_id)
        assert export is not None
        export.status = "succeeded"
        export.progress = 100
        export.row_count = written
        export.size_bytes = size
        export.file_path = relative
        export.file_name = file_name(export, account, finished)
        export.finished_at = finished
        export.expires_at = finished + KEEP_FOR
        export.lease_until = None
        export.error = None
        outbox.emit(
            session,
            account_id=export.account_id,
            type=EventType.EXPORT_SUCCEEDED,
            dedup_key=f"export.succeeded:{export.id}",
            payload={"export_id": export.id},
            at=finished,
        )
        session.commit()


def _lease_end(now: datetime | None) -> datetime:
    return (now or clock.real_now()) + LEASE


def _record(session_factory: Callable[[], Session], export_id: str, **values: Any) -> None:
    """Write how far a job got, in a transaction of its own."""
    with session_factory() as session:
        begin_write(session)
        session.execute(update(Export).where(Export.id == export_id).values(**values))
        session.commit()


def _close_quietly(writer: Any) -> None:
    try:
        writer.close()
    except Exception:  # the file is deleted anyway; the first error is the one to report
        logger.debug("closing a failed export's file failed", exc_info=True)


def run_next(
    session_factory: Callable[[], Session], *, files_dir: str, now: datetime | None = None
) -> str | None:
    """Build the next queued export (or one whose worker died); returns its ID, or None when
    nothing is waiting. A failure puts the job back in the queue until it failed
    `MAX_ATTEMPTS` times; it never raises."""
    export_id = _claim(session_factory, now or clock.real_now())
    if export_id is None:
        return None
    try:
        _build(session_factory, export_id, files_dir, now)
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        with session_factory() as session:
            begin_write(session)
            export = session.get(Export, export_id)
            if export is not None and export.status == "running":
                export.attempts += 1
                export.lease_until = None
                if export.attempts >= MAX_ATTEMPTS:
                    _fail(export, f"The export failed: {exc}", now or clock.real_now())
                else:
                    export.status = "queued"
                session.commit()
    return export_id


def run_all(
    session_factory: Callable[[], Session], *, files_dir: str, now: datetime | None = None
) -> int:
    """Run exports until none is waiting; returns how many runs there were."""
    runs = 0
    while run_next(session_factory, files_dir=files_dir, now=now) is not None:
        runs += 1
    return runs


# --- expiry -------------------------------------------------------------------------------------


def purge_expired_files(
    session: Session, *, now: datetime, limit: int, files_dir: str | None = None
) -> int:
    """Delete the files of up to `limit` exports past their expiry; the export rows stay (the
    Exports page lists them as expired). Returns how many were deleted."""
    if files_dir is None:
        from cadency.config import load_settings

        files_dir = load_settings().files_dir
    expired = list(
        session.scalars(
            select(Export)
            .where(Export.file_path.is_not(None), Export.expires_at <= now)
            .order_by(Export.expires_at, Export.id)
            .limit(limit)
        )
    )
    for export in expired:
        assert export.file_path is not None
        (Path(files_dir) / export.file_path).unlink(missing_ok=True)
        export.file_path = None
        export.file_deleted_at = now
    session.flush()
    return len(expired)
