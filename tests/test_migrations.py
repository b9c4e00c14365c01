from __future__ import annotations

from fastapi import FastAPI

from cadency.kit import migrate


def test_models_and_migrations_agree(app: FastAPI, database_url: str) -> None:
    # `app` has migrated the database to head; `alembic check` fails if a model changed
    # without a migration.
    migrate.check(database_url)


def test_upgrading_a_database_with_data_keeps_it(tmp_path: object) -> None:
    """Every migration runs on a database that already holds records (SQLite rebuilds tables
    to alter them, which must not trip over foreign keys)."""
    from pathlib import Path

    from alembic import command
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{Path(str(tmp_path)) / 'old.db'}"
    command.upgrade(migrate.alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, name, timezone, currency, language, locale, mode,"
                " renewal_reminder_days, dunning_retry_days, dunning_final_action,"
                " dunning_invoice_action, invoice_number_prefix, created_at) VALUES"
                " (10000001, 'Old shop', 'UTC', 'USD', 'en', 'en-US', 'live', 14, '[3, 5, 7]',"
                " 'cancel', 'mark_uncollectible', 'INV', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO products (id, account_id, name, unit_price, currency, archived,"
                " created_at, updated_at) VALUES ('prod_1', 10000001, 'Beans', 2500, 'USD', 0,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, invoice_sequence FROM accounts")).one() == (
            "Old shop",
            0,
        )
        assert conn.execute(text("SELECT name FROM products")).scalar_one() == "Beans"
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()
