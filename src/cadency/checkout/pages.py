"""Web pages of payment links: the list, the create form (line items from the product
library), and a link's page with the URL to copy and the purchases made through it. Thin
handlers that authorise, call the same services as the REST API, and render.
Every checkout through a link is a PaymentLinkPurchase row, which the link's page lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

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
)
from cadency.checkout import service
from cadency.checkout.models import PaymentLink
from cadency.checkout.schemas import PaymentLinkCreate, PaymentLinkOut
from cadency.crm.models import Contact
from cadency.invoices.models import Invoice
from cadency.kit import labels
from cadency.kit.endpoints import Cursor
from cadency.kit.i18n import N_
from cadency.kit.pagination import DEFAULT_LIMIT
from cadency.payments.models import Payment
from cadency.subscriptions import display
from cadency.subscriptions.models import Subscription
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, form_data, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"

LINK_FIELDS = ("name", "currency", "collection_method", "payment_terms")
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
    }
    return render(request, "checkout/payment_link_form.html", context, status_code=status_code)


@router.get("/payment-links/new")
def new_payment_link(
    request: Request, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    values = {field: "" for field in LINK_FIELDS} | {
        "currency": page.account.currency,
        "collection_method": "charge_automatically",
    }
    return _link_form(request, page, values, line_item_rows(None), {})


@router.post("/payment-links")
def create_payment_link(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: text(form, field) for field in LINK_FIELDS}
    rows = line_item_rows(form)
    sent = dict(values)
    if values["collection_method"] != "send_invoice":
        sent["payment_terms"] = None  # the terms input only matters for invoices sent
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
