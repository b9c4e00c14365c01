"""The dispatcher: restarts never resend, not even after dying in the middle of sending; an
unreachable SMTP server is retried with backoff and the email then arrives once; and without an
SMTP server the emails go to the dev mailbox."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from cadency.kit.outbox import OutboxMessage
from cadency.notifications.dispatcher import BACKOFF, INTERRUPTED, SENDING_LEASE, SmtpConnection
from cadency.notifications.models import EmailDelivery, MailboxMessage
from tests.notifications.conftest import (
    SmtpServer,
    add_user,
    deliver,
    deliveries,
    free_port,
    settings,
)
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 8, tzinfo=UTC)


def outbox_undelivered(session_factory: Any, account_id: int) -> list[str]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(OutboxMessage.type)
                .where(OutboxMessage.account_id == account_id, OutboxMessage.delivered_at.is_(None))
                .order_by(OutboxMessage.id)
            )
        )


def test_a_restarted_dispatcher_does_not_resend(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    add_user(session_factory, account_id, "boss@shop.test")
    story.subscribe(price="30.00")

    summary = deliver(session_factory, account_id, smtp_server.url)
    # Receipt + first-payment notice, from three events (the subscription made, its status,
    # the payment).
    assert (summary.sent, summary.events) == (2, 3)
    assert sorted(m.to[0] for m in smtp_server.inbox.take()) == [
        "boss@shop.test",
        "buyer@example.com",
    ]
    # The status change has no email: delivered all the same.
    assert outbox_undelivered(session_factory, account_id) == []

    # A crash after sending but before the outbox row was marked: the row is undelivered
    # again, but its deliveries say "sent", so a new dispatcher sends nothing.
    with session_factory() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.account_id == account_id)
            .values(delivered_at=None)
        )
        session.commit()
    again = deliver(session_factory, account_id, smtp_server.url)
    assert (again.sent, again.events) == (0, 3)
    assert smtp_server.inbox.take() == []
    assert outbox_undelivered(session_factory, account_id) == []
    assert deliveries(session_factory, account_id) == [
        ("receipt", "buyer@example.com", "sent", 1),
        ("admin_payment", "boss@shop.test", "sent", 1),
    ]
    assert deliver(session_factory, account_id, smtp_server.url).sent == 0


class Crash(BaseException):
    """The process dying: nothing in the dispatcher catches it."""


def test_a_dispatcher_that_dies_while_sending_never_sends_twice(
    client: Any, session_factory: Any, smtp_server: SmtpServer, monkeypatch: Any
) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    add_user(session_factory, account_id, "boss@shop.test")
    story.subscribe(price="30.00")
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)

    # The first email goes out, then the process dies before recording anything.
    send = SmtpConnection.send
    calls: list[str] = []
    lock = threading.Lock()

    def send_then_die(connection: SmtpConnection, sender: str, email: Any) -> None:
        with lock:
            calls.append(email.to)
            first = len(calls) == 1
        if not first:
            raise Crash
        send(connection, sender, email)

    with monkeypatch.context() as patched:
        patched.setattr(SmtpConnection, "send", send_then_die)
        with pytest.raises(Crash):
            deliver(session_factory, account_id, smtp_server.url, now=now)
    assert len(smtp_server.inbox.take()) == 1
    # Both deliveries were marked `sending` before anything was sent.
    assert deliveries(session_factory, account_id) == [
        ("receipt", "buyer@example.com", "sending", 1),
        ("admin_payment", "boss@shop.test", "sending", 1),
    ]

    # A restarted dispatcher leaves them alone while the lease runs …
    early = deliver(session_factory, account_id, smtp_server.url, now=now + timedelta(minutes=5))
    # The subscription made and its status change mail no one: done.
    assert (early.sent, early.events) == (0, 2)
    assert outbox_undelivered(session_factory, account_id) == ["payment.succeeded"]
    # … and afterwards records them as interrupted instead of sending either again.
    later = deliver(session_factory, account_id, smtp_server.url, now=now + SENDING_LEASE)
    assert (later.sent, later.events) == (0, 1)
    assert smtp_server.inbox.take() == []
    assert deliveries(session_factory, account_id) == [
        ("receipt", "buyer@example.com", "interrupted", 1),
        ("admin_payment", "boss@shop.test", "interrupted", 1),
    ]
    with session_factory() as session:
        errors = set(
            session.scalars(
                select(EmailDelivery.last_error).where(EmailDelivery.account_id == account_id)
            )
        )
        assert errors == {INTERRUPTED}
    assert outbox_undelivered(session_factory, account_id) == []


def test_an_unreachable_server_is_retried_with_backoff_then_sent_once(
    client: Any, session_factory: Any
) -> None:
    from aiosmtpd.controller import Controller

    from tests.notifications.conftest import SmtpInbox

    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    story.subscribe(price="30.00")
    port = free_port()
    url = f"smtp://127.0.0.1:{port}"  # nothing listens there yet
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)

    down = deliver(session_factory, account_id, url, now=now)
    assert (down.sent, down.retrying, down.failed) == (0, 1, 0)
    with session_factory() as session:
        delivery = session.scalars(
            select(EmailDelivery).where(EmailDelivery.account_id == account_id)
        ).one()
        assert (delivery.status, delivery.attempts) == ("queued", 1)
        assert delivery.next_attempt_at == now + BACKOFF[0]
        assert delivery.last_error is not None and "unreachable" in delivery.last_error
    assert outbox_undelivered(session_factory, account_id) == ["payment.succeeded"]

    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # Before the wait is over, nothing is tried, even with the server back.
        early = deliver(session_factory, account_id, url, now=now + timedelta(seconds=59))
        assert (early.sent, early.retrying) == (0, 0)
        assert inbox.take() == []

        later = deliver(session_factory, account_id, url, now=now + BACKOFF[0])
        assert later.sent == 1
        [mail] = inbox.take()
        assert mail.to == ["buyer@example.com"] and mail.message["X-Cadency-Email"] == "receipt"
        assert deliveries(session_factory, account_id) == [
            ("receipt", "buyer@example.com", "sent", 2)
        ]
        assert outbox_undelivered(session_factory, account_id) == []
        assert deliver(session_factory, account_id, url, now=now + timedelta(days=1)).sent == 0
        assert inbox.take() == []
    finally:
        controller.stop()


def test_a_delivery_fails_for_good_after_the_last_backoff(
    client: Any, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    story.subscribe(price="30.00")
    url = f"smtp://127.0.0.1:{free_port()}"
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    for wait in (timedelta(0), *BACKOFF):
        at += wait
        deliver(session_factory, account_id, url, now=at)
    assert deliveries(session_factory, account_id) == [
        ("receipt", "buyer@example.com", "failed", len(BACKOFF) + 1)
    ]
    # Failed for good: the event is done with, and nothing tries it again.
    assert outbox_undelivered(session_factory, account_id) == []
    later = deliver(session_factory, account_id, url, now=at + timedelta(days=1))
    assert (later.sent, later.retrying, later.failed) == (0, 0, 0)


def test_without_smtp_the_emails_go_to_the_dev_mailbox(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    add_user(session_factory, account_id, "boss@shop.test")
    story.subscribe(price="30.00", invoice_settings={"language": "de"})
    story.subscribe(price="80.00", email="manual@buyer.test", collection_method="send_invoice")

    summary = deliver(session_factory, account_id, None)
    assert summary.sent == 3
    with session_factory() as session:
        mails = session.scalars(
            select(MailboxMessage)
            .where(MailboxMessage.account_id == account_id)
            .order_by(MailboxMessage.id)
        ).all()
        found = [(m.to, m.subject.replace("\xa0", " ")) for m in mails]
        assert found[:2] == [
            ("buyer@example.com", "Ihre Quittung von Test shop"),
            ("boss@shop.test", "First payment: Ann paid $30.00"),
        ]
        assert found[2][0] == "manual@buyer.test" and found[2][1].startswith("Invoice INV-")
        assert "Vielen Dank für Ihre Zahlung über 30,00 $ am 01.03.2026." in mails[0].text.replace(
            "\xa0", " "
        )
        assert mails[0].html.startswith("<!DOCTYPE html>")
        [attachment] = mails[2].attachments
        assert attachment["content_type"] == "application/pdf" and attachment["size"] > 1000
        assert mails[0].sender == "Test shop <billing@cadency.test>"
    assert deliver(session_factory, account_id, None).sent == 0


def test_accounts_take_turns_so_a_backlog_does_not_starve_another(
    client: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cadency.notifications.dispatcher import Dispatcher

    busy = Story(client, session_factory, start=START)
    quiet = Story(client, session_factory, start=START)
    for n in range(4):
        busy.subscribe(email=f"busy{n}@example.com")
    quiet.subscribe(email="quiet@example.com")
    mine = (busy.api.account_id, quiet.api.account_id)
    order: list[int] = []
    run_batch = Dispatcher.run_batch

    def recording(self: Dispatcher, session: Any, **kwargs: Any) -> Any:
        if kwargs.get("account_id") in mine:
            order.append(kwargs["account_id"])
        return run_batch(self, session, **kwargs)

    monkeypatch.setattr(Dispatcher, "run_batch", recording)
    with session_factory() as session:
        Dispatcher(settings(None), batch_size=1).run(session)
    # One batch of each account per round: the quiet account's few emails go out among the
    # busy account's first ones, not after all of them.
    assert order[:4] == [*mine, *mine], order
    assert order.index(quiet.api.account_id) < 2
    assert len(order) - 1 - order[::-1].index(quiet.api.account_id) < order.count(
        busy.api.account_id
    )
    for account_id in mine:
        assert outbox_undelivered(session_factory, account_id) == []
