"""One table (web/sections.py) decides which permission opens which section: the left menu
shows a section exactly when its page opens, and a section's forms need the same permission
whether the form is shown (GET) or sent (POST)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadency.accounts import service as account_service
from cadency.accounts.models import PERMISSIONS, Account, User
from cadency.web.auth import SESSION_COOKIE
from cadency.web.sections import SECTIONS
from tests.conftest import Api

NAV = re.compile(r'<nav class="sidebar".*?</nav>', re.S)


class Browser:
    """A signed-in user's HTTP client: its session cookie and CSRF token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token
        page = self.get("/settings/profile")
        assert page.status_code == 200, page.text
        found = re.search(r"hx-headers='(\{.*?\})'", page.text)
        assert found is not None
        self.csrf = json.loads(found.group(1))["X-CSRF-Token"]

    def _signed_in(self) -> TestClient:
        # The client is shared by the whole run: this user's cookie only, for this request.
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.token)
        return self.client

    def get(self, path: str) -> Any:
        return self._signed_in().get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        body = {"csrf_token": self.csrf, **(data or {})}
        return self._signed_in().post(path, data=body, follow_redirects=False)

    def menu(self) -> list[str]:
        found = NAV.search(self.get("/settings/profile").text)
        assert found is not None
        return re.findall(r'<a href="([^"]+)"', found.group(0))


def as_user(client: TestClient, session_factory: Any, api: Api, *permissions: str) -> Browser:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        email = f"{'-'.join(permissions).replace('.', '_') or 'admin'}-{api.account_id}@example.com"
        user = account_service.create_user(
            session, account, email=email, password="password-123", permissions=permissions
        )
        token, _ = account_service.start_session(session, user)
        session.commit()
    return Browser(client, token)


@pytest.mark.parametrize("permission", PERMISSIONS)
def test_the_menu_shows_exactly_the_sections_the_user_can_open(
    client: TestClient, session_factory: Any, api: Api, permission: str
) -> None:
    user = as_user(client, session_factory, api, permission)
    menu = user.menu()
    for name, section in SECTIONS.items():
        status = user.get(section.path).status_code
        assert status in (200, 403), (name, status)
        assert (section.path in menu) == (status == 200), (permission, name, status, menu)


def test_a_billing_editor_opens_the_settings_pages_they_may_change(
    client: TestClient, session_factory: Any, api: Api
) -> None:
    # They could save the billing portal and the account's plan, but not open those pages.
    editor = as_user(client, session_factory, api, "billing.edit")
    assert editor.menu() == [
        "/settings/account",
        "/settings/billing",
        "/settings/portal",
        "/settings/payment-processor",
    ]
    assert editor.get("/settings/billing").status_code == 200
    portal = editor.get("/settings/portal")
    assert portal.status_code == 200 and 'type="submit"' in portal.text
    assert editor.get("/subscriptions").status_code == 403
    # Home is the first section they can open, not a 403.
    home = editor.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/settings/account"


def test_a_properties_editor_opens_the_properties_they_may_change(
    client: TestClient, session_factory: Any, api: Api
) -> None:
    editor = as_user(client, session_factory, api, "properties.edit")
    assert "/settings/properties" in editor.menu()
    assert editor.get("/settings/properties/contacts").status_code == 200
    assert editor.get("/settings/properties/contacts/new").status_code == 200


def test_a_limited_user_gets_403_on_get_and_post_of_what_is_not_in_their_menu(
    client: TestClient, session_factory: Any, api: Api
) -> None:
    viewer = as_user(client, session_factory, api, "subscriptions.view")
    menu = viewer.menu()
    for hidden in ("/settings/users", "/settings/api-keys", "/settings/mailbox"):
        assert hidden not in menu
    refused = [
        viewer.get("/settings/api-keys"),
        viewer.get("/settings/api-keys/new"),
        viewer.post("/settings/api-keys/new", {"name": "Mine", "scopes": "super_admin"}),
        viewer.get("/settings/users/new"),
        viewer.post("/settings/users/new", {"email": "x@example.com", "password": "12345678"}),
        viewer.get("/settings/mailbox"),
        viewer.post("/settings/account", {"timezone": "UTC"}),
        viewer.post("/settings/portal", {}),
        viewer.get("/settings/payment-processor"),
        viewer.post("/settings/payment-processor", {"processor": "sandbox"}),
        viewer.post("/settings/billing/end-trial"),
        viewer.get("/settings/properties/contacts/new"),
        viewer.post("/settings/properties/contacts", {"name": "x", "label": "X"}),
    ]
    for response in refused:
        assert response.status_code == 403, (response.request.url, response.status_code)
        assert "permission" in response.text
    with session_factory() as session:
        emails = session.query(User.email).filter_by(account_id=api.account_id).all()
        assert ("x@example.com",) not in emails
