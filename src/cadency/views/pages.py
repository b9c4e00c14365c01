"""Web pages of the views package: thin handlers that authorise, call the service and render.

Routes: POST /views (save the page's state as a new view), POST /views/{id} (save the page's
state into an existing view), POST /views/{id}/rename, POST /views/{id}/share, and
POST /views/{id}/delete. Each needs the index's view permission (checked by the service, as
are ownership and sharing); every answer goes back to the index page with the view open.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.kit.errors import InvalidRequest
from cadency.kit.i18n import N_
from cadency.views import service
from cadency.views.catalogs import SUBSCRIPTIONS, Catalog, catalog_for
from cadency.views.models import SavedView
from cadency.views.schemas import ViewCreate, ViewUpdate
from cadency.web.auth import PageContext, page_context
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)


def _view_url(catalog: Catalog, view_id: str | None) -> str:
    return catalog.path + (f"?view={quote(view_id)}" if view_id else "")


def _done(request: Request, url: str, flash: str) -> Response:
    """Go to `url` with a message; an htmx request is told to navigate there itself (it
    would otherwise follow the redirect and swap the whole page into the dialog)."""
    response = redirect(url, flash=flash)
    if request.headers.get("hx-request"):
        response.status_code = 200
        response.headers["HX-Redirect"] = url
        del response.headers["location"]
    return response


def _state_fields(form: FormData) -> dict[str, Any]:
    """The index state a form carries (hidden fields written by the index page)."""
    raw = form.get("filter_groups")
    try:
        groups = json.loads(raw) if isinstance(raw, str) and raw.strip() else []
    except (ValueError, RecursionError) as exc:  # nested too deep to read
        raise FormInvalid({"filter_groups": N_("The filters could not be read.")}) from exc
    return {
        "filter_groups": groups,
        "columns": [c for c in form.getlist("columns") if isinstance(c, str) and c],
        "sort_property": text(form, "sort_property"),
        "sort_direction": text(form, "sort_direction") or "desc",
        "query": text(form, "query"),
    }


def _name(form: FormData) -> str:
    """The name as typed; a blank one still goes to the service, which says what to do
    (`build` would drop it and call the field missing)."""
    name = form.get("name")
    return (name if isinstance(name, str) else "") or " "


def _translated(page: PageContext, errors: FormErrors) -> FormErrors:
    return {field: page.gettext(message) for field, message in errors.items()}


def _form_again(
    request: Request,
    page: PageContext,
    view_form: dict[str, Any],
    errors: FormErrors,
    back_url: str,
) -> Response:
    """The form with its messages, 422: the fragment for htmx, else a page of its own."""
    view_form = {**view_form, "errors": _translated(page, errors)}
    if request.headers.get("hx-request"):
        return render(request, "views/view_form.html", {"view_form": view_form}, status_code=422)
    context = {"view_form": view_form, "back_url": back_url}
    return render(request, "views/view_form_page.html", context, status_code=422)


@router.post("/views")
async def create_view(request: Request, page: PageContext = Depends(page_context)) -> Response:
    form = await request.form()
    object_type = text(form, "object_type") or SUBSCRIPTIONS.object_type
    catalog = catalog_for(object_type) or SUBSCRIPTIONS
    page.require(catalog.permission)
    name = _name(form)
    shared = form.get("visibility") == "shared"
    view_form: dict[str, Any] = {
        "action": "/views",
        "mode": "create",
        "title": page.gettext("Save view"),
        "name": name.strip(),
        "shared": shared,
        "object_type": catalog.object_type,
        # What the form shows again when its hidden fields could not be read.
        "fields": {
            "filter_groups": "[]",
            "columns": [],
            "sort_property": None,
            "sort_direction": "desc",
            "query": None,
        },
    }
    try:
        fields = _state_fields(form)
        view_form["fields"] = {**fields, "filter_groups": json.dumps(fields["filter_groups"])}
        data = build(
            ViewCreate,
            {
                "object_type": catalog.object_type,
                "name": name,
                "shared": shared,
                **fields,
            },
        )
        view = attempt(lambda: service.create_view(page.session, page.account, page.user, data))
    except FormInvalid as exc:
        return _form_again(request, page, view_form, exc.errors, catalog.path)
    page.session.commit()
    message = page.gettext("Saved the view “%(name)s”.") % {"name": view.name}
    return _done(request, _view_url(catalog, view.id), message)


def _catalog_of(page: PageContext, view_id: str) -> tuple[Catalog, SavedView]:
    view = service.get_view(page.session, page.user, view_id)
    return catalog_for(view.object_type) or SUBSCRIPTIONS, view


@router.post("/views/{view_id}")
async def save_into_view(
    view_id: str, request: Request, page: PageContext = Depends(page_context)
) -> Response:
    catalog, view = _catalog_of(page, view_id)
    form = await request.form()
    try:
        data = build(ViewUpdate, _state_fields(form))
        # Every state field is replaced, also the ones the page sends empty.
        data.model_fields_set.update(
            {"filter_groups", "columns", "sort_property", "sort_direction", "query"}
        )
        attempt(lambda: service.update_view(page.session, page.account, page.user, view.id, data))
    except FormInvalid as exc:
        message = next(iter(exc.errors.values()))
        raise InvalidRequest(message) from exc
    page.session.commit()
    message = page.gettext("Saved the changes to the view “%(name)s”.") % {"name": view.name}
    return _done(request, _view_url(catalog, view.id), message)


@router.post("/views/{view_id}/rename")
async def rename_view(
    view_id: str, request: Request, page: PageContext = Depends(page_context)
) -> Response:
    catalog, view = _catalog_of(page, view_id)
    form = await request.form()
    name = _name(form)
    view_form = {
        "action": f"/views/{view.id}/rename",
        "mode": "rename",
        "title": page.gettext("Rename view"),
        "name": name.strip(),
        "shared": view.shared,
        "object_type": view.object_type,
        "fields": None,
    }
    try:
        data = build(ViewUpdate, {"name": name})
        data.model_fields_set.add("name")
        attempt(lambda: service.update_view(page.session, page.account, page.user, view.id, data))
    except FormInvalid as exc:
        return _form_again(request, page, view_form, exc.errors, _view_url(catalog, view.id))
    page.session.commit()
    message = page.gettext("Renamed the view to “%(name)s”.") % {"name": view.name}
    return _done(request, _view_url(catalog, view.id), message)


@router.post("/views/{view_id}/share")
async def share_view(
    view_id: str, request: Request, page: PageContext = Depends(page_context)
) -> Response:
    catalog, view = _catalog_of(page, view_id)
    form = await request.form()
    shared = form.get("shared") == "true"
    data = ViewUpdate(shared=shared)
    service.update_view(page.session, page.account, page.user, view.id, data)
    page.session.commit()
    message = (
        page.gettext("The view “%(name)s” is now shared with everyone in the account.")
        if shared
        else page.gettext("The view “%(name)s” is now private.")
    ) % {"name": view.name}
    return _done(request, _view_url(catalog, view.id), message)


@router.post("/views/{view_id}/delete")
def delete_view(
    view_id: str, request: Request, page: PageContext = Depends(page_context)
) -> Response:
    catalog, view = _catalog_of(page, view_id)
    name = view.name
    service.delete_view(page.session, page.user, view.id)
    page.session.commit()
    message = page.gettext("Deleted the view “%(name)s”.") % {"name": name}
    return _done(request, _view_url(catalog, None), message)
