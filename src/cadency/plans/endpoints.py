from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.kit.errors import NotFound
from cadency.plans import service
from cadency.plans.limits import current_plan
from cadency.plans.schemas import AccountPlanOut, PlanOut, SeatAssign, SeatOut, SeatsOut
from cadency.subscriptions.models import SubscriptionStatus

router = APIRouter(tags=["account"])
EDIT = "billing.edit"


def _plan(ctx: ApiContext) -> AccountPlanOut:
    current = current_plan(ctx.session, ctx.account)
    if current is None:
        raise NotFound("This account has no plan: the operator does not bill it")
    sub = current.subscription
    holders = service.seat_holders(ctx.session, ctx.account)
    blocker = service.cancel_blocker(ctx.session, ctx.account)
    plan = current.plan
    return AccountPlanOut(
        plan=PlanOut(
            code=plan.code,
            name=plan.name,
            included_seats=plan.included_seats,
            custom_property_limit=plan.custom_property_limit,
            workflows=plan.workflows,
            workflow_limit=plan.workflow_limit if plan.workflows else 0,
        ),
        billing_period=None if sub is None else "yearly" if current.yearly else "monthly",
        subscription_id=sub.id if sub else None,
        status=sub.status if sub else None,
        trial_end=sub.trial_end if sub and sub.status == SubscriptionStatus.TRIALING else None,
        can_cancel=blocker is None and sub is not None and not sub.cancel_at_period_end,
        cancel_blocked_because=blocker,
        seats=SeatsOut(
            included=plan.included_seats,
            assigned=[SeatOut(user_id=u.id, email=u.email) for u in holders],
        ),
    )


@router.get("/account/plan", response_model=AccountPlanOut)
def get_account_plan(ctx: ApiContext = Depends(api_context)) -> AccountPlanOut:
    return _plan(ctx)


@router.post("/account/seats", response_model=AccountPlanOut)
def assign_seat(body: SeatAssign, ctx: ApiContext = Depends(requires(EDIT))) -> AccountPlanOut:
    service.assign_seat(ctx.session, ctx.account, body.user_id)
    ctx.session.commit()
    return _plan(ctx)


@router.delete("/account/seats/{user_id}", response_model=AccountPlanOut)
def unassign_seat(
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    ctx: ApiContext = Depends(requires(EDIT)),
) -> AccountPlanOut:
    service.unassign_seat(ctx.session, ctx.account, user_id)
    ctx.session.commit()
    return _plan(ctx)
