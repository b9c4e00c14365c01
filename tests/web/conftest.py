"""Browser tests: the app served by a real uvicorn on loopback (same database as the API
fixtures), driven by Debian's Chromium through Playwright. Screenshots of the main pages go to
test-output/screenshots/ for review."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, Page

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from tests.conftest import Api
from tests.servers import serving

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def live_server(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    return live_server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Debian's Chromium, never a downloaded browser; flags that keep it off the network.
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--headless",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "en-US", "viewport": {"width": 1400, "height": 900}}


@pytest.fixture
def page(page: Page) -> Page:
    # A missing element should fail a test in seconds, not after Playwright's 30 s default.
    page.set_default_timeout(7_000)
    return page


@dataclass
class Staff:
    """A signed-in user of an account, with the API client of the same account for setup."""

    api: Api
    email: str
    page: Page
    base_url: str

    def goto(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page


def add_user(
    api: Api, session_factory: Any, email: str, permissions: list[str] | None = None
) -> Any:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        user = account_service.create_user(
            session, account, email=email, password=PASSWORD, permissions=permissions or []
        )
        session.commit()
        return user.id


def sign_in(context: BrowserContext, session_factory: Any, user_id: int, base_url: str) -> None:
    """Put a fresh session cookie into the browser (the login form has its own tests)."""
    from cadency.accounts.models import User

    with session_factory() as session:
        user = session.get(User, user_id)
        token, _ = account_service.start_session(session, user)
        session.commit()
    context.add_cookies([{"name": "cadency_session", "value": token, "url": base_url}])


@pytest.fixture
def staff(
    api: Api, session_factory: Any, page: Page, context: BrowserContext, base_url: str
) -> Staff:
    """A super admin of a fresh test-mode account, signed in."""
    email = f"admin-{api.account_id}@example.com"
    user_id = add_user(api, session_factory, email)
    sign_in(context, session_factory, user_id, base_url)
    return Staff(api=api, email=email, page=page, base_url=base_url)


def screenshot(page: Page, name: str) -> None:
    """Keep a picture of a main page for review (test-output/ is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
