"""The buyer's hosted pages, reached by signed, expiring links with no login (SPEC §5, §9):
the invoice page (view, download the PDF, pay online) and the update-payment-method page of a
subscription (save a new method, which becomes the default and retries the past-due balance).

The link is the permission: it names one invoice or one subscription of one account, and
nothing else is reachable from it. These pages never look at the staff session. They speak the
buyer's language (the invoice's, or the subscription's invoice language) with the document
catalog, which has German too. Handlers are thin: they call the same services as the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts.auth import get_session
from cadency.accounts.models import Account
from cadency.billing.state import awaits_payment_method, payment_options
from cadency.config import Settings
from cadency.invoices import buyer_forms, documents, hosted, links, repository
from cadency.invoices import service as invoice_service
from cadency.invoices.documents import D_
from cadency.invoices.models import Invoice
from cadency.kit.errors import APIError, PaymentFailed
from cadency.payments import processor
from cadency.payments import service as payment_service
from cadency.payments.models import Payment, PaymentMethod
from cadency.payments.schemas import PaymentMethodCreate
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.models import ENDED_STATUSES, Subscription, SubscriptionStatus
from cadency.web.forms import FormInvalid, attempt, form_data

router = APIRouter(include_in_schema=False)

PAYMENT_METHOD_PURPOSE = subscription_service.PAYMENT_METHOD_LINK_PURPOSE


def _save_method(
    session: Session,
    account: Account,
    contact_id: str,
    data: PaymentMethodCreate,
    form: buyer_forms.MethodForm,
    *,
    reusable: bool = True,
) -> PaymentMethod | None:
    """Tokenise and save the method on the buyer's contact (kept for later payments, or used
    once); None (with form errors) when the processor refuses it."""
    try:
        return attempt(
            lambda: payment_service.attach_payment_method(
                session, account, contact_id, data, reusable=reusable
            )
        )
    except FormInvalid as exc:
        if any(param in (data.type, "card", "bank_debit") for param in exc.errors):
            form.errors = {"__all__": buyer_forms.FAILURE_MESSAGES["card_declined"]}
        else:
            form.errors = buyer_forms.buyer_errors(exc.errors, data.type)
        return None


# --- the invoice page ---------------------------------------------------------------------


def _invoice_for(session: Session, token: str) -> tuple[Account, Invoice]:
    account, payload = hosted.link_payload(session, links.INVOICE_LINK_PURPOSE, token)
    try:
        invoice = invoice_service.get_invoice(session, account, str(payload.get("invoice_id")))
    except APIError as exc:
        raise hosted.BadLink from exc
    if invoice.status == "draft":  # not issued yet: nothing for a buyer to see
        raise hosted.BadLink
    return account, invoice


def _processing_payment(session: Session, invoice: Invoice) -> Payment | None:
    return repository.processing_payment(session, invoice.id)


def _consent(session: Session, invoice: Invoice, options: Mapping[str, Any]) -> str:
    """Whether the page asks to keep the method: "required" when the subscription collects
    its payment method on this invoice to charge later ones, "optional" when the seller keeps
    methods, else "none"."""
    if not options["save_payment_method"]:
        return "none"
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    return "required" if subscription and awaits_payment_method(subscription) else "optional"


def _invoice_page(
    request: Request,
    session: Session,
    account: Account,
    invoice: Invoice,
    token: str,
    *,
    form: buyer_forms.MethodForm | None = None,
    asked: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    processing = _processing_payment(session, invoice)
    waiting = repository.awaiting_buyer(session, invoice.id)
    # While the buyer's bank waits for them to confirm a payment, that is what the page asks:
    # a second payment now could be charged besides the first.
    payable = (
        invoice.status == "open"
        and invoice.contact_id is not None
        and processing is None
        and waiting is None
    )
    authenticate = (
        processor.browser_authentication(account, waiting.processor_reference)
        if waiting is not None and invoice.status == "open"
        else None
    )
    payments_available = processor.processor_for(account) is not None
    options = invoice_service.payment_options_of(session, invoice)
    online = options["accept_online_payments"]
    can_pay = payable and payments_available and online
    language = documents.document_language(invoice.language)
    types = buyer_forms.offered_types(account, options["payment_types"])
    stripe = buyer_forms.processor_field(account, types) if can_pay else None
    html = documents.render_invoice_html(
        session,
        account,
        invoice,
        pay_url=None,  # the page itself is where the buyer pays
        template="invoices/hosted_invoice.html",
        extra={
            "token": token,
            "pdf_href": f"/billing/invoices/{token}/pdf",
            "pay_action": f"/billing/invoices/{token}/pay",
            "form_token": hosted.form_token(session, token) if can_pay else "",
            "can_pay": can_pay,
            "payments_unavailable": payable and online and not payments_available,
            "bank_transfer": payable and not online,
            "bank_details": account.bank_transfer_details,
            "types": types,
            "stripe": stripe,
            "authenticate": authenticate,
            "awaiting_bank": waiting is not None and invoice.status == "open",
            "ask_billing": options["collect_billing_address"],
            "ask_shipping": options["collect_shipping_address"],
            "consent": _consent(session, invoice, options),
            "asked": asked or {},
            "countries": buyer_forms.country_choices(language) if can_pay else [],
            "processing": processing is not None,
            "just_paid": request.query_params.get("paid") == "1" and invoice.status == "paid",
            "form": form or buyer_forms.MethodForm.empty(),
        },
    )
    return hosted.page(html, status_code, processor=stripe or authenticate)


@router.get("/billing/invoices/{token}")
def hosted_invoice(
    request: Request, token: str, session: Session = Depends(get_session)
) -> Response:
    try:
        account, invoice = _invoice_for(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    return _invoice_page(request, session, account, invoice, token)


@router.get("/billing/invoices/{token}/pdf")
def hosted_invoice_pdf(
    request: Request, token: str, session: Session = Depends(get_session)
) -> Response:
    try:
        account, invoice = _invoice_for(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    settings: Settings = request.app.state.settings
    pdf = documents.render_invoice_pdf(session, account, invoice, base_url=settings.base_url)
    session.commit()
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{invoice.number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _invoice_link(session: Session, token: str) -> str:
    return f"invoice:{_invoice_for(session, token)[1].id}"


@router.post("/billing/invoices/{token}/pay")
def pay_hosted_invoice(
    request: Request,
    token: str,
    form: FormData = Depends(form_data),
    wait: int | None = Depends(hosted.payment_attempts(_invoice_link)),
    session: Session = Depends(get_session),
) -> Response:
    """Pay the open invoice with a new card or bank account, saved on the buyer's contact."""
    try:
        account, invoice = _invoice_for(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    options = invoice_service.payment_options_of(session, invoice)
    if processor.processor_for(account) is None or not options["accept_online_payments"]:
        # The page shows no form; a post made anyway gets the page that says why.
        return _invoice_page(request, session, account, invoice, token, status_code=409)
    if not hosted.form_token_valid(session, token, form):
        state = buyer_forms.MethodForm.refused(hosted.FORM_EXPIRED)
        return _invoice_page(request, session, account, invoice, token, form=state, status_code=403)
    if (
        invoice.status != "open"
        or invoice.contact_id is None
        or _processing_payment(session, invoice)
        or repository.awaiting_buyer(session, invoice.id)
    ):
        # Paid in another tab, nothing to pay, or a payment waiting for the buyer's bank (a
        # second one could be charged besides it): show the invoice as it is now.
        return RedirectResponse(f"/billing/invoices/{token}", status_code=303)
    if wait is not None:
        state = buyer_forms.MethodForm.refused(hosted.TOO_MANY_ATTEMPTS)
        response = _invoice_page(
            request, session, account, invoice, token, form=state, status_code=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        set_up = buyer_forms.card_set_up(account, form)
    except APIError as refused:
        session.rollback()
        state = buyer_forms.MethodForm.refused(buyer_forms.FAILURE_MESSAGES["card_declined"])
        return _invoice_page(
            request, session, account, invoice, token, form=state, status_code=refused.status_code
        )
    state, data = buyer_forms.method_from_form(form, set_up=set_up)
    asked = buyer_forms.asked_from_form(form)
    consent = _consent(session, invoice, options)
    addresses = buyer_forms.check_asked(state.errors, asked, options, consent)
    if data is not None and buyer_forms.paid_by(data) not in options["payment_types"]:
        state.errors["__all__"] = buyer_forms.TYPE_NOT_ACCEPTED
    if data is None or state.errors:
        return _invoice_page(
            request, session, account, invoice, token, form=state, asked=asked, status_code=422
        )
    keep = consent != "none" and asked["save_payment_method"]
    method = _save_method(session, account, invoice.contact_id, data, state, reusable=keep)
    if method is None:
        return _invoice_page(
            request, session, account, invoice, token, form=state, asked=asked, status_code=422
        )
    try:
        invoice_service.charge_invoice(session, account, invoice, method, **addresses)
    except PaymentFailed:
        session.commit()  # the method and the failed attempt are part of the history
        failed = repository.latest_failed_payment(session, invoice.id)
        state.errors = {"__all__": buyer_forms.failure_message(failed)}
        return _invoice_page(
            request, session, account, invoice, token, form=state, asked=asked, status_code=402
        )
    session.commit()
    return RedirectResponse(f"/billing/invoices/{token}?paid=1", status_code=303)


# --- the update-payment-method page -------------------------------------------------------


def _subscription_for(session: Session, token: str) -> tuple[Account, Subscription]:
    account, subscription, _payload = hosted.subscription_of_link(
        session, PAYMENT_METHOD_PURPOSE, token
    )
    return account, subscription


def _open_invoices(session: Session, subscription: Subscription) -> list[Invoice]:
    return repository.open_invoices(session, subscription.id)


@dataclass(frozen=True)
class Outcome:
    """What became of the past-due balance after the new method was saved."""

    kind: str  # "paid" | "processing" | "failed" | "saved" (nothing was due)
    amount: str | None = None
    message: str | None = None


def _method_page(
    session: Session,
    account: Account,
    subscription: Subscription,
    token: str,
    *,
    form: buyer_forms.MethodForm | None = None,
    outcome: Outcome | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    language, fmt = hosted.buyer_formatting(session, account, subscription)
    options = payment_options(subscription)
    due = _open_invoices(session, subscription)
    types = buyer_forms.offered_types(account, options["payment_types"])
    takes_method = (
        subscription.status not in ENDED_STATUSES
        and options["accept_online_payments"]
        and processor.processor_for(account) is not None
        and (outcome is None or outcome.kind == "failed")
    )
    stripe = buyer_forms.processor_field(account, types) if takes_method else None
    method = (
        session.get(PaymentMethod, subscription.payment_method_id)
        if subscription.payment_method_id
        else None
    )
    ended = subscription.status in ENDED_STATUSES
    context = {
        "language": language,
        "merchant": account.name,
        "subscription_name": subscription.name,
        "past_due": subscription.status == SubscriptionStatus.UNPAID,
        "ended": ended,
        "payments_unavailable": processor.processor_for(account) is None,
        "online": options["accept_online_payments"],
        "types": types,
        "stripe": stripe,
        "amount_due": fmt.money(sum(i.amount_due for i in due), subscription.currency)
        if due
        else None,
        "current_method": method,
        "action": f"/billing/update-payment-method/{token}",
        "form_token": "" if ended else hosted.form_token(session, token),
        "form": form or buyer_forms.MethodForm.empty(),
        "outcome": outcome,
    }
    html = documents.render_template("invoices/update_payment_method.html", language, context)
    return hosted.page(html, status_code, processor=stripe)


@router.get("/billing/update-payment-method/{token}")
def update_payment_method_page(
    request: Request, token: str, session: Session = Depends(get_session)
) -> Response:
    try:
        account, subscription = _subscription_for(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    return _method_page(session, account, subscription, token)


def _subscription_link(session: Session, token: str) -> str:
    return f"subscription:{_subscription_for(session, token)[1].id}"


@router.post("/billing/update-payment-method/{token}")
def update_payment_method(
    request: Request,
    token: str,
    form: FormData = Depends(form_data),
    wait: int | None = Depends(hosted.payment_attempts(_subscription_link)),
    session: Session = Depends(get_session),
) -> Response:
    """Save the new method as the subscription's default; the subscription service retries
    the past-due balance at once, and the page says how that went."""
    try:
        account, subscription = _subscription_for(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    options = payment_options(subscription)
    if (
        subscription.status in ENDED_STATUSES
        or processor.processor_for(account) is None
        or not options["accept_online_payments"]
    ):
        return _method_page(session, account, subscription, token, status_code=409)
    if not hosted.form_token_valid(session, token, form):
        state = buyer_forms.MethodForm.refused(hosted.FORM_EXPIRED)
        return _method_page(session, account, subscription, token, form=state, status_code=403)
    if wait is not None:
        state = buyer_forms.MethodForm.refused(hosted.TOO_MANY_ATTEMPTS)
        response = _method_page(session, account, subscription, token, form=state, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        set_up = buyer_forms.card_set_up(account, form)
    except APIError as refused:
        session.rollback()
        declined = buyer_forms.MethodForm.refused(buyer_forms.FAILURE_MESSAGES["card_declined"])
        return _method_page(
            session, account, subscription, token, form=declined, status_code=refused.status_code
        )
    state, data = buyer_forms.method_from_form(form, set_up=set_up)
    if data is not None and buyer_forms.paid_by(data) not in options["payment_types"]:
        state.errors["__all__"] = buyer_forms.TYPE_NOT_ACCEPTED
        return _method_page(session, account, subscription, token, form=state, status_code=422)
    method = _save_method(session, account, subscription.contact_id, data, state) if data else None
    if method is None:
        return _method_page(session, account, subscription, token, form=state, status_code=422)
    due_before = [invoice.id for invoice in _open_invoices(session, subscription)]
    tried_before = set(_payment_ids(session, due_before))
    try:
        subscription = attempt(
            lambda: subscription_service.update(
                session, account, subscription.id, {"payment_method_id": method.id}
            )
        )
    except FormInvalid:
        session.rollback()
        state.errors = {"__all__": D_("The payment method could not be saved.")}
        return _method_page(session, account, subscription, token, form=state, status_code=409)
    session.flush()
    outcome = _outcome(session, subscription, due_before, tried_before)
    session.commit()
    return _method_page(session, account, subscription, token, outcome=outcome)


def _payment_ids(session: Session, invoice_ids: list[str]) -> list[str]:
    return repository.payment_ids(session, invoice_ids)


def _outcome(
    session: Session, subscription: Subscription, due_before: list[str], tried_before: set[str]
) -> Outcome:
    """Judged by the charges the update made: none (nothing was due, or it is not charged
    automatically) means the method was only saved."""
    payments = [
        payment
        for payment in repository.payments_newest_first(session, due_before)
        if payment.id not in tried_before
    ]
    if not payments:
        return Outcome("saved")
    invoices = repository.invoices_by_ids(session, due_before)
    account = session.get(Account, subscription.account_id)
    assert account is not None
    _, fmt = hosted.buyer_formatting(session, account, subscription)
    if all(invoice.status == "paid" for invoice in invoices):
        paid = sum(invoice.amount_paid for invoice in invoices)
        return Outcome("paid", amount=fmt.money(paid, subscription.currency))
    if any(payment.status == "processing" for payment in payments):
        return Outcome("processing")
    failed = next((p for p in payments if p.status == "failed"), None)
    return Outcome("failed", message=buyer_forms.failure_message(failed))
