from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from cadency.kit.middleware import LimitRequestBody
from tests.conftest import Api
from tests.test_idempotency import BODY, count_products
from tests.web.test_hosted_pages import sent_invoice


def test_nul_characters_are_refused_everywhere(api: Api, db: Any) -> None:
    assert api.get("/deals", params={"company_id": "\x00"}).status_code == 400
    response = api.post("/products", {**BODY, "name": "Beans\x00"})
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
    assert count_products(db, api.account_id) == 0


# --- body size (issue 11, #5) -------------------------------------------------------------

MIB = 1024 * 1024


def test_api_bodies_over_one_mib_are_refused_before_authentication(client: TestClient) -> None:
    # No key, a path that does not exist: the size is refused before either is looked at.
    response = client.post(
        "/api/v1/nothing-here",
        content=b'{"name": "' + b"x" * MIB + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == {
        "type": "invalid_request",
        "message": "The request body is larger than 1 MiB",
    }


def test_a_streamed_body_is_cut_off_as_it_passes_the_limit(api: Api, db: Any) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 4 MiB in all, without a Content-Length
            sent.append(1)
            yield b" " * (64 * 1024)

    response = api.client.post(
        "/api/v1/products",
        content=chunks(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "1 MiB" in response.json()["error"]["message"]
    assert count_products(db, api.account_id) == 0


def test_forms_may_be_larger_than_api_bodies_but_not_over_ten_mib(client: TestClient) -> None:
    # 2 MiB of notes (each under the form parser's own 1 MiB per field) are read...
    form = {"email": "a@example.com", **{f"note{n}": "x" * (100 * 1024) for n in range(20)}}
    assert client.post("/login", data=form).status_code == 403  # ...on to the CSRF check
    form.update({f"note{n}": "x" * (100 * 1024) for n in range(20, 110)})
    response = client.post("/login", data=form)
    assert response.status_code == 413
    assert "10 MiB" in response.json()["error"]["message"]


def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append("app")

    async def receive() -> Message:
        calls.append("receive")
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    guard = LimitRequestBody(app, limit_for=lambda path: 100)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/products",
        "headers": [(b"content-length", b"1000000000")],
    }
    asyncio.run(guard(scope, receive, send))
    assert calls == []
    assert sent[0]["status"] == 413


# --- NUL in forms (issue 11, low) ---------------------------------------------------------


def test_nul_in_a_form_is_refused(client: TestClient) -> None:
    encoded = client.post(
        "/login",
        content=b"email=a%00b%40example.com&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert encoded.status_code == 400
    assert "NUL" in encoded.json()["error"]["message"]
    multipart = client.post(
        "/login", data={"email": "a\x00b@example.com"}, files={"note": ("note.txt", b"hi")}
    )
    assert multipart.status_code == 400
    # A percent sign followed by other digits is fine.
    fine = client.post(
        "/login",
        content=b"email=a%2500b%40example.com&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert fine.status_code == 403  # on to the login form's CSRF check


# --- security headers (issue 11, low) -----------------------------------------------------


def test_pages_carry_a_content_security_policy_and_friends(client: TestClient) -> None:
    page = client.get("/login")
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy  # no inline script, no eval
    assert "object-src 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in page.headers  # served over plain HTTP


def test_api_answers_are_nosniff_without_a_page_policy(api: Api) -> None:
    response = api.get("/products")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers


def test_signed_link_pages_send_no_referrer(api: Api, session_factory: Any) -> None:
    invoice = sent_invoice(api, session_factory)
    page = api.client.get(urlsplit(invoice["hosted_url"]).path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    bad_link = api.client.get("/billing/portal/not-a-token")
    assert bad_link.headers["Referrer-Policy"] == "no-referrer"


def test_hsts_only_over_https(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as secure:
        response = secure.get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_template_needs_inline_script() -> None:
    """The policy allows scripts from our files only: no inline <script>, no on*= handlers,
    no htmx trigger filters (htmx evaluates those as code). A JSON data block (`<script
    type="application/json">`, the charts' figures) is data a browser never runs."""
    offenders = []
    for path in Path("src/cadency").rglob("*.html"):
        if "email" in path.parts:
            continue  # emails are not served as pages
        text = path.read_text()
        if (
            re.search(r'<script(?![^>]*\b(?:src=|type="application/json"))[^>]*>', text)
            or re.search(r"\son[a-z]+\s*=", text)
            or re.search(r'hx-trigger="[^"]*\[', text)
            or "javascript:" in text
        ):
            offenders.append(str(path))
    assert offenders == []


# --- signed-link tokens in the access log (issue 11, low) ---------------------------------


def test_signed_link_tokens_are_redacted_in_the_access_log(
    app: FastAPI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = logging.getLogger("uvicorn.access")
    # A server started by an earlier test may have configured uvicorn's logging, which stops
    # its access log from reaching the root logger: hand the records to caplog directly.
    monkeypatch.setattr(access, "propagate", False)
    access.addHandler(caplog.handler)
    paths = [
        "/billing/invoices/eyJkIjp7fQ.c2ln/pdf",
        "/billing/update-payment-method/eyJkIjp7fQ.c2ln",
        "/billing/portal/eyJkIjp7fQ.c2ln/manage?section=plans",
        "/password-reset/eyJkIjp7fQc2lnbmVk",
    ]
    try:
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            for path in [*paths, "/subscriptions"]:
                # The call uvicorn's access logger makes for every request.
                access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5123", "GET", path, "1.1", 200)
    finally:
        access.removeHandler(caplog.handler)
    lines = [record.getMessage() for record in caplog.records]
    assert not any("eyJkIjp7fQ" in line for line in lines)
    assert '"GET /billing/invoices/[redacted]/pdf HTTP/1.1" 200' in lines[0]
    assert "/billing/update-payment-method/[redacted] " in lines[1]
    assert "/billing/portal/[redacted]/manage?section=plans" in lines[2]
    assert "/password-reset/[redacted] " in lines[3]
    assert "/subscriptions" in lines[4]


def test_the_size_guard_is_the_outermost_middleware(app: FastAPI) -> None:
    order = [middleware.cls for middleware in app.user_middleware]
    assert order[0] is LimitRequestBody
