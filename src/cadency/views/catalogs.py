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

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, union
from sqlalchemy.orm import Session, aliased

from cadency.crm.models import Association, Company, Contact, Deal, not_archived
from cadency.kit import labels
from cadency.kit.filters import (
    BuiltinProperty,
    FilterGroup,
    ObjectSpec,
    Related,
    compile_filter_groups,
)
from cadency.kit.i18n import N_
from cadency.kit.text_search import contains_text
from cadency.properties.models import PropertyDefinition, PropertyValue
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
    email or name, ignoring case. The contacts that match are found once (through their text
    index), not once per subscription."""
    contact_name = (
        func.coalesce(Contact.first_name, "") + literal(" ") + func.coalesce(Contact.last_name, "")
    )
    matching_contacts = select(Contact.id).where(
        Contact.account_id == account_id,
        contains_text(
            [Contact.email, contact_name],
            text,
            parts_of=[Contact.email, Contact.first_name, Contact.last_name],
        ),
    )
    # One list of IDs, each part found through its own index: as an OR over the subscriptions
    # the planners read the account's every subscription instead (a second at 1,000,000). The
    # contacts' part has no account condition of its own, so that only the contact index can
    # serve it (the contacts are the account's; the page keeps its own account condition).
    s = Subscription
    matching = union(
        select(s.id).where(s.account_id == account_id, contains_text([s.name], text)),
        select(s.id).where(s.account_id == account_id, s.id == text),
        select(s.id).where(s.contact_id.in_(matching_contacts)),
    )
    return s.id.in_(matching)


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

# --- contacts and companies ------------------------------------------------------------------
#
# Their filter language lives here rather than in crm/ because a contact or company is also
# filtered by its subscriptions ("has a subscription where …"), and crm sits below them.


def _crm_associated(
    table: Any, own_type: str, other_type: str
) -> Callable[[], ColumnElement[bool]]:
    """An association row of the record's account links it with an `other_type` record."""

    def build() -> ColumnElement[bool]:
        a = aliased(Association)
        return exists().where(
            a.account_id == table.account_id,
            or_(
                and_(a.from_type == own_type, a.from_id == table.id, a.to_type == other_type),
                and_(a.to_type == own_type, a.to_id == table.id, a.from_type == other_type),
            ),
        )

    return build


def _subscription_link(own_type: str, table: Any, column: Any) -> Callable[[], ColumnElement[bool]]:
    """A subscription belongs to the record: it is its billing contact (company), or an
    association row links the two."""

    def link() -> ColumnElement[bool]:
        a = aliased(Association)
        associated = exists().where(
            a.account_id == Subscription.account_id,
            or_(
                and_(
                    a.from_type == "subscription",
                    a.from_id == Subscription.id,
                    a.to_type == own_type,
                    a.to_id == table.id,
                ),
                and_(
                    a.to_type == "subscription",
                    a.to_id == Subscription.id,
                    a.from_type == own_type,
                    a.from_id == table.id,
                ),
            ),
        )
        return or_(column == table.id, associated)

    return link


def _has_subscription(link: Callable[[], ColumnElement[bool]]) -> Callable[[], ColumnElement[bool]]:
    return lambda: exists().where(link())


_contact_subscription = _subscription_link("contact", Contact, Subscription.contact_id)
CONTACT_SPEC = ObjectSpec(
    object_type="contacts",
    id_column=Contact.id,
    account_column=Contact.account_id,
    currency_column=None,
    property_values=PropertyValue,
    builtins={
        "id": BuiltinProperty(Contact.id, "id"),
        "email": BuiltinProperty(Contact.email, "text", stored_lowercase=True),
        "first_name": BuiltinProperty(Contact.first_name, "text"),
        "last_name": BuiltinProperty(Contact.last_name, "text"),
        "phone": BuiltinProperty(Contact.phone, "text"),
        "language": BuiltinProperty(Contact.language, "enum"),
        "created_at": BuiltinProperty(Contact.created_at, "datetime"),
        "updated_at": BuiltinProperty(Contact.updated_at, "datetime"),
    },
    associations={
        "company": _crm_associated(Contact, "contact", "company"),
        "deal": lambda: or_(
            exists().where(Deal.account_id == Contact.account_id, Deal.contact_id == Contact.id),
            _crm_associated(Contact, "contact", "deal")(),
        ),
        "subscription": _has_subscription(_contact_subscription),
    },
    related={"subscription": Related(subscription_search.SUBSCRIPTION_SPEC, _contact_subscription)},
)

