"""Web pages of segments: thin handlers that authorise, call the service and render.

Routes: GET /segments (the list: name, object type, member count, last change),
GET /segments/new?object_type= (an empty editor), POST /segments (save a new one),
GET /segments/{id} (the editor with the count and the members, paged by `after`/`before`),
POST /segments/{id} (save changes), POST /segments/{id}/delete, and POST /segments/count (the
editor's live member count of the filters as they stand, an htmx fragment). Reading needs
`subscriptions.view`, every change `subscriptions.edit` (web/sections.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.kit import periods
from cadency.kit.errors import APIError, InvalidRequest
from cadency.kit.filters import parse_filter_groups
from cadency.kit.i18n import N_
from cadency.properties import service as property_service
from cadency.properties.models import PropertyDefinition
from cadency.segments import service
from cadency.segments.models import Segment
from cadency.segments.schemas import OBJECT_TYPES, SegmentCreate, SegmentUpdate
from cadency.subscriptions.pages_index import table_rows
from cadency.views.catalogs import SUBSCRIPTIONS, Catalog, Column, FilterProperty
from cadency.views.filter_form import (
    editor_context,
    filter_rows,
    fold_related,
    read_filter_groups,
    related_properties,
    unfold_related,
)
from cadency.web.auth import PageContext
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, text
from cadency.web.sections import edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25

OBJECT_TYPE_LABELS = {
    "subscriptions": N_("Subscriptions"),
    "contacts": N_("Contacts"),
    "companies": N_("Companies"),
}


def _object_type(value: str | None) -> str:
    if value not in OBJECT_TYPES:
        raise InvalidRequest(
            N_("Choose subscriptions, contacts or companies."), param="object_type"
        )
    return value


# --- the members table -------------------------------------------------------------------------


def _crm_rows(page: PageContext, catalog: Catalog, records: Sequence[Any]) -> list[dict[str, Any]]:
    """Contacts or companies as table rows, in the catalog's default columns."""
    columns = [catalog.columns[k] for k in catalog.default_columns]
    rows = []
    for record in records:
        href = f"{catalog.path}/{record.id}"
        cells = []
        for column in columns:
            value = getattr(record, column.key, None)
            if column.kind == "datetime" and value is not None:
                shown = page.fmt.date(periods.local_date(value, page.account.timezone))
            else:
                shown = "—" if value in (None, "") else str(value)
            cell: dict[str, str] = {"kind": "text", "text": shown}
            if column.key == catalog.primary_column:
                cell = {"kind": "name", "text": shown, "href": href}
            cells.append(cell)
        rows.append({"id": record.id, "href": href, "cells": cells})
    return rows


def _members(
    page: PageContext,
    segment: Segment,
    catalog: Catalog,
    definitions: Sequence[PropertyDefinition],
    params: Any,
) -> dict[str, Any]:
    """One page of the segment's members, with links to the next and previous pages."""
    found = service.member_page(
        page.session,
        segment,
        limit=PAGE_SIZE,
        after=params.get("after") or None,
        before=params.get("before") or None,
    )
    columns: list[Column] = [catalog.columns[k] for k in catalog.default_columns]
    if catalog.object_type == "subscriptions":
        rows = table_rows(page, found.rows, columns, definitions)
    else:
        rows = _crm_rows(page, catalog, found.rows)

    def url(**cursor: str) -> str:
        return f"/segments/{segment.id}?{urlencode(cursor)}#members"

    return {
        "headers": [
            {"key": c.label, "label": page.gettext(c.label), "num": c.kind in ("amount", "money")}
            for c in columns
        ],
        "rows": rows,
        "next_url": url(after=found.next_cursor) if found.next_cursor else None,
        "previous_url": url(before=found.previous_cursor) if found.previous_cursor else None,
    }


# --- the editor --------------------------------------------------------------------------------


