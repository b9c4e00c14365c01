"""API errors: one JSON shape for every failure (API.md "Errors")."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cadency.kit import labels
from cadency.kit.i18n import Message
from cadency.kit.middleware import is_api_path

log = logging.getLogger("cadency")


class APIError(Exception):
    """A refusal: `message` is the catalog's sentence (the web app's catalog holds every
    message raised as InvalidRequest, Conflict, NotFound, Gone or PaymentFailed, see babel.cfg)
    with `%(name)s` filled from `values`. The API answers it in English; a page shows it in the
    reader's language (kit.i18n.Message)."""

    status_code = 400
    error_type = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, **values: Any) -> None:
        if not isinstance(message, Message) or values:
            message = Message(message, **values)
        super().__init__(message)
        self.message: str = message  # a Message (kit.i18n) unless reassigned
        self.param = param
        # Extra response headers (e.g. Retry-After of a 429).
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


class InvalidRequest(APIError):
    """The request is well-formed JSON but a value is not acceptable."""

    status_code = 422


class NotFound(APIError):
    status_code = 404
    error_type = "not_found"


class Conflict(APIError):
    """The record's current state does not allow this (e.g. deleting an active subscription)."""

    status_code = 409
    error_type = "conflict"


class Gone(APIError):
    """The record is still known but what was asked for is no more (an expired export file)."""

    status_code = 410
    error_type = "gone"


class AuthenticationFailed(APIError):
    status_code = 401
    error_type = "authentication"


class PermissionDenied(APIError):
    status_code = 403
    error_type = "permission"


class IdempotencyError(APIError):
    status_code = 409
    error_type = "idempotency"


class PaymentFailed(APIError):
    status_code = 402
    error_type = "payment"

    def __init__(
        self, message: str, *, param: str | None = None, reason: str | None = None, **values: Any
    ) -> None:
        super().__init__(message, param=param, **values)
        # The processor's failure reason ("card_declined", ...), for pages that say it in the
        # buyer's words; None when the method was refused before any charge.
        self.reason = reason


def not_found(kind: str, record_id: str) -> NotFound:
    return NotFound(
        "No such %(kind)s: '%(record_id)s'",
        kind=labels.word(kind, labels.RECORD_KINDS),
        record_id=record_id,
    )


def _loc_to_param(loc: tuple[Any, ...]) -> str | None:
    # Drop the FastAPI source marker ("body", "query", ...) and pydantic's union/type tags.
    parts = [
        str(p) for p in loc[1:] if not (isinstance(p, str) and ("[" in p or p == "function-after"))
    ]
    return ".".join(parts) or (str(loc[0]) if loc else None)


def describe_validation_error(error: dict[str, Any]) -> tuple[str, str | None]:
    """A message for one pydantic error that names the field and never echoes the input.

    Inputs can hold card numbers, so only the field path and pydantic's message are used.
    """
    loc = tuple(error.get("loc", ()))
    param = _loc_to_param(loc)
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"Unknown field: '{param}'", param
    if kind == "missing":
        return f"Missing required field: '{param}'", param
    if kind == "json_invalid":
        return "The request body is not valid JSON", None
    message = str(error.get("msg", "Invalid value"))
    message = message.removeprefix("Value error, ")
    return (f"Invalid value for '{param}': {message}" if param else message), param


def _error_response(
    status: int,
    error_type: str,
    message: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if param is not None:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route serves at this path: FastAPI keeps one route per method, so
    Starlette's own 405 would name only the first."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


# Pages of the web app answer errors with an HTML page instead of JSON; the web package
# registers how (kit knows nothing about templates).
PageErrorRenderer = Callable[[Request, int, str], Awaitable[Response] | Response | None]


def install_error_handlers(app: FastAPI, page_errors: PageErrorRenderer | None = None) -> None:
    async def _as_page(request: Request, status: int, message: str) -> Response | None:
        if page_errors is None or is_api_path(request.url.path):
            return None
        result = page_errors(request, status, message)
        if inspect.isawaitable(result):
            result = await result
        return result

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        page = await _as_page(request, exc.status_code, exc.message)
        response = page or JSONResponse(exc.body(), status_code=exc.status_code)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error_response(400, "invalid_request", "The request body is not valid JSON")
        message, param = (
            describe_validation_error(errors[0]) if errors else ("Invalid request", None)
        )
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        page = await _as_page(request, 422, message)
        return page or _error_response(422, "invalid_request", message, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kinds = {
            401: "authentication",
            403: "permission",
            404: "not_found",
            409: "conflict",
            410: "gone",
        }
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such endpoint"
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(_allowed_methods(request))}
        page = await _as_page(request, exc.status_code, detail)
        if page is not None:
            return page
        return _error_response(
            exc.status_code, kinds.get(exc.status_code, "invalid_request"), detail, headers=headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        page = await _as_page(request, 500, "Something went wrong on our side")
        return page or _error_response(500, "internal", "Something went wrong on our side")
