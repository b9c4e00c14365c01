"""Public events and webhooks (API.md "Webhooks", SPEC §8).

Three steps, each the worker's, each in short transactions of its own:

1. `publish`: outbox messages of a public type (kit.events.PUBLIC_EVENT_TYPES) become events —
   same ID, type and time, and the object they are about as the API shows it when published
   (sensitive custom properties masked: a webhook leaves the installation) — and one delivery
   per enabled endpoint of the account that wants the type. The outbox row is then marked
   published; a second publisher finds nothing left to do, and the deliveries' unique (endpoint,
   event) keeps each pair once.
2. `deliver_due`: deliveries whose attempt is due by their account's clock (test clocks too)
   are leased, sent outside any transaction by a bounded pool of threads, and their outcome
   recorded. A `2xx` within `TIMEOUT` succeeds; anything else is tried again after
   `RETRY_DELAYS`, then the delivery fails. An endpoint all of whose attempts failed for
   `DISABLE_AFTER` is disabled (the account's super admins are emailed through the outbox).
3. Housekeeping deletes events past `KEEP_EVENTS` with their deliveries.

Requests are signed the Standard Webhooks way: headers `webhook-id` (the event ID),
`webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, keyed with the endpoint's secret. That secret is not stored: it is
derived from the installation secret, the endpoint and the secret's generation; for a day after
a roll the previous generation signs too (two signatures, space-separated).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.accounts.service import due_by_own_clock
from cadency.exports.models import Export
from cadency.exports.schemas import ExportOut
from cadency.invoices.links import hosted_invoice_url
from cadency.invoices.models import Invoice
from cadency.invoices.schemas import InvoiceOut
from cadency.kit import clock, outbox, periods, signing
from cadency.kit.db import begin_write
from cadency.kit.errors import InvalidRequest
from cadency.kit.events import PUBLIC_EVENT_TYPES, EventType
from cadency.kit.i18n import N_, Message
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.payments.models import Payment
from cadency.payments.schemas import PaymentOut
from cadency.properties import service as properties
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.schemas import SubscriptionOut
from cadency.webhooks.models import Event, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("cadency.webhooks")

ALL_EVENTS = "*"
# After the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about three days).
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS)
TIMEOUT = 15.0  # seconds for the whole request, receiving included
RESPONSE_KEPT = 2048  # characters of the answer kept in the delivery log
RESPONSE_READ = 64 * 1024  # bytes read of an answer at most (a 10 MB answer is cut off)
DISABLE_AFTER = timedelta(days=3)
PREVIOUS_SECRET_FOR = timedelta(hours=24)
KEEP_EVENTS = timedelta(days=30)
LEASE = timedelta(seconds=60)  # longer than a request may take
SENDERS = 16  # requests in flight at once, per worker
BATCH = 200
SECRET_PURPOSE = "webhook-endpoint-secret"
# Why an endpoint is disabled (stored in English, translated where shown).
DISABLED_BY_USER = N_("Disabled by a user")
DISABLED_FAILING = N_("Every delivery failed for 3 days")
MAX_ENDPOINTS = 16  # per account, as Stripe allows
MAX_URL = 2048  # characters, as the column holds
MAX_DESCRIPTION = 500


# --- endpoints -----------------------------------------------------------------------------------


def check_url(url: str, *, allow_private: bool) -> str:
    """A receiver's URL as given, or InvalidRequest: http(s) only, and a host that resolves to
    public addresses unless the operator allowed private ones (CADENCY_WEBHOOK_ALLOW_PRIVATE)."""
    if len(url) > MAX_URL:
        raise InvalidRequest(
            "The URL is at most %(max_url)s characters long", max_url=MAX_URL, param="url"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequest("The URL cannot be read", param="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            "The URL must start with http:// or https:// and name a host", param="url"
        )
    if parts.username or parts.password:
        raise InvalidRequest("The URL must not carry a user name or password", param="url")
    problem = _refused_host(parts.hostname, port, allow_private)
    if problem:
        raise InvalidRequest(problem, param="url")
    return url


def _refused_host(host: str, port: int | None, allow_private: bool) -> str | None:
    """Why a request to `host` is refused, or None: it does not resolve, or (unless allowed)
    one of its addresses is loopback, private, link-local or otherwise not public."""
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return Message(N_("The host '%(host)s' cannot be resolved"), host=host)
    if allow_private:
        return None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            return Message(
                N_(
                    "The host '%(host)s' resolves to a private or local address (%(ip)s); "
                    "webhooks go to public addresses only"
                ),
                host=host,
                ip=str(ip),
            )
    return None


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(
            "The description is at most %(max_description)s characters long",
            max_description=MAX_DESCRIPTION,
            param="description",
        )
    return description


def check_event_types(types: Sequence[str]) -> list[str]:
    """The event types an endpoint wants: "*" or known public types (422 naming one that is not)."""
    if not types:
        raise InvalidRequest(
            "Choose at least one event type, or '*' for all", param="enabled_events"
        )
    chosen = list(dict.fromkeys(types))
    if ALL_EVENTS in chosen:
        if len(chosen) > 1:
            raise InvalidRequest("'*' already means every event type", param="enabled_events")
        return chosen
    for i, name in enumerate(chosen):
        if name not in PUBLIC_EVENT_TYPES or name == EventType.PING:
            raise InvalidRequest(
                "Unknown event type '%(name)s'", name=name, param=f"enabled_events.{i}"
            )
    return chosen


def secret(session: Session, endpoint: WebhookEndpoint, generation: int | None = None) -> str:
    """The endpoint's signing secret: `whsec_` and the base64 of 32 bytes derived from the
    installation secret (the same each time; never stored)."""
    number = endpoint.secret_generation if generation is None else generation
    key = signing.derived_key(session, SECRET_PURPOSE, f"{endpoint.id}:{number}")
    return "whsec_" + base64.b64encode(key).decode()


def create_endpoint(
    session: Session,
    account: Account,
    *,
    url: str,
    enabled_events: Sequence[str],
    description: str | None,
    allow_private: bool,
    now: datetime,
) -> WebhookEndpoint:
    count = session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == account.id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise InvalidRequest(
            "An account has at most %(max_endpoints)s webhook endpoints",
            max_endpoints=MAX_ENDPOINTS,
        )
    # The event types first: naming a wrong one needs no look-up of the host.
    events = check_event_types(enabled_events)
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        account_id=account.id,
        url=check_url(url, allow_private=allow_private),
        description=check_description(description),
        enabled_events=events,
        status="enabled",
        secret_generation=1,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(session: Session, account_id: int, endpoint_id: str) -> WebhookEndpoint:
    return get_owned(session, WebhookEndpoint, account_id, endpoint_id, "webhook endpoint")


def list_endpoints(session: Session, account_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.account_id == account_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def update_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    changes: dict[str, Any],
    *,
    allow_private: bool,
    now: datetime,
) -> WebhookEndpoint:
    """Change what was sent of url, description, enabled_events and status."""
    for name in ("url", "enabled_events", "status"):
        if name in changes and changes[name] is None:
            raise InvalidRequest("'%(name)s' cannot be null", name=name, param=name)
    if "url" in changes:
        endpoint.url = check_url(changes["url"], allow_private=allow_private)
    if "description" in changes:
        endpoint.description = check_description(changes["description"])
    if "enabled_events" in changes:
        endpoint.enabled_events = check_event_types(changes["enabled_events"])
    if "status" in changes and changes["status"] != endpoint.status:
        endpoint.status = changes["status"]
        if endpoint.status == "enabled":
            # A fresh start: three more days before failures disable it again.
            endpoint.failing_since = None
            endpoint.disabled_reason = None
        else:
            endpoint.disabled_reason = DISABLED_BY_USER
    endpoint.updated_at = now
    session.flush()
    return endpoint


def roll_secret(session: Session, endpoint: WebhookEndpoint, now: datetime) -> str:
    """A new secret; the previous one goes on signing for `PREVIOUS_SECRET_FOR` (real time,
    `now`: receivers check signatures on their clocks, not on a test clock)."""
    endpoint.secret_generation += 1
    endpoint.previous_secret_until = now + PREVIOUS_SECRET_FOR
    endpoint.updated_at = now
    session.flush()
    return secret(session, endpoint)


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()


def list_deliveries(
    session: Session, endpoint: WebhookEndpoint, *, limit: int, cursor: str | None
) -> tuple[Sequence[WebhookDelivery], bool, str | None]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    return paginate(session, query, WebhookDelivery.id, limit=limit, cursor=cursor)


def get_delivery(session: Session, account_id: int, delivery_id: str) -> WebhookDelivery:
    return get_owned(session, WebhookDelivery, account_id, delivery_id, "webhook delivery")


def retry_delivery(session: Session, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Send a delivery again now, whatever became of it (a succeeded one too: "Send again"). It
    gets a full set of attempts."""
    delivery.status = "pending"
    delivery.attempt = 0
    delivery.next_attempt_at = now
    delivery.lease_until = None
    session.flush()
    return delivery


