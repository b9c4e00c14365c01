"""Delivering the outbox's emails after commit (SPEC §5 "Exactly once").

A batch goes in three steps:

1. Claim undelivered outbox rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers
   share them; SQLite has one writer), render their emails, write one `EmailDelivery` per
   email and recipient the first time a row is seen, mark the deliveries about to be sent
   `sending` (with a lease), and commit.
2. Send them, over a few SMTP connections kept for the whole batch (or into the dev mailbox
   when no SMTP server is configured).
3. Record each outcome, mark the outbox rows whose emails are all settled delivered, commit.

A delivery that fails is tried again after a growing wait; after the last wait it is failed
for good. An outbox row is delivered once every one of its emails is sent or failed for good;
a row whose event mails no one is delivered at once.

Each delivery row is unique per (event, kind, recipient), and only a `queued` one is ever
sent, so a restarted dispatcher, or a second one, does not resend. SMTP cannot tell whether
an email already arrived, so a delivery left `sending` by a dispatcher that died in step 2 is
not sent again: once its lease has passed it becomes `interrupted`, with the reason, for a
person to look at. At most once, never twice.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import encoders
from email.errors import MessageError
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr, formatdate, make_msgid
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from cadency.config import Settings
from cadency.kit import clock
from cadency.kit.outbox import OutboxMessage
from cadency.notifications.messages import Composer, Email
from cadency.notifications.models import EmailDelivery, MailboxMessage

log = logging.getLogger("cadency.notifications")

BATCH_SIZE = 200
# Waits before the 2nd, 3rd, … attempt; after the last one fails, the delivery has failed.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
SMTP_TIMEOUT_SECONDS = 30.0
SMTP_CONNECTIONS = 4
# How long a batch may take to send before its `sending` deliveries count as abandoned by a
# dispatcher that died: far above a batch's worst case (200 emails, each up to the timeout,
# on 4 connections: 25 minutes).
SENDING_LEASE = timedelta(hours=1)
INTERRUPTED = "the dispatcher stopped while sending; not resent, as it may have arrived"


class WirePolicy(Compat32):
    """compat32 (the fast email.mime classes) with SMTP's CRLF line ends, which smtplib needs
    as it sends bytes as they are, and which refuses a header value holding a raw line break
    the moment it is set: such a value would end the header and start another (header
    injection, e.g. a "Reply-To:" smuggled in through a name in the Subject)."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        text = str(value)  # a Header (non-ASCII subjects) too: its text before encoding
        if "\r" in text or "\n" in text:
            raise ValueError(f"the {name} header may not contain line breaks")
        return super().header_store_parse(name, value)


WIRE_POLICY = WirePolicy(linesep="\r\n")


class DeliveryFailed(Exception):
    """This one email could not be sent now (the server refused it or is unreachable)."""


class UndeliverableEmail(DeliveryFailed):
    """This email can never be sent as it is (its headers are refused): failed at once, not
    retried."""


class Transport(Protocol):
    def submit(self, account_id: int, sender: str, email: Email) -> Future[None]:
        """Start sending; the future fails with DeliveryFailed when the email is not sent."""
        ...

    def close(self) -> None: ...


def build_message(sender: str, email: Email) -> Message:
    """The MIME message: plain text and HTML alternatives, then any attachments. The
    X-Cadency headers name the event and the kind of email, so a receiver can deduplicate.
    (The email.mime classes: several times faster than EmailMessage's header parsing, which
    was a third of the dispatcher's time.)"""
    policy = WIRE_POLICY
    body: Message = MIMEMultipart("alternative", policy=policy)
    body.attach(MIMEText(email.text, "plain", "utf-8", policy=policy))
    body.attach(MIMEText(email.html, "html", "utf-8", policy=policy))
    message = body
    if email.attachments:
        message = MIMEMultipart("mixed", policy=policy)
        message.attach(body)
        for attachment in email.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            part = MIMEBase(maintype, subtype, policy=policy)
            part.set_payload(attachment.data)
            encoders.encode_base64(part)
            part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            message.attach(part)
    _set_headers(message, sender, email)
    return message


def check_headers(sender: str, email: Email) -> None:
    """Refuse what build_message would refuse, without building the body: for the dev
    mailbox, which keeps no MIME message but must not accept what SMTP would not."""
    _set_headers(Message(policy=WIRE_POLICY), sender, email)


