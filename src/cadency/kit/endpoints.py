"""Small pieces every REST module shares."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator

from cadency.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Cursor = Annotated[
    str | None, Query(max_length=300, description="next_cursor of the previous page")
]
DEFAULT_PAGE = DEFAULT_LIMIT


def _iso_instant(value: Any) -> datetime:
    # Pydantic alone would take "0.5" as seconds after 1970; the contract says ISO 8601.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected an ISO 8601 date and time, such as 2026-06-01T09:00:00Z")


# A point in time given in a query string: ISO 8601 only.
Instant = Annotated[datetime, BeforeValidator(_iso_instant)]
