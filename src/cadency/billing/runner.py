"""Running the engine over many subscriptions: the worker loop and the test clock.

Due subscriptions are processed in batches — one transaction per batch, a savepoint per
subscription — so one failure never undoes or blocks the others, and PostgreSQL is not held to
one commit per subscription. On PostgreSQL, workers claim rows with FOR UPDATE SKIP LOCKED, so
any number of them can share the due set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.billing import bulk, engine
from cadency.invoices.models import Invoice
from cadency.kit import clock
from cadency.kit.errors import Conflict, InvalidRequest
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
    """The worker's pass over every account with due work: live accounts up to real time, test
    accounts up to their own running clocks. Accounts take turns, one batch each per round, so
    one account's backlog never starves another's."""
    total = RunSummary()
    while True:
        due = _accounts_with_due_work(session, now or clock.real_now())
        session.commit()  # end the read, so SQLite's writer is free between rounds
        progressed = False
        while due:
            # One round; an account whose batch was not full has nothing more due by then.
            busy = []
            for account_id, until in due:
                summary = run_batch(session, until, account_id=account_id, exclude=total.done_with)
                total.add(summary)
                done = summary.subscriptions_processed + summary.subscriptions_failed
                progressed |= done > 0
                if done >= BATCH_SIZE:
                    busy.append((account_id, until))
            due = busy
        if not progressed:
            return total


def _accounts_with_due_work(session: Session, now: datetime) -> list[tuple[int, datetime]]:
    """(account, the instant it is due up to) for every account with work due by its own now."""
    live = session.scalars(
        select(Subscription.account_id)
        .join(Account, Account.id == Subscription.account_id)
        .where(Account.mode == "live", Subscription.next_action_at <= now)
        .distinct()
        .order_by(Subscription.account_id)
    )
    due = [(account_id, now) for account_id in live]
    # A test clock runs on with real time, so left alone it comes due like a live account.
    next_stop = (
        select(func.min(Subscription.next_action_at))
        .where(Subscription.account_id == Account.id)
        .scalar_subquery()
    )
    for account, first_due in session.execute(
        select(Account, next_stop)
        .where(Account.mode == "test", Account.clock_now.is_not(None))
        .order_by(Account.id)  # rounds in a stable order, as the live accounts'
    ):
        until = clock.account_now(account)
        if first_due is not None and first_due <= until:
            due.append((account.id, until))
    return due


MAX_ADVANCE = relativedelta(years=5)
# How long one advance holds on before it commits, lets other writers in and checks that its
# client is still there.
CHUNK_SECONDS = 0.2
# A pause after each chunk: SQLite's lock has no queue, so without one a long advance would
# retake the write lock before any waiting request of another account got it.
YIELD_SECONDS = 0.02


class ClockAdvance:
    """Moves a test-mode account's clock to `to`, running all due work in time order: the clock
    stops at each instant something is due, so every record carries the time it happened.

    The work runs in chunks, each committed, so an advance stopped halfway (its client left)
    leaves the clock at the last instant whose work is done, consistently."""

    def __init__(self, session: Session, account: Account, to: datetime) -> None:
        self.session = session
        self.account = account
        self.to = to
        self.counts_before = _counts(session, account.id)
        self.excluded: list[str] = []  # failed or raced: not run again in this advance
        self.processed = 0
        self.failed = 0
        self.done = False

    def step(self, budget: float = CHUNK_SECONDS) -> bool:
        """Run due work for about `budget` seconds; True once the clock has reached `to`."""
        session, account = self.session, self.account
        started = time.monotonic()
        while not self.done and time.monotonic() - started < budget:
            next_due = session.scalar(
                select(func.min(Subscription.next_action_at)).where(
                    Subscription.account_id == account.id,
                    Subscription.next_action_at <= self.to,
                    Subscription.id.not_in(self.excluded)
                    if self.excluded
                    else Subscription.id.is_not(None),
                )
            )
            if next_due is None:
                clock.set_clock(account, max(self.to, clock.account_now(account)))
                session.commit()
                self.done = True
                break
            clock.stop_clock_at(account, max(next_due, clock.account_now(account)))
            session.flush()
            summary = run_batch(
                session, clock.account_now(account), account_id=account.id, exclude=self.excluded
            )
            self.processed += summary.subscriptions_processed
            self.failed += summary.subscriptions_failed
            self.excluded += summary.done_with
        if not self.done:
            # Between chunks (and if this advance goes no further) the clock runs on from the
            # last instant whose work is done.
            clock.set_clock(account, clock.account_now(account))
            session.commit()
        return self.done

    def run(self) -> dict[str, int]:
        """The whole advance, yielding to other writers between chunks."""
        while not self.step():
            time.sleep(YIELD_SECONDS)
        return self.summary()

    def summary(self) -> dict[str, int]:
        counts_after = _counts(self.session, self.account.id)
        return {
            "subscriptions_processed": self.processed,
            "subscriptions_failed": self.failed,
            **{name: counts_after[name] - self.counts_before[name] for name in counts_after},
        }


async def pause_between_chunks() -> None:
    """`ClockAdvance.run`'s pause, for callers on the event loop."""
    await anyio.sleep(YIELD_SECONDS)


def check_advance(account: Account, to: datetime) -> datetime:
    """Where an advance to `to` moves the clock, or why it cannot: only test clocks move, only
    forward, and at most five years per call. An instant the running clock has just passed
    (a client that read the clock and sent it back) means "now"."""
    if account.mode != "test":
        raise Conflict("A live account runs on real time; only test-mode clocks can be moved")
    to = to.astimezone(UTC)
    now = clock.account_now(account)
    if to < now - LATE_TOLERANCE:
        raise InvalidRequest(
            "The clock cannot move backwards (it is %(now)s)", now=now.isoformat(), param="to"
        )
    if to > now + MAX_ADVANCE:
        raise InvalidRequest(
            "The clock moves at most 5 years per call (it is %(now)s); advance in steps",
            now=now.isoformat(),
            param="to",
        )
    return max(to, now)


# How far behind the running clock a `to` may be and still mean "now".
LATE_TOLERANCE = timedelta(minutes=5)


def advance_clock(session: Session, account: Account, to: datetime) -> dict[str, int]:
    """Move a test-mode account's clock to `to` (checked by `check_advance`) in one go."""
    return ClockAdvance(session, account, check_advance(account, to)).run()


def _counts(session: Session, account_id: int) -> dict[str, int]:
    invoices = session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id)
    )
    payments = session.scalar(
        select(func.count()).select_from(Payment).where(Payment.account_id == account_id)
    )
    return {"invoices_created": invoices or 0, "payments_created": payments or 0}
