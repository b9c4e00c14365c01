"""Web pages of payment links: the list, the create form (line items from the product
library), and a link's page with the URL to copy and the purchases made through it. Thin
handlers that authorise, call the same services as the REST API, and render.
Every checkout through a link is a PaymentLinkPurchase row, which the link's page lists."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts.auth import get_session
from cadency.accounts.models import Account
from cadency.billing.state import options_with_defaults
from cadency.catalog.line_items import CUSTOM_LINE_ITEMS
from cadency.catalog.pages import (
    CHOICES_LIMIT,
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
from cadency.checkout import service
from cadency.checkout.models import PaymentLink, PaymentLinkPurchase
from cadency.checkout.schemas import (
    CheckoutRequest,
    PaymentLinkCreate,
    PaymentLinkOut,
    PaymentLinkUpdate,
)
from cadency.crm import service as crm
from cadency.crm.models import Contact, Deal
from cadency.invoices import buyer_forms, documents, hosted
from cadency.invoices import links as invoice_links
from cadency.invoices.documents import D_
from cadency.invoices.models import Invoice
from cadency.kit import clock, i18n, labels, signing
from cadency.kit.endpoints import Cursor
from cadency.kit.errors import APIError, Conflict, PaymentFailed
from cadency.kit.i18n import N_
from cadency.kit.pagination import DEFAULT_LIMIT
from cadency.kit.throttle import Limiter, client_address
from cadency.payments import processor
from cadency.payments.models import Payment
from cadency.subscriptions import display
from cadency.subscriptions.models import Subscription
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, form_data, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"

LINK_FIELDS = ("name", "currency", "collection_method", "payment_terms", "deal_id")
LOOK_FIELDS = ("logo_url", "button_text", "confirmation_message")
OPTION_SWITCHES = ("collect_billing_address", "collect_shipping_address", "save_payment_method")
COLLECTION_METHODS = {
    "charge_automatically": N_("Charge the saved payment method automatically"),
    "send_invoice": N_("Send an invoice for each later payment"),
}


def _url(request: Request, link: PaymentLink) -> str:
    """The hosted checkout's address, exactly as the API gives it."""
    base_url = str(request.app.state.settings.base_url)
    return PaymentLinkOut.of(link, base_url).url


