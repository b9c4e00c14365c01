"""The text search of list services: a case-insensitive substring of some columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_

LIKE_ESCAPE = "\\"


def escape_like(term: str) -> str:
    """`term` for a LIKE pattern with LIKE_ESCAPE as escape character: its `%` and `_` match
    themselves, not any text (the filter language's tokens and the list services' search)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        term = term.replace(special, LIKE_ESCAPE + special)
    return term


def contains_text(columns: Sequence[Any], term: str) -> ColumnElement[bool]:
    """Any of the columns contains the search term (surrounding spaces dropped), ignoring case."""
    pattern = f"%{escape_like(term.strip().lower())}%"
    return or_(*(column.ilike(pattern, escape=LIKE_ESCAPE) for column in columns))
