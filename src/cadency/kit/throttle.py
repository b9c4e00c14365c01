"""Rate limits whose counters live in the database, so every `cadency serve` process of one
installation counts together. The `limits` library decides (fixed windows); DatabaseStorage is
its storage: one row per counter, bumped with one atomic upsert."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine, Float, Integer, String, Table, case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadency.kit.db import Base
from cadency.kit.errors import APIError
from cadency.kit.middleware import is_api_path, send_error

# Expired counters are deleted every this many new windows a process opens, so the table
# holds about one row per client active in the current windows.
_PURGE_EVERY = 500


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    # Seconds since the epoch, like the library's own storages; the window ends then.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class DatabaseStorage(Storage):
    """A `limits` storage on the installation's database. Each call runs in its own short
    transaction on its own connection, so a counted attempt stays counted even when the
    request that made it fails and rolls back."""

    STORAGE_SCHEME = None

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._opened = 0
        self._this_thread = threading.local()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        table = cast(Table, RateLimitCounter.__table__)
        expired = table.c.expires_at <= now
        statement = (
            self._insert(table)
            .values(key=key, hits=amount, expires_at=now + expiry)
            .on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "hits": case((expired, amount), else_=table.c.hits + amount),
                    "expires_at": case((expired, now + expiry), else_=table.c.expires_at),
                },
            )
            .returning(table.c.hits, table.c.expires_at)
        )
        with self.engine.begin() as connection:
            row = connection.execute(statement).one()
            hits = int(row.hits)
            self._this_thread.last_count = (hits, float(row.expires_at))
            if hits == amount:
                self._opened += 1
                if self._opened % _PURGE_EVERY == 0:
                    connection.execute(delete(table).where(expired))
        return hits

    def last_count(self) -> tuple[int, float]:
        """The count and window end that this thread's last `incr` left: a hit needs no
        second query to say where the client stands."""
        last: tuple[int, float] = self._this_thread.last_count
        return last

    def get(self, key: str) -> int:
        with self.engine.connect() as connection:
            hits = connection.scalar(
                select(RateLimitCounter.hits).where(
                    RateLimitCounter.key == key, RateLimitCounter.expires_at > time.time()
                )
            )
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self.engine.connect() as connection:
            expires_at = connection.scalar(
                select(RateLimitCounter.expires_at).where(RateLimitCounter.key == key)
            )
        return float(expires_at) if expires_at is not None and expires_at > now else now

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.scalar(select(RateLimitCounter.key).limit(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(RateLimitCounter)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


class RateLimited(APIError):
    status_code = 429
    error_type = "rate_limit"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Verdict:
    """Where a client stands against one limit after a check."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds

    @property
    def reset_in(self) -> int:
        """Whole seconds until the window ends (at least 1 while it is running)."""
        return max(1, math.ceil(self.reset_at - time.time()))


def identifier(value: str) -> str:
    """A counter name for a value that must not be stored as is (an email, an API key):
    a short hash, which also bounds the key's length."""
    return hashlib.sha256(b"cadency-rate-limit:" + value.encode()).hexdigest()[:32]


# `Limiter.hit_leased`: a client sending more than this many requests a second to one process
# gets hits reserved in batches of up to LEASE_MAX, at most 1/LEASE_SHARE of what is left.
HOT_PER_SECOND = 20
LEASE_MAX = 32
LEASE_SHARE = 16
_MAX_LEASES = 10_000  # clients remembered per process (a window's worth at most)


@dataclass
class _Lease:
    """What one process reserved of one client's window."""

    limit: int
    counted: int = 0  # the window's count in the database after this process's last upsert
    left: int = 0  # reserved hits not yet handed out
    reset_at: float = 0.0
    second: int = 0
    this_second: int = 0  # attempts this process saw in `second`
    last_second: int = 0  # and in the second before it

    def note(self, now: float) -> None:
        if int(now) != self.second:
            previous = self.this_second if int(now) == self.second + 1 else 0
            self.second, self.this_second, self.last_second = int(now), 0, previous
        self.this_second += 1

    @property
    def busy(self) -> bool:
        return max(self.this_second, self.last_second) > HOT_PER_SECOND


