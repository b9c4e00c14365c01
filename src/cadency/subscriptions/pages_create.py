"""The create-subscription form (SPEC §4, seed "Opret abonnementer") and its live summary.

The form is one HTML form; htmx posts it to `/subscriptions/new/summary` on every change and
swaps in the summary. Line items are rows of a table: each row carries a hidden `line` input
with its key, and its fields are named `line.<key>.<field>`, so the order of the rows in the
page (dragged, or moved with the up/down buttons) is the order the form submits them in.

On submit the form becomes the API's `SubscriptionCreate` and goes to
`subscriptions.service.create_grouped`: the service of `POST /api/v1/subscriptions` makes one
subscription of items that share their billing terms; a purchase with items that differ (a
monthly and an annual item) becomes several subscriptions by the grouping rule (SPEC §4), each
created by that same service in the same transaction: one-time items and checkout fees go on the
subscription billed first, as payment links and conversions do (checkout.service). Errors of any
of them land next to the row they name, and nothing is written.

Prefill for links from other pages: `?contact_id=`, `?company_id=`, `?deal_id=` (the deal's
contact, company, currency and line items).

Around the form: a confirmation dialog before creating (`/subscriptions/new/confirm`,
from the same summary), "save line item to the product library" on custom rows, cloning a row
(`/subscriptions/new/line/clone`), the optional tax columns (create.js keeps the choice), and
editing the chosen contact and company in place through crm.service.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts import service as accounts
from cadency.catalog import service as catalog
from cadency.catalog.line_items import CUSTOM_LINE_ITEMS, LineItemInput
from cadency.catalog.models import Fee, Product, TaxRate
from cadency.catalog.schemas import ProductCreate, format_percent
from cadency.crm import associations
from cadency.crm import service as crm
from cadency.crm.models import Company, Contact, Deal
from cadency.crm.schemas import (
    AddressIn,
    CompanyCreate,
    CompanyUpdate,
    ContactCreate,
    ContactUpdate,
)
from cadency.kit import labels, money, periods
from cadency.kit.errors import APIError, NotFound, PermissionDenied
from cadency.kit.i18n import Message
from cadency.kit.repository import get_owned, owned_by_id
from cadency.kit.terms import CollectionMethod
from cadency.payments import service as payments
from cadency.payments.models import PaymentMethod
from cadency.properties import forms as property_forms
from cadency.properties import service as properties
from cadency.properties.models import PropertyDefinition
from cadency.subscriptions import repository, service
from cadency.subscriptions.models import LineItem, Subscription
from cadency.subscriptions.schemas import SubscriptionCreate
from cadency.subscriptions.summary import Rate, SummaryLine, summarize
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EDIT = "subscriptions.edit"

INVOICE_LOCALES = ("en-US", "en-GB", "nl-NL", "nl-BE", "da-DK", "de-DE", "de-AT", "de-CH")
# Offered in the currency menu besides the account's and those of the product library.
COMMON_CURRENCIES = ("EUR", "USD", "GBP", "DKK", "SEK", "NOK", "CHF", "CAD", "AUD", "JPY")
ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "region", "country")
MAX_ROWS = 100
SEARCH_RESULTS = 10
# Delays are bounded so that a date can always be computed (and a typo is caught).
MAX_DELAY = {"days": 3660, "months": 120}
COLLECT_ON_FIRST_INVOICE = "collect"
MAX_TRIAL_DAYS = 730  # as SubscriptionCreate.trial_days
_KEY = re.compile(r"[a-z0-9]{1,16}")
_INVALID_VALUE = re.compile(r"^Invalid value for '[^']*': ")
# The same refusal as a catalog sentence whose last value is the why ("Invalid value for
# '%(field_name)s': %(problem)s").
_INVALID_VALUE_TEMPLATE = re.compile(r"^Invalid value for [^:]*: %\((\w+)\)s$")


# --- the form's line item rows ------------------------------------------------------------------


@dataclass
class LineRow:
    """One line item row as the form holds it: the text typed, so a re-rendered form shows
    exactly that."""

    key: str
    product_id: str = ""
    name: str = ""
    unit_price: str = ""
    quantity: str = "1"
    unit_discount_percent: str = ""
    tax_rate_id: str = ""
    billing_frequency: str = ""  # "": one-time
    billing_terms: str = "auto_renew"
    number_of_payments: str = ""
    start: str = "now"  # now | date | delay
    billing_start_date: str = ""
    delay: str = ""
    delay_unit: str = "days"
    # A custom row only: on create, the item becomes a product of the library (seed "Gem
    # linjepost i produktbiblioteket") and the line refers to it.
    save_to_library: str = ""

    FIELDS = (
        "product_id",
        "name",
        "unit_price",
        "quantity",
        "unit_discount_percent",
        "tax_rate_id",
        "billing_frequency",
        "billing_terms",
        "number_of_payments",
        "start",
        "billing_start_date",
        "delay",
        "delay_unit",
        "save_to_library",
    )

    @classmethod
    def of_product(cls, product: Product) -> LineRow:
        return cls(
            key=new_key(),
            product_id=product.id,
            name=product.name,
            unit_price=money.format_amount(product.unit_price, product.currency),
            billing_frequency=product.billing_frequency or "",
        )

    @classmethod
    def of_line_item(cls, item: LineItem) -> LineRow:
        """A row copied from a deal's line item (its price and terms as sold on the deal)."""
        return cls(
            key=new_key(),
            product_id=item.product_id or "",
            name=item.name,
            unit_price=money.format_amount(item.unit_price, item.currency),
            quantity=str(item.quantity),
            unit_discount_percent=(
                format_percent(item.unit_discount_percent) if item.unit_discount_percent else ""
            ),
            tax_rate_id=item.tax_rate_id or "",
            billing_frequency=item.billing_frequency or "",
            billing_terms=item.billing_terms or "auto_renew",
            number_of_payments=str(item.number_of_payments or ""),
            start="date" if item.billing_start_date else "now",
            billing_start_date=item.billing_start_date.isoformat()
            if item.billing_start_date
            else "",
        )


