"""The billing portal: what the merchant lets buyers do, and the buyer's actions, each done by
the same subscription services as the API and the merchant's pages (SPEC §9)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.catalog.line_items import LineItemInput
from cadency.catalog.models import Product
from cadency.kit import clock, periods
from cadency.kit.errors import Conflict, InvalidRequest, describe_validation_error
from cadency.kit.repository import get_referenced, owned_by_id
from cadency.kit.schemas import text_problem
from cadency.portal.links import SESSION_LIFETIME, PortalLink, portal_link
from cadency.portal.models import PortalConfiguration
from cadency.portal.schemas import PortalConfigurationUpdate, PortalFeatures
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.models import LineItem, Subscription, SubscriptionStatus
from cadency.subscriptions.schemas import CancelRequest, ChangeRequest

# --- configuration -------------------------------------------------------------------------


def get_configuration(session: Session, account: Account) -> tuple[PortalFeatures, datetime | None]:
    """The account's portal features (the defaults until it changes one) and when they last
    changed."""
    stored = session.get(PortalConfiguration, account.id)
    if stored is None:
        return PortalFeatures(), None
    return PortalFeatures.model_validate(stored.features), stored.updated_at


def update_configuration(
    session: Session, account: Account, changes: PortalConfigurationUpdate
) -> tuple[PortalFeatures, datetime]:
    """Merge the given features, field by field, into the stored ones."""
    current, _ = get_configuration(session, account)
    merged = current.model_dump()
    for feature, fields in changes.model_dump(exclude_unset=True).items():
        if fields is None:
            raise InvalidRequest("'%(feature)s' cannot be null", feature=feature, param=feature)
        merged[feature].update({k: v for k, v in fields.items() if v is not None})
    try:
        features = PortalFeatures.model_validate(merged)
    except ValidationError as exc:  # a rule across fields (e.g. a reason given twice)
        first = exc.errors()[0]
        message, _ = describe_validation_error(dict(first))
        raise InvalidRequest(message, param=".".join(str(p) for p in first["loc"])) from exc
    _check_products(session, account, features)
    now = clock.account_now(account)
    stored = session.get(PortalConfiguration, account.id)
    if stored is None:
        stored = PortalConfiguration(account_id=account.id, features={}, updated_at=now)
        session.add(stored)
    stored.features = features.model_dump(mode="json")
    stored.updated_at = now
    session.flush()
    return features, now


def _check_products(session: Session, account: Account, features: PortalFeatures) -> None:
    plan_change = features.plan_change
    for index, product_id in enumerate(plan_change.products):
        param = f"plan_change.products.{index}"
        product = get_referenced(session, Product, account.id, product_id, "product", param)
        if not product.billing_frequency:
            raise InvalidRequest(
                "Product '%(product_id)s' is one-time; buyers can only switch to "
                "recurring products",
                product_id=product_id,
                param=param,
            )
        if product.archived:
            raise InvalidRequest(
                "Product '%(product_id)s' is archived", product_id=product_id, param=param
            )
    if plan_change.enabled and not plan_change.products:
        raise InvalidRequest(
            "Name the products buyers may switch between to turn plan changes on",
            param="plan_change.products",
        )


# --- sessions ------------------------------------------------------------------------------


def create_session(
    session: Session, account: Account, subscription_id: str, return_url: str | None
) -> tuple[Subscription, PortalLink]:
    """A signed link for the subscription's buyer, valid for SESSION_LIFETIME."""
    subscription = subscriptions.get(session, account, subscription_id)
    return subscription, portal_link(session, subscription, SESSION_LIFETIME, return_url)


# --- what the buyer sees and may do ----------------------------------------------------------


@dataclass(frozen=True)
class PlanOption:
    """A plan the buyer may switch to (or the current one), at the subscription's quantity."""

    product: Product
    amount: int  # per period, minor units, for the current quantity
    current: bool
    # What a yearly plan saves over twelve months of the monthly plan of the same name.
    yearly_saving: int | None = None


def current_plan_item(subscription: Subscription) -> LineItem | None:
    """The plan: the one recurring line item, from the library. A subscription with several
    recurring items (or a custom one) is changed by the merchant, not in the portal."""
    recurring = [item for item in subscription.line_items if item.billing_frequency]
    if len(recurring) != 1 or not recurring[0].product_id:
        return None
    return recurring[0]


def can_change_plan(subscription: Subscription) -> bool:
    """Not while canceling, nor while a change already waits for the period end."""
    canceling = subscription.cancel_at_period_end or subscription.cancel_at is not None
    return (
        subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
        and not canceling
        and not subscription.pending_change
    )


def pending_plan(session: Session, subscription: Subscription) -> Product | None:
    """The plan a change scheduled for the period end switches to."""
    items = (subscription.pending_change or {}).get("line_items") or []
    product_id = items[0].get("product_id") if len(items) == 1 else None
    product = session.get(Product, product_id) if isinstance(product_id, str) else None
    return product if product and product.account_id == subscription.account_id else None


