"""Messages refuse line breaks in headers (header injection), such an email fails at once and
is logged; the SMTP transport speaks STARTTLS, implicit TLS and AUTH with verified
certificates, never falls back to plain text, and logs failed attempts without secrets."""

from __future__ import annotations

import logging
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select, update

from cadency.crm.models import Contact
from cadency.notifications.dispatcher import (
    BACKOFF,
    SmtpSettings,
    build_message,
    redact_smtp_url,
)
from cadency.notifications.messages import Email
from cadency.notifications.models import EmailDelivery, MailboxMessage
from tests.notifications.conftest import (
    SmtpInbox,
    SmtpServer,
    add_user,
    deliver,
    deliveries,
    free_port,
)
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
USER = "mailer"
PASSWORD = "s3cret/p@ss:word"
PASSWORD_IN_URL = "s3cret%2Fp%40ss%3Aword"
INJECTED = "Ada\r\nReply-To: x@evil.example"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def email(**changes: Any) -> Email:
    fields: dict[str, Any] = {
        "kind": "receipt",
        "to": "buyer@example.com",
        "language": "en",
        "subject": "Your receipt",
        "text": "Thanks",
        "html": "<p>Thanks</p>",
        "event_id": "evt_1",
    }
    return Email(**{**fields, **changes})


# --- the message -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject", [f"Payment received: {INJECTED} paid $30", "Betaling ontvangen: Ådä\nBcc: x@e.x"]
)
def test_build_message_refuses_a_subject_with_a_line_break(subject: str) -> None:
    with pytest.raises(ValueError, match="Subject header may not contain line breaks"):
        build_message("Shop <billing@shop.test>", email(subject=subject))


def test_build_message_refuses_a_line_break_in_any_header() -> None:
    with pytest.raises(ValueError, match="From header"):
        build_message("Shop\r\nBcc: x@evil.example <billing@shop.test>", email())
    with pytest.raises(ValueError, match="To header"):
        build_message("billing@shop.test", email(to="a@b.example\nBcc: x@evil.example"))


def test_build_message_still_encodes_non_ascii_subjects() -> None:
    message = build_message("Shop <billing@shop.test>", email(subject="Kvittering: Bageriet Ø"))
    assert b"\r\nSubject: =?utf-8?" in message.as_bytes(policy=message.policy)


def injected_contact_name(session_factory: Any, account_id: int) -> None:
    """A name stored before the API refused line breaks: it reaches the admin's subject."""
    with session_factory() as session:
        session.execute(
            update(Contact).where(Contact.account_id == account_id).values(first_name=INJECTED)
        )
        session.commit()


def test_an_email_with_an_injected_header_fails_at_once_and_is_logged(
    client: Any, session_factory: Any, smtp_server: SmtpServer, caplog: Any
) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    add_user(session_factory, account_id, "boss@shop.test")
    story.subscribe(price="30.00")
    injected_contact_name(session_factory, account_id)

    with caplog.at_level(logging.WARNING, logger="cadency.notifications"):
        summary = deliver(session_factory, account_id, smtp_server.url, now=NOW)
    assert (summary.sent, summary.retrying, summary.failed) == (1, 0, 1)
    [received] = smtp_server.inbox.take()
    assert received.to == ["buyer@example.com"] and received.message["Reply-To"] is None
    assert deliveries(session_factory, account_id) == [
        ("receipt", "buyer@example.com", "sent", 1),
        ("admin_payment", "boss@shop.test", "failed", 1),
    ]
    with session_factory() as session:
        error = session.scalar(
            select(EmailDelivery.last_error).where(
                EmailDelivery.account_id == account_id, EmailDelivery.kind == "admin_payment"
            )
        )
        assert (
            error == "the message cannot be built: the Subject header may not contain line breaks"
        )
    [record] = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "***@shop.test" in record.getMessage() and "boss@" not in record.getMessage()
    assert "ValueError: the message cannot be built" in record.getMessage()
    # Failed for good: nothing is tried again.
    later = deliver(session_factory, account_id, smtp_server.url, now=NOW + BACKOFF[-1])
    assert (later.sent, later.retrying, later.failed) == (0, 0, 0)


def test_the_dev_mailbox_refuses_the_same_emails(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    add_user(session_factory, account_id, "boss@shop.test")
    story.subscribe(price="30.00")
    injected_contact_name(session_factory, account_id)

    summary = deliver(session_factory, account_id, None, now=NOW)
    assert (summary.sent, summary.failed) == (1, 1)
    with session_factory() as session:
        kept = session.scalars(
            select(MailboxMessage.to).where(MailboxMessage.account_id == account_id)
        ).all()
        assert kept == ["buyer@example.com"]


# --- the settings ----------------------------------------------------------------------------


def test_smtp_urls() -> None:
    plain = SmtpSettings.from_url("smtp://relay.internal")
    assert (plain.host, plain.port, plain.security, plain.username) == (
        "relay.internal", 25, "none", None
    )  # fmt: skip
    tls = SmtpSettings.from_url(f"smtps://{USER}:{PASSWORD_IN_URL}@mail.example.com")
    assert (tls.port, tls.security, tls.username, tls.password) == (465, "tls", USER, PASSWORD)
    assert PASSWORD not in repr(tls)
    starttls = SmtpSettings.from_url(
        "smtp://a:b@mail.example.com:587?starttls=true&cafile=/etc/ssl/private-ca.pem"
    )
    assert (starttls.port, starttls.security, starttls.cafile) == (
        587, "starttls", "/etc/ssl/private-ca.pem"
    )  # fmt: skip
    assert redact_smtp_url(f"smtps://{USER}:{PASSWORD_IN_URL}@h:465") == f"smtps://{USER}:***@h:465"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"http://{USER}:{PASSWORD_IN_URL}@h", "must be smtp://"),
        (f"smtp://{USER}:{PASSWORD_IN_URL}@h", "only sent over TLS"),
        (f"smtps://{USER}:{PASSWORD_IN_URL}@h?starttls=true", "TLS already"),
        ("smtp://h?starttls=yes", "starttls must be true or false"),
        ("smtp://h?tls=true", "unknown option 'tls'"),
        ("smtp://h?cafile=/ca.pem", "cafile applies to"),
    ],
)
def test_wrong_smtp_urls_say_why_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        SmtpSettings.from_url(url)
    assert PASSWORD not in str(refused.value) and PASSWORD_IN_URL not in str(refused.value)


