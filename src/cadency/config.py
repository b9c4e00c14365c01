"""Runtime settings, read from the environment (API.md "Operator CLI")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    smtp_url: str | None


def default_database_url() -> str:
    data_dir = Path.cwd() / "data"
    return f"sqlite:///{data_dir / 'cadency.db'}"


def load_settings() -> Settings:
    return Settings(
        database_url=os.environ.get("CADENCY_DATABASE_URL") or default_database_url(),
        base_url=(os.environ.get("CADENCY_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        smtp_url=os.environ.get("CADENCY_SMTP_URL") or None,
    )
