"""Web pages of exports: thin handlers that authorise, call the service and render.

Routes: GET /exports (past exports, with status, rows, size and download), GET /exports/new
(the export form for a segment, a saved view or a whole list: `object_type`, `segment_id`,
`view_id`), POST /exports (queue an export; the subscriptions index's Export dialog posts what
the page shows), and GET /exports/{id}/download (the link of the "export ready" email: a
signed-in user of the account with the export permission; 410 once the file expired).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.datastructures import FormData

from cadency.exports import service
from cadency.exports.models import Export
from cadency.kit import clock, periods
from cadency.kit.errors import APIError, InvalidRequest
from cadency.kit.i18n import N_
from cadency.properties.service import VIEW_SENSITIVE
from cadency.segments.models import Segment
from cadency.views.models import SavedView
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
requires_export = page_requires(service.EXPORT_PERMISSION)

OBJECT_LABELS = {
    "subscriptions": N_("Subscriptions"),
    "contacts": N_("Contacts"),
    "companies": N_("Companies"),
}
STATUS_LABELS = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "succeeded": N_("Ready"),
    "failed": N_("Failed"),
}
FORMAT_LABELS = {"csv": N_("CSV"), "xlsx": N_("Excel (XLSX)")}
LANGUAGE_LABELS = {"en": "English", "nl": "Nederlands", "da": "Dansk", "de": "Deutsch"}
PROPERTIES_LABELS = {
    "view": N_("Properties in the view"),
    "all": N_("All properties"),
    "all_with_associations": N_("All properties and associations"),
}
ASSOCIATIONS_LABELS = {
    "1000": N_("Up to 1,000 per column"),
    "all": N_("All (CSV only)"),
}


def choices(page: PageContext) -> dict[str, Any]:
    """The options of the export form, labelled in the user's language."""
    _ = page.gettext
    return {
        "formats": [(k, _(v)) for k, v in FORMAT_LABELS.items()],
        "languages": list(LANGUAGE_LABELS.items()),
        "properties": [(k, _(v)) for k, v in PROPERTIES_LABELS.items()],
        "associations": [(k, _(v)) for k, v in ASSOCIATIONS_LABELS.items()],
        "default_language": page.language if page.language in LANGUAGE_LABELS else "en",
    }