def new_key() -> str:
    return secrets.token_hex(4)


def read_rows(form: FormData) -> list[LineRow]:
    """The rows in the order the page submitted them; unknown or repeated keys are ignored."""
    rows: list[LineRow] = []
    seen: set[str] = set()
    for key in form.getlist("line"):
        if not isinstance(key, str) or not _KEY.fullmatch(key) or key in seen:
            continue
        seen.add(key)
        values = {name: form.get(f"line.{key}.{name}") for name in LineRow.FIELDS}
        rows.append(
            LineRow(key=key, **{k: v.strip() for k, v in values.items() if isinstance(v, str)})
        )
        if len(rows) > MAX_ROWS:
            break
    return rows


def _decimal_text(value: str) -> str | None:
    """A number as typed, for the API's decimal strings: a decimal comma (Dutch, Danish)
    becomes a point; anything else goes on unchanged for the schema to refuse."""
    if not value:
        return None
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    return value


def _integer(value: str) -> int | str | None:
    """A whole number as typed; not a number goes on as text, for the schema's message."""
    if not value:
        return None
    return int(value) if re.fullmatch(r"-?[0-9]{1,9}", value) else value


def _start_date(row: LineRow, today: date, errors: FormErrors, gettext: Any) -> str | None:
    """The billing start date of a row: a date, or today plus a delay (kit.periods)."""
    if row.start == "date":
        return row.billing_start_date or None
    if row.start != "delay" or not row.delay:
        return None
    amount = _integer(row.delay)
    unit = row.delay_unit if row.delay_unit in MAX_DELAY else "days"
    if not isinstance(amount, int) or not 0 <= amount <= MAX_DELAY[unit]:
        message = (
            gettext("Enter a delay from 0 to %(max)s days.")
            if unit == "days"
            else gettext("Enter a delay from 0 to %(max)s months.")
        )
        errors["billing_start_date"] = message % {"max": MAX_DELAY[unit]}
        return None
    moved = periods.add_days(today, amount) if unit == "days" else periods.add_months(today, amount)
    return moved.isoformat()


def line_input(
    row: LineRow, product: Product | None, today: date, gettext: Any
) -> tuple[dict[str, Any], FormErrors]:
    """A row as one `line_items` entry of the API, and what the form itself finds wrong with
    it (by the row's field); the schema and the service check everything else."""
    errors: FormErrors = {}
    item: dict[str, Any] = {}
    if row.product_id:
        item["product_id"] = row.product_id
    item["name"] = row.name or None
    item["unit_price"] = _decimal_text(row.unit_price)
    item["quantity"] = _integer(row.quantity) if row.quantity else 1
    item["unit_discount_percent"] = _decimal_text(row.unit_discount_percent)
    item["tax_rate_id"] = row.tax_rate_id or None
    if row.billing_frequency:
        item["billing_frequency"] = row.billing_frequency
        item["billing_terms"] = row.billing_terms or "auto_renew"
        if item["billing_terms"] == "fixed":
            item["number_of_payments"] = _integer(row.number_of_payments)
    elif product is not None and product.billing_frequency:
        # The API reads "no frequency" on a product's line as "the product's frequency".
        errors["billing_frequency"] = gettext(
            "This product is billed on a schedule. To sell it once, add a custom line item."
        )
    start = _start_date(row, today, errors, gettext)
    # "Today" and "at purchase" are one start: the same subscription, not two.
    item["billing_start_date"] = None if start == today.isoformat() else start
    return {k: v for k, v in item.items() if v is not None}, errors


# --- reading the whole form ---------------------------------------------------------------------


@dataclass
class CreateForm:
    """The whole form as typed, for re-rendering and for building the API request."""

    contact_id: str = ""
    company_id: str = ""
    deal_id: str = ""  # the deal it is created from, associated with every new subscription
    name: str = ""
    currency: str = ""
    same_as_company: bool = False
    billing_address: dict[str, str] = field(default_factory=dict)
    rows: list[LineRow] = field(default_factory=list)
    invoice_creation: bool = True
    collection_method: str = "charge_automatically"
    payment_method: str = ""  # a saved method's ID, or COLLECT_ON_FIRST_INVOICE
    payment_terms: str = ""
    fee_ids: list[str] = field(default_factory=list)
    # Online payment options (the API's PaymentOptions), with its defaults.
    accept_online_payments: bool = True
    payment_types: list[str] = field(default_factory=lambda: ["card"])
    collect_billing_address: bool = False
    collect_shipping_address: bool = False
    save_payment_method: bool = True
    trial_days: str = ""
    commitment_months: str = ""
    comments: str = ""
    tax_ids: str = ""
    # The account's tax IDs ticked for the invoice (the form offers them to choose from).
    chosen_tax_ids: list[str] = field(default_factory=list)
    # The form showed the invoice settings (prefilled with the account's defaults): what it
    # sends is meant, an emptied comment included. A post without them leaves the defaults.
    invoice_settings_shown: bool = False
    invoice_language: str = ""
    invoice_locale: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


