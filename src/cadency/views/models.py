"""Saved views: a named filter (the one filter language), column list and sort of an index page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base
from cadency.subscriptions.models import Subscription


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


# Indexes the subscriptions index page needs to stay fast on 100,000+ rows (measured by
# benchmarks/web.py): each ends with the ID, the tie-breaker of keyset pagination, so a page
# is one range scan. Newest first (the default sort); next billing date, alone and after a
# status (the tabs and quick filters; the capped count reads only the index).
_S = Subscription
Index("ix_subscriptions_account_created_id", _S.account_id, _S.created_at, _S.id)
Index("ix_subscriptions_account_next_payment_id", _S.account_id, _S.next_payment_date, _S.id)
Index(
    "ix_subscriptions_account_status_next_payment_id",
    _S.account_id,
    _S.status,
    _S.next_payment_date,
    _S.id,
)
