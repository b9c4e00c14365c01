"""Small pieces every REST module shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from cadency.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Cursor = Annotated[
    str | None, Query(max_length=300, description="next_cursor of the previous page")
]
DEFAULT_PAGE = DEFAULT_LIMIT
