"""Migration 0035 gives every subscription the list of its cancellation reasons: the one reason
canceled subscriptions gave before becomes the list's only one; the others get an empty list.
On SQLite, and on PostgreSQL when CADENCY_TEST_DATABASE_URL is set (in a database of its own,
so the suite's database is left alone)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    insert,
    make_url,
    select,
    text,
)

from cadency.kit import migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url = os.environ.get("CADENCY_TEST_DATABASE_URL")
    if not url:
        pytest.skip("CADENCY_TEST_DATABASE_URL is not set")
    name = f"cadency_0035_{uuid.uuid4().hex[:8]}"
    server = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()


def _filler(column: Any) -> Any:
    """Some value of a column's type, for the columns a row must have and the test ignores."""
    kind = column.type
    if isinstance(kind, JSON):
        return []
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if isinstance(kind, Date):
        return date(2026, 1, 1)
    if isinstance(kind, Numeric):
        return Decimal(0)
    if isinstance(kind, String):
        return "x"[: kind.length or 1]
    return 0


def _insert(conn: Connection, table: Table, **values: Any) -> None:
    """A row with `values`, and a filler in every other column that must have one."""
    row = {
        column.name: _filler(column)
        for column in table.columns
        if not column.nullable and column.server_default is None and not column.primary_key
    }
    conn.execute(insert(table).values({**row, **values}))


def test_the_one_reason_given_before_becomes_the_list(empty_database: str) -> None:
    url = empty_database
    command.upgrade(migrate.alembic_config(url), "0034")
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine, only=["accounts", "contacts", "subscriptions"])
    with engine.begin() as conn:
        _insert(conn, tables.tables["accounts"], id=10000001, dunning_retry_days=[3, 5, 7])
        _insert(conn, tables.tables["contacts"], id="cont_1", account_id=10000001)
        for sid, reason in (("sub_gave", "too_expensive"), ("sub_gave_none", None)):
            _insert(
                conn,
                tables.tables["subscriptions"],
                id=sid,
                account_id=10000001,
                contact_id="cont_1",
                status="canceled",
                cancellation_reason=reason,
            )
    engine.dispose()

    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, cancellation_reason, cancellation_reasons FROM subscriptions "
                "ORDER BY id"
            )
        ).all()
        # PostgreSQL's driver reads JSON as Python values, SQLite's as its text.
        read = [
            (sid, reason, json.loads(listed) if isinstance(listed, str) else listed)
            for sid, reason, listed in rows
        ]
        assert read == [
            ("sub_gave", "too_expensive", ["too_expensive"]),
            ("sub_gave_none", None, []),
        ]
    # A row written afterwards without the column (a bulk insert, say) gets the empty list.
    tables = MetaData()
    tables.reflect(engine, only=["subscriptions"])
    subscriptions = tables.tables["subscriptions"]
    with engine.begin() as conn:
        _insert(conn, subscriptions, id="sub_later", account_id=10000001, contact_id="cont_1")
        later = conn.execute(
            select(subscriptions.c.cancellation_reasons).where(subscriptions.c.id == "sub_later")
        ).scalar_one()
        assert later == []
    engine.dispose()

    # And back: the list goes, the one reason stays.
    command.downgrade(migrate.alembic_config(url), "0034")
    engine = create_engine(url)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT cancellation_reason FROM subscriptions WHERE id = 'sub_gave'")
            ).scalar_one()
            == "too_expensive"
        )
    engine.dispose()
