from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from cadency.accounts.auth import ApiContext, requires
from cadency.accounts.models import Account
from cadency.billing import processor_events
from cadency.kit import clock
from cadency.kit.db import begin_write
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.repository import get_owned
from cadency.kit.schemas import ListResponse, MoneyStr, StrictModel
from cadency.payments import processor_settings, service, stripe_adapter
from cadency.payments.adapter import ProcessorUnavailable
from cadency.payments.models import Payment, StripeEvent
from cadency.payments.processor_settings import ProcessorConfig
from cadency.payments.schemas import (
    PaymentMethodCreate,
    PaymentMethodOut,
    PaymentOut,
    ProcessorSettingsOut,
    ProcessorSettingsUpdate,
    StripeSettingsOut,
)

log = logging.getLogger("cadency.payments.stripe")

router = APIRouter(tags=["payments"])
# Called by Stripe, not by API clients: no API key, no CSRF token; the signature is the check.
public_router = APIRouter(include_in_schema=False)
# Reading records needs subscriptions.view, as on the pages: a key scoped to something else
# (billing.edit, say) does not see the account's contacts or catalog.
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"


@router.post("/contacts/{contact_id}/payment-methods", response_model=PaymentMethodOut)
def attach_payment_method(
    contact_id: str, body: PaymentMethodCreate, ctx: ApiContext = Depends(requires(EDIT))
) -> PaymentMethodOut:
    method = service.attach_payment_method(ctx.session, ctx.account, contact_id, body)
    ctx.session.commit()
    return PaymentMethodOut.of(method)


