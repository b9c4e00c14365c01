"""Which plan an account is on and what it allows: read by the packages that enforce a limit
(custom properties, workflows), so it needs only the models."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.plans.models import AccountPlan, Plan
from cadency.subscriptions.models import ENDED_STATUSES, LineItem, Subscription

# The plan an account falls back to when its plan ends.
FREE = "free"


def operator_plans(session: Session, operator_id: int) -> list[Plan]:
    return list(
        session.scalars(
            select(Plan).where(Plan.operator_account_id == operator_id).order_by(Plan.position)
        )
    )


# --- the plan an account is on ---------------------------------------------------------------


@dataclass(frozen=True)
class CurrentPlan:
    plan: Plan
    subscription: Subscription | None  # None once it has ended: the account is on Free
    yearly: bool


def current_plan(session: Session, account: Account) -> CurrentPlan | None:
    """The plan the account is on; None for an account the operator does not bill (the
    operator itself, or an installation without one): no plan limits apply to it."""
    enrolled = session.get(AccountPlan, account.id)
    if enrolled is None:
        return None
    subscription = session.get(Subscription, enrolled.subscription_id)
    plans = operator_plans(session, enrolled.operator_account_id)
    if subscription is not None and subscription.status not in ENDED_STATUSES:
        product_ids = set(
            session.scalars(
                select(LineItem.product_id).where(LineItem.subscription_id == subscription.id)
            )
        )
        for plan in plans:
            if plan.monthly_product_id in product_ids:
                return CurrentPlan(plan, subscription, yearly=False)
            if plan.yearly_product_id in product_ids:
                return CurrentPlan(plan, subscription, yearly=True)
    # An ended plan (a canceled renewal took effect), or a subscription to something that is
    # no plan: the account is on Free.
    free = next((plan for plan in plans if plan.code == FREE), None)
    if free is None:
        return None  # an operator selling no plans of its own sets no limits
    return CurrentPlan(free, None, yearly=False)


def custom_property_limit(session: Session, account: Account) -> int | None:
    """How many custom properties (per object type) the account's plan allows; None: the plan
    sets no limit of its own."""
    current = current_plan(session, account)
    return current.plan.custom_property_limit if current else None


@dataclass(frozen=True)
class WorkflowAllowance:
    allowed: bool
    limit: int | None  # None: no limit of the plan's own
    plan_name: str | None  # None: the operator does not bill the account


def workflow_allowance(session: Session, account: Account) -> WorkflowAllowance:
    """Whether the account's plan includes workflows, and how many."""
    current = current_plan(session, account)
    if current is None:
        return WorkflowAllowance(True, None, None)
    plan = current.plan
    return WorkflowAllowance(plan.workflows, plan.workflow_limit, plan.name)
