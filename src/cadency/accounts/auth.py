"""Who is calling: the API key decides the account; scopes decide what it may do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cadency.accounts import service
from cadency.accounts.models import Account, ApiKey, grants
from cadency.kit import clock, idempotency
from cadency.kit.errors import AuthenticationFailed, PermissionDenied

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        _begin(request, session)
        idempotency.join_request_session(session, request.state)
        yield session


def _begin(request: Request, session: Session) -> None:
    if request.method not in _READS and session.get_bind().dialect.name == "sqlite":
        # SQLite has one writer. A request that read, then writes after a billing batch
        # committed in between, would fail outright (WAL snapshot); taking the write lock
        # first makes it wait its turn instead.
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class ApiContext:
    session: Session
    account: Account
    scopes: set[str] = field(default_factory=set)
    # The key the request came with (None for contexts built without one, e.g. in tests).
    api_key: ApiKey | None = None

    def allows(self, permission: str) -> bool:
        return grants(self.scopes, permission)

    def require(self, permission: str) -> None:
        if not self.allows(permission):
            raise PermissionDenied(f"This API key lacks the '{permission}' permission")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def api_context(request: Request, session: Session = Depends(get_session)) -> ApiContext:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationFailed("Send your API key as 'Authorization: Bearer <key>'")
    found = service.find_api_key(session, token)
    if found is None:
        raise AuthenticationFailed("Invalid API key")
    key, account = found
    now = clock.real_now()
    if service.api_key_expired(key, now):
        raise AuthenticationFailed(
            f"This API key expired at {key.expires_at:%Y-%m-%dT%H:%M:%SZ}; make a new one"
        )
    if service.note_api_key_use(key, now):
        _commit_last_used(request, session)
    return ApiContext(session=session, account=account, scopes=set(key.scopes), api_key=key)


def _commit_last_used(request: Request, session: Session) -> None:
    """Commit "last used" at once, apart from the request's own work: a read stays a read, a
    failed write still counts as a use, and no row lock is held while the request runs."""
    try:
        session.commit()
    except OperationalError:
        # A read's snapshot on SQLite may be older than a write committed meanwhile; "last
        # used" is then written by the next request instead of failing this one.
        session.rollback()
    _begin(request, session)


def requires(permission: str) -> Callable[..., Awaitable[ApiContext]]:
    """A dependency that authenticates and checks one permission."""

    # Async: it only reads the scopes, so it runs in the event loop rather than taking a trip
    # to the thread pool (FastAPI runs a plain `def` dependency there).
    async def dependency(ctx: ApiContext = Depends(api_context)) -> ApiContext:
        ctx.require(permission)
        return ctx

    return dependency
