"""The account's own plan (SPEC §9). The operator account sells plans to the other (merchant)
accounts with its ordinary products and subscriptions, so plans are billed, dunned, invoiced
and managed in the portal like anything else the operator sells. This module knows which plan
an account is on, what that plan allows, and who holds its paid seats."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.deletion import delete_account
from cadency.accounts.models import Account, User
from cadency.catalog.line_items import LineItemInput
from cadency.catalog.models import Product
from cadency.crm import service as crm
from cadency.crm.schemas import ContactCreate
from cadency.kit import clock
from cadency.kit.errors import Conflict, InvalidRequest, NotFound
from cadency.kit.i18n import N_, Message
from cadency.kit.terms import CollectionMethod
from cadency.plans.limits import FREE, CurrentPlan, current_plan, operator_plans
from cadency.plans.models import AccountPlan, Plan, SeatAssignment
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.models import ENDED_STATUSES, Subscription, SubscriptionStatus
from cadency.subscriptions.schemas import CancelRequest, SubscriptionCreate

# Accounts whose plan is arranged with a person, not in the portal (SPEC §9).
SELF_SERVICE_KINDS = ("standard",)
# The plan a new account's trial is of.
TRIAL_PLAN = "pro"


# --- the operator ----------------------------------------------------------------------------


def operator_account(session: Session) -> Account | None:
    return session.scalars(select(Account).where(Account.operator.is_(True))).first()


@dataclass(frozen=True)
class PlanForSale:
    plan: Plan
    monthly: Product | None
    yearly: Product | None

    @property
    def yearly_saving(self) -> int | None:
        """What a year costs less billed yearly than monthly."""
        if self.monthly is None or self.yearly is None:
            return None
        saving = self.monthly.unit_price * 12 - self.yearly.unit_price
        return saving if saving > 0 else None


def plans_for_sale(session: Session, operator_id: int) -> list[PlanForSale]:
    """The operator's plans with their products (prices), cheapest first."""
    rows = []
    for plan in operator_plans(session, operator_id):
        monthly = session.get(Product, plan.monthly_product_id) if plan.monthly_product_id else None
        yearly = session.get(Product, plan.yearly_product_id) if plan.yearly_product_id else None
        rows.append(PlanForSale(plan, monthly, yearly))
    return rows


# --- enrolling a merchant account ------------------------------------------------------------


def enroll(session: Session, account: Account, email: str) -> AccountPlan:
    """Make `account` a customer of the operator: a contact for `email` in the operator's
    account (the existing one, if that person already owns an account) and a subscription to
    the trial plan with the operator's trial (no payment method yet: it is collected on the
    first invoice)."""
    operator = operator_account(session)
    if operator is None:
        raise Conflict("This installation has no operator account to bill accounts")
    if account.id == operator.id:
        raise Conflict("The operator account has no plan of its own")
    if session.get(AccountPlan, account.id) is not None:
        raise Conflict("Account %(account_id)s already has a plan", account_id=account.id)
    plan = _plan(session, operator.id, TRIAL_PLAN)
    # One person may own several accounts: they are one customer (contact) of the operator.
    contact = crm.find_contact_by_email(session, operator.id, email) or crm.create_contact(
        session, operator, ContactCreate.model_validate({"email": email, "last_name": account.name})
    )
    assert plan.monthly_product_id is not None
    subscription = subscriptions.create(
        session,
        operator,
        SubscriptionCreate(
            name=f"{plan.name} · {account.name} ({account.id})",
            contact_id=contact.id,
            currency=operator.currency,
            line_items=[LineItemInput(product_id=plan.monthly_product_id)],
            collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
            collect_payment_method_on_first_invoice=True,
            trial_days=operator.trial_days,
        ),
        allow_custom_items=False,
    )
    enrolled = AccountPlan(
        account_id=account.id,
        operator_account_id=operator.id,
        contact_id=contact.id,
        subscription_id=subscription.id,
        created_at=clock.real_now(),
    )
    session.add(enrolled)
    session.flush()
    return enrolled


def _plan(session: Session, operator_id: int, code: str) -> Plan:
    plan = session.scalars(
        select(Plan).where(Plan.operator_account_id == operator_id, Plan.code == code)
    ).one_or_none()
    if plan is None:
        raise NotFound("The operator sells no plan '%(code)s'", code=code)
    return plan


def end_trial(session: Session, account: Account) -> Subscription:
    """End the account's trial today (SPEC §9): the plan is charged now when a payment method
    is on file, else the account moves to Free, as when the trial runs out."""
    if account.kind not in SELF_SERVICE_KINDS:
        raise Conflict("A %(kind)s account arranges its plan with support", kind=account.kind)
    current = current_plan(session, account)
    sub = current.subscription if current else None
    if sub is None or sub.status != SubscriptionStatus.TRIALING:
        raise Conflict("The account's plan is not in a trial")
    operator = session.get(Account, sub.account_id)
    assert operator is not None
    return subscriptions.end_trial(session, operator, sub.id)


# --- deleting a free account ------------------------------------------------------------------


def deletion_blocker(account: Account, current: CurrentPlan | None) -> str | None:
    """Why the account, on the `current` plan, cannot be deleted, if it cannot: only a free
    account (SPEC §9)."""
    if account.operator:
        return Message(N_("The operator account bills the others and cannot be deleted"))
    if current is not None and current.plan.code != FREE:
        return Message(
            N_(
                "The account is on the %(plan)s plan: cancel its renewal, and delete it once it "
                "has moved to the Free plan"
            ),
            plan=current.plan.name,
        )
    return None


