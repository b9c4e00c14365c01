"""`Idempotency-Key` on POST/PATCH/DELETE: the first response is kept for 24 hours and replayed
for the same key and body; the same key with another body is refused (API.md "Conventions")."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadency.kit import clock
from cadency.kit.db import Base

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
_METHODS = {"POST", "PATCH", "DELETE"}
# Answers that carry a secret shown once (a new API key): never stored, so never replayed.
SECRET_ANSWERS = frozenset({("POST", "/api/v1/api-keys")})


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None while the first request is still running
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


def _json_response(status: int, body: dict[str, Any]) -> list[Message]:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": raw},
    ]


def _error(status: int, kind: str, message: str) -> list[Message]:
    return _json_response(status, {"error": {"type": kind, "message": message}})


class IdempotencyMiddleware:
    """Pure ASGI middleware, so the body can be read once and handed on unchanged."""

    def __init__(
        self,
        app: ASGIApp,
        session_factory: sessionmaker[Session],
        resolve_account: Callable[[Session, str], int | None],
    ) -> None:
        self.app = app
        self.session_factory = session_factory
        self.resolve_account = resolve_account

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        auth = headers.get("authorization", "")
        if (
            key is None
            or (scope["method"], scope["path"].rstrip("/")) in SECRET_ANSWERS
            or not scope["path"].startswith("/api/")
            or not auth.lower().startswith("bearer ")
        ):
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            for message in _error(
                400, "invalid_request", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters"
            ):
                await send(message)
            return

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        token = auth.split(" ", 1)[1].strip()
        # Keyed with the caller's API key, which the database does not hold: a body can carry a
        # card number, and a plain hash of it could be brute-forced from a stolen database.
        fingerprint = hmac.new(
            token.encode(),
            b"\n".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            ),
            hashlib.sha256,
        ).hexdigest()

        account_id = await run_in_threadpool(self._account_id, token)
        if account_id is None:
            await self.app(scope, _replay(body, receive), send)  # the endpoint answers 401
            return
        outcome = await run_in_threadpool(self._claim, account_id, key, fingerprint)
        if outcome is not None:
            for message in outcome:
                await send(message)
            return

        captured: dict[str, Any] = {"status": 500, "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, _replay(body, receive), capture)
        finally:
            await run_in_threadpool(
                self._finish, account_id, key, captured["status"], captured["body"]
            )

    def _account_id(self, token: str) -> int | None:
        with self.session_factory() as session:
            return self.resolve_account(session, token)

    def _claim(self, account_id: int, key: str, fingerprint: str) -> list[Message] | None:
        with self.session_factory() as session:
            return _claim(session, account_id, key, fingerprint)

    def _finish(self, account_id: int, key: str, status: int, body: bytes) -> None:
        with self.session_factory() as session:
            record = session.get(IdempotencyRecord, (account_id, key))
            if record is not None:
                if status >= 500:
                    # A failure on our side is not an answer worth replaying: let a retry run.
                    session.delete(record)
                else:
                    record.status_code = status
                    record.response_body = body.decode("utf-8", "replace")
            session.commit()


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read here, then the client's own messages: an endpoint that watches for the
    client hanging up (a long clock advance) still hears it."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _claim(session: Session, account_id: int, key: str, fingerprint: str) -> list[Message] | None:
    """Record the key as in progress, or answer from an earlier request with the same key."""
    now = clock.real_now()
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at < now - KEEP_FOR,
        )
    )
    existing = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key
        )
    )
    if existing is None:
        session.add(
            IdempotencyRecord(
                account_id=account_id, key=key, fingerprint=fingerprint, created_at=now
            )
        )
        try:
            session.commit()
            return None
        except IntegrityError:
            session.rollback()
            return _error(409, "idempotency", "A request with this Idempotency-Key is in progress")
    session.commit()
    if existing.fingerprint != fingerprint:
        return _error(
            409,
            "idempotency",
            "This Idempotency-Key was used with a different request; use a new key",
        )
    if existing.status_code is None:
        return _error(409, "idempotency", "A request with this Idempotency-Key is in progress")
    raw = (existing.response_body or "").encode()
    return [
        {
            "type": "http.response.start",
            "status": existing.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        },
        {"type": "http.response.body", "body": raw},
    ]
