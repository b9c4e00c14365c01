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


def listening_base_url(host: str, port: int) -> str:
    """The base URL of a server listening on host:port (a wildcard address is reached on
    loopback from this machine)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def load_settings() -> Settings:
    return Settings(
        database_url=os.environ.get("CADENCY_DATABASE_URL") or default_database_url(),
        base_url=(os.environ.get("CADENCY_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        smtp_url=os.environ.get("CADENCY_SMTP_URL") or None,
    )
