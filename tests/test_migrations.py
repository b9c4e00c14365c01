from __future__ import annotations

from fastapi import FastAPI

from cadency.kit import migrate


def test_models_and_migrations_agree(app: FastAPI, database_url: str) -> None:
    # `app` has migrated the database to head; `alembic check` fails if a model changed
    # without a migration.
    migrate.check(database_url)
