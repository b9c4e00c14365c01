"""Subscription use cases: create, change, cancel, delete, find. Services never commit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account, User
from cadency.accounts.service import validate_currency
from cadency.billing import engine, invoicing, ledger, planner, refunds
from cadency.billing.state import (
    Amounts,
    compute_amounts,
    move_next_payment_date,
    payment_options,
    record_event,
    refresh_derived,
    restart_billing,
    start_new_cycle,
    stop_billing,
)
from cadency.catalog.line_items import build_line_items
from cadency.catalog.models import Fee
from cadency.crm import service as crm
from cadency.crm.models import Association, Company, Contact
from cadency.invoices.models import Invoice
from cadency.kit import clock, labels, money, outbox, periods, signing
from cadency.kit.errors import APIError, Conflict, InvalidRequest, not_found
from cadency.kit.events import EventType
from cadency.kit.ids import new_id
from cadency.kit.pagination import decode_cursor, decode_id_cursor, encode_cursor, paginate
from cadency.kit.repository import get_owned, get_referenced
from cadency.kit.terms import BillingTerms, CollectionMethod
from cadency.payments import processor
from cadency.payments import service as payments
from cadency.payments.models import NOT_KEPT, Payment, PaymentMethod
from cadency.properties import service as properties
from cadency.subscriptions.models import (
    ENDED_STATUSES,
    LineItem,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from cadency.subscriptions.schemas import (
    CancelRequest,
    ChangeRequest,
    PaymentOptions,
    SearchRequest,
    SubscriptionCreate,
)
from cadency.subscriptions.search import search_clauses
from cadency.subscriptions.summary import group_lines

OBJECT_TYPE = "subscriptions"


def get(
    session: Session, account: Account, subscription_id: str, *, for_update: bool = False
) -> Subscription:
    """The account's subscription with its line items. `for_update` locks the row (PostgreSQL)
    until the request commits, so an edit and a billing worker never overwrite each other."""
    if for_update:
        locked = session.scalar(
            select(Subscription)
            .where(Subscription.id == subscription_id, Subscription.account_id == account.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if locked is None:
            raise not_found("subscription", subscription_id)
    subscription = get_owned(session, Subscription, account.id, subscription_id, "subscription")
    # line_items load explicitly (lazy="raise" elsewhere keeps N+1 queries out).
    session.refresh(subscription, attribute_names=["line_items"])
    return subscription


# --- create --------------------------------------------------------------------------------


def _check_grouping(items: Sequence[LineItem]) -> list[LineItem]:
    """All recurring items of one subscription share frequency, terms, start and payments."""
    recurring = [item for item in items if item.billing_frequency]
    if not recurring:
        raise InvalidRequest(
            "A subscription needs at least one recurring line item (one with a billing_frequency)",
            param="line_items",
        )
    first = recurring[0]
    for index, item in enumerate(items):
        if not item.billing_frequency:
            continue
        for field in (
            "billing_frequency",
            "billing_terms",
            "number_of_payments",
            "billing_start_date",
        ):
            if getattr(item, field) != getattr(first, field):
                raise InvalidRequest(
                    "All recurring line items of a subscription must share %(field)s; line "
                    "item %(index)s differs from the first. Use a payment link or a quote "
                    "to sell items with different terms: they become separate "
                    "subscriptions.",
                    field=field,
                    index=index,
                    param=f"line_items.{index}.{field}",
                )
    return recurring


def _payment_method_for(
    session: Session, account: Account, payment_method_id: str, contact_id: str
) -> PaymentMethod:
    method = get_referenced(
        session, PaymentMethod, account.id, payment_method_id, "payment method", "payment_method_id"
    )
    if method.contact_id != contact_id:
        raise InvalidRequest(
            "The payment method belongs to another contact than the billing contact",
            param="payment_method_id",
        )
    if not method.reusable:
        raise InvalidRequest(
            NOT_KEPT,
            param="payment_method_id",
        )
    processor.require_processor(account, param="payment_method_id")
    return method


def _default_name(items: Sequence[LineItem]) -> str:
    recurring = [item.name for item in items if item.billing_frequency]
    extra = len(recurring) - 1
    return recurring[0] + (f" + {extra} more" if extra > 0 else "")


def create(
    session: Session,
    account: Account,
    data: SubscriptionCreate,
    *,
    allow_custom_items: bool,
    bill_now: bool = True,
) -> Subscription:
    """Create a subscription from line items that share their billing terms (SPEC §4).

    `bill_now=False` skips the engine run at creation: the caller bills the first period itself
    (a payment-link checkout charges several subscriptions' first periods on one invoice)."""
    contact = get_referenced(session, Contact, account.id, data.contact_id, "contact", "contact_id")
    # A customer subscribing is one the lists show: an archived contact or company comes back
    # (a returning buyer on the pay page, say), so nothing billed is hidden.
    crm.restore_record(session, account, contact)
    if data.company_id is not None:
        company = get_referenced(
            session, Company, account.id, data.company_id, "company", "company_id"
        )
        crm.restore_record(session, account, company)
    currency = validate_currency(data.currency)

    subscription_id = new_id("sub")
    # The line items reference the subscription, which does not exist until it is added below.
    with session.no_autoflush:
        subscription = _new_subscription(
            session, account, data, subscription_id, allow_custom_items
        )
    refresh_derived(session, subscription, account)
    session.flush()
    # Called even with no properties: required custom properties must be checked.
    properties.set_values(
        session, account, OBJECT_TYPE, subscription.id, data.properties, creating=True
    )
    record_event(
        session,
        subscription,
        EventType.SUBSCRIPTION_CREATED,
        {
            "status": subscription.status,
            "start_date": subscription.start_date.isoformat(),
            "next_payment_date": subscription.next_payment_date.isoformat()
            if subscription.next_payment_date
            else None,
            "next_payment_amount": money.format_amount(subscription.next_payment_amount, currency),
        },
        account,
    )
    # Whatever is due today happens now: the first invoice of a subscription that starts today
    # is issued and charged before the buyer gets the answer, as at a checkout.
    if bill_now:
        engine.process(session, account, subscription, clock.account_now(account))
    session.flush()
    return subscription


def create_grouped(
    session: Session, account: Account, data: SubscriptionCreate, *, allow_custom_items: bool
) -> list[Subscription]:
    """Create what one purchase describes: one subscription, or one per group of the grouping
    rule (SPEC §4) when its items differ in their billing terms. One-time items and the fees go
    on the subscription billed first. An error about a group's item names the item's position
    in `data.line_items` (`param`), and nothing is billed unless every group was created."""
    grouping = group_lines(data.line_items, clock.account_today(account))
    if len(grouping.groups) <= 1:
        return [create(session, account, data, allow_custom_items=allow_custom_items)]
    created = []
    for index in range(len(grouping.groups)):
        positions = grouping.positions(index)
        part = data.model_copy(
            update={
                "line_items": [data.line_items[p] for p in positions],
                # Checkout fees are charged once, with the one-time items.
                "fee_ids": data.fee_ids if index == grouping.first else [],
            }
        )
        try:
            created.append(
                create(
                    session, account, part, allow_custom_items=allow_custom_items, bill_now=False
                )
            )
        except APIError as exc:
            exc.param = _original_param(exc.param, positions)
            raise
    # Only once every group passed the checks is anything charged: the engine run that
    # `create` does itself, for each subscription in turn.
    now = clock.account_now(account)
    for subscription in created:
        try:
            engine.process(session, account, subscription, now)
        except APIError as exc:
            exc.param = None  # about the purchase as a whole
            raise
    session.flush()
    return created


def _original_param(param: str | None, positions: Sequence[int]) -> str | None:
    """A group's `line_items.<i>.field` as the position in the whole purchase it came from."""
    match = re.fullmatch(r"line_items\.(\d+)(\..*)?", param or "")
    if match is None:
        return param
    index = int(match.group(1))
    original = positions[index] if index < len(positions) else index
    return f"line_items.{original}{match.group(2) or ''}"


def _new_subscription(
    session: Session,
    account: Account,
    data: SubscriptionCreate,
    subscription_id: str,
    allow_custom_items: bool,
) -> Subscription:
    currency = data.currency
    contact_id = data.contact_id
    items = build_line_items(
        session,
        account,
        data.line_items,
        currency,
        allow_custom=allow_custom_items,
        parent={"subscription_id": subscription_id},
    )
    recurring = _check_grouping(items)
    terms = recurring[0]
    assert terms.billing_frequency is not None and terms.billing_terms is not None

    today = clock.account_today(account)
    start = terms.billing_start_date or today
    if start < today:
        raise InvalidRequest(
            "billing_start_date %(start)s is in the past (today is %(today)s in %(timezone)s)",
            start=start.isoformat(),
            today=today.isoformat(),
            timezone=account.timezone,
            param="line_items.0.billing_start_date",
        )

    _check_collection(session, account, data, contact_id)
    for index, fee_id in enumerate(data.fee_ids):
        fee = get_referenced(session, Fee, account.id, fee_id, "fee", f"fee_ids.{index}")
        if fee.fee_type == "fixed" and fee.currency != currency:
            raise InvalidRequest(
                "The fee is in %(currency)s, the subscription in %(subscription_currency)s",
                currency=fee.currency,
                subscription_currency=currency,
                param=f"fee_ids.{index}",
            )

    trial_end = periods.add_days(start, data.trial_days) if data.trial_days else None
    anchor = trial_end or start
    frequency = terms.billing_frequency
    status = planner.starting_status(start, trial_end, today)
    if status == SubscriptionStatus.ACTIVE:
        period: tuple[date | None, date | None] = (
            anchor,
            periods.period_start(anchor, frequency, 1),
        )
    elif status == SubscriptionStatus.TRIALING:
        period = (start, trial_end)
    else:
        period = (None, None)

    now = clock.account_now(account)
    subscription = Subscription(
        id=subscription_id,
        account_id=account.id,
        name=data.name or _default_name(items),
        status=status,
        contact_id=contact_id,
        company_id=data.company_id,
        currency=currency,
        billing_address=data.billing_address.model_dump() if data.billing_address else None,
        collection_method=data.collection_method,
        payment_terms=data.payment_terms
        or ("due_on_receipt" if data.collection_method == "send_invoice" else None),
        payment_method_id=data.payment_method_id,
        collect_payment_method_on_first_invoice=data.collect_payment_method_on_first_invoice,
        invoice_creation=data.invoice_creation,
        invoice_settings=_invoice_settings(account, data),
        payment_options=stored_payment_options(data.payment_options, data.collection_method)
        if data.payment_options
        else None,
        fee_ids=list(dict.fromkeys(data.fee_ids)),
        billing_frequency=frequency,
        billing_terms=terms.billing_terms,
        number_of_payments=terms.number_of_payments,
        start_date=start,
        billing_anchor=anchor,
        end_date=(
            periods.fixed_term_end(anchor, frequency, terms.number_of_payments)
            if terms.billing_terms == BillingTerms.FIXED and terms.number_of_payments
            else None
        ),
        current_period_start=period[0],
        current_period_end=period[1],
        next_payment_date=anchor if data.invoice_creation else None,
        trial_end=trial_end,
        commitment_months=data.commitment_months,
        commitment_end=(
            periods.add_months(anchor, data.commitment_months) if data.commitment_months else None
        ),
        payments_completed=0,
        periods_billed=0,
        total_collected=0,
        created_at=now,
        updated_at=now,
    )
    subscription.line_items = list(items)
    session.add(subscription)
    return subscription


def _check_collection(
    session: Session, account: Account, data: SubscriptionCreate, contact_id: str
) -> None:
    if data.payment_method_id is not None:
        _payment_method_for(session, account, data.payment_method_id, contact_id)
    if not data.invoice_creation:
        return
    if data.collection_method == "charge_automatically":
        if data.payment_method_id is None and not data.collect_payment_method_on_first_invoice:
            raise InvalidRequest(
                "charge_automatically needs a payment_method_id, or "
                "collect_payment_method_on_first_invoice: true",
                param="payment_method_id",
            )
        if data.payment_terms and not data.collect_payment_method_on_first_invoice:
            raise InvalidRequest(
                "payment_terms apply to invoices; with charge_automatically only to a first "
                "invoice that collects the payment method",
                param="payment_terms",
            )
    elif data.collect_payment_method_on_first_invoice:
        raise InvalidRequest(
            "collect_payment_method_on_first_invoice goes with charge_automatically",
            param="collect_payment_method_on_first_invoice",
        )


def stored_payment_options(options: PaymentOptions, collection_method: str) -> dict[str, Any]:
    """The options as stored; accepting online payments needs at least one payment type, and a
    subscription charged automatically always accepts them (seed 004: the switch cannot be
    turned off then; there would be nothing to charge)."""
    if collection_method == CollectionMethod.CHARGE_AUTOMATICALLY and not (
        options.accept_online_payments
    ):
        raise InvalidRequest(
            "A subscription charged automatically accepts online payments; set "
            "accept_online_payments to true or use collection_method 'send_invoice'",
            param="payment_options.accept_online_payments",
        )
    if options.accept_online_payments and not options.payment_types:
        raise InvalidRequest(
            "Name at least one payment type (card, bank_debit) when online payments are accepted",
            param="payment_options.payment_types",
        )
    return options.model_dump(mode="json")


def _invoice_settings(account: Account, data: SubscriptionCreate) -> dict[str, Any]:
    settings = data.invoice_settings
    # Left out, the comment and tax IDs are the account's defaults; given empty, there are none.
    fields = {"comments", "tax_ids"} & (settings.model_fields_set if settings else set())
    given = settings.model_dump(include=fields) if settings else {}
    return {
        **invoicing.invoice_texts(account, given),
        # Unset, the buyer reads the contact's language, else the account's (SPEC §9): resolved
        # when each invoice and email is written, so a later change of the contact's applies.
        "language": settings.language if settings else None,
        "locale": (settings.locale if settings else None) or account.locale,
    }


# --- update --------------------------------------------------------------------------------

_BILLING_FIELDS = ("payment_method_id", "next_payment_date", "payment_options")


def update(
    session: Session,
    account: Account,
    subscription_id: str,
    changes: dict[str, Any],
    *,
    source: str | None = None,
) -> Subscription:
    """Edit the fields API.md lets PATCH change; each change lands on the timeline. `source`
    names what made the change when it was not a person or the API (a workflow), so whoever
    hears of it can tell (a workflow is not triggered by its own change)."""
    subscription = get(session, account, subscription_id, for_update=True)
    for field in ("name", "contact_id", "payment_options"):
        if field in changes and changes[field] is None:
            raise InvalidRequest("'%(field)s' cannot be null", field=field, param=field)
    if not subscription.invoice_creation:
        for field in _BILLING_FIELDS:
            if field in changes:
                raise Conflict(
                    "Invoice creation is off for this subscription: it is a record only, and its "
                    "billing fields cannot be edited",
                    param=field,
                )
    ended = subscription.status in ENDED_STATUSES
    changed: dict[str, Any] = {}

    if "name" in changes and changes["name"] != subscription.name:
        changed["name"] = {"from": subscription.name, "to": changes["name"]}
        subscription.name = changes["name"]

    contact_id = subscription.contact_id
    if "contact_id" in changes and changes["contact_id"] != subscription.contact_id:
        contact = get_referenced(
            session, Contact, account.id, changes["contact_id"], "contact", "contact_id"
        )
        crm.restore_record(session, account, contact)  # as on create
        changed["contact_id"] = {"from": subscription.contact_id, "to": contact.id}
        contact_id = contact.id
        subscription.contact_id = contact.id

    if "company_id" in changes and changes["company_id"] != subscription.company_id:
        if changes["company_id"] is not None:
            company = get_referenced(
                session, Company, account.id, changes["company_id"], "company", "company_id"
            )
            crm.restore_record(session, account, company)  # as on create
        changed["company_id"] = {"from": subscription.company_id, "to": changes["company_id"]}
        subscription.company_id = changes["company_id"]

    if "payment_method_id" in changes:
        new_method = changes["payment_method_id"]
        if (
            new_method is None
            and subscription.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
            and not ended
        ):
            raise InvalidRequest(
                "A subscription charged automatically needs a payment method",
                param="payment_method_id",
            )
        if new_method is not None:
            _payment_method_for(session, account, new_method, contact_id)
        if new_method != subscription.payment_method_id:
            changed["payment_method_id"] = {
                "from": subscription.payment_method_id,
                "to": new_method,
            }
            subscription.payment_method_id = new_method
    elif "contact_id" in changed and subscription.payment_method_id is not None:
        method = session.get(PaymentMethod, subscription.payment_method_id)
        if method is not None and method.contact_id != contact_id:
            raise InvalidRequest(
                "The new billing contact does not own the subscription's payment method; send a "
                "payment_method_id of the new contact too",
                param="payment_method_id",
            )

    if "billing_address" in changes:
        changed["billing_address"] = {"to": changes["billing_address"]}
        subscription.billing_address = changes["billing_address"]

    if "payment_options" in changes:
        # Only the options given change (PATCH); the others keep their values.
        current = payment_options(subscription)
        merged = PaymentOptions.model_validate({**current, **changes["payment_options"]})
        stored = stored_payment_options(merged, subscription.collection_method)
        if stored != current:
            changed["payment_options"] = {"from": current, "to": stored}
            subscription.payment_options = stored

    if "next_payment_date" in changes:
        _move_next_payment_date(account, subscription, changes["next_payment_date"], changed)

    if "owner_id" in changes and changes["owner_id"] != subscription.owner_id:
        owner = changes["owner_id"]
        if owner is not None:
            user = session.get(User, owner)
            if user is None or user.account_id != account.id or not user.is_active:
                raise InvalidRequest(
                    "No active user %(owner)s in this account to own the subscription",
                    owner=owner,
                    param="owner_id",
                )
        changed["owner_id"] = {"from": subscription.owner_id, "to": owner}
        subscription.owner_id = owner

    if changes.get("properties"):
        properties.set_values(
            session, account, OBJECT_TYPE, subscription.id, changes["properties"], creating=False
        )
        changed["properties"] = sorted(changes["properties"])

    if changed:
        subscription.updated_at = clock.account_now(account)
        refresh_derived(session, subscription, account)
        data: dict[str, Any] = {"changes": changed}
        if source is not None:
            data["source"] = source
        record_event(session, subscription, EventType.SUBSCRIPTION_UPDATED, data, account)
    if "payment_method_id" in changed and subscription.status == SubscriptionStatus.UNPAID:
        _retry_past_due_now(session, account, subscription)
    elif not changed or changed.keys() - _RECORD_ONLY_FIELDS:
        engine.process(session, account, subscription, clock.account_now(account))
    # (A change of its name, owner or custom properties alone bills nothing: no engine run,
    # which a workflow setting a property on every renewal would pay for each time.)
    session.flush()
    return subscription


# Fields whose change alone leaves the billing as it is.
_RECORD_ONLY_FIELDS = frozenset({"name", "owner_id", "properties"})


def _retry_past_due_now(session: Session, account: Account, subscription: Subscription) -> None:
    """SPEC §5: updating the payment method retries the past-due balance at once: every open
    invoice is charged again today."""
    now = clock.account_now(account)
    if subscription.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY:
        today = clock.account_today(account)
        for invoice in session.scalars(
            select(Invoice).where(
                Invoice.subscription_id == subscription.id, Invoice.status == "open"
            )
        ):
            invoice.next_attempt_date = today
    engine.process(session, account, subscription, now)


def _move_next_payment_date(
    account: Account, subscription: Subscription, new_date: date | None, changed: dict[str, Any]
) -> None:
    if new_date is None:
        raise InvalidRequest("'next_payment_date' cannot be null", param="next_payment_date")
    if subscription.status not in (
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.SCHEDULED,
    ):
        raise Conflict(
            "The next payment date of a %(status)s subscription cannot be changed",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
            param="next_payment_date",
        )
    today = clock.account_today(account)
    if new_date <= today:
        raise InvalidRequest(
            "next_payment_date must be after today (%(today)s in %(timezone)s)",
            today=today.isoformat(),
            timezone=account.timezone,
            param="next_payment_date",
        )
    if subscription.end_date is not None and new_date >= subscription.end_date:
        raise InvalidRequest(
            "next_payment_date must be before the end of the fixed term (%(end_date)s)",
            end_date=subscription.end_date.isoformat(),
            param="next_payment_date",
        )
    if new_date == subscription.next_payment_date:
        return
    changed["next_payment_date"] = {
        "from": subscription.next_payment_date.isoformat()
        if subscription.next_payment_date
        else None,
        "to": new_date.isoformat(),
    }
    move_next_payment_date(subscription, new_date)


def end_trial(session: Session, account: Account, subscription_id: str) -> Subscription:
    """End a trial today (Stripe's `trial_end: now`): the engine then does what it does when a
    trial runs out: it bills the first period from today, or, with no payment method and a
    free fallback plan, moves to that plan."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status != SubscriptionStatus.TRIALING:
        raise Conflict(
            "The subscription is %(status)s, not in a trial",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    today = clock.account_today(account)
    before = subscription.trial_end
    move_next_payment_date(subscription, today)
    subscription.updated_at = clock.account_now(account)
    record_event(
        session,
        subscription,
        EventType.SUBSCRIPTION_UPDATED,
        {"trial_end": {"from": before.isoformat() if before else None, "to": today.isoformat()}},
        account,
    )
    engine.process(session, account, subscription, clock.account_now(account))
    session.flush()
    return subscription


# --- cancel, reactivate, delete ------------------------------------------------------------


def cancel(
    session: Session, account: Account, subscription_id: str, request: CancelRequest
) -> Subscription:
    """Cancel now, at the period end, or on a date (SPEC §6)."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status in ENDED_STATUSES:
        raise Conflict(
            "The subscription is already %(status)s",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    if request.mode != "at_date" and request.cancel_at is not None:
        raise InvalidRequest("cancel_at goes with mode 'at_date'", param="cancel_at")
    today = clock.account_today(account)
    now = clock.account_now(account)
    reasons = request.all_reasons
    details: dict[str, Any] = {
        "mode": request.mode,
        "reason": reasons[0] if reasons else None,
        "reasons": reasons,
        "comment": request.comment,
        "refund": request.refund,
    }

    _check_commitment(subscription, request, today)

    if request.mode == "immediately":
        refunded = _refund_on_cancel(session, account, subscription, request.refund, today)
        details["refunded_amount"] = money.format_amount(refunded, subscription.currency)
        if _pending_bank_payment(session, subscription):
            # SPEC §6: a bank debit in flight is neither stopped nor refunded automatically.
            details["pending_bank_payment"] = True
        ledger.transition(
            session, account, subscription, SubscriptionStatus.CANCELED, "canceled_now", now
        )
        subscription.canceled_at = now
        subscription.cancel_at_period_end = False
        subscription.cancel_at = None
        subscription.cancel_refund = None
        stop_billing(subscription, today)
        event_type = EventType.SUBSCRIPTION_CANCELED
        outbox.emit(
            session,
            account_id=account.id,
            type=EventType.SUBSCRIPTION_CANCELED,
            dedup_key=f"canceled:{subscription.id}",
            payload={
                "subscription_id": subscription.id,
                "contact_id": subscription.contact_id,
                "canceled_on": today.isoformat(),
                "reason": reasons[0] if reasons else None,
                "reasons": reasons,
                "refunded_amount": details["refunded_amount"],
                "currency": subscription.currency,
            },
            at=now,
            subscription_id=subscription.id,
        )
    else:
        if subscription.status == SubscriptionStatus.SCHEDULED:
            raise Conflict("A scheduled subscription has no period yet: cancel it immediately")
        if request.mode == "at_period_end" and request.refund != "none":
            raise InvalidRequest(
                "A refund applies when canceling immediately or at a date; at the period end "
                "the paid period is used up",
                param="refund",
            )
        if request.mode == "at_date" and request.refund not in refunds.SCHEDULED_REFUNDS:
            raise InvalidRequest(
                "refund must be 'none' or 'prorated' when canceling at a date: the days before "
                "it are used, so only the unused days from cancel_at to the period end are "
                "refunded",
                param="refund",
            )
        if request.mode == "at_period_end":
            ends_on = subscription.current_period_end
            if subscription.commitment_end and ends_on and subscription.commitment_end > ends_on:
                # A running commitment keeps billing until it ends (SPEC §6 non-renewal).
                ends_on = subscription.commitment_end
            subscription.cancel_at_period_end = True
            subscription.cancel_at = ends_on
            subscription.cancel_refund = None
            if ends_on is not None and ends_on == subscription.commitment_end:
                # The buyer keeps paying until the commitment ends; tell them when that is.
                outbox.emit(
                    session,
                    account_id=account.id,
                    type=EventType.SUBSCRIPTION_NON_RENEWAL_NOTICE,
                    dedup_key=f"non_renewal:{subscription.id}:{ends_on.isoformat()}",
                    payload={
                        "subscription_id": subscription.id,
                        "contact_id": subscription.contact_id,
                        "commitment_months": subscription.commitment_months,
                        "commitment_end": ends_on.isoformat(),
                        "effective_date": ends_on.isoformat(),
                    },
                    at=now,
                    subscription_id=subscription.id,
                )
        else:
            if request.cancel_at is None:
                raise InvalidRequest("mode 'at_date' needs cancel_at", param="cancel_at")
            if request.cancel_at <= today:
                raise InvalidRequest(
                    "cancel_at must be after today (%(today)s); use mode 'immediately'",
                    today=today.isoformat(),
                    param="cancel_at",
                )
            if subscription.end_date is not None and request.cancel_at >= subscription.end_date:
                raise InvalidRequest(
                    "cancel_at must be before the end date (%(end_date)s)",
                    end_date=subscription.end_date.isoformat(),
                    param="cancel_at",
                )
            subscription.cancel_at_period_end = False
            subscription.cancel_at = request.cancel_at
            # Kept for the day the engine cancels: it refunds the unused days then.
            subscription.cancel_refund = request.refund
        details["cancel_at"] = (
            subscription.cancel_at.isoformat() if subscription.cancel_at else None
        )
        event_type = EventType.SUBSCRIPTION_CANCELLATION_SCHEDULED

    subscription.cancellation_reason = reasons[0] if reasons else None
    subscription.cancellation_reasons = reasons
    subscription.cancellation_comment = request.comment
    subscription.updated_at = now
    refresh_derived(session, subscription, account)
    record_event(session, subscription, event_type, details, account)
    engine.process(session, account, subscription, now)
    session.flush()
    return subscription


def commitment_runs(subscription: Subscription, today: date) -> bool:
    """Whether the subscription is inside a commitment term: billing has begun (not scheduled,
    not in its trial) and the commitment ends after today."""
    return (
        subscription.commitment_end is not None
        and subscription.commitment_end > today
        and subscription.status
        not in (SubscriptionStatus.SCHEDULED, SubscriptionStatus.TRIALING, *ENDED_STATUSES)
    )


def _check_commitment(subscription: Subscription, request: CancelRequest, today: date) -> None:
    """A running commitment keeps billing to its end (SPEC §6): canceling at the period end
    stops renewal at the commitment end. Ending it sooner (now, or at a date before it) needs
    the merchant to say so with `override_commitment`."""
    if request.override_commitment and request.mode == "at_period_end":
        # "At the period end" inside a commitment is its end; an earlier end is a date.
        raise InvalidRequest(
            "override_commitment goes with mode 'immediately' or 'at_date'; at the period end "
            "a running commitment runs to its end",
            param="override_commitment",
        )
    if request.override_commitment or not commitment_runs(subscription, today):
        return
    assert subscription.commitment_end is not None
    ends_early = request.mode == "immediately" or (
        request.mode == "at_date"
        and request.cancel_at is not None
        and request.cancel_at < subscription.commitment_end
    )
    if ends_early:
        end = subscription.commitment_end
        # Where "at the period end" lands: the commitment end, or a paid period's end past it.
        stops_on = max(end, subscription.current_period_end or end)
        raise Conflict(
            "The subscription is committed until %(end)s: cancel at the period end "
            "to stop renewal on %(stops_on)s, or send override_commitment: true to "
            "end the commitment early",
            end=end.isoformat(),
            stops_on=stops_on.isoformat(),
            param="override_commitment",
        )


def _refund_on_cancel(
    session: Session, account: Account, subscription: Subscription, refund: str, today: date
) -> int:
    """Refund the current period's payment for a cancellation now. Returns the amount
    refunded, in minor units."""
    if refund == "none":
        return 0
    # The period's bank debit has not settled: refunding nothing would look like success, and
    # the refund cannot be made yet. Refuse, before anything is written.
    in_flight = refunds.period_payment_in_flight(session, subscription)
    if in_flight is not None:
        raise Conflict(
            "%(still_processing)s: cancel with refund 'none', or cancel with a "
            "refund once it has succeeded",
            still_processing=payments.still_processing(in_flight),
            param="refund",
        )
    return refunds.refund_current_period(session, account, subscription, refund, today)


def _pending_bank_payment(session: Session, subscription: Subscription) -> bool:
    return (
        session.scalar(
            select(Payment.id)
            .where(Payment.subscription_id == subscription.id, Payment.status == "processing")
            .limit(1)
        )
        is not None
    )


def has_pending_bank_payment(session: Session, subscription: Subscription) -> bool:
    """Whether a bank debit of the subscription is still processing: canceling neither stops
    nor refunds it, and the user must be told so (SPEC §6)."""
    return _pending_bank_payment(session, subscription)


def pause(
    session: Session, account: Account, subscription_id: str, resume_at: date | None
) -> Subscription:
    """Stop billing until resumed (now, or on `resume_at`). SPEC §6."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status not in (
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.TRIALING,
    ):
        raise Conflict(
            "A %(status)s subscription cannot be paused",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    today = clock.account_today(account)
    if resume_at is not None and resume_at <= today:
        raise InvalidRequest(
            "resume_at must be after today (%(today)s)", today=today.isoformat(), param="resume_at"
        )
    now = clock.account_now(account)
    subscription.paused_at = now
    subscription.resume_at = resume_at
    stop_billing(subscription)
    before = subscription.status
    ledger.transition(session, account, subscription, SubscriptionStatus.PAUSED, "paused", now)
    record_event(
        session,
        subscription,
        EventType.SUBSCRIPTION_PAUSED,
        {"from": before, "resume_at": resume_at.isoformat() if resume_at else None},
        account,
    )
    engine.process(session, account, subscription, now)
    session.flush()
    return subscription


def resume(session: Session, account: Account, subscription_id: str) -> Subscription:
    """Resume a paused subscription now: a new period starts today and is billed today."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status != SubscriptionStatus.PAUSED:
        raise Conflict(
            "Only a paused subscription can be resumed; this one is %(status)s",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    now = clock.account_now(account)
    restart_billing(subscription, clock.account_today(account))
    subscription.updated_at = now
    record_event(session, subscription, EventType.SUBSCRIPTION_RESUMED, {}, account)
    engine.resume_now(session, account, subscription, now)
    session.flush()
    return subscription


def change(
    session: Session,
    account: Account,
    subscription_id: str,
    request: ChangeRequest,
    *,
    allow_custom_items: bool,
) -> Subscription:
    """Replace the line items (a plan change). With proration, the buyer is credited for the
    unused part of the current period at the old price and charged for it at the new one; a
    change of billing frequency starts a new period today. SPEC §6."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status in ENDED_STATUSES or subscription.status == SubscriptionStatus.PAUSED:
        raise Conflict(
            "The plan of a %(status)s subscription cannot be changed",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    if request.effective == "period_end":
        return _schedule_change(session, account, subscription, request, allow_custom_items)
    now = clock.account_now(account)
    today = clock.account_today(account)
    with session.no_autoflush:
        items = build_line_items(
            session,
            account,
            request.line_items,
            subscription.currency,
            allow_custom=allow_custom_items,
            parent={"subscription_id": subscription.id},
        )
        terms = _check_grouping(items)[0]
        old_items = list(subscription.line_items)
        old_amounts = compute_amounts(session, old_items)
        new_amounts = compute_amounts(session, items)
    assert terms.billing_frequency is not None and terms.billing_terms is not None
    same_cycle = terms.billing_frequency == subscription.billing_frequency
    # The new items replace the old before the proration is charged: paying its invoice brings
    # the MRR up to date, and it must see one plan, not the old and the new items together
    # (the ledger would write an expansion by both and a contraction back).
    subscription.line_items = list(items)
    adjustment = 0
    if request.proration == "prorate":
        adjustment = _prorate_change(
            session,
            account,
            subscription,
            old_items,
            items,
            old_amounts,
            new_amounts,
            same_cycle=same_cycle,
            today=today,
            now=now,
        )
    subscription.billing_terms = terms.billing_terms
    subscription.number_of_payments = terms.number_of_payments
    if not same_cycle:
        assert terms.billing_frequency is not None
        start_new_cycle(session, subscription, terms.billing_frequency, today)
    elif terms.billing_terms == BillingTerms.FIXED and terms.number_of_payments:
        subscription.end_date = periods.period_start(
            subscription.billing_anchor, subscription.billing_frequency, terms.number_of_payments
        )
    else:
        subscription.end_date = None
    subscription.updated_at = now
    record_event(
        session,
        subscription,
        EventType.SUBSCRIPTION_PLAN_CHANGED,
        {
            "from": [item.name for item in old_items],
            "to": [item.name for item in items],
            "proration": request.proration,
            "adjustment": money.format_amount(adjustment, subscription.currency),
            "billing_frequency": subscription.billing_frequency,
        },
        account,
    )
    session.flush()
    engine.process(session, account, subscription, now)
    session.flush()
    return subscription


def _prorate_change(
    session: Session,
    account: Account,
    subscription: Subscription,
    old_items: Sequence[LineItem],
    new_items: Sequence[LineItem],
    old_amounts: Amounts,
    new_amounts: Amounts,
    *,
    same_cycle: bool,
    today: date,
    now: datetime,
) -> int:
    """Settle the rest of the current period: charge the difference, or refund it when the new
    plan costs less. Returns the net amount (negative: refunded)."""
    start, end = subscription.current_period_start, subscription.current_period_end
    if (
        subscription.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNPAID)
        or subscription.periods_billed == 0
        or start is None
        or end is None
        or not start <= today < end
    ):
        return 0
    period_days = periods.days_between(start, end)
    unused_days = periods.days_between(today, end)
    credit = money.prorate(old_amounts.recurring_total, unused_days, period_days)
    # A new frequency starts a full new period today, billed by the engine: only the credit.
    charge = (
        money.prorate(new_amounts.recurring_total, unused_days, period_days) if same_cycle else 0
    )
    net = charge - credit
    if net > 0:
        invoice = invoicing.issue_adjustment(
            session,
            account,
            subscription,
            [
                (labels.UNUSED_TIME % {"items": ", ".join(i.name for i in old_items)}, -credit),
                (
                    labels.REMAINING_TIME % {"items": ", ".join(i.name for i in new_items)},
                    charge,
                ),
            ],
            period=invoicing.Period(today, end),
            now=now,
            reason="subscription_update",
        )
        method = (
            session.get(PaymentMethod, subscription.payment_method_id)
            if subscription.payment_method_id
            else None
        )
        if (
            subscription.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
            and method is not None
        ):
            session.flush()
            engine.pay_invoice(session, account, invoice, method, now)
    elif net < 0:
        # The credit is refunded from the period's payment. While that is a bank debit still
        # processing it cannot be refunded (SPEC §6), and dropping the credit would lose the
        # buyer's money silently: refuse, before anything is written.
        in_flight = refunds.period_payment_in_flight(session, subscription)
        if in_flight is not None:
            raise Conflict(
                "%(still_processing)s: change the plan with proration 'none', at the "
                "period end, or once it has succeeded",
                still_processing=payments.still_processing(in_flight),
                param="proration",
            )
        current = session.scalar(
            select(Payment)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(
                Invoice.subscription_id == subscription.id,
                Invoice.cycle_period_start == start,
                Payment.status.in_(("succeeded", "partially_refunded")),
            )
            .order_by(Payment.id.desc())
            .limit(1)
        )
        if current is not None:
            amount = min(-net, current.amount - current.refunded_amount)
            if amount > 0:
                payments.refund_payment(session, account, current, amount, reason="plan_change")
    return net


def _schedule_change(
    session: Session,
    account: Account,
    subscription: Subscription,
    request: ChangeRequest,
    allow_custom_items: bool,
) -> Subscription:
    """Keep the new line items until the current period ends; the engine swaps them in before
    it invoices the next period. The items are checked now, so a bad change fails today."""
    if subscription.next_payment_date is None:
        raise Conflict("The subscription has no next period to change")
    with session.no_autoflush:
        items = build_line_items(
            session,
            account,
            request.line_items,
            subscription.currency,
            allow_custom=allow_custom_items,
            parent={"subscription_id": subscription.id},
        )
        _check_grouping(items)
        for item in items:  # only checked, not kept: they are built again when they apply
            session.expunge(item)
    subscription.pending_change = {
        "line_items": [
            item.model_dump(mode="json", exclude_none=True) for item in request.line_items
        ],
    }
    subscription.updated_at = clock.account_now(account)
    record_event(
        session,
        subscription,
        EventType.SUBSCRIPTION_PLAN_CHANGE_SCHEDULED,
        {
            "to": [item.name for item in items],
            "effective": subscription.next_payment_date.isoformat(),
        },
        account,
    )
    session.flush()
    return subscription


def reactivate(session: Session, account: Account, subscription_id: str) -> Subscription:
    """Undo a scheduled cancellation before it takes effect."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status in ENDED_STATUSES:
        raise Conflict(
            "A %(status)s subscription cannot be reactivated",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    if not subscription.cancel_at_period_end and subscription.cancel_at is None:
        raise Conflict("The subscription is not set to cancel")
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.cancel_refund = None
    subscription.cancellation_reason = None
    subscription.cancellation_reasons = []
    subscription.cancellation_comment = None
    subscription.updated_at = clock.account_now(account)
    record_event(session, subscription, EventType.SUBSCRIPTION_REACTIVATED, {}, account)
    engine.process(session, account, subscription, clock.account_now(account))
    session.flush()
    return subscription


def delete_subscription(session: Session, account: Account, subscription_id: str) -> None:
    """Delete for good; only canceled or expired subscriptions (SPEC §6)."""
    subscription = get(session, account, subscription_id, for_update=True)
    if subscription.status not in ENDED_STATUSES:
        raise Conflict(
            "Only canceled or expired subscriptions can be deleted; this one is %(status)s",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    properties.delete_values(session, account.id, subscription.id)
    session.execute(
        delete(Association).where(
            Association.account_id == account.id,
            or_(Association.from_id == subscription.id, Association.to_id == subscription.id),
        )
    )
    session.execute(
        delete(SubscriptionEvent).where(SubscriptionEvent.subscription_id == subscription.id)
    )
    session.delete(subscription)
    session.flush()


# --- update-payment-method link ------------------------------------------------------------

PAYMENT_METHOD_LINK_PURPOSE = "update_payment_method"
PAYMENT_METHOD_LINK_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class PaymentMethodLink:
    email: str
    url: str
    expires_at: datetime


def payment_method_link_path(
    session: Session,
    subscription: Subscription,
    lifetime: timedelta = PAYMENT_METHOD_LINK_LIFETIME,
) -> tuple[str, datetime]:
    """A signed path to the subscription's update-payment-method page, and when it expires:
    for the merchant's link email, the dunning emails and the billing portal alike."""
    # The buyer opens the link in the real world, and unsign checks it against real time.
    expires_at = clock.real_now() + lifetime
    token = signing.sign(
        session, PAYMENT_METHOD_LINK_PURPOSE, buyer_link_payload(subscription), expires_at
    )
    return f"/billing/update-payment-method/{token}", expires_at


def buyer_link_payload(subscription: Subscription) -> dict[str, Any]:
    """What a signed link to a subscription's buyer pages (update payment method, portal)
    names: the subscription and the billing contact it was made for, so the link stops working
    for that contact once the subscription bills another (invoices.hosted checks it)."""
    return {
        "subscription_id": subscription.id,
        "account_id": subscription.account_id,
        "contact_id": subscription.contact_id,
    }


def request_payment_method_update(
    session: Session, account: Account, subscription_id: str, base_url: str
) -> PaymentMethodLink:
    """Email the billing contact a signed, expiring link to the page where they update the
    subscription's payment method (the outbox row carries the link; SPEC §5, §7)."""
    subscription = get(session, account, subscription_id)
    if subscription.status in ENDED_STATUSES:
        raise Conflict(
            "The subscription is %(status)s: it has nothing left to pay",
            status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
        )
    if not subscription.invoice_creation:
        raise Conflict(
            "Invoice creation is off for this subscription: it is a record only, with no "
            "payment method to update"
        )
    # The page the email links to could not save a method: no email sending the buyer there.
    processor.require_processor(account)
    contact = session.get(Contact, subscription.contact_id)
    assert contact is not None  # the billing contact is required
    path, expires_at = payment_method_link_path(session, subscription)
    link = PaymentMethodLink(
        email=contact.email, url=f"{base_url.rstrip('/')}{path}", expires_at=expires_at
    )
    now = clock.account_now(account)
    message = outbox.emit(
        session,
        account_id=account.id,
        type=EventType.SUBSCRIPTION_PAYMENT_METHOD_UPDATE_REQUESTED,
        # A double click within the same second sends one email.
        dedup_key=f"payment_method_link:{subscription.id}:{int(clock.real_now().timestamp())}",
        payload={
            "subscription_id": subscription.id,
            "contact_id": contact.id,
            "email": contact.email,
            "url": link.url,
            "expires_at": expires_at.isoformat(),
        },
        at=now,
        subscription_id=subscription.id,
    )
    if message is not None:
        record_event(
            session,
            subscription,
            EventType.SUBSCRIPTION_PAYMENT_METHOD_UPDATE_REQUESTED,
            {"email": contact.email, "expires_at": expires_at.isoformat()},
            account,
        )
    session.flush()
    return link


# --- find ----------------------------------------------------------------------------------


def list_subscriptions(
    session: Session,
    account: Account,
    *,
    statuses: Sequence[str],
    contact_id: str | None,
    next_payment_date_gte: date | None,
    next_payment_date_lte: date | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Subscription], bool, str | None]:
    query = (
        select(Subscription)
        .where(Subscription.account_id == account.id)
        .options(selectinload(Subscription.line_items))
    )
    if statuses:
        query = query.where(Subscription.status.in_(statuses))
    if contact_id:
        query = query.where(Subscription.contact_id == contact_id)
    if next_payment_date_gte:
        query = query.where(Subscription.next_payment_date >= next_payment_date_gte)
    if next_payment_date_lte:
        query = query.where(Subscription.next_payment_date <= next_payment_date_lte)
    return paginate(session, query, Subscription.id, limit=limit, cursor=cursor)


def search(
    session: Session, account: Account, request: SearchRequest, *, view_sensitive: bool
) -> tuple[Sequence[Subscription], int, bool, str | None]:
    """Filter with the one filter language; the cursor is an offset, as in HubSpot's search.
    Without `view_sensitive`, filters and sorts on sensitive properties are refused (403)."""
    properties.check_filterable(
        session,
        account.id,
        OBJECT_TYPE,
        request.filter_groups,
        request.sorts,
        view_sensitive=view_sensitive,
    )
    condition, order = search_clauses(session, account.id, request.filter_groups, request.sorts)
    offset = 0
    if request.cursor:
        raw = decode_cursor(request.cursor)
        if not raw.isdigit() or int(raw) > 10_000_000:
            raise InvalidRequest("The cursor is not valid", param="cursor")
        offset = int(raw)
    total = session.scalar(select(func.count()).select_from(Subscription).where(condition)) or 0
    rows = session.scalars(
        select(Subscription)
        .where(condition)
        .options(selectinload(Subscription.line_items))
        .order_by(*order)
        .offset(offset)
        .limit(request.limit + 1)
    ).all()
    has_more = len(rows) > request.limit
    rows = rows[: request.limit]
    next_cursor = encode_cursor(str(offset + len(rows))) if has_more else None
    return rows, total, has_more, next_cursor


def events(
    session: Session, account: Account, subscription_id: str, *, limit: int, cursor: str | None
) -> tuple[Sequence[SubscriptionEvent], bool, str | None]:
    """The timeline, oldest first."""
    get_owned(session, Subscription, account.id, subscription_id, "subscription")
    query = select(SubscriptionEvent).where(SubscriptionEvent.subscription_id == subscription_id)
    if cursor:
        query = query.where(SubscriptionEvent.id > decode_id_cursor(cursor))
    rows = session.scalars(query.order_by(SubscriptionEvent.id).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, has_more, (encode_cursor(rows[-1].id) if has_more else None)