def _set_headers(message: Message, sender: str, email: Email) -> None:
    message["From"] = sender
    message["To"] = email.to
    # A Header folds and encodes non-ASCII subjects; the typeshed stubs want str.
    subject: Any = email.subject if email.subject.isascii() else Header(email.subject, "utf-8")
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="cadency.invalid")
    message["Content-Language"] = email.language
    message["X-Cadency-Email"] = email.kind
    message["X-Cadency-Event"] = email.event_id


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server, from CADENCY_SMTP_URL:

    - `smtp://host:25`: plain SMTP (a relay on the same host or network);
    - `smtp://user:pass@host:587?starttls=true`: STARTTLS, and no sending at all if the server
      does not offer it;
    - `smtps://user:pass@host:465`: TLS from the first byte (implicit TLS).

    The user name and password are percent-decoded (a password with "@" or "/" is written
    %40, %2F) and are only sent over TLS. Certificates are verified, host name included,
    against the system's CA store, or only against `?cafile=/path/to/ca.pem` for a private CA.
    """

    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        # Messages name the redacted URL: the password must not reach a log.
        shown = redact_smtp_url(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"CADENCY_SMTP_URL must be smtp://host:port or smtps://host:port, not {shown}"
            )
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
            port = parts.port
        except ValueError as error:
            raise ValueError(f"CADENCY_SMTP_URL is not a valid URL: {shown}") from error
        unknown = sorted(set(query) - {"starttls", "cafile"})
        if unknown:
            raise ValueError(
                f"CADENCY_SMTP_URL: unknown option {unknown[0]!r} (known: starttls, cafile)"
            )
        starttls = query.get("starttls", ["false"])[-1].lower()
        if starttls not in ("true", "false"):
            raise ValueError("CADENCY_SMTP_URL: starttls must be true or false")
        if parts.scheme == "smtps" and starttls == "true":
            raise ValueError("CADENCY_SMTP_URL: smtps:// is TLS already; leave out starttls")
        security: Literal["none", "starttls", "tls"] = (
            "tls" if parts.scheme == "smtps" else "starttls" if starttls == "true" else "none"
        )
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if username and security == "none":
            raise ValueError(
                "CADENCY_SMTP_URL: a user name and password are only sent over TLS: use "
                "smtps:// or add ?starttls=true"
            )
        cafile = query.get("cafile", [""])[-1] or None
        if cafile and security == "none":
            raise ValueError("CADENCY_SMTP_URL: cafile applies to smtps:// or ?starttls=true")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port or (465 if security == "tls" else 25),
            security=security,
            username=username,
            password=password,
            cafile=cafile,
        )

    def tls_context(self) -> ssl.SSLContext:
        # Verification on, host name included; a cafile replaces the system store.
        return ssl.create_default_context(cafile=self.cafile)


def redact_smtp_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


class SmtpConnection:
    """One SMTP connection, opened at its first email and kept for the whole batch."""

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        self.envelope_sender = transport.envelope_sender
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        transport = self.transport
        if transport.unreachable is not None:
            raise DeliveryFailed(transport.unreachable)
        if self._connection is None:
            server = transport.server
            where = f"SMTP server {server.host}:{server.port}"
            try:
                self._connection = _open(server)
            except _Refused as error:
                transport.unreachable = f"{where}: {error}"
                raise DeliveryFailed(transport.unreachable) from error
            except smtplib.SMTPAuthenticationError as error:
                transport.unreachable = (
                    f"{where} refused the login of {server.username!r}: "
                    f"{error.smtp_code} {_reply(error.smtp_error)}"
                )
                raise DeliveryFailed(transport.unreachable) from error
            except ssl.SSLError as error:
                transport.unreachable = f"{where}: TLS failed: {error}"
                raise DeliveryFailed(transport.unreachable) from error
            except (OSError, smtplib.SMTPException) as error:
                transport.unreachable = f"{where} unreachable: {error}"
                raise DeliveryFailed(transport.unreachable) from error
        return self._connection

    def send(self, sender: str, email: Email) -> None:
        try:
            raw = build_message(sender, email).as_bytes(policy=WIRE_POLICY)
        except (ValueError, MessageError) as error:
            raise UndeliverableEmail(f"the message cannot be built: {error}") from error
        connection = self._connect()
        try:
            connection.sendmail(self.envelope_sender, [email.to], raw)
        except smtplib.SMTPRecipientsRefused as error:
            # The server's reply only: the address is on the delivery, not in its error.
            replies = "; ".join(
                f"{code} {_reply(reply)}" for code, reply in error.recipients.values()
            )
            raise DeliveryFailed(f"recipient refused: {replies}") from error
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # The connection is gone: the next email of the batch opens a new one.
            self._drop()
            raise DeliveryFailed(f"SMTP connection lost: {error}") from error
        except smtplib.SMTPException as error:
            self._reset(connection)
            raise DeliveryFailed(f"SMTP error: {error}") from error

    def _reset(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            finally:
                self._connection = None


def _reply(text: bytes | str) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else text


class _Refused(Exception):
    """The server cannot be used as configured (e.g. no STARTTLS)."""


def _open(server: SmtpSettings) -> smtplib.SMTP:
    """A connection ready to send: TLS as configured (never falling back to plain text),
    then the login when the URL has a user name."""
    connection: smtplib.SMTP
    if server.security == "tls":
        connection = smtplib.SMTP_SSL(
            server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS, context=server.tls_context()
        )
    else:
        connection = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if server.security == "starttls":
            connection.ehlo()
            if not connection.has_extn("starttls"):
                raise _Refused("it does not offer STARTTLS; not sending without TLS")
            connection.starttls(context=server.tls_context())
            connection.ehlo()
        if server.username:
            connection.login(server.username, server.password or "")
    except BaseException:
        connection.close()
        raise
    return connection


class SmtpTransport:
    """Sends a batch over a few connections at once (SMTP_CONNECTIONS threads, each keeping
    its own connection for the whole batch): most of a send is waiting for the server's
    replies, and waiting on several connections overlaps it. A server that cannot be reached
    (or refuses the TLS or the login) fails the rest of the batch at once rather than once
    per email."""

    def __init__(self, server: SmtpSettings, envelope_sender: str) -> None:
        self.envelope_sender = envelope_sender
        self.server = server
        self.unreachable: str | None = None
        self._local = threading.local()
        self._connections: list[SmtpConnection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(SMTP_CONNECTIONS, thread_name_prefix="smtp")

    def _connection(self) -> SmtpConnection:
        connection: SmtpConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = SmtpConnection(self)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def submit(self, account_id: int, sender: str, email: Email) -> Future[None]:
        return self._pool.submit(lambda: self._connection().send(sender, email))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for connection in self._connections:
            connection.close()


class MailboxTransport:
    """The dev mailbox: emails become rows the web app shows to super admins."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def submit(self, account_id: int, sender: str, email: Email) -> Future[None]:
        done: Future[None] = Future()
        try:
            check_headers(sender, email)
        except (ValueError, MessageError) as error:
            done.set_exception(UndeliverableEmail(f"the message cannot be built: {error}"))
            return done
        self.session.add(
            MailboxMessage(
                account_id=account_id,
                sender=sender,
                to=email.to,
                subject=email.subject[:500],
                text=email.text,
                html=email.html,
                attachments=[
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": len(a.data),
                    }
                    for a in email.attachments
                ],
                # Dated as the account lives it (its test clock in test mode), so a mailbox
                # filled by moving the clock reads in the order the emails were written.
                dated_at=email.dated_at or self.now,
                created_at=self.now,
            )
        )
        done.set_result(None)
        return done

    def close(self) -> None:
        pass


