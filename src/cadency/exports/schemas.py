"""Shapes of exports in the API: what a caller asks for, and the export object it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictStr

from cadency.exports.models import Export
from cadency.kit.filters import FilterGroups
from cadency.kit.schemas import OutputModel, StrictModel

ObjectType = Literal["subscriptions", "contacts", "companies"]
Format = Literal["csv", "xlsx"]
Language = Literal["en", "nl", "da", "de"]
Properties = Literal["view", "all", "all_with_associations"]
AssociationsLimit = Literal["1000", "all"]
RecordId = Annotated[StrictStr, Field(min_length=1, max_length=40)]


class ExportCreate(StrictModel):
    """A new export. Without `view_id`, `segment_id` or `filter_groups` every record of the type
    is exported; given together, a record must match all of them."""

    object_type: ObjectType = "subscriptions"
    format: Format = "csv"
    language: Language = "en"
    properties: Properties = "view"
    view_id: RecordId | None = None
    segment_id: RecordId | None = None
    filter_groups: FilterGroups | None = None
    associations_limit: AssociationsLimit = "1000"


class ExportOut(OutputModel):
    id: str
    object: Literal["export"] = "export"
    status: Literal["queued", "running", "succeeded", "failed"]
    object_type: str
    format: str
    language: str
    properties: str
    row_count: int
    progress: int
    file_name: str | None
    size_bytes: int | None
    download_url: str | None
    expires_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, export: Export, download_url: str | None) -> ExportOut:
        return cls(
            id=export.id,
            status=export.status,
            object_type=export.object_type,
            format=export.format,
            language=export.language,
            properties=export.properties,
            row_count=export.row_count,
            progress=export.progress,
            file_name=export.file_name,
            size_bytes=export.size_bytes,
            download_url=download_url,
            expires_at=export.expires_at,
            created_at=export.created_at,
            finished_at=export.finished_at,
            error=export.error,
        )
