"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and a helper that runs
the dispatcher for one account (the tests share one database)."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.config import Settings
from cadency.notifications.dispatcher import Dispatcher, DispatchSummary
from cadency.notifications.models import EmailDelivery

BASE_URL = "http://cadency.test"


def plain(text: str) -> str:
    """Babel's no-break spaces (in "US$ 30,00") and SMTP's CRLF, as the eye reads them."""
    return text.replace("\xa0", " ").replace("\u202f", " ").replace("\r\n", "\n")


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return plain(str(self.message["Subject"]))

    @property
    def language(self) -> str:
        return str(self.message["Content-Language"])

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return plain(str(part.get_content()))  # type: ignore[attr-defined]

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return plain(str(part.get_content()))  # type: ignore[attr-defined]

    def attachments(self) -> list[tuple[str, bytes]]:
        return [
            (str(part.get_filename()), part.get_content())  # type: ignore[attr-defined]
            for part in self.message.iter_attachments()
        ]


@dataclass
class SmtpInbox:
    """The aiosmtpd handler: every message the server accepts, in order."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def take(self) -> list[Received]:
        """What arrived since the last call."""
        with self.lock:
            taken, self.received[:] = list(self.received), []
        return taken


@dataclass
class SmtpServer:
    url: str
    inbox: SmtpInbox
    controller: Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(f"smtp://127.0.0.1:{port}", inbox, controller)
    finally:
        controller.stop()


def settings(smtp_url: str | None) -> Settings:
    return Settings(database_url="unused", base_url=BASE_URL, smtp_url=smtp_url)


def deliver(
    session_factory: Any,
    account_id: int,
    smtp_url: str | None,
    *,
    now: datetime | None = None,
) -> DispatchSummary:
    """One pass of a new dispatcher (as after a restart) over one account's outbox."""
    with session_factory() as session:
        return Dispatcher(settings(smtp_url)).run(session, now=now, account_id=account_id)


def add_user(
    session_factory: Any,
    account_id: int,
    email_address: str,
    permissions: tuple[str, ...] = (),
    language: str | None = None,
) -> int:
    with session_factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        user = account_service.create_user(
            session, account, email=email_address, password="password-123", permissions=permissions
        )
        user.language = language
        session.commit()
        return user.id


def deliveries(session_factory: Any, account_id: int) -> list[tuple[str, str, str, int]]:
    """(kind, recipient, status, attempts) of every delivery, oldest first."""
    with session_factory() as session:
        rows = session.execute(
            select(
                EmailDelivery.kind,
                EmailDelivery.recipient,
                EmailDelivery.status,
                EmailDelivery.attempts,
            )
            .where(EmailDelivery.account_id == account_id)
            .order_by(EmailDelivery.id)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]