def plan_options(
    session: Session, account: Account, subscription: Subscription, features: PortalFeatures
) -> list[PlanOption]:
    """The current plan and the plans the configuration offers instead, in its order; none
    when plan changes are off or the subscription has no single library plan."""
    plan_change = features.plan_change
    item = current_plan_item(subscription)
    if not plan_change.enabled or item is None or not can_change_plan(subscription):
        return []
    ids = [item.product_id, *plan_change.products]
    products = owned_by_id(session, Product, account.id, ids)
    current = products.get(item.product_id or "")
    offered: list[Product] = [] if current is None else [current]
    for product_id in plan_change.products:
        product = products.get(product_id)
        if (
            product is None
            or product is current
            or product.archived
            or not product.billing_frequency
            or product.currency != subscription.currency
        ):
            continue
        if (
            not plan_change.billing_period_change
            and product.billing_frequency != item.billing_frequency
        ):
            continue
        offered.append(product)
    monthly = {
        p.name: p.unit_price
        for p in offered
        if p.billing_frequency == periods.BillingFrequency.MONTHLY
    }
    options = []
    for product in offered:
        saving = None
        if (
            product.billing_frequency == periods.BillingFrequency.ANNUALLY
            and product.name in monthly
        ):
            difference = (monthly[product.name] * 12 - product.unit_price) * item.quantity
            saving = difference if difference > 0 else None
        options.append(
            PlanOption(
                product=product,
                amount=product.unit_price * item.quantity,
                current=product is current,
                yearly_saving=saving,
            )
        )
    return options


def change_plan(
    session: Session,
    account: Account,
    subscription_id: str,
    product_id: str,
    features: PortalFeatures,
) -> Subscription:
    """Switch to one of the offered plans, prorated and timed as the configuration says."""
    subscription = subscriptions.get(session, account, subscription_id)
    if not features.plan_change.enabled:
        raise Conflict("Plan changes are not offered in this portal")
    options = plan_options(session, account, subscription, features)
    chosen = next((o for o in options if o.product.id == product_id and not o.current), None)
    if chosen is None:
        raise InvalidRequest("Choose one of the plans offered", param="product_id")
    item = current_plan_item(subscription)
    assert item is not None  # there are options
    request = ChangeRequest(
        line_items=[LineItemInput(product_id=product_id, quantity=item.quantity)],
        proration=features.plan_change.proration,
        effective=features.plan_change.effective,
    )
    return subscriptions.change(
        session, account, subscription.id, request, allow_custom_items=False
    )


def cancel(
    session: Session,
    account: Account,
    subscription_id: str,
    reasons: str | Sequence[str] | None,
    comment: str | None,
    features: PortalFeatures,
    *,
    plan_rules: Callable[[Session, Account, str], None],
) -> Subscription:
    """The buyer cancels, in the mode and with the refund the configuration sets, giving one
    or more of the reasons it offers (`reasons`: one reason, or several in the order chosen).

    `plan_rules(session, account, subscription_id)` refuses or adjusts the cancel of a
    merchant account's own plan (`plans.service.before_portal_cancel`): plans sit above the
    portal, so the caller passes them in; required, so no caller forgets them."""
    cancellation = features.cancellation
    if not cancellation.enabled:
        raise Conflict("Canceling is not offered in this portal")
    plan_rules(session, account, subscription_id)
    given = [reasons] if isinstance(reasons, str) else list(reasons or [])
    chosen = list(dict.fromkeys(given))  # a reason ticked twice counts once
    if not chosen or any(reason not in cancellation.reasons for reason in chosen):
        raise InvalidRequest("Choose a reason for canceling", param="reason")
    if comment is not None and (problem := text_problem(comment, multiline=True)):
        raise InvalidRequest(
            "Invalid value for 'comment': %(problem)s", problem=problem, param="comment"
        )
    mode, refund = cancellation.mode, cancellation.refund
    subscription = subscriptions.get(session, account, subscription_id)
    if subscriptions.commitment_runs(subscription, clock.account_today(account)):
        # Only the merchant may end a commitment early; the buyer's cancel stops renewal at
        # its end, and the paid periods are used up (SPEC §6).
        mode, refund = "at_period_end", "none"
    request: dict[str, Any] = {
        "mode": mode,
        "refund": refund,
        "reasons": chosen,
        "comment": comment,
    }
    return subscriptions.cancel(
        session, account, subscription_id, CancelRequest.model_validate(request)
    )


def reactivate(session: Session, account: Account, subscription_id: str) -> Subscription:
    """Undo a cancellation at the period end (always offered: it keeps a customer)."""
    return subscriptions.reactivate(session, account, subscription_id)