def send_test_event(
    session: Session, account: Account, endpoint: WebhookEndpoint, now: datetime
) -> WebhookDelivery:
    """A `ping` event for this endpoint alone, delivered like any other."""
    event = Event(
        id=new_id("evt"),
        account_id=account.id,
        type=EventType.PING,
        data={"object": {"object": "webhook_endpoint", "id": endpoint.id, "url": endpoint.url}},
        created_at=now,
    )
    session.add(event)
    session.flush()
    return _delivery(session, event, endpoint, now)


def _delivery(
    session: Session, event: Event, endpoint: WebhookEndpoint, now: datetime
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=new_id("whd"),
        account_id=event.account_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=event.type,
        status="pending",
        attempt=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


# --- events ---------------------------------------------------------------------------------


def get_event(session: Session, account_id: int, event_id: str) -> Event:
    return get_owned(session, Event, account_id, event_id, "event")


def list_events(
    session: Session,
    account_id: int,
    *,
    type: str | None,
    created_gte: datetime | None,
    created_lt: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Event], bool, str | None]:
    query = select(Event).where(Event.account_id == account_id)
    if type is not None:
        query = query.where(Event.type == type)
    if created_gte is not None:
        query = query.where(Event.created_at >= created_gte)
    if created_lt is not None:
        query = query.where(Event.created_at < created_lt)
    return paginate(session, query, Event.id, limit=limit, cursor=cursor)


