"""`cadency worker` as real processes: a worker killed mid-run, and two workers sharing one due set,
still bill every due period exactly once (ENGINEERING.md "The billing engine").

Each test seeds its own live account with N subscriptions whose renewal is due now
(tests/billing/due_set.py) and counts only that account's rows: on PostgreSQL the database is the
suite's (other accounts are there), on SQLite the workers get a file of their own.
CADENCY_WORKER_SAFETY_N sets N (default: two batches of the runner, ~30 s a test on a busy
two-core machine); each test prints what it saw (`pytest -rP`).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import bulk as billing_bulk
from cadency.billing import engine as billing_engine
from cadency.billing import runner
from cadency.kit import migrate
from cadency.kit.db import is_sqlite, make_engine
from tests.billing import due_set

POSTGRES = bool(os.environ.get("CADENCY_TEST_DATABASE_URL"))
N = int(os.environ.get("CADENCY_WORKER_SAFETY_N") or 2 * runner.BATCH_SIZE)
# Generous: a busy two-core machine renews 35-75 subscriptions a second; this allows 20.
RUN_TIMEOUT = 60 + N / 20
POLL_SECONDS = 0.02


# --- worker processes ---------------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """A child that is SIGKILLed when the test process dies, however it dies (Linux): a looping
    worker must never outlive the test run. Looked up before fork; the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return set_death_signal


class Worker:
    """One `cadency worker` process; its stderr (JSON summaries, logs) goes to a file."""

    def __init__(self, name: str, args: list[str], url: str, directory: Path) -> None:
        self.name = name
        self.stderr_path = directory / f"{name}.stderr"
        env = {**os.environ, "CADENCY_DATABASE_URL": url}
        env.pop("CADENCY_TEST_DATABASE_URL", None)
        with open(self.stderr_path, "wb") as stderr:
            # The interpreter itself, not `uv run`: SIGKILL must hit the worker, not a wrapper.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cadency.cli", "worker", *args],
                env=env,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent(),
            )

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.running():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"worker {self.name} did not finish in {timeout:.0f}s:\n{self.stderr()}")

    def stderr(self, tail: int = 4000) -> str:
        return self.stderr_path.read_text(errors="replace")[-tail:]

    def processed(self) -> int:
        """Subscriptions this worker reported processing (`{"processed": n, ...}` per pass that
        did something; every live account's, not only the test's)."""
        total = 0
        for line in self.stderr_path.read_text(errors="replace").splitlines():
            try:
                summary = json.loads(line)
            except ValueError:
                continue
            if isinstance(summary, dict) and "processed" in summary:
                total += int(summary["processed"])
        return total


class Workers:
    def __init__(self, url: str, directory: Path) -> None:
        self.url, self.directory = url, directory
        self.started: list[Worker] = []

    def start(self, *args: str) -> Worker:
        worker = Worker(f"worker-{len(self.started) + 1}", list(args), self.url, self.directory)
        self.started.append(worker)
        return worker

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def worker_url(database_url: str, tmp_path: Path) -> str:
    """SQLite: a migrated file of the test's own. PostgreSQL: the suite's database."""
    url = f"sqlite:///{tmp_path / 'workers.db'}" if is_sqlite(database_url) else database_url
    migrate.upgrade(url)
    return url


@pytest.fixture
def db_engine(worker_url: str) -> Iterator[Engine]:
    engine = make_engine(worker_url)
    yield engine
    engine.dispose()


@pytest.fixture
def seed(db_engine: Engine) -> Iterator[Callable[[int], due_set.DueSet]]:
    """Seed due sets; afterwards their accounts are switched to test mode, so whatever is left
    due (a failed test, the claim test) is never picked up by a live worker elsewhere."""
    seeded: list[int] = []

    def make(n: int) -> due_set.DueSet:
        due = due_set.seed(db_engine, n)
        seeded.append(due.account_id)
        return due

    yield make
    if seeded:
        with db_engine.begin() as conn:
            conn.execute(update(Account).where(Account.id.in_(seeded)).values(mode="test"))


