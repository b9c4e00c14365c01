"""localstripe, a stateful Stripe-compatible server (PyPI, dev group), for the Stripe adapter's
tests: started once per test session on a free port from the virtualenv's bin folder, stopped
when the session ends. Plus what tests need around it: an account switched to Stripe on it,
webhooks registered with it, and a proxy that loses answers on the way back (a timeout)."""

from __future__ import annotations

import http.server
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api
from tests.servers import free_port

KEY = "sk_test_" + "localstripe" + "0" * 12


@dataclass
class LocalStripe:
    url: str
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", data=data, auth=(KEY, ""), timeout=30)
        assert response.status_code < 300, response.text
        return response.json()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, data)

    def register_webhook(self, url: str, secret: str) -> None:
        """localstripe sends every event to every webhook it knows: one registration, replaced
        by each test that needs webhooks, keeps events going to the current test's server."""
        response = httpx.post(
            f"{self.url}/_config/webhooks/cadency", data={"url": url, "secret": secret}
        )
        assert response.status_code == 200, response.text

    def payment_intents(self, customer: str | None = None) -> list[dict[str, Any]]:
        found = self.get("/v1/payment_intents?limit=100")["data"]
        return [pi for pi in found if customer is None or pi["customer"] == customer]


def _start() -> LocalStripe:
    port = free_port()
    binary = Path(sys.executable).parent / "localstripe"
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = LocalStripe(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{server.url}/v1/balance", auth=(KEY, "")).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("localstripe did not start")
        time.sleep(0.1)


_RUNNING: list[LocalStripe] = []


def shared(config: pytest.Config) -> LocalStripe:
    """The session's localstripe, started by the first test that needs it."""
    if not _RUNNING:
        server = _start()
        _RUNNING.append(server)

        def stop() -> None:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
            _RUNNING.clear()

        config.add_cleanup(stop)
    return _RUNNING[0]


@dataclass
class StripeAccount:
    """A test-mode account switched to Stripe on localstripe."""

    api: Api
    webhook_secret: str
    server: LocalStripe


def use_stripe(api: Api, server: LocalStripe, *, api_base: str | None = None) -> StripeAccount:
    secret = "whsec_" + secrets.token_hex(16)
    body = {
        "processor": "stripe",
        "stripe": {
            "publishable_key": "pk_test_" + secrets.token_hex(12),
            "secret_key": "sk_test_" + secrets.token_hex(12),
            "webhook_secret": secret,
            "api_base": api_base or server.url,
        },
    }
    api.ok(api.patch("/account/processor", body))
    return StripeAccount(api, secret, server)


def card(number: str, exp_year: int = 2045) -> dict[str, Any]:
    return {
        "type": "card",
        "card": {"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": "123"},
    }


def sepa(iban: str) -> dict[str, Any]:
    return {"type": "bank_debit", "bank_debit": {"iban": iban}}


def wait_for(check: Any, timeout: float = 15.0, what: str = "the condition") -> Any:
    """Poll `check()` until it returns something truthy (webhooks arrive a second or two after
    the event)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- a proxy that loses answers ---------------------------------------------------------------


@dataclass
class LossyProxy:
    """Forwards requests to localstripe. For a POST with an Idempotency-Key it keeps
    localstripe's answer and replays it when the key comes again (what Stripe itself does, and
    localstripe does not); while `lose_answers` is set, an answer is kept but never sent back:
    the client waits, then its connection is closed (a timeout)."""

    upstream: str
    url: str = ""
    # Answers still to lose (counted per request), and the losing itself.
    lose_answers: int = 0
    hold_seconds: float = 1.5
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, key
    forwarded: list[tuple[str, str, str | None]] = field(default_factory=list)
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self, path: str) -> list[str | None]:
        return [key for method, p, key in self.seen if method == "POST" and p == path]


def _handler(proxy: LossyProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            key = self.headers.get("Idempotency-Key")
            path = self.path.split("?", 1)[0]
            with proxy.lock:
                proxy.seen.append((self.command, path, key))
                replay = proxy.answers.get(key) if key else None
            if replay is None:
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in ("host", "content-length", "connection")
                }
                upstream = httpx.request(
                    self.command,
                    f"{proxy.upstream}{self.path}",
                    content=body,
                    headers=headers,
                    timeout=30,
                )
                replay = (upstream.status_code, upstream.content)
                with proxy.lock:
                    proxy.forwarded.append((self.command, path, key))
                    if key:
                        proxy.answers[key] = replay
            with proxy.lock:
                lose = proxy.lose_answers > 0 and self.command == "POST"
                if lose:
                    proxy.lose_answers -= 1
            if lose:
                time.sleep(proxy.hold_seconds)
                self.close_connection = True
                return
            status, content = replay
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = _relay
        do_POST = _relay
        do_DELETE = _relay

    return Handler


@contextmanager
def lossy_proxy(upstream: str) -> Iterator[LossyProxy]:
    proxy = LossyProxy(upstream)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


# --- events a test sends itself (localstripe sends no refund events) --------------------------


def signature_header(secret: str, payload: bytes, at: int | None = None) -> str:
    """A Stripe-Signature header as Stripe makes it: HMAC-SHA256 over "{t}.{payload}"."""
    import hashlib
    import hmac

    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    import json

    body = {
        "id": event_id or "evt_" + secrets.token_hex(8),
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()
