"""REST endpoints of segments (API.md "Segments"): thin handlers that authorise, call the
service and present. Reading needs `subscriptions.view` (the view permission of every object a
segment can hold); saving, changing and deleting need `subscriptions.edit` as well."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from cadency.accounts.auth import ApiContext, requires
from cadency.crm import service as crm_service
from cadency.crm.models import Company, Contact
from cadency.crm.schemas import CompanyOut, ContactOut
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.errors import InvalidRequest
from cadency.kit.schemas import DeletedResponse, ListResponse
from cadency.properties.service import VIEW_SENSITIVE
from cadency.segments import service
from cadency.segments.models import Segment
from cadency.segments.schemas import ObjectType, SegmentCreate, SegmentOut, SegmentUpdate
from cadency.subscriptions.endpoints import present_many
from cadency.subscriptions.schemas import SubscriptionOut

router = APIRouter(tags=["segments"])
VIEW = "subscriptions.view"
EDIT = service.EDIT_PERMISSION

Member = Annotated[SubscriptionOut | ContactOut | CompanyOut, Field(discriminator="object")]


def _out(ctx: ApiContext, segment: Segment) -> SegmentOut:
    # A segment whose filters broke since it was saved is still listed and readable (so it can
    # be mended); only its members cannot be found.
    count: int | None = None
    problem: str | None = None
    try:
        count = service.member_count(ctx.session, segment)
    except InvalidRequest as error:
        problem = error.message
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        object_type=segment.object_type,
        filter_groups=list(segment.filter_groups or []),
        member_count=count,
        filters_error=problem,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _readable(ctx: ApiContext, segment_id: str) -> Segment:
    segment = service.get_segment(ctx.session, ctx.account.id, segment_id)
    ctx.require(service.catalog_of(segment.object_type).permission)
    return segment


def _members_out(ctx: ApiContext, segment: Segment, rows: Sequence[Any]) -> list[Any]:
    """The members as their own endpoints show them."""
    view_sensitive = ctx.allows(VIEW_SENSITIVE)
    ids = [r.id for r in rows]
    if segment.object_type == "contacts":
        contacts: Sequence[Contact] = rows
        values = crm_service.contact_properties(
            ctx.session, ctx.account.id, ids, view_sensitive=view_sensitive
        )
        return [ContactOut.of(c, values.get(c.id, {})) for c in contacts]
    if segment.object_type == "companies":
        companies: Sequence[Company] = rows
        values = crm_service.company_properties(
            ctx.session, ctx.account.id, ids, view_sensitive=view_sensitive
        )
        return [CompanyOut.of(c, values.get(c.id, {})) for c in companies]
    return list(present_many(ctx, rows))


@router.post("/segments", response_model=SegmentOut)
def create_segment(body: SegmentCreate, ctx: ApiContext = Depends(requires(EDIT))) -> SegmentOut:
    ctx.require(VIEW)
    segment = service.create_segment(
        ctx.session, ctx.account, body, view_sensitive=ctx.allows(VIEW_SENSITIVE)
    )
    ctx.session.commit()
    return _out(ctx, segment)


@router.get("/segments", response_model=ListResponse[SegmentOut])
def list_segments(
    ctx: ApiContext = Depends(requires(VIEW)),
    object_type: Annotated[ObjectType | None, Query()] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[SegmentOut]:
    rows, has_more, next_cursor = service.list_segments(
        ctx.session, ctx.account, object_type=object_type, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[_out(ctx, s) for s in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/segments/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> SegmentOut:
    return _out(ctx, _readable(ctx, segment_id))


@router.patch("/segments/{segment_id}", response_model=SegmentOut)
def update_segment(
    segment_id: str, body: SegmentUpdate, ctx: ApiContext = Depends(requires(EDIT))
) -> SegmentOut:
    _readable(ctx, segment_id)
    segment = service.update_segment(
        ctx.session, ctx.account, segment_id, body, view_sensitive=ctx.allows(VIEW_SENSITIVE)
    )
    ctx.session.commit()
    return _out(ctx, segment)


@router.delete("/segments/{segment_id}", response_model=DeletedResponse)
def delete_segment(segment_id: str, ctx: ApiContext = Depends(requires(EDIT))) -> DeletedResponse:
    _readable(ctx, segment_id)
    service.delete_segment(ctx.session, ctx.account.id, segment_id)
    ctx.session.commit()
    return DeletedResponse(id=segment_id, object="segment")


@router.get("/segments/{segment_id}/members", response_model=ListResponse[Member])
def segment_members(
    segment_id: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[Any]:
    segment = _readable(ctx, segment_id)
    rows, has_more, next_cursor = service.members(ctx.session, segment, limit=limit, cursor=cursor)
    return ListResponse(
        data=_members_out(ctx, segment, rows), has_more=has_more, next_cursor=next_cursor
    )
