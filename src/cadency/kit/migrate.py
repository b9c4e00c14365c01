"""Run Alembic migrations from inside the installed package (`cadency migrate`, and on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# A flag for migrations/env.py: bring the text indexes in step after migrating (not when only
# comparing the models with the migrations).
TEXT_INDEXES = "text_indexes"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Migrate to the newest schema, then bring the text indexes (derived data, see
    kit/text_search.py) in step with it (migrations/env.py, which sees every table)."""
    config = alembic_config(database_url)
    config.attributes[TEXT_INDEXES] = True
    command.upgrade(config, "head")


def check(database_url: str) -> None:
    """Raise if the models and the migrations disagree."""
    command.check(alembic_config(database_url))
