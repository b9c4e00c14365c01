"""The application factory: API, error handling, idempotency, and the web app."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import re
import signal
import sys
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cadency.accounts import endpoints as account_endpoints
from cadency.accounts import pages as account_pages
from cadency.accounts import service as account_service
from cadency.analytics import endpoints as analytics_endpoints
from cadency.analytics import pages as analytics_pages
from cadency.billing import endpoints as billing_endpoints
from cadency.billing import pages as billing_pages
from cadency.catalog import endpoints as catalog_endpoints
from cadency.catalog import pages as catalog_pages
from cadency.checkout import endpoints as checkout_endpoints
from cadency.checkout import pages as checkout_pages
from cadency.config import Settings, load_settings
from cadency.crm import endpoints as crm_endpoints
from cadency.crm import pages as crm_pages
from cadency.exports import endpoints as export_endpoints
from cadency.exports import pages as export_pages
from cadency.hubspot import endpoints as hubspot_endpoints
from cadency.hubspot.errors import HubSpotErrorShape
from cadency.invoices import endpoints as invoice_endpoints
from cadency.invoices import pages as invoice_pages
from cadency.kit import encryption, migrate, signing
from cadency.kit.db import make_engine, make_session_factory
from cadency.kit.errors import install_error_handlers
from cadency.kit.idempotency import IdempotencyMiddleware
from cadency.kit.middleware import (
    LimitRequestBody,
    RejectNulCharacters,
    SecurityHeaders,
    install_log_redaction,
    is_api_path,
)
from cadency.kit.schemas import ErrorResponse
from cadency.kit.throttle import API_LIMIT, ApiRateLimit, Limiter
from cadency.notifications import pages as notification_pages
from cadency.payments import endpoints as payment_endpoints
from cadency.payments import pages as payment_pages
from cadency.plans import endpoints as plan_endpoints
from cadency.plans import pages as plan_pages
from cadency.portal import endpoints as portal_endpoints
from cadency.portal import pages as portal_pages
from cadency.properties import endpoints as property_endpoints
from cadency.properties import pages as property_pages
from cadency.segments import endpoints as segment_endpoints
from cadency.segments import pages as segment_pages
from cadency.subscriptions import endpoints as subscription_endpoints
from cadency.subscriptions import pages as subscription_pages
from cadency.views import pages as view_pages
from cadency.web import pages as web_pages
from cadency.web.auth import LoginRequired
from cadency.webhooks import endpoints as webhook_endpoints
from cadency.webhooks import pages as webhook_pages
from cadency.workflows import endpoints as workflow_endpoints
from cadency.workflows import pages as workflow_pages

STATIC_DIR = Path(__file__).parent / "static"
PAGE_MODULES = (
    web_pages,
    subscription_pages,
    view_pages,
    segment_pages,
    catalog_pages,
    crm_pages,
    checkout_pages,
    property_pages,
    account_pages,
    invoice_pages,
    notification_pages,
    portal_pages,
    payment_pages,
    plan_pages,
    export_pages,
    webhook_pages,
    workflow_pages,
    analytics_pages,
    billing_pages,
)

# Pages reached by a secret link, whose token is the path segment after the prefix: the
# hosted invoice (and its PDF and pay form), the update-payment-method page, the portal, and
# the password reset.
SIGNED_LINK_PATH = re.compile(
    r"(/(?:billing/(?:invoices|update-payment-method|portal)|password-reset)/)[^/?\s\"]+"
)

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "The API key lacks a permission",
        404: "No such record",
        409: "Conflict with the record's state or an idempotency key",
        413: "The request body is too large",
        422: "A value is not acceptable; `param` names it",
        429: "Too many requests for this API key; see Retry-After",
    }.items()
}


def _account_for_token(session: Session, token: str) -> int | None:
    found = account_service.find_api_key(session, token)
    return found[1].id if found else None


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, migrate_db: bool = True
) -> FastAPI:
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    if migrate_db:
        migrate.upgrade(settings.database_url)
    session_factory = make_session_factory(engine)
    signing.ensure_secret(session_factory)
    # Secrets stored in this database (a processor's keys) are encrypted with this key.
    encryption.register(engine, settings)

    app = FastAPI(
        title="Cadency",
        version="0.1.0",
        description="Subscription management and recurring billing. Money travels as decimal "
        "strings in major units; dates as YYYY-MM-DD in the account's time zone.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.limiter = Limiter(
        engine,
        {
            "login_per_email": settings.login_limit_per_email,
            "login_per_address": settings.login_limit_per_address,
            "payment_form_per_link": settings.payment_form_limit_per_link,
            "payment_form_per_address": settings.payment_form_limit_per_address,
            "checkout_failures_per_link": settings.checkout_failure_limit_per_link,
            "checkout_failures_per_address": settings.checkout_failure_limit_per_address,
            "password_reset_per_email": settings.password_reset_limit_per_email,
            "password_reset_per_address": settings.password_reset_limit_per_address,
            API_LIMIT: settings.api_limit_per_key,
        },
    )
    install_error_handlers(app, page_errors=web_pages.render_error)
    app.add_exception_handler(LoginRequired, web_pages.login_required_response)  # type: ignore[arg-type]
    app.add_middleware(
        IdempotencyMiddleware, session_factory=session_factory, resolve_account=_account_for_token
    )
    # Each middleware added runs before the ones added earlier. Nothing with a NUL reaches
    # idempotency records or queries.
    app.add_middleware(RejectNulCharacters)
    app.add_middleware(ApiRateLimit, limiter=app.state.limiter)
    # Failures on the HubSpot-compatible paths in HubSpot's error shape, whichever layer
    # answered them (a handler, the rate limit, idempotency, the NUL guard).
    app.add_middleware(HubSpotErrorShape)
    app.add_middleware(
        SecurityHeaders,
        https_base_url=settings.base_url.startswith("https://"),
        is_signed_link=lambda path: SIGNED_LINK_PATH.match(path) is not None,
    )
    # Outermost: an oversized body is refused before anything reads or authenticates it.
    app.add_middleware(
        LimitRequestBody,
        limit_for=lambda path: (
            settings.max_api_body_bytes if is_api_path(path) else settings.max_form_body_bytes
        ),
    )
    install_log_redaction("uvicorn.access", SIGNED_LINK_PATH)

    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for module in (
        account_endpoints,
        catalog_endpoints,
        crm_endpoints,
        payment_endpoints,
        property_endpoints,
        subscription_endpoints,
        billing_endpoints,
        invoice_endpoints,
        checkout_endpoints,
        portal_endpoints,
        plan_endpoints,
        segment_endpoints,
        export_endpoints,
        webhook_endpoints,
        workflow_endpoints,
        analytics_endpoints,
    ):
        api.include_router(module.router)
    app.include_router(api)
    # The HubSpot CRM v3-compatible surface (/crm/v3/objects/...), with the same API keys.
    app.include_router(hubspot_endpoints.router)
    # Called by the payment processor, outside the API (no key) and the pages (no CSRF token).
    app.include_router(payment_endpoints.public_router)

    # The web app: pages of every business package, then the static files.
    for pages in PAGE_MODULES:
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def serving_app() -> FastAPI:
    """The app of one of `cadency serve --workers N`'s processes, configured by the
    environment (CADENCY_*): the main process migrated the database and made the installation's
    secrets before starting it."""
    _stop_with_supervisor()
    return create_app(load_settings(), migrate_db=False)


def _stop_with_supervisor() -> None:
    """Ask Linux to send this serving process SIGTERM (a graceful stop) when its supervisor
    dies, even by SIGKILL, which the supervisor cannot pass on: an orphan would go on serving
    on the port, unsupervised, and keep a restarted server from binding it."""
    supervisor = multiprocessing.parent_process()
    if supervisor is None or not sys.platform.startswith("linux"):
        return  # not spawned by uvicorn's supervisor, or no prctl
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != supervisor.pid:  # it died before the request took effect
        raise SystemExit("the supervisor of this serving process is gone")
