"""Pages over plain HTTP (no browser): a TestClient that carries a signed-in user's cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cadency.accounts import service as account_service
from cadency.accounts.models import Account, User
from tests.conftest import Api


@dataclass
class SignedIn:
    client: TestClient
    user_id: int
    email: str
    csrf_token: str


def signed_in(
    app: FastAPI,
    session_factory: Any,
    api: Api,
    *,
    email: str | None = None,
    password: str = "password-1234",
    permissions: list[str] | None = None,
) -> SignedIn:
    """A new user of `api`'s account (a super admin unless permissions are given), signed in."""
    email = email or f"user-{api.account_id}@example.com"
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        user = account_service.create_user(
            session, account, email=email, password=password, permissions=permissions or []
        )
        token, row = account_service.start_session(session, user)
        session.commit()
        user_id, csrf = user.id, row.csrf_token
    client = TestClient(app, cookies={"cadency_session": token}, raise_server_exceptions=False)
    return SignedIn(client=client, user_id=user_id, email=email, csrf_token=csrf)


def reads_in(session_factory: Any, user_id: int, language: str) -> None:
    """The user's own language setting: the pages they get from now on are in it."""
    with session_factory() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.language = language
        session.commit()
