"""The account's plan and its paid seats as the API shows them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt

from cadency.kit.schemas import StrictModel


class PlanOut(BaseModel):
    code: str
    name: str
    included_seats: int
    custom_property_limit: int | None
    workflows: bool
    workflow_limit: int | None


class SeatOut(BaseModel):
    user_id: int
    email: str


class SeatsOut(BaseModel):
    included: int
    assigned: list[SeatOut]


class AccountPlanOut(BaseModel):
    object: Literal["account_plan"] = "account_plan"
    plan: PlanOut
    billing_period: Literal["monthly", "yearly"] | None
    # The subscription in the operator's account that bills the plan; null once it ended.
    subscription_id: str | None
    status: str | None
    trial_end: date | None
    can_cancel: bool
    cancel_blocked_because: str | None
    seats: SeatsOut


class SeatAssign(StrictModel):
    user_id: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
