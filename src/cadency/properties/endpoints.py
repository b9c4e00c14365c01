"""REST for custom property definitions: `/properties/{object_type}[/{name}]`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.schemas import ListResponse
from cadency.plans.limits import custom_property_limit
from cadency.properties import service
from cadency.properties.schemas import (
    PropertyCreate,
    PropertyDeleted,
    PropertyOut,
    PropertyUpdate,
)

router = APIRouter(tags=["properties"])
EDIT = "properties.edit"


def object_type_param(
    object_type: str = Path(
        description="subscriptions, contacts or companies (anything else: 404)",
        examples=["subscriptions"],
    ),
) -> str:
    return service.check_object_type(object_type)


@router.get("/properties/{object_type}", response_model=ListResponse[PropertyOut])
def list_properties(
    ctx: ApiContext = Depends(api_context),
    object_type: str = Depends(object_type_param),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[PropertyOut]:
    rows, has_more, next_cursor = service.list_definitions(
        ctx.session, ctx.account.id, object_type, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[PropertyOut.of(row) for row in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.post("/properties/{object_type}", response_model=PropertyOut)
def create_property(
    body: PropertyCreate,
    ctx: ApiContext = Depends(requires(EDIT)),
    object_type: str = Depends(object_type_param),
) -> PropertyOut:
    definition = service.create_definition(
        ctx.session,
        ctx.account,
        object_type,
        body,
        plan_limit=custom_property_limit(ctx.session, ctx.account),
    )
    ctx.session.commit()
    return PropertyOut.of(definition)


@router.get("/properties/{object_type}/{name}", response_model=PropertyOut)
def get_property(
    name: str,
    ctx: ApiContext = Depends(api_context),
    object_type: str = Depends(object_type_param),
) -> PropertyOut:
    return PropertyOut.of(service.get_definition(ctx.session, ctx.account.id, object_type, name))


@router.patch("/properties/{object_type}/{name}", response_model=PropertyOut)
def update_property(
    name: str,
    body: PropertyUpdate,
    ctx: ApiContext = Depends(requires(EDIT)),
    object_type: str = Depends(object_type_param),
) -> PropertyOut:
    definition = service.update_definition(
        ctx.session, ctx.account, object_type, name, body.model_dump(exclude_unset=True)
    )
    ctx.session.commit()
    return PropertyOut.of(definition)


@router.delete("/properties/{object_type}/{name}", response_model=PropertyDeleted)
def delete_property(
    name: str,
    ctx: ApiContext = Depends(requires(EDIT)),
    object_type: str = Depends(object_type_param),
) -> PropertyDeleted:
    service.delete_definition(ctx.session, ctx.account, object_type, name)
    ctx.session.commit()
    return PropertyDeleted(object_type=object_type, name=name)
