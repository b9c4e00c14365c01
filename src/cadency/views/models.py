"""Saved views: a named filter (the one filter language), column list and sort of an index page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class SavedView(Base):
    __tablename__ = "saved_views"
    __table_args__ = (Index("ix_saved_views_account_object", "account_id", "object_type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # view_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    object_type: Mapped[str] = mapped_column(String(24))  # "subscriptions" for now
    # The user who made it; a private view is shown only to them, a shared one to everyone.
    owner_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    shared: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(100))
    # The filter language's `filter_groups` (OR of AND groups), as the search API takes them.
    filter_groups: Mapped[list[Any]]
    columns: Mapped[list[Any]]
    sort_property: Mapped[str | None] = mapped_column(String(100))
    sort_direction: Mapped[str] = mapped_column(String(4), default="desc")
    query: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
