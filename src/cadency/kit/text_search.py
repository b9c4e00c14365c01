"""Text search: a case-insensitive substring of some columns (the list services' search box),
and the full-text indexes that answer it without reading every row.

A `TextIndex` over some text columns of one table is a trigram index: an FTS5 table with the
`trigram` tokenizer on SQLite (kept in step by triggers), a `pg_trgm` GIN index on `lower(column)`
per column on PostgreSQL. Both answer "which rows may hold this text, ignoring case" for texts
of three characters or more. Searches keep their exact condition and add the index's answer as
a narrowing (`narrowing()`), so results are the same with or without the index; only the rows
read change. The filter language's `contains_token` (kit/filters.py) and `contains_text` below
use an index wherever the searched columns have one.

Indexes are derived data, not schema history: `ensure_text_indexes` runs after every migration
(kit/migrate.py), creates what is missing and, on SQLite, rebuilds the FTS5 tables when a
migration ran, because a migration that copies a table (SQLite's way of altering one) drops its
triggers and may renumber its rows. Alembic's model comparison ignores them (`is_text_index`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, Table, and_, func, literal, or_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import NullType

from cadency.kit.db import SQLITE_LOWER

LIKE_ESCAPE = "\\"
# Trigram indexes find texts of three characters or more; shorter ones are searched row by row.
MIN_INDEXED_LENGTH = 3

logger = logging.getLogger(__name__)


def escape_like(term: str) -> str:
    """`term` for a LIKE pattern with LIKE_ESCAPE as escape character: its `%` and `_` match
    themselves, not any text (the filter language's tokens and the list services' search)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        term = term.replace(special, LIKE_ESCAPE + special)
    return term


class fold_case(FunctionElement[str]):
    """A text in lower case, for comparisons that ignore case: PostgreSQL's lower(); on SQLite,
    whose lower() folds ASCII only, Python's str.lower (kit.db.SQLITE_LOWER), so "Ø" folds
    like "O" does."""

    inherit_cache = True
    name = "fold_case"

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)
        self.type = String()


