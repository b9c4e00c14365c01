"""REST API of exports (API.md "Exports"): ask for one (202, built by the worker), list them,
read one, and download its file with the API key (410 once it expired)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from cadency.accounts.auth import ApiContext, api_context
from cadency.exports import service
from cadency.exports.models import Export
from cadency.exports.schemas import ExportCreate, ExportOut
from cadency.kit import clock
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.pagination import paginate
from cadency.kit.schemas import ListResponse
from cadency.properties.service import VIEW_SENSITIVE

router = APIRouter(tags=["exports"])


def _out(request: Request, export: Export) -> ExportOut:
    url = None
    if export.status == "succeeded" and export.file_path is not None:
        base = request.app.state.settings.base_url
        url = f"{base}/api/v1/exports/{export.id}/file"
    return ExportOut.of(export, url)


def _export_allowed(ctx: ApiContext, export: Export) -> None:
    service.require_permissions(ctx.scopes, export.object_type)


@router.post("/exports", response_model=ExportOut, status_code=202)
def create_export(
    body: ExportCreate, request: Request, ctx: ApiContext = Depends(api_context)
) -> ExportOut:
    service.require_permissions(ctx.scopes, body.object_type)
    export = service.create_export(
        ctx.session,
        ctx.account.id,
        object_type=body.object_type,
        format=body.format,
        language=body.language,
        properties=body.properties,
        associations_limit=body.associations_limit,
        view_id=body.view_id,
        segment_id=body.segment_id,
        filter_groups=[g.model_dump(exclude_none=True) for g in body.filter_groups or []],
        requested_by_api_key_id=ctx.api_key.id if ctx.api_key else None,
        view_sensitive=ctx.allows(VIEW_SENSITIVE),
    )
    ctx.session.commit()
    return _out(request, export)


@router.get("/exports", response_model=ListResponse[ExportOut])
def list_exports(
    request: Request,
    ctx: ApiContext = Depends(api_context),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[ExportOut]:
    ctx.require(service.EXPORT_PERMISSION)
    rows, has_more, next_cursor = paginate(
        ctx.session,
        select(Export).where(Export.account_id == ctx.account.id),
        Export.id,
        limit=limit,
        cursor=cursor,
    )
    return ListResponse(
        data=[_out(request, e) for e in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/exports/{export_id}", response_model=ExportOut)
def get_export(
    export_id: str, request: Request, ctx: ApiContext = Depends(api_context)
) -> ExportOut:
    ctx.require(service.EXPORT_PERMISSION)
    export = service.get_export(ctx.session, ctx.account.id, export_id)
    _export_allowed(ctx, export)
    return _out(request, export)


@router.get(
    "/exports/{export_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/octet-stream": {}}}},
)
def download_export(
    export_id: str, request: Request, ctx: ApiContext = Depends(api_context)
) -> FileResponse:
    ctx.require(service.EXPORT_PERMISSION)
    export = service.get_export(ctx.session, ctx.account.id, export_id)
    _export_allowed(ctx, export)
    path = service.downloadable(export, request.app.state.settings.files_dir, clock.real_now())
    return FileResponse(path, media_type=service.content_type(export), filename=export.file_name)