_company_subscription = _subscription_link("company", Company, Subscription.company_id)
COMPANY_SPEC = ObjectSpec(
    object_type="companies",
    id_column=Company.id,
    account_column=Company.account_id,
    currency_column=None,
    property_values=PropertyValue,
    builtins={
        "id": BuiltinProperty(Company.id, "id"),
        "name": BuiltinProperty(Company.name, "text"),
        "domain": BuiltinProperty(Company.domain, "text", stored_lowercase=True),
        "created_at": BuiltinProperty(Company.created_at, "datetime"),
        "updated_at": BuiltinProperty(Company.updated_at, "datetime"),
    },
    associations={
        "contact": _crm_associated(Company, "company", "contact"),
        "deal": lambda: or_(
            exists().where(Deal.account_id == Company.account_id, Deal.company_id == Company.id),
            _crm_associated(Company, "company", "deal")(),
        ),
        "subscription": _has_subscription(_company_subscription),
    },
    related={"subscription": Related(subscription_search.SUBSCRIPTION_SPEC, _company_subscription)},
)


def _crm_filters(
    spec: ObjectSpec, model: type[Contact] | type[Company]
) -> Callable[[Session, int, list[FilterGroup]], ColumnElement[bool]]:
    """The records of the index, views, segments and exports: the account's, not archived
    (archived ones are read by their ID only), matching the filter groups."""

    def compile_filters(
        session: Session, account_id: int, groups: list[FilterGroup]
    ) -> ColumnElement[bool]:
        types, options = subscription_search.custom_properties(
            session, account_id, spec.object_type
        )
        related = {"subscription": subscription_search.custom_properties(session, account_id)}
        return and_(
            spec.account_column == account_id,
            not_archived(model),
            compile_filter_groups(
                groups,
                spec,
                types,
                account_id,
                options=options,
                today=subscription_search.account_today(session, account_id),
                related=related,
            ),
        )

    return compile_filters


def _contact_text_search(text: str, account_id: int) -> ColumnElement[bool]:
    return or_(
        contains_text([Contact.email, Contact.first_name, Contact.last_name], text),
        Contact.id == text,
    )


def _company_text_search(text: str, account_id: int) -> ColumnElement[bool]:
    return or_(contains_text([Company.name, Company.domain], text), Company.id == text)


_CONTACT_COLUMNS = _columns(
    Column("first_name", N_("First name"), "text", "first_name"),
    Column("last_name", N_("Last name"), "text", "last_name"),
    Column("email", N_("Email"), "text", "email"),
    Column("phone", N_("Phone number"), "text", "phone"),
    Column("language", N_("Language"), "text", "language"),
    Column("created_at", N_("Created"), "datetime", "created_at"),
    Column("updated_at", N_("Last updated"), "datetime", "updated_at"),
    Column("id", N_("Record ID"), "text", "id"),
)
_COMPANY_COLUMNS = _columns(
    Column("name", N_("Name"), "text", "name"),
    Column("domain", N_("Domain"), "text", "domain"),
    Column("created_at", N_("Created"), "datetime", "created_at"),
    Column("updated_at", N_("Last updated"), "datetime", "updated_at"),
    Column("id", N_("Record ID"), "text", "id"),
)
_CRM_ASSOCIATION_LABELS = {
    "associations.contact": N_("Associated contact"),
    "associations.company": N_("Associated company"),
    "associations.deal": N_("Associated deal"),
    "associations.subscription": N_("Associated subscription"),
}

CONTACTS = Catalog(
    object_type="contacts",
    path="/contacts",
    permission="subscriptions.view",
    model=Contact,
    spec=CONTACT_SPEC,
    sort_spec=CONTACT_SPEC,
    columns=_CONTACT_COLUMNS,
    default_columns=("first_name", "last_name", "email", "phone", "created_at"),
    default_sort=("created_at", "desc"),
    tabs=(Tab("all", N_("All")),),
    filter_labels={
        **{c.sort_property: c.label for c in _CONTACT_COLUMNS.values() if c.sort_property},
        **_CRM_ASSOCIATION_LABELS,
    },
    value_labels={},
    compile_filters=_crm_filters(CONTACT_SPEC, Contact),
    text_search=_contact_text_search,
    primary_column="email",
)
COMPANIES = Catalog(
    object_type="companies",
    path="/companies",
    permission="subscriptions.view",
    model=Company,
    spec=COMPANY_SPEC,
    sort_spec=COMPANY_SPEC,
    columns=_COMPANY_COLUMNS,
    default_columns=("name", "domain", "created_at"),
    default_sort=("created_at", "desc"),
    tabs=(Tab("all", N_("All")),),
    filter_labels={
        **{c.sort_property: c.label for c in _COMPANY_COLUMNS.values() if c.sort_property},
        **_CRM_ASSOCIATION_LABELS,
    },
    value_labels={},
    compile_filters=_crm_filters(COMPANY_SPEC, Company),
    text_search=_company_text_search,
)

CATALOGS: Mapping[str, Catalog] = {
    catalog.object_type: catalog for catalog in (SUBSCRIPTIONS, CONTACTS, COMPANIES)
}


def catalog_for(object_type: str) -> Catalog | None:
    return CATALOGS.get(object_type)
