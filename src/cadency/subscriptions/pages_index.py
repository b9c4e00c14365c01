"""The subscriptions index: tabs (All, Unpaid, Scheduled, then saved views), quick filters
(Status, Next billing date), advanced filters in the one filter language, a search box,
sortable and choosable columns, and keyset pagination.

Everything the page shows is in its URL, so a link can be shared and the back button works:
`view` (the tab), `q`, `status` (repeated), `next_billing` (+ `next_billing_from`/`_to`),
`advanced=1` with `filter_groups.<g>.filters.<f>.property|operator|value|values|high_value`
(the API's dotted names), `columns` (repeated, in order), `sort` and `direction`, `limit`, and
`after`/`before` cursors. Parameters left out take the tab's own filters, columns and sort.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from cadency.crm.models import Company, Contact
from cadency.exports import pages as export_pages
from cadency.kit import periods
from cadency.kit.errors import APIError, InvalidRequest
from cadency.kit.filters import Sort, parse_filter_groups
from cadency.kit.i18n import N_
from cadency.kit.repository import owned_by_id
from cadency.properties import service as property_service
from cadency.properties.forms import display_value
from cadency.properties.models import PropertyDefinition
from cadency.properties.service import MaskedValue
from cadency.subscriptions import repository
from cadency.subscriptions.display import BADGE_LABELS, badge
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.schemas import STATUSES
from cadency.views import service as view_service
from cadency.views.catalogs import (
    CUSTOM_PREFIX,
    SUBSCRIPTIONS,
    Column,
    FilterProperty,
)
from cadency.views.filter_form import (
    editor_context,
    filter_rows,
    read_filter_groups,
    text_of,
)
from cadency.views.listing import (
    PAGE_SIZES,
    count_capped,
    find_page,
    sort_keys,
)
from cadency.views.models import SavedView
from cadency.web.auth import PageContext, page_requires
from cadency.web.templating import render

router = APIRouter(include_in_schema=False)
CATALOG = SUBSCRIPTIONS
DEFAULT_LIMIT = PAGE_SIZES[0]

NEXT_BILLING_OPTIONS = {
    "today": N_("Today"),
    "next_7_days": N_("Next 7 days"),
    "next_30_days": N_("Next 30 days"),
    "this_month": N_("This month"),
    "custom": N_("Custom range"),
}


# --- what the URL asks for -------------------------------------------------------------------


@dataclass
class Base:
    """What a tab shows before the user changes anything."""

    filter_groups: list[dict[str, Any]]
    columns: list[str]
    sort: str
    direction: str
    query: str | None
    view: SavedView | None = None


@dataclass
class IndexState:
    view: str
    base: Base
    query: str | None
    statuses: list[str]
    next_billing: str | None
    billing_from: str
    billing_to: str
    filter_groups: list[dict[str, Any]]
    columns: list[str]
    sort: str
    direction: str
    limit: int
    after: str | None = None
    before: str | None = None
    position: int = 1

    @property
    def quick_filters_set(self) -> bool:
        return bool(self.statuses or self.next_billing)

    @property
    def filters_edited(self) -> bool:
        return _canonical(self.filter_groups) != _canonical(self.base.filter_groups)

    @property
    def changed(self) -> bool:
        """The page shows something other than its tab: a save would keep something new."""
        base = self.base
        return self.quick_filters_set or (
            _canonical(self.filter_groups),
            self.columns,
            self.sort,
            self.direction,
            self.query,
        ) != (_canonical(base.filter_groups), base.columns, base.sort, base.direction, base.query)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The URL parameters of this state (with `changes`), leaving out what the tab says."""
        s = {**self.__dict__, **changes}
        base: Base = s["base"]
        out: list[tuple[str, str]] = [("view", s["view"])]
        if s["query"] != base.query:
            out.append(("q", s["query"] or ""))
        out += [("status", status) for status in s["statuses"]]
        if s["next_billing"]:
            out.append(("next_billing", s["next_billing"]))
            if s["next_billing"] == "custom":
                out += [
                    ("next_billing_from", s["billing_from"]),
                    ("next_billing_to", s["billing_to"]),
                ]
        if _canonical(s["filter_groups"]) != _canonical(base.filter_groups):
            out.append(("advanced", "1"))
            out += _filter_params(s["filter_groups"])
        if s["columns"] != base.columns:
            out += [("columns", key) for key in s["columns"]]
        if (s["sort"], s["direction"]) != (base.sort, base.direction):
            out += [("sort", s["sort"]), ("direction", s["direction"])]
        if s["limit"] != DEFAULT_LIMIT:
            out.append(("limit", str(s["limit"])))
        for name in ("after", "before"):
            if s[name]:
                out.append((name, s[name]))
        if s["position"] != 1 and (s["after"] or s["before"]):
            out.append(("position", str(s["position"])))
        return out

    def url(self, **changes: Any) -> str:
        changes.setdefault("after", None)
        changes.setdefault("before", None)
        changes.setdefault("position", 1)
        return CATALOG.path + "?" + urlencode(self.params(**changes))