def _size(page: PageContext, size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return page.gettext("%(size)s bytes") % {"size": page.fmt.number(size)}
    if size < 1024 * 1024:
        return page.gettext("%(size)s kB") % {"size": page.fmt.number(round(size / 1024))}
    return page.gettext("%(size)s MB") % {"size": page.fmt.number(round(size / 1024 / 1024))}


def _row(page: PageContext, export: Export) -> dict[str, Any]:
    # Files expire on real time, not on a test account's clock.
    expired = service.expired(export, clock.real_now())
    timezone = page.account.timezone
    return {
        "id": export.id,
        "created": page.fmt.datetime(export.created_at, timezone, "short"),
        "object": page.gettext(OBJECT_LABELS.get(export.object_type, export.object_type)),
        "format": page.gettext(FORMAT_LABELS.get(export.format, export.format)),
        "status": export.status,
        "status_label": page.gettext(STATUS_LABELS.get(export.status, export.status)),
        "progress": export.progress,
        "rows": page.fmt.number(export.row_count) if export.status == "succeeded" else "",
        "size": _size(page, export.size_bytes),
        "download": export.status == "succeeded" and not expired,
        "expired": export.status == "succeeded" and expired,
        "expires": page.fmt.date(periods.local_date(export.expires_at, timezone))
        if export.expires_at
        else "",
        "error": export.error or "",
    }


@router.get("/exports")
def exports_page(request: Request, page: PageContext = Depends(requires_export)) -> Response:
    """The account's exports, newest first."""
    exports = service.recent_exports(page.session, page.account.id)
    rows = [_row(page, e) for e in exports]
    busy = any(e.status in ("queued", "running") for e in exports)
    return render(request, "exports/exports.html", {"rows": rows, "busy": busy})


def _source_name(page: PageContext, object_type: str, params: dict[str, str | None]) -> str:
    """What the form exports, in words: the segment's or view's name, else the whole list."""
    segment_id, view_id = params.get("segment_id"), params.get("view_id")
    if segment_id:
        segment = page.session.get(Segment, segment_id) if len(segment_id) <= 40 else None
        if segment is not None and segment.account_id == page.account.id:
            return page.gettext("Segment: %(name)s") % {"name": segment.name}
    if view_id:
        view = page.session.get(SavedView, view_id) if len(view_id) <= 40 else None
        if view is not None and view.account_id == page.account.id:
            return page.gettext("View: %(name)s") % {"name": view.name}
    label = page.gettext(OBJECT_LABELS.get(object_type, object_type)).lower()
    if params.get("query"):
        return page.gettext("%(object)s matching “%(query)s”") % {
            "object": label.capitalize(),
            "query": params["query"],
        }
    return page.gettext("All %(object)s") % {"object": label}


@router.get("/exports/new")
def new_export(request: Request, page: PageContext = Depends(requires_export)) -> Response:
    """The export form for a segment, a saved view, or a whole list."""
    params = request.query_params
    object_type = params.get("object_type") or "subscriptions"
    catalog = service.require_permissions(page.permissions, object_type)
    fields = {
        "object_type": object_type,
        "segment_id": params.get("segment_id") or None,
        "view_id": params.get("view_id") or None,
        "query": (params.get("q") or "").strip()[:200] or None,
    }
    context = {
        "fields": fields,
        "source": _source_name(page, object_type, fields),
        "choices": choices(page),
        "error": None,
        "back_url": catalog.path,
    }
    return render(request, "exports/export_form_page.html", context)


def _filter_groups(form: FormData) -> list[dict[str, Any]] | None:
    raw = text(form, "filter_groups")
    if raw is None:
        return None
    try:
        groups = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to read
        raise InvalidRequest(N_("The filters could not be read."), param="filter_groups") from exc
    if not isinstance(groups, list):
        raise InvalidRequest(N_("The filters could not be read."), param="filter_groups")
    return groups


@router.post("/exports")
async def create_export(request: Request, page: PageContext = Depends(requires_export)) -> Response:
    """Queue an export of what the form says; the Exports page then shows its progress."""
    form = await request.form()
    object_type = text(form, "object_type") or "subscriptions"
    service.require_permissions(page.permissions, object_type)
    sort_property = text(form, "sort_property")
    columns = [c for c in form.getlist("columns") if isinstance(c, str) and c]
    try:
        service.create_export(
            page.session,
            page.account.id,
            object_type=object_type,
            format=text(form, "format") or "csv",
            language=text(form, "language") or "en",
            properties=text(form, "properties") or "view",
            associations_limit=text(form, "associations_limit") or "1000",
            view_id=text(form, "view_id"),
            segment_id=text(form, "segment_id"),
            filter_groups=_filter_groups(form),
            columns=columns or None,
            sort=(sort_property, text(form, "sort_direction") or "desc") if sort_property else None,
            query=text(form, "query"),
            requested_by_user_id=page.user.id,
            view_sensitive=page.allows(VIEW_SENSITIVE),
        )
    except APIError as exc:
        if exc.status_code != 422:
            raise
        fields = {
            "object_type": object_type,
            "segment_id": text(form, "segment_id"),
            "view_id": text(form, "view_id"),
            "query": text(form, "query"),
        }
        context = {
            "fields": fields,
            "source": _source_name(page, object_type, fields),
            "choices": choices(page),
            "error": page.gettext(exc.message),
            "back_url": "/exports",
        }
        return render(request, "exports/export_form_page.html", context, status_code=422)
    page.session.commit()
    message = page.gettext(
        "Your export is being prepared. We will email you a download link when it is ready."
    )
    return redirect("/exports", flash=message)


@router.get("/exports/{export_id}/download")
def download(
    export_id: str, request: Request, page: PageContext = Depends(requires_export)
) -> Response:
    """The finished file, for a signed-in user of the account who may export it."""
    export = service.get_export(page.session, page.account.id, export_id)
    service.require_permissions(page.permissions, export.object_type)
    settings = request.app.state.settings
    path = service.downloadable(export, settings.files_dir, clock.real_now())
    return FileResponse(path, media_type=service.content_type(export), filename=export.file_name)
