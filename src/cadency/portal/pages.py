"""The buyer's billing settings page and portal (SPEC §9), behind a signed, expiring link with
no login; and the merchant's settings page for what buyers may do there.

The link names one subscription of one account and is the permission: the pages show that
subscription, its invoices and payments, and nothing else. They speak the buyer's language with
the buyer-page catalog (German too), and call the portal service, which calls the same
subscription services as the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts.auth import get_session
from cadency.accounts.models import Account
from cadency.invoices import documents, hosted, links
from cadency.invoices.documents import D_
from cadency.kit import clock, i18n, labels, periods
from cadency.kit.errors import APIError, Conflict, InvalidRequest
from cadency.payments import processor
from cadency.payments.models import PaymentMethod
from cadency.plans import service as plans
from cadency.portal import repository, service
from cadency.portal.links import PORTAL_PURPOSE, SESSION_LIFETIME, portal_link
from cadency.portal.schemas import PortalConfigurationUpdate, PortalFeatures
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.display import badge_key
from cadency.subscriptions.models import ENDED_STATUSES, Subscription, SubscriptionStatus
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, form_data, text
from cadency.web.sections import SECTIONS, edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

# What the buyer reads, in the buyer-page catalog (the staff labels have no German).
STATUS_LABELS = {
    "active": D_("Active"),
    "trialing": D_("Trial"),
    "canceling": D_("Canceling"),
    "unpaid": D_("Past due"),
    "paused": D_("Paused"),
    "scheduled": D_("Scheduled"),
    "canceled": D_("Canceled"),
    "expired": D_("Expired"),
}
PERIOD_LABELS = hosted.PERIOD_LABELS
# The reasons in the buyer's words (the staff labels, kit.labels.CANCELLATION_REASONS, name
# them for the merchant and have no German): one wording per reason the labels know.
REASON_LABELS = {
    "too_expensive": D_("It is too expensive"),
    "missing_features": D_("It lacks features I need"),
    "switched_service": D_("I switched to another service"),
    "unused": D_("I don't use it enough"),
    "customer_service": D_("I was unhappy with the customer service"),
    "too_complex": D_("It is too complicated"),
    "low_quality": D_("The quality was not good enough"),
    "other": D_("Another reason"),
}
assert list(REASON_LABELS) == list(labels.CANCELLATION_REASONS)
INVOICE_STATUS_LABELS = {
    "open": D_("Open"),
    "paid": D_("Paid"),
    "void": D_("Void"),
    "uncollectible": D_("Uncollectible"),
}
PAYMENT_STATUS_LABELS = {
    "succeeded": D_("Succeeded"),
    "failed": D_("Failed"),
    "processing": D_("Processing"),
    "requires_action": D_("Waiting for your bank's confirmation"),
    "refunded": D_("Refunded"),
    "partially_refunded": D_("Partially refunded"),
}
DONE_MESSAGES = {
    "plan_changed": D_("Your plan was changed."),
    "plan_scheduled": D_("Your new plan starts at the end of the current period."),
    "canceled": D_("Your subscription was canceled."),
    "canceling": D_("Your subscription will end at the end of the current period."),
    "reactivated": D_("Your subscription was reactivated: it renews as before."),
}
FIELD_ERRORS = {
    "reason": D_("Choose a reason for canceling."),
    "confirm": D_("Tick the box to confirm that you want to cancel."),
    "product_id": D_("Choose one of the plans offered."),
}
ACTION_FAILED = D_("That could not be done. Reload the page and try again.")
# The one refusal a buyer can act on: the refund the cancellation promises waits for the
# bank debit in flight to succeed (reloading would not help).
REFUND_PROCESSING = D_(
    "Your last bank payment is still being processed, so it cannot be refunded yet. "
    "You can cancel once it has gone through, in a few days."
)
# Refusals the buyer can act on, by the rule that refused (the error's `param`).
REFUSALS = {
    "refund": REFUND_PROCESSING,
    "seats": D_(
        "Paid seats of this plan are still assigned to users. Unassign them in Account & "
        "billing first, then cancel."
    ),
    "kind": D_("This account's plan is arranged with us: contact support to change or cancel it."),
}
FORM_EXPIRED = D_("This form has expired. Reload the page and try again.")
HISTORY_ROWS = 24


# --- the link ------------------------------------------------------------------------------


@dataclass
class Portal:
    """What one portal link opens: the subscription, in its buyer's language."""

    token: str
    account: Account
    subscription: Subscription
    return_url: str | None
    features: PortalFeatures
    language: str
    fmt: i18n.Formatter


