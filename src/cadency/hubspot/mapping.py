"""HubSpot's names for Cadency's records and their properties (docs/hubspot.md).

Per object type: its HubSpot names (`contacts`, type ID `0-1`), its built-in properties under
HubSpot's internal names where HubSpot has one (`firstname` is the contact's `first_name`) and
Cadency's own names otherwise, each with the Cadency field it reads and writes and its HubSpot
type. Custom properties (cadency.properties) keep their own names. Filtering uses the one filter
language over the same columns: `spec` is the object's `ObjectSpec` with its built-ins renamed
to HubSpot's names, nothing else changed — the views catalogs' spec where Cadency has one
(contacts, companies, subscriptions), else one derived from the HubSpot properties (`_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case

from cadency.catalog.models import Product
from cadency.crm.models import Company, Contact, Deal, Quote, not_archived
from cadency.invoices.models import Invoice
from cadency.kit import money
from cadency.kit.filters import BuiltinProperty, ObjectSpec, PropertyKind
from cadency.kit.periods import BillingFrequency
from cadency.properties.models import PropertyValue
from cadency.subscriptions.models import LineItem, Subscription
from cadency.subscriptions.search import (
    BILLING_FREQUENCIES,
    BILLING_TERMS,
    CANCELLATION_REASONS,
    COLLECTION_METHODS,
    STATUSES,
    SUBSCRIPTION_SPEC,
)
from cadency.views.catalogs import COMPANY_SPEC, CONTACT_SPEC

ADDRESS_PREFIX = "address."
# The records the surface serves.
Record = Contact | Company | Deal | Product | Subscription | Invoice | Quote | LineItem


@dataclass(frozen=True)
class HubProperty:
    """A built-in property as HubSpot names it.

    `field`: the Cadency field it is — a field of the record's create/update body
    (`first_name`), a part of its address (`address.city`), or a read-only column (`id`,
    `created_at`). `filter`: the name of the same column in the views catalog's filter spec of
    the type (contacts, companies, subscriptions), None when it cannot be filtered or sorted on;
    the other types derive their filter spec from their properties (`_spec`). `type`: HubSpot's
    property type.
    """

    name: str
    field: str
    type: str
    filter: str | None = None
    read_only: bool = False
    # An amount in minor units of the record's `currency`, shown as a decimal string ("12.50").
    money: bool = False
    # (HubSpot's value, Cadency's value) where they differ (deal stages).
    values: tuple[tuple[str, str], ...] = ()
    # A property Cadency has no field for, always this value (a deal's `pipeline`).
    constant: str | None = None

    def to_cadency(self, value: str) -> str:
        return dict(self.values).get(value, value)

    def to_hubspot(self, value: str) -> str:
        return {cadency: hub for hub, cadency in self.values}.get(value, value)


@dataclass(frozen=True)
class HubObject:
    """One object type of the surface."""

    name: str  # HubSpot's plural name, in the path: "contacts"
    type_id: str  # HubSpot's object type ID: "0-1"
    record_type: str  # Cadency's record type (associations): "contact"
    model: type[Record]
    builtins: dict[str, HubProperty]
    # What a read returns when no `properties` are asked for (HubSpot's defaults).
    default_properties: tuple[str, ...]
    # Unique properties a record can be read by (`idProperty`), besides its ID.
    id_properties: tuple[str, ...]
    # The "last modified" property HubSpot always returns for this type.
    modified_property: str
    # What search filters and sorts on (the filter language).
    spec: ObjectSpec
    # The columns `query` of a search looks in: those of the record lists' text search
    # (crm.service.list_contacts / list_companies), else the record's name or number.
    searchable: tuple[Any, ...] = ()
    # What search sorts by, where it differs from `spec`: properties with HubSpot values of
    # their own (deal stages) sort in the order of those values (the pipeline's).
    sort_spec: ObjectSpec | None = None
    # Whether Cadency archives these records (products: their `archived` flag; contacts,
    # companies and deals: their `archived_at`, read as `archived`).
    archivable: bool = False

    def id_column(self) -> ColumnElement[Any]:
        return self.model.id.expression

    def sorting_spec(self) -> ObjectSpec:
        return self.sort_spec or self.spec

    def not_archived(self) -> ColumnElement[bool]:
        """The records that are not archived, as SQL (types that archive)."""
        model: Any = self.model
        if hasattr(model, "archived_at"):  # contacts, companies, deals
            return not_archived(model)
        condition: ColumnElement[bool] = model.archived.is_(False)
        return condition


def _props(*items: HubProperty) -> dict[str, HubProperty]:
    return {item.name: item for item in items}


# Read-only properties every record has.
_RECORD = (
    HubProperty("hs_object_id", "id", "number", "id", read_only=True),
    HubProperty("createdate", "created_at", "datetime", "created_at", read_only=True),
    HubProperty("hs_createdate", "created_at", "datetime", "created_at", read_only=True),
    HubProperty("lastmodifieddate", "updated_at", "datetime", "updated_at", read_only=True),
    HubProperty("hs_lastmodifieddate", "updated_at", "datetime", "updated_at", read_only=True),
)
# A postal address: HubSpot's contact and company address properties.
_ADDRESS = (
    HubProperty("address", "address.line1", "string"),
    HubProperty("address2", "address.line2", "string"),
    HubProperty("city", "address.city", "string"),
    HubProperty("zip", "address.postal_code", "string"),
    HubProperty("state", "address.region", "string"),
    HubProperty("country", "address.country", "string"),
)


def _renamed(spec: ObjectSpec, builtins: dict[str, HubProperty]) -> ObjectSpec:
    """`spec` with its built-in properties under their HubSpot names (same columns, kinds)."""
    renamed: dict[str, BuiltinProperty] = {
        name: spec.builtins[prop.filter]
        for name, prop in builtins.items()
        if prop.filter is not None
    }
    return replace(spec, builtins=renamed)


# The filter language's kind of a built-in property by its HubSpot type (IDs and money aside).
_KINDS: dict[str, PropertyKind] = {
    "string": "text",
    "enumeration": "enum",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "bool": "bool",
}


def _filter_kind(prop: HubProperty) -> PropertyKind | None:
    """How the filter language compares a built-in property, or None when it has no column of
    its own (a constant, an address part). Record IDs match exactly, as the views' IDs do."""
    if prop.constant is not None or prop.field.startswith(ADDRESS_PREFIX):
        return None
    if prop.money:
        return "money"
    if prop.field == "id" or prop.field.endswith("_id"):
        return "id"
    return _KINDS[prop.type]