def _canonical(groups: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(groups, sort_keys=True)


def _filter_params(groups: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for g, group in enumerate(groups):
        for f, item in enumerate(group.get("filters", [])):
            prefix = f"filter_groups.{g}.filters.{f}."
            out.append((prefix + "property", str(item.get("property", ""))))
            out.append((prefix + "operator", str(item.get("operator", ""))))
            for key in ("value", "high_value"):
                if item.get(key) is not None:
                    out.append((prefix + key, text_of(item[key])))
            for value in item.get("values") or []:
                out.append((prefix + "values", text_of(value)))
            if item.get("filter_groups"):
                out.append((prefix + "filter_groups", json.dumps(item["filter_groups"])))
    return out


def _base_for(page: PageContext, view_id: str, views: Sequence[SavedView]) -> tuple[str, Base]:
    default_sort, default_direction = CATALOG.default_sort
    for tab in CATALOG.tabs:
        if tab.id == view_id:
            return view_id, Base(
                [dict(g) for g in tab.filter_groups],
                list(CATALOG.default_columns),
                default_sort,
                default_direction,
                None,
            )
    for view in views:
        if view.id == view_id:
            return view_id, Base(
                list(view.filter_groups or []),
                list(view.columns or CATALOG.default_columns),
                view.sort_property or default_sort,
                view.sort_direction or default_direction,
                view.query,
                view,
            )
    # Unknown here: 404 for a view the user may not see, like any record.
    view = view_service.get_view(page.session, page.user, view_id)
    return _base_for(page, view.id, [view])


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def read_state(
    page: PageContext,
    params: QueryParams,
    views: Sequence[SavedView],
    properties: Sequence[FilterProperty],
) -> IndexState:
    view_id, base = _base_for(page, params.get("view") or "all", views)
    if params.get("advanced"):
        groups = read_filter_groups(params, properties, page.account.timezone)
    else:
        groups = base.filter_groups
    # The record's name always comes first (it links to the record); each column once.
    asked = [c for c in params.getlist("columns") if c] or base.columns
    columns = list(dict.fromkeys([CATALOG.primary_column, *asked]))
    sort = params.get("sort") or base.sort
    direction = params.get("direction") or base.direction
    limit = _int(params.get("limit"), DEFAULT_LIMIT)
    next_billing = params.get("next_billing") or None
    return IndexState(
        view=view_id,
        base=base,
        query=(params["q"].strip() or None) if "q" in params else base.query,
        statuses=[s for s in params.getlist("status") if s],
        next_billing=next_billing if next_billing in NEXT_BILLING_OPTIONS else None,
        billing_from=(params.get("next_billing_from") or "").strip(),
        billing_to=(params.get("next_billing_to") or "").strip(),
        filter_groups=groups,
        columns=columns,
        sort=sort,
        direction=direction if direction in ("asc", "desc") else "asc",
        limit=limit if limit in PAGE_SIZES else DEFAULT_LIMIT,
        after=params.get("after") or None,
        before=params.get("before") or None,
        position=max(1, _int(params.get("position"), 1)),
    )


# --- quick filters, in the filter language -----------------------------------------------------


def billing_range(state: IndexState, today: date) -> tuple[date | None, date | None]:
    """The Next billing date quick filter as dates (both ends included), relative to the
    account's today; a custom range may leave either end open."""
    option = state.next_billing
    if option == "today":
        return today, today
    if option == "next_7_days":
        return today, today + timedelta(days=6)
    if option == "next_30_days":
        return today, today + timedelta(days=29)
    if option == "this_month":
        return today.replace(day=1), periods.add_months(today.replace(day=1), 1) - timedelta(1)
    if option == "custom":
        low = _date(state.billing_from, "next_billing_from")
        high = _date(state.billing_to, "next_billing_to")
        if low and high and high < low:
            raise InvalidRequest(
                N_("The end of the date range is before its start."), param="next_billing_to"
            )
        return low, high
    return None, None


def _date(text: str, param: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            N_("Enter the date as year-month-day, for example 2026-03-01."), param=param
        ) from exc


def quick_filters(state: IndexState, today: date) -> list[dict[str, Any]]:
    """Status and Next billing date as filters of the filter language (ANDed to every
    group of the advanced filters)."""
    status_property = CATALOG.quick_filters["status"]
    date_property = CATALOG.quick_filters["date"]
    filters: list[dict[str, Any]] = []
    if state.statuses:
        filters.append({"property": status_property, "operator": "in", "values": state.statuses})
    low, high = billing_range(state, today)
    if low and high:
        filters.append(
            {
                "property": date_property,
                "operator": "between",
                "value": low.isoformat(),
                "high_value": high.isoformat(),
            }
        )
    elif low:
        filters.append({"property": date_property, "operator": "gte", "value": low.isoformat()})
    elif high:
        filters.append({"property": date_property, "operator": "lte", "value": high.isoformat()})
    return filters


def effective_filter_groups(state: IndexState, today: date) -> list[dict[str, Any]]:
    """The advanced filters with the quick filters added to each group: what the table shows
    and what "Save view" keeps."""
    quick = quick_filters(state, today)
    if not quick:
        return [dict(g) for g in state.filter_groups]
    if not state.filter_groups:
        return [{"filters": quick}]
    return [{"filters": [*g["filters"], *quick]} for g in state.filter_groups]


# --- cells -------------------------------------------------------------------------------------


@dataclass
class Cell:
    kind: str
    text: str = ""
    detail: str = ""
    badge: str = ""
    href: str = ""


def _cell(
    page: PageContext,
    column: Column,
    sub: Subscription,
    contacts: Mapping[str, Contact],
    companies: Mapping[str, Company],
    values: Mapping[str, Any],
    definitions: Mapping[str, PropertyDefinition],
) -> Cell:
    fmt, kind = page.fmt, column.kind
    if kind == "name":
        return Cell("name", sub.name, href=f"/subscriptions/{sub.id}")
    if kind == "badge":
        key, label = badge(sub)
        return Cell("badge", page.gettext(label), badge=key)
    if kind == "contact":
        contact = contacts.get(sub.contact_id)
        if contact is None:
            return Cell("text", "—")
        detail = contact.email if contact.display_name != contact.email else ""
        return Cell("contact", contact.display_name, detail, href=f"/contacts/{contact.id}")
    if kind == "company":
        company = companies.get(sub.company_id or "")
        return Cell("text", company.name if company else "—")
    if kind == "custom":
        return _custom_cell(page, definitions.get(column.key.removeprefix(CUSTOM_PREFIX)), values)
    value = getattr(sub, "recurring_amount" if kind == "amount" else column.key)
    if kind in ("amount", "money"):
        return Cell("num", fmt.money(value, sub.currency))
    if kind == "date":
        return Cell("text", fmt.date(value))
    if kind == "datetime":
        local = periods.local_date(value, page.account.timezone) if value else None
        return Cell("text", fmt.date(local))
    if kind == "number":
        return Cell("num", fmt.number(value))
    if kind == "enum":
        labels = CATALOG.value_labels.get(column.key, {})
        return Cell("text", page.gettext(labels[value]) if value in labels else (value or "—"))
    return Cell("text", "—" if value is None else str(value))


def _custom_cell(
    page: PageContext, definition: PropertyDefinition | None, values: Mapping[str, Any]
) -> Cell:
    if definition is None:
        return Cell("text", "—")
    value = values.get(definition.name)
    if value is None or value == [] or value == "":
        return Cell("text", "—")
    if isinstance(value, MaskedValue):
        return Cell("text", value)
    if definition.field_type == "boolean":
        return Cell("text", page.gettext("Yes") if value else page.gettext("No"))
    if definition.field_type == "date":
        return Cell("text", page.fmt.date(date.fromisoformat(value)))
    if definition.field_type == "datetime":
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return Cell("text", page.fmt.datetime(moment, page.account.timezone, "short"))
    if definition.field_type == "number":
        return Cell("num", str(value))
    return Cell("text", display_value(definition, value))


# --- the page ----------------------------------------------------------------------------------


@dataclass
class Listing:
    rows: list[dict[str, Any]]
    next_url: str | None
    previous_url: str | None
    first: int
    last: int
    total: int
    more: bool


def _label(page: PageContext, column: Column) -> str:
    return page.gettext(column.label) if column.translate else column.label


def table_rows(
    page: PageContext,
    subscriptions: Sequence[Subscription],
    columns: Sequence[Column],
    definitions: Sequence[PropertyDefinition],
) -> list[dict[str, Any]]:
    """The table's rows for these subscriptions: one cell per column, with the contacts,
    companies and custom property values the columns need read in one query each."""
    session, account = page.session, page.account
    keys_shown = {c.key for c in columns}
    contacts = (
        owned_by_id(session, Contact, account.id, [s.contact_id for s in subscriptions])
        if "contact" in keys_shown
        else {}
    )
    companies = (
        owned_by_id(session, Company, account.id, [s.company_id for s in subscriptions])
        if "company" in keys_shown
        else {}
    )
    wants_values = any(c.kind == "custom" for c in columns)
    values = (
        property_service.get_values(
            session,
            account.id,
            CATALOG.object_type,
            [s.id for s in subscriptions],
            view_sensitive=page.allows(property_service.VIEW_SENSITIVE),
        )
        if wants_values and subscriptions
        else {}
    )
    by_name = {d.name: d for d in definitions}
    rows = [
        {
            "id": sub.id,
            "href": f"/subscriptions/{sub.id}",
            "cells": [
                _cell(page, c, sub, contacts, companies, values.get(sub.id, {}), by_name)
                for c in columns
            ],
        }
        for sub in subscriptions
    ]
    return rows


def _listing(
    page: PageContext,
    state: IndexState,
    groups: list[dict[str, Any]],
    columns: Sequence[Column],
    definitions: Sequence[PropertyDefinition],
) -> Listing:
    session, account = page.session, page.account
    parsed = parse_filter_groups(groups)
    property_service.check_filterable(
        session,
        account.id,
        CATALOG.object_type,
        parsed,
        [Sort(property=state.sort, direction=state.direction)],
        view_sensitive=page.allows(property_service.VIEW_SENSITIVE),
    )
    condition = CATALOG.compile_filters(session, account.id, parsed)
    if state.query:
        condition = condition & CATALOG.text_search(state.query, account.id)
    custom_types = {d.name: d.field_type for d in definitions}
    keys = sort_keys(
        Sort(property=state.sort, direction=state.direction),
        CATALOG.sort_spec,
        custom_types,
    )
    model = CATALOG.model
    found = find_page(
        session,
        repository.matching(condition),
        keys=keys,
        id_column=model.id,
        descending=state.direction == "desc",
        limit=state.limit,
        after=state.after,
        before=state.before,
        signature=f"{state.sort}:{state.direction}",
        few=bool(state.query),  # a search box's matches are few
    )
    subscriptions: list[Subscription] = found.rows
    if found.next_cursor is None and found.previous_cursor is None:
        total, more = len(subscriptions), False  # everything fits on this page: no count
    else:
        total, more = count_capped(session, condition, model.id)

    rows = table_rows(page, subscriptions, columns, definitions)
    first = state.position
    if state.before and found.previous_cursor is None:
        first = 1  # went back to the beginning, whatever the link said
    last = first + len(rows) - 1
    return Listing(
        rows=rows,
        next_url=state.url(after=found.next_cursor, position=last + 1)
        if found.next_cursor
        else None,
        previous_url=state.url(before=found.previous_cursor, position=max(1, first - state.limit))
        if found.previous_cursor
        else None,
        first=first,
        last=last,
        total=total,
        more=more,
    )


@router.get("/subscriptions")
def index(
    request: Request, page: PageContext = Depends(page_requires(CATALOG.permission))
) -> Response:
    """The subscriptions index (see the module docstring for its URL)."""
    session = page.session
    views = view_service.visible_views(session, page.user, CATALOG.object_type)
    definitions = CATALOG.custom_definitions(session, page.account.id)
    properties = CATALOG.filter_properties(definitions)
    state = read_state(page, request.query_params, views, properties)
    all_columns = CATALOG.all_columns(definitions)
    if not page.allows(property_service.VIEW_SENSITIVE):
        # Its values show masked, and sorting by them would tell their order.
        for d in definitions:
            if d.sensitive:
                key = CUSTOM_PREFIX + d.name
                all_columns[key] = replace(all_columns[key], sort_property=None)
    # A custom property deleted since a view was saved just leaves its column out.
    state.columns = [
        k for k in state.columns if k in all_columns or not k.startswith(CUSTOM_PREFIX)
    ]
    today = page.today

    error: str | None = None
    error_status = 422
    listing: Listing | None = None
    groups: list[dict[str, Any]] = []
    shown = [all_columns[k] for k in state.columns if k in all_columns]
    try:
        unknown = [k for k in state.columns if k not in all_columns]
        if unknown:
            raise InvalidRequest(
                page.gettext("Unknown column: '%(column)s'") % {"column": unknown[0]},
                param="columns",
            )
        for status in state.statuses:
            if status not in STATUSES:
                raise InvalidRequest(
                    page.gettext("Unknown status: '%(status)s'") % {"status": status},
                    param="status",
                )
        groups = effective_filter_groups(state, today)
        listing = _listing(page, state, groups, shown, definitions)
    except APIError as exc:
        # Bad filter input shows a message on the page (the filters stay to be fixed).
        error = page.gettext(exc.message)
        error_status = exc.status_code

    context = _context(page, state, views, properties, all_columns, shown, groups, today)
    context.update(listing=listing, error=error)
    return render(
        request,
        "subscriptions/index.html",
        context,
        status_code=error_status if error else 200,
    )


def _context(
    page: PageContext,
    state: IndexState,
    views: Sequence[SavedView],
    properties: Sequence[FilterProperty],
    all_columns: Mapping[str, Column],
    shown: Sequence[Column],
    groups: list[dict[str, Any]],
    today: date,
) -> dict[str, Any]:
    gettext = page.gettext
    tabs = [
        {"id": t.id, "label": gettext(t.label), "url": f"{CATALOG.path}?view={t.id}", "view": None}
        for t in CATALOG.tabs
    ] + [
        {"id": v.id, "label": v.name, "url": f"{CATALOG.path}?view={v.id}", "view": v}
        for v in views
    ]
    headers = []
    for column in shown:
        sorted_here = column.sort_property is not None and column.sort_property == state.sort
        direction = "desc" if sorted_here and state.direction == "asc" else "asc"
        headers.append(
            {
                "key": column.key,
                "label": _label(page, column),
                "num": column.kind in ("amount", "money", "number"),
                "url": state.url(sort=column.sort_property, direction=direction)
                if column.sort_property
                else None,
                "sorted": ("ascending" if state.direction == "asc" else "descending")
                if sorted_here
                else None,
            }
        )
    chosen = [k for k in state.columns if k in all_columns]
    column_choices = [
        {"key": k, "label": _label(page, all_columns[k]), "checked": True} for k in chosen
    ] + [
        {"key": k, "label": _label(page, c), "checked": False}
        for k, c in all_columns.items()
        if k not in chosen
    ]
    try:
        low, high = billing_range(state, today)
    except InvalidRequest:
        low = high = None
    current_view = state.base.view
    return {
        "state": state,
        "tabs": tabs,
        "current_view": current_view,
        "may_change_view": current_view is not None
        and view_service.may_change(page.user, current_view),
        "headers": headers,
        "column_choices": column_choices,
        "primary_column": CATALOG.primary_column,
        "statuses": [(s, gettext(BADGE_LABELS[s])) for s in STATUSES],
        "next_billing_options": [(k, gettext(v)) for k, v in NEXT_BILLING_OPTIONS.items()],
        "billing_low": low,
        "billing_high": high,
        "filter_rows": filter_rows(state.filter_groups),
        **editor_context(gettext, properties),
        "page_sizes": PAGE_SIZES,
        "save": {
            "filter_groups": json.dumps(groups),
            "columns": state.columns,
            "sort_property": state.sort,
            "sort_direction": state.direction,
            "query": state.query or "",
        },
        "can_create": page.allows("subscriptions.edit"),
        "can_export": page.allows("subscriptions.export"),
        "export_choices": export_pages.choices(page),
    }