def _open(session: Session, token: str) -> Portal:
    account, subscription, payload = hosted.subscription_of_link(session, PORTAL_PURPOSE, token)
    language, fmt = hosted.buyer_formatting(session, account, subscription)
    features, _ = service.get_configuration(session, account)
    return_url = payload.get("return_url")
    return Portal(
        token=token,
        account=account,
        subscription=subscription,
        return_url=return_url if isinstance(return_url, str) else None,
        features=features,
        language=language,
        fmt=fmt,
    )


def _summary(session: Session, portal: Portal) -> dict[str, Any]:
    """The summary card of SPEC §9: plan, billing period, badge, next billing date."""
    sub = portal.subscription
    item = service.current_plan_item(sub)
    recurring = [i for i in sub.line_items if i.billing_frequency]
    frequency = recurring[0].billing_frequency if recurring else None
    key = badge_key(sub.status, bool(sub.cancel_at_period_end), sub.cancel_at is not None)
    ended = sub.status in ENDED_STATUSES
    # A scheduled end ("Ends on") until it has passed; then the day it ended ("Ended on").
    ends_on = (
        None
        if ended
        else sub.cancel_at or (sub.current_period_end if sub.cancel_at_period_end else None)
    )
    ended_on: date | None = None
    if sub.status == SubscriptionStatus.CANCELED and sub.canceled_at:
        ended_on = periods.local_date(sub.canceled_at, portal.account.timezone)
    elif sub.status == SubscriptionStatus.EXPIRED:
        ended_on = sub.end_date or sub.current_period_end
    pending = service.pending_plan(session, sub)
    method = session.get(PaymentMethod, sub.payment_method_id) if sub.payment_method_id else None
    return {
        "merchant": portal.account.name,
        "plan": item.name if item else sub.name,
        "period": PERIOD_LABELS.get(frequency or "", ""),
        "badge": key,
        "badge_label": STATUS_LABELS[key],
        "canceling": key == "canceling",
        "ended": ended,
        "past_due": sub.status == SubscriptionStatus.UNPAID,
        "next_billing_date": portal.fmt.date(sub.next_payment_date)
        if sub.next_payment_date and key not in ("canceling", "canceled", "expired")
        else None,
        "next_amount": portal.fmt.money(sub.next_payment_amount, sub.currency)
        if sub.next_payment_amount is not None and sub.next_payment_date
        else None,
        "ends_on": portal.fmt.date(ends_on) if ends_on else None,
        "ended_on": portal.fmt.date(ended_on) if ended_on else None,
        "pending_plan": pending.name if pending else None,
        "pending_on": portal.fmt.date(sub.next_payment_date) if pending else None,
        "method": method,
        # The merchant cannot take payments: the buyer is told so instead of sent to a form.
        "payments_unavailable": processor.processor_for(portal.account) is None,
        "return_url": portal.return_url,
        "manage_url": f"/billing/portal/{portal.token}/manage",
        "home_url": f"/billing/portal/{portal.token}",
        "language": portal.language,
    }


def _payment_method_url(session: Session, portal: Portal) -> str | None:
    """A fresh link to the update-payment-method page (it retries any past-due balance)."""
    sub = portal.subscription
    if (
        not portal.features.payment_method_update.enabled
        or sub.status in ENDED_STATUSES
        or not sub.invoice_creation
        or processor.processor_for(portal.account) is None
    ):
        return None
    path, _ = subscription_service.payment_method_link_path(session, sub, SESSION_LIFETIME)
    return path


def _history(session: Session, portal: Portal) -> dict[str, Any]:
    sub = portal.subscription
    if not portal.features.invoice_history.enabled:
        return {"invoices": None, "payments": None}
    invoices = repository.latest_invoices(session, sub.id, HISTORY_ROWS)
    payments = repository.latest_payments(session, sub.id, HISTORY_ROWS)
    fmt = portal.fmt
    invoice_rows = []
    for invoice in invoices:
        path = links.hosted_invoice_path(session, invoice)
        invoice_rows.append(
            {
                "number": invoice.number,
                "date": fmt.date(invoice.issue_date),
                "total": fmt.money(invoice.total, invoice.currency),
                "status": INVOICE_STATUS_LABELS.get(invoice.status, invoice.status),
                "status_key": invoice.status,
                "url": path,
                "pdf_url": f"{path}/pdf",
            }
        )
    payment_rows = [
        {
            "date": fmt.date(periods.local_date(payment.created_at, portal.account.timezone)),
            "amount": fmt.money(payment.amount, payment.currency),
            "status": PAYMENT_STATUS_LABELS.get(payment.status, payment.status),
            "status_key": payment.status,
        }
        for payment in payments
    ]
    return {"invoices": invoice_rows, "payments": payment_rows}