def _options(object_name: str, prop: HubProperty) -> tuple[str, ...] | None:
    """The values an enumeration takes as stored (HubSpot's translated, for deal stages); None:
    any value (currencies)."""
    pairs = BUILTIN_OPTIONS.get(f"{object_name}.{prop.name}", BUILTIN_OPTIONS.get(prop.name))
    if pairs is None:
        return None
    return tuple(prop.to_cadency(value) for value, _label in pairs)


def _spec(object_name: str, model: type[Record], builtins: dict[str, HubProperty]) -> ObjectSpec:
    """The filter spec of an object type the views catalogs have none for, from its HubSpot
    properties: each property with a column, under its HubSpot name. Its custom properties are
    those of its HubSpot name (only types in `properties.OBJECT_TYPES` have any)."""
    columns: dict[str, BuiltinProperty] = {}
    for prop in builtins.values():
        kind = _filter_kind(prop)
        if kind is not None:
            options = _options(object_name, prop) if kind == "enum" else None
            columns[prop.name] = BuiltinProperty(getattr(model, prop.field), kind, options)
    return ObjectSpec(
        object_type=object_name,
        id_column=model.id,
        account_column=model.account_id,
        currency_column=getattr(model, "currency", None),
        property_values=PropertyValue,
        builtins=columns,
    )


