"""Settings → Payment processor: the sandbox or Stripe, and Stripe's keys, through the same
service and checks as PATCH /account/processor. Secrets are never put back into the form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.payments import processor_settings
from cadency.payments.endpoints import present_processor
from cadency.payments.schemas import ProcessorSettingsUpdate
from cadency.web.auth import PageContext
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, form_data, text
from cadency.web.sections import SECTIONS, edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

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
