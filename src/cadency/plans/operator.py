"""Making an account the installation's operator, with the plans it sells (SPEC §9)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.catalog import service as catalog
from cadency.catalog.schemas import ProductCreate
from cadency.kit.errors import Conflict
from cadency.kit.ids import new_id
from cadency.plans.limits import FREE
from cadency.plans.models import Plan
from cadency.plans.service import operator_account
from cadency.portal import service as portal
from cadency.portal.schemas import PortalConfigurationUpdate


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    monthly: str  # price in the operator's currency
    yearly: str | None
    included_seats: int
    custom_property_limit: int | None
    workflows: bool
    workflow_limit: int | None


# What an operator sells until it edits the products (prices) or plans (limits).
DEFAULT_PLANS = (
    PlanSpec("free", "Free", "0.00", None, 0, 10, False, None),
    PlanSpec("starter", "Starter", "20.00", "200.00", 2, 50, False, None),
    PlanSpec("pro", "Pro", "50.00", "500.00", 5, 200, True, 50),
    PlanSpec("business", "Business", "120.00", "1200.00", 10, None, True, None),
)


def install_plans(session: Session, operator: Account) -> list[Plan]:
    """Make `operator` the installation's operator with the default plans: a product per plan
    and billing period (paid plans fall back to Free when their renewal is canceled), and a
    portal in which its customers switch between the paid plans."""
    if operator_account(session) not in (None, operator):
        raise Conflict("This installation already has an operator account")
    operator.operator = True
    plans: list[Plan] = []
    free_product_id: str | None = None
    for position, spec in enumerate(DEFAULT_PLANS):
        products: dict[str, str | None] = {"monthly": None, "annually": None}
        for frequency, price in (("monthly", spec.monthly), ("annually", spec.yearly)):
            if price is None:
                continue
            product = catalog.create_product(
                session,
                operator,
                ProductCreate.model_validate(
                    {
                        "name": spec.name,
                        "unit_price": price,
                        "billing_frequency": frequency,
                        "fallback_product_id": free_product_id,
                    }
                ),
            )
            products[frequency] = product.id
        if spec.code == FREE:
            free_product_id = products["monthly"]
        plan = Plan(
            id=new_id("plan"),
            operator_account_id=operator.id,
            code=spec.code,
            name=spec.name,
            position=position,
            monthly_product_id=products["monthly"],
            yearly_product_id=products["annually"],
            included_seats=spec.included_seats,
            custom_property_limit=spec.custom_property_limit,
            workflows=spec.workflows,
            workflow_limit=spec.workflow_limit,
        )
        session.add(plan)
        plans.append(plan)
    session.flush()
    paid = [
        product_id
        for plan in plans
        if plan.code != FREE
        for product_id in (plan.monthly_product_id, plan.yearly_product_id)
        if product_id
    ]
    portal.update_configuration(
        session,
        operator,
        PortalConfigurationUpdate.model_validate(
            {
                "plan_change": {"enabled": True, "products": paid},
                "cancellation": {"mode": "at_period_end", "refund": "none"},
            }
        ),
    )
    return plans