def _in_value_order(spec: ObjectSpec, builtins: dict[str, HubProperty]) -> ObjectSpec:
    """`spec` for sorting: properties with HubSpot values of their own sort in the order of
    those values (deal stages: the pipeline's), not alphabetically by Cadency's spelling."""
    sorted_by = dict(spec.builtins)
    for prop in builtins.values():
        if prop.values and prop.name in sorted_by:
            column = sorted_by[prop.name].column
            order = {cadency: position for position, (_hub, cadency) in enumerate(prop.values)}
            sorted_by[prop.name] = BuiltinProperty(
                case(order, value=column, else_=len(order)), "number"
            )
    return replace(spec, builtins=sorted_by)


_CONTACT_PROPERTIES = _props(
    HubProperty("email", "email", "string", "email"),
    HubProperty("firstname", "first_name", "string", "first_name"),
    HubProperty("lastname", "last_name", "string", "last_name"),
    HubProperty("phone", "phone", "string", "phone"),
    HubProperty("hs_language", "language", "enumeration", "language"),
    *_ADDRESS,
    *_RECORD,
)
_COMPANY_PROPERTIES = _props(
    HubProperty("name", "name", "string", "name"),
    HubProperty("domain", "domain", "string", "domain"),
    *_ADDRESS,
    *_RECORD,
)