# --- TLS and AUTH against a real server ------------------------------------------------------


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_server(certificate: Certificate, request: Any) -> Iterator[tuple[int, SmtpInbox]]:
    """An SMTP server that wants a login; `request.param`: "starttls", "tls" (implicit) or
    "plain" (no TLS on offer at all)."""
    mode = request.param
    inbox = SmtpInbox()
    port = free_port()
    options: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
    if mode == "starttls":
        options.update(tls_context=certificate.server_context(), require_starttls=True)
    elif mode == "tls":
        # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is TLS throughout.
        options.update(ssl_context=certificate.server_context(), auth_require_tls=False)
    else:
        options.update(auth_require_tls=False)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def url_for(mode: str, port: int, certificate: Certificate, password: str = PASSWORD_IN_URL) -> str:
    scheme, query = ("smtps", "?") if mode == "tls" else ("smtp", "?starttls=true&")
    return f"{scheme}://{USER}:{password}@127.0.0.1:{port}{query}cafile={certificate.cert}"


@pytest.mark.parametrize("tls_server", ["starttls", "tls"], indirect=True)
def test_a_login_over_tls_delivers(
    client: Any,
    session_factory: Any,
    certificate: Certificate,
    tls_server: tuple[int, SmtpInbox],
    request: Any,
) -> None:
    port, inbox = tls_server
    mode = request.node.callspec.params["tls_server"]
    story = Story(client, session_factory, start=START)
    story.subscribe(price="30.00")
    url = url_for(mode, port, certificate)
    summary = deliver(session_factory, story.api.account_id, url, now=NOW)
    assert (summary.sent, summary.retrying) == (1, 0)
    [received] = inbox.take()
    assert received.to == ["buyer@example.com"]
    assert received.message["X-Cadency-Email"] == "receipt"


@pytest.mark.parametrize("tls_server", ["starttls"], indirect=True)
def test_a_wrong_password_is_a_logged_failure_without_the_password(
    client: Any,
    session_factory: Any,
    certificate: Certificate,
    tls_server: tuple[int, SmtpInbox],
    caplog: Any,
) -> None:
    port, inbox = tls_server
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    story.subscribe(price="30.00")
    wrong = "not-the-password-42"
    url = url_for("starttls", port, certificate, password=wrong)
    with caplog.at_level(logging.WARNING, logger="cadency.notifications"):
        summary = deliver(session_factory, account_id, url, now=NOW)
    assert (summary.sent, summary.retrying) == (0, 1)
    assert inbox.take() == []
    [record] = [r for r in caplog.records if r.name == "cadency.notifications"]
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "refused the login of 'mailer'" in message and "535" in message
    assert "***@example.com" in message and "next attempt" in message
    assert wrong not in caplog.text and PASSWORD not in caplog.text
    assert deliveries(session_factory, account_id) == [
        ("receipt", "buyer@example.com", "queued", 1)
    ]


@pytest.mark.parametrize("tls_server", ["plain"], indirect=True)
def test_starttls_is_required_when_asked_for(
    client: Any,
    session_factory: Any,
    certificate: Certificate,
    tls_server: tuple[int, SmtpInbox],
) -> None:
    port, inbox = tls_server
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    story.subscribe(price="30.00")
    summary = deliver(session_factory, account_id, url_for("starttls", port, certificate), now=NOW)
    assert (summary.sent, summary.retrying) == (0, 1)
    assert inbox.take() == []
    with session_factory() as session:
        error = session.scalar(
            select(EmailDelivery.last_error).where(EmailDelivery.account_id == account_id)
        )
        assert error is not None and "does not offer STARTTLS" in error


@pytest.mark.parametrize("tls_server", ["tls"], indirect=True)
def test_an_untrusted_certificate_is_refused(
    client: Any, session_factory: Any, tls_server: tuple[int, SmtpInbox]
) -> None:
    port, inbox = tls_server
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    story.subscribe(price="30.00")
    # No cafile: the system store does not know the self-signed certificate.
    url = f"smtps://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{port}"
    summary = deliver(session_factory, account_id, url, now=NOW)
    assert (summary.sent, summary.retrying) == (0, 1)
    assert inbox.take() == []
    with session_factory() as session:
        error = session.scalar(
            select(EmailDelivery.last_error).where(EmailDelivery.account_id == account_id)
        )
        assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error


def test_a_wrong_smtp_url_claims_nothing(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=START)
    account_id = story.api.account_id
    story.subscribe(price="30.00")
    with pytest.raises(ValueError, match="only sent over TLS"):
        deliver(session_factory, account_id, f"smtp://{USER}:{PASSWORD_IN_URL}@h", now=NOW)
    assert deliveries(session_factory, account_id) == []