def read_form(form: FormData, page: PageContext) -> CreateForm:
    def value(name: str) -> str:
        return text(form, name) or ""

    # An unchecked box sends nothing: the hidden marker tells "off" from "not on the form".
    options_on_form = "payment_options.present" in form

    def option(name: str, default: bool) -> bool:
        return checked(form, f"payment_options.{name}") if options_on_form else default

    return CreateForm(
        contact_id=value("contact_id"),
        company_id=value("company_id"),
        deal_id=value("deal_id"),
        name=value("name"),
        currency=value("currency") or page.account.currency,
        same_as_company=checked(form, "billing_address.same_as_company"),
        billing_address={part: value(f"billing_address.{part}") for part in ADDRESS_FIELDS},
        rows=read_rows(form),
        # An unchecked box sends nothing: the hidden marker tells "off" from "not on the form".
        invoice_creation=checked(form, "invoice_creation")
        if "invoice_creation.present" in form
        else True,
        collection_method=value("collection_method") or "charge_automatically",
        payment_method=value("payment_method"),
        payment_terms=value("payment_terms"),
        fee_ids=[v for v in form.getlist("fee_ids") if isinstance(v, str) and v],
        accept_online_payments=option("accept_online_payments", True),
        payment_types=[
            v for v in form.getlist("payment_options.payment_types") if isinstance(v, str) and v
        ]
        if options_on_form
        else ["card"],
        collect_billing_address=option("collect_billing_address", False),
        collect_shipping_address=option("collect_shipping_address", False),
        save_payment_method=option("save_payment_method", True),
        trial_days=value("trial_days"),
        commitment_months=value("commitment_months"),
        comments=value("invoice_settings.comments"),
        tax_ids=value("invoice_settings.tax_ids"),
        chosen_tax_ids=[
            v for v in form.getlist("invoice_settings.account_tax_ids") if isinstance(v, str) and v
        ],
        invoice_settings_shown="invoice_settings.present" in form,
        invoice_language=value("invoice_settings.language"),
        invoice_locale=value("invoice_settings.locale"),
        properties=property_forms.values_from_form(
            _property_definitions(page), form, page.account.timezone
        ),
    )


def _address(data: CreateForm, company: Company | None) -> dict[str, Any] | None:
    if data.same_as_company and company is not None:
        return {k: v for k, v in (company.address or {}).items() if v} or None
    address = {k: v for k, v in data.billing_address.items() if v}
    if "country" in address:
        address["country"] = address["country"].upper()
    return address or None


def request_body(page: PageContext, data: CreateForm, errors: FormErrors) -> dict[str, Any]:
    """The form as the body of `POST /api/v1/subscriptions` (before schema validation); what
    the form itself finds wrong goes into `errors`, keyed like the API's `param`."""
    today = page.today
    products = _products(page, [row.product_id for row in data.rows])
    items: list[dict[str, Any]] = []
    for index, row in enumerate(data.rows):
        item, problems = line_input(row, products.get(row.product_id), today, page.gettext)
        items.append(item)
        errors.update({f"line_items.{index}.{k}": v for k, v in problems.items()})

    company = _owned(page, Company, data.company_id, "company") if data.same_as_company else None
    if data.same_as_company and company is None:
        errors["billing_address"] = page.gettext("Choose a company to use its address.")
    charge = data.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
    collect = charge and data.payment_method == COLLECT_ON_FIRST_INVOICE
    typed = [t.strip() for t in re.split(r"[,\n]", data.tax_ids) if t.strip()]
    settings: dict[str, Any] = {
        "comments": data.comments or None,
        "tax_ids": list(dict.fromkeys([*data.chosen_tax_ids, *typed])),
        "language": data.invoice_language or None,
        "locale": data.invoice_locale or None,
    }
    return {
        "contact_id": data.contact_id,
        "company_id": data.company_id,
        "name": data.name,
        "currency": data.currency,
        "billing_address": _address(data, company),
        "line_items": items,
        "collection_method": data.collection_method,
        "payment_method_id": data.payment_method
        if data.payment_method and not collect and charge
        else None,
        "collect_payment_method_on_first_invoice": collect,
        # Payment terms belong to invoices the buyer pays: every invoice when sent, or the
        # first one when it collects the payment method.
        "payment_terms": data.payment_terms if (collect or not charge) else None,
        "invoice_creation": data.invoice_creation,
        "payment_options": {
            "accept_online_payments": data.accept_online_payments,
            # The types are not used when online payments are off.
            "payment_types": data.payment_types if data.accept_online_payments else [],
            "collect_billing_address": data.collect_billing_address,
            "collect_shipping_address": data.collect_shipping_address,
            "save_payment_method": data.save_payment_method,
        },
        "trial_days": _integer(data.trial_days),
        "commitment_months": _integer(data.commitment_months),
        "invoice_settings": (
            # Shown prefilled with the account's defaults: an emptied field means none.
            {**settings, "comments": data.comments}
            if data.invoice_settings_shown
            else {k: v for k, v in settings.items() if v} or None
        ),
        "fee_ids": data.fee_ids,
        "properties": data.properties,
    }


def validated(page: PageContext, data: CreateForm) -> SubscriptionCreate:
    """The form as the API's `SubscriptionCreate`, or FormInvalid with every problem the form
    and the schema find (the service's own checks come after)."""
    errors: FormErrors = {}
    body = request_body(page, data, errors)
    built: SubscriptionCreate | None = None
    try:
        built = build(SubscriptionCreate, body)
    except FormInvalid as exc:
        errors = {**exc.errors, **errors}
    if not data.contact_id:
        errors["contact_id"] = page.gettext("Choose or create a billing contact.")
    if not data.rows:
        errors["line_items"] = page.gettext("Add at least one line item.")
    if errors or built is None:
        raise FormInvalid(errors)
    return built