def _plan_context(session: Session, portal: Portal) -> dict[str, Any]:
    sub = portal.subscription
    options = service.plan_options(session, portal.account, sub, portal.features)
    fmt = portal.fmt
    rows = [
        {
            "product_id": option.product.id,
            "name": option.product.name,
            "period": PERIOD_LABELS.get(option.product.billing_frequency or "", ""),
            "amount": fmt.money(option.amount, sub.currency),
            "current": option.current,
            "saving": fmt.money(option.yearly_saving, sub.currency)
            if option.yearly_saving
            else None,
        }
        for option in options
    ]
    plan_change = portal.features.plan_change
    return {
        "plans": rows if any(not row["current"] for row in rows) else [],
        "plan_prorated": plan_change.proration == "prorate",
        "plan_at_period_end": plan_change.effective == "period_end",
        "period_end": fmt.date(sub.current_period_end) if sub.current_period_end else None,
    }


def _cancel_context(portal: Portal, summary: Mapping[str, Any]) -> dict[str, Any]:
    cancellation = portal.features.cancellation
    allowed = cancellation.enabled and not summary["ended"] and not summary["canceling"]
    sub = portal.subscription
    # A buyer's cancel inside a commitment stops renewal at its end, whatever the mode.
    committed = subscription_service.commitment_runs(sub, clock.account_today(portal.account))
    return {
        "can_cancel": allowed,
        "commitment_end": portal.fmt.date(sub.commitment_end) if committed else None,
        "cancel_at_period_end": cancellation.mode == "at_period_end",
        "reasons": [(reason, REASON_LABELS[reason]) for reason in cancellation.reasons],
    }


