"""What an index page can show of one object type: its columns, its built-in tabs, the
properties its advanced filters offer, and how its sort order and text search are compiled.

Filters are always the one filter language (`kit/filters.py`) with the object's `ObjectSpec`
(for subscriptions `SUBSCRIPTION_SPEC` through `search_clauses`, exactly as
`POST /subscriptions/search`). Labels are English, marked with `N_` and translated where shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.orm import Session

from cadency.crm.models import Contact
from cadency.kit import labels
from cadency.kit.filters import BuiltinProperty, FilterGroup, ObjectSpec
from cadency.kit.i18n import N_
from cadency.kit.text_search import contains_text
from cadency.properties.models import PropertyDefinition
from cadency.subscriptions import display
from cadency.subscriptions import search as subscription_search
from cadency.subscriptions.models import Subscription

CUSTOM_PREFIX = "properties."


@dataclass(frozen=True)
class Column:
    """A column of the index table. `sort_property` is the property the header sorts by
    (None: not sortable); `kind` says how a cell shows its value."""

    key: str
    label: str
    kind: str
    sort_property: str | None = None
    # Built-in labels are English source text to translate; a custom property's label is the
    # merchant's own text and is shown as written.
    translate: bool = True


@dataclass(frozen=True)
class Tab:
    """A built-in view: a fixed filter, shown as a tab before the saved views."""

    id: str
    label: str
    filter_groups: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class FilterProperty:
    """A property the advanced filter offers: name, label, kind and (for enums) options."""

    name: str
    label: str
    kind: str
    options: tuple[tuple[str, str], ...] = ()
    translate: bool = True


@dataclass(frozen=True)
class Catalog:
    object_type: str
    path: str  # the index page
    permission: str  # needed to see the index, and to keep views of it
    model: type[Any]
    spec: ObjectSpec  # filters
    sort_spec: ObjectSpec  # sorts: the filter spec plus what only the index sorts by
    columns: dict[str, Column]
    default_columns: tuple[str, ...]
    default_sort: tuple[str, str]  # (property, "asc" | "desc")
    tabs: tuple[Tab, ...]
    filter_labels: dict[str, str]
    value_labels: dict[str, dict[str, str]]
    compile_filters: Callable[[Session, int, list[FilterGroup]], ColumnElement[bool]]
    text_search: Callable[[str, int], ColumnElement[bool]]
    primary_column: str = "name"
    quick_filters: dict[str, str] = field(default_factory=dict)

    def custom_definitions(self, session: Session, account_id: int) -> list[PropertyDefinition]:
        """The account's custom properties of this object, in label order (one query)."""
        return list(
            session.scalars(
                select(PropertyDefinition)
                .where(
                    PropertyDefinition.account_id == account_id,
                    PropertyDefinition.object_type == self.object_type,
                )
                .order_by(PropertyDefinition.label, PropertyDefinition.name)
            )
        )

    def all_columns(self, definitions: list[PropertyDefinition]) -> dict[str, Column]:
        """Built-in columns, then one per custom property (sortable by its value)."""
        custom = {
            CUSTOM_PREFIX + d.name: Column(
                key=CUSTOM_PREFIX + d.name,
                label=d.label,
                kind="custom",
                sort_property=CUSTOM_PREFIX + d.name,
                translate=False,
            )
            for d in definitions
        }
        return {**self.columns, **custom}

    def filter_properties(self, definitions: list[PropertyDefinition]) -> list[FilterProperty]:
        """Every property of the filter language for this object, built-in ones first."""
        found: list[FilterProperty] = []
        for name, builtin in self.spec.builtins.items():
            labels = self.value_labels.get(name, {})
            options = tuple((o, labels.get(o, o)) for o in builtin.options or labels)
            found.append(
                FilterProperty(name, self.filter_labels.get(name, name), builtin.kind, options)
            )
        for association in self.spec.associations:
            name = "associations." + association
            found.append(FilterProperty(name, self.filter_labels.get(name, name), "association"))
        for d in definitions:
            kind = _CUSTOM_KINDS.get(d.field_type, "text")
            options = tuple(
                (str(o.get("value")), str(o.get("label") or o.get("value")))
                for o in d.options or []
                if isinstance(o, dict)
            )
            found.append(FilterProperty(CUSTOM_PREFIX + d.name, d.label, kind, options, False))
        return found


# Custom property field types as the filter form treats them (kit/filters.py decides).
_CUSTOM_KINDS = {
    "text": "text",
    "textarea": "text",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "select": "enum",
    "radio": "enum",
    "checkboxes": "checkboxes",
    "boolean": "bool",
}


# --- subscriptions -------------------------------------------------------------------------

# Statuses as the quick filter offers them (no "Canceling": that is a badge, not a status).
STATUS_LABELS = {
    status: label for status, label in display.BADGE_LABELS.items() if status != "canceling"
}
_VALUE_LABELS: dict[str, dict[str, str]] = {
    "status": STATUS_LABELS,
    "billing_frequency": labels.FREQUENCIES,
    "billing_terms": labels.BILLING_TERMS,
    "collection_method": labels.COLLECTION_METHODS,
    "last_payment_status": labels.PAYMENT_STATUSES,
    "cancellation_reason": labels.CANCELLATION_REASONS,
}