def _save_to_library(page: PageContext, data: CreateForm) -> CreateForm:
    """The form with each custom row marked "save to the product library" made a new product
    of the library (catalog.service, in this request's transaction: a later error rolls it back
    with everything else) and referring to it. A name the library already has, or product data
    the catalog refuses, is an error on that row."""
    errors: FormErrors = {}
    rows: list[LineRow] = []
    saved: set[str] = set()
    for index, row in enumerate(data.rows):
        if row.product_id or not row.save_to_library:
            rows.append(row)
            continue
        place = f"line_items.{index}."
        if row.name.casefold() in saved or _library_has(page, row.name):
            errors[place + "save_to_library"] = page.gettext(
                "The product library already has a product named “%(name)s”."
            ) % {"name": row.name}
            rows.append(row)
            continue
        saved.add(row.name.casefold())
        fields = {
            "name": row.name,
            "unit_price": _decimal_text(row.unit_price),
            "currency": data.currency,
            "billing_frequency": row.billing_frequency or None,
        }
        try:
            product_data = build(ProductCreate, fields)
            product = attempt(
                partial(catalog.create_product, page.session, page.account, product_data)
            )
        except FormInvalid as exc:
            for param, message in exc.errors.items():
                shown = param if param in ("name", "unit_price", "billing_frequency") else None
                errors.setdefault(place + (shown or "save_to_library"), message)
            rows.append(row)
            continue
        rows.append(replace(row, product_id=product.id, save_to_library=""))
    if errors:
        raise FormInvalid(errors)
    return replace(data, rows=rows)


def _library_has(page: PageContext, name: str) -> bool:
    """Whether a product of the library (archived or not) has this name, ignoring case."""
    cursor: str | None = None
    while True:
        found, more, cursor = catalog.list_products(
            page.session, page.account, archived=None, limit=100, cursor=cursor, query=name
        )
        if any(product.name.casefold() == name.casefold() for product in found):
            return True
        if not more:
            return False


def _associate_with_deal(page: PageContext, created: Sequence[Subscription], deal_id: str) -> None:
    """A subscription created from a deal is associated with it, as a conversion is."""
    for subscription in created:
        try:
            associations.associate(
                page.session, page.account, "subscription", subscription.id, "deal", deal_id
            )
        except APIError as exc:
            raise FormInvalid({"__all__": exc.message}) from exc


# --- the summary --------------------------------------------------------------------------------


@dataclass
class SummaryView:
    summary: Any
    currency: str
    left_out: int  # rows whose values cannot be priced yet
    invoice_creation: bool
    trial_days: int  # 0: no trial (or none that can be read yet)
    # The tax of one payment of each row that can be priced, by row key (the "Tax amount"
    # column): SummaryLine.tax, the rule the summary's own tax total adds up.
    line_taxes: dict[str, int] = field(default_factory=dict)
    # One payment of the recurring items, by billing frequency, in the order of the form.
    recurring: dict[str, int] = field(default_factory=dict)
    first_payment: date | None = None  # the day the first payment is taken; None: nothing to pay


def build_summary(page: PageContext, data: CreateForm) -> SummaryView:
    """The summary of what the form holds; rows that cannot be read yet are left out."""
    currency = (
        data.currency if money.is_transaction_currency(data.currency) else page.account.currency
    )
    products = _products(page, [row.product_id for row in data.rows])
    rates = {rate.id: rate for rate in _tax_rates(page)}
    lines: list[SummaryLine] = []
    line_taxes: dict[str, int] = {}
    left_out = 0
    for row in data.rows:
        product = products.get(row.product_id)
        raw, problems = line_input(row, product, page.today, page.gettext)
        try:
            if problems:
                raise ValueError(problems)
            item = LineItemInput.model_validate(raw)
            line = _summary_line(item, product, rates, currency)
        except (ValidationError, money.MoneyError, ValueError, LookupError):
            left_out += 1
            continue
        lines.append(line)
        line_taxes[row.key] = line.tax
    fees = [
        fee
        for fee in _fees(page)
        if fee.id in data.fee_ids and (fee.fee_type != "fixed" or fee.currency == currency)
    ]
    trial_days = _integer(data.trial_days)
    # A trial the schema would refuse is left out, as a row that cannot be read is.
    trial = trial_days if isinstance(trial_days, int) and 1 <= trial_days <= MAX_TRIAL_DAYS else 0
    summary = summarize(lines, page.today, fees, trial)
    recurring: dict[str, int] = {}
    for line in lines:
        if line.billing_frequency:
            recurring[line.billing_frequency] = (
                recurring.get(line.billing_frequency, 0) + line.payment
            )
    if summary.due_now:
        first_payment: date | None = page.today
    else:
        first_payment = summary.future[0].on if summary.future else None
    return SummaryView(
        summary=summary,
        currency=currency,
        left_out=left_out,
        invoice_creation=data.invoice_creation,
        trial_days=trial,
        line_taxes=line_taxes,
        recurring=recurring,
        first_payment=first_payment,
    )