def delete_free_account(session: Session, account: Account, typed_id: str) -> dict[str, int]:
    """Delete the account and every record of it, once its ID is typed to confirm; the
    operator's subscription for its Free plan ends today (the operator keeps its records)."""
    if typed_id.strip() != str(account.id):
        raise InvalidRequest(
            "Type the account ID, %(account_id)s, to confirm the deletion",
            account_id=account.id,
            param="account_id",
        )
    current = current_plan(session, account)
    blocker = deletion_blocker(account, current)
    if blocker is not None:
        raise Conflict(blocker)
    sub = current.subscription if current else None
    if sub is not None and sub.status not in ENDED_STATUSES:
        operator = session.get(Account, sub.account_id)
        assert operator is not None
        subscriptions.cancel(
            session,
            operator,
            sub.id,
            # The account ends with it, so no commitment can run on.
            CancelRequest(
                mode="immediately",
                comment=f"Account {account.id} was deleted",
                override_commitment=True,
            ),
        )
    return delete_account(session, account)


# --- paid seats ------------------------------------------------------------------------------


def seat_holders(session: Session, account: Account) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(SeatAssignment, SeatAssignment.user_id == User.id)
            .where(SeatAssignment.account_id == account.id)
            .order_by(User.email)
        )
    )


def assign_seat(session: Session, account: Account, user_id: int) -> SeatAssignment:
    """Give a user one of the plan's paid seats; 409 when every seat is taken."""
    user = session.get(User, user_id)
    if user is None or user.account_id != account.id:
        raise InvalidRequest("No such user: %(user_id)s", user_id=user_id, param="user_id")
    if session.get(SeatAssignment, (account.id, user_id)) is not None:
        raise Conflict("%(email)s already has a paid seat", email=user.email, param="user_id")
    current = current_plan(session, account)
    included = current.plan.included_seats if current else 0
    holders = seat_holders(session, account)
    if len(holders) >= included:
        plan_name = current.plan.name if current else "no plan"
        raise Conflict(
            "All %(included)s paid seats of the %(plan_name)s plan are assigned; "
            "unassign one or upgrade the plan",
            included=included,
            plan_name=plan_name,
        )
    seat = SeatAssignment(account_id=account.id, user_id=user.id, assigned_at=clock.real_now())
    session.add(seat)
    session.flush()
    return seat


def unassign_seat(session: Session, account: Account, user_id: int) -> None:
    seat = session.get(SeatAssignment, (account.id, user_id))
    if seat is None:
        raise NotFound("User %(user_id)s holds no paid seat", user_id=user_id)
    session.delete(seat)
    session.flush()


def cancel_blocker(session: Session, account: Account) -> str | None:
    """Why the account may not cancel its plan now, if it may not: only a self-service
    account with every paid seat unassigned cancels itself (SPEC §9)."""
    if account.kind not in SELF_SERVICE_KINDS:
        return Message(
            N_("A %(kind)s account cannot cancel its plan itself; contact support"),
            kind=account.kind,
        )
    holders = seat_holders(session, account)
    if holders:
        emails = ", ".join(user.email for user in holders)
        return Message(
            N_("Unassign every paid seat before canceling the plan; assigned to: %(emails)s"),
            emails=emails,
        )
    return None


def check_cancelable(session: Session, account: Account) -> None:
    """409 when the account may not cancel its plan now; `param` says which rule refused
    (`seats` or `kind`), so the billing portal can tell the buyer in their language."""
    blocker = cancel_blocker(session, account)
    if blocker is not None:
        raise Conflict(blocker, param="kind" if account.kind not in SELF_SERVICE_KINDS else "seats")


def commit_to_the_period(subscription: Subscription) -> None:
    """An account's plan is committed to its billing period (as HubSpot's contracts are): so a
    canceled renewal runs to the period's end with a notice of non-renewal (commitment period
    and effective date), and then the plan falls back to Free instead of ending (SPEC §6, §9)."""
    end = subscription.current_period_end
    if end is None or (subscription.commitment_end and subscription.commitment_end >= end):
        return  # a longer commitment already runs
    subscription.commitment_end = end
    subscription.commitment_months = 12 if subscription.billing_frequency == "annually" else 1


def before_portal_cancel(session: Session, operator: Account, subscription_id: str) -> None:
    """The plan's rules for a buyer's cancel in the operator's billing portal, when the
    subscription is a merchant account's own plan: paid seats unassigned first, partners ask
    support (409), and the plan is committed to its period. The portal sits below plans, so its
    pages pass this to `portal.service.cancel`."""
    merchant = account_for_subscription(session, subscription_id)
    if merchant is None:
        return
    check_cancelable(session, merchant)
    commit_to_the_period(subscriptions.get(session, operator, subscription_id))


def account_for_subscription(session: Session, subscription_id: str) -> Account | None:
    """The merchant account whose plan this subscription (in the operator's account) is."""
    enrolled = session.scalars(
        select(AccountPlan).where(AccountPlan.subscription_id == subscription_id)
    ).one_or_none()
    return session.get(Account, enrolled.account_id) if enrolled else None
