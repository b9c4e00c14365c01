"""A throwaway PostgreSQL server for a benchmark run (scripts/pg-start), shared by the
benchmarks that measure on PostgreSQL; `scripts/pg-stop BASE` stops it."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_postgres() -> tuple[str, str]:
    """Start a server; returns its SQLAlchemy URL and its base directory."""
    base = tempfile.mkdtemp(prefix="cadency-pg-bench.")
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pg-start")],
        env={**os.environ, "CADENCY_PG_BASE": base},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1], base
