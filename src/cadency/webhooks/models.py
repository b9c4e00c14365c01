"""Public events, webhook endpoints and deliveries.

An event is an outbox message made public: same ID (`evt_…`), its type, and the object it is
about as the API shows it. A delivery is one event for one endpoint: at most one per pair (the
unique constraint is the deduplication), retried on its own schedule. An endpoint's signing
secret is not stored: it is derived from the installation secret, the endpoint's ID and its
secret's generation (kit.signing.derived_key), so rolling the secret is a new generation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_created_id", "account_id", "created_at", "id"),
        Index("ix_events_account_type_created_id", "account_id", "type", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the outbox message's
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(String(64))
    # {"object": {...}} and, for an update, {"previous_attributes": {...}}
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    enabled_events: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(16))  # enabled | disabled
    secret_generation: Mapped[int] = mapped_column(default=1)
    # After a roll the previous secret signs too, until then.
    previous_secret_until: Mapped[datetime | None]
    # Since when every delivery failed (None after a success); three days of it disables.
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created_id", "endpoint_id", "created_at", "id"),
        # An event's deliveries, when old events are purged or an account deleted.
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | retrying | succeeded | failed
    attempt: Mapped[int] = mapped_column(default=0)  # attempts made
    next_attempt_at: Mapped[datetime | None]
    # Held by a sender until then, so two workers never send the same attempt.
    lease_until: Mapped[datetime | None]
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)  # the first 2 kB
    duration_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