_S = Subscription
# The index sorts by the amount per period, which the search API does not offer; it is added
# for sorting only, so saved filters stay exactly the filter language of the search API.
_SORT_SPEC = replace(
    subscription_search.SUBSCRIPTION_SPEC,
    builtins={
        **subscription_search.SUBSCRIPTION_SPEC.builtins,
        "recurring_amount": BuiltinProperty(_S.recurring_amount, "money"),
    },
)


def _columns(*columns: Column) -> dict[str, Column]:
    return {c.key: c for c in columns}


_SUBSCRIPTION_COLUMNS = _columns(
    Column("name", N_("Name"), "name", "name"),
    Column("status", N_("Status"), "badge", "status"),
    Column("contact", N_("Contact"), "contact"),
    Column("next_payment_date", N_("Next billing date"), "date", "next_payment_date"),
    Column("amount", N_("Amount"), "amount", "recurring_amount"),
    Column("billing_frequency", N_("Billing frequency"), "enum", "billing_frequency"),
    Column("created_at", N_("Created"), "datetime", "created_at"),
    Column("company", N_("Company"), "company"),
    Column("id", N_("Record ID"), "text", "id"),
    Column("start_date", N_("Start date"), "date", "start_date"),
    Column("end_date", N_("End date"), "date", "end_date"),
    Column("next_payment_amount", N_("Next payment amount"), "money", "next_payment_amount"),
    Column("last_payment_amount", N_("Last payment amount"), "money", "last_payment_amount"),
    Column("last_payment_status", N_("Last payment status"), "enum", "last_payment_status"),
    Column("total_collected", N_("Total collected"), "money", "total_collected"),
    Column("mrr", N_("MRR"), "money", "mrr"),
    Column("payments_completed", N_("Payments completed"), "number", "payments_completed"),
    Column("number_of_payments", N_("Number of payments"), "number", "number_of_payments"),
    Column("billing_terms", N_("Billing terms"), "enum", "billing_terms"),
    Column("collection_method", N_("Collection method"), "enum", "collection_method"),
    Column("currency", N_("Currency"), "text", "currency"),
    Column("trial_end", N_("Trial end"), "date", "trial_end"),
    Column("cancel_at", N_("Cancel date"), "date", "cancel_at"),
    Column("canceled_at", N_("Canceled on"), "datetime", "canceled_at"),
    Column("cancellation_reason", N_("Cancellation reason"), "enum", "cancellation_reason"),
    Column("updated_at", N_("Last updated"), "datetime", "updated_at"),
)

_FILTER_LABELS = {
    **{c.sort_property: c.label for c in _SUBSCRIPTION_COLUMNS.values() if c.sort_property},
    "contact_id": N_("Contact ID"),
    "company_id": N_("Company ID"),
    "payment_terms": N_("Payment terms"),
    "payment_method_id": N_("Payment method ID"),
    "current_period_start": N_("Current period start"),
    "current_period_end": N_("Current period end"),
    "commitment_end": N_("Commitment end"),
    "cancel_at_period_end": N_("Cancels at period end"),
    "paused_at": N_("Paused on"),
    "resume_at": N_("Resume date"),
    "invoice_creation": N_("Invoice creation"),
    "associations.contact": N_("Associated contact"),
    "associations.company": N_("Associated company"),
    "associations.deal": N_("Associated deal"),
    "associations.quote": N_("Associated quote"),
}


def _compile_subscription_filters(
    session: Session, account_id: int, groups: list[FilterGroup]
) -> ColumnElement[bool]:
    where, _ = subscription_search.search_clauses(session, account_id, groups)
    return where


def _subscription_text_search(text: str, account_id: int) -> ColumnElement[bool]:
    """The search box: a part of the subscription's name or ID, or of its billing contact's
    email or name, ignoring case. The contacts that match are found once (a scan of the
    account's contacts), not once per subscription."""
    contact_name = (
        func.coalesce(Contact.first_name, "") + literal(" ") + func.coalesce(Contact.last_name, "")
    )
    matching_contacts = select(Contact.id).where(
        Contact.account_id == account_id, contains_text([Contact.email, contact_name], text)
    )
    return or_(
        contains_text([Subscription.name], text),
        Subscription.id == text,
        Subscription.contact_id.in_(matching_contacts),
    )


SUBSCRIPTIONS = Catalog(
    object_type="subscriptions",
    path="/subscriptions",
    permission="subscriptions.view",
    model=Subscription,
    spec=subscription_search.SUBSCRIPTION_SPEC,
    sort_spec=_SORT_SPEC,
    columns=_SUBSCRIPTION_COLUMNS,
    default_columns=(
        "name",
        "status",
        "contact",
        "next_payment_date",
        "amount",
        "billing_frequency",
        "created_at",
    ),
    default_sort=("created_at", "desc"),
    tabs=(
        Tab("all", N_("All")),
        Tab(
            "unpaid",
            N_("Unpaid"),
            ({"filters": [{"property": "status", "operator": "eq", "value": "unpaid"}]},),
        ),
        Tab(
            "scheduled",
            N_("Scheduled"),
            ({"filters": [{"property": "status", "operator": "eq", "value": "scheduled"}]},),
        ),
    ),
    filter_labels=_FILTER_LABELS,
    value_labels=_VALUE_LABELS,
    compile_filters=_compile_subscription_filters,
    text_search=_subscription_text_search,
    quick_filters={"status": "status", "date": "next_payment_date"},
)

CATALOGS: Mapping[str, Catalog] = {SUBSCRIPTIONS.object_type: SUBSCRIPTIONS}


def catalog_for(object_type: str) -> Catalog | None:
    return CATALOGS.get(object_type)
