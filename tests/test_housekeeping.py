"""Housekeeping purges what is kept only for a while — idempotency records past 24 hours,
dev-mailbox emails past 30 days, expired web sessions — in bounded batches, and keeps the rest."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cadency import housekeeping
from cadency.accounts import service as account_service
from cadency.accounts.models import Account, UserSession
from cadency.cli import main
from cadency.kit import clock, idempotency
from cadency.kit.idempotency import IdempotencyRecord
from cadency.notifications import service as notification_service
from cadency.notifications.models import MailboxMessage
from tests.conftest import Api

OLD = 5  # more than one batch of the runs below (batch_size=2)


def seed(session_factory: Any, api: Api) -> None:
    """For `api`'s account: OLD rows past keeping of each kind, and one fresh row of each."""
    now = clock.real_now()
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        user = account_service.create_user(
            session, account, email=f"keeper-{api.account_id}@example.com", password="password-123"
        )
        session.flush()
        for n in range(OLD + 1):
            fresh = n == OLD
            session.add(
                IdempotencyRecord(
                    account_id=api.account_id,
                    key=f"key-{n}",
                    fingerprint="0" * 64,
                    status_code=200,
                    response_body="{}",
                    created_at=now - (timedelta(hours=1) if fresh else idempotency.KEEP_FOR),
                )
            )
            age = timedelta(days=1) if fresh else notification_service.MAILBOX_KEEP_FOR
            session.add(
                MailboxMessage(
                    account_id=api.account_id,
                    sender="shop@example.com",
                    to="buyer@example.com",
                    subject=f"Receipt {n}",
                    text="Thanks",
                    html="<p>Thanks</p>",
                    attachments=[],
                    dated_at=now,  # the account's clock: kept or purged by real time only
                    created_at=now - age - timedelta(seconds=1),
                )
            )
            session.add(
                UserSession(
                    token_hash=f"{api.account_id:032d}{n:032d}",
                    user_id=user.id,
                    account_id=api.account_id,
                    csrf_token="x",
                    created_at=now - timedelta(days=15),
                    expires_at=now + timedelta(days=1) if fresh else now - timedelta(seconds=1),
                )
            )
        session.commit()


def remaining(db: Any, api: Api) -> dict[str, list[str]]:
    db.expire_all()
    mine = api.account_id
    return {
        "idempotency_records": sorted(
            db.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.account_id == mine))
        ),
        "mailbox_messages": sorted(
            db.scalars(select(MailboxMessage.subject).where(MailboxMessage.account_id == mine))
        ),
        "user_sessions": sorted(
            db.scalars(select(UserSession.token_hash).where(UserSession.account_id == mine))
        ),
    }


def test_old_rows_are_purged_in_batches_and_fresh_ones_kept(
    api: Api, db: Any, session_factory: Any
) -> None:
    seed(session_factory, api)
    deleted = housekeeping.run(session_factory, batch_size=2)
    assert set(deleted) == {
        "idempotency_records",
        "mailbox_messages",
        "user_sessions",
        "export_files",
        "events",
    }
    # Export files and events have their own tests (tests/exports/test_api.py,
    # tests/webhooks): seeded here are rows.
    assert all(deleted[kind] >= OLD for kind in remaining(db, api)), deleted
    assert remaining(db, api) == {
        "idempotency_records": [f"key-{OLD}"],
        "mailbox_messages": [f"Receipt {OLD}"],
        "user_sessions": [f"{api.account_id:032d}{OLD:032d}"],
    }
    # A second run finds nothing more of this account's.
    housekeeping.run(session_factory, batch_size=2)
    assert sum(len(rows) for rows in remaining(db, api).values()) == 3


def test_a_purge_statement_deletes_at_most_its_batch(
    api: Api, db: Any, session_factory: Any
) -> None:
    seed(session_factory, api)
    with session_factory() as session:
        now = clock.real_now()
        assert idempotency.purge_expired(session, now=now, limit=2) == 2
        assert notification_service.purge_old_mailbox_messages(session, now=now, limit=3) == 3
        assert account_service.purge_expired_sessions(session, now=now, limit=4) == 4
        session.commit()
    left = remaining(db, api)
    assert [len(rows) for rows in left.values()] == [OLD + 1 - 2, OLD + 1 - 3, OLD + 1 - 4]


def test_cadency_purge_prints_the_counts(
    api: Api, db: Any, session_factory: Any, database_url: str
) -> None:
    seed(session_factory, api)
    result = CliRunner().invoke(main, ["purge"], env={"CADENCY_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(printed) == {
        "idempotency_records",
        "mailbox_messages",
        "user_sessions",
        "export_files",
        "events",
    }
    assert all(printed[kind] >= OLD for kind in remaining(db, api)), printed
    assert sum(len(rows) for rows in remaining(db, api).values()) == 3


def test_the_worker_purges_on_its_first_pass(
    api: Api, db: Any, session_factory: Any, database_url: str
) -> None:
    seed(session_factory, api)
    env = {"CADENCY_DATABASE_URL": database_url}
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert sum(len(rows) for rows in remaining(db, api).values()) == 3


def test_hourly_runs_at_most_once_an_hour(api: Api, db: Any, session_factory: Any) -> None:
    hourly = housekeeping.Hourly(session_factory)
    assert hourly.run_if_due() is not None
    seed(session_factory, api)
    assert hourly.run_if_due() is None  # within the hour: nothing runs
    assert sum(len(rows) for rows in remaining(db, api).values()) == 3 * (OLD + 1)
    assert hourly.last_run is not None
    hourly.last_run -= housekeeping.EVERY_SECONDS  # an hour later
    deleted = hourly.run_if_due()
    assert deleted is not None and deleted["user_sessions"] >= OLD
    assert sum(len(rows) for rows in remaining(db, api).values()) == 3


def test_a_failing_purge_is_logged_not_raised(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: Any, *, now: Any, limit: int) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setitem(housekeeping.PURGES, "mailbox_messages", broken)
    assert housekeeping.Hourly(session_factory).run_if_due() is None
    assert "housekeeping failed" in caplog.text
    assert "disk full" in caplog.text


def test_housekeeping_refreshes_sqlites_planner_statistics(api: Api, session_factory: Any) -> None:
    """SQLite keeps no statistics of its own; without them its planner reads a whole account
    where an index would do (kit.db.refresh_statistics). Housekeeping leaves them current."""
    from sqlalchemy import text

    with session_factory() as session:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("PostgreSQL keeps its statistics itself (autovacuum)")
        session.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts'"))
        session.commit()
    api.ok(api.post("/contacts", {"email": "counted@example.com"}))
    housekeeping.run(session_factory)
    with session_factory() as session:
        indexes = set(session.scalars(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'contacts'")))
        # Not those of the full-text index's own tables (FTS5 plans its statements itself).
        text_index_tables = session.scalar(
            text("SELECT count(*) FROM sqlite_stat1 WHERE tbl LIKE 'contacts_text%'")
        )
    assert "ix_contacts_account_id_email" in indexes
    assert text_index_tables == 0
