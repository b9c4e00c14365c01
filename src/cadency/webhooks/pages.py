"""Settings → Webhooks: the account's endpoints, each with its delivery log (super admins; the
same rules as the API's /webhook-endpoints).

Routes: GET /settings/webhooks (the endpoints), GET/POST /settings/webhooks/new (add one; the
signing secret is shown on the answer page only), GET /settings/webhooks/{id} (its settings,
actions and latest deliveries), POST /settings/webhooks/{id}/test | enable | disable |
roll-secret | delete, POST /settings/webhooks/deliveries/{id}/retry ("Send again").
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import FormData

from cadency.config import Settings
from cadency.kit import clock
from cadency.kit.events import PUBLIC_EVENT_TYPES, EventType
from cadency.kit.i18n import N_
from cadency.web.auth import PageContext
from cadency.web.forms import FormInvalid, attempt, form_data, text
from cadency.web.sections import edits, reads
from cadency.web.templating import redirect, render
from cadency.webhooks import service
from cadency.webhooks.models import Event, WebhookEndpoint

router = APIRouter(include_in_schema=False)
SECTION = "webhooks"
LOG_SIZE = 50  # deliveries shown on an endpoint's page, newest first

ENDPOINT_STATUSES = {"enabled": N_("Enabled"), "disabled": N_("Disabled")}
DELIVERY_STATUSES = {
    "pending": N_("Pending"),
    "retrying": N_("Retrying"),
    "succeeded": N_("Succeeded"),
    "failed": N_("Failed"),
}
# The types an endpoint can choose, as integrations name them (not translated).
EVENT_TYPES = sorted(PUBLIC_EVENT_TYPES - {EventType.PING})
HEADERS = {"Cache-Control": "no-store"}  # pages that show a secret


def _allow_private(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.webhook_allow_private


def _chosen(form: FormData) -> list[str]:
    if form.get("all_events"):
        return [service.ALL_EVENTS]
    return [v for v in form.getlist("enabled_events") if isinstance(v, str)]


@router.get("/settings/webhooks")
def endpoints(request: Request, page: PageContext = Depends(reads(SECTION))) -> Response:
    rows = service.list_endpoints(page.session, page.account.id)
    context = {"endpoints": rows, "statuses": ENDPOINT_STATUSES}
    return render(request, "webhooks/endpoints.html", context)


@router.get("/settings/webhooks/new")
def new_endpoint(request: Request, page: PageContext = Depends(edits(SECTION))) -> Response:
    values = {"url": "", "description": "", "all_events": True, "enabled_events": []}
    return _form(request, values, {})


def _form(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    endpoint: WebhookEndpoint | None = None,
) -> Response:
    """The form that adds an endpoint, or (with `endpoint`) changes one."""
    context = {
        "values": values,
        "errors": errors,
        "event_types": EVENT_TYPES,
        "endpoint": endpoint,
    }
    return render(request, "webhooks/endpoint_form.html", context, status_code=status_code)


def _values(form: FormData) -> dict[str, Any]:
    chosen = _chosen(form)
    return {
        "url": text(form, "url") or "",
        "description": text(form, "description") or "",
        "all_events": chosen == [service.ALL_EVENTS],
        "enabled_events": chosen,
    }


def _required(page: PageContext, values: dict[str, Any]) -> None:
    if not values["url"]:
        raise FormInvalid({"url": page.gettext("This field is required.")})
    if not values["enabled_events"]:
        raise FormInvalid({"enabled_events": page.gettext("Choose at least one event.")})


def _shown(errors: dict[str, str]) -> dict[str, str]:
    # "enabled_events.2" names the field the form shows as "enabled_events".
    return {k.split(".")[0]: v for k, v in errors.items()}


@router.post("/settings/webhooks/new")
def create_endpoint(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits(SECTION)),
) -> Response:
    values = _values(form)
    try:
        _required(page, values)
        endpoint = attempt(
            lambda: service.create_endpoint(
                page.session,
                page.account,
                url=values["url"],
                enabled_events=values["enabled_events"],
                description=values["description"] or None,
                allow_private=_allow_private(request),
                now=clock.real_now(),
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        return _form(request, values, _shown(invalid.errors), status_code=422)
    secret = service.secret(page.session, endpoint)
    page.session.commit()
    # The secret is on this page only (not in a redirect, a cookie or a log): shown once.
    context = {"endpoint": endpoint, "secret": secret, "rolled": False}
    return render(request, "webhooks/secret.html", context, headers=HEADERS)


@router.get("/settings/webhooks/{endpoint_id}/edit")
def edit_endpoint(
    request: Request, endpoint_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    endpoint = _endpoint(page, endpoint_id)
    chosen = list(endpoint.enabled_events or [])
    values = {
        "url": endpoint.url,
        "description": endpoint.description or "",
        "all_events": service.ALL_EVENTS in chosen,
        "enabled_events": chosen,
    }
    return _form(request, values, {}, endpoint=endpoint)


@router.post("/settings/webhooks/{endpoint_id}/edit")
def save_endpoint(
    request: Request,
    endpoint_id: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits(SECTION)),
) -> Response:
    endpoint = _endpoint(page, endpoint_id)
    values = _values(form)
    try:
        _required(page, values)
        attempt(
            lambda: service.update_endpoint(
                page.session,
                endpoint,
                {
                    "url": values["url"],
                    "description": values["description"] or None,
                    "enabled_events": values["enabled_events"],
                },
                allow_private=_allow_private(request),
                now=clock.real_now(),
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        return _form(request, values, _shown(invalid.errors), 422, endpoint=endpoint)
    page.session.commit()
    flash = page.gettext("The endpoint was saved.")
    return redirect(f"/settings/webhooks/{endpoint.id}", flash=flash)


@router.get("/settings/webhooks/{endpoint_id}")
def endpoint_page(
    request: Request, endpoint_id: str, page: PageContext = Depends(reads(SECTION))
) -> Response:
    endpoint = service.get_endpoint(page.session, page.account.id, endpoint_id)
    rows, more, _cursor = service.list_deliveries(
        page.session, endpoint, limit=LOG_SIZE, cursor=None
    )
    # What each delivery sent: its event, as the request's body shows it.
    bodies = {
        e.id: json.dumps(service.event_body(e), indent=2, ensure_ascii=False)
        for e in page.session.scalars(select(Event).where(Event.id.in_({d.event_id for d in rows})))
    }
    context = {
        "endpoint": endpoint,
        "deliveries": rows,
        "bodies": bodies,
        "more": more,
        "statuses": ENDPOINT_STATUSES,
        "delivery_statuses": DELIVERY_STATUSES,
        "timezone": page.account.timezone,
    }
    return render(request, "webhooks/endpoint.html", context)


def _endpoint(page: PageContext, endpoint_id: str) -> WebhookEndpoint:
    return service.get_endpoint(page.session, page.account.id, endpoint_id)


@router.post("/settings/webhooks/{endpoint_id}/test")
def send_test_event(endpoint_id: str, page: PageContext = Depends(edits(SECTION))) -> Response:
    endpoint = _endpoint(page, endpoint_id)
    service.send_test_event(page.session, page.account, endpoint, clock.account_now(page.account))
    page.session.commit()
    message = page.gettext("A test event is on its way; its delivery shows below.")
    return redirect(f"/settings/webhooks/{endpoint.id}", flash=message)


def _set_status(request: Request, page: PageContext, endpoint_id: str, status: str) -> Response:
    endpoint = _endpoint(page, endpoint_id)
    service.update_endpoint(
        page.session,
        endpoint,
        {"status": status},
        allow_private=_allow_private(request),
        now=clock.real_now(),
    )
    page.session.commit()
    _ = page.gettext
    flash = (
        _("The endpoint was enabled.") if status == "enabled" else _("The endpoint was disabled.")
    )
    return redirect(f"/settings/webhooks/{endpoint.id}", flash=flash)


@router.post("/settings/webhooks/{endpoint_id}/enable")
def enable_endpoint(
    request: Request, endpoint_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    return _set_status(request, page, endpoint_id, "enabled")


@router.post("/settings/webhooks/{endpoint_id}/disable")
def disable_endpoint(
    request: Request, endpoint_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    return _set_status(request, page, endpoint_id, "disabled")


@router.post("/settings/webhooks/{endpoint_id}/roll-secret")
def roll_secret(
    request: Request, endpoint_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    endpoint = _endpoint(page, endpoint_id)
    secret = service.roll_secret(page.session, endpoint, clock.real_now())
    page.session.commit()
    context = {"endpoint": endpoint, "secret": secret, "rolled": True}
    return render(request, "webhooks/secret.html", context, headers=HEADERS)


@router.post("/settings/webhooks/{endpoint_id}/delete")
def delete_endpoint(endpoint_id: str, page: PageContext = Depends(edits(SECTION))) -> Response:
    service.delete_endpoint(page.session, _endpoint(page, endpoint_id))
    page.session.commit()
    return redirect("/settings/webhooks", flash=page.gettext("The endpoint was deleted."))


@router.post("/settings/webhooks/deliveries/{delivery_id}/retry")
def retry_delivery(delivery_id: str, page: PageContext = Depends(edits(SECTION))) -> Response:
    delivery = service.get_delivery(page.session, page.account.id, delivery_id)
    service.retry_delivery(page.session, delivery, clock.account_now(page.account))
    page.session.commit()
    message = page.gettext("The event is sent again; its delivery shows below.")
    return redirect(f"/settings/webhooks/{delivery.endpoint_id}", flash=message)
