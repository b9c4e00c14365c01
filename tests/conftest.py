"""Test fixtures: one migrated database per run (SQLite, or PostgreSQL when
CADENCY_TEST_DATABASE_URL is set) and a fresh account per test, which keeps tests apart."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.config import Settings
from cadency.kit.db import is_sqlite, make_engine, make_session_factory
from cadency.models import Base
from cadency.plans import service as plans
from cadency.plans.operator import install_plans

# Property tests check values, not speed: on a busy two-core machine a slow draw or example is
# no failure.
hypothesis_settings.register_profile(
    "cadency", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("cadency")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("CADENCY_TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
        return url
    path: Path = tmp_path_factory.mktemp("db") / "cadency.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where the app keeps files (exports) during the run: a temporary folder."""
    return str(tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="session")
def app(database_url: str, files_dir: str) -> FastAPI:
    from cadency.web.app import create_app

    # Every test posts from one client address, so the per-address limits (made for one
    # visitor) are lifted here; tests/test_rate_limits.py checks them with their defaults.
    settings = Settings(
        database_url=database_url,
        base_url="http://testserver",
        smtp_url=None,
        files_dir=files_dir,
        login_limit_per_address="100000 per 15 minutes",
        payment_form_limit_per_address="100000 per hour",
        checkout_failure_limit_per_address="100000 per 10 minutes",
        password_reset_limit_per_address="100000 per hour",
    )
    return create_app(settings)


@pytest.fixture(scope="session")
def session_factory(app: FastAPI) -> Any:
    return app.state.session_factory


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Api:
    """An HTTP client for one account: `api.post("/products", {...})`."""

    client: TestClient
    account_id: int
    key: str

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(
        self, path: str, params: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.get(f"/api/v1{path}", params=params, headers=self._headers(headers))

    def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.post(f"/api/v1{path}", json=json, headers=self._headers(headers))

    def patch(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self._headers(headers))

    def delete(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.delete(f"/api/v1{path}", headers=self._headers(headers))

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()


def make_api(client: TestClient, session_factory: Any, **account: Any) -> Api:
    with session_factory() as session:
        created, key = account_service.create_account(
            session, name=account.pop("name", "Test shop"), **account
        )
        session.commit()
        return Api(client=client, account_id=created.id, key=key)


def pin_clock(session_factory: Any, account_id: int, moment: datetime) -> None:
    """Set a test account's clock to `moment` and stop it there (no `clock_set_at`), so a test
    can assert exact instants; a clock set through the API runs on with real time."""
    with session_factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        account.clock_now = moment
        account.clock_set_at = None
        session.commit()


@pytest.fixture
def api(client: TestClient, session_factory: Any) -> Api:
    return make_api(client, session_factory)


@pytest.fixture
def other_api(client: TestClient, session_factory: Any) -> Api:
    return make_api(client, session_factory, name="Another shop")


@pytest.fixture
def db(session_factory: Any) -> Iterator[Any]:
    with session_factory() as session:
        yield session


__all__ = ["Api", "Base", "is_sqlite", "make_api", "make_session_factory", "pin_clock"]


@pytest.fixture
def api_with_scopes(api: Api, session_factory: Any) -> Callable[..., Api]:
    """Another API key of `api`'s account that holds only the given permissions."""

    def make(*scopes: str) -> Api:
        with session_factory() as session:
            account = session.get(Account, api.account_id)
            assert account is not None
            _key, secret = account_service.create_api_key(
                session, account, name="Limited key", scopes=list(scopes)
            )
            session.commit()
        return Api(client=api.client, account_id=api.account_id, key=secret)

    return make


@dataclass
class Operator:
    """The installation's operator account, which bills the others for their plans."""

    api: Api


@pytest.fixture
def operator(client: TestClient, session_factory: Any) -> Iterator[Operator]:
    """The installation's operator (one per database: made by the first test that needs it)."""
    with session_factory() as session:
        existing = plans.operator_account(session)
        if existing is not None:
            _key, secret = account_service.create_api_key(
                session, existing, name="Test key", scopes=["super_admin"]
            )
            session.commit()
            yield Operator(Api(client=client, account_id=existing.id, key=secret))
            return
    api = make_api(client, session_factory, name="Cadency Cloud")
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        install_plans(session, account)
        session.commit()
    yield Operator(api)


def enrolled_account(client: TestClient, session_factory: Any, name: str, **account: Any) -> Api:
    """A new account billed by the operator (fixture `operator`): a trial of its paid plan."""
    api = make_api(client, session_factory, name=name)
    with session_factory() as session:
        created = session.get(Account, api.account_id)
        assert created is not None
        for key, value in account.items():
            setattr(created, key, value)
        plans.enroll(session, created, f"owner@{name.lower().replace(' ', '-')}.example")
        session.commit()
    return api


def add_account_users(session_factory: Any, api: Api, *emails: str) -> list[int]:
    ids = []
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        for email in emails:
            user = account_service.create_user(
                session, account, email=email, password="password-123"
            )
            session.flush()
            ids.append(user.id)
        session.commit()
    return ids
