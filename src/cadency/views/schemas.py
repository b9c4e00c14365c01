"""Shapes of saved views: what a user saves (filters, columns, sort, search text) and changes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictStr

from cadency.kit.filters import FilterGroups
from cadency.kit.schemas import SingleLineText, StrictModel

MAX_COLUMNS = 50
MAX_NAME = 100
MAX_QUERY = 200

ColumnKeys = Annotated[
    list[Annotated[StrictStr, Field(min_length=1, max_length=200)]],
    Field(max_length=MAX_COLUMNS),
]
Direction = Literal["asc", "desc"]


class ViewCreate(StrictModel):
    """A new view of an index page. The name is checked by the service (it trims spaces and
    says clearly when nothing is left); columns, properties and filter values are checked
    against the account's properties there too."""

    object_type: Literal["subscriptions"] = "subscriptions"
    name: Annotated[SingleLineText, Field(max_length=MAX_NAME + 50)]
    shared: StrictBool = False
    filter_groups: FilterGroups = []
    columns: ColumnKeys = []
    sort_property: Annotated[StrictStr, Field(max_length=200)] | None = None
    sort_direction: Direction = "desc"
    query: Annotated[SingleLineText, Field(max_length=MAX_QUERY)] | None = None


class ViewUpdate(StrictModel):
    """Changes to a view; fields left out stay as they are."""

    name: Annotated[SingleLineText, Field(max_length=MAX_NAME + 50)] | None = None
    shared: StrictBool | None = None
    filter_groups: FilterGroups | None = None
    columns: ColumnKeys | None = None
    sort_property: Annotated[StrictStr, Field(max_length=200)] | None = None
    sort_direction: Direction | None = None
    query: Annotated[SingleLineText, Field(max_length=MAX_QUERY)] | None = None