def _summary_line(
    item: LineItemInput, product: Product | None, rates: Mapping[str, TaxRate], currency: str
) -> SummaryLine:
    if item.unit_price is not None:
        unit_price = money.parse_amount(item.unit_price, currency)
    elif product is not None and product.currency == currency:
        unit_price = product.unit_price
    else:
        raise LookupError("no price")
    if item.billing_frequency is not None:
        frequency: str | None = item.billing_frequency.value
    else:
        frequency = product.billing_frequency if product else None
    rate = rates[item.tax_rate_id] if item.tax_rate_id else None
    return SummaryLine(
        name=item.name or (product.name if product else ""),
        quantity=item.quantity,
        unit_price=unit_price,
        unit_discount_percent=Decimal(item.unit_discount_percent)
        if item.unit_discount_percent
        else None,
        tax_rate=Rate(rate.name, rate.percentage) if rate else None,
        billing_frequency=frequency,
        billing_terms=(item.billing_terms or "auto_renew") if frequency else None,
        number_of_payments=item.number_of_payments if frequency else None,
        billing_start_date=item.billing_start_date,
    )


# --- lookups the form needs -----------------------------------------------------------------------
# The search boxes show a few matches, in alphabetical order.


def _search_contacts(page: PageContext, query: str) -> Sequence[Contact]:
    rows, _, _ = crm.list_contacts(
        page.session, page.account, email=None, limit=SEARCH_RESULTS, cursor=None, query=query
    )
    return sorted(rows, key=lambda contact: contact.email)


def _search_companies(page: PageContext, query: str) -> Sequence[Company]:
    rows, _, _ = crm.list_companies(
        page.session, page.account, domain=None, limit=SEARCH_RESULTS, cursor=None, query=query
    )
    return sorted(rows, key=lambda company: company.name)


def _search_products(page: PageContext, query: str, currency: str) -> Sequence[Product]:
    """Products of the library that can go on a subscription in `currency`: by name,
    description or SKU, as in the seed's product panel."""
    rows, _, _ = catalog.list_products(
        page.session,
        page.account,
        archived=False,
        currency=currency,
        limit=SEARCH_RESULTS,
        cursor=None,
        query=query,
    )
    return sorted(rows, key=lambda product: product.name)


def _products(page: PageContext, ids: Iterable[str]) -> dict[str, Product]:
    return owned_by_id(page.session, Product, page.account.id, ids)


def _product_currencies(session: Session, account_id: int) -> list[str]:
    return repository.product_currencies(session, account_id)


def _tax_rates(page: PageContext) -> Sequence[TaxRate]:
    rows, _, _ = catalog.list_tax_rates(page.session, page.account, limit=100, cursor=None)
    return rows


def _fees(page: PageContext) -> Sequence[Fee]:
    rows, _, _ = catalog.list_fees(page.session, page.account, limit=100, cursor=None)
    return rows


def _payment_methods(page: PageContext, contact_id: str) -> Sequence[PaymentMethod]:
    if not contact_id:
        return []
    try:
        rows, _, _ = payments.list_payment_methods(
            page.session, page.account, contact_id, limit=100, cursor=None
        )
    except APIError:
        return []
    return sorted(rows, key=lambda method: method.created_at, reverse=True)


def _property_definitions(page: PageContext) -> list[PropertyDefinition]:
    found = properties.definitions(page.session, page.account.id, service.OBJECT_TYPE)
    return sorted(found.values(), key=lambda d: (d.group_name, d.label))


def _owned(page: PageContext, model: Any, record_id: str, kind: str) -> Any:
    """The account's record, or None for an empty, unknown or another account's ID."""
    if not record_id:
        return None
    try:
        return get_owned(page.session, model, page.account.id, record_id, kind)
    except APIError:
        return None


# --- rendering ------------------------------------------------------------------------------------


def _clean_message(message: str) -> str:
    """A message shown next to its field need not repeat the field's API name: of a service's
    "Invalid value for '<field>': <why>", only the why."""
    if isinstance(message, Message):
        found = _INVALID_VALUE_TEMPLATE.match(message.template)
        if found is None:
            return message  # the form's own words or a whole sentence, translated when drawn
        why = message.values[found.group(1)]
        if isinstance(why, Message):
            return why
        message = str(why)
    cleaned = _INVALID_VALUE.sub("", message)
    return cleaned[:1].upper() + cleaned[1:]


def _placed_errors(errors: FormErrors, rows: int) -> tuple[FormErrors, list[dict[str, str]]]:
    """(errors by form field, errors of each row by its field); an error no field shows goes to
    the top of the form ("__all__")."""
    shown = {
        "contact_id",
        "company_id",
        "name",
        "currency",
        "billing_address",
        "line_items",
        "collection_method",
        "payment_method_id",
        "collect_payment_method_on_first_invoice",
        "payment_terms",
        "invoice_creation",
        "trial_days",
        "commitment_months",
        "fee_ids",
        "invoice_settings.comments",
        "invoice_settings.tax_ids",
        "invoice_settings.language",
        "invoice_settings.locale",
    }
    by_field: FormErrors = {}
    by_row: list[dict[str, str]] = [{} for _ in range(rows)]
    loose: list[str] = []
    for param, message in errors.items():
        match = re.fullmatch(r"line_items\.(\d+)(?:\.([a-z_]+))?(?:\..*)?", param)
        if match and int(match.group(1)) < rows:
            by_row[int(match.group(1))][match.group(2) or "name"] = _clean_message(message)
            continue
        head = param.split(".")[0]
        if param.startswith("billing_address"):
            by_field["billing_address"] = _clean_message(message)
        elif param.startswith("fee_ids"):
            by_field["fee_ids"] = _clean_message(message)
        elif param.startswith("payment_options"):
            by_field["payment_options"] = _clean_message(message)
        elif param.startswith("invoice_settings.tax_ids"):
            by_field["invoice_settings.tax_ids"] = _clean_message(message)
        elif param in shown or (head == "properties" and param.count(".") == 1):
            by_field[param] = _clean_message(message)
        elif param == "__all__":
            loose.insert(0, message)
        else:
            loose.append(message)
    if loose:
        by_field["__all__"] = " ".join(loose)
    return by_field, by_row