def _editor(
    request: Request,
    page: PageContext,
    *,
    object_type: str,
    segment: Segment | None,
    name: str,
    groups: list[dict[str, Any]],
    errors: FormErrors | None = None,
) -> Response:
    catalog = service.catalog_of(object_type)
    definitions = catalog.custom_definitions(page.session, page.account.id)
    properties = _filter_properties(page, catalog, definitions)
    count: int | None = None
    members: dict[str, Any] | None = None
    if segment is not None and not errors:
        try:
            count = service.member_count(page.session, segment)
            members = _members(page, segment, catalog, definitions, request.query_params)
        except APIError as exc:
            # A custom property the filters use was deleted since: say so, keep the editor.
            errors = {exc.param or "__all__": exc.message}
    context = {
        "segment": segment,
        "name": name,
        "object_type": object_type,
        "object_type_label": page.gettext(OBJECT_TYPE_LABELS[object_type]),
        "action": f"/segments/{segment.id}" if segment else "/segments",
        "filter_rows": filter_rows(unfold_related(groups) if _has_related(catalog) else groups),
        **editor_context(page.gettext, properties),
        "member_count": count,
        "count_error": None,
        "members": members,
        "errors": [page.gettext(m) for m in (errors or {}).values()],
        "can_edit": page.allows(service.EDIT_PERMISSION),
        "can_export": page.allows("subscriptions.export"),
    }
    status = 422 if errors else 200
    return render(request, "segments/editor.html", context, status_code=status)


def _form_state(page: PageContext, form: FormData, object_type: str) -> tuple[str, list[Any]]:
    """The name and filter groups an editor form sends (filters in the language's shape)."""
    catalog = service.catalog_of(object_type)
    definitions = catalog.custom_definitions(page.session, page.account.id)
    properties = _filter_properties(page, catalog, definitions)
    name = form.get("name")
    groups = read_filter_groups(form, properties, page.account.timezone)
    return (
        name if isinstance(name, str) else "",
        fold_related(groups) if _has_related(catalog) else groups,
    )


def _has_related(catalog: Catalog) -> bool:
    """Whether the object's filters offer "has a subscription where …" (contacts, companies)."""
    return "subscription" in catalog.spec.related


def _filter_properties(
    page: PageContext, catalog: Catalog, definitions: list[PropertyDefinition]
) -> list[FilterProperty]:
    """What the editor's rows offer: the object's properties, and for contacts and companies
    their subscriptions' properties too ("Subscription: Status")."""
    properties = catalog.filter_properties(definitions)
    if _has_related(catalog):
        subscription_definitions = SUBSCRIPTIONS.custom_definitions(page.session, page.account.id)
        properties += related_properties(
            page.gettext, SUBSCRIPTIONS.filter_properties(subscription_definitions)
        )
    return properties


@router.get("/segments")
def list_segments(request: Request, page: PageContext = Depends(reads("segments"))) -> Response:
    segments = service.all_segments(page.session, page.account.id)
    rows = [
        {
            "segment": s,
            "object_type": page.gettext(OBJECT_TYPE_LABELS.get(s.object_type, s.object_type)),
            "member_count": _count_or_none(page, s),
            "updated": page.fmt.date(periods.local_date(s.updated_at, page.account.timezone)),
        }
        for s in segments
    ]
    context = {
        "rows": rows,
        "object_types": [(t, page.gettext(label)) for t, label in OBJECT_TYPE_LABELS.items()],
        "can_edit": page.allows(service.EDIT_PERMISSION),
    }
    return render(request, "segments/list.html", context)


def _count_or_none(page: PageContext, segment: Segment) -> int | None:
    try:
        return service.member_count(page.session, segment)
    except APIError:
        return None  # its filters no longer compile; the segment's page says why


@router.get("/segments/new")
def new_segment(request: Request, page: PageContext = Depends(edits("segments"))) -> Response:
    object_type = _object_type(request.query_params.get("object_type") or "subscriptions")
    return _editor(request, page, object_type=object_type, segment=None, name="", groups=[])


