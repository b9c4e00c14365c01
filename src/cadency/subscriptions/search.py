"""Subscriptions in the filter language (kit/filters.py): which properties can be filtered and
sorted on, and how, for the index page, views, segments, workflows, exports and
`POST /subscriptions/search`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from cadency.accounts.models import Account
from cadency.crm.models import Association
from cadency.kit import clock
from cadency.kit.filters import (
    BuiltinProperty,
    FilterGroup,
    ObjectSpec,
    Sort,
    Today,
    compile_filter_groups,
    compile_sorts,
)
from cadency.kit.periods import BillingFrequency
from cadency.properties.models import PropertyDefinition, PropertyValue
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.schemas import CANCELLATION_REASONS, STATUSES

__all__ = [
    "BILLING_FREQUENCIES",
    "BILLING_TERMS",
    "CANCELLATION_REASONS",
    "COLLECTION_METHODS",
    "OBJECT_TYPE",
    "STATUSES",
    "SUBSCRIPTION_SPEC",
    "account_today",
    "custom_properties",
    "search_clauses",
]

OBJECT_TYPE = "subscriptions"  # PropertyDefinition / PropertyValue object_type
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
BILLING_TERMS = ("auto_renew", "fixed")
BILLING_FREQUENCIES = tuple(f.value for f in BillingFrequency)


def _associated(object_name: str) -> Callable[[], ColumnElement[bool]]:
    """An association row of the subscription's account links it with an `object_name` record
    (in either direction)."""

    def build() -> ColumnElement[bool]:
        a = aliased(Association)
        return exists().where(
            a.account_id == Subscription.account_id,
            or_(
                and_(a.from_id == Subscription.id, a.to_type == object_name),
                and_(a.to_id == Subscription.id, a.from_type == object_name),
            ),
        )

    return build


def _company() -> ColumnElement[bool]:
    return or_(Subscription.company_id.is_not(None), _associated("company")())


def _contact() -> ColumnElement[bool]:
    # The billing contact is required, so every subscription has an associated contact.
    return Subscription.contact_id.is_not(None)


S = Subscription
SUBSCRIPTION_SPEC = ObjectSpec(
    object_type=OBJECT_TYPE,
    id_column=S.id,
    account_column=S.account_id,
    currency_column=S.currency,
    property_values=PropertyValue,
    builtins={
        "id": BuiltinProperty(S.id, "id"),
        "name": BuiltinProperty(S.name, "text"),
        "status": BuiltinProperty(S.status, "enum", STATUSES),
        "contact_id": BuiltinProperty(S.contact_id, "id"),
        "company_id": BuiltinProperty(S.company_id, "id"),
        "currency": BuiltinProperty(S.currency, "enum"),
        "collection_method": BuiltinProperty(S.collection_method, "enum", COLLECTION_METHODS),
        # due_on_receipt or net_N for any N: matched exactly, not limited to a list.
        "payment_terms": BuiltinProperty(S.payment_terms, "enum"),
        "payment_method_id": BuiltinProperty(S.payment_method_id, "id"),
        "billing_frequency": BuiltinProperty(S.billing_frequency, "enum", BILLING_FREQUENCIES),
        "billing_terms": BuiltinProperty(S.billing_terms, "enum", BILLING_TERMS),
        "number_of_payments": BuiltinProperty(S.number_of_payments, "number"),
        "start_date": BuiltinProperty(S.start_date, "date"),
        "end_date": BuiltinProperty(S.end_date, "date"),
        "current_period_start": BuiltinProperty(S.current_period_start, "date"),
        "current_period_end": BuiltinProperty(S.current_period_end, "date"),
        "next_payment_date": BuiltinProperty(S.next_payment_date, "date"),
        "next_payment_amount": BuiltinProperty(S.next_payment_amount, "money"),
        "last_payment_amount": BuiltinProperty(S.last_payment_amount, "money"),
        "last_payment_status": BuiltinProperty(S.last_payment_status, "enum"),
        "payments_completed": BuiltinProperty(S.payments_completed, "number"),
        "total_collected": BuiltinProperty(S.total_collected, "money"),
        "mrr": BuiltinProperty(S.mrr, "money"),
        "trial_end": BuiltinProperty(S.trial_end, "date"),
        "commitment_end": BuiltinProperty(S.commitment_end, "date"),
        "cancel_at_period_end": BuiltinProperty(S.cancel_at_period_end, "bool"),
        "cancel_at": BuiltinProperty(S.cancel_at, "date"),
        "canceled_at": BuiltinProperty(S.canceled_at, "datetime"),
        "cancellation_reason": BuiltinProperty(S.cancellation_reason, "enum", CANCELLATION_REASONS),
        "paused_at": BuiltinProperty(S.paused_at, "datetime"),
        "resume_at": BuiltinProperty(S.resume_at, "date"),
        "invoice_creation": BuiltinProperty(S.invoice_creation, "bool"),
        "created_at": BuiltinProperty(S.created_at, "datetime"),
        "updated_at": BuiltinProperty(S.updated_at, "datetime"),
    },
    associations={
        "contact": _contact,
        "company": _company,
        "deal": _associated("deal"),
        "quote": _associated("quote"),
    },
)
del S


def _option_values(options: Sequence[Any]) -> tuple[str, ...]:
    # Options are stored as [{"value", "label"}]; accept plain strings too.
    values = (o.get("value") if isinstance(o, dict) else o for o in options)
    return tuple(str(v) for v in values if v is not None)


def custom_properties(
    session: Session, account_id: int, object_type: str = OBJECT_TYPE
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The account's custom properties of an object (subscriptions unless told):
    ({name: field_type}, {name: options})."""
    rows = session.execute(
        select(
            PropertyDefinition.name, PropertyDefinition.field_type, PropertyDefinition.options
        ).where(
            PropertyDefinition.account_id == account_id,
            PropertyDefinition.object_type == object_type,
        )
    ).all()
    types = {name: field_type for name, field_type, _ in rows}
    options = {
        name: _option_values(opts or [])
        for name, field_type, opts in rows
        if field_type in ("select", "radio", "checkboxes")
    }
    return types, options


def account_today(session: Session, account_id: int) -> Today:
    """The account's today and timezone, for the filter language's "days ago" operators."""
    account = session.get(Account, account_id)
    if account is None:
        raise ValueError(f"no account {account_id}")
    return Today(clock.account_today(account), account.timezone)


def search_clauses(
    session: Session,
    account_id: int,
    filter_groups: Sequence[FilterGroup],
    sorts: Sequence[Sort] = (),
) -> tuple[ColumnElement[bool], list[ColumnElement[Any]]]:
    """(WHERE, ORDER BY) for a subscription search of one account, account filter included."""
    types, options = custom_properties(session, account_id)
    where = and_(
        Subscription.account_id == account_id,
        compile_filter_groups(
            filter_groups,
            SUBSCRIPTION_SPEC,
            types,
            account_id,
            options=options,
            today=account_today(session, account_id),
        ),
    )
    return where, compile_sorts(sorts, SUBSCRIPTION_SPEC, types)
