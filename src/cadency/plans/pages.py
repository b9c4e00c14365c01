"""Account & billing (SPEC §9): the account's own plan as its billing settings page: the plan,
its billing period, status and next billing date; paid seats; the buttons into the operator's
billing portal for this plan (upgrade, yearly billing, payment method, invoices, cancel
renewal); and deleting a free account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.kit.errors import APIError
from cadency.plans import service
from cadency.plans.limits import CurrentPlan, current_plan
from cadency.portal.links import SESSION_LIFETIME, portal_link
from cadency.subscriptions.display import badge
from cadency.subscriptions.models import SubscriptionStatus
from cadency.web.auth import SESSION_COOKIE, PageContext
from cadency.web.forms import form_data
from cadency.web.sections import SECTIONS, edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
EDIT = SECTIONS["billing"].edit


def _context(page: PageContext, current: CurrentPlan | None) -> dict[str, Any]:
    session, account = page.session, page.account
    context: dict[str, Any] = {
        "current": current,
        "can_edit": page.allows(EDIT),
        "self_service": account.kind in service.SELF_SERVICE_KINDS,
        "users": account_service.list_users(session, account.id),
        "holders": {user.id for user in service.seat_holders(session, account)},
        "operator": account.operator,
        "error": None,
        "deletion_blocker": service.deletion_blocker(account, current),
        "typed_id": "",
    }
    if current is None:
        return context
    sub = current.subscription
    operator = session.get(Account, current.plan.operator_account_id)
    assert operator is not None
    key, label = badge(sub) if sub else ("active", "Active")
    context.update(
        {
            "badge_key": key,
            "badge_label": label,
            "yearly": current.yearly,
            "trial_end": sub.trial_end
            if sub and sub.status == SubscriptionStatus.TRIALING
            else None,
            "next_billing_date": sub.next_payment_date
            if sub and key not in ("canceling", "canceled", "expired")
            else None,
            "next_amount": sub.next_payment_amount if sub else None,
            "currency": sub.currency if sub else operator.currency,
            "ends_on": (sub.cancel_at or sub.current_period_end)
            if sub and key == "canceling"
            else None,
            "past_due": bool(sub and sub.status == SubscriptionStatus.UNPAID),
            "cancel_blocker": service.cancel_blocker(session, account),
            "plans": service.plans_for_sale(session, current.plan.operator_account_id),
        }
    )
    return context


def _page(request: Request, page: PageContext, status_code: int = 200, **extra: Any) -> Response:
    current = current_plan(page.session, page.account)
    context = {**_context(page, current), **extra}
    return render(request, "plans/billing.html", context, status_code=status_code)


@router.get("/settings/billing")
def account_and_billing(
    request: Request, page: PageContext = Depends(reads("billing"))
) -> Response:
    return _page(request, page)


@router.post("/settings/billing/portal")
def open_portal(request: Request, page: PageContext = Depends(edits("billing"))) -> Response:
    """Into the operator's billing portal for this account's plan (a fresh signed link)."""
    current = current_plan(page.session, page.account)
    if current is None or current.subscription is None:
        return _page(
            request,
            page,
            status_code=409,
            error=page.gettext("This account has no paid plan to manage."),
        )
    # The configured address, not the request's Host header: the link outlives this request.
    back = f"{str(request.app.state.settings.base_url).rstrip('/')}/settings/billing"
    link = portal_link(page.session, current.subscription, SESSION_LIFETIME, back)
    page.session.commit()
    return RedirectResponse(f"{link.path}/manage", status_code=303)


@router.post("/settings/billing/seats")
def assign_seat(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("billing")),
) -> Response:
    return _seat_action(request, page, form, assign=True)


@router.post("/settings/billing/seats/remove")
def unassign_seat(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("billing")),
) -> Response:
    return _seat_action(request, page, form, assign=False)


@router.post("/settings/billing/end-trial")
def end_trial(request: Request, page: PageContext = Depends(edits("billing"))) -> Response:
    try:
        service.end_trial(page.session, page.account)
    except APIError as exc:
        page.session.rollback()
        return _page(request, page, status_code=exc.status_code, error=exc.message)
    page.session.commit()
    return redirect("/settings/billing", flash=page.gettext("The trial has ended."))


@router.post("/settings/billing/delete")
def delete_account(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("billing")),
) -> Response:
    """Delete a free account for good, once its ID is typed (SPEC §9); everyone is signed out,
    as their users and sessions are gone with it."""
    typed = form.get("account_id")
    account_id = page.account.id
    try:
        service.delete_free_account(
            page.session, page.account, typed if isinstance(typed, str) else ""
        )
    except APIError as exc:
        page.session.rollback()
        # In the reader's language: the confirmation typed wrong, or an account that is not
        # free (the page says so beforehand; a stale page may still post).
        error = (
            page.gettext("Type the account ID, %(id)s, to confirm") % {"id": account_id}
            if exc.param == "account_id"
            else page.gettext(
                "Only a free account can be deleted. Cancel the renewal of the plan first; once "
                "the account is on the Free plan, it can be deleted."
            )
        )
        return _page(request, page, status_code=exc.status_code, error=error, typed_id=typed)
    page.session.commit()
    response = redirect(
        "/login", flash=page.gettext("Account %(id)s was deleted.") % {"id": account_id}
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _seat_action(request: Request, page: PageContext, form: FormData, *, assign: bool) -> Response:
    raw = form.get("user_id")
    user_id = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else 0
    try:
        if assign:
            service.assign_seat(page.session, page.account, user_id)
        else:
            service.unassign_seat(page.session, page.account, user_id)
    except APIError as exc:
        page.session.rollback()
        return _page(request, page, status_code=exc.status_code, error=exc.message)
    page.session.commit()
    done = (
        page.gettext("The paid seat was assigned.")
        if assign
        else page.gettext("The paid seat was unassigned.")
    )
    return redirect("/settings/billing", flash=done)