def event_body(event: Event) -> dict[str, Any]:
    """An event as `GET /events` lists it and a webhook receives it."""
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created_at": _timestamp(event.created_at),
        "data": event.data,
    }


def _timestamp(moment: datetime) -> str:
    return properties.format_timestamp(moment)


@dataclass(frozen=True)
class Links:
    """Where links in event objects point (the configured base URL)."""

    base_url: str
    settings: Any  # cadency.config.Settings, for the hosted invoice link


def publish(session: Session, links: Links, *, limit: int = BATCH) -> int:
    """Make the next unpublished outbox messages public events and hand them to the endpoints
    that want them; returns how many messages were taken. Commits."""
    # A read first: the lane passes every second and should not take SQLite's write lock each
    # time to find nothing.
    waiting = select(OutboxMessage.id).where(OutboxMessage.published_at.is_(None)).limit(1)
    if session.scalar(waiting) is None:
        return 0
    session.rollback()
    begin_write(session)
    messages = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not messages:
        return 0
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    accounts = {m.account_id for m in messages}
    for endpoint in session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.account_id.in_(accounts), WebhookEndpoint.status == "enabled"
        )
    ):
        endpoints.setdefault(endpoint.account_id, []).append(endpoint)
    published = clock.real_now()
    for message in messages:
        message.published_at = published
        if message.type not in PUBLIC_EVENT_TYPES or session.get(Event, message.id) is not None:
            continue
        event = Event(
            id=message.id,
            account_id=message.account_id,
            type=message.type,
            data=_data(session, links, message),
            created_at=message.created_at,
        )
        session.add(event)
        for endpoint in endpoints.get(message.account_id, []):
            if wants(endpoint, message.type):
                _delivery(session, event, endpoint, message.created_at)
    session.commit()
    return len(messages)


