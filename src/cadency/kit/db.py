"""Database plumbing: the declarative base, column types shared by every domain, engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp. SQLite has no time zones, so values are stored naive in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not allowed; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# The name of Python's str.lower inside SQLite (registered on every connection of make_engine).
SQLITE_LOWER = "cadency_lower"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # SQLite's lower() folds ASCII letters only: "Østergaard" would never match
            # "østergaard". Text comparisons that ignore case use this one (kit/text_search.py
            # `fold_case`), Python's, as the services lower what they store.
            dbapi_conn.create_function(SQLITE_LOWER, 1, _lower, deterministic=True)

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


# Rows of each index an approximate ANALYZE reads on SQLite: enough for the planner to know
# how selective an index is, and a few milliseconds however large the tables grow.
ANALYSIS_LIMIT = 1000


def refresh_statistics(connection: Connection) -> None:
    """Give SQLite's query planner statistics of the tables (an approximate ANALYZE; PostgreSQL
    keeps its own through autovacuum). Without them it guesses that an account's rows are a
    handful and reads all of them where an index would read a few (a search box over a million
    subscriptions: a second instead of a millisecond). Run after migrating and hourly
    (housekeeping); commits nothing itself."""
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
    names = [
        str(row[0])
        for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    virtual = {
        str(row[0])
        for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'"
        )
    }
    # Not the tables of a full-text index (`contacts_text_data`, …): FTS5 plans its own
    # statements over them, and statistics taken while they are nearly empty made each insert
    # into the index read it whole (20,000 contacts: 47 s instead of 3 s).
    shadow = {n for n in names if any(n.startswith(v + "_") for v in virtual)}
    for name in names:
        if name not in virtual and name not in shadow:
            connection.exec_driver_sql(f'ANALYZE "{name}"')
    if shadow and "sqlite_stat1" in {
        str(row[0]) for row in connection.exec_driver_sql("SELECT name FROM sqlite_master")
    }:
        marks = ", ".join("?" for _ in shadow)
        connection.exec_driver_sql(
            f"DELETE FROM sqlite_stat1 WHERE tbl IN ({marks})", tuple(sorted(shadow))
        )


class sorted_after_filtering(FunctionElement[Any]):
    """An ORDER BY expression SQLite must not read an index for: with a condition that matches
    a few rows (a search box), its planner would otherwise walk the sort's index through the
    whole account testing every row, hoping to stop early; this makes it find the few rows
    through their own indexes and sort them (SQLite's unary `+`). As it is elsewhere."""

    inherit_cache = True
    name = "sorted_after_filtering"

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)
        self.type = expression.type


@compiles(sorted_after_filtering)
def _sorted_after_filtering(
    element: sorted_after_filtering, compiler: SQLCompiler, **kw: Any
) -> str:
    return compiler.process(element.clauses.clauses[0], **kw)


@compiles(sorted_after_filtering, "sqlite")
def _sorted_after_filtering_sqlite(
    element: sorted_after_filtering, compiler: SQLCompiler, **kw: Any
) -> str:
    return f"+({compiler.process(element.clauses.clauses[0], **kw)})"


def begin_write(session: Session) -> None:
    """Start a transaction that will write, taking SQLite's write lock before it reads: a
    transaction that read and then writes after another writer committed in between fails on
    SQLite (its WAL snapshot is stale); this one waits its turn instead. Nothing on PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay usable after commit: endpoints commit, then render what they changed.
    return sessionmaker(engine, expire_on_commit=False)


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


class not_an_index_key(FunctionElement[Any]):
    """A column in a condition that SQLite must not pick an index by (`+column`, SQLite's own
    way to say so); other databases see the plain column.

    SQLite plans without statistics: given `account_id = ? AND object_id IN (…)` it prefers the
    index with more equality terms, and scans every row of the account for each page of IDs.
    Wrapping the account condition this way leaves it the primary key lookup by ID."""

    inherit_cache = True
    name = "not_an_index_key"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type  # compared and bound as the column is


@compiles(not_an_index_key)
def _compile_plain(element: not_an_index_key, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return str(compiler.process(arg, **kw))


@compiles(not_an_index_key, "sqlite")
def _compile_unary_plus(element: not_an_index_key, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"+{compiler.process(arg, **kw)}"
