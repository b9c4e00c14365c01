"""Web pages of the CRM: contacts and companies (list, create, detail with their custom
properties, saved payment methods and subscriptions, edit), deals and quotes (list, create,
detail, publish, convert into subscriptions). Thin handlers that authorise, call the same
services as the REST API, and render."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts.models import Account
from cadency.catalog.line_items import CUSTOM_LINE_ITEMS
from cadency.catalog.pages import (
    failed,
    frequency_label,
    line_item_rows,
    line_items_from_rows,
    on_rows,
    page_url,
    product_choices,
    records_by_id,
    with_chosen,
)
from cadency.checkout import conversion as conversions
from cadency.checkout import service as payment_links
from cadency.checkout.models import Conversion
from cadency.checkout.schemas import ConvertRequest
from cadency.crm import associations, service
from cadency.crm.models import Company, Contact, Deal, Quote
from cadency.crm.schemas import (
    DEAL_STAGES,
    AddressIn,
    CompanyCreate,
    CompanyUpdate,
    ContactCreate,
    ContactUpdate,
    DealCreate,
    QuoteCreate,
)
from cadency.invoices.models import Invoice
from cadency.kit import i18n, labels
from cadency.kit.endpoints import Cursor
from cadency.kit.errors import APIError
from cadency.kit.i18n import N_
from cadency.kit.pagination import DEFAULT_LIMIT
from cadency.kit.repository import get_owned
from cadency.payments import service as payments
from cadency.properties import service as properties
from cadency.properties.forms import display_value, input_value, values_from_form
from cadency.properties.models import PropertyDefinition
from cadency.subscriptions import display
from cadency.subscriptions.models import Subscription
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, form_data, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"

SearchText = Annotated[str | None, Query(max_length=200)]
RecordId = Annotated[str | None, Query(max_length=40)]
# Subscriptions shown at once on a contact's or company's card; the card pages on by cursor.
CARD_LIMIT = 10
CHOICES_LIMIT = 100

ADDRESS_PARTS = ("line1", "line2", "city", "postal_code", "region", "country")
STAGE_LABELS = {
    "appointment_scheduled": N_("Appointment scheduled"),
    "qualified_to_buy": N_("Qualified to buy"),
    "presentation_scheduled": N_("Presentation scheduled"),
    "decision_maker_bought_in": N_("Decision maker bought-in"),
    "contract_sent": N_("Contract sent"),
    "closed_won": N_("Closed won"),
    "closed_lost": N_("Closed lost"),
}
QUOTE_STATUS_LABELS = labels.QUOTE_STATUSES
PAYMENT_METHOD_TYPES = {"card": N_("Card"), "bank_debit": N_("Bank debit")}


# --- shared pieces ------------------------------------------------------------------------------


def _list_context(request: Request, has_more: bool, next_cursor: str | None) -> dict[str, Any]:
    return {
        "next_url": page_url(request, cursor=next_cursor) if has_more else None,
        "first_url": page_url(request, cursor=None) if request.query_params.get("cursor") else None,
    }


def _address_values(stored: Mapping[str, Any] | None) -> dict[str, str]:
    return {f"address.{part}": (stored or {}).get(part) or "" for part in ADDRESS_PARTS}


def _address_from(values: Mapping[str, str | None], errors: FormErrors) -> AddressIn | None:
    """The address inputs as the API's address (None when every part is empty). Checked on
    its own, so a message lands next to its input whatever path the schema reports."""
    try:
        address = build(AddressIn, {part: values.get(f"address.{part}") for part in ADDRESS_PARTS})
    except FormInvalid as exc:
        errors.update({f"address.{field}": message for field, message in exc.errors.items()})
        return None
    return address if address.stored() is not None else None


def _definitions(page: PageContext, object_type: str) -> list[PropertyDefinition]:
    found = properties.definitions(page.session, page.account.id, object_type).values()
    return sorted(found, key=lambda d: (d.group_name, d.label.lower(), d.name))


def _property_fields(
    page: PageContext, definitions: Iterable[PropertyDefinition], values: Mapping[str, Any]
) -> list[tuple[PropertyDefinition, Any]]:
    """(definition, form-shaped value) for the property inputs of a form."""
    zone = page.account.timezone
    return [(d, input_value(d, values.get(d.name), zone)) for d in definitions]


def _property_rows(
    definitions: Iterable[PropertyDefinition], values: Mapping[str, Any]
) -> list[tuple[PropertyDefinition, str]]:
    return [(d, display_value(d, values.get(d.name))) for d in definitions]


def _subscription_card(page: PageContext, rows: Sequence[Subscription]) -> list[dict[str, Any]]:
    cards = []
    for subscription in rows:
        key, label = display.badge(subscription)
        cards.append({"record": subscription, "badge": key, "label": page.gettext(label)})
    return cards


def _contact_options(contacts: Iterable[Contact]) -> list[tuple[str, str]]:
    return [
        (c.id, f"{c.display_name} · {c.email}" if c.first_name or c.last_name else c.email)
        for c in contacts
    ]


def _conversion(page: PageContext, source_id: str) -> Conversion | None:
    return page.session.scalar(
        select(Conversion).where(
            Conversion.account_id == page.account.id, Conversion.source_id == source_id
        )
    )


def _converted(page: PageContext, conversion: Conversion, kind: str, back_url: str) -> Response:
    """After a conversion: to the (first) subscription it created, or back with the invoice."""
    ngettext = i18n.translations(page.language).ngettext
    created = list(conversion.subscription_ids)
    if created:
        if kind == "quote":
            message = ngettext(
                "The quote was converted into a subscription.",
                "The quote was converted into %(num)d subscriptions.",
                len(created),
            )
        else:
            message = ngettext(
                "The deal was converted into a subscription.",
                "The deal was converted into %(num)d subscriptions.",
                len(created),
            )
        return redirect(f"/subscriptions/{created[0]}", flash=message % {"num": len(created)})
    invoice = page.session.get(Invoice, conversion.invoice_id) if conversion.invoice_id else None
    if kind == "quote":
        message = N_(
            "The quote has no recurring items, so it was converted into invoice %(number)s."
        )
    else:
        message = N_(
            "The deal has no recurring items, so it was converted into invoice %(number)s."
        )
    number = invoice.number if invoice else "—"
    return redirect(back_url, flash=page.gettext(message) % {"number": number})


def _conversion_context(page: PageContext, conversion: Conversion | None) -> dict[str, Any]:
    if conversion is None:
        return {"conversion": None, "converted_subscriptions": [], "converted_invoices": []}
    subs = records_by_id(page, Subscription, conversion.subscription_ids)
    invoices = records_by_id(page, Invoice, conversion.invoice_ids)
    return {
        "conversion": conversion,
        "converted_subscriptions": _subscription_card(
            page, [subs[i] for i in conversion.subscription_ids if i in subs]
        ),
        "converted_invoices": [invoices[i] for i in conversion.invoice_ids if i in invoices],
    }


# --- contacts and companies ---------------------------------------------------------------------
# The two kinds of CRM record share their forms and pages: the same inputs (their own fields, an
# address, custom properties), the same card of properties and subscriptions.


Card = tuple[dict[str, Any], Sequence[Subscription], bool, str | None]


def _associated_subscriptions(
    page: PageContext, object_type: str, record_id: str, cursor: str | None
) -> tuple[Sequence[Subscription], bool, str | None]:
    """A page of the record's subscriptions: those it is the billing contact or company of,
    and those associated with it ("Add existing subscription", the subscription's panel)."""
    return associations.record_subscriptions(
        page.session, page.account.id, object_type, record_id, limit=CARD_LIMIT, cursor=cursor
    )


def _contact_card(page: PageContext, contact: Contact, cursor: str | None) -> Card:
    """A contact's saved payment methods, and a page of its subscriptions."""
    methods, more_methods, _ = payments.list_payment_methods(
        page.session, page.account, contact.id, limit=DEFAULT_LIMIT, cursor=None
    )
    extra = {
        "payment_methods": methods,
        "more_payment_methods": more_methods,
        "payment_method_types": PAYMENT_METHOD_TYPES,
    }
    rows, has_more, next_cursor = _associated_subscriptions(page, "contact", contact.id, cursor)
    return extra, rows, has_more, next_cursor


def _company_card(page: PageContext, company: Company, cursor: str | None) -> Card:
    """A page of the company's subscriptions."""
    rows, has_more, next_cursor = _associated_subscriptions(page, "company", company.id, cursor)
    return {}, rows, has_more, next_cursor


@dataclass(frozen=True)
class RecordKind:
    """What differs between the contact and the company pages."""

    name: str  # "contact": the 404's kind, the template names and the record's context key
    path: str  # "/contacts"
    model: type[Contact] | type[Company]
    object_type: str  # of its custom properties
    fields: tuple[str, ...]
    create_schema: type[ContactCreate] | type[CompanyCreate]
    update_schema: type[ContactUpdate] | type[CompanyUpdate]
    create: Callable[[Session, Account, Any], Any]
    update: Callable[[Session, Account, str, dict[str, Any]], Any]
    created: str
    saved: str
    restored: str
    # What its page shows besides its facts and properties, and a page of its subscriptions.
    card: Callable[[PageContext, Any, str | None], Card]

    def get(self, page: PageContext, record_id: str) -> Any:
        return get_owned(page.session, self.model, page.account.id, record_id, self.name)

    def values(self, form: FormData) -> dict[str, str | None]:
        fields = (*self.fields, *(f"address.{part}" for part in ADDRESS_PARTS))
        return {field: text(form, field) for field in fields}


CONTACTS = RecordKind(
    name="contact",
    path="/contacts",
    model=Contact,
    object_type="contacts",
    fields=("email", "first_name", "last_name", "phone", "language"),
    create_schema=ContactCreate,
    update_schema=ContactUpdate,
    create=service.create_contact,
    update=service.update_contact,
    created=N_("The contact was created."),
    saved=N_("The contact was saved."),
    restored=N_("The contact was restored."),
    card=_contact_card,
)
COMPANIES = RecordKind(
    name="company",
    path="/companies",
    model=Company,
    object_type="companies",
    fields=("name", "domain"),
    create_schema=CompanyCreate,
    update_schema=CompanyUpdate,
    create=service.create_company,
    update=service.update_company,
    created=N_("The company was created."),
    saved=N_("The company was saved."),
    restored=N_("The company was restored."),
    card=_company_card,
)


def _record_form(
    request: Request,
    page: PageContext,
    kind: RecordKind,
    record: Any,
    values: Mapping[str, Any],
    property_values: Mapping[str, Any] | None,
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    # A new record's form asks for its custom properties too (required ones must be given);
    # an existing record's are edited on its page.
    fields = (
        _property_fields(page, _definitions(page, kind.object_type), property_values)
        if property_values is not None
        else []
    )
    context = {kind.name: record, "values": values, "errors": errors, "property_fields": fields}
    return render(request, f"crm/{kind.name}_form.html", context, status_code=status_code)


def _new_record(request: Request, page: PageContext, kind: RecordKind) -> Response:
    values = {field: "" for field in kind.fields} | _address_values(None)
    return _record_form(request, page, kind, None, values, {}, {})


def _create_record(
    request: Request, page: PageContext, kind: RecordKind, form: FormData
) -> Response:
    values = kind.values(form)
    definitions = _definitions(page, kind.object_type)
    property_values = values_from_form(definitions, form, page.account.timezone)
    errors: FormErrors = {}
    address = _address_from(values, errors)
    try:
        fields = {f: values[f] for f in kind.fields}
        body = {**fields, "address": address, "properties": property_values}
        data = build(kind.create_schema, body)
        if errors:
            raise FormInvalid(errors)
        record = attempt(lambda: kind.create(page.session, page.account, data))
    except FormInvalid as exc:
        errors = failed(page, FormInvalid({**errors, **exc.errors}))
        return _record_form(request, page, kind, None, values, property_values, errors, 422)
    page.session.commit()
    return redirect(f"{kind.path}/{record.id}", flash=page.gettext(kind.created))


def _record_page(
    request: Request,
    page: PageContext,
    kind: RecordKind,
    record_id: str,
    *,
    property_values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    """A contact's or company's page: its facts, custom properties and subscriptions."""
    record = kind.get(page, record_id)
    definitions = _definitions(page, kind.object_type)
    stored = properties.get_values(
        page.session,
        page.account.id,
        kind.object_type,
        [record.id],
        view_sensitive=page.allows(properties.VIEW_SENSITIVE),
    )
    stored = stored[record.id]
    cursor = request.query_params.get("subscriptions_cursor")
    extra, rows, has_more, next_cursor = kind.card(page, record, cursor)
    context = {
        kind.name: record,
        "property_rows": _property_rows(definitions, stored),
        # What was sent, over what is stored: a property the form had no input for (a masked
        # sensitive value) must stay masked, not turn into an empty input that clears it.
        "property_fields": _property_fields(
            page, definitions, {**stored, **(property_values or {})}
        ),
        "errors": errors or {},
        **extra,
        "subscriptions": _subscription_card(page, rows),
        "subscriptions_next": (
            page_url(request, subscriptions_cursor=next_cursor) if has_more else None
        ),
        "subscriptions_first": page_url(request, subscriptions_cursor=None) if cursor else None,
        "subscriptions_base": f"{kind.path}/{record.id}/subscriptions",
    }
    return render(request, f"crm/{kind.name}.html", context, status_code=status_code)


def _update_properties(
    request: Request, page: PageContext, kind: RecordKind, record_id: str, form: FormData
) -> Response:
    record = kind.get(page, record_id)
    definitions = _definitions(page, kind.object_type)
    values = values_from_form(definitions, form, page.account.timezone)
    try:
        changes = build(kind.update_schema, {"properties": values}).model_dump(exclude_unset=True)
        attempt(lambda: kind.update(page.session, page.account, record.id, changes))
    except FormInvalid as exc:
        errors = failed(page, exc)
        return _record_page(
            request, page, kind, record_id, property_values=values, errors=errors, status_code=422
        )
    page.session.commit()
    return redirect(f"{kind.path}/{record_id}", flash=page.gettext("The properties were saved."))


def _edit_record(request: Request, page: PageContext, kind: RecordKind, record_id: str) -> Response:
    record = kind.get(page, record_id)
    values = {f: getattr(record, f) or "" for f in kind.fields} | _address_values(record.address)
    return _record_form(request, page, kind, record, values, None, {})


def _update_record(
    request: Request, page: PageContext, kind: RecordKind, record_id: str, form: FormData
) -> Response:
    record = kind.get(page, record_id)
    values = kind.values(form)
    errors: FormErrors = {}
    address = _address_from(values, errors)
    try:
        fields = {f: values[f] for f in kind.fields}
        changes = build(kind.update_schema, fields).model_dump(exclude_unset=True)
        if errors:
            raise FormInvalid(errors)
        for field in kind.fields:
            # An emptied input clears the field; the service refuses that for a contact's
            # email and a company's name.
            if values[field] is None:
                changes[field] = None
        changes["address"] = address  # the form shows the whole address: it replaces it
        attempt(lambda: kind.update(page.session, page.account, record.id, changes))
    except FormInvalid as exc:
        errors = failed(page, FormInvalid({**errors, **exc.errors}))
        record = kind.get(page, record_id)
        return _record_form(request, page, kind, record, values, None, errors, 422)
    page.session.commit()
    return redirect(f"{kind.path}/{record_id}", flash=page.gettext(kind.saved))


def _restore_record(
    page: PageContext,
    model: type[Contact | Company | Deal],
    path: str,
    restored: str,
    record_id: str,
) -> Response:
    """An archived record (through the HubSpot-compatible API) back in the lists."""
    record = service.restore(page.session, page.account, model, record_id)
    page.session.commit()
    return redirect(f"{path}/{record.id}", flash=page.gettext(restored))


# --- a record's Subscriptions card: add existing subscriptions, preview one ---------------------
# HubSpot's sidebar card: "Add" → "Add existing subscription" opens a panel listing the
# account's subscriptions not associated with the record yet (searchable, with checkboxes);
# Save associates the chosen ones. Hovering a subscription shows "Preview", which opens its
# key facts in a panel without leaving the page. Both panels are <dialog>s fetched by htmx.

# One message for any count: the translation tool fills single messages, not plural forms.
SUBSCRIPTIONS_ADDED = N_("Subscriptions associated: %(num)d.")
CHOOSE_SUBSCRIPTIONS = N_("Choose at least one subscription.")
CHOICES_SHOWN = 50


def _chosen(values: Iterable[Any]) -> list[str]:
    """The subscription IDs of the checked boxes (at most what one Save may add)."""
    found = [v for v in values if isinstance(v, str) and v and len(v) <= 40]
    return list(dict.fromkeys(found))[: associations.MAX_SUBSCRIPTIONS_TO_ADD + 1]


def _subscription_choices(
    page: PageContext, kind: RecordKind, record_id: str, query: str | None, checked: list[str]
) -> list[dict[str, Any]]:
    """The subscriptions the panel offers: those still checked first (kept through a new
    search), then the newest not yet associated (whose name contains the search)."""
    session, account_id = page.session, page.account.id
    kept: dict[str, Subscription] = {}
    if checked:
        still = associations.subscriptions_to_add(
            session, account_id, kind.name, record_id, None, only=checked
        )
        kept = {s.id: s for s in still}
    found = associations.subscriptions_to_add(
        session, account_id, kind.name, record_id, query, limit=CHOICES_SHOWN
    )
    rows = [kept[i] for i in checked if i in kept] + [s for s in found if s.id not in kept]
    contacts = records_by_id(page, Contact, (s.contact_id for s in rows))
    return [
        {
            **card,
            "checked": card["record"].id in kept,
            "contact": contacts.get(card["record"].contact_id),
        }
        for card in _subscription_card(page, rows)
    ]


def _add_subscriptions_panel(
    request: Request,
    page: PageContext,
    kind: RecordKind,
    record_id: str,
    *,
    query: str | None = None,
    checked: list[str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    record = kind.get(page, record_id)
    base = f"{kind.path}/{record.id}/subscriptions"
    context = {
        "action": base,
        "choices_url": f"{base}/choices",
        "choices": _subscription_choices(page, kind, record.id, query, checked or []),
        "q": query or "",
        "error": error,
    }
    return render(request, "crm/add_subscriptions.html", context, status_code=status_code)


def _subscription_options(
    request: Request, page: PageContext, kind: RecordKind, record_id: str, q: str | None
) -> Response:
    """The panel's list of checkboxes for a search (htmx), keeping the boxes still checked."""
    record = kind.get(page, record_id)
    checked = _chosen(request.query_params.getlist("subscription_id"))
    context = {"choices": _subscription_choices(page, kind, record.id, q, checked)}
    return render(request, "crm/subscription_choices.html", context)


def _add_subscriptions(
    request: Request, page: PageContext, kind: RecordKind, record_id: str, form: FormData
) -> Response:
    record = kind.get(page, record_id)
    chosen = _chosen(form.getlist("subscription_id"))
    if not chosen:
        return _add_subscriptions_panel(
            request,
            page,
            kind,
            record.id,
            query=text(form, "q"),
            error=page.gettext(CHOOSE_SUBSCRIPTIONS),
            status_code=422,
        )
    try:
        added = associations.associate_subscriptions(
            page.session, page.account, kind.name, record.id, chosen
        )
    except APIError as exc:
        if exc.status_code == 404:  # another account's subscription, posted by hand
            raise  # checked before anything was written; the error page answers
        page.session.rollback()
        return _add_subscriptions_panel(
            request,
            page,
            kind,
            record.id,
            checked=chosen,
            error=exc.message,
            status_code=exc.status_code,
        )
    page.session.commit()
    url = f"{kind.path}/{record.id}"
    response = redirect(url, flash=page.gettext(SUBSCRIPTIONS_ADDED) % {"num": len(added)})
    if request.headers.get("hx-request"):
        # htmx would follow the redirect and swap the whole page into the panel.
        response.status_code = 200
        response.headers["HX-Redirect"] = url
        del response.headers["location"]
    return response


def _subscription_preview(
    request: Request, page: PageContext, record: Any, subscription_id: str
) -> Response:
    """A subscription's key facts in a panel: status, amount per period, start date, next
    payment and billing contact."""
    subscription = get_owned(
        page.session, Subscription, page.account.id, subscription_id, "subscription"
    )
    key, label = display.badge(subscription)
    context = {
        "record": record,
        "subscription": subscription,
        "badge": key,
        "label": page.gettext(label),
        "frequency": page.gettext(labels.frequency(subscription.billing_frequency)),
        "contact": page.session.get(Contact, subscription.contact_id),
        "company": (
            page.session.get(Company, subscription.company_id) if subscription.company_id else None
        ),
    }
    return render(request, "crm/subscription_preview.html", context)


# --- contacts -----------------------------------------------------------------------------------


@router.get("/contacts")
def contacts_index(
    request: Request,
    q: SearchText = None,
    cursor: Cursor = None,
    page: PageContext = Depends(page_requires(VIEW)),
) -> Response:
    rows, has_more, next_cursor = service.list_contacts(
        page.session, page.account, email=None, limit=DEFAULT_LIMIT, cursor=cursor, query=q
    )
    context = {"contacts": rows, "q": q or "", **_list_context(request, has_more, next_cursor)}
    return render(request, "crm/contacts.html", context)


# --- companies ----------------------------------------------------------------------------------


@router.get("/companies")
def companies_index(
    request: Request,
    q: SearchText = None,
    cursor: Cursor = None,
    page: PageContext = Depends(page_requires(VIEW)),
) -> Response:
    rows, has_more, next_cursor = service.list_companies(
        page.session, page.account, domain=None, limit=DEFAULT_LIMIT, cursor=cursor, query=q
    )
    context = {"companies": rows, "q": q or "", **_list_context(request, has_more, next_cursor)}
    return render(request, "crm/companies.html", context)


def _record_pages(kind: RecordKind) -> None:
    """The pages of one kind of CRM record, contacts or companies: the same routes, each a
    thin call of the shared handler with what differs (`kind`). Registered in this order so
    "/contacts/new" is matched before "/contacts/{contact_id}"."""
    path = kind.path
    # The record's ID in the path, named after its kind ("/contacts/{contact_id}"); the
    # handlers read it from the request, as the name differs by kind.
    key = f"{kind.name}_id"

    @router.get(f"{path}/new")
    def new_record(request: Request, page: PageContext = Depends(page_requires(EDIT))) -> Response:
        return _new_record(request, page, kind)

    @router.post(path)
    def create_record(
        request: Request,
        form: FormData = Depends(form_data),
        page: PageContext = Depends(page_requires(EDIT)),
    ) -> Response:
        return _create_record(request, page, kind, form)

    @router.get(f"{path}/{{{key}}}")
    def record_page(request: Request, page: PageContext = Depends(page_requires(VIEW))) -> Response:
        return _record_page(request, page, kind, request.path_params[key])

    @router.post(f"{path}/{{{key}}}/properties")
    def update_properties(
        request: Request,
        form: FormData = Depends(form_data),
        page: PageContext = Depends(page_requires(EDIT)),
    ) -> Response:
        return _update_properties(request, page, kind, request.path_params[key], form)

    @router.get(f"{path}/{{{key}}}/edit")
    def edit_record(request: Request, page: PageContext = Depends(page_requires(EDIT))) -> Response:
        return _edit_record(request, page, kind, request.path_params[key])

    @router.post(f"{path}/{{{key}}}")
    def update_record(
        request: Request,
        form: FormData = Depends(form_data),
        page: PageContext = Depends(page_requires(EDIT)),
    ) -> Response:
        return _update_record(request, page, kind, request.path_params[key], form)

    @router.post(f"{path}/{{{key}}}/restore")
    def restore_record(
        request: Request, page: PageContext = Depends(page_requires(EDIT))
    ) -> Response:
        record_id = request.path_params[key]
        return _restore_record(page, kind.model, kind.path, kind.restored, record_id)

    @router.get(f"{path}/{{{key}}}/subscriptions/add")
    def add_subscriptions_panel(
        request: Request, page: PageContext = Depends(page_requires(EDIT))
    ) -> Response:
        return _add_subscriptions_panel(request, page, kind, request.path_params[key])

    @router.get(f"{path}/{{{key}}}/subscriptions/choices")
    def subscription_choices(
        request: Request,
        q: SearchText = None,
        page: PageContext = Depends(page_requires(EDIT)),
    ) -> Response:
        return _subscription_options(request, page, kind, request.path_params[key], q)

    @router.post(f"{path}/{{{key}}}/subscriptions")
    def add_subscriptions(
        request: Request,
        form: FormData = Depends(form_data),
        page: PageContext = Depends(page_requires(EDIT)),
    ) -> Response:
        return _add_subscriptions(request, page, kind, request.path_params[key], form)

    @router.get(f"{path}/{{{key}}}/subscriptions/{{subscription_id}}/preview")
    def subscription_preview(
        request: Request,
        subscription_id: str,
        page: PageContext = Depends(page_requires(VIEW)),
    ) -> Response:
        return _subscription_preview(
            request, page, kind.get(page, request.path_params[key]), subscription_id
        )


_record_pages(CONTACTS)
_record_pages(COMPANIES)


# --- deals --------------------------------------------------------------------------------------

DEAL_FIELDS = ("name", "stage", "currency", "contact_id", "company_id")


def _deal_form(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any],
    rows: Sequence[Mapping[str, str]],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    contacts, _, _ = service.list_contacts(
        page.session, page.account, email=None, limit=CHOICES_LIMIT, cursor=None
    )
    companies, _, _ = service.list_companies(
        page.session, page.account, domain=None, limit=CHOICES_LIMIT, cursor=None
    )
    context = {
        "values": values,
        "rows": rows,
        "errors": errors,
        "stages": [(stage, page.gettext(STAGE_LABELS[stage])) for stage in DEAL_STAGES],
        "contacts": _contact_options(
            with_chosen(page, Contact, contacts, values.get("contact_id"))
        ),
        "companies": [
            (c.id, c.name) for c in with_chosen(page, Company, companies, values.get("company_id"))
        ],
        "products": product_choices(page.session, page.account),
    }
    return render(request, "crm/deal_form.html", context, status_code=status_code)


@router.get("/deals")
def deals_index(
    request: Request, cursor: Cursor = None, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    rows, has_more, next_cursor = service.list_deals(
        page.session,
        page.account,
        contact_id=None,
        company_id=None,
        stage=None,
        limit=DEFAULT_LIMIT,
        cursor=cursor,
    )
    context = {
        "deals": rows,
        "contacts": records_by_id(page, Contact, (d.contact_id for d in rows)),
        "stage_labels": STAGE_LABELS,
        **_list_context(request, has_more, next_cursor),
    }
    return render(request, "crm/deals.html", context)


@router.get("/deals/new")
def new_deal(
    request: Request,
    contact_id: RecordId = None,
    company_id: RecordId = None,
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: "" for field in DEAL_FIELDS} | {
        "stage": "appointment_scheduled",
        "currency": page.account.currency,
        "contact_id": contact_id or "",
        "company_id": company_id or "",
    }
    return _deal_form(request, page, values, line_item_rows(None), {})


@router.post("/deals")
def create_deal(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: text(form, field) for field in DEAL_FIELDS}
    rows = line_item_rows(form)
    try:
        items, positions = line_items_from_rows(rows)
        data = build(DealCreate, {**values, "line_items": items})
        allow_custom = page.allows(CUSTOM_LINE_ITEMS)
        deal = on_rows(
            positions,
            lambda: service.create_deal(
                page.session, page.account, data, allow_custom=allow_custom
            ),
        )
    except FormInvalid as exc:
        return _deal_form(request, page, values, rows, failed(page, exc), 422)
    page.session.commit()
    return redirect(f"/deals/{deal.id}", flash=page.gettext("The deal was created."))


def _deal_page(
    request: Request,
    page: PageContext,
    deal_id: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    deal = get_owned(page.session, Deal, page.account.id, deal_id, "deal")
    quotes, _, _ = service.list_quotes(
        page.session,
        page.account,
        status=None,
        deal_id=deal.id,
        contact_id=None,
        limit=DEFAULT_LIMIT,
        cursor=None,
    )
    items = service.deal_line_items(page.session, [deal.id])[deal.id]
    # Its subscriptions: those made from it or associated with it (their panels' links).
    linked = associations.linked_records(page.session, page.account.id, deal.id)
    subscription_ids = [r.id for r in linked.get("subscription", [])]
    found = records_by_id(page, Subscription, subscription_ids)
    links, more_links, _ = payment_links.deal_links(
        page.session, page.account, deal.id, limit=DEFAULT_LIMIT, cursor=None
    )
    context = {
        "deal": deal,
        "payment_links": [
            {"record": link, "total": sum(item.amount for item in link.line_items)}
            for link in links
        ],
        "more_payment_links": more_links,
        "stage": page.gettext(STAGE_LABELS.get(deal.stage, deal.stage)),
        "items": items,
        # Nothing recurs: converting makes an invoice, not a subscription (as HubSpot says).
        "converts_to_invoice": bool(items) and not any(i.billing_frequency for i in items),
        "subscriptions": _subscription_card(
            page, [found[i] for i in subscription_ids if i in found]
        ),
        "contact": page.session.get(Contact, deal.contact_id) if deal.contact_id else None,
        "company": page.session.get(Company, deal.company_id) if deal.company_id else None,
        "quotes": quotes,
        "quote_status_labels": QUOTE_STATUS_LABELS,
        "frequency": lambda f: frequency_label(page, f),
        "error": error,
        **_conversion_context(page, _conversion(page, deal.id)),
    }
    return render(request, "crm/deal.html", context, status_code=status_code)


@router.get("/deals/{deal_id}")
def deal_detail(
    request: Request, deal_id: str, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    return _deal_page(request, page, deal_id)


@router.post("/deals/{deal_id}/convert")
def convert_deal(
    request: Request, deal_id: str, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    get_owned(page.session, Deal, page.account.id, deal_id, "deal")
    try:
        done = conversions.convert_deal(page.session, page.account, deal_id, ConvertRequest())
    except APIError as exc:
        page.session.rollback()
        return _deal_page(request, page, deal_id, exc.message, exc.status_code)
    page.session.commit()
    return _converted(page, done, "deal", f"/deals/{deal_id}")


@router.get("/deals/{deal_id}/subscriptions/{subscription_id}/preview")
def deal_subscription_preview(
    request: Request,
    deal_id: str,
    subscription_id: str,
    page: PageContext = Depends(page_requires(VIEW)),
) -> Response:
    deal = get_owned(page.session, Deal, page.account.id, deal_id, "deal")
    return _subscription_preview(request, page, deal, subscription_id)


@router.post("/deals/{deal_id}/restore")
def restore_deal(deal_id: str, page: PageContext = Depends(page_requires(EDIT))) -> Response:
    return _restore_record(page, Deal, "/deals", N_("The deal was restored."), deal_id)


# --- quotes -------------------------------------------------------------------------------------

QUOTE_FIELDS = ("name", "deal_id", "contact_id", "company_id", "currency", "expires_on")


def _quote_form(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any],
    rows: Sequence[Mapping[str, str]],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    contacts, _, _ = service.list_contacts(
        page.session, page.account, email=None, limit=CHOICES_LIMIT, cursor=None
    )
    companies, _, _ = service.list_companies(
        page.session, page.account, domain=None, limit=CHOICES_LIMIT, cursor=None
    )
    deals, _, _ = service.list_deals(
        page.session,
        page.account,
        contact_id=None,
        company_id=None,
        stage=None,
        limit=CHOICES_LIMIT,
        cursor=None,
    )
    context = {
        "values": values,
        "rows": rows,
        "errors": errors,
        "contacts": _contact_options(
            with_chosen(page, Contact, contacts, values.get("contact_id"))
        ),
        "companies": [
            (c.id, c.name) for c in with_chosen(page, Company, companies, values.get("company_id"))
        ],
        "deals": [(d.id, d.name) for d in with_chosen(page, Deal, deals, values.get("deal_id"))],
        "products": product_choices(page.session, page.account),
    }
    return render(request, "crm/quote_form.html", context, status_code=status_code)


@router.get("/quotes")
def quotes_index(
    request: Request, cursor: Cursor = None, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    rows, has_more, next_cursor = service.list_quotes(
        page.session,
        page.account,
        status=None,
        deal_id=None,
        contact_id=None,
        limit=DEFAULT_LIMIT,
        cursor=cursor,
    )
    items = service.quote_line_items(page.session, [q.id for q in rows])
    context = {
        "quotes": rows,
        "amounts": {q.id: sum(i.amount for i in items[q.id]) for q in rows},
        "contacts": records_by_id(page, Contact, (q.contact_id for q in rows)),
        "status_labels": QUOTE_STATUS_LABELS,
        **_list_context(request, has_more, next_cursor),
    }
    return render(request, "crm/quotes.html", context)


@router.get("/quotes/new")
def new_quote(
    request: Request,
    deal_id: RecordId = None,
    contact_id: RecordId = None,
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: "" for field in QUOTE_FIELDS} | {
        "deal_id": deal_id or "",
        "contact_id": contact_id or "",
    }
    return _quote_form(request, page, values, line_item_rows(None), {})


@router.post("/quotes")
def create_quote(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: text(form, field) for field in QUOTE_FIELDS}
    rows = line_item_rows(form)
    try:
        items, positions = line_items_from_rows(rows)
        # No rows with a deal: the quote copies the deal's line items (as in the API).
        data = build(QuoteCreate, {**values, "line_items": items or None})
        allow_custom = page.allows(CUSTOM_LINE_ITEMS)
        quote = on_rows(
            positions,
            lambda: service.create_quote(
                page.session, page.account, data, allow_custom=allow_custom
            ),
        )
    except FormInvalid as exc:
        return _quote_form(request, page, values, rows, failed(page, exc), 422)
    page.session.commit()
    return redirect(f"/quotes/{quote.id}", flash=page.gettext("The quote was created."))


def _quote_page(
    request: Request,
    page: PageContext,
    quote_id: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    quote = get_owned(page.session, Quote, page.account.id, quote_id, "quote")
    items = service.quote_line_items(page.session, [quote.id])[quote.id]
    context = {
        "quote": quote,
        "status": page.gettext(QUOTE_STATUS_LABELS.get(quote.status, quote.status)),
        "items": items,
        "amount": sum(item.amount for item in items),
        "contact": page.session.get(Contact, quote.contact_id),
        "company": page.session.get(Company, quote.company_id) if quote.company_id else None,
        "deal": page.session.get(Deal, quote.deal_id) if quote.deal_id else None,
        "frequency": lambda f: frequency_label(page, f),
        "error": error,
        **_conversion_context(page, _conversion(page, quote.id)),
    }
    return render(request, "crm/quote.html", context, status_code=status_code)


@router.get("/quotes/{quote_id}")
def quote_detail(
    request: Request, quote_id: str, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    return _quote_page(request, page, quote_id)


@router.post("/quotes/{quote_id}/publish")
def publish_quote(
    request: Request, quote_id: str, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    get_owned(page.session, Quote, page.account.id, quote_id, "quote")
    try:
        service.publish_quote(page.session, page.account, quote_id)
    except APIError as exc:
        page.session.rollback()
        return _quote_page(request, page, quote_id, exc.message, exc.status_code)
    page.session.commit()
    return redirect(f"/quotes/{quote_id}", flash=page.gettext("The quote was published."))


@router.post("/quotes/{quote_id}/convert")
def convert_quote(
    request: Request, quote_id: str, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    get_owned(page.session, Quote, page.account.id, quote_id, "quote")
    try:
        done = conversions.convert_quote(page.session, page.account, quote_id, ConvertRequest())
    except APIError as exc:
        page.session.rollback()
        return _quote_page(request, page, quote_id, exc.message, exc.status_code)
    page.session.commit()
    return _converted(page, done, "quote", f"/quotes/{quote_id}")
