"""Email deliveries (one per outbox event and recipient) and the dev mailbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class EmailDelivery(Base):
    """One email of one outbox event to one recipient. The unique key is what makes a
    restarted or second dispatcher find the row and never send the same email twice; the kind
    is part of it because one event can mail one person twice (a super admin who is also the
    buyer gets the receipt and the payment notice)."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_message_id", "kind", "recipient"),
        Index("ix_email_deliveries_account_id_created_at", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    outbox_message_id: Mapped[str] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE")
    )
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))  # which email (receipt, payment_failed, …)
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(500))
    # queued | sending | sent | failed | interrupted (see the dispatcher)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class MailboxMessage(Base):
    """An email kept in the database instead of sent, when no SMTP server is configured, so the
    demo works with no mail server: super admins read them at /settings/mailbox."""

    __tablename__ = "mailbox_messages"
    __table_args__ = (
        Index("ix_mailbox_messages_account_id_dated_at_id", "account_id", "dated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    sender: Mapped[str] = mapped_column(String(320))
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    # [{"filename", "content_type", "size"}]: what was attached (the bytes are not kept).
    attachments: Mapped[list[Any]]
    # When the email was written on the account's clock (shown and sorted by); `created_at` is
    # real time (kept for a week of it).
    dated_at: Mapped[datetime]
    created_at: Mapped[datetime]