@dataclass
class DispatchSummary:
    events: int = 0  # outbox rows marked delivered
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchSummary) -> None:
        self.events += other.events
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.errors += other.errors


class Dispatcher:
    """Sends what the outbox holds. Stateless between passes: everything it knows is in the
    database, so a new instance (a restart) carries on where the last one stopped."""

    def __init__(self, settings: Settings, *, batch_size: int = BATCH_SIZE) -> None:
        self.settings = settings
        self.batch_size = batch_size
        host = urlsplit(settings.base_url).hostname or "localhost"
        self.sender_address = f"billing@{host}"
        # Read before anything is claimed: a wrong CADENCY_SMTP_URL fails the pass at once
        # (logged, password redacted) instead of leaving a claimed batch `sending`.
        self.smtp = SmtpSettings.from_url(settings.smtp_url) if settings.smtp_url else None

    def _transport(self, session: Session, now: datetime) -> Transport:
        if self.smtp is not None:
            return SmtpTransport(self.smtp, self.sender_address)
        return MailboxTransport(session, now)

    def run(
        self, session: Session, *, now: datetime | None = None, account_id: int | None = None
    ) -> DispatchSummary:
        """Deliver everything due, batch by batch, committing each; `account_id` limits the
        pass to one account (tests share a database). Accounts take turns, one batch each per
        round, so one account's backlog never holds back another's emails."""
        summary = DispatchSummary()
        while True:
            at = now or clock.real_now()
            if account_id is not None:
                accounts = [account_id]
            else:
                accounts = list(
                    session.scalars(
                        select(OutboxMessage.account_id)
                        .where(OutboxMessage.delivered_at.is_(None))
                        .distinct()
                        .order_by(OutboxMessage.account_id)
                    )
                )
                session.rollback()
            more = False
            for owner in accounts:
                # Rows that failed to render stay undelivered: not claimed again in this pass.
                batch = self.run_batch(
                    session, now=at, account_id=owner, exclude=set(summary.errors)
                )
                summary.add(batch.summary)
                more |= len(batch.claimed) == self.batch_size
            if not more:
                return summary

    def run_batch(
        self,
        session: Session,
        *,
        now: datetime,
        account_id: int | None = None,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> BatchResult:
        rows = self._claim(session, now, account_id, exclude)
        result = BatchResult(claimed=[row.id for row in rows])
        if not rows:
            session.rollback()
            return result
        composer = Composer(session, self.settings)
        composer.preload(rows)
        known = self._known_deliveries(session, rows)
        sends: list[Send] = []
        events: list[tuple[OutboxMessage, list[EmailDelivery]]] = []
        for row in rows:
            deliveries = self._prepare(composer, row, known.get(row.id, []), now, sends)
            if deliveries is None:
                result.summary.errors.append(row.id)
            else:
                events.append((row, deliveries))
        # Step 1 ends: what is about to be sent is marked `sending` before anything is sent.
        session.commit()

        transport = self._transport(session, now)
        try:
            outcomes = [
                (send.delivery, transport.submit(send.account_id, send.sender, send.email))
                for send in sends
            ]
            sent = [
                delivery
                for delivery, outcome in outcomes
                if self._record_outcome(delivery, outcome, now, result.summary)
            ]
        finally:
            transport.close()
        # Step 3 writes with one UPDATE per kind of change rather than one per row: a batch's
        # hundreds of per-row UPDATEs were a fifth of the dispatcher's time on PostgreSQL.
        if sent:
            session.execute(
                update(EmailDelivery)
                .where(EmailDelivery.id.in_([d.id for d in sent]))
                .values(status="sent", sent_at=now, next_attempt_at=None, last_error=None)
            )
        done = {row.id for row, ds in events if all(d.status not in UNSETTLED for d in ds)}
        waiting = [row.id for row, _ in events if row.id not in done]
        attempted = {"attempts": OutboxMessage.attempts + 1}
        for ids, values in ((done, {**attempted, "delivered_at": now}), (waiting, attempted)):
            if ids:
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(**values)
                )
        result.summary.events += len(done)
        session.commit()
        return result

    def _claim(
        self,
        session: Session,
        now: datetime,
        account_id: int | None,
        exclude: set[str] | frozenset[str],
    ) -> list[OutboxMessage]:
        # A row some of whose emails wait for their next attempt, or are being sent by
        # another dispatcher, is left alone until then.
        waiting = exists().where(
            and_(
                EmailDelivery.outbox_message_id == OutboxMessage.id,
                EmailDelivery.status.in_(UNSETTLED),
                EmailDelivery.next_attempt_at > now,
            )
        )
        query = select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None), ~waiting)
        if account_id is not None:
            query = query.where(OutboxMessage.account_id == account_id)
        if exclude:
            query = query.where(OutboxMessage.id.not_in(exclude))
        query = query.order_by(OutboxMessage.created_at, OutboxMessage.id).limit(self.batch_size)
        return list(session.scalars(query.with_for_update(skip_locked=True, of=OutboxMessage)))

    def _prepare(
        self,
        composer: Composer,
        row: OutboxMessage,
        deliveries: list[EmailDelivery],
        now: datetime,
        sends: list[Send],
    ) -> list[EmailDelivery] | None:
        """Record the event's deliveries the first time, and mark the due ones `sending`;
        None when its emails cannot be rendered."""
        # Rendering only reads; a bug in one event's email must not stop the others. (No
        # savepoint per event: a batch's writes go to the database in one flush at commit.)
        try:
            emails = {(email.kind, email.to.lower()): email for email in composer.emails(row)}
        except Exception as error:
            log.exception("could not render the emails of outbox message %s", row.id)
            row.attempts += 1
            row.last_error = f"{type(error).__name__}: {error}"[:500]
            return None
        if not deliveries:
            deliveries = [self._record(composer.session, row, e, now) for e in emails.values()]
        account = composer.account(row.account_id)
        sender = formataddr((account.name, self.sender_address))
        for delivery in deliveries:
            if delivery.status not in UNSETTLED or (
                delivery.next_attempt_at is not None and delivery.next_attempt_at > now
            ):
                continue
            if delivery.status == "sending":
                # Its lease has passed: the dispatcher sending it died mid-batch.
                delivery.status = "interrupted"
                delivery.next_attempt_at = None
                delivery.last_error = INTERRUPTED
                continue
            email = emails.get((delivery.kind, delivery.recipient.lower()))
            if email is None:
                # The event no longer mails this person (the user was removed).
                delivery.status = "failed"
                delivery.last_error = "no longer a recipient of this event"
                continue
            delivery.status = "sending"
            delivery.attempts += 1
            delivery.next_attempt_at = now + SENDING_LEASE
            sends.append(Send(delivery, row.account_id, sender, email))
        return deliveries

    def _known_deliveries(
        self, session: Session, rows: list[OutboxMessage]
    ) -> dict[str, list[EmailDelivery]]:
        """The deliveries already recorded for the batch's events (retries, or rows a crashed
        dispatcher sent but did not mark), in one query."""
        known: dict[str, list[EmailDelivery]] = {}
        for delivery in session.scalars(
            select(EmailDelivery)
            .where(EmailDelivery.outbox_message_id.in_([row.id for row in rows]))
            .order_by(EmailDelivery.id)
        ):
            known.setdefault(delivery.outbox_message_id, []).append(delivery)
        return known

    def _record(
        self, session: Session, row: OutboxMessage, email: Email, now: datetime
    ) -> EmailDelivery:
        delivery = EmailDelivery(
            account_id=row.account_id,
            outbox_message_id=row.id,
            recipient=email.to,
            kind=email.kind,
            language=email.language,
            subject=email.subject[:500],
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        return delivery

    def _record_outcome(
        self,
        delivery: EmailDelivery,
        outcome: Future[None],
        now: datetime,
        summary: DispatchSummary,
    ) -> bool:
        """Whether the email was sent; a failure is recorded on the delivery at once."""
        try:
            outcome.result()
        except Exception as error:  # DeliveryFailed, or anything smtplib did not expect
            delivery.last_error = str(error)[:500]
            final = isinstance(error, UndeliverableEmail) or delivery.attempts > len(BACKOFF)
            if final:
                delivery.status = "failed"
                delivery.next_attempt_at = None
                summary.failed += 1
            else:
                delivery.status = "queued"
                delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
                summary.retrying += 1
            _log_failure(delivery, error, final)
            return False
        summary.sent += 1
        return True


def _log_failure(delivery: EmailDelivery, error: Exception, final: bool) -> None:
    """One line per failed attempt: WARNING while it will be tried again, ERROR when it has
    failed for good. The recipient's domain only, and never the body or SMTP credentials
    (errors name the server, the user name and the server's reply)."""
    # DeliveryFailed wraps what went wrong; its cause names the kind of failure.
    cause = error.__cause__ if isinstance(error, DeliveryFailed) and error.__cause__ else error
    domain = delivery.recipient.rpartition("@")[2]
    outcome = "failed for good" if final else f"failed; next attempt at {delivery.next_attempt_at}"
    log.log(
        logging.ERROR if final else logging.WARNING,
        "email delivery %s of account %s to ***@%s (%s, attempt %d) %s: %s: %s",
        delivery.id,
        delivery.account_id,
        domain,
        delivery.kind,
        delivery.attempts,
        outcome,
        type(cause).__name__,
        error,
        # A traceback only for what the dispatcher did not expect (a bug, not the network).
        exc_info=error if not isinstance(error, DeliveryFailed) else None,
    )


# Deliveries not yet settled: waiting for (another) attempt, or being sent right now.
UNSETTLED = ("queued", "sending")


@dataclass(frozen=True)
class Send:
    """One email about to go out, and the delivery that records it."""

    delivery: EmailDelivery
    account_id: int
    sender: str
    email: Email


@dataclass
class BatchResult:
    claimed: list[str] = field(default_factory=list)
    summary: DispatchSummary = field(default_factory=DispatchSummary)
