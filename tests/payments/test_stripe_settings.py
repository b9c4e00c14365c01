"""GET/PATCH /account/processor: the sandbox or Stripe, Stripe's keys checked for their form,
their mode and by Stripe itself (localstripe), secrets write-only and encrypted at rest."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cadency.kit import encryption
from cadency.payments.models import ProcessorSettings
from tests.conftest import Api, make_api
from tests.stripe_server import LocalStripe

TEST_SECRET = "sk_test_" + "a1B2c3D4e5F6g7H8" + "wxyz"
TEST_PUBLISHABLE = "pk_test_" + "p1Q2r3S4t5U6"
WEBHOOK_SECRET = "whsec_" + "0123456789abcdef"


def stripe_body(server: LocalStripe, **changes: Any) -> dict[str, Any]:
    keys = {
        "publishable_key": TEST_PUBLISHABLE,
        "secret_key": TEST_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": server.url,
        **changes,
    }
    return {"processor": "stripe", "stripe": keys}


def error_param(response: Any, status: int = 422) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"].get("param"))


def test_a_test_account_starts_on_the_sandbox(api: Api) -> None:
    shown = api.ok(api.get("/account/processor"))
    assert shown == {
        "processor": "sandbox",
        "stripe": {
            "publishable_key": None,
            "secret_key": None,
            "webhook_secret": None,
            "api_base": None,
            "webhook_url": f"http://testserver/webhooks/stripe/{api.account_id}",
        },
    }


def test_switching_to_stripe_keeps_the_secrets_write_only_and_encrypted(
    api: Api, localstripe: LocalStripe, session_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    saved = api.patch("/account/processor", stripe_body(localstripe))
    assert saved.status_code == 200, saved.text
    shown = api.ok(api.get("/account/processor"))
    assert shown["processor"] == "stripe"
    assert shown["stripe"] == {
        "publishable_key": TEST_PUBLISHABLE,
        "secret_key": "sk_test_…wxyz",
        "webhook_secret": "whsec_…",
        "api_base": localstripe.url,
        "webhook_url": f"http://testserver/webhooks/stripe/{api.account_id}",
    }
    for text in (saved.text, json.dumps(shown), caplog.text):
        assert TEST_SECRET not in text and WEBHOOK_SECRET not in text
    with session_factory() as session:
        row = session.get(ProcessorSettings, api.account_id)
        assert row is not None and row.stripe_secret_key_encrypted is not None
        stored = f"{row.stripe_secret_key_encrypted} {row.stripe_webhook_secret_encrypted}"
        assert TEST_SECRET not in stored and WEBHOOK_SECRET not in stored
        assert "a1B2c3D4" not in stored
        box = encryption.box_for(session)
        assert box.decrypt(row.stripe_secret_key_encrypted) == TEST_SECRET
        assert box.decrypt(row.stripe_webhook_secret_encrypted or "") == WEBHOOK_SECRET

    # What GET answered can be sent back (less the read-only webhook URL): the masked secrets
    # leave the saved ones alone.
    echo = {**shown, "stripe": {k: v for k, v in shown["stripe"].items() if k != "webhook_url"}}
    again = api.ok(api.patch("/account/processor", echo))
    assert again == shown
    # Back to the sandbox and to Stripe again: the keys are kept meanwhile.
    assert api.ok(api.patch("/account/processor", {"processor": "sandbox"}))["processor"] == (
        "sandbox"
    )
    assert (
        api.ok(api.patch("/account/processor", {"processor": "stripe"}))["stripe"]
        == (shown["stripe"])
    )


def test_the_key_file_is_made_next_to_the_database_readable_by_its_owner_only(
    app: FastAPI, api: Api, localstripe: LocalStripe
) -> None:
    settings = app.state.settings
    if settings.encryption_key or not settings.database_url.startswith("sqlite"):
        pytest.skip("the key comes from CADENCY_ENCRYPTION_KEY or the data folder here")
    api.ok(api.patch("/account/processor", stripe_body(localstripe)))
    path = encryption.key_file_path(settings)
    assert path.parent == encryption.key_file_path(settings).parent
    assert str(path.parent) in settings.database_url
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize(
    ("changes", "param", "words"),
    [
        ({"secret_key": "sk_live_" + "a" * 24}, "stripe.secret_key", "sk_test_ keys only"),
        ({"publishable_key": "pk_live_" + "a" * 24}, "stripe.publishable_key", "pk_test_"),
        ({"secret_key": "sk_test_short"}, "stripe.secret_key", "not a Stripe secret key"),
        ({"secret_key": "rk_test_" + "a" * 24}, "stripe.secret_key", "not a Stripe secret key"),
        ({"secret_key": "pk_test_" + "a" * 24}, "stripe.secret_key", "not a Stripe secret key"),
        ({"publishable_key": "nope"}, "stripe.publishable_key", "not a Stripe publishable key"),
        ({"webhook_secret": "secret"}, "stripe.webhook_secret", "whsec_"),
        ({"api_base": "ftp://example.com"}, "stripe.api_base", "http(s) URL"),
        ({"webhook_secret": None}, "stripe.webhook_secret", "cannot be null"),
    ],
)
def test_keys_of_the_wrong_form_or_mode_are_refused_naming_the_field(
    api: Api, localstripe: LocalStripe, changes: dict[str, Any], param: str, words: str
) -> None:
    response = api.patch("/account/processor", stripe_body(localstripe, **changes))
    assert error_param(response) == param
    assert words in response.json()["error"]["message"]
    assert api.ok(api.get("/account/processor"))["processor"] == "sandbox"


@pytest.mark.parametrize("missing", ["secret_key", "publishable_key", "webhook_secret"])
def test_switching_to_stripe_needs_every_key(
    api: Api, localstripe: LocalStripe, missing: str
) -> None:
    body = stripe_body(localstripe)
    del body["stripe"][missing]
    response = api.patch("/account/processor", body)
    assert error_param(response) == f"stripe.{missing}"
    assert "Missing required field" in response.json()["error"]["message"]


@contextmanager
def refusing_stripe() -> Iterator[str]:
    """A server that answers like Stripe does to a revoked or mistyped key (401)."""

    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps(
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
            ).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_secret_key_stripe_refuses_is_not_saved(api: Api, localstripe: LocalStripe) -> None:
    # localstripe takes any sk_ key, so Stripe's 401 comes from a server that refuses all.
    with refusing_stripe() as base:
        response = api.patch("/account/processor", stripe_body(localstripe, api_base=base))
    assert error_param(response) == "stripe.secret_key"
    assert response.json()["error"]["message"] == "Stripe refused this secret key"
    assert api.ok(api.get("/account/processor"))["stripe"]["secret_key"] is None


def test_an_unreachable_api_base_is_named(api: Api, localstripe: LocalStripe) -> None:
    response = api.patch(
        "/account/processor", stripe_body(localstripe, api_base="http://127.0.0.1:9")
    )
    assert error_param(response) == "stripe.api_base"


def test_the_stored_key_goes_only_to_the_server_it_was_saved_for(
    api: Api, localstripe: LocalStripe
) -> None:
    api.ok(api.patch("/account/processor", stripe_body(localstripe)))
    moved = api.patch("/account/processor", {"stripe": {"api_base": "http://127.0.0.1:1234"}})
    assert error_param(moved) == "stripe.secret_key"
    assert "again" in moved.json()["error"]["message"]
    # With the key given again, it is checked there (and saved when that server takes it).
    again = api.patch(
        "/account/processor",
        {"stripe": {"api_base": localstripe.url + "/", "secret_key": TEST_SECRET}},
    )
    assert again.status_code == 200, again.text
    assert again.json()["stripe"]["api_base"] == localstripe.url


def test_live_accounts_take_live_keys_and_no_sandbox(
    client: TestClient, session_factory: Any, localstripe: LocalStripe
) -> None:
    live = make_api(client, session_factory, name="Live shop", mode="live")
    shown = live.ok(live.get("/account/processor"))
    assert shown["processor"] is None
    assert error_param(live.patch("/account/processor", {"processor": "sandbox"})) == "processor"
    refused = live.patch(
        "/account/processor",
        stripe_body(localstripe, api_base=None, publishable_key="pk_live_" + "a" * 24),
    )
    assert error_param(refused) == "stripe.secret_key"
    assert "sk_live_ keys only" in refused.json()["error"]["message"]
    live_keys = {
        "publishable_key": "pk_live_" + "a" * 24,
        "secret_key": "sk_live_" + "b" * 24,
        "webhook_secret": WEBHOOK_SECRET,
    }
    with_base = live.patch(
        "/account/processor",
        {"processor": "stripe", "stripe": {**live_keys, "api_base": localstripe.url}},
    )
    assert error_param(with_base) == "stripe.api_base"


def test_changing_the_processor_needs_billing_edit(api_with_scopes: Any) -> None:
    viewer = api_with_scopes("subscriptions.view")
    assert viewer.get("/account/processor").status_code == 403
    assert viewer.patch("/account/processor", {"processor": "sandbox"}).status_code == 403
    editor = api_with_scopes("billing.edit")
    assert editor.ok(editor.get("/account/processor"))["processor"] == "sandbox"
