"""Errors of the HubSpot-compatible surface in HubSpot's shape: `{status: "error", message,
correlationId, category, errors?}`.

Every failure on `/crm/` paths is first made as anywhere else in the API (an `APIError` through
the app's handlers, or an answer straight from a middleware: rate limit, body size, NUL
characters, idempotency), in the REST API's `{"error": {type, message, param}}`. One middleware
turns those answers into HubSpot's shape on the way out, so the rules of what fails and why stay
in one place and `/api/v1` answers stay as they are.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadency.kit.errors import APIError

PATH_PREFIX = "/crm/"

# The REST API's error types → (HubSpot's status, HubSpot's category).
_CATEGORIES: dict[str, tuple[int | None, str]] = {
    "invalid_request": (400, "VALIDATION_ERROR"),
    "not_found": (404, "OBJECT_NOT_FOUND"),
    "conflict": (409, "CONFLICT"),
    "idempotency": (409, "CONFLICT"),
    "gone": (404, "OBJECT_NOT_FOUND"),
    "authentication": (401, "INVALID_AUTHENTICATION"),
    "permission": (403, "MISSING_SCOPES"),
    "rate_limit": (429, "RATE_LIMITS"),
    "payment": (402, "VALIDATION_ERROR"),
    "internal": (500, "INTERNAL_ERROR"),
}
# Statuses HubSpot keeps as they are (a body too large is no validation error of a value).
_KEEP_STATUS = {405, 413}


class HubSpotError(APIError):
    """A failure only the HubSpot surface has (e.g. an object type it does not serve yet), with
    HubSpot's category; it travels as any `APIError` and is reshaped like the others."""

    def __init__(
        self, message: str, *, status: int = 400, category: str = "VALIDATION_ERROR"
    ) -> None:
        super().__init__(message)
        self.status_code = status
        self.category = category

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["hubspot_category"] = self.category
        return body


def hubspot_body(status: int, error: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """HubSpot's (status, body) for one of the REST API's error objects."""
    mapped_status, category = _CATEGORIES.get(str(error.get("type")), (None, "VALIDATION_ERROR"))
    category = str(error.get("hubspot_category") or category)
    if status in _KEEP_STATUS or mapped_status is None or "hubspot_category" in error:
        mapped_status = status
    message = str(error.get("message") or "Request failed")
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    param = error.get("param")
    if param:
        body["errors"] = [{"message": message, "in": str(param)}]
        body["context"] = {"propertyName": [str(param).removeprefix("properties.")]}
    return mapped_status, body


def hubspot_rate_limit_headers(headers: MutableHeaders) -> None:
    """The API's rate-limit headers (kit/throttle.py) also under HubSpot's names, which
    HubSpot's clients and connectors read to pace themselves: X-HubSpot-RateLimit-Max,
    -Remaining and -Interval-Milliseconds (the window of the per-key limit)."""
    limit, remaining = headers.get("ratelimit-limit"), headers.get("ratelimit-remaining")
    if limit is None or remaining is None:
        return
    headers["X-HubSpot-RateLimit-Max"] = limit
    headers["X-HubSpot-RateLimit-Remaining"] = remaining
    _, _, window = headers.get("ratelimit-policy", "").partition(";w=")
    if window.isdigit():
        headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(window) * 1000)


class HubSpotErrorShape:
    """Pure ASGI middleware: on `/crm/` paths, an answer of 400 or above whose body is the REST
    API's error object is sent in HubSpot's shape instead (other answers pass untouched but for
    HubSpot's names of the rate-limit headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []
        started = False

        async def reshape(message: Message) -> None:
            nonlocal start, started
            if message["type"] == "http.response.start":
                hubspot_rate_limit_headers(MutableHeaders(scope=message))
                if message["status"] < 400:
                    started = True
                    await send(message)
                else:
                    start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            started = True
            status, raw = _reshaped(start["status"], b"".join(parts))
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["content-type"] = "application/json"
            headers["content-length"] = str(len(raw))
            await send({**start, "status": status, "headers": headers.raw})
            await send({"type": "http.response.body", "body": raw})

        try:
            await self.app(scope, receive, reshape)
        except Exception:
            # The app's last-resort handler sits outside every middleware; answer here in
            # HubSpot's shape and let it log the failure as it does for the REST API.
            if not started:
                status, body = hubspot_body(
                    500, {"type": "internal", "message": "Something went wrong on our side"}
                )
                raw = json.dumps(body).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": raw})
            raise


def _reshaped(status: int, raw: bytes) -> tuple[int, bytes]:
    try:
        decoded = json.loads(raw)
    except ValueError:
        decoded = None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(error, dict):
        # Not the API's error object (e.g. a bare 405 from routing): still HubSpot's shape.
        kind = {401: "authentication", 403: "permission", 404: "not_found"}.get(status)
        error = {"type": kind or "invalid_request", "message": "Request failed"}
        if status == 405:
            error["message"] = "This method is not allowed here"
    new_status, body = hubspot_body(status, error)
    return new_status, json.dumps(body).encode()
