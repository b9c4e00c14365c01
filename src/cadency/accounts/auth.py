"""Who is calling: the API key decides the account; scopes decide what it may do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cadency.accounts import service
from cadency.accounts.models import Account
from cadency.kit import idempotency
from cadency.kit.errors import AuthenticationFailed, PermissionDenied

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        if request.method not in _READS and session.get_bind().dialect.name == "sqlite":
            # SQLite has one writer. A request that read, then writes after a billing batch
            # committed in between, would fail outright (WAL snapshot); taking the write lock
            # first makes it wait its turn instead.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        idempotency.join_request_session(session, request.state)
        yield session


@dataclass
class ApiContext:
    session: Session
    account: Account
    scopes: set[str] = field(default_factory=set)

    def allows(self, permission: str) -> bool:
        return "super_admin" in self.scopes or permission in self.scopes

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
    return ApiContext(session=session, account=account, scopes=set(key.scopes))


def requires(permission: str) -> Callable[..., ApiContext]:
    """A dependency that authenticates and checks one permission."""

    def dependency(ctx: ApiContext = Depends(api_context)) -> ApiContext:
        ctx.require(permission)
        return ctx

    return dependency