def _manage_page(
    session: Session,
    portal: Portal,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    summary = _summary(session, portal)
    context = {
        **summary,
        **_plan_context(session, portal),
        **_cancel_context(portal, summary),
        **_history(session, portal),
        "payment_method_url": _payment_method_url(session, portal),
        "form_token": hosted.form_token(session, portal.token),
        "action": f"/billing/portal/{portal.token}",
        "done": DONE_MESSAGES.get(done or ""),
        "error": error,
    }
    html = documents.render_template("portal/buyer/manage.html", portal.language, context)
    return hosted.page(html, status_code)


@router.get("/billing/portal/{token}")
def billing_settings(
    request: Request, token: str, session: Session = Depends(get_session)
) -> Response:
    try:
        portal = _open(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    context = {
        **_summary(session, portal),
        "payment_method_url": _payment_method_url(session, portal),
    }
    html = documents.render_template("portal/buyer/billing.html", portal.language, context)
    return hosted.page(html)


@router.get("/billing/portal/{token}/manage")
def manage(
    request: Request,
    token: str,
    done: str | None = None,
    session: Session = Depends(get_session),
) -> Response:
    try:
        portal = _open(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    return _manage_page(session, portal, done=done)


def _act(
    request: Request,
    session: Session,
    token: str,
    form: FormData,
    action: Any,
) -> Response:
    """Run one buyer action (a function of the portal returning the `done` key), commit, and
    go back to the portal; a refused action shows the portal again with why."""
    try:
        portal = _open(session, token)
    except hosted.BadLink as bad:
        return hosted.link_error(request, bad)
    if not hosted.form_token_valid(session, token, form):
        return _manage_page(session, portal, error=FORM_EXPIRED, status_code=403)
    try:
        done = action(portal)
    except InvalidRequest as exc:
        session.rollback()
        portal = _open(session, token)
        message = FIELD_ERRORS.get(exc.param or "", ACTION_FAILED)
        return _manage_page(session, portal, error=message, status_code=422)
    except APIError as exc:
        session.rollback()
        portal = _open(session, token)
        refused = REFUSALS.get(exc.param or "") if isinstance(exc, Conflict) else None
        message = refused or ACTION_FAILED
        return _manage_page(session, portal, error=message, status_code=409)
    session.commit()
    query = urlencode({"done": done})
    return RedirectResponse(f"/billing/portal/{token}/manage?{query}", status_code=303)


@router.post("/billing/portal/{token}/plan")
def change_plan(
    request: Request,
    token: str,
    session: Session = Depends(get_session),
    form: FormData = Depends(form_data),
) -> Response:
    def run(portal: Portal) -> str:
        product_id = text(form, "product_id") or ""
        service.change_plan(
            session, portal.account, portal.subscription.id, product_id, portal.features
        )
        return (
            "plan_scheduled"
            if portal.features.plan_change.effective == "period_end"
            else "plan_changed"
        )

    return _act(request, session, token, form, run)


@router.post("/billing/portal/{token}/cancel")
def cancel(
    request: Request,
    token: str,
    session: Session = Depends(get_session),
    form: FormData = Depends(form_data),
) -> Response:
    def run(portal: Portal) -> str:
        if not checked(form, "confirm"):
            raise InvalidRequest("Confirm to cancel", param="confirm")
        subscription = service.cancel(
            session,
            portal.account,
            portal.subscription.id,
            # The ticked boxes; a single `reason` (the older form) first.
            [r for r in (text(form, "reason"), *form.getlist("reasons")) if isinstance(r, str)],
            (text(form, "comment") or "")[:5000] or None,
            portal.features,
            plan_rules=plans.before_portal_cancel,
        )
        return "canceled" if subscription.status == SubscriptionStatus.CANCELED else "canceling"

    return _act(request, session, token, form, run)


@router.post("/billing/portal/{token}/reactivate")
def reactivate(
    request: Request,
    token: str,
    session: Session = Depends(get_session),
    form: FormData = Depends(form_data),
) -> Response:
    def run(portal: Portal) -> str:
        service.reactivate(session, portal.account, portal.subscription.id)
        return "reactivated"

    return _act(request, session, token, form, run)


# --- the merchant's side ---------------------------------------------------------------------


@router.post("/subscriptions/{subscription_id}/portal-link")
def open_portal_link(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires("subscriptions.edit")),
) -> Response:
    """A fresh portal link for the record panel's "Billing portal" button: shown to copy and
    send, as the API's portal session."""
    subscription = subscription_service.get(page.session, page.account, subscription_id)
    link = portal_link(page.session, subscription, SESSION_LIFETIME)
    page.session.commit()
    base_url = str(request.app.state.settings.base_url).rstrip("/")
    context = {
        "sub": subscription,
        "url": f"{base_url}{link.path}",
        "expires_at": link.expires_at,
    }
    return render(request, "portal/link.html", context)


SETTINGS = SECTIONS["portal"].edit


def _settings_page(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    features, updated_at = service.get_configuration(page.session, page.account)
    products = repository.recurring_products(page.session, page.account.id)
    context = {
        "features": features,
        "values": values or _values(features),
        "errors": errors or {},
        "products": [(p, labels.frequency(p.billing_frequency)) for p in products],
        "reasons": [
            (key, page.gettext(label)) for key, label in labels.CANCELLATION_REASONS.items()
        ],
        "can_edit": page.allows(SETTINGS),
        "updated_at": updated_at,
    }
    return render(request, "portal/settings.html", context, status_code=status_code)


def _values(features: PortalFeatures) -> dict[str, Any]:
    return features.model_dump()


@router.get("/settings/portal")
def portal_settings(request: Request, page: PageContext = Depends(reads("portal"))) -> Response:
    return _settings_page(request, page)


@router.post("/settings/portal")
async def save_portal_settings(
    request: Request, page: PageContext = Depends(edits("portal"))
) -> Response:
    form = await request.form()
    body = {
        "plan_change": {
            "enabled": checked(form, "plan_change.enabled"),
            "products": [str(v) for v in form.getlist("plan_change.products")],
            "billing_period_change": checked(form, "plan_change.billing_period_change"),
            "proration": text(form, "plan_change.proration"),
            "effective": text(form, "plan_change.effective"),
        },
        "cancellation": {
            "enabled": checked(form, "cancellation.enabled"),
            "mode": text(form, "cancellation.mode"),
            "refund": text(form, "cancellation.refund"),
            "reasons": [str(v) for v in form.getlist("cancellation.reasons")],
        },
        "payment_method_update": {"enabled": checked(form, "payment_method_update.enabled")},
        "invoice_history": {"enabled": checked(form, "invoice_history.enabled")},
    }
    try:
        data = build(PortalConfigurationUpdate, body)
        attempt(lambda: service.update_configuration(page.session, page.account, data))
    except FormInvalid as exc:
        page.session.rollback()
        return _settings_page(request, page, body, exc.errors, status_code=422)
    page.session.commit()
    return redirect("/settings/portal", flash=page.gettext("The portal settings were saved."))
