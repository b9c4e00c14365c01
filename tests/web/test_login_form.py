"""The login form without a browser (issue 11): it carries a CSRF token bound to the browser's
pre-session cookie, so another site cannot post it to sign a visitor into an account of the
attacker's choosing; a post without the token, or with another browser's, is refused (403)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Api, add_account_users
from tests.test_rate_limits import login_token


def browser(app: FastAPI) -> TestClient:
    return TestClient(
        app, raise_server_exceptions=False, client=(f"198.51.100.{secrets.randbelow(250)}", 1)
    )


def test_login_needs_the_forms_token(app: FastAPI, api: Api, session_factory: Any) -> None:
    email = f"csrf-{api.account_id}@example.com"
    add_account_users(session_factory, api, email)
    form = {"email": email, "password": "password-123", "next": "/subscriptions"}

    forged = browser(app).post("/login", data=form, follow_redirects=False)
    assert forged.status_code == 403
    assert "This form has expired. Reload the page and try again." in forged.text
    assert "cadency_session" not in forged.cookies

    # A token taken from another browser does not fit this browser's cookie.
    attacker = browser(app)
    stolen = login_token(attacker)
    victim = browser(app)
    login_token(victim)  # the victim has a pre-session cookie of their own
    crossed = victim.post("/login", data={**form, "csrf_token": stolen}, follow_redirects=False)
    assert crossed.status_code == 403

    # Without the cookie the token alone is not enough either.
    bare = browser(app)
    assert bare.post("/login", data={**form, "csrf_token": stolen}).status_code == 403

    signed_in = attacker.post("/login", data={**form, "csrf_token": stolen}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/subscriptions"
    assert signed_in.cookies.get("cadency_session")


def test_the_pre_session_cookie_is_http_only(app: FastAPI) -> None:
    page = browser(app).get("/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("cadency_login=")
    assert "HttpOnly" in cookie
    assert "Path=/login" in cookie
    assert "SameSite=lax" in cookie