def _labels(page: PageContext) -> dict[str, Any]:
    return {
        "frequencies": {k: page.gettext(v) for k, v in labels.FREQUENCIES.items()},
        "payment_terms": [(k, page.gettext(v)) for k, v in labels.PAYMENT_TERMS.items()],
        "payment_types": [(k, page.gettext(v)) for k, v in labels.PAYMENT_TYPES.items()],
    }


def _context(
    page: PageContext, data: CreateForm, errors: FormErrors | None = None
) -> dict[str, Any]:
    field_errors, row_errors = _placed_errors(errors or {}, len(data.rows))
    contact = _owned(page, Contact, data.contact_id, "contact")
    company = _owned(page, Company, data.company_id, "company")
    currencies = dict.fromkeys(
        [
            page.account.currency,
            data.currency,
            *COMMON_CURRENCIES,
            *_product_currencies(page.session, page.account.id),
        ]
    )
    definitions = _property_definitions(page)
    return {
        "form": data,
        "errors": field_errors,
        "row_errors": row_errors,
        "contact": contact,
        "company": company,
        "deal": _owned(page, Deal, data.deal_id, "deal"),
        "payment_methods": _payment_methods(page, contact.id if contact else ""),
        "products": _products(page, [row.product_id for row in data.rows]),
        "tax_rates": _tax_rates(page),
        "fees": _fees(page),
        "currencies": [c for c in currencies if money.is_transaction_currency(c)],
        "locales": INVOICE_LOCALES,
        "definitions": [
            (d, property_forms.input_value(d, data.properties.get(d.name), page.account.timezone))
            for d in definitions
        ],
        "can_add_custom": page.allows(CUSTOM_LINE_ITEMS),
        "account_tax_ids": accounts.invoice_defaults(page.account).tax_ids,
        "view": build_summary(page, data),
        **_labels(page),
    }


def _prefilled(page: PageContext, contact_id: str, company_id: str, deal_id: str) -> CreateForm:
    defaults = accounts.invoice_defaults(page.account)
    data = CreateForm(
        currency=page.account.currency,
        comments=defaults.comment or "",
        chosen_tax_ids=list(defaults.tax_ids),
    )
    deal = get_owned(page.session, Deal, page.account.id, deal_id, "deal") if deal_id else None
    if deal is not None:
        data.deal_id = deal.id
        data.contact_id = deal.contact_id or ""
        data.company_id = deal.company_id or ""
        data.currency = deal.currency
        data.name = deal.name
        data.rows = [
            LineRow.of_line_item(item)
            for item in crm.deal_line_items(page.session, [deal.id])[deal.id]
        ]
    if contact_id:
        data.contact_id = get_owned(
            page.session, Contact, page.account.id, contact_id, "contact"
        ).id
    if company_id:
        data.company_id = get_owned(
            page.session, Company, page.account.id, company_id, "company"
        ).id
    if data.contact_id:
        # A saved payment method makes automatic charging possible right away.
        methods = _payment_methods(page, data.contact_id)
        data.payment_method = methods[0].id if methods else COLLECT_ON_FIRST_INVOICE
    return data


# --- routes ---------------------------------------------------------------------------------------