def run(
    session_factory: Callable[[], Session],
    links: Links,
    *,
    allow_private: bool,
    account_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """A worker's pass: publish everything the outbox holds, then send the deliveries due (of
    one account, or all). Returns the attempts made. `now`: the instant of one account's
    clock to send what is due by (a clock advance passes where it moved the clock to)."""
    while True:
        with session_factory() as session:
            if not publish(session, links):
                break
    return deliver_due(session_factory, allow_private=allow_private, account_id=account_id, now=now)


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    chosen = endpoint.enabled_events or []
    return ALL_EVENTS in chosen or event_type in chosen


def _data(session: Session, links: Links, message: OutboxMessage) -> dict[str, Any]:
    payload = message.payload or {}
    data: dict[str, Any] = {"object": _object(session, links, message)}
    changes = payload.get("changes")
    if isinstance(changes, dict) and changes:
        data["previous_attributes"] = {
            name: change.get("from") if isinstance(change, dict) else None
            for name, change in changes.items()
        }
    return data


def _object(session: Session, links: Links, message: OutboxMessage) -> dict[str, Any]:
    """The object an event is about, as its own endpoint shows it now; `{id, object, deleted}`
    when it is gone."""
    kind = message.type.split(".", 1)[0]
    payload = message.payload or {}
    if kind in ("subscription", "dunning"):
        found = message.subscription_id and session.scalar(
            select(Subscription)
            .where(Subscription.id == message.subscription_id)
            .options(selectinload(Subscription.line_items))
        )
        if not found:
            return _gone("subscription", message.subscription_id)
        values = properties.get_values(
            session, found.account_id, "subscriptions", [found.id], view_sensitive=False
        )
        return _json(SubscriptionOut.of(found, values.get(found.id, {})))
    if kind == "invoice":
        invoice = session.scalar(
            select(Invoice)
            .where(Invoice.id == payload.get("invoice_id"))
            .options(selectinload(Invoice.lines))
        )
        if invoice is None:
            return _gone("invoice", payload.get("invoice_id"))
        url = hosted_invoice_url(session, links.settings, invoice)
        return _json(InvoiceOut.of(invoice, base_url=links.base_url, hosted_url=url))
    if kind == "payment":
        payment = session.get(Payment, payload.get("payment_id") or "")
        if payment is None:
            return _gone("payment", payload.get("payment_id"))
        return _json(PaymentOut.of(payment))
    if kind == "export":
        export = session.get(Export, payload.get("export_id") or "")
        if export is None:
            return _gone("export", payload.get("export_id"))
        download = None
        if export.file_path is not None:
            download = f"{links.base_url}/api/v1/exports/{export.id}/file"
        return _json(ExportOut.of(export, download))
    return {"object": kind, **{k: v for k, v in payload.items() if isinstance(k, str)}}


def _gone(kind: str, object_id: Any) -> dict[str, Any]:
    return {"id": object_id, "object": kind, "deleted": True}


def _json(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = model.model_dump(mode="json")
    return found


# --- deliveries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    delivery_id: str
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class _Outcome:
    delivery_id: str
    status: int | None
    body: str | None
    duration_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signature(secret_text: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256."""
    key = base64.b64decode(secret_text.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _request(
    session: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint, event: Event
) -> _Request:
    body = json.dumps(event_body(event), separators=(",", ":"), ensure_ascii=False).encode()
    # Real time even for a test clock: receivers refuse a timestamp far from their own clock.
    now = clock.real_now()
    timestamp = int(now.timestamp())
    generations = [endpoint.secret_generation]
    if endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now:
        generations.append(endpoint.secret_generation - 1)
    signatures = " ".join(
        signature(secret(session, endpoint, g), event.id, timestamp, body) for g in generations
    )
    return _Request(delivery.id, endpoint.url, body, _headers(event.id, timestamp, signatures))


def _headers(message_id: str, timestamp: int, signatures: str) -> dict[str, str]:
    """The Standard Webhooks headers of a request."""
    return {
        "content-type": "application/json",
        "user-agent": "Cadency-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }


def send_signed(
    url: str, message_id: str, body: dict[str, Any], secret_text: str, *, allow_private: bool
) -> tuple[int | None, str | None, str | None]:
    """One signed POST the way endpoints receive events (a workflow's webhook action): the
    answer's status and first 2 kB, or what went wrong. Never raises."""
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(clock.real_now().timestamp())
    signed = signature(secret_text, message_id, timestamp, content)
    request = _Request(message_id, url, content, _headers(message_id, timestamp, signed))
    with _client(1) as client:
        outcome = _send(client, request, allow_private)
    return outcome.status, outcome.body, outcome.error


def _client(senders: int) -> httpx.Client:
    """One client for a pass's requests: its TLS set-up is made once (not per request, which
    costs more than a request to a nearby receiver) and connections to a receiver are kept."""
    return httpx.Client(
        timeout=TIMEOUT,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=senders, max_keepalive_connections=senders),
    )


def _send(client: httpx.Client, request: _Request, allow_private: bool) -> _Outcome:
    """One POST, never raising: the answer's status and its first bytes, or what went wrong."""
    started = time.monotonic()

    def outcome(status: int | None, body: str | None, error: str | None) -> _Outcome:
        took = int((time.monotonic() - started) * 1000)
        return _Outcome(request.delivery_id, status, body, took, error)

    parts = urlsplit(request.url)
    # Checked again at each send: what a host resolves to can change after it was saved.
    refused = _refused_host(parts.hostname or "", parts.port, allow_private)
    if refused:
        return outcome(None, None, str(refused))  # stored as the English text
    try:
        with client.stream(
            "POST", request.url, content=request.body, headers=request.headers
        ) as response:
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= RESPONSE_READ:
                    break
                if time.monotonic() - started > TIMEOUT:
                    return outcome(None, None, f"No complete answer within {TIMEOUT:.0f} s")
            text = bytes(received[: RESPONSE_KEPT * 4]).decode("utf-8", errors="replace")
            return outcome(response.status_code, text[:RESPONSE_KEPT], None)
    except httpx.TimeoutException:
        return outcome(None, None, f"No answer within {TIMEOUT:.0f} s")
    except httpx.HTTPError as exc:
        return outcome(None, None, f"The request failed: {exc}"[:500])


def _due_accounts(
    session: Session, account_id: int | None, at: datetime | None = None
) -> dict[int, datetime]:
    """The accounts with deliveries due now by their own clock (or by `at`, for the one
    account asked for), each with that now."""
    query = (
        select(WebhookDelivery.account_id, func.min(WebhookDelivery.next_attempt_at))
        .where(WebhookDelivery.status.in_(("pending", "retrying")))
        .group_by(WebhookDelivery.account_id)
    )
    if account_id is not None:
        query = query.where(WebhookDelivery.account_id == account_id)
    earliest = {owner: first for owner, first in session.execute(query)}
    return due_by_own_clock(session, earliest, account_id=account_id, at=at)


def deliver_due(
    session_factory: Callable[[], Session],
    *,
    allow_private: bool,
    account_id: int | None = None,
    senders: int = SENDERS,
    now: datetime | None = None,
) -> int:
    """Send every delivery whose attempt is due (of one account, or all); returns how many
    attempts were made. Requests go out in parallel, outside any transaction."""
    made = 0
    while True:
        with session_factory() as session:
            if not _due_accounts(session, account_id, now):
                return made  # found by reading alone, without SQLite's write lock
        with session_factory() as session:
            begin_write(session)
            claimed = _claim(session, account_id, now)
            if not claimed:
                return made
            requests = [
                _request(session, delivery, endpoint, event)
                for delivery, endpoint, event, _ in claimed
            ]
            nows = {delivery.id: now for delivery, _, _, now in claimed}
            session.commit()
        workers = max(1, min(senders, len(requests)))
        with _client(workers) as client, ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda r: _send(client, r, allow_private), requests))
        with session_factory() as session:
            begin_write(session)
            _record(session, outcomes, nows)
            session.commit()
        made += len(outcomes)


def _claim(
    session: Session, account_id: int | None, at: datetime | None = None
) -> list[tuple[WebhookDelivery, WebhookEndpoint, Event, datetime]]:
    real = clock.real_now()
    claimed: list[tuple[WebhookDelivery, WebhookEndpoint, Event, datetime]] = []
    for owner, now in _due_accounts(session, account_id, at).items():
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.account_id == owner,
                WebhookDelivery.status.in_(("pending", "retrying")),
                WebhookDelivery.next_attempt_at <= now,
                (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < real),
                WebhookEndpoint.status == "enabled",
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(BATCH - len(claimed))
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
        for delivery, endpoint, event in rows:
            delivery.lease_until = real + LEASE
            claimed.append((delivery, endpoint, event, now))
        if len(claimed) >= BATCH:
            break
    session.flush()
    return claimed


def _record(session: Session, outcomes: Iterable[_Outcome], nows: dict[str, datetime]) -> None:
    for outcome in outcomes:
        delivery = session.get(WebhookDelivery, outcome.delivery_id)
        if delivery is None:  # its endpoint was deleted meanwhile
            continue
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        now = nows[outcome.delivery_id]
        delivery.attempt += 1
        delivery.lease_until = None
        delivery.last_attempt_at = now
        delivery.response_status = outcome.status
        delivery.response_body = outcome.body
        delivery.duration_ms = outcome.duration_ms
        delivery.error = outcome.error
        if outcome.succeeded:
            delivery.status = "succeeded"
            delivery.next_attempt_at = None
            endpoint.failing_since = None
            continue
        logger.info(
            "webhook delivery %s (attempt %d) failed: %s",
            delivery.id,
            delivery.attempt,
            outcome.error or f"answered {outcome.status}",
        )
        if delivery.attempt < MAX_ATTEMPTS:
            delivery.status = "retrying"
            # On the schedule counted from the event (5 s, 5 min, … after the attempt was
            # due), unless the attempt ran so late that it has passed: then from now.
            delay = RETRY_DELAYS[delivery.attempt - 1]
            scheduled = delivery.next_attempt_at or now
            delivery.next_attempt_at = scheduled + delay if scheduled + delay > now else now + delay
        else:
            delivery.status = "failed"
            delivery.next_attempt_at = None
        if endpoint.failing_since is None:
            endpoint.failing_since = now
        elif now - endpoint.failing_since >= DISABLE_AFTER and endpoint.status == "enabled":
            _disable(session, endpoint, now)


def _disable(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    account = session.get(Account, endpoint.account_id)
    assert account is not None
    endpoint.status = "disabled"
    endpoint.disabled_reason = DISABLED_FAILING
    endpoint.updated_at = now
    outbox.emit(
        session,
        account_id=endpoint.account_id,
        type=EventType.WEBHOOK_ENDPOINT_DISABLED,
        dedup_key=f"webhook_endpoint.disabled:{endpoint.id}:{int(now.timestamp())}",
        payload={
            "endpoint_id": endpoint.id,
            "url": endpoint.url,
            "disabled_on": periods.local_date(now, account.timezone).isoformat(),
        },
        at=now,
    )


# --- housekeeping --------------------------------------------------------------------------------


def purge_events(session: Session, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` events older than `KEEP_EVENTS`, with their deliveries."""
    old = list(
        session.scalars(
            select(Event.id)
            .where(Event.created_at < now - KEEP_EVENTS)
            .order_by(Event.id)
            .limit(limit)
        )
    )
    if old:
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(old)))
        session.execute(delete(Event).where(Event.id.in_(old)))
    return len(old)
