"""Segments: a name and a filter (the one filter language) over one object type. Members are
not stored: they are whoever matches when the segment is read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_account_object", "account_id", "object_type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # seg_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    object_type: Mapped[str] = mapped_column(String(24))  # subscriptions | contacts | companies
    name: Mapped[str] = mapped_column(String(100))
    filter_groups: Mapped[list[Any]]
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
