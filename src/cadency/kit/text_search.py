"""The text search of list services: a case-insensitive substring of some columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_


def escape_like(term: str) -> str:
    """`term` for a LIKE pattern with `\\` as escape character: its `%` and `_` match
    themselves, not any text."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_text(columns: Sequence[Any], term: str) -> ColumnElement[bool]:
    """Any of the columns contains the search term (surrounding spaces dropped), ignoring case."""
    pattern = f"%{escape_like(term.strip().lower())}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))
