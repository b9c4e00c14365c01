"""Housekeeping: purge what is kept only for a while — idempotency records past 24 hours,
dev-mailbox emails past 30 days, web sessions past their expiry, export files past their 30
days, events (with their webhook deliveries) past 30 days — and then refreshes SQLite's query
planner statistics. `cadency serve`'s embedded worker and `cadency worker` run it hourly;
`cadency purge` runs it once.

Each owning package says what is old (its `purge_*` service deletes one bounded batch); this
runner commits batch by batch, so a large backlog never holds SQLite's write lock for long."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.exports import service as export_service
from cadency.kit import clock, idempotency
from cadency.kit.db import refresh_statistics
from cadency.notifications import service as notification_service
from cadency.webhooks import service as webhook_service

BATCH_SIZE = 1000
EVERY_SECONDS = 3600.0

PURGES: dict[str, Callable[..., int]] = {
    "idempotency_records": idempotency.purge_expired,
    "mailbox_messages": notification_service.purge_old_mailbox_messages,
    "user_sessions": account_service.purge_expired_sessions,
    "export_files": export_service.purge_expired_files,
    "events": webhook_service.purge_events,
}
# Purges that delete files as well as rows, and so need to know where the files lie.
FILE_PURGES = frozenset({"export_files"})

logger = logging.getLogger("cadency.housekeeping")


def run(
    session_factory: Callable[[], Session],
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    files_dir: str | None = None,
) -> dict[str, int]:
    """Purge everything that is due; returns the rows deleted per table. `files_dir`: where
    export files lie (the settings' CADENCY_FILES_DIR when None)."""
    now = now or clock.real_now()
    deleted: dict[str, int] = {}
    for table, purge in PURGES.items():
        deleted[table] = 0
        while True:
            with session_factory() as session:
                extra = {"files_dir": files_dir} if table in FILE_PURGES else {}
                batch = purge(session, now=now, limit=batch_size, **extra)
                session.commit()
            deleted[table] += batch
            if batch < batch_size:
                break
    with session_factory() as session:
        refresh_statistics(session.connection())
        session.commit()
    return deleted


class Hourly:
    """Housekeeping for a worker loop that passes every few seconds: runs on the first call,
    then again once `every` seconds have gone by. A failure is logged, never raised: it must
    not stop billing."""

    def __init__(
        self, session_factory: Any, every: float = EVERY_SECONDS, files_dir: str | None = None
    ) -> None:
        self.session_factory = session_factory
        self.every = every
        self.files_dir = files_dir
        self.last_run: float | None = None

    def run_if_due(self) -> dict[str, int] | None:
        started = time.monotonic()
        if self.last_run is not None and started - self.last_run < self.every:
            return None
        self.last_run = started
        try:
            deleted = run(self.session_factory, files_dir=self.files_dir)
        except Exception:
            logger.exception("housekeeping failed")
            return None
        if any(deleted.values()):
            logger.info("housekeeping purged %s", deleted)
        return deleted
