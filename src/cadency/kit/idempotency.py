"""`Idempotency-Key` on POST/PATCH/DELETE: the first response is kept for 24 hours and replayed
for the same key and body; the same key with another body is refused (API.md "Conventions")."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    String,
    Text,
    and_,
    delete,
    event,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadency.kit import clock
from cadency.kit.db import Base
from cadency.kit.housekeeping import delete_batch
from cadency.kit.middleware import is_api_path

KEEP_FOR = timedelta(hours=24)
# How long a claim holds without renewal: a request renews it every third of this while it runs,
# so it lapses only when its process died (`kill -9`, a crash) or stalled that long.
CLAIM_LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
_METHODS = {"POST", "PATCH", "DELETE"}
# Answers that carry a secret shown once (a new API key, a webhook endpoint's signing secret):
# never stored, so never replayed. Paths as patterns of POSTs.
SECRET_ANSWERS = re.compile(
    r"/api/v1/(api-keys|webhook-endpoints|webhook-endpoints/[^/]+/roll-secret)"
)

logger = logging.getLogger("cadency.idempotency")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None while the first request is still running
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    # While the first request runs: when its claim lapses unless renewed (None once answered).
    claimed_until: Mapped[datetime | None]
    # Set in the transaction that commits the request's effect (`join_request_session`): a
    # claim whose answer was lost after this is never run again.
    effect_committed: Mapped[bool] = mapped_column(default=False, server_default=false())


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
    """Pure ASGI middleware, so the body can be read once and handed on unchanged.

    The answer cannot be recorded in the transaction of the request's effect: endpoints commit
    themselves (some more than once, e.g. a failed payment attempt is committed before the 402),
    and the body only exists after FastAPI serialised the endpoint's result, after that commit.
    So the response start is held until the body is complete, the record is written, and only
    then is the response sent: a replay that follows the answer always finds it. What does go
    into the effect's transaction is the fact that it happened (`join_request_session`).

    A claim whose request died (kill -9) lapses `CLAIM_LEASE` after its last renewal (a running
    request renews it). If the effect was not committed, a retry takes the claim over and runs;
    if it was but the answer was lost, the retry is told so (409) rather than run it twice.
    """

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
            or (scope["method"] == "POST" and SECRET_ANSWERS.fullmatch(scope["path"].rstrip("/")))
            or not is_api_path(scope["path"])
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

        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        token = auth.split(" ", 1)[1].strip()
        fingerprint = request_fingerprint(
            token, scope["method"], scope["path"], scope.get("query_string", b""), body
        )

        account_id = await run_in_threadpool(self._account_id, token)
        if account_id is None:
            await self.app(scope, _replay(body, receive), send)  # the endpoint answers 401
            return
        outcome = await run_in_threadpool(self._claim, account_id, key, fingerprint)
        if outcome is not None:
            for message in outcome:
                await send(message)
            return
        scope.setdefault("state", {})[_CLAIM_STATE] = (account_id, key)

        start: Message | None = None
        parts: list[bytes] = []
        answered = False

        async def record_then_send(message: Message) -> None:
            nonlocal start, answered
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            answer = b"".join(parts)
            await run_in_threadpool(self._finish, account_id, key, start["status"], answer)
            answered = True
            await send(start)
            await send({"type": "http.response.body", "body": answer})

        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._keep_claim, account_id, key)
                try:
                    await self.app(scope, _replay(body, receive), record_then_send)
                finally:
                    tasks.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Only the app can fail here (a renewal logs its own errors): hand its exception on
            # unwrapped, to the error handling outside.
            raise group.exceptions[0] from None
        finally:
            if not answered:
                # No answer was made: free the key so that a retry runs (unless the effect was
                # committed: then the claim lapses and a retry is told it was carried out).
                await run_in_threadpool(self._release, account_id, key)

    def _account_id(self, token: str) -> int | None:
        with self.session_factory() as session:
            return self.resolve_account(session, token)

    def _claim(self, account_id: int, key: str, fingerprint: str) -> list[Message] | None:
        with self.session_factory() as session:
            return _claim(session, account_id, key, fingerprint)

    async def _keep_claim(self, account_id: int, key: str) -> None:
        """Renew the claim while the request runs, so that only a claim nobody works on lapses."""
        while True:
            await anyio.sleep(CLAIM_LEASE.total_seconds() / 3)
            try:
                await run_in_threadpool(self._renew, account_id, key)
            except SQLAlchemyError:  # e.g. SQLite's write lock held past its timeout: next time
                logger.warning("could not renew the claim of an Idempotency-Key", exc_info=True)

    def _renew(self, account_id: int, key: str) -> None:
        with self.session_factory() as session:
            session.execute(
                update(IdempotencyRecord)
                .where(*_unfinished(account_id, key))
                .values(claimed_until=clock.real_now() + CLAIM_LEASE)
            )
            session.commit()

    def _finish(self, account_id: int, key: str, status: int, body: bytes) -> None:
        if status >= 500 and self._release(account_id, key):
            # A failure on our side that changed nothing is not worth replaying: a retry runs.
            return
        try:
            with self.session_factory() as session:
                session.execute(
                    update(IdempotencyRecord)
                    .where(*_unfinished(account_id, key))
                    .values(
                        status_code=status,
                        response_body=body.decode("utf-8", "replace"),
                        claimed_until=None,
                    )
                )
                session.commit()
        except SQLAlchemyError:
            # The effect is done; the client gets its answer. The claim lapses after its lease.
            logger.exception("could not record the answer to an Idempotency-Key")

    def _release(self, account_id: int, key: str) -> bool:
        """Free the key of a request that committed nothing; False if its effect is done."""
        with self.session_factory() as session:
            released = session.execute(
                delete(IdempotencyRecord).where(
                    *_unfinished(account_id, key), IdempotencyRecord.effect_committed.is_(False)
                )
            )
            session.commit()
            return bool(released.rowcount)  # type: ignore[attr-defined]


_CLAIM_STATE = "idempotency_claim"


def join_request_session(session: Session, state: Any) -> None:
    """Mark the request's claim (if it holds one) as carried out in every transaction its
    session commits, so that the mark and the effect are committed together or not at all.
    `state` is the request's `request.state`, where the middleware leaves the claim."""
    claim: tuple[int, str] | None = getattr(state, _CLAIM_STATE, None)
    if claim is None:
        return

    def mark(session: Session) -> None:
        session.execute(
            update(IdempotencyRecord)
            .where(*_unfinished(*claim), IdempotencyRecord.effect_committed.is_(False))
            .values(effect_committed=True)
        )

    event.listen(session, "before_commit", mark)