@router.get("/payment-links")
def payment_links_index(
    request: Request, cursor: Cursor = None, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    rows, has_more, next_cursor = service.list_links(
        page.session, page.account, active=None, limit=DEFAULT_LIMIT, cursor=cursor
    )
    context = {
        "links": rows,
        "totals": {link.id: sum(item.amount for item in link.line_items) for link in rows},
        "next_url": page_url(request, cursor=next_cursor) if has_more else None,
        "first_url": page_url(request, cursor=None) if cursor else None,
    }
    return render(request, "checkout/payment_links.html", context)


def _deal_choices(page: PageContext, chosen: str | None) -> list[tuple[str, str]]:
    """The deals a link can be associated with: the newest ones not archived, plus the chosen
    one when it is older (or archived: the link keeps it until another is chosen)."""
    deals, _, _ = crm.list_deals(
        page.session,
        page.account,
        contact_id=None,
        company_id=None,
        stage=None,
        limit=CHOICES_LIMIT,
        cursor=None,
    )
    return [(deal.id, deal.name) for deal in with_chosen(page, Deal, deals, chosen)]


def _link_form(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any],
    rows: Sequence[Mapping[str, str]],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    context = {
        "values": values,
        "rows": rows,
        "errors": errors,
        "products": product_choices(page.session, page.account),
        "collection_methods": [(k, page.gettext(v)) for k, v in COLLECTION_METHODS.items()],
        "payment_terms": [(k, page.gettext(v)) for k, v in labels.PAYMENT_TERMS.items()],
        "deals": _deal_choices(page, values.get("deal_id")),
    }
    return render(request, "checkout/payment_link_form.html", context, status_code=status_code)


@router.get("/payment-links/new")
def new_payment_link(
    request: Request,
    deal_id: Annotated[str | None, Query(max_length=40)] = None,
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    """The form; from a deal's page (`?deal_id=`) the deal is chosen already."""
    values = {field: "" for field in (*LINK_FIELDS, *LOOK_FIELDS)} | {
        "deal_id": deal_id or "",
        "currency": page.account.currency,
        "collection_method": "charge_automatically",
        "payment_types": ["card"],
        "collect_billing_address": False,
        "collect_shipping_address": False,
        "save_payment_method": True,
    }
    return _link_form(request, page, values, line_item_rows(None), {})


@router.post("/payment-links")
def create_payment_link(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values: dict[str, Any] = {field: text(form, field) for field in LINK_FIELDS}
    # The message keeps its line breaks; an empty field is no value.
    values |= {field: text(form, field) or "" for field in LOOK_FIELDS}
    values["payment_types"] = [
        kind for kind in form.getlist("payment_types") if isinstance(kind, str) and kind
    ]
    values |= {switch: checked(form, switch) for switch in OPTION_SWITCHES}
    rows = line_item_rows(form)
    sent = {field: values[field] for field in LINK_FIELDS}
    sent |= {field: values[field].replace("\r\n", "\n") or None for field in LOOK_FIELDS}
    if values["collection_method"] != "send_invoice":
        sent["payment_terms"] = None  # the terms input only matters for invoices sent
    sent["payment_options"] = {
        "payment_types": values["payment_types"],
        **{switch: values[switch] for switch in OPTION_SWITCHES},
    }
    try:
        items, positions = line_items_from_rows(rows)
        try:
            data = build(PaymentLinkCreate, {**sent, "line_items": items})
        except FormInvalid as exc:
            if not items:  # said the way a form user reads it, not as the API's list rule
                exc.errors["line_items"] = N_("Choose at least one product.")
            raise
        allow_custom = page.allows(CUSTOM_LINE_ITEMS)
        link = on_rows(
            positions,
            lambda: service.create_link(
                page.session, page.account, data, allow_custom=allow_custom
            ),
        )
    except FormInvalid as exc:
        return _link_form(request, page, values, rows, failed(page, exc), 422)
    page.session.commit()
    return redirect(
        f"/payment-links/{link.id}", flash=page.gettext("The payment link was created.")
    )


def _purchases(
    page: PageContext, link: PaymentLink, cursor: str | None
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """Checkouts through this link, newest first, with what each one created."""
    rows, has_more, next_cursor = service.list_purchases(
        page.session, page.account, link, limit=DEFAULT_LIMIT, cursor=cursor
    )
    payments = records_by_id(page, Payment, (row.payment_id for row in rows))
    invoices = records_by_id(page, Invoice, (row.invoice_id for row in rows))
    contacts = records_by_id(page, Contact, (row.contact_id for row in rows))
    subscriptions = records_by_id(
        page, Subscription, (s for row in rows for s in row.subscription_ids)
    )
    purchases = []
    for row in rows:
        made = []
        for subscription_id in row.subscription_ids:
            subscription = subscriptions.get(subscription_id)
            if subscription is not None:  # a deleted subscription is gone from the list
                key, label = display.badge(subscription)
                made.append({"record": subscription, "badge": key, "label": page.gettext(label)})
        contact = contacts.get(row.contact_id)
        purchases.append(
            {
                "at": row.created_at,
                "contact": contact,
                "email": contact.email if contact else None,
                "payment": payments.get(row.payment_id) if row.payment_id else None,
                "invoice": invoices.get(row.invoice_id) if row.invoice_id else None,
                "subscriptions": made,
            }
        )
    return purchases, has_more, next_cursor


def _link_page(
    request: Request,
    page: PageContext,
    link_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    link = service.get_link(page.session, page.account, link_id)
    cursor = request.query_params.get("purchases_cursor")
    purchases, has_more, next_cursor = _purchases(page, link, cursor)
    context = {
        "link": link,
        "deal": records_by_id(page, Deal, [link.deal_id]).get(link.deal_id or ""),
        "deals": _deal_choices(page, link.deal_id),
        "url": _url(request, link),
        "items": link.line_items,
        "total": sum(item.amount for item in link.line_items),
        "collection_method": page.gettext(COLLECTION_METHODS[link.collection_method]),
        "payment_terms": (
            page.gettext(labels.PAYMENT_TERMS.get(link.payment_terms, link.payment_terms))
            if link.payment_terms
            else None
        ),
        "frequency": lambda f: frequency_label(page, f),
        "purchases": purchases,
        "purchases_next": page_url(request, purchases_cursor=next_cursor) if has_more else None,
        "purchases_first": page_url(request, purchases_cursor=None) if cursor else None,
        "error": error,
    }
    return render(request, "checkout/payment_link.html", context, status_code=status_code)


@router.get("/payment-links/{link_id}")
def payment_link_detail(
    request: Request, link_id: str, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    return _link_page(request, page, link_id)


@router.post("/payment-links/{link_id}/active")
def set_payment_link_active(
    request: Request,
    link_id: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    """Deactivate a link (it refuses checkouts) or activate it again."""
    active = checked(form, "active")
    service.get_link(page.session, page.account, link_id)  # 404 before anything else
    try:
        attempt(
            lambda: service.update_link(page.session, page.account, link_id, {"active": active})
        )
    except FormInvalid as exc:
        message = next(iter(failed(page, exc).values()))
        return _link_page(request, page, link_id, error=message, status_code=422)
    page.session.commit()
    message = (
        N_("The payment link is active: buyers can pay through it.")
        if active
        else N_("The payment link was deactivated: it refuses new checkouts.")
    )
    return redirect(f"/payment-links/{link_id}", flash=page.gettext(message))


@router.post("/payment-links/{link_id}/deal")
def set_payment_link_deal(
    request: Request,
    link_id: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    """Associate the link with another deal, or with none."""
    deal_id = text(form, "deal_id")
    service.get_link(page.session, page.account, link_id)  # 404 before anything else
    try:
        # An emptied choice removes the deal (build() leaves empty values out).
        chosen = build(PaymentLinkUpdate, {"deal_id": deal_id}).deal_id if deal_id else None
        changes = {"deal_id": chosen}
        attempt(lambda: service.update_link(page.session, page.account, link_id, changes))
    except FormInvalid as exc:
        message = next(iter(failed(page, exc).values()))
        return _link_page(request, page, link_id, error=message, status_code=422)
    page.session.commit()
    message = (
        N_("The payment link's deal was saved.")
        if deal_id
        else N_("The payment link is no longer associated with a deal.")
    )
    return redirect(f"/payment-links/{link_id}", flash=page.gettext(message))


# --- the hosted payment page: what buyers open, with no sign-in ---------------------------------
#
# `/pay/{payment_link_id}` is public: the link's ID is all a buyer has (so another
# account's link opens here, unlike the staff pages). It shows the link's items with
# the grouping rule's summary and takes the payment through the same checkout service as
# `POST /payment-links/{id}/checkout`. It speaks the buyer's language (`?lang=`, else the
# browser's, else the account's) with the buyer-page catalog. A form carries a random key
# that claims the purchase before anything is charged, so a reload or a second tab buys once.
# Failed attempts (declined or mistyped cards) count per link and per client address: past the
# limit the page answers 429 until the window ends, which is what stops card testing.

PURCHASE_PURPOSE = "payment_link_purchase"
PURCHASE_LINK_LIFETIME = timedelta(days=30)
FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}", re.ASCII)

LINK_UNAVAILABLE = D_(
    "This payment link is no longer available. Please ask the seller for a new one."
)
PAYMENTS_UNAVAILABLE = D_(
    "%(merchant)s cannot take online payments at the moment. Please try again later."
)
EMAIL_NEEDED = D_("Enter a valid email address.")
NAME_INVALID = D_("Check the name.")
ALL_FAILURES = D_("The payment failed. Check the details or try another payment method.")


def _pay_page(
    html: str, status_code: int = 200, processor_field: Mapping[str, Any] | None = None
) -> HTMLResponse:
    # The link's logo may be anywhere on the web (https).
    return hosted.page(html, status_code, processor=processor_field, foreign_images=True)


def _open_link(session: Session, link_id: str) -> tuple[Account, PaymentLink]:
    """The link and its account; a `BadLink` for an ID that names nothing (also a link of a
    deleted account, whose links are gone with it)."""
    link = session.get(PaymentLink, link_id) if len(link_id) <= 40 else None
    account = session.get(Account, link.account_id) if link is not None else None
    if link is None or account is None:
        raise hosted.BadLink
    session.refresh(link, attribute_names=["line_items"])
    return account, link


def _buyer_language(request: Request, account: Account) -> str:
    wanted = request.query_params.get("lang")
    if wanted in documents.LANGUAGES:
        return str(wanted)
    return documents.document_language(
        i18n.negotiate(request.headers.get("accept-language"), documents.LANGUAGES)
        or account.language
    )


def _notice(
    request: Request, account: Account, link: PaymentLink, message: str, status_code: int
) -> HTMLResponse:
    """A calm page that says why nothing can be bought here now, and nothing else."""
    language = _buyer_language(request, account)
    html = documents.render_template(
        "checkout/buyer/notice.html",
        language,
        {
            "language": language,
            "merchant": account.name,
            "title": link.name,
            "message": message,
            "logo_url": link.logo_url,
        },
    )
    return _pay_page(html, status_code)


@dataclass
class PayForm:
    """What the buyer typed (never card or account numbers) and what went wrong, per field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: FormErrors = field(default_factory=dict)
    method: buyer_forms.MethodForm = field(default_factory=buyer_forms.MethodForm.empty)
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def _consent(link: PaymentLink, options: Mapping[str, Any]) -> str:
    """Whether the page asks to keep the payment method: "required" when later payments are
    charged automatically, "optional" when the link keeps methods, else "none"."""
    if not options["save_payment_method"]:
        return "none"
    recurring = any(item.billing_frequency for item in link.line_items)
    if recurring and link.collection_method == "charge_automatically":
        return "required"
    return "optional"


def _checkout_page(
    request: Request,
    session: Session,
    account: Account,
    link: PaymentLink,
    form: PayForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if "line_items" not in link.__dict__:  # expired by a rolled-back attempt
        session.refresh(link, attribute_names=["line_items"])
    language = _buyer_language(request, account)
    formatter = i18n.Formatter(documents.document_locale(language, None))
    currency = link.currency
    options = options_with_defaults(link.payment_options)
    summary = service.link_summary(session, account, link)
    form = form or PayForm()
    types = buyer_forms.offered_types(account, options["payment_types"])
    stripe = buyer_forms.processor_field(account, types)
    due = summary.summary.due_now
    context = {
        "language": language,
        "merchant": account.name,
        "link": link,
        "lines": [
            {
                "name": line.name,
                "quantity": line.quantity,
                "amount": formatter.money(line.amount, currency),
                "period": hosted.PERIOD_LABELS.get(line.billing_frequency or "", None),
                "starts": formatter.date(line.billing_start_date)
                if line.billing_start_date
                else None,
            }
            for line in summary.lines
        ],
        "subtotal": formatter.money(summary.summary.subtotal, currency),
        "tax": formatter.money(summary.summary.tax_total, currency)
        if summary.summary.tax_total
        else None,
        "due_today": formatter.money(due, currency),
        "recurring": [
            {
                "names": ", ".join(plan.names),
                "amount": formatter.money(plan.amount, currency),
                "period": hosted.PERIOD_LABELS.get(plan.frequency, plan.frequency),
                "next": formatter.date(plan.next_payment),
                "payments": plan.payments,
            }
            for plan in summary.recurring
        ],
        "types": types,
        "stripe": stripe,
        "ask_billing": options["collect_billing_address"],
        "ask_shipping": options["collect_shipping_address"],
        "consent": _consent(link, options),
        "countries": buyer_forms.country_choices(language),
        "button": link.button_text,
        "pay_label": formatter.money(due, currency),
        "action": f"/pay/{link.id}"
        + (f"?lang={language}" if "lang" in request.query_params else ""),
        "form_token": hosted.form_token(session, link.id),
        "form": form,
        "method": form.method,
    }
    html = documents.render_template("checkout/buyer/pay.html", language, context)
    return _pay_page(html, status_code, stripe)


def _unavailable(account: Account, link: PaymentLink) -> tuple[str, int] | None:
    """Why nothing can be bought through this link now, with the page's status; None if it
    can be."""
    if not link.active:
        return LINK_UNAVAILABLE, 410
    if processor.processor_for(account) is None:
        return PAYMENTS_UNAVAILABLE, 409
    return None


def _sellable_link(
    request: Request, session: Session, link_id: str
) -> tuple[Account, PaymentLink] | Response:
    """The link and its account when something can be bought through it now; else the page
    that says why (a bad link, an inactive link, no payments)."""
    try:
        account, link = _open_link(session, link_id)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    unavailable = _unavailable(account, link)
    if unavailable is not None:
        return _notice(request, account, link, *unavailable)
    return account, link


@router.get("/pay/{payment_link_id}")
def pay_page(
    request: Request, payment_link_id: str, session: Session = Depends(get_session)
) -> Response:
    opened = _sellable_link(request, session, payment_link_id)
    if isinstance(opened, Response):
        return opened
    return _checkout_page(request, session, *opened)


def _request_from_form(
    form: FormData, link: PaymentLink, state: PayForm, consent: str, set_up: str | None
) -> CheckoutRequest | None:
    """The API's checkout request from the page's fields; None (with the buyer's errors on
    `state`) when something is missing or malformed."""
    asked = buyer_forms.asked_from_form(form)
    state.values = {
        "email": text(form, "email") or "",
        "first_name": text(form, "first_name") or "",
        "last_name": text(form, "last_name") or "",
        **asked,
    }
    method_state, method = buyer_forms.method_from_form(form, set_up=set_up)
    state.method = method_state
    options = options_with_defaults(link.payment_options)
    addresses = buyer_forms.check_asked(state.errors, asked, options, consent)
    body: dict[str, Any] = {
        "contact": {
            "email": state.values["email"],
            "first_name": state.values["first_name"] or None,
            "last_name": state.values["last_name"] or None,
        },
        "payment_method": method.model_dump(exclude_none=True) if method else None,
        "save_payment_method": consent != "none" and state.values["save_payment_method"],
    }
    body |= {name: address for name, address in addresses.items() if address is not None}
    try:
        data = build(CheckoutRequest, body)
    except FormInvalid as exc:
        _buyer_field_errors(state, exc.errors)
        return None
    return data if method is not None and not state.errors else None


def _buyer_field_errors(state: PayForm, errors: Mapping[str, str]) -> None:
    """The service's and the schema's refusals (named by param) as the buyer reads them."""
    for param in errors:
        head, _, part = param.partition(".")
        if param == "payment_method" and state.method.errors:
            continue  # the payment fields already say what is wrong with them
        if head == "contact":
            state.errors[part] = EMAIL_NEEDED if part == "email" else NAME_INVALID
        elif head in ("billing_address", "shipping_address"):
            name = part.split(".")[0] or "line1"
            state.errors[f"{head}.{name}"] = buyer_forms.ADDRESS_MESSAGES.get(
                name, buyer_forms.ADDRESS_MESSAGES["line1"]
            )
        elif head in ("card", "bank_debit") or param.startswith("payment_method."):
            kind = param.split(".")[-2] if param.startswith("payment_method.") else head
            state.method.errors.update(buyer_forms.buyer_errors({param: ""}, kind))
        elif head == "save_payment_method":
            state.errors["save_payment_method"] = buyer_forms.CONSENT_NEEDED
        else:
            state.method.errors.setdefault("__all__", ALL_FAILURES)


def _failed_attempt(request: Request) -> None:
    """Count a failed attempt against the link and the client's address."""
    limiter: Limiter = request.app.state.limiter
    link = request.path_params["payment_link_id"]
    limiter.hit("checkout_failures_per_link", link)
    limiter.hit("checkout_failures_per_address", client_address(request.scope))


def _locked_out(request: Request) -> int | None:
    """Seconds to wait when this link or this address failed too often, else None."""
    limiter: Limiter = request.app.state.limiter
    verdicts = (
        limiter.peek("checkout_failures_per_link", request.path_params["payment_link_id"]),
        limiter.peek("checkout_failures_per_address", client_address(request.scope)),
    )
    waits = [verdict.reset_in for verdict in verdicts if not verdict.allowed]
    return max(waits) if waits else None


def _done_path(
    request: Request, session: Session, link: PaymentLink, purchase: PaymentLinkPurchase
) -> str:
    """The confirmation's address: signed, naming the purchase, in the page's language."""
    token = signing.sign(
        session,
        PURCHASE_PURPOSE,
        {"purchase_id": purchase.id, "account_id": purchase.account_id},
        clock.real_now() + PURCHASE_LINK_LIFETIME,
    )
    lang = request.query_params.get("lang")
    query = f"?lang={lang}" if lang in documents.LANGUAGES else ""
    return f"/pay/{link.id}/done/{token}{query}"


@router.post("/pay/{payment_link_id}")
def pay(
    request: Request,
    payment_link_id: str,
    form: FormData = Depends(form_data),
    session: Session = Depends(get_session),
) -> Response:
    """Buy what the link sells: the same checkout as the API, from the page's fields."""
    opened = _sellable_link(request, session, payment_link_id)
    if isinstance(opened, Response):
        return opened
    account, link = opened
    key = text(form, "form_key") or ""
    if not hosted.form_token_valid(session, link.id, form) or not FORM_KEY.fullmatch(key):
        state = PayForm()
        state.method.errors["__all__"] = hosted.FORM_EXPIRED
        return _checkout_page(request, session, account, link, state, 403)
    existing = service.purchase_with_key(session, account, link.id, key)
    if existing is not None:  # posted again (a reload, a second tab): the purchase stands
        return RedirectResponse(_done_path(request, session, link, existing), status_code=303)
    wait = _locked_out(request)
    if wait is not None:
        html = documents.render_template(
            "checkout/buyer/notice.html",
            _buyer_language(request, account),
            {
                "language": _buyer_language(request, account),
                "merchant": account.name,
                "title": link.name,
                "message": hosted.TOO_MANY_ATTEMPTS,
                "logo_url": link.logo_url,
            },
        )
        response = _pay_page(html, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    state = PayForm(key=key)
    options = options_with_defaults(link.payment_options)
    try:
        set_up = buyer_forms.card_set_up(account, form)
        data = _request_from_form(form, link, state, _consent(link, options), set_up)
        if data is None:
            return _checkout_page(request, session, account, link, state, 422)
        result = service.checkout(session, account, link.id, data, form_key=key)
    except service.PurchaseExists as exists:
        session.rollback()
        return RedirectResponse(
            _done_path(request, session, link, exists.purchase), status_code=303
        )
    except PaymentFailed as failed:
        session.rollback()
        _failed_attempt(request)
        state.method.errors["__all__"] = buyer_forms.FAILURE_MESSAGES.get(
            failed.reason or "card_declined", ALL_FAILURES
        )
        return _checkout_page(request, session, account, link, state, 402)
    except Conflict:
        session.rollback()
        return _notice(request, account, link, LINK_UNAVAILABLE, 409)
    except APIError as refused:
        session.rollback()
        if refused.param and refused.param.split(".")[0] in (
            "card",
            "bank_debit",
            "payment_method",
        ):
            _failed_attempt(request)  # a mistyped card counts: card testers mistype too
        _buyer_field_errors(state, {refused.param or "": refused.message})
        return _checkout_page(request, session, account, link, state, 422)
    assert result.purchase is not None
    path = _done_path(request, session, link, result.purchase)
    session.commit()
    return RedirectResponse(path, status_code=303)


@router.get("/pay/{payment_link_id}/done/{token}")
def pay_done(
    request: Request, payment_link_id: str, token: str, session: Session = Depends(get_session)
) -> Response:
    """The confirmation: what was bought and paid, and the merchant's message."""
    try:
        account, payload = hosted.link_payload(session, PURCHASE_PURPOSE, token)
        purchase = session.get(PaymentLinkPurchase, str(payload.get("purchase_id")))
        if (
            purchase is None
            or purchase.account_id != account.id
            or purchase.payment_link_id != payment_link_id
        ):
            raise hosted.BadLink
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    result = service.purchase_result(session, account, purchase)
    language = _buyer_language(request, account)
    formatter = i18n.Formatter(documents.document_locale(language, None))
    payment = result.payment
    context = {
        "language": language,
        "merchant": account.name,
        "link": result.link,
        "email": result.contact.email,
        "amount": formatter.money(payment.amount, payment.currency) if payment else None,
        "processing": payment is not None and payment.status == "processing",
        "subscriptions": [
            {
                "name": subscription.name,
                "period": hosted.PERIOD_LABELS.get(subscription.billing_frequency or "", ""),
                "next": formatter.date(subscription.next_payment_date)
                if subscription.next_payment_date
                else None,
            }
            for subscription in result.subscriptions
        ],
        "invoice_href": invoice_links.hosted_invoice_path(session, result.invoice)
        if result.invoice is not None
        else None,
    }
    html = documents.render_template("checkout/buyer/done.html", language, context)
    return _pay_page(html)