@pytest.fixture
def workers(worker_url: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(worker_url, tmp_path)
    try:
        yield pool
    finally:
        pool.kill_all()  # on success they have exited; on failure none is left running


# --- helpers ------------------------------------------------------------------------------------


def wait_for_invoices(engine: Engine, due: due_set.DueSet, worker: Worker, at_least: int) -> int:
    """Poll until the worker has committed `at_least`, but not all, of the renewals."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        count = due_set.invoice_count(engine, due.account_id)
        if count >= len(due.subscription_ids):
            pytest.fail(f"the worker renewed all {count} before it could be killed; raise N")
        if count >= at_least:
            return count
        if not worker.running():
            pytest.fail(f"the worker exited ({worker.process.returncode}):\n{worker.stderr()}")
        time.sleep(POLL_SECONDS)
    pytest.fail(f"{at_least} invoices not there after {RUN_TIMEOUT:.0f}s:\n{worker.stderr()}")


def wait_until_unlocked(engine: Engine, account_id: int) -> None:
    """PostgreSQL: wait until the killed worker's transaction is gone (it held the account row,
    which the claim query locks and invoice numbering locks), so the next worker does not skip
    rows a dead backend still holds. SQLite: the OS released the file lock with the process."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 30
    while True:
        with Session(engine) as session:
            try:
                session.scalar(
                    select(Account.id).where(Account.id == account_id).with_for_update(nowait=True)
                )
                return
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
            finally:
                session.rollback()
        time.sleep(POLL_SECONDS)


def assert_billed_exactly_once(engine: Engine, due: due_set.DueSet) -> due_set.Outcome:
    found = due_set.outcome(engine, due.account_id)
    assert due_set.problems(due, found, datetime.now(UTC)) == {}
    return found


# --- tests --------------------------------------------------------------------------------------


def test_a_worker_killed_mid_run_loses_nothing_and_bills_nothing_twice(
    db_engine: Engine, seed: Callable[[int], due_set.DueSet], workers: Workers
) -> None:
    due = seed(N)
    started = time.monotonic()

    looping = workers.start("--interval", "0.2")
    # A third of the way in: on PostgreSQL the first batch has committed and the next is in
    # flight; on SQLite (each subscription commits on its own, see the last test) mid-batch.
    wait_for_invoices(db_engine, due, looping, at_least=max(1, N // 3))
    looping.kill()
    killed_at = time.monotonic() - started
    assert looping.process.returncode == -signal.SIGKILL
    # Killed inside its pass: a pass prints its summary only when it ends.
    assert looping.processed() == 0, looping.stderr()
    committed = due_set.invoice_count(db_engine, due.account_id)
    assert 0 < committed < N

    wait_until_unlocked(db_engine, due.account_id)
    unlocked_at = time.monotonic() - started
    finishing = workers.start("--once")
    assert finishing.wait() == 0, finishing.stderr()
    finished_at = time.monotonic() - started
    assert due_set.still_due(db_engine, due) == 0, finishing.stderr()
    found = assert_billed_exactly_once(db_engine, due)
    # One restart renewed exactly what the killed worker had not committed (on SQLite the
    # file holds nothing else; on PostgreSQL other live accounts may have had work too).
    if db_engine.dialect.name == "sqlite":
        assert finishing.processed() == N - committed, finishing.stderr()
    else:
        assert finishing.processed() >= N - committed, finishing.stderr()

    # A further pass over the same time writes nothing.
    again = workers.start("--once")
    assert again.wait() == 0, again.stderr()
    assert due_set.outcome(db_engine, due.account_id).counts() == found.counts()
    print(
        f"{db_engine.dialect.name}: N={N}, killed at {killed_at:.1f}s with {committed} renewed, "
        f"locks free at {unlocked_at:.1f}s, restart done at {finished_at:.1f}s "
        f"(processed {finishing.processed()}), all checks at {time.monotonic() - started:.1f}s"
    )


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="SKIP LOCKED needs PostgreSQL; SQLite has one writer")
def test_two_workers_over_one_due_set_bill_each_period_exactly_once(
    db_engine: Engine, seed: Callable[[int], due_set.DueSet], workers: Workers
) -> None:
    due = seed(N)
    started = time.monotonic()

    first, second = workers.start("--once"), workers.start("--once")
    assert first.wait() == 0, first.stderr()
    assert second.wait() == 0, second.stderr()
    seconds = time.monotonic() - started

    assert due_set.still_due(db_engine, due) == 0
    assert_billed_exactly_once(db_engine, due)
    done = [first.processed(), second.processed()]
    # Between them they did it all (the counts include other live accounts' work, if any).
    # Whether both did some is reported, not asserted: the next test shows why one usually
    # does everything.
    assert sum(done) >= N, (done, first.stderr(), second.stderr())
    print(f"postgresql: N={N}, processed by each worker {done}, both done in {seconds:.1f}s")


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="SKIP LOCKED needs PostgreSQL; SQLite has one writer")
def test_a_second_worker_can_claim_what_the_first_worker_left(
    db_engine: Engine, seed: Callable[[int], due_set.DueSet]
) -> None:
    due = seed(2 * runner.BATCH_SIZE)
    now = datetime.now(UTC)
    with Session(db_engine) as first, Session(db_engine) as second:
        try:
            # The live worker's claim (every live account's due rows), as two workers run it.
            held = {s.id for s in runner._claim(first, now, None, ())}
            if not held & due.subscription_ids:
                pytest.fail("the first claim took none of the account's rows")
            taken = {s.id for s in runner._claim(second, now, None, ())}
            if held & taken:
                pytest.fail(f"both workers claimed {len(held & taken)} rows")
            # At least one batch of the account's rows is still free: the second worker gets it.
            assert taken & due.subscription_ids, "the second worker claimed none of the rest"
        finally:
            first.rollback()
            second.rollback()