class Limiter:
    """Named limits of one installation, counted in its database."""

    def __init__(self, engine: Engine, limits: dict[str, str]) -> None:
        self.storage = DatabaseStorage(engine)
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.items: dict[str, RateLimitItem] = {
            name: _namespaced(parse(text), name) for name, text in limits.items()
        }
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._leases_lock = threading.Lock()

    def hit(self, name: str, who: str) -> Verdict:
        """Count one attempt; `allowed` is False once the window's limit is passed."""
        item = self.items[name]
        allowed = self.strategy.hit(item, who)
        hits, reset_at = self.storage.last_count()
        return Verdict(allowed, item.amount, max(0, item.amount - hits), reset_at)

    def hit_from_lease(self, name: str, who: str) -> Verdict | None:
        """Count one attempt against what this process reserved for `who` in the current
        window (`hit_leased`), without touching the database; None when nothing is reserved,
        and the caller must call `hit_leased`."""
        with self._leases_lock:
            lease = self._leases.get((name, who))
            if lease is None:
                return None
            now = time.time()
            if lease.reset_at <= now or lease.left <= 0:
                return None
            lease.left -= 1
            lease.note(now)
            remaining = max(0, lease.limit - lease.counted) + lease.left
            return Verdict(True, lease.limit, remaining, lease.reset_at)

    def hit_leased(self, name: str, who: str) -> Verdict:
        """Count one attempt like `hit`; while this process sees more than `HOT_PER_SECOND`
        attempts a second from `who`, it reserves a batch of hits in the same upsert (at most
        `LEASE_MAX`, and at most 1/`LEASE_SHARE` of what the window has left) and hands them out
        from memory (`hit_from_lease`): one database write per batch instead of one per
        request. Every reserved hit is counted in the database first, so all the processes
        together never allow more than the limit; hits reserved but unused when the window
        ends are lost, so a busy client may be refused up to `LEASE_MAX` - 1 hits per serving
        process before it reaches the limit, and RateLimit-Remaining is this process's view
        as of its last reservation."""
        item = self.items[name]
        now = time.time()
        with self._leases_lock:
            lease = self._leases.get((name, who))
            if lease is None or lease.reset_at <= now:
                lease = _Lease(limit=item.amount)
                if len(self._leases) >= _MAX_LEASES:
                    self._leases = {k: v for k, v in self._leases.items() if v.reset_at > now}
                    if len(self._leases) >= _MAX_LEASES:
                        self._leases.clear()
                self._leases[(name, who)] = lease
            lease.note(now)
            batch = 1
            if lease.busy:
                room = max(0, item.amount - lease.counted) // LEASE_SHARE
                batch = max(1, min(LEASE_MAX, room))
        hits = self.storage.incr(item.key_for(who), item.get_expiry(), amount=batch)
        _, reset_at = self.storage.last_count()
        # Of the `batch` hits just counted, those under the limit are granted: one for this
        # attempt, the rest kept for the next ones.
        granted = max(0, min(batch, item.amount - (hits - batch)))
        with self._leases_lock:
            if reset_at != lease.reset_at:  # a new window: what was left belongs to the old
                lease.left, lease.counted = 0, hits
            # Threads of this process may have reserved at the same time: both batches count.
            lease.counted = max(lease.counted, hits)
            lease.reset_at = reset_at
            lease.left += max(0, granted - 1)
            remaining = max(0, item.amount - lease.counted) + lease.left
        return Verdict(granted > 0, item.amount, remaining, reset_at)

    def peek(self, name: str, who: str) -> Verdict:
        """Where `who` stands without counting anything (is it locked out now?)."""
        item = self.items[name]
        return self._verdict(item, who, self.strategy.test(item, who))

    def clear(self, name: str, who: str) -> None:
        self.strategy.clear(self.items[name], who)

    def _verdict(self, item: RateLimitItem, who: str, allowed: bool) -> Verdict:
        reset_at, remaining = self.strategy.get_window_stats(item, who)
        return Verdict(allowed, item.amount, remaining, reset_at)


def _namespaced(item: RateLimitItem, name: str) -> RateLimitItem:
    # Two limits with the same rate must not share counters: the name goes into the key.
    return type(item)(item.amount, item.multiples, namespace=name)


def client_address(scope: Any) -> str:
    """The client's address as the server sees it (behind a proxy, run uvicorn with
    --proxy-headers and --forwarded-allow-ips so this is the real client)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


API_LIMIT = "api"


class ApiRateLimit:
    """Per-key limits on the API: every API request counts against its key (a hashed bearer
    token; requests without one count against the client address). Answers carry the IETF
    draft's RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (seconds) and RateLimit-Policy
    (`limit;w=seconds`) headers; past the
    limit the answer is 429 `rate_limit` with Retry-After."""

    def __init__(self, app: ASGIApp, *, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        keyed = scheme.lower() == "bearer" and bool(token.strip())
        who = "key:" + identifier(token.strip()) if keyed else "address:" + client_address(scope)
        # A busy key is served from this process's reserved hits, without a database write or
        # a trip to the thread pool (Limiter.hit_leased says how close to the limit that is).
        verdict = self.limiter.hit_from_lease(API_LIMIT, who)
        if verdict is None:
            verdict = await run_in_threadpool(self.limiter.hit_leased, API_LIMIT, who)
        headers = {
            "RateLimit-Limit": str(verdict.limit),
            "RateLimit-Remaining": str(verdict.remaining),
            "RateLimit-Reset": str(verdict.reset_in),
            # The draft's policy: the limit per window of w seconds.
            "RateLimit-Policy": f"{verdict.limit};w={self.limiter.items[API_LIMIT].get_expiry()}",
        }
        if not verdict.allowed:
            await send_error(
                send,
                429,
                RateLimited.error_type,
                f"Too many requests: the limit is {verdict.limit} per "
                f"{_window(self.limiter.items[API_LIMIT])} for "
                f"{'this API key' if keyed else 'requests without an API key'}. "
                f"Try again in {verdict.reset_in} seconds.",
                headers={**headers, "Retry-After": str(verdict.reset_in)},
            )
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
