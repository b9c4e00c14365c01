"""Signed-in web clients for page tests that need no browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from tests.conftest import Api


@contextmanager
def signed_in(
    api: Api, session_factory: Any, email: str, permissions: list[str]
) -> Iterator[tuple[TestClient, str]]:
    """A client signed in as a new user of `api`'s account with these permissions, and the
    session's CSRF token for posting forms."""
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        user = account_service.create_user(
            session, account, email=email, password="correct horse battery", permissions=permissions
        )
        token, row = account_service.start_session(session, user)
        csrf = row.csrf_token
        session.commit()
    with TestClient(
        api.client.app, cookies={"cadency_session": token}, raise_server_exceptions=False
    ) as client:
        yield client, csrf
