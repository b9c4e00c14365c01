from __future__ import annotations

from typing import Any

from alembic import context

from cadency.kit.db import is_sqlite, make_engine, refresh_statistics
from cadency.kit.migrate import TEXT_INDEXES
from cadency.kit.text_search import ensure_text_indexes, is_text_index
from cadency.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # Text indexes are derived data kept by kit/text_search.py, not declared by the models.
    return not (reflected and compare_to is None and is_text_index(name))


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        if is_sqlite(url):
            # SQLite alters a table by copying it and dropping the old one, which foreign keys
            # pointing at it would refuse; the pragma only works outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=is_sqlite(url),  # SQLite alters tables by copying them
            compare_type=True,
            include_object=include_object,
        )
        before = context.get_context().get_current_heads()
        with context.begin_transaction():
            context.run_migrations()
        if config.attributes.get(TEXT_INDEXES):
            # In a transaction of its own: on SQLite Alembic's is none (no transactional DDL).
            after = context.get_context().get_current_heads()
            ensure_text_indexes(connection, rebuild=before != after)
            refresh_statistics(connection)
            connection.commit()
    engine.dispose()


run_migrations_online()