@compiles(fold_case)
def _fold_case(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold_case, "sqlite")
def _fold_case_sqlite(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


def contains_text(
    columns: Sequence[Any], term: str, *, parts_of: Sequence[Any] | None = None
) -> ColumnElement[bool]:
    """Any of the columns contains the search term (surrounding spaces dropped), ignoring case.

    `parts_of`: where a column is an expression joining text columns with spaces (a contact's
    name: first and last name), those columns: its text index then narrows by the longest word
    of the term, which a text holding the term holds within one of them."""
    text = term.strip()
    pattern = f"%{escape_like(text.lower())}%"
    exact = or_(*(fold_case(column).like(pattern, escape=LIKE_ESCAPE) for column in columns))
    if parts_of is None:
        narrowed = narrowing(columns, text)
    else:
        narrowed = narrowing(parts_of, max(text.split() or [""], key=len))
    return exact if narrowed is None else and_(narrowed, exact)


# --------------------------------------------------------------------------- indexes


@dataclass(frozen=True)
class TextIndex:
    """A trigram index over text columns of one table (see the module's docstring)."""

    table: str
    columns: tuple[str, ...]

    @property
    def fts_table(self) -> str:
        """SQLite: the FTS5 table (external content: it stores the index, not the texts)."""
        return f"{self.table}_text"

    def trigram_index(self, column: str) -> str:
        """PostgreSQL: the GIN index on `lower(column)`."""
        return f"ix_{self.table}_{column}_trgm"


_INDEXES: dict[str, TextIndex] = {}


def text_index(table: str, *columns: str) -> TextIndex:
    """Declare a text index (next to the table's model, so it exists whenever the model does)."""
    index = TextIndex(table, columns)
    _INDEXES[table] = index
    return index


def text_indexes() -> list[TextIndex]:
    return list(_INDEXES.values())


def is_text_index(name: str | None) -> bool:
    """Whether a table or index of the database belongs to a text index (FTS5 tables and their
    shadow tables `<table>_text_data` …, trigram indexes), which the models do not declare."""
    if not name:
        return False
    return any(
        name == index.fts_table
        or name.startswith(index.fts_table + "_")
        or name in {index.trigram_index(c) for c in index.columns}
        for index in _INDEXES.values()
    )


def _indexed(columns: Sequence[Any]) -> tuple[TextIndex, list[Any]] | None:
    """The index holding every one of these columns (all of one table, not an alias), if any."""
    found: TextIndex | None = None
    plain = []
    for column in columns:
        column = getattr(column, "expression", column)  # an ORM attribute's column
        table = getattr(column, "table", None)
        if not isinstance(table, Table):
            return None
        index = _INDEXES.get(table.name)
        if index is None or column.name not in index.columns or found not in (None, index):
            return None
        found = index
        plain.append(column)
    return (found, plain) if found is not None else None


def narrowing(columns: Sequence[Any], text: str) -> ColumnElement[bool] | None:
    """Rows that may hold `text` in one of `columns`, ignoring case — every row that does and
    maybe some that do not — answered by the columns' text index; None where there is no index
    or the text is too short for one."""
    if len(text) < MIN_INDEXED_LENGTH:
        return None
    indexed = _indexed(columns)
    if indexed is None:
        return None
    index, plain = indexed
    return _may_contain(literal(text), *plain, index=index)


class _may_contain(FunctionElement[bool]):
    """Arguments: the text, then the columns. Compiled per database (below).

    Untyped rather than Boolean: SQLAlchemy writes a Boolean element as `(…) = 1` on SQLite,
    which hides `rowid IN (…)` from the planner (it would read every row of the account
    and test each against the list instead of looking the listed rows up)."""

    type = NullType()  # type: ignore[assignment]
    inherit_cache = True
    name = "may_contain"

    def __init__(self, *clauses: Any, index: TextIndex) -> None:
        self.index = index
        super().__init__(*clauses)


@compiles(_may_contain)
def _may_contain_postgresql(element: _may_contain, compiler: SQLCompiler, **kw: Any) -> str:
    # lower(column) LIKE '%text%', which pg_trgm's GIN index on lower(column) answers; lower() in
    # SQL on both sides so they fold case alike.
    text, *columns = element.clauses
    escaped = func.replace(
        func.replace(func.replace(text, LIKE_ESCAPE, LIKE_ESCAPE * 2), "%", LIKE_ESCAPE + "%"),
        "_",
        LIKE_ESCAPE + "_",
    )
    pattern = func.lower(literal("%") + escaped + literal("%"))
    condition = or_(*(func.lower(c).like(pattern, escape=LIKE_ESCAPE) for c in columns))
    return f"({compiler.process(condition, **kw)})"  # whole, whatever surrounds it


@compiles(_may_contain, "sqlite")
def _may_contain_sqlite(element: _may_contain, compiler: SQLCompiler, **kw: Any) -> str:
    # The FTS5 table's rowids are the table's: "{email first_name}: "text"" finds the rows with
    # the text in those columns (the trigram tokenizer matches a phrase as a substring, ignoring
    # case). A quote inside the phrase is doubled, FTS5's escape.
    text, *columns = element.clauses
    fts = element.index.fts_table
    names = " ".join(c.name for c in columns)
    query = literal("{" + names + '}: "') + func.replace(text, '"', '""') + literal('"')
    table = columns[0].table.name
    return (
        f"({table}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH "
        f"{compiler.process(query, **kw)}))"
    )


# --------------------------------------------------------------------------- upkeep


def ensure_text_indexes(connection: Connection, *, rebuild: bool) -> None:
    """Create the declared text indexes that are missing; on SQLite, rebuild the FTS5 tables
    when `rebuild` (a migration ran) or when one was just created. Commits nothing itself."""
    if connection.dialect.name == "sqlite":
        for index in _INDEXES.values():
            created = _ensure_fts(connection, index)
            if created or rebuild:
                connection.exec_driver_sql(
                    f"INSERT INTO {index.fts_table}({index.fts_table}) VALUES ('rebuild')"
                )
        return
    if connection.dialect.name == "postgresql":
        _ensure_trigrams(connection)


def _ensure_fts(connection: Connection, index: TextIndex) -> bool:
    fts, table = index.fts_table, index.table
    exists = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (fts,)
    ).first()
    columns = ", ".join(index.columns)
    new = ", ".join(f"new.{c}" for c in index.columns)
    old = ", ".join(f"old.{c}" for c in index.columns)
    if exists is None:
        connection.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({columns}, content='{table}', "
            "tokenize='trigram')"
        )
    forget = f"INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', old.rowid, {old});"
    learn = f"INSERT INTO {fts}(rowid, {columns}) VALUES (new.rowid, {new});"
    for name, timing, body in (
        (f"{fts}_insert", f"AFTER INSERT ON {table}", learn),
        (f"{fts}_delete", f"AFTER DELETE ON {table}", forget),
        (f"{fts}_update", f"AFTER UPDATE OF {columns} ON {table}", forget + " " + learn),
    ):
        connection.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {timing} BEGIN {body} END")
    return exists is None


def _ensure_trigrams(connection: Connection) -> None:
    # pg_trgm ships with PostgreSQL and is a trusted extension (13+), but a managed database may
    # still refuse it: then searches stay correct and read every row, as before.
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:  # e.g. permission denied: search stays correct, only slower
        logger.warning("pg_trgm is not available, text search reads every row: %s", exc)
        return
    for index in _INDEXES.values():
        for column in index.columns:
            connection.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {index.trigram_index(column)} ON {index.table} "
                f"USING gin (lower({column}) gin_trgm_ops)"
            )
