"""A real HTTP receiver on loopback for webhook tests: it records every request (headers and
body) and answers as the test tells it (status, body size, delay, a redirect)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi import FastAPI


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # What to answer, one per request; the last one repeats.
    answers: list[int] = field(default_factory=lambda: [200])
    answer_bytes: int = 2
    delay: float = 0.0

    def answer(self) -> int:
        index = min(len(self.requests) - 1, len(self.answers) - 1)
        return self.answers[index]


class _Server(ThreadingHTTPServer):
    # Set before it listens: the default backlog of 5 resets a burst of new connections.
    request_queue_size = 128


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            receiver.requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.answer()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("location", receiver.url + "/elsewhere")
            self.send_header("content-length", str(receiver.answer_bytes))
            self.end_headers()
            # The sender stops reading a huge answer, as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(b"x" * receiver.answer_bytes)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


@pytest.fixture
def allow_private(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Receivers on loopback allowed, as CADENCY_WEBHOOK_ALLOW_PRIVATE=1 does."""
    settings = dataclasses.replace(app.state.settings, webhook_allow_private=True)
    monkeypatch.setattr(app.state, "settings", settings)
