"""The Payments pages (seed 001's payments dashboard): every payment of the account with its
status, a payment's detail with its refunds, and "Refund" (part or all of what is left), through
the same service as POST /payments/{id}/refund. And Settings → Payment processor: the sandbox
or Stripe, and Stripe's keys, through the same service and checks as PATCH /account/processor.
Secrets are never put back into the form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.catalog.pages import page_url, records_by_id
from cadency.crm.models import Contact
from cadency.invoices.models import Invoice
from cadency.kit import labels, money
from cadency.kit.endpoints import Cursor
from cadency.kit.errors import APIError
from cadency.kit.pagination import DEFAULT_LIMIT
from cadency.kit.repository import get_owned
from cadency.payments import processor_settings, service
from cadency.payments.endpoints import present_processor
from cadency.payments.models import Payment
from cadency.payments.schemas import ProcessorSettingsUpdate
from cadency.web.auth import PageContext
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, form_data, text
from cadency.web.sections import SECTIONS, edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

# --- payments ------------------------------------------------------------------------------------

PAYMENTS = SECTIONS["payments"].path
# What can still be refunded: a payment that went through and is not refunded in full.
REFUNDABLE = ("succeeded", "partially_refunded")


def _payment_rows(page: PageContext, payments: Any) -> list[dict[str, Any]]:
    """A list's rows: amounts and dates formatted, statuses and failures by their labels,
    the customer and invoice named (one query each)."""
    contacts = records_by_id(page, Contact, (p.contact_id for p in payments))
    invoices = records_by_id(page, Invoice, (p.invoice_id for p in payments))
    rows = []
    for payment in payments:
        contact = contacts.get(payment.contact_id or "")
        invoice = invoices.get(payment.invoice_id or "")
        rows.append(
            {
                "id": payment.id,
                "date": page.fmt.datetime(payment.created_at, page.account.timezone, "short"),
                "amount": page.fmt.money(payment.amount, payment.currency),
                "refunded": page.fmt.money(payment.refunded_amount, payment.currency)
                if payment.refunded_amount
                else "",
                "status": payment.status,
                "status_label": page.gettext(
                    labels.PAYMENT_STATUSES.get(payment.status, payment.status)
                ),
                "failure": page.gettext(
                    labels.FAILURE_REASONS.get(payment.failure_reason, payment.failure_reason)
                )
                if payment.failure_reason
                else "",
                "customer": contact.display_name if contact else "",
                "customer_id": contact.id if contact else None,
                "invoice": invoice.number if invoice else "",
                "invoice_id": invoice.id if invoice else None,
                "subscription_id": payment.subscription_id,
            }
        )
    return rows


@router.get(PAYMENTS)
def payments_index(
    request: Request,
    status: str | None = None,
    cursor: Cursor = None,
    page: PageContext = Depends(reads("payments")),
) -> Response:
    status = status if status in service.PAYMENT_STATUSES else None
    payments, has_more, next_cursor = service.list_payments(
        page.session, page.account, status=status, limit=DEFAULT_LIMIT, cursor=cursor
    )
    context = {
        "rows": _payment_rows(page, payments),
        "status": status or "",
        "statuses": [(s, labels.PAYMENT_STATUSES[s]) for s in service.PAYMENT_STATUSES],
        "next_url": page_url(request, cursor=next_cursor) if has_more else None,
        "first_url": page_url(request, cursor=None) if cursor else None,
    }
    return render(request, "payments/payments.html", context)


def _payment_page(
    request: Request,
    page: PageContext,
    payment: Payment,
    *,
    amount: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    [row] = _payment_rows(page, [payment])
    left = payment.amount - payment.refunded_amount
    refunds = [
        {
            "date": page.fmt.datetime(r.created_at, page.account.timezone, "short"),
            "amount": page.fmt.money(r.amount, payment.currency),
        }
        for r in service.refunds_of(page.session, payment)
    ]
    context = {
        "payment": payment,
        "row": row,
        "refunds": refunds,
        "refundable": payment.status in REFUNDABLE and left > 0,
        "left": page.fmt.money(left, payment.currency),
        "left_plain": money.format_amount(left, payment.currency),
        "amount": amount,
        "error": error,
    }
    return render(request, "payments/payment.html", context, status_code=status_code)


@router.get(PAYMENTS + "/{payment_id}")
def payment_detail(
    request: Request, payment_id: str, page: PageContext = Depends(reads("payments"))
) -> Response:
    payment = get_owned(page.session, Payment, page.account.id, payment_id, "payment")
    return _payment_page(request, page, payment)


@router.post(PAYMENTS + "/{payment_id}/refund")
def refund_payment(
    request: Request,
    payment_id: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("payments")),
) -> Response:
    """Refund what is typed, or everything left when the amount is empty."""
    payment = get_owned(page.session, Payment, page.account.id, payment_id, "payment")
    amount = text(form, "amount")
    before = payment.refunded_amount
    try:
        service.refund(page.session, page.account, payment.id, amount)
    except APIError as exc:
        page.session.rollback()
        payment = get_owned(page.session, Payment, page.account.id, payment_id, "payment")
        left = page.fmt.money(payment.amount - payment.refunded_amount, payment.currency)
        # The amount's refusal in the reader's language; any other is the service's own.
        message = (
            page.gettext("Enter an amount more than 0 and up to %(amount)s.") % {"amount": left}
            if exc.param == "amount"
            else exc.message
        )
        return _payment_page(
            request,
            page,
            payment,
            amount=amount or "",
            error=message,
            status_code=exc.status_code,
        )
    refunded = page.fmt.money(payment.refunded_amount - before, payment.currency)
    page.session.commit()
    return redirect(
        f"{PAYMENTS}/{payment_id}",
        flash=page.gettext("%(amount)s was refunded.") % {"amount": refunded},
    )


# --- the payment processor -------------------------------------------------------------------

PATH = SECTIONS["payment_processor"].path
# What Stripe must send to the webhook endpoint (docs/stripe.md).
STRIPE_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.refund.updated",
)


def _page(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    account = page.account
    config = processor_settings.config_of(account)
    shown = present_processor(account, config, request.app.state.settings.base_url)
    context = {
        "settings": shown,
        "values": values
        or {
            "processor": shown.processor or "stripe",
            "stripe.publishable_key": shown.stripe.publishable_key or "",
            "stripe.api_base": shown.stripe.api_base or "",
        },
        "errors": errors or {},
        "test_mode": account.mode == "test",
        "events": STRIPE_EVENTS,
        "can_edit": page.allows(SECTIONS["payment_processor"].edit),
    }
    return render(request, "payments/processor.html", context, status_code=status_code)


@router.get(PATH)
def processor_page(
    request: Request, page: PageContext = Depends(reads("payment_processor"))
) -> Response:
    return _page(request, page)


@router.post(PATH)
def save_processor(
    request: Request,
    page: PageContext = Depends(edits("payment_processor")),
    form: FormData = Depends(form_data),
) -> Response:
    test_mode = page.account.mode == "test"
    stripe: dict[str, Any] = {"publishable_key": text(form, "stripe.publishable_key")}
    # Empty secret fields keep what is saved: the form never shows them.
    for name in ("secret_key", "webhook_secret"):
        value = text(form, f"stripe.{name}")
        if value is not None:
            stripe[name] = value
    if test_mode:
        stripe["api_base"] = text(form, "stripe.api_base")
    chosen = text(form, "processor") or ("sandbox" if test_mode else "stripe")
    if chosen == "sandbox" and stripe["publishable_key"] is None:
        del stripe["publishable_key"]
    body = {"processor": chosen, "stripe": stripe}
    values = {
        "processor": chosen,
        "stripe.publishable_key": form.get("stripe.publishable_key") or "",
        "stripe.api_base": form.get("stripe.api_base") or "",
    }
    try:
        data = build(ProcessorSettingsUpdate, body)
        attempt(lambda: processor_settings.update(page.session, page.account, data))
    except FormInvalid as exc:
        page.session.rollback()
        return _page(request, page, values, exc.errors, status_code=422)
    page.session.commit()
    return redirect(PATH, flash=page.gettext("The payment processor settings were saved."))
