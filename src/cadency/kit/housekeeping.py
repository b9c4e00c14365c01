"""Bounded deletes for housekeeping: each statement removes at most `limit` rows, so a large
backlog is purged in short transactions that never hold SQLite's write lock for long (the
caller commits between batches; services never commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, inspect, select, tuple_
from sqlalchemy.orm import Session


def delete_batch(
    session: Session, entity: type[Any], *where: ColumnElement[bool], limit: int
) -> int:
    """Delete up to `limit` rows of `entity` matching `where`; returns how many went."""
    key = inspect(entity).primary_key
    chosen = select(*key).where(*where).limit(limit)
    target = key[0] if len(key) == 1 else tuple_(*key)
    result = session.execute(
        delete(entity).where(target.in_(chosen)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