CONTACTS = HubObject(
    name="contacts",
    type_id="0-1",
    record_type="contact",
    model=Contact,
    builtins=_CONTACT_PROPERTIES,
    default_properties=(
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    id_properties=("email",),
    modified_property="lastmodifieddate",
    spec=_renamed(CONTACT_SPEC, _CONTACT_PROPERTIES),
    searchable=(Contact.email, Contact.first_name, Contact.last_name),
    archivable=True,
)
COMPANIES = HubObject(
    name="companies",
    type_id="0-2",
    record_type="company",
    model=Company,
    builtins=_COMPANY_PROPERTIES,
    default_properties=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_renamed(COMPANY_SPEC, _COMPANY_PROPERTIES),
    searchable=(Company.name, Company.domain),
    archivable=True,
)

# A deal's stage: HubSpot's default pipeline's stage IDs ↔ Cadency's stages.
_DEAL_STAGES = tuple(
    (stage.replace("_", ""), stage)
    for stage in (
        "appointment_scheduled",
        "qualified_to_buy",
        "presentation_scheduled",
        "decision_maker_bought_in",
        "contract_sent",
        "closed_won",
        "closed_lost",
    )
)
# The options of built-in enumerations: (value, label); "{object}.{name}" where one object's
# property of a shared name has its own (a quote's status).
BUILTIN_OPTIONS = {
    "quotes.hs_status": tuple((s, s.capitalize()) for s in ("draft", "published", "accepted")),
    "hs_language": (("en", "English"), ("nl", "Dutch"), ("da", "Danish"), ("de", "German")),
    "dealstage": tuple(
        (hub, cadency.replace("_", " ").capitalize()) for hub, cadency in _DEAL_STAGES
    ),
    "pipeline": (("default", "Sales Pipeline"),),
    "recurringbillingfrequency": tuple(
        (f.value, f.value.replace("_", " ").capitalize()) for f in BillingFrequency
    ),
    "hs_status": tuple((s, s.replace("_", " ").capitalize()) for s in STATUSES),
    "collection_method": tuple((c, c.replace("_", " ").capitalize()) for c in COLLECTION_METHODS),
    "billing_frequency": tuple((f, f.replace("_", " ").capitalize()) for f in BILLING_FREQUENCIES),
    "billing_terms": tuple((t, t.replace("_", " ").capitalize()) for t in BILLING_TERMS),
    "cancellation_reason": tuple(
        (r, r.replace("_", " ").capitalize()) for r in CANCELLATION_REASONS
    ),
    "hs_invoice_status": tuple(
        (s, s.capitalize()) for s in ("draft", "open", "paid", "void", "uncollectible")
    ),
}
_DEAL_PROPERTIES = _props(
    HubProperty("dealname", "name", "string"),
    HubProperty("dealstage", "stage", "enumeration", values=_DEAL_STAGES),
    HubProperty("pipeline", "pipeline", "enumeration", read_only=True, constant="default"),
    HubProperty("amount", "amount", "number", read_only=True, money=True),
    HubProperty("deal_currency_code", "currency", "enumeration"),
    HubProperty("contact_id", "contact_id", "string"),
    HubProperty("company_id", "company_id", "string"),
    *_RECORD,
)
_PRODUCT_PROPERTIES = _props(
    HubProperty("name", "name", "string"),
    HubProperty("price", "unit_price", "number", money=True),
    HubProperty("description", "description", "string"),
    HubProperty("hs_sku", "sku", "string"),
    HubProperty("recurringbillingfrequency", "billing_frequency", "enumeration"),
    HubProperty("currency", "currency", "enumeration"),
    HubProperty("tax_category", "tax_category", "string"),
    HubProperty("fallback_product_id", "fallback_product_id", "string"),
    *_RECORD,
)

_DEAL_SPEC = _spec("deals", Deal, _DEAL_PROPERTIES)
DEALS = HubObject(
    name="deals",
    type_id="0-3",
    record_type="deal",
    model=Deal,
    builtins=_DEAL_PROPERTIES,
    default_properties=(
        "amount",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_DEAL_SPEC,
    searchable=(Deal.name,),
    archivable=True,
    sort_spec=_in_value_order(_DEAL_SPEC, _DEAL_PROPERTIES),
)
PRODUCTS = HubObject(
    name="products",
    type_id="0-7",
    record_type="product",
    model=Product,
    builtins=_PRODUCT_PROPERTIES,
    default_properties=(
        "createdate",
        "description",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
        "price",
    ),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_spec("products", Product, _PRODUCT_PROPERTIES),
    searchable=(Product.name, Product.sku, Product.description),
    archivable=True,
)

# Subscriptions (`0-69`): read, searched (the filter language's `SUBSCRIPTION_SPEC`, as
# `POST /api/v1/subscriptions/search`) and renamed or given custom properties through
# `subscriptions.service.update`; billing fields change through Cadency's own API only.
_SUBSCRIPTION_PROPERTIES = _props(
    HubProperty("name", "name", "string", "name"),
    HubProperty("hs_status", "status", "enumeration", "status", read_only=True),
    HubProperty(
        "hs_recurring_billing_start_date", "start_date", "date", "start_date", read_only=True
    ),
    HubProperty("hs_recurring_billing_end_date", "end_date", "date", "end_date", read_only=True),
    HubProperty(
        "hs_next_payment_due_date", "next_payment_date", "date", "next_payment_date", read_only=True
    ),
    HubProperty("contact_id", "contact_id", "string", "contact_id", read_only=True),
    HubProperty("company_id", "company_id", "string", "company_id", read_only=True),
    HubProperty("currency", "currency", "enumeration", "currency", read_only=True),
    HubProperty(
        "collection_method", "collection_method", "enumeration", "collection_method", read_only=True
    ),
    HubProperty(
        "billing_frequency", "billing_frequency", "enumeration", "billing_frequency", read_only=True
    ),
    HubProperty("billing_terms", "billing_terms", "enumeration", "billing_terms", read_only=True),
    HubProperty(
        "number_of_payments", "number_of_payments", "number", "number_of_payments", read_only=True
    ),
    HubProperty(
        "payments_completed", "payments_completed", "number", "payments_completed", read_only=True
    ),
    HubProperty(
        "current_period_start",
        "current_period_start",
        "date",
        "current_period_start",
        read_only=True,
    ),
    HubProperty(
        "current_period_end", "current_period_end", "date", "current_period_end", read_only=True
    ),
    HubProperty(
        "next_payment_amount",
        "next_payment_amount",
        "number",
        "next_payment_amount",
        read_only=True,
        money=True,
    ),
    HubProperty(
        "last_payment_amount",
        "last_payment_amount",
        "number",
        "last_payment_amount",
        read_only=True,
        money=True,
    ),
    HubProperty(
        "total_collected",
        "total_collected",
        "number",
        "total_collected",
        read_only=True,
        money=True,
    ),
    HubProperty("mrr", "mrr", "number", "mrr", read_only=True, money=True),
    HubProperty("trial_end", "trial_end", "date", "trial_end", read_only=True),
    HubProperty(
        "cancel_at_period_end",
        "cancel_at_period_end",
        "bool",
        "cancel_at_period_end",
        read_only=True,
    ),
    HubProperty("canceled_at", "canceled_at", "datetime", "canceled_at", read_only=True),
    HubProperty(
        "cancellation_reason",
        "cancellation_reason",
        "enumeration",
        "cancellation_reason",
        read_only=True,
    ),
    *_RECORD,
)
# Invoices (`0-53`): read and searched only (Cadency makes them by billing).
_INVOICE_PROPERTIES = _props(
    HubProperty("hs_number", "number", "string", read_only=True),
    HubProperty("hs_invoice_status", "status", "enumeration", read_only=True),
    HubProperty("hs_invoice_date", "issue_date", "date", read_only=True),
    HubProperty("hs_due_date", "due_date", "date", read_only=True),
    HubProperty("hs_amount_billed", "total", "number", read_only=True, money=True),
    HubProperty("hs_balance_due", "amount_due", "number", read_only=True, money=True),
    HubProperty("currency", "currency", "enumeration", read_only=True),
    HubProperty("subscription_id", "subscription_id", "string", read_only=True),
    HubProperty("contact_id", "contact_id", "string", read_only=True),
    HubProperty("billing_reason", "billing_reason", "string", read_only=True),
    HubProperty("collection_method", "collection_method", "enumeration", read_only=True),
    HubProperty("period_start", "period_start", "date", read_only=True),
    HubProperty("period_end", "period_end", "date", read_only=True),
    HubProperty("subtotal", "subtotal", "number", read_only=True, money=True),
    HubProperty("discount_total", "discount_total", "number", read_only=True, money=True),
    HubProperty("tax_total", "tax_total", "number", read_only=True, money=True),
    HubProperty("fee_total", "fee_total", "number", read_only=True, money=True),
    HubProperty("amount_paid", "amount_paid", "number", read_only=True, money=True),
    HubProperty("paid_at", "paid_at", "datetime", read_only=True),
    HubProperty("voided_at", "voided_at", "datetime", read_only=True),
    *_RECORD,
)

SUBSCRIPTIONS = HubObject(
    name="subscriptions",
    type_id="0-69",
    record_type="subscription",
    model=Subscription,
    builtins=_SUBSCRIPTION_PROPERTIES,
    default_properties=(
        "createdate",
        "hs_lastmodifieddate",
        "hs_next_payment_due_date",
        "hs_object_id",
        "hs_recurring_billing_start_date",
        "hs_status",
        "name",
    ),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_renamed(SUBSCRIPTION_SPEC, _SUBSCRIPTION_PROPERTIES),
    # The subscriptions list's text search looks in the name.
    searchable=(Subscription.name,),
)
INVOICES = HubObject(
    name="invoices",
    type_id="0-53",
    record_type="invoice",
    model=Invoice,
    builtins=_INVOICE_PROPERTIES,
    default_properties=(
        "createdate",
        "hs_amount_billed",
        "hs_balance_due",
        "hs_due_date",
        "hs_invoice_status",
        "hs_lastmodifieddate",
        "hs_number",
        "hs_object_id",
    ),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_spec("invoices", Invoice, _INVOICE_PROPERTIES),
    searchable=(Invoice.number,),
)
# Quotes (`0-14`) and line items (`0-8`): read and searched only (written through /api/v1). A
# line item is never changed in place (a copy of its product, replaced as a whole), so it has
# no modification time: its creation time.
_QUOTE_PROPERTIES = _props(
    HubProperty("hs_title", "name", "string", read_only=True),
    HubProperty("hs_status", "status", "enumeration", read_only=True),
    HubProperty("hs_expiration_date", "expires_on", "date", read_only=True),
    HubProperty("hs_currency", "currency", "enumeration", read_only=True),
    HubProperty("contact_id", "contact_id", "string", read_only=True),
    HubProperty("company_id", "company_id", "string", read_only=True),
    HubProperty("deal_id", "deal_id", "string", read_only=True),
    HubProperty("published_at", "published_at", "datetime", read_only=True),
    *_RECORD,
)
_LINE_ITEM_PROPERTIES = _props(
    HubProperty("name", "name", "string", read_only=True),
    HubProperty("quantity", "quantity", "number", read_only=True),
    HubProperty("price", "unit_price", "number", read_only=True, money=True),
    HubProperty("amount", "amount", "number", read_only=True, money=True),
    HubProperty("hs_product_id", "product_id", "string", read_only=True),
    HubProperty("recurringbillingfrequency", "billing_frequency", "enumeration", read_only=True),
    HubProperty("hs_recurring_billing_start_date", "billing_start_date", "date", read_only=True),
    HubProperty(
        "hs_recurring_billing_number_of_payments", "number_of_payments", "number", read_only=True
    ),
    HubProperty("hs_discount_percentage", "unit_discount_percent", "number", read_only=True),
    HubProperty("hs_line_item_currency_code", "currency", "enumeration", read_only=True),
    HubProperty("billing_terms", "billing_terms", "enumeration", read_only=True),
    HubProperty("tax_rate_id", "tax_rate_id", "string", read_only=True),
    HubProperty("subscription_id", "subscription_id", "string", read_only=True),
    HubProperty("deal_id", "deal_id", "string", read_only=True),
    HubProperty("quote_id", "quote_id", "string", read_only=True),
    HubProperty("position", "position", "number", read_only=True),
    HubProperty("hs_object_id", "id", "number", read_only=True),
    HubProperty("createdate", "created_at", "datetime", read_only=True),
    HubProperty("hs_createdate", "created_at", "datetime", read_only=True),
    HubProperty("hs_lastmodifieddate", "created_at", "datetime", read_only=True),
)

QUOTES = HubObject(
    name="quotes",
    type_id="0-14",
    record_type="quote",
    model=Quote,
    builtins=_QUOTE_PROPERTIES,
    default_properties=(
        "createdate",
        "hs_expiration_date",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_status",
        "hs_title",
    ),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_spec("quotes", Quote, _QUOTE_PROPERTIES),
    searchable=(Quote.name,),
)
LINE_ITEMS = HubObject(
    name="line_items",
    type_id="0-8",
    record_type="line_item",
    model=LineItem,
    builtins=_LINE_ITEM_PROPERTIES,
    default_properties=(
        "amount",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_product_id",
        "name",
        "price",
        "quantity",
    ),
    id_properties=(),
    modified_property="hs_lastmodifieddate",
    spec=_spec("line_items", LineItem, _LINE_ITEM_PROPERTIES),
    searchable=(LineItem.name,),
)
# Read only here: written through /api/v1 (quotes, and the line items of subscriptions, deals
# and quotes).
READ_ONLY = frozenset(("quotes", "line_items"))

# HubSpot's labels of the built-in properties (its own where it has one).
LABELS = {
    "email": "Email",
    "firstname": "First Name",
    "lastname": "Last Name",
    "phone": "Phone Number",
    "hs_language": "Preferred language",
    "address": "Street Address",
    "address2": "Street Address 2",
    "city": "City",
    "zip": "Postal Code",
    "state": "State/Region",
    "country": "Country/Region",
    "hs_object_id": "Record ID",
    "createdate": "Create Date",
    "hs_createdate": "Object create date/time",
    "lastmodifieddate": "Last Modified Date",
    "hs_lastmodifieddate": "Object last modified date/time",
    "name": "Name",
    "domain": "Company Domain Name",
    "dealname": "Deal Name",
    "dealstage": "Deal Stage",
    "pipeline": "Pipeline",
    "amount": "Amount",
    "deal_currency_code": "Currency",
    "contact_id": "Contact ID",
    "company_id": "Company ID",
    "price": "Unit price",
    "description": "Description",
    "hs_sku": "SKU",
    "recurringbillingfrequency": "Billing frequency",
    "currency": "Currency",
    "tax_category": "Tax category",
    "fallback_product_id": "Fallback plan",
    "hs_status": "Status",
    "hs_recurring_billing_start_date": "Start date",
    "hs_recurring_billing_end_date": "End date",
    "hs_next_payment_due_date": "Next payment due date",
    "hs_number": "Number",
    "hs_invoice_status": "Invoice status",
    "hs_invoice_date": "Invoice date",
    "hs_due_date": "Due date",
    "hs_amount_billed": "Amount billed",
    "hs_balance_due": "Balance due",
    "hs_title": "Quote name",
    "hs_expiration_date": "Expiration date",
    "hs_currency": "Currency",
    "quantity": "Quantity",
    "hs_product_id": "Product ID",
    "hs_recurring_billing_number_of_payments": "Number of payments",
    "hs_discount_percentage": "Discount percentage",
    "hs_line_item_currency_code": "Currency",
}
# HubSpot's (type, fieldType) of a property ↔ Cadency's custom field type. The first pair of
# a field type is the one it is shown as.
FIELD_TYPES: dict[tuple[str, str], str] = {
    ("string", "text"): "text",
    ("string", "textarea"): "textarea",
    ("number", "number"): "number",
    ("date", "date"): "date",
    ("datetime", "date"): "datetime",
    ("enumeration", "select"): "select",
    ("enumeration", "radio"): "radio",
    ("enumeration", "checkbox"): "checkboxes",
    ("bool", "booleancheckbox"): "boolean",
}
HUBSPOT_FIELD_TYPES: dict[str, tuple[str, str]] = {
    field_type: pair for pair, field_type in reversed(FIELD_TYPES.items())
}
# The fieldType a built-in property of each HubSpot type is shown with.
BUILTIN_FIELD_TYPES = {
    "string": "text",
    "number": "number",
    "datetime": "date",
    "date": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}
# The property group HubSpot puts an object's own properties in: (name, label). Custom
# properties in Cadency's default group (`contact_information`) show in it too.
GROUPS = {
    "contacts": ("contactinformation", "Contact information"),
    "companies": ("companyinformation", "Company information"),
    "deals": ("dealinformation", "Deal information"),
    "products": ("productinformation", "Product information"),
    "subscriptions": ("subscriptioninformation", "Subscription information"),
    "invoices": ("invoiceinformation", "Invoice information"),
    "quotes": ("quoteinformation", "Quote information"),
    "line_items": ("lineiteminformation", "Line item information"),
}

_SERVED = (CONTACTS, COMPANIES, DEALS, PRODUCTS, SUBSCRIPTIONS, INVOICES, QUOTES, LINE_ITEMS)
OBJECTS: dict[str, HubObject] = {o.name: o for o in _SERVED}
OBJECTS.update({o.type_id: o for o in _SERVED})
# HubSpot's other object types: served by the REST API, not yet by this surface.
LATER: dict[str, str] = {}
# HubSpot's association names (`associations=companies`) → Cadency's record types.
ASSOCIATED_TYPES = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "quotes": "quote",
    "subscriptions": "subscription",
    "invoices": "invoice",
}


# --------------------------------------------------------------------------- values as text


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as HubSpot writes them: 2026-03-01T10:00:00.000Z."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def builtin_value(record: Record, prop: HubProperty) -> str | None:
    """A built-in property of a record as HubSpot sends it: a string, or None."""
    if prop.constant is not None:
        return prop.constant
    if prop.field.startswith(ADDRESS_PREFIX):
        address = getattr(record, "address", None) or {}
        value = address.get(prop.field.removeprefix(ADDRESS_PREFIX))
    else:
        value = getattr(record, prop.field)
    currency = getattr(record, "currency", None)
    if prop.money and isinstance(value, int) and not isinstance(value, bool) and currency:
        return money.format_amount(value, str(currency))
    if prop.values and isinstance(value, str):
        return prop.to_hubspot(value)
    return text_value(value)


def text_value(value: Any) -> str | None:
    """Any stored value as HubSpot's string: numbers exactly, booleans as true/false,
    timestamps with milliseconds, multiple choices joined with `;`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    if isinstance(value, int | Decimal):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)