@router.get("/subscriptions/new")
def create_form(
    request: Request,
    contact_id: str = "",
    company_id: str = "",
    deal_id: str = "",
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    data = _prefilled(page, contact_id[:40], company_id[:40], deal_id[:40])
    return render(request, "subscriptions/create.html", _context(page, data))


@router.post("/subscriptions/new")
async def create_submit(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    form = await request.form()
    data = read_form(form, page)
    allow_custom = page.allows(CUSTOM_LINE_ITEMS)
    if not allow_custom and any(not row.product_id for row in data.rows):
        raise PermissionDenied(
            page.gettext(
                "Only users with the permission to create custom line items can add line items "
                "that are not from the product library."
            )
        )
    try:
        body = validated(page, data)
        if any(row.save_to_library and not row.product_id for row in data.rows):
            # Only a valid form makes products: then the rows refer to them.
            body = validated(page, _save_to_library(page, data))
        created = attempt(
            lambda: service.create_grouped(
                page.session, page.account, body, allow_custom_items=allow_custom
            )
        )
        if data.deal_id:
            _associate_with_deal(page, created, data.deal_id)
    except FormInvalid as exc:
        # Nothing of a failed attempt is kept: a service may have added rows before refusing.
        page.session.rollback()
        return render(
            request, "subscriptions/create.html", _context(page, data, exc.errors), status_code=422
        )
    page.session.commit()
    if len(created) == 1:
        return redirect(
            f"/subscriptions/{created[0].id}", flash=page.gettext("The subscription was created.")
        )
    names = ", ".join(f"{s.name} ({s.id})" for s in created)
    return redirect(
        "/subscriptions",
        flash=page.gettext(
            "The line items have different billing terms, so %(count)s subscriptions were "
            "created: %(names)s."
        )
        % {"count": len(created), "names": names},
    )


@router.post("/subscriptions/new/summary")
async def summary_partial(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """The summary of the form as it is now (htmx, on every change)."""
    form = await request.form()
    data = read_form(form, page)
    return render(
        request,
        "subscriptions/create_summary.html",
        {"view": build_summary(page, data), "rows": data.rows, "oob": True, **_labels(page)},
    )


@router.post("/subscriptions/new/confirm")
async def confirm_partial(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """What creating the form does — charged now, the recurring amount, the first payment —
    for the dialog create.js shows before submitting (seed: "Klik in het dialoogvenster op
    Maken"). A form the schema refuses gets 422 and no dialog: create.js then submits it, so
    its errors come back on the form as they do without JavaScript."""
    form = await request.form()
    data = read_form(form, page)
    try:
        validated(page, data)
    except FormInvalid:
        return Response(status_code=422)
    view = build_summary(page, data)
    charge = view.invoice_creation and (
        data.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY
    )
    # A saved method is charged at once for what is due now (subscriptions.service).
    saved_method = charge and data.payment_method not in ("", COLLECT_ON_FIRST_INVOICE)
    return render(
        request,
        "subscriptions/create_confirm.html",
        {
            "view": view,
            "charge": charge,
            "charged_now": saved_method and view.summary.due_now > 0,
            **_labels(page),
        },
    )


@router.get("/subscriptions/new/line")
def new_line(
    request: Request,
    product_id: str = "",
    currency: str = "",
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    """One new row of the line item table: a product of the library, or a custom item."""
    if product_id:
        product: Product = get_owned(
            page.session, Product, page.account.id, product_id[:40], "product"
        )
        row = LineRow.of_product(product)
    else:
        page.require(CUSTOM_LINE_ITEMS)
        row = LineRow(key=new_key())
    return _line(request, page, row, product if product_id else None)


@router.post("/subscriptions/new/line/clone")
async def clone_line(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """A copy of the row `clone` of the form as it is now (seed: "Klon: Opret en ny linjepost med
    de samme detaljer"), with a fresh key, to go right below it."""
    form = await request.form()
    key = text(form, "clone")
    row = next((r for r in read_rows(form) if r.key == key), None)
    if row is None:
        raise NotFound(page.gettext("There is no such line item on the form."))
    product: Product | None = None
    if row.product_id:
        product = get_owned(page.session, Product, page.account.id, row.product_id, "product")
    else:
        page.require(CUSTOM_LINE_ITEMS)
    # Saving to the library is left to the original: two products of one name would clash.
    return _line(request, page, replace(row, key=new_key(), save_to_library=""), product)


def _line(request: Request, page: PageContext, row: LineRow, product: Product | None) -> Response:
    return render(
        request,
        "subscriptions/create_line.html",
        {
            "row": row,
            "product": product,
            "row_error": {},
            "tax_rates": _tax_rates(page),
            **_labels(page),
        },
        headers={"HX-Trigger-After-Settle": "lines-changed"},
    )


@router.get("/subscriptions/new/products")
def product_results(
    request: Request,
    product_search: str = "",
    currency: str = "",
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    query = product_search.strip()[:100]
    currency = currency if money.is_transaction_currency(currency) else page.account.currency
    found = _search_products(page, query, currency) if query else []
    return render(
        request,
        "subscriptions/create_products.html",
        {"products": found, "query": query, **_labels(page)},
    )


@router.get("/subscriptions/new/contacts")
def contact_results(
    request: Request, contact_search: str = "", page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    query = contact_search.strip()[:100]
    found = _search_contacts(page, query) if query else []
    return render(
        request, "subscriptions/create_contact_results.html", {"contacts": found, "query": query}
    )


@router.get("/subscriptions/new/contact")
def choose_contact(
    request: Request, contact_id: str = "", page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """The billing contact block with this contact chosen (or none, to search again), and the
    contact's saved payment methods."""
    contact = (
        get_owned(page.session, Contact, page.account.id, contact_id[:40], "contact")
        if contact_id
        else None
    )
    return _contact_block(request, page, contact)


def _contact_block(
    request: Request,
    page: PageContext,
    contact: Contact | None,
    errors: FormErrors | None = None,
    new_contact: Mapping[str, str] | None = None,
    status_code: int = 200,
    *,
    editing: Mapping[str, str] | None = None,
    with_methods: bool = True,
) -> Response:
    """The contact block; `editing`: its edit form with these values. `with_methods`: the
    payment method menu follows (out of band) — not when the same contact stays chosen, which
    keeps the method the user picked."""
    methods = _payment_methods(page, contact.id if contact else "") if with_methods else []
    return render(
        request,
        "subscriptions/create_contact.html",
        {
            "contact": contact,
            "errors": errors or {},
            "new_contact": new_contact or {},
            "editing": editing,
            "payment_methods": methods,
            "selected_method": methods[0].id if methods else COLLECT_ON_FIRST_INVOICE,
            "oob": with_methods,
        },
        status_code=status_code,
    )


@router.post("/subscriptions/new/contacts")
async def create_contact(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """Create a contact from the inline form (crm.service) and choose it."""
    form = await request.form()
    typed = {
        part: text(form, f"new_contact.{part}") or ""
        for part in ("email", "first_name", "last_name")
    }
    try:
        data = build(ContactCreate, typed)
        contact = attempt(lambda: crm.create_contact(page.session, page.account, data))
    except FormInvalid as exc:
        page.session.rollback()
        errors = {f"new_contact.{k}": _clean_message(v) for k, v in exc.errors.items()}
        return _contact_block(request, page, None, errors, typed, status_code=422)
    page.session.commit()
    return _contact_block(request, page, contact)


@router.get("/subscriptions/new/companies")
def company_results(
    request: Request, company_search: str = "", page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    query = company_search.strip()[:100]
    found = _search_companies(page, query) if query else []
    return render(
        request, "subscriptions/create_company_results.html", {"companies": found, "query": query}
    )


@router.get("/subscriptions/new/company")
def choose_company(
    request: Request, company_id: str = "", page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    company = (
        get_owned(page.session, Company, page.account.id, company_id[:40], "company")
        if company_id
        else None
    )
    return _company_block(request, company)


def _company_block(
    request: Request,
    company: Company | None,
    errors: FormErrors | None = None,
    new_company: Mapping[str, str] | None = None,
    status_code: int = 200,
    *,
    editing: Mapping[str, str] | None = None,
) -> Response:
    """The company block; `editing`: its edit form with these values. The company's address
    next to "Same as company address" follows, out of band."""
    return render(
        request,
        "subscriptions/create_company.html",
        {
            "company": company,
            "errors": errors or {},
            "new_company": new_company or {},
            "editing": editing,
            "oob": True,
        },
        status_code=status_code,
    )


@router.post("/subscriptions/new/companies")
async def create_company(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """Create a company from the inline form (crm.service) and choose it."""
    form = await request.form()
    typed = {part: text(form, f"new_company.{part}") or "" for part in ("name", "domain")}
    try:
        data = build(CompanyCreate, typed)
        company = attempt(lambda: crm.create_company(page.session, page.account, data))
    except FormInvalid as exc:
        page.session.rollback()
        errors = {f"new_company.{k}": _clean_message(v) for k, v in exc.errors.items()}
        return _company_block(request, None, errors, typed, status_code=422)
    page.session.commit()
    return _company_block(request, company)


# --- editing the chosen contact and company -------------------------------------------------------
# Saving changes the CRM record itself (seed: "Hvis du redigerer kontaktoplysningerne, opdateres
# kontaktregistret i CRM"), through crm.service. The CRM pages require the permission to edit
# subscriptions for that (crm.pages EDIT), which is this page's own EDIT: one check covers both.

CONTACT_FIELDS = ("email", "first_name", "last_name", "phone")
COMPANY_FIELDS = ("name", "domain")


@router.get("/subscriptions/new/contact/edit")
def edit_contact(
    request: Request,
    contact_id: str = "",
    cancel: bool = False,
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    """The chosen contact's block with its edit form (`cancel`: without it again)."""
    contact: Contact = get_owned(page.session, Contact, page.account.id, contact_id[:40], "contact")
    values = {name: getattr(contact, name) or "" for name in CONTACT_FIELDS}
    return _contact_block(
        request, page, contact, editing=None if cancel else values, with_methods=False
    )


@router.post("/subscriptions/new/contact/edit")
async def update_contact(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """Save the edit form of the chosen contact (crm.service) and show its block."""
    form = await request.form()
    contact_id = (text(form, "contact_id") or "")[:40]
    contact: Contact = get_owned(page.session, Contact, page.account.id, contact_id, "contact")
    typed = {name: text(form, f"edit_contact.{name}") or "" for name in CONTACT_FIELDS}
    try:
        if not typed["email"]:
            raise FormInvalid({"email": page.gettext("Enter an email address.")})
        changes = build(ContactUpdate, typed).model_dump(exclude_unset=True)
        # An emptied input clears the field, as on the contact's own page.
        changes.update({name: None for name in CONTACT_FIELDS if not typed[name]})
        attempt(lambda: crm.update_contact(page.session, page.account, contact_id, changes))
    except FormInvalid as exc:
        page.session.rollback()
        errors = {f"edit_contact.{k}": _clean_message(v) for k, v in exc.errors.items()}
        return _contact_block(
            request, page, contact, errors, editing=typed, with_methods=False, status_code=422
        )
    page.session.commit()
    return _contact_block(request, page, contact, with_methods=False)


@router.get("/subscriptions/new/company/edit")
def edit_company(
    request: Request,
    company_id: str = "",
    cancel: bool = False,
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    """The chosen company's block with its edit form (`cancel`: without it again)."""
    company: Company = get_owned(page.session, Company, page.account.id, company_id[:40], "company")
    values = {name: getattr(company, name) or "" for name in COMPANY_FIELDS}
    values.update({f"address.{k}": v or "" for k, v in (company.address or {}).items()})
    return _company_block(request, company, editing=None if cancel else values)


@router.post("/subscriptions/new/company/edit")
async def update_company(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    """Save the edit form of the chosen company (crm.service) and show its block."""
    form = await request.form()
    company_id = (text(form, "company_id") or "")[:40]
    company: Company = get_owned(page.session, Company, page.account.id, company_id, "company")
    names = [*COMPANY_FIELDS, *(f"address.{part}" for part in ADDRESS_FIELDS)]
    typed = {name: text(form, f"edit_company.{name}") or "" for name in names}
    errors: FormErrors = {}
    address: AddressIn | None = None
    try:
        address = build(AddressIn, {part: typed[f"address.{part}"] for part in ADDRESS_FIELDS})
    except FormInvalid as exc:
        errors.update({f"address.{k}": v for k, v in exc.errors.items()})
    try:
        if not typed["name"]:
            errors["name"] = page.gettext("Enter a name.")
        fields = {name: typed[name] for name in COMPANY_FIELDS}
        changes = build(CompanyUpdate, fields).model_dump(exclude_unset=True)
        if errors:
            raise FormInvalid(errors)
        changes["domain"] = changes.get("domain")  # an emptied domain clears it
        changes["address"] = address  # the form shows the whole address: it replaces it
        attempt(lambda: crm.update_company(page.session, page.account, company_id, changes))
    except FormInvalid as exc:
        page.session.rollback()
        shown = {**errors, **exc.errors}
        found = {f"edit_company.{k}": _clean_message(v) for k, v in shown.items()}
        return _company_block(request, company, found, editing=typed, status_code=422)
    page.session.commit()
    return _company_block(request, company)
