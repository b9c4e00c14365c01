"""Custom property definitions and their values: a typed store, one row per value."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class PropertyDefinition(Base):
    __tablename__ = "property_definitions"
    __table_args__ = (UniqueConstraint("account_id", "object_type", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    object_type: Mapped[str] = mapped_column(String(24))  # subscriptions | contacts | companies
    name: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(255))
    group_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    field_type: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[Any]]
    rules: Mapped[dict[str, Any]]
    sensitive: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PropertyValue(Base):
    """The value of one custom property on one record, in the column of its type, so filters
    compare numbers as numbers and dates as dates on both databases."""

    __tablename__ = "property_values"
    __table_args__ = (
        Index("ix_property_values_lookup", "account_id", "object_type", "name"),
        # Records whose text or option value is X, read from the index alone: a segment's
        # "tier is Basic" over a million records (migration 0024, benchmarks/exports.py); and
        # the records in the order of their option, a page of the index sorted by it (issue
        # 18). In code point order, as the filter language sorts: SQLite's BINARY; on
        # PostgreSQL COLLATE "C" (migration 0032), in which options are compared too.
        Index(
            "ix_property_values_text_lookup",
            "account_id",
            "object_type",
            "name",
            "text_value",
            "object_id",
            postgresql_ops={"text_value": 'COLLATE "C"'},
        ),
    )

    object_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    object_type: Mapped[str] = mapped_column(String(24))
    text_value: Mapped[str | None] = mapped_column(Text)
    number_value: Mapped[Decimal | None] = mapped_column(Numeric(30, 10))
    date_value: Mapped[date | None]
    datetime_value: Mapped[datetime | None]
    bool_value: Mapped[bool | None]
