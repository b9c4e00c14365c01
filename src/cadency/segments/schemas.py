"""Shapes of segments in the API: what a user saves (a name, an object type, filters) and what
comes back (with the number of members at the time of reading)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from cadency.kit.filters import FilterGroups
from cadency.kit.schemas import OutputModel, SingleLineText, StrictModel

MAX_NAME = 100

ObjectType = Literal["subscriptions", "contacts", "companies"]
OBJECT_TYPES: tuple[str, ...] = ("subscriptions", "contacts", "companies")
# Longer than allowed on purpose: the service trims spaces first and then says how long a
# name may be, naming the field (a schema error would not say it in the user's words).
Name = Annotated[SingleLineText, Field(max_length=MAX_NAME + 50)]


class SegmentCreate(StrictModel):
    """A new segment. Its filters are checked against the account's properties by the
    service, so an unknown property or operator is refused naming it."""

    name: Name
    object_type: ObjectType = "subscriptions"
    filter_groups: FilterGroups = []


class SegmentUpdate(StrictModel):
    """Changes to a segment; fields left out stay as they are. The object type is fixed: the
    filters are written in that object's properties."""

    name: Name | None = None
    filter_groups: FilterGroups | None = None


class SegmentOut(OutputModel):
    id: str
    object: Literal["segment"] = "segment"
    name: str
    object_type: ObjectType
    filter_groups: list[dict[str, Any]]
    # None when the filters no longer hold (a property or option they use was changed since);
    # `filters_error` then says what, and PATCHing the filters mends the segment.
    member_count: int | None
    filters_error: str | None = None
    created_at: datetime
    updated_at: datetime
