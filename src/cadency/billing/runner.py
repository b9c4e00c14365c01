"""Running the engine over many subscriptions: the worker loop and the test clock.

Due subscriptions are processed in batches — one transaction per batch, a savepoint per
subscription — so one failure never undoes or blocks the others, and PostgreSQL is not held to
one commit per subscription. On PostgreSQL, workers claim rows with FOR UPDATE SKIP LOCKED, so
any number of them can share the due set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.billing import bulk, engine
from cadency.invoices.models import Invoice
from cadency.kit import clock
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription

log = logging.getLogger("cadency.billing")
BATCH_SIZE = 500


@dataclass
class RunSummary:
    subscriptions_processed: int = 0
    subscriptions_failed: int = 0
    failed_ids: list[str] = field(default_factory=list)
    # Written by another worker first: not claimed again in this pass, whatever state they show.
    raced_ids: list[str] = field(default_factory=list)

    def add(self, other: RunSummary) -> None:
        self.subscriptions_processed += other.subscriptions_processed
        self.subscriptions_failed += other.subscriptions_failed
        self.failed_ids += other.failed_ids
        self.raced_ids += other.raced_ids

    @property
    def done_with(self) -> list[str]:
        return self.failed_ids + self.raced_ids


def _claim(
    session: Session, until: datetime, account_id: int | None, exclude: Sequence[str]
) -> list[Subscription]:
    query = select(Subscription).where(Subscription.next_action_at <= until)
    if account_id is not None:
        query = query.where(Subscription.account_id == account_id)
    else:
        query = query.join(Account, Account.id == Subscription.account_id).where(
            Account.mode == "live"
        )
    if exclude:
        query = query.where(Subscription.id.not_in(exclude))
    query = query.order_by(Subscription.next_action_at, Subscription.id).limit(BATCH_SIZE)
    # Skip rows another worker holds, and lock only the subscriptions (not the joined account,
    # or one busy account would shut every other worker out). SQLite ignores the clause.
    return list(
        session.scalars(
            query.with_for_update(skip_locked=True, of=Subscription).options(
                selectinload(Subscription.line_items)
            )
        )
    )


def _sqlite_in_transaction(session: Session) -> bool:
    driver = session.connection().connection.driver_connection
    return bool(getattr(driver, "in_transaction", False))


def run_batch(
    session: Session, until: datetime, *, account_id: int | None = None, exclude: Sequence[str] = ()
) -> RunSummary:
    """Process one batch of due subscriptions and commit. `until` is the latest instant work may
    be due at; each account's own "now" is used for the work itself."""
    summary = RunSummary()
    if session.get_bind().dialect.name == "sqlite" and not _sqlite_in_transaction(session):
        # The driver would only open a transaction at the first write, and each savepoint's
        # release would commit on its own: take the write lock now, so the batch is one
        # transaction, as on PostgreSQL.
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    subscriptions = _claim(session, until, account_id, exclude)
    by_account: dict[int, list[Subscription]] = {}
    for subscription in subscriptions:
        by_account.setdefault(subscription.account_id, []).append(subscription)
    for owner_id, owned in by_account.items():
        account = session.get(Account, owner_id)
        assert account is not None
        now = (
            min(clock.account_now(account), until)
            if account.mode == "live"
            else clock.account_now(account)
        )
        renewed = _renew_in_bulk(session, account, owned, now)
        summary.subscriptions_processed += len(renewed)
        for subscription in owned:
            if subscription.id not in renewed:
                _process_one(session, account, subscription, now, summary)
    session.commit()
    return summary


def _renew_in_bulk(
    session: Session, account: Account, subscriptions: list[Subscription], now: datetime
) -> set[str]:
    """Plain renewals in a few statements; on any trouble, all of them take the full path."""
    try:
        with session.begin_nested():
            return bulk.renew(session, account, subscriptions, now)
    except IntegrityError:
        # Another worker billed one of these first: each goes through the engine, which sees it.
        log.info("bulk renewal collided for account %s; renewing one by one", account.id)
    except Exception:
        log.exception("bulk renewal failed for account %s; renewing one by one", account.id)
    for subscription in subscriptions:
        session.expire(subscription)
    return set()


def _process_one(
    session: Session,
    account: Account,
    subscription: Subscription,
    now: datetime,
    summary: RunSummary,
) -> None:
    try:
        with session.begin_nested():
            engine.process(session, account, subscription, now)
        summary.subscriptions_processed += 1
    except IntegrityError:
        # Another worker wrote this period first; its work stands and ours is dropped.
        log.info("subscription %s was processed concurrently", subscription.id)
        session.expire(subscription)
        summary.subscriptions_processed += 1
        summary.raced_ids.append(subscription.id)
    except Exception:
        log.exception("billing failed for subscription %s", subscription.id)
        summary.subscriptions_failed += 1
        summary.failed_ids.append(subscription.id)


def run_due(session: Session, now: datetime | None = None) -> RunSummary:
    """The live worker's pass: every due subscription of every live account, batch by batch."""
    now = now or clock.real_now()
    total = RunSummary()
    while True:
        summary = run_batch(session, now, exclude=total.done_with)
        total.add(summary)
        if summary.subscriptions_processed + summary.subscriptions_failed == 0:
            return total


def advance_clock(session: Session, account: Account, to: datetime) -> dict[str, int]:
    """Move a test-mode account's clock to `to`, running all due work in time order: the clock
    stops at each instant something is due, so every record carries the time it happened."""
    counts_before = _counts(session, account.id)
    excluded: list[str] = []  # failed or raced: not run again in this advance
    processed = failed = 0
    while True:
        next_due = session.scalar(
            select(func.min(Subscription.next_action_at)).where(
                Subscription.account_id == account.id,
                Subscription.next_action_at <= to,
                Subscription.id.not_in(excluded) if excluded else Subscription.id.is_not(None),
            )
        )
        if next_due is None:
            break
        account.clock_now = max(next_due, account.clock_now or next_due)
        session.flush()
        summary = run_batch(session, account.clock_now, account_id=account.id, exclude=excluded)
        processed += summary.subscriptions_processed
        failed += summary.subscriptions_failed
        excluded += summary.done_with
    account.clock_now = to
    session.commit()
    counts_after = _counts(session, account.id)
    return {
        "subscriptions_processed": processed,
        "subscriptions_failed": failed,
        **{name: counts_after[name] - counts_before[name] for name in counts_after},
    }


def _counts(session: Session, account_id: int) -> dict[str, int]:
    invoices = session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id)
    )
    payments = session.scalar(
        select(func.count()).select_from(Payment).where(Payment.account_id == account_id)
    )
    return {"invoices_created": invoices or 0, "payments_created": payments or 0}
