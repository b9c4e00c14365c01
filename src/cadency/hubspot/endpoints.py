"""The HubSpot CRM v3-compatible surface: `/crm/v3/objects/{type}` for contacts (`0-1`),
companies (`0-2`), deals (`0-3`), products (`0-7`), subscriptions (`0-69`), invoices (`0-53`),
quotes (`0-14`) and line items (`0-8`), `/crm/v3/properties/{type}` and associations v4
(`/crm/v4/...`), with the REST API's keys and permissions (docs/hubspot.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.crm.endpoints import EDIT, VIEW
from cadency.hubspot import associations, definitions, service
from cadency.hubspot.errors import PATH_PREFIX
from cadency.hubspot.schemas import (
    AssociationBatchArchiveInput,
    AssociationBatchCreateInput,
    AssociationBatchCreateOut,
    AssociationBatchReadInput,
    AssociationBatchReadOut,
    AssociationLabelsOut,
    AssociationsOut,
    AssociationSpecs,
    BatchArchiveInput,
    BatchCreateInput,
    BatchOut,
    BatchReadInput,
    BatchUpdateInput,
    BatchUpsertOut,
    CollectionOut,
    DefaultAssociationsOut,
    ErrorOut,
    LabelsBetweenObjects,
    NextPage,
    ObjectInput,
    ObjectOut,
    Paging,
    PropertiesOut,
    PropertyCreateInput,
    PropertyGroupsOut,
    PropertyOut,
    PropertyUpdateInput,
    SearchOut,
    SearchRequest,
)
from cadency.kit import clock
from cadency.kit.errors import NotFound
from cadency.kit.schemas import ErrorResponse
from cadency.plans.limits import custom_property_limit
from cadency.properties.endpoints import EDIT as PROPERTIES_EDIT
from cadency.properties.service import VIEW_SENSITIVE

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "VALIDATION_ERROR: a property, value or request field is not acceptable",
        401: "INVALID_AUTHENTICATION: missing or invalid API key",
        403: "MISSING_SCOPES: the API key lacks a permission",
        404: "OBJECT_NOT_FOUND: no such record",
        409: "CONFLICT: e.g. a contact with this email exists, or an idempotency key reused",
        429: "RATE_LIMITS: too many requests for this API key; see Retry-After",
    }.items()
}
# Refused before anything reads the request (the outermost guard), so in the REST API's error
# shape, not HubSpot's (docs/hubspot.md).
ERRORS[413] = {"model": ErrorResponse, "description": "The request body is too large"}
objects = APIRouter(prefix=f"{PATH_PREFIX}v3/objects", tags=["hubspot"], responses=ERRORS)
properties_router = APIRouter(
    prefix=f"{PATH_PREFIX}v3/properties", tags=["hubspot"], responses=ERRORS
)
associations_router = APIRouter(prefix=f"{PATH_PREFIX}v4", tags=["hubspot"], responses=ERRORS)

Names = Annotated[
    list[str] | None,
    Query(description="Property names: repeated, or comma-separated", max_length=1000),
]
Associations = Annotated[
    list[str] | None, Query(description="Object types to list associated IDs of", max_length=20)
]


def _reader(ctx: ApiContext, object_type: str) -> service.Reader:
    obj = service.object_type(object_type)
    return service.Reader(ctx.session, ctx.account, obj, view_sensitive=ctx.allows(VIEW_SENSITIVE))


@objects.get("/{object_type}", response_model=CollectionOut)
def list_records(
    object_type: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    after: Annotated[str | None, Query(max_length=300)] = None,
    properties: Names = None,
    associations: Associations = None,
    archived: bool = False,
) -> CollectionOut:
    reader = _reader(ctx, object_type)
    results, next_after = service.list_page(
        reader,
        limit=limit,
        after=after,
        names=properties,
        associations=associations,
        archived=archived,
    )
    paging = Paging(next=NextPage(after=next_after)) if next_after else None
    return CollectionOut(results=results, paging=paging)


@objects.post("/{object_type}", response_model=ObjectOut, status_code=201)
def create_record(
    object_type: str, body: ObjectInput, ctx: ApiContext = Depends(requires(EDIT))
) -> ObjectOut:
    reader = _reader(ctx, object_type)
    record = service.create(ctx.session, ctx.account, reader.obj, body)
    ctx.session.commit()
    return reader.out([record], list(body.properties))[0]


@objects.get("/{object_type}/{record_id}", response_model=ObjectOut)
def get_record(
    object_type: str,
    record_id: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    properties: Names = None,
    associations: Associations = None,
    archived: bool = False,
    idProperty: Annotated[str | None, Query(max_length=200)] = None,
) -> ObjectOut:
    reader = _reader(ctx, object_type)
    if archived and not reader.obj.archivable:  # a type Cadency never archives
        raise NotFound(f"No archived {reader.obj.record_type}: '{record_id}'")
    with service.hubspot_terms(reader.obj):
        record = service.find_record(ctx.session, reader.obj, ctx.account.id, record_id, idProperty)
    if bool(getattr(record, "archived", False)) != archived:  # as HubSpot: one or the other
        state = "archived" if archived else "active"
        raise NotFound(f"No {state} {reader.obj.record_type}: '{record_id}'")
    return reader.out([record], properties, associations)[0]


@objects.patch("/{object_type}/{record_id}", response_model=ObjectOut)
def update_record(
    object_type: str,
    record_id: str,
    body: ObjectInput,
    ctx: ApiContext = Depends(requires(EDIT)),
    idProperty: Annotated[str | None, Query(max_length=200)] = None,
) -> ObjectOut:
    reader = _reader(ctx, object_type)
    record = service.update(
        ctx.session, ctx.account, reader.obj, record_id, body.properties, id_property=idProperty
    )
    ctx.session.commit()
    return reader.out([record], list(body.properties))[0]


@objects.delete("/{object_type}/{record_id}", status_code=204)
def archive_record(
    object_type: str, record_id: str, ctx: ApiContext = Depends(requires(EDIT))
) -> Response:
    reader = _reader(ctx, object_type)
    service.archive(ctx.session, ctx.account, reader.obj, record_id)
    ctx.session.commit()
    return Response(status_code=204)


# Batches: every input or none (the first failure answers for the whole batch).


@objects.post(
    "/{object_type}/batch/read",
    response_model=BatchOut,
    responses={207: {"model": BatchOut, "description": "Some records were not found"}},
)
def batch_read(
    object_type: str, body: BatchReadInput, ctx: ApiContext = Depends(requires(VIEW))
) -> BatchOut | JSONResponse:
    started = clock.real_now()
    reader = _reader(ctx, object_type)
    results, errors = service.batch_read(
        reader,
        [item.id for item in body.inputs],
        names=body.properties,
        id_property=body.idProperty,
    )
    answer = service.batch_response(results, started, errors)
    if errors:
        return JSONResponse(answer.model_dump(exclude_none=False), status_code=207)
    return answer


@objects.post("/{object_type}/batch/create", response_model=BatchOut, status_code=201)
def batch_create(
    object_type: str, body: BatchCreateInput, ctx: ApiContext = Depends(requires(EDIT))
) -> BatchOut:
    started = clock.real_now()
    reader = _reader(ctx, object_type)
    records = [
        service.create(ctx.session, ctx.account, reader.obj, item, f"inputs.{i}")
        for i, item in enumerate(body.inputs)
    ]
    ctx.session.commit()
    names = sorted({name for item in body.inputs for name in item.properties})
    return service.batch_response(reader.out(records, names), started)


@objects.post("/{object_type}/batch/update", response_model=BatchOut)
def batch_update(
    object_type: str, body: BatchUpdateInput, ctx: ApiContext = Depends(requires(EDIT))
) -> BatchOut:
    started = clock.real_now()
    reader = _reader(ctx, object_type)
    records = service.batch_update(ctx.session, ctx.account, reader.obj, body.inputs)
    ctx.session.commit()
    names = sorted({name for item in body.inputs for name in item.properties})
    return service.batch_response(reader.out(records, names), started)


@objects.post("/{object_type}/batch/upsert", response_model=BatchUpsertOut)
def batch_upsert(
    object_type: str, body: BatchUpdateInput, ctx: ApiContext = Depends(requires(EDIT))
) -> BatchUpsertOut:
    started = clock.real_now()
    reader = _reader(ctx, object_type)
    done = service.batch_upsert(ctx.session, ctx.account, reader.obj, body.inputs)
    ctx.session.commit()
    return service.upsert_response(reader, done, started)


@objects.post("/{object_type}/batch/archive", status_code=204)
def batch_archive(
    object_type: str, body: BatchArchiveInput, ctx: ApiContext = Depends(requires(EDIT))
) -> Response:
    reader = _reader(ctx, object_type)
    service.batch_archive(ctx.session, ctx.account, reader.obj, [item.id for item in body.inputs])
    ctx.session.commit()
    return Response(status_code=204)


@objects.post("/{object_type}/search", response_model=SearchOut)
def search(
    object_type: str, body: SearchRequest, ctx: ApiContext = Depends(requires(VIEW))
) -> SearchOut:
    reader = _reader(ctx, object_type)
    with service.hubspot_terms(reader.obj):
        return service.search(reader, body)


# The properties API: reading needs any valid key and changing `properties.edit`, as for
# /api/v1/properties.


@properties_router.get("/{object_type}", response_model=PropertiesOut)
def list_properties(
    object_type: str, ctx: ApiContext = Depends(api_context), archived: bool = False
) -> PropertiesOut:
    obj = service.object_type(object_type)
    if archived:  # an archived (deleted) property is gone
        return PropertiesOut(results=[])
    return PropertiesOut(results=definitions.list_all(ctx.session, ctx.account, obj))


@properties_router.get("/{object_type}/groups", response_model=PropertyGroupsOut)
def list_property_groups(
    object_type: str, ctx: ApiContext = Depends(api_context)
) -> PropertyGroupsOut:
    obj = service.object_type(object_type)
    return PropertyGroupsOut(results=definitions.groups(ctx.session, ctx.account, obj))


@properties_router.post("/{object_type}", response_model=PropertyOut, status_code=201)
def create_property(
    object_type: str,
    body: PropertyCreateInput,
    ctx: ApiContext = Depends(requires(PROPERTIES_EDIT)),
) -> PropertyOut:
    obj = service.object_type(object_type)
    created = definitions.create(
        ctx.session,
        ctx.account,
        obj,
        body,
        plan_limit=custom_property_limit(ctx.session, ctx.account),
    )
    ctx.session.commit()
    return created


@properties_router.get("/{object_type}/{name}", response_model=PropertyOut)
def get_property(
    object_type: str,
    name: str,
    ctx: ApiContext = Depends(api_context),
    archived: bool = False,
) -> PropertyOut:
    obj = service.object_type(object_type)
    if archived:
        raise NotFound(f"No archived property: '{name}'")
    return definitions.get_one(ctx.session, ctx.account, obj, name)


@properties_router.patch("/{object_type}/{name}", response_model=PropertyOut)
def update_property(
    object_type: str,
    name: str,
    body: PropertyUpdateInput,
    ctx: ApiContext = Depends(requires(PROPERTIES_EDIT)),
) -> PropertyOut:
    obj = service.object_type(object_type)
    updated = definitions.update(ctx.session, ctx.account, obj, name, body)
    ctx.session.commit()
    return updated


@properties_router.delete("/{object_type}/{name}", status_code=204)
def archive_property(
    object_type: str, name: str, ctx: ApiContext = Depends(requires(PROPERTIES_EDIT))
) -> Response:
    obj = service.object_type(object_type)
    definitions.archive(ctx.session, ctx.account, obj, name)
    ctx.session.commit()
    return Response(status_code=204)


# Associations v4: Cadency's links of subscriptions (and a conversion's invoices), read with
# `subscriptions.view` and written with `subscriptions.edit`, as the records themselves.


@associations_router.get(
    "/objects/{object_type}/{record_id}/associations/{to_object_type}",
    response_model=AssociationsOut,
)
def list_associations(
    object_type: str,
    record_id: str,
    to_object_type: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    limit: Annotated[int, Query(ge=1, le=associations.MAX_LIMIT)] = associations.MAX_LIMIT,
    after: Annotated[str | None, Query(max_length=300)] = None,
) -> AssociationsOut:
    return associations.list_page(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        record_id,
        service.object_type(to_object_type),
        limit=limit,
        after=after,
    )


@associations_router.put(
    "/objects/{object_type}/{record_id}/associations/default/{to_object_type}/{to_record_id}",
    response_model=DefaultAssociationsOut,
)
def create_default_association(
    object_type: str,
    record_id: str,
    to_object_type: str,
    to_record_id: str,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> DefaultAssociationsOut:
    created = associations.create_default(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        record_id,
        service.object_type(to_object_type),
        to_record_id,
    )
    ctx.session.commit()
    return created


@associations_router.put(
    "/objects/{object_type}/{record_id}/associations/{to_object_type}/{to_record_id}",
    response_model=LabelsBetweenObjects,
    status_code=201,
)
def create_labelled_association(
    object_type: str,
    record_id: str,
    to_object_type: str,
    to_record_id: str,
    body: AssociationSpecs,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> LabelsBetweenObjects:
    created = associations.create_labelled(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        record_id,
        service.object_type(to_object_type),
        to_record_id,
        body,
    )
    ctx.session.commit()
    return created


@associations_router.delete(
    "/objects/{object_type}/{record_id}/associations/{to_object_type}/{to_record_id}",
    status_code=204,
)
def archive_association(
    object_type: str,
    record_id: str,
    to_object_type: str,
    to_record_id: str,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> Response:
    associations.archive(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        record_id,
        service.object_type(to_object_type),
        to_record_id,
    )
    ctx.session.commit()
    return Response(status_code=204)


@associations_router.get(
    "/associations/{object_type}/{to_object_type}/labels", response_model=AssociationLabelsOut
)
def association_labels(
    object_type: str, to_object_type: str, ctx: ApiContext = Depends(requires(VIEW))
) -> AssociationLabelsOut:
    return associations.labels(
        service.object_type(object_type), service.object_type(to_object_type)
    )


@associations_router.post(
    "/associations/{object_type}/{to_object_type}/batch/read",
    response_model=AssociationBatchReadOut,
    responses={207: {"model": AssociationBatchReadOut, "description": "Some records not found"}},
)
def batch_read_associations(
    object_type: str,
    to_object_type: str,
    body: AssociationBatchReadInput,
    ctx: ApiContext = Depends(requires(VIEW)),
) -> AssociationBatchReadOut | JSONResponse:
    answer = associations.batch_read(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        service.object_type(to_object_type),
        body.inputs,
    )
    if answer.errors:
        return JSONResponse(answer.model_dump(mode="json"), status_code=207)
    return answer


@associations_router.post(
    "/associations/{object_type}/{to_object_type}/batch/create",
    response_model=AssociationBatchCreateOut,
    status_code=201,
    responses={207: {"model": AssociationBatchCreateOut, "description": "Some inputs failed"}},
)
def batch_create_associations(
    object_type: str,
    to_object_type: str,
    body: AssociationBatchCreateInput,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> AssociationBatchCreateOut | JSONResponse:
    answer = associations.batch_create(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        service.object_type(to_object_type),
        body,
    )
    ctx.session.commit()
    if answer.errors:
        return JSONResponse(answer.model_dump(mode="json"), status_code=207)
    return answer


@associations_router.post(
    "/associations/{object_type}/{to_object_type}/batch/archive", status_code=204
)
def batch_archive_associations(
    object_type: str,
    to_object_type: str,
    body: AssociationBatchArchiveInput,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> Response:
    associations.batch_archive(
        ctx.session,
        ctx.account,
        service.object_type(object_type),
        service.object_type(to_object_type),
        body,
    )
    ctx.session.commit()
    return Response(status_code=204)


# What the app includes: every part, after every route above is defined.
router = APIRouter()
router.include_router(objects)
router.include_router(properties_router)
router.include_router(associations_router)