@router.post("/segments")
async def create_segment(
    request: Request, page: PageContext = Depends(edits("segments"))
) -> Response:
    form = await request.form()
    object_type = _object_type(text(form, "object_type"))
    name, groups = _form_state(page, form, object_type)
    try:
        data = build(
            SegmentCreate,
            {"name": name or " ", "object_type": object_type, "filter_groups": groups},
        )
        segment = attempt(
            lambda: service.create_segment(
                page.session,
                page.account,
                data,
                user_id=page.user.id,
                view_sensitive=page.allows(property_service.VIEW_SENSITIVE),
            )
        )
    except FormInvalid as exc:
        return _editor(
            request,
            page,
            object_type=object_type,
            segment=None,
            name=name,
            groups=groups,
            errors=exc.errors,
        )
    page.session.commit()
    message = page.gettext("Saved the segment “%(name)s”.") % {"name": segment.name}
    return redirect(f"/segments/{segment.id}", flash=message)


@router.get("/segments/{segment_id}")
def show_segment(
    segment_id: str, request: Request, page: PageContext = Depends(reads("segments"))
) -> Response:
    segment = service.get_segment(page.session, page.account.id, segment_id)
    return _editor(
        request,
        page,
        object_type=segment.object_type,
        segment=segment,
        name=segment.name,
        groups=list(segment.filter_groups or []),
    )


@router.post("/segments/count")
async def count_members(
    request: Request, page: PageContext = Depends(reads("segments"))
) -> Response:
    """The number of records the editor's filters match as they stand, before saving."""
    form = await request.form()
    object_type = _object_type(text(form, "object_type"))
    _name, groups = _form_state(page, form, object_type)
    catalog = service.catalog_of(object_type)
    count: int | None = None
    error: str | None = None
    try:
        parsed = parse_filter_groups(groups)
        # Who matches a filter on a sensitive property would tell its values.
        property_service.check_filterable(
            page.session,
            page.account.id,
            object_type,
            parsed,
            view_sensitive=page.allows(property_service.VIEW_SENSITIVE),
        )
        condition = catalog.compile_filters(page.session, page.account.id, parsed)
        count = service.count_matching(page.session, catalog, condition)
    except APIError as exc:
        error = page.gettext(exc.message)
    context = {"member_count": count, "count_error": error}
    return render(request, "segments/count.html", context)


@router.post("/segments/{segment_id}")
async def update_segment(
    segment_id: str, request: Request, page: PageContext = Depends(edits("segments"))
) -> Response:
    segment = service.get_segment(page.session, page.account.id, segment_id)
    form = await request.form()
    name, groups = _form_state(page, form, segment.object_type)
    try:
        data = build(SegmentUpdate, {"name": name or " ", "filter_groups": groups})
        # The filters are replaced also when the form sends none (every row removed).
        data.model_fields_set.update({"name", "filter_groups"})
        attempt(
            lambda: service.update_segment(
                page.session,
                page.account,
                segment.id,
                data,
                view_sensitive=page.allows(property_service.VIEW_SENSITIVE),
            )
        )
    except FormInvalid as exc:
        page.session.rollback()
        segment = service.get_segment(page.session, page.account.id, segment_id)
        return _editor(
            request,
            page,
            object_type=segment.object_type,
            segment=segment,
            name=name,
            groups=groups,
            errors=exc.errors,
        )
    page.session.commit()
    message = page.gettext("Saved the changes to the segment “%(name)s”.") % {"name": segment.name}
    return redirect(f"/segments/{segment.id}", flash=message)


@router.post("/segments/{segment_id}/delete")
def delete_segment(
    segment_id: str, request: Request, page: PageContext = Depends(edits("segments"))
) -> Response:
    segment = service.delete_segment(page.session, page.account.id, segment_id)
    page.session.commit()
    message = page.gettext("Deleted the segment “%(name)s”.") % {"name": segment.name}
    return redirect("/segments", flash=message)