@router.get("/contacts/{contact_id}/payment-methods", response_model=ListResponse[PaymentMethodOut])
def list_payment_methods(
    contact_id: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[PaymentMethodOut]:
    rows, has_more, next_cursor = service.list_payment_methods(
        ctx.session, ctx.account, contact_id, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[PaymentMethodOut.of(m) for m in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/payment-methods/{payment_method_id}", response_model=PaymentMethodOut)
def get_payment_method(
    payment_method_id: str, ctx: ApiContext = Depends(requires(VIEW))
) -> PaymentMethodOut:
    return PaymentMethodOut.of(
        service.get_payment_method(ctx.session, ctx.account, payment_method_id)
    )


@router.get("/payments", response_model=ListResponse[PaymentOut])
def list_payments(
    ctx: ApiContext = Depends(requires("subscriptions.view")),
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    invoice_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[PaymentOut]:
    rows, has_more, next_cursor = service.list_payments(
        ctx.session,
        ctx.account,
        subscription_id=subscription_id,
        invoice_id=invoice_id,
        limit=limit,
        cursor=cursor,
    )
    return ListResponse(
        data=[PaymentOut.of(p) for p in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/payments/{payment_id}", response_model=PaymentOut)
def get_payment(
    payment_id: str, ctx: ApiContext = Depends(requires("subscriptions.view"))
) -> PaymentOut:
    return PaymentOut.of(get_owned(ctx.session, Payment, ctx.account.id, payment_id, "payment"))


class RefundRequest(StrictModel):
    amount: MoneyStr | None = None


@router.post("/payments/{payment_id}/refund", response_model=PaymentOut)
def refund_payment(
    payment_id: str,
    body: RefundRequest | None = None,
    ctx: ApiContext = Depends(requires("subscriptions.edit")),
) -> PaymentOut:
    """Refund part of a payment (`amount`) or all that is not refunded yet."""
    payment = service.refund(ctx.session, ctx.account, payment_id, body.amount if body else None)
    ctx.session.commit()
    return PaymentOut.of(payment)


# --- the account's payment processor ---------------------------------------------------------

# The same permission as the account settings: the processor goes with the account's billing.
PROCESSOR_SETTINGS = "billing.edit"


def stripe_webhook_url(base_url: str, account_id: int) -> str:
    return f"{base_url.rstrip('/')}/webhooks/stripe/{account_id}"


def present_processor(
    account: Account, config: ProcessorConfig | None, base_url: str
) -> ProcessorSettingsOut:
    """The settings as GET answers them: secrets never, only the secret key's last four."""
    mode = "live" if account.mode == "live" else "test"
    return ProcessorSettingsOut(
        processor=processor_settings.processor_name(account, config),
        stripe=StripeSettingsOut(
            publishable_key=config.publishable_key if config else None,
            secret_key=processor_settings.masked(config.secret_key_last4, mode) if config else None,
            webhook_secret=processor_settings.MASKED_WEBHOOK_SECRET
            if config and config.webhook_secret_encrypted
            else None,
            api_base=config.api_base if config else None,
            webhook_url=stripe_webhook_url(base_url, account.id),
        ),
    )


@router.get(
    "/account/processor",
    response_model=ProcessorSettingsOut,
    tags=["account"],
    description="Which payment processor serves the account: the sandbox (test mode) or "
    "Stripe, with its keys. The secret key is answered as its mode and last four characters "
    "only; the webhook secret never. Needs `billing.edit`.",
)
def get_processor(
    request: Request, ctx: ApiContext = Depends(requires(PROCESSOR_SETTINGS))
) -> ProcessorSettingsOut:
    config = processor_settings.config_of(ctx.account)
    return present_processor(ctx.account, config, request.app.state.settings.base_url)


@router.patch(
    "/account/processor",
    response_model=ProcessorSettingsOut,
    tags=["account"],
    description="Switch the account between the sandbox and Stripe and set Stripe's keys "
    "(a test-mode account takes `sk_test_`/`pk_test_` keys only, a live one `sk_live_`/"
    "`pk_live_`). A new secret key is checked with Stripe before it is saved. Needs "
    "`billing.edit`.",
)
def update_processor(
    body: ProcessorSettingsUpdate,
    request: Request,
    ctx: ApiContext = Depends(requires(PROCESSOR_SETTINGS)),
) -> ProcessorSettingsOut:
    config = processor_settings.update(ctx.session, ctx.account, body)
    ctx.session.commit()
    return present_processor(ctx.account, config, request.app.state.settings.base_url)


# --- Stripe's webhook --------------------------------------------------------------------------

# How long a webhook that overtook the commit of the charge it tells of waits for it.
WEBHOOK_WAIT_ATTEMPTS = 10
WEBHOOK_WAIT_SECONDS = 0.5


@public_router.post("/webhooks/stripe/{account_id}")
async def stripe_webhook(
    # Account IDs are 64-bit: a larger number names no account (and must not reach the driver).
    account_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
) -> JSONResponse:
    """Stripe's events for one account: verified with the account's webhook secret,
    deduplicated by event ID, applied through billing's processor events."""
    payload = await request.body()
    signature = request.headers.get("stripe-signature")
    status, body = await run_in_threadpool(
        _handle_stripe_event, request.app.state.session_factory, account_id, payload, signature
    )
    return JSONResponse(body, status_code=status)


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": error_type, "message": message}}


def _handle_stripe_event(
    session_factory: Any, account_id: int, payload: bytes, signature: str | None
) -> tuple[int, dict[str, Any]]:
    for _ in range(WEBHOOK_WAIT_ATTEMPTS):
        with session_factory() as session:
            account = session.get(Account, account_id)
            config = processor_settings.stored(session, account_id) if account else None
            secret = config.webhook_secret() if config else None
            keys = config.stripe_keys() if config else None
            if account is None or config is None or secret is None or keys is None:
                return _error(404, "not_found", "No account here takes Stripe events")
            try:
                event = stripe_adapter.verify_event(payload, signature, secret)
            except ValueError as exc:
                return _error(400, "invalid_signature", str(exc))
            session.rollback()
            begin_write(session)
            if session.get(StripeEvent, (account.id, str(event["id"]))) is not None:
                return 200, {"received": True, "duplicate": True}
            adapter = stripe_adapter.StripeAdapter(keys, test_mode=account.mode == "test")
            try:
                outcomes = adapter.outcomes(session, account, event)
                processor_events.apply(
                    session, account, stripe_adapter.PROCESSOR, outcomes, clock.account_now(account)
                )
            except processor_events.NotYetRecorded:
                session.rollback()
                time.sleep(WEBHOOK_WAIT_SECONDS)
                continue
            except ProcessorUnavailable as exc:  # asking Stripe about the event failed
                session.rollback()
                return _error(503, exc.error_type, exc.message)
            session.add(
                StripeEvent(
                    account_id=account.id,
                    event_id=str(event["id"]),
                    type=str(event["type"])[:64],
                    received_at=clock.real_now(),
                )
            )
            try:
                session.commit()
            except IntegrityError:  # the same event, delivered twice at once
                session.rollback()
                return 200, {"received": True, "duplicate": True}
            return 200, {"received": True}
    log.info("Stripe event for account %s names a payment not recorded yet", account_id)
    return _error(
        503, "not_ready", "The payment this event tells of is not recorded yet; retry later"
    )
