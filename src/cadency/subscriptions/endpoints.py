from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cadency.accounts.auth import ApiContext, requires
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.schemas import DateStr, DeletedResponse, ListResponse, StrictModel
from cadency.properties import service as properties
from cadency.subscriptions import service
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.schemas import (
    CancelRequest,
    ChangeRequest,
    EventOut,
    SearchRequest,
    Status,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionSearchResponse,
    SubscriptionUpdate,
)

router = APIRouter(tags=["subscriptions"])
VIEW, EDIT, DELETE = "subscriptions.view", "subscriptions.edit", "subscriptions.delete"


def present_many(ctx: ApiContext, subscriptions: Sequence[Subscription]) -> list[SubscriptionOut]:
    """Render subscriptions; their line items must be loaded, properties come in one query
    (sensitive ones masked unless the key may view them)."""
    if not subscriptions:
        return []
    values = properties.get_values(
        ctx.session,
        subscriptions[0].account_id,
        service.OBJECT_TYPE,
        [s.id for s in subscriptions],
        view_sensitive=ctx.allows(properties.VIEW_SENSITIVE),
    )
    return [SubscriptionOut.of(s, values.get(s.id, {})) for s in subscriptions]


def present(ctx: ApiContext, subscription: Subscription) -> SubscriptionOut:
    return present_many(ctx, [subscription])[0]


@router.post("/subscriptions", response_model=SubscriptionOut)
def create_subscription(
    body: SubscriptionCreate, ctx: ApiContext = Depends(requires(EDIT))
) -> SubscriptionOut:
    subscription = service.create(
        ctx.session, ctx.account, body, allow_custom_items=ctx.allows("line_items.create_custom")
    )
    ctx.session.commit()
    return present(ctx, subscription)


@router.get("/subscriptions", response_model=ListResponse[SubscriptionOut])
def list_subscriptions(
    ctx: ApiContext = Depends(requires(VIEW)),
    status: Annotated[list[Status] | None, Query()] = None,
    contact_id: Annotated[str | None, Query(max_length=40)] = None,
    next_payment_date_gte: Annotated[DateStr | None, Query()] = None,
    next_payment_date_lte: Annotated[DateStr | None, Query()] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[SubscriptionOut]:
    rows, has_more, next_cursor = service.list_subscriptions(
        ctx.session,
        ctx.account,
        statuses=status or [],
        contact_id=contact_id,
        next_payment_date_gte=next_payment_date_gte,
        next_payment_date_lte=next_payment_date_lte,
        limit=limit,
        cursor=cursor,
    )
    return ListResponse(data=present_many(ctx, rows), has_more=has_more, next_cursor=next_cursor)


@router.post("/subscriptions/search", response_model=SubscriptionSearchResponse)
def search_subscriptions(
    body: SearchRequest, ctx: ApiContext = Depends(requires(VIEW))
) -> SubscriptionSearchResponse:
    rows, total, has_more, next_cursor = service.search(
        ctx.session, ctx.account, body, view_sensitive=ctx.allows(properties.VIEW_SENSITIVE)
    )
    return SubscriptionSearchResponse(
        data=present_many(ctx, rows),
        total=total,
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def get_subscription(
    subscription_id: str, ctx: ApiContext = Depends(requires(VIEW))
) -> SubscriptionOut:
    return present(ctx, service.get(ctx.session, ctx.account, subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def update_subscription(
    subscription_id: str, body: SubscriptionUpdate, ctx: ApiContext = Depends(requires(EDIT))
) -> SubscriptionOut:
    changes = body.model_dump(exclude_unset=True)
    if body.billing_address is not None:
        changes["billing_address"] = body.billing_address.model_dump()
    subscription = service.update(ctx.session, ctx.account, subscription_id, changes)
    ctx.session.commit()
    return present(ctx, subscription)


@router.post("/subscriptions/{subscription_id}/cancel", response_model=SubscriptionOut)
def cancel_subscription(
    subscription_id: str, body: CancelRequest, ctx: ApiContext = Depends(requires(EDIT))
) -> SubscriptionOut:
    subscription = service.cancel(ctx.session, ctx.account, subscription_id, body)
    ctx.session.commit()
    return present(ctx, subscription)


@router.post("/subscriptions/{subscription_id}/reactivate", response_model=SubscriptionOut)
def reactivate_subscription(
    subscription_id: str, ctx: ApiContext = Depends(requires(EDIT))
) -> SubscriptionOut:
    subscription = service.reactivate(ctx.session, ctx.account, subscription_id)
    ctx.session.commit()
    return present(ctx, subscription)


@router.post("/subscriptions/{subscription_id}/change", response_model=SubscriptionOut)
def change_subscription(
    subscription_id: str, body: ChangeRequest, ctx: ApiContext = Depends(requires(EDIT))
) -> SubscriptionOut:
    """Change the plan: new line items now (prorated or not) or from the next period."""
    subscription = service.change(
        ctx.session,
        ctx.account,
        subscription_id,
        body,
        allow_custom_items=ctx.allows("line_items.create_custom"),
    )
    ctx.session.commit()
    return present(ctx, subscription)


class PauseRequest(StrictModel):
    resume_at: DateStr | None = None


@router.post("/subscriptions/{subscription_id}/pause", response_model=SubscriptionOut)
def pause_subscription(
    subscription_id: str,
    body: PauseRequest | None = None,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> SubscriptionOut:
    """Stop billing; with `resume_at` it resumes by itself on that date."""
    subscription = service.pause(
        ctx.session, ctx.account, subscription_id, body.resume_at if body else None
    )
    ctx.session.commit()
    return present(ctx, subscription)


@router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionOut)
def resume_subscription(
    subscription_id: str, ctx: ApiContext = Depends(requires(EDIT))
) -> SubscriptionOut:
    """Resume now: a new period starts today and is billed today."""
    subscription = service.resume(ctx.session, ctx.account, subscription_id)
    ctx.session.commit()
    return present(ctx, subscription)


@router.delete("/subscriptions/{subscription_id}", response_model=DeletedResponse)
def delete_subscription(
    subscription_id: str, ctx: ApiContext = Depends(requires(DELETE))
) -> DeletedResponse:
    service.delete_subscription(ctx.session, ctx.account, subscription_id)
    ctx.session.commit()
    return DeletedResponse(id=subscription_id, object="subscription")


@router.get("/subscriptions/{subscription_id}/events", response_model=ListResponse[EventOut])
def subscription_events(
    subscription_id: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor = None,
) -> ListResponse[EventOut]:
    rows, has_more, next_cursor = service.events(
        ctx.session, ctx.account, subscription_id, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[EventOut.model_validate(e) for e in rows], has_more=has_more, next_cursor=next_cursor
    )
