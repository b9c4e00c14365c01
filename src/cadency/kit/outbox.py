"""The outbox: side effects (emails, webhooks, workflow actions) are rows written in the same
transaction as the state change that causes them, and delivered after commit, at least once.

`dedup_key` makes writing the same event twice impossible: an engine that runs the same work
again (after a crash, or in a second worker) tries to write the same key and keeps the first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cadency.kit.db import Base
from cadency.kit.events import WORKFLOW_TRIGGER_EVENTS, EventType
from cadency.kit.ids import new_id


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_undelivered", "delivered_at", "id"),
        Index("ix_outbox_messages_unpublished", "published_at", "id"),
        Index("ix_outbox_messages_unread_by_workflows", "workflows_read_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the event id (evt_…)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    # When the emails of the event were sent (notifications' dispatcher).
    delivered_at: Mapped[datetime | None]
    # When it became a public event and was handed to webhook endpoints (webhooks' publisher).
    published_at: Mapped[datetime | None]
    # When workflows read it for their triggers (workflows.runner.enroll).
    workflows_read_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))


def emit(
    session: Session,
    *,
    account_id: int,
    type: EventType,
    dedup_key: str,
    payload: dict[str, Any],
    at: datetime,
    subscription_id: str | None = None,
    fresh: bool = False,
) -> OutboxMessage | None:
    """Queue one side effect unless an event with the same `dedup_key` is already queued.

    `fresh`: the key names a record made in this transaction (a new payment's ID), so no earlier
    event can have it; the lookup is skipped and the unique constraint stays the backstop."""
    key = f"{account_id}:{dedup_key}"
    if not fresh and session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == key)):
        return None
    message = OutboxMessage(
        id=new_id("evt"),
        account_id=account_id,
        type=type,
        dedup_key=key,
        subscription_id=subscription_id,
        payload=payload,
        created_at=at,
        workflows_read_at=None if type in WORKFLOW_TRIGGER_EVENTS else at,
    )
    session.add(message)
    return message
