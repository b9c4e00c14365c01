"""Benchmark: SIGKILL the billing engine at random points of a renewal run, restart it each time.

    uv run python benchmarks/crash.py --n 100000 --kills 20 --db sqlite|postgresql|both
    uv run python benchmarks/crash.py --smoke --db sqlite      # n=2,000, 3 kills: seconds

For each database:

1. engine.py's seeding (its `prepare` phase, here in the parent process): a fresh, migrated
   database, a test-mode account, a contact with a sandbox card and N monthly subscriptions
   whose second period is due today, in the exact state the services leave them; then the
   account's test clock is set to now (engine.py's `set_account_clock`), so they are due.
2. KILLS: the worker's billing pass — `runner.run_due(session)` on a session of Cadency's own
   engine and session factory, exactly what `cadency worker` runs each pass — in a fresh child
   interpreter (not `uv run`: the signal must hit the worker, not a wrapper). The kill points are
   `--kills` thresholds drawn uniformly over [0, N - two batches] and sorted. The parent polls
   the number of invoices in the database over a connection of its own; once the child has
   started and the count has passed the next threshold, it waits a random fraction of one
   batch's time (measured as the run goes) so the kill lands anywhere in a batch (claim, bulk
   writes, commit), then SIGKILLs the child and records how many renewals were committed. A
   threshold the count already passed is taken by the next child as soon as it is running.
   A kill that came after the last commit (a starved poller) is counted apart (`mid_run`).
3. Then one child runs to completion without a kill (on PostgreSQL once the killed workers'
   backends are gone, so no row is skipped as locked).
4. CHECKS, in SQL over the whole database (it holds only this run's rows): exactly N invoices,
   no (subscription, period start) twice and no subscription with two invoices (duplicates),
   every subscription invoiced for the renewed period, billed twice, on its next period and not
   due any more (missed periods), exactly N payments, all succeeded, no invoice and no
   subscription with two succeeded payments (double charges), N distinct invoice numbers and
   the account's invoice counter at N, N invoice lines, one `invoice.created` and one
   `payment.succeeded` outbox message per subscription (2N in all) and two timeline events per
   subscription; then one more `run_due` processes nothing and writes nothing.

Exits 1 if any check fails. Prints a summary and, as its last line, one JSON object
(tests/test_benchmarks_smoke.py reads it). Not part of the test suite; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it
import engine as engine_bench
from common import READY, Child, is_pg, log, start_postgres
from sqlalchemy import text
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMOKE_N, SMOKE_KILLS = 2_000, 3
POLL_SECONDS = 0.02
DEFAULT_BATCH_SECONDS = 0.25  # until a run has been seen committing: ~2,000 renewals/s
RUN_TIMEOUT = 3_600.0


# --- the worker child ---------------------------------------------------------------------------


def child_main(url: str) -> None:
    """The worker's billing pass: `cadency worker` runs `runner.run_due(session)` on a session
    of this engine and session factory. Says "ready" first, so kills land inside the run."""
    import cadency.models  # noqa: F401  (every table, as the worker loads them)
    from cadency.billing import runner
    from cadency.kit.db import make_engine, make_session_factory

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with engine.connect() as conn:  # connected before "ready": the run starts at once
        conn.scalar(text("SELECT 1"))
    print(READY, flush=True)
    with factory() as session:
        summary = runner.run_due(session)
    engine.dispose()
    print(
        json.dumps(
            {
                "processed": summary.subscriptions_processed,
                "failed": summary.subscriptions_failed,
                "failed_ids": summary.failed_ids[:20],
            }
        ),
        flush=True,
    )


# --- database helpers ---------------------------------------------------------------------------


def invoice_count(db: Engine) -> int:
    with db.connect() as conn:  # a read of its own each time: never holds a snapshot open
        return int(conn.scalar(text("SELECT count(*) FROM invoices")) or 0)


def wait_for_dead_backends(db: Engine, timeout: float = 60.0) -> float:
    """PostgreSQL: wait until no other client backend is connected (a killed worker's backend
    ends when it notices its client is gone, rolling back and releasing its locks)."""
    if db.dialect.name != "postgresql":
        return 0.0
    started = time.monotonic()
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    while True:
        with db.connect() as conn:
            if not conn.scalar(query):
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit("a killed worker's backend is still there after 60 s")
        time.sleep(POLL_SECONDS)


# --- the run ------------------------------------------------------------------------------------


def kill_loop(
    url: str, db: Engine, n: int, kills: int, rng: random.Random, directory: Path
) -> tuple[list[dict[str, Any]], float, dict[str, Any]]:
    """Start, kill and restart the worker `kills` times, then let one run finish. Returns the
    kill points, the wall-clock seconds from the first start to the end, and the last summary."""
    from cadency.billing.runner import BATCH_SIZE

    # Thresholds within [0, N - two batches]: the count passes a threshold at a batch's commit,
    # and the kill must find work left even if it comes a batch late.
    margin = min(2 * BATCH_SIZE, n // 2)
    thresholds = sorted(rng.uniform(0, n - margin) for _ in range(kills))
    points: list[dict[str, Any]] = []
    batch_seconds = DEFAULT_BATCH_SECONDS  # one batch, commit to commit, as last seen
    started = time.monotonic()
    for i, threshold in enumerate(thresholds, 1):
        before = invoice_count(db)
        child = Child(Path(__file__), url, directory, f"run-{i}")
        ready = child.wait_ready()
        last_count, last_change = before, None
        while True:
            count = invoice_count(db)
            seen = time.monotonic()
            if count != last_count:
                if last_change is not None:  # two commits of this worker: a batch's time
                    batch_seconds = (seen - last_change) * BATCH_SIZE / (count - last_count)
                elif batch_seconds == DEFAULT_BATCH_SECONDS:  # its first: warm-up included
                    batch_seconds = min(batch_seconds, seen - ready)
                last_count, last_change = count, seen
            if count >= threshold:
                break
            if child.process.poll() is not None:
                raise SystemExit(f"the worker ended before kill {i}:\n{child.stderr()}")
            time.sleep(POLL_SECONDS)
        # Less than one batch after the commit seen: the kill lands in the next batch.
        delay = rng.uniform(0, 0.9 * batch_seconds)
        time.sleep(delay)
        if child.process.poll() is not None:
            raise SystemExit(
                f"the worker finished the run before kill {i} landed (count {count}, "
                f"threshold {threshold:.0f}); rerun with another --seed:\n{child.stderr()}"
            )
        child.kill()
        renewed = invoice_count(db)
        point = {
            "kill": i,
            "threshold": round(threshold),
            "renewed_at_kill": renewed,
            "renewed_by_this_worker": renewed - before,
            "seconds_after_ready": round(time.monotonic() - ready, 3),
            "delay_after_threshold_ms": round(1000 * delay),
            "batch_ms_estimate": round(1000 * batch_seconds),
            "mid_run": renewed < n,  # False: it came after the last commit, not mid-run
        }
        points.append(point)
        log(
            f"kill {i}/{kills}: {renewed:,} renewed (threshold {threshold:,.0f}, "
            f"{point['renewed_by_this_worker']:,} by this worker, "
            f"{point['seconds_after_ready']:.2f}s after it started"
            + ("" if point["mid_run"] else "; AFTER the last commit: not a mid-run kill")
            + ")"
        )
    waited = wait_for_dead_backends(db)
    if waited:
        log(f"killed backends gone after {waited:.2f}s")
    log("final run, no kill")
    summary = Child(Path(__file__), url, directory, "final").finish(RUN_TIMEOUT)
    return points, time.monotonic() - started, summary


def run_due_here(db: Engine) -> dict[str, Any]:
    """One more billing pass, in this process (as engine.py's second run): must do nothing."""
    import cadency.models  # noqa: F401  (every table, as the worker loads them)
    from cadency.billing import runner
    from cadency.kit.db import make_session_factory

    with make_session_factory(db)() as session:
        summary = runner.run_due(session)
    return {"processed": summary.subscriptions_processed, "failed": summary.subscriptions_failed}


def measure(db: Engine, renewed_period: Any) -> dict[str, int]:
    """Every figure the checks compare, in SQL over the whole database."""
    queries = {
        "subscriptions": "SELECT count(*) FROM subscriptions",
        "invoices": "SELECT count(*) FROM invoices",
        "invoices_for_renewed_period": "SELECT count(*) FROM invoices WHERE period_start = :p",
        "invoices_paid": "SELECT count(*) FROM invoices WHERE status = 'paid'",
        "invoice_numbers": "SELECT count(DISTINCT number) FROM invoices",
        "invoice_lines": "SELECT count(*) FROM invoice_lines",
        "invoice_counter": "SELECT max(invoice_sequence) FROM accounts",
        # duplicates
        "duplicate_subscription_periods": (
            "SELECT count(*) FROM (SELECT subscription_id, period_start FROM invoices "
            "GROUP BY subscription_id, period_start HAVING count(*) > 1) AS d"
        ),
        "subscriptions_invoiced_twice": (
            "SELECT count(*) FROM (SELECT subscription_id FROM invoices "
            "GROUP BY subscription_id HAVING count(*) > 1) AS d"
        ),
        # missed periods
        "subscriptions_without_renewal_invoice": (
            "SELECT count(*) FROM subscriptions s WHERE NOT EXISTS (SELECT 1 FROM invoices i "
            "WHERE i.subscription_id = s.id AND i.period_start = :p)"
        ),
        "subscriptions_not_advanced": (
            "SELECT count(*) FROM subscriptions WHERE periods_billed <> 2 "
            "OR payments_completed <> 2 OR current_period_start <> :p"
        ),
        "subscriptions_still_due": (
            "SELECT count(*) FROM subscriptions WHERE next_action_at <= :now"
        ),
        # double charges
        "payments": "SELECT count(*) FROM payments",
        "payments_succeeded": "SELECT count(*) FROM payments WHERE status = 'succeeded'",
        "invoices_charged_twice": (
            "SELECT count(*) FROM (SELECT invoice_id FROM payments WHERE status = 'succeeded' "
            "GROUP BY invoice_id HAVING count(*) > 1) AS d"
        ),
        "subscriptions_charged_twice": (
            "SELECT count(*) FROM (SELECT subscription_id FROM payments "
            "WHERE status = 'succeeded' GROUP BY subscription_id HAVING count(*) > 1) AS d"
        ),
        "outbox_invoice_created": (
            "SELECT count(*) FROM outbox_messages WHERE type = 'invoice.created'"
        ),
        "outbox_payment_succeeded": (
            "SELECT count(*) FROM outbox_messages WHERE type = 'payment.succeeded'"
        ),
        "outbox_total": "SELECT count(*) FROM outbox_messages",
        "outbox_repeated_per_subscription": (
            "SELECT count(*) FROM (SELECT subscription_id, type FROM outbox_messages "
            "GROUP BY subscription_id, type HAVING count(*) > 1) AS d"
        ),
        "timeline_events": "SELECT count(*) FROM subscription_events",
    }
    params = {"p": renewed_period, "now": datetime.now(UTC)}
    with db.connect() as conn:
        return {
            name: int(conn.execute(text(sql), params).scalar() or 0)
            for name, sql in queries.items()
        }


def expected(n: int) -> dict[str, int]:
    return {
        "subscriptions": n,
        "invoices": n,
        "invoices_for_renewed_period": n,
        "invoices_paid": n,
        "invoice_numbers": n,
        "invoice_lines": n,
        "invoice_counter": n,
        "duplicate_subscription_periods": 0,
        "subscriptions_invoiced_twice": 0,
        "subscriptions_without_renewal_invoice": 0,
        "subscriptions_not_advanced": 0,
        "subscriptions_still_due": 0,
        "payments": n,
        "payments_succeeded": n,
        "invoices_charged_twice": 0,
        "subscriptions_charged_twice": 0,
        "outbox_invoice_created": n,
        "outbox_payment_succeeded": n,
        "outbox_total": 2 * n,
        "outbox_repeated_per_subscription": 0,
        "timeline_events": 2 * n,
    }


def check(db: Engine, n: int, renewed_period: Any) -> dict[str, Any]:
    """The exactly-once checks of a finished run over a database that holds only its N
    subscriptions (also benchmarks/workers.py's): every figure of `measure` against `expected`,
    then one more billing pass must process and change nothing. Returns the figures, the
    problems (empty when all is right) and the three headline counts."""
    first = measure(db, renewed_period)
    again = run_due_here(db)
    second = measure(db, renewed_period)
    want = expected(n)
    problems: dict[str, Any] = {
        k: {"found": first[k], "expected": v} for k, v in want.items() if first[k] != v
    }
    if again["processed"] or again["failed"] or second != first:
        changed = {k: (first[k], second[k]) for k in first if first[k] != second[k]}
        problems["second_run"] = {"summary": again, "changed": changed}
    return {
        "counts": first,
        "problems": problems,
        "renewed": first["invoices_for_renewed_period"],
        "duplicates": first["duplicate_subscription_periods"]
        + first["subscriptions_invoiced_twice"],
        "missed": max(
            first["subscriptions_without_renewal_invoice"],
            first["subscriptions_not_advanced"],
            first["subscriptions_still_due"],
        ),
        "double_charges": first["invoices_charged_twice"] + first["subscriptions_charged_twice"],
    }


def run_one(db_name: str, url: str, n: int, kills: int, seed: int) -> dict[str, Any]:
    from cadency.kit.db import make_engine, make_session_factory

    rng = random.Random(f"{seed}:{db_name}")
    log(f"{db_name} n={n}: seeding")
    import cadency.models  # noqa: F401  (every table, as engine.py's phases load them)

    # In this process: one interpreter start fewer than engine.py's child (RSS is not measured).
    prepared = engine_bench.phase_prepare(url, n)
    log(f"{db_name} n={n}: seeded in {prepared['seed_seconds']:.1f}s; {kills} kills")
    db = make_engine(url)
    engine_bench.set_account_clock(make_session_factory(db), prepared["account_id"])
    renewed_period = engine_bench.dates()["next_payment"]
    directory = Path(tempfile.mkdtemp(prefix="cadency-crash."))
    points, seconds, final = kill_loop(url, db, n, kills, rng, directory)
    log(f"{db_name} n={n}: final run processed {final['processed']:,}; checking")
    checked = check(db, n, renewed_period)
    db.dispose()
    problems = checked["problems"]
    if final["failed"]:
        problems["final_run_failed"] = final
    first = checked["counts"]
    return {
        "db": db_name,
        "n": n,
        "kills_done": len(points),
        "kills_mid_run": sum(p["mid_run"] for p in points),
        "renewed": checked["renewed"],
        "duplicates": checked["duplicates"],
        "missed": checked["missed"],
        "double_charges": checked["double_charges"],
        "seconds": round(seconds, 1),
        "final_run_processed": final["processed"],
        "kill_points": [p["renewed_at_kill"] for p in points],
        "kills": points,
        "counts": first,
        "problems": problems,
        "seed_seconds": prepared["seed_seconds"],
        "db_version": engine_bench.db_version(url),
        "work_dir": str(directory),
    }


def print_summary(results: list[dict[str, Any]], seed: int) -> None:
    for r in results:
        print(
            f"{r['db']} ({r['db_version']}), N={r['n']:,}, seed {seed}: {r['kills_done']} kills, "
            f"then a run to the end ({r['final_run_processed']:,} renewed by it); "
            f"{r['seconds']:.1f}s from the first start"
        )
        print(f"  renewals committed at each kill: {', '.join(f'{k:,}' for k in r['kill_points'])}")
        print(
            f"  renewed {r['renewed']:,} of {r['n']:,}; duplicates {r['duplicates']}, "
            f"missed periods {r['missed']}, double charges {r['double_charges']}"
        )
        verdict = "all checks passed" if not r["problems"] else f"FAILED: {r['problems']}"
        print(f"  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="due subscriptions")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs before the last run")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--pg-url", help="PostgreSQL URL (its public schema is DROPPED); default: scripts/pg-start"
    )
    parser.add_argument("--seed", type=int, help="seed of the kill points (printed)")
    parser.add_argument(
        "--smoke", action="store_true", help=f"n={SMOKE_N:,}, kills={SMOKE_KILLS}: seconds"
    )
    # Internal: the worker child.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.url)
        return
    if args.smoke:
        args.n, args.kills = SMOKE_N, SMOKE_KILLS
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    log(f"seed {seed} (rerun the same kill thresholds with --seed {seed})")
    log(f"engine code: {engine_bench.code_version()}")
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db_name in dbs:
            tmp = None
            if db_name == "sqlite":
                tmp = Path(tempfile.mkdtemp(prefix="cadency-crash-db."))
                url = f"sqlite:///{tmp}/crash.db"
            else:
                if args.pg_url is None:
                    args.pg_url, pg_base = start_postgres()
                url = args.pg_url
            assert is_pg(url) == (db_name == "postgresql"), url
            result = run_one(db_name, url, args.n, args.kills, seed)
            result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
            results.append(result)
            if tmp is not None and not result["problems"]:
                for f in tmp.iterdir():
                    f.unlink()
                tmp.rmdir()
            elif tmp is not None:
                log(f"database kept for inspection: {url}")
    finally:
        if pg_base is not None and any(r["problems"] for r in results if r["db"] != "sqlite"):
            log(f"PostgreSQL kept for inspection: {args.pg_url} (scripts/pg-stop {pg_base})")
        elif pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    print_summary(results, seed)
    keys = (
        "db", "n", "kills_done", "kills_mid_run", "renewed", "duplicates", "missed",
        "double_charges", "seconds", "kill_points", "final_run_processed",
    )  # fmt: skip
    print(
        json.dumps(
            {
                "benchmark": "crash",
                "n": args.n,
                "kills": args.kills,
                "seed": seed,
                "db": dbs,
                "ok": not any(r["problems"] for r in results),
                "results": [{k: r[k] for k in keys} for r in results],
            }
        )
    )
    if any(r["problems"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    os.environ.pop("CADENCY_TEST_DATABASE_URL", None)
    main()