def test_a_batch_is_one_transaction(
    db_engine: Engine, seed: Callable[[int], due_set.DueSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    """runner.run_batch, one subscription at a time: one transaction per batch, a savepoint per
    subscription. Until the batch commits, another connection sees none of its invoices."""
    due = seed(3)
    visible_before_each: list[int] = []
    process = billing_engine.process

    def watched(*args: Any, **kwargs: Any) -> bool:
        visible_before_each.append(due_set.invoice_count(db_engine, due.account_id))
        return process(*args, **kwargs)

    monkeypatch.setattr(billing_engine, "process", watched)
    monkeypatch.setattr(billing_bulk, "renew", lambda *args, **kwargs: set())
    with Session(db_engine, expire_on_commit=False) as session:
        summary = runner.run_batch(session, datetime.now(UTC), account_id=due.account_id)
    renewed = due_set.invoice_count(db_engine, due.account_id)
    if summary.subscriptions_processed != 3 or renewed != 3:
        pytest.fail(f"the batch did not renew the three subscriptions: {summary}, {renewed}")
    assert visible_before_each == [0, 0, 0]


def test_a_bulk_renewal_is_invisible_until_the_batch_commits(
    db_engine: Engine, seed: Callable[[int], due_set.DueSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk path writes every renewal of the batch in the same one transaction."""
    due = seed(3)
    visible_after_writing: list[int] = []
    renew = billing_bulk.renew

    def watched(*args: Any, **kwargs: Any) -> set[str]:
        done = renew(*args, **kwargs)
        visible_after_writing.append(due_set.invoice_count(db_engine, due.account_id))
        return done

    monkeypatch.setattr(billing_bulk, "renew", watched)
    with Session(db_engine, expire_on_commit=False) as session:
        summary = runner.run_batch(session, datetime.now(UTC), account_id=due.account_id)
    assert summary.subscriptions_processed == 3
    assert visible_after_writing == [0]
    assert due_set.invoice_count(db_engine, due.account_id) == 3
