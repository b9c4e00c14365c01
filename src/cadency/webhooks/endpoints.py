"""REST endpoints of events and webhooks (API.md "Webhooks"). Webhook endpoints are the
account's settings: they need a super admin key. Events need `subscriptions.view`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cadency.accounts.auth import ApiContext, requires
from cadency.config import Settings
from cadency.kit import clock
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Instant, Limit
from cadency.kit.errors import InvalidRequest
from cadency.kit.events import PUBLIC_EVENT_TYPES
from cadency.kit.schemas import DeletedResponse, ListResponse
from cadency.webhooks import service
from cadency.webhooks.schemas import (
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EventOut,
)

router = APIRouter(tags=["webhooks"])
MANAGE = "super_admin"
READ_EVENTS = "subscriptions.view"
_MANAGE_INTRO = "Needs a key with the super_admin scope. "


def _allow_private(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.webhook_allow_private


@router.post(
    "/webhook-endpoints",
    response_model=EndpointOut,
    description=_MANAGE_INTRO + "A receiver of events: its URL (http or https, a public "
    'address), a description and the event types it wants (or ["*"]). The answer carries '
    "the signing `secret`, shown this once. `Idempotency-Key` is not honoured here (the "
    "answer would have to be stored with its secret).",
)
def create_endpoint(
    body: EndpointCreate, request: Request, ctx: ApiContext = Depends(requires(MANAGE))
) -> EndpointOut:
    endpoint = service.create_endpoint(
        ctx.session,
        ctx.account,
        url=body.url,
        enabled_events=body.enabled_events,
        description=body.description,
        allow_private=_allow_private(request),
        now=clock.real_now(),
    )
    secret = service.secret(ctx.session, endpoint)
    ctx.session.commit()
    return EndpointOut.of(endpoint, secret)


@router.get("/webhook-endpoints", response_model=ListResponse[EndpointOut])
def list_endpoints(ctx: ApiContext = Depends(requires(MANAGE))) -> ListResponse[EndpointOut]:
    rows = service.list_endpoints(ctx.session, ctx.account.id)
    return ListResponse(data=[EndpointOut.of(e) for e in rows], has_more=False, next_cursor=None)


@router.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut)
def get_endpoint(endpoint_id: str, ctx: ApiContext = Depends(requires(MANAGE))) -> EndpointOut:
    return EndpointOut.of(service.get_endpoint(ctx.session, ctx.account.id, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut)
def update_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    request: Request,
    ctx: ApiContext = Depends(requires(MANAGE)),
) -> EndpointOut:
    endpoint = service.get_endpoint(ctx.session, ctx.account.id, endpoint_id)
    service.update_endpoint(
        ctx.session,
        endpoint,
        body.model_dump(exclude_unset=True),
        allow_private=_allow_private(request),
        now=clock.real_now(),
    )
    ctx.session.commit()
    return EndpointOut.of(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", response_model=DeletedResponse)
def delete_endpoint(
    endpoint_id: str, ctx: ApiContext = Depends(requires(MANAGE))
) -> DeletedResponse:
    endpoint = service.get_endpoint(ctx.session, ctx.account.id, endpoint_id)
    service.delete_endpoint(ctx.session, endpoint)
    ctx.session.commit()
    return DeletedResponse(id=endpoint_id, object="webhook_endpoint")


@router.post(
    "/webhook-endpoints/{endpoint_id}/roll-secret",
    response_model=EndpointOut,
    description=_MANAGE_INTRO + "A new signing secret, in the answer only. For 24 hours both "
    "the old and the new secret sign each request (two signatures in `webhook-signature`).",
)
def roll_secret(endpoint_id: str, ctx: ApiContext = Depends(requires(MANAGE))) -> EndpointOut:
    endpoint = service.get_endpoint(ctx.session, ctx.account.id, endpoint_id)
    secret = service.roll_secret(ctx.session, endpoint, clock.real_now())
    ctx.session.commit()
    return EndpointOut.of(endpoint, secret)


@router.post(
    "/webhook-endpoints/{endpoint_id}/test",
    response_model=DeliveryOut,
    description=_MANAGE_INTRO + "Send a `ping` event to this endpoint (delivered by the "
    "worker within seconds, like any event); the answer is the delivery to follow.",
)
def send_test_event(endpoint_id: str, ctx: ApiContext = Depends(requires(MANAGE))) -> DeliveryOut:
    endpoint = service.get_endpoint(ctx.session, ctx.account.id, endpoint_id)
    delivery = service.send_test_event(
        ctx.session, ctx.account, endpoint, clock.account_now(ctx.account)
    )
    ctx.session.commit()
    return DeliveryOut.of(delivery)


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=ListResponse[DeliveryOut])
def list_deliveries(
    endpoint_id: str,
    ctx: ApiContext = Depends(requires(MANAGE)),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[DeliveryOut]:
    endpoint = service.get_endpoint(ctx.session, ctx.account.id, endpoint_id)
    rows, has_more, next_cursor = service.list_deliveries(
        ctx.session, endpoint, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[DeliveryOut.of(d) for d in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    description=_MANAGE_INTRO + 'Send a delivery again ("Send again"), whatever became of '
    "it; it starts a new set of attempts.",
)
def retry_delivery(delivery_id: str, ctx: ApiContext = Depends(requires(MANAGE))) -> DeliveryOut:
    delivery = service.get_delivery(ctx.session, ctx.account.id, delivery_id)
    service.retry_delivery(ctx.session, delivery, clock.account_now(ctx.account))
    ctx.session.commit()
    return DeliveryOut.of(delivery)


@router.get(
    "/events",
    response_model=ListResponse[EventOut],
    description="The account's events of the last 30 days, newest first: `type` one event "
    "type, `created_gte` / `created_lt` bounds on when it happened (the account's clock). "
    "Each is `{id, type, created_at, data: {object, previous_attributes?}}`, as webhook "
    "endpoints receive it; the types and an example of each are in docs/webhooks.md.",
)
def list_events(
    ctx: ApiContext = Depends(requires(READ_EVENTS)),
    type: Annotated[str | None, Query(max_length=64)] = None,
    created_gte: Instant | None = None,
    created_lt: Instant | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[EventOut]:
    if type is not None and type not in PUBLIC_EVENT_TYPES:
        raise InvalidRequest("Unknown event type '%(type)s'", type=type, param="type")
    rows, has_more, next_cursor = service.list_events(
        ctx.session,
        ctx.account.id,
        type=type,
        created_gte=_aware(created_gte),
        created_lt=_aware(created_lt),
        limit=limit,
        cursor=cursor,
    )
    return ListResponse(
        data=[EventOut(**service.event_body(e)) for e in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(event_id: str, ctx: ApiContext = Depends(requires(READ_EVENTS))) -> EventOut:
    event = service.get_event(ctx.session, ctx.account.id, event_id)
    return EventOut(**service.event_body(event))


def _aware(moment: datetime | None) -> datetime | None:
    # A time without an offset is UTC, as everywhere in the API.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
