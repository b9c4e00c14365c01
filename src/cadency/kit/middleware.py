"""Request guards that apply to every endpoint."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NUL_MESSAGE = "Text must not contain NUL characters (\\u0000)"


class RejectNulCharacters:
    """PostgreSQL cannot store NUL in text; refuse it at the door with a 400 rather than fail
    deep inside a query. Checks the path, the query string and JSON bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await _refuse(send)
            return
        if scope["method"] not in ("POST", "PATCH", "PUT", "DELETE"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if b"\\u0000" in body or b"\x00" in body:
            await _refuse(send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send) -> None:
    raw = json.dumps({"error": {"type": "invalid_request", "message": _NUL_MESSAGE}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
