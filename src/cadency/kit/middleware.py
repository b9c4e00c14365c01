"""Request guards that apply to every endpoint: body size, NUL characters, security headers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NUL_MESSAGE = "Text must not contain NUL characters (\\u0000)"
MIB = 1024 * 1024
# Where the API answers (API keys, JSON, rate limits, idempotency): the REST API and the
# HubSpot-compatible surface (docs/hubspot.md). Everything else is the web app's pages.
API_PATH_PREFIXES = ("/api/", "/crm/")


def is_api_path(path: str) -> bool:
    """Whether `path` is served by the API rather than by the web app's pages."""
    return path.startswith(API_PATH_PREFIXES)


def _megabytes(size: int) -> str:
    return f"{size / MIB:g} MiB" if size >= MIB else f"{size} bytes"


class _BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class LimitRequestBody:
    """Refuse request bodies over a size limit with 413, before anything reads or authenticates
    them: a Content-Length over the limit is refused without reading; a streamed body is
    counted chunk by chunk and refused as soon as it passes the limit. `limit_for(path)` gives
    the limit of a path (the API takes JSON, the web app takes forms)."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _refuse_too_large(send, limit)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge(limit)
            return message

        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched_send)
        except _BodyTooLarge:
            if started:
                raise
            await _refuse_too_large(send, limit)


async def _refuse_too_large(send: Send, limit: int) -> None:
    await send_error(
        send, 413, "invalid_request", f"The request body is larger than {_megabytes(limit)}"
    )


class RejectNulCharacters:
    """PostgreSQL cannot store NUL in text; refuse it at the door with a 400 rather than fail
    deep inside a query. Checks the path, the query string, JSON and form bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await _refuse_nul(send)
            return
        if scope["method"] not in ("POST", "PATCH", "PUT", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        content_type = Headers(scope=scope).get("content-type", "")
        # A form field is percent-encoded, so its NUL arrives as %00; multipart and JSON
        # carry it raw or as \u0000. No endpoint takes binary file uploads.
        urlencoded = content_type.startswith("application/x-www-form-urlencoded")
        if b"\\u0000" in body or b"\x00" in body or (urlencoded and b"%00" in body):
            await _refuse_nul(send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse_nul(send: Send) -> None:
    await send_error(send, 400, "invalid_request", _NUL_MESSAGE)


async def send_error(
    send: Send,
    status: int,
    error_type: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    """An error in the API's shape, sent straight from a middleware (before any route)."""
    raw = json.dumps({"error": {"type": error_type, "message": message}}).encode()
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    response_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": raw})


# Scripts only from our own files (no inline script or handlers); inline styles stay allowed
# because htmx injects its indicator style and the invoice document carries its print CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Headers that tell browsers what not to do with our responses: every response is
    nosniff; pages get a Content-Security-Policy that forbids framing and foreign or inline
    scripts; signed-link pages send no Referer at all (their path is the credential); HSTS
    only when the site is served over HTTPS."""

    def __init__(
        self, app: ASGIApp, *, https_base_url: bool, is_signed_link: Callable[[str], bool]
    ) -> None:
        self.app = app
        self.https_base_url = https_base_url
        self.is_signed_link = is_signed_link

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        https = self.https_base_url or scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if not is_api_path(path):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                    headers.setdefault("X-Frame-Options", "DENY")
                    referrer = (
                        "no-referrer"
                        if self.is_signed_link(path)
                        else "strict-origin-when-cross-origin"
                    )
                    headers.setdefault("Referrer-Policy", referrer)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)


class RedactPaths(logging.Filter):
    """Blank out the credential part of paths in log records (uvicorn's access log writes
    every request path; the path of a signed link is its token)."""

    def __init__(self, pattern: re.Pattern[str], replacement: str = r"\1[redacted]") -> None:
        super().__init__()
        self.pattern = pattern
        self.replacement = replacement

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.pattern.sub(self.replacement, arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self.pattern.sub(self.replacement, record.msg)
        return True


def install_log_redaction(logger_name: str, pattern: re.Pattern[str]) -> None:
    """Add the filter once, however many apps a process creates."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactPaths) and f.pattern == pattern for f in logger.filters):
        logger.addFilter(RedactPaths(pattern))
