"""Cursor pagination for list endpoints: newest first, keyset on the time-ordered ID."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from cadency.kit.db import sorted_after_filtering
from cadency.kit.errors import InvalidRequest
from cadency.kit.i18n import N_
from cadency.kit.ids import looks_like_id

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


_INVALID_CURSOR = N_("The cursor is not valid: pass the next_cursor of the previous page unchanged")


def decode_cursor(cursor: str) -> str:
    """The value a cursor carries. Garbage, or an encoded NUL or control character that
    PostgreSQL would refuse mid-query, is the caller's mistake: a 422 naming `cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(_INVALID_CURSOR, param="cursor") from exc
    if not value or len(value) > 200 or not value.isprintable():
        raise InvalidRequest(_INVALID_CURSOR, param="cursor")
    return value


def decode_id_cursor(cursor: str) -> str:
    """The record ID a keyset cursor stands on."""
    value = decode_cursor(cursor)
    if not looks_like_id(value):
        raise InvalidRequest(_INVALID_CURSOR, param="cursor")
    return value


def paginate(
    session: Session,
    query: Select[Any],
    id_column: InstrumentedAttribute[str],
    *,
    limit: int,
    cursor: str | None,
    few: bool = False,
) -> tuple[Sequence[Any], bool, str | None]:
    """Run `query` one page at a time. Returns (rows, has_more, next_cursor). `few`: its
    condition matches few rows (a text search), found through their own indexes and then
    sorted (kit.db.sorted_after_filtering)."""
    if cursor:
        query = query.where(id_column < decode_id_cursor(cursor))
    order = sorted_after_filtering(id_column) if few else id_column
    rows = session.scalars(query.order_by(order.desc()).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], id_column.key)) if has_more and rows else None
    return rows, has_more, next_cursor
