"""What buyers may do in an account's billing portal: one row per account, written on the first
change (until then every setting has its default)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class PortalConfiguration(Base):
    __tablename__ = "portal_configurations"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    # The features as `schemas.PortalConfiguration` validates them (one JSON document: the
    # portal reads all of it at once, and nothing queries inside it).
    features: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
