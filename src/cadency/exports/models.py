"""Export jobs: what was asked (object, format, header language, columns, filters), how far the
worker got, and where the finished file lies until it expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = (
        Index("ix_exports_account_created", "account_id", "created_at"),
        # The worker's queue: queued jobs, and running ones whose lease ran out (a crashed run).
        Index("ix_exports_status_lease", "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # exp_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # Who asked: a signed-in user (they get the "export ready" email) or an API key.
    requested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    requested_by_api_key_id: Mapped[str | None] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(24))  # subscriptions | contacts | companies
    format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    language: Mapped[str] = mapped_column(String(8))  # column headers
    properties: Mapped[str] = mapped_column(String(32))  # view | all | all_with_associations
    associations_limit: Mapped[str] = mapped_column(String(8))  # "1000" | "all"
    view_id: Mapped[str | None] = mapped_column(String(40))
    segment_id: Mapped[str | None] = mapped_column(String(40))
    # What is exported, fixed when it was asked for: later edits of the view or segment do not
    # change a queued export. `columns` are column keys (built-in or "properties.<name>").
    filter_groups: Mapped[list[Any]]
    columns: Mapped[list[Any]]
    sorts: Mapped[list[Any]]
    query: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | succeeded | failed
    progress: Mapped[int] = mapped_column(default=0)  # percent, 0 to 100
    row_count: Mapped[int] = mapped_column(default=0)
    total_rows: Mapped[int | None]
    size_bytes: Mapped[int | None]
    file_name: Mapped[str | None] = mapped_column(String(200))
    # Relative to the files directory (CADENCY_FILES_DIR); None once deleted at expiry.
    file_path: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    file_deleted_at: Mapped[datetime | None]