def _unfinished(account_id: int, key: str) -> list[ColumnElement[bool]]:
    return [
        IdempotencyRecord.account_id == account_id,
        IdempotencyRecord.key == key,
        IdempotencyRecord.status_code.is_(None),
    ]


def request_fingerprint(token: str, method: str, path: str, query: bytes, body: bytes) -> str:
    """Keyed with the caller's API key, which the database does not hold: a body can carry a
    card number, and a plain hash of it could be brute-forced from a stolen database."""
    return hmac.new(
        token.encode(),
        b"\n".join([method.encode(), path.encode(), query, body]),
        hashlib.sha256,
    ).hexdigest()


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
    # The key is free again when its answer is past keeping, or when its request never finished
    # (a crash) and nobody renewed the claim and it changed nothing: the retry takes it over.
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            or_(
                IdempotencyRecord.created_at < now - KEEP_FOR,
                and_(
                    IdempotencyRecord.status_code.is_(None),
                    IdempotencyRecord.claimed_until < now,
                    IdempotencyRecord.effect_committed.is_(False),
                ),
            ),
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
                account_id=account_id,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                claimed_until=now + CLAIM_LEASE,
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
        lapsed = existing.claimed_until is not None and existing.claimed_until < now
        if existing.effect_committed and lapsed:
            return _error(
                409,
                "idempotency",
                "The request with this Idempotency-Key was carried out, but the server stopped "
                "before its answer was recorded; look the result up instead of repeating it",
            )
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


def purge_expired(session: Session, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` records past keeping (answers and lapsed claims alike): their keys
    are free again anyway. Returns how many went; the caller commits between batches."""
    return delete_batch(
        session, IdempotencyRecord, IdempotencyRecord.created_at < now - KEEP_FOR, limit=limit
    )
