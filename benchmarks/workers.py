"""Benchmark: W billing workers side by side over one due set, against one worker.

    uv run python benchmarks/workers.py --n 1000000 --workers 1,4 --db postgresql [--pg-url URL]
    uv run python benchmarks/workers.py --smoke --db sqlite      # n=2,000, W=1,2: seconds

For each W in `--workers` (a fresh database each time):

1. engine.py's seeding (its `prepare` phase, imported): a fresh, migrated database, a test-mode
   account, a contact with a sandbox card and N monthly subscriptions whose second period is
   due today, in the state the services leave them; then the account's clock is set to now
   (engine.py's `set_account_clock`), so they are due. All N belong to one account: the case
   where workers meet at the account's invoice counter.
2. W worker children (fresh interpreters) each import the engine, connect, say "ready" and wait;
   once all are ready the parent says "go" to all and starts the clock. Each loops
   `runner.run_due(session)` on Cadency's own session factory — what `cadency worker` does each
   pass, without its email and webhook lanes — until a pass finds nothing to do. The time is
   from "go" until the last child has exited: nothing is due any more.
3. crash.py's exactly-once checks (imported), in SQL over the whole database: N invoices, no
   duplicate period, no missed period, no double charge, N distinct invoice numbers and the
   counter at N, the outbox and timeline rows; then one more pass writes nothing.

Besides wall-clock seconds it reports the CPU seconds of the workers (their own getrusage) and
of the PostgreSQL server (the postmaster and all its processes, exited backends included, read
from /proc: the server must run on this machine), and how busy the machine's cores were
(/proc/stat), so a run that is CPU-bound says so. SQLite works too (WAL, a busy timeout and
one writer at a time: several workers take turns, which is what the smoke run checks).

Prints a table and, as its last line, one JSON object (tests/test_benchmarks_smoke.py reads it).
Exits 1 if a check fails. Not part of the test suite; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it
import crash as crash_bench
import engine as engine_bench
from common import GO, READY, Child, is_pg, log, start_postgres
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMOKE_N, SMOKE_WORKERS = 2_000, "1,2"
RUN_TIMEOUT = 6 * 3_600.0


# --- the worker child ---------------------------------------------------------------------------


def child_main(url: str) -> None:
    """One worker: `runner.run_due(session)` pass after pass, as `cadency worker` loops, until a
    pass does nothing. Prints its summary, CPU seconds and its PostgreSQL backend's CPU."""
    import cadency.models  # noqa: F401  (every table, as the worker loads them)
    from cadency.billing import runner
    from cadency.kit.db import make_session_factory

    engine = engine_bench.make_engine(url)  # Cadency's engine, one pooled connection
    factory = make_session_factory(engine)
    pid = engine_bench.backend_pid(engine)  # connected before "ready": the run starts at once
    print(READY, flush=True)
    if sys.stdin.readline().strip() != GO:
        return
    cpu_start = engine_bench.cpu_seconds()
    backend_start = engine_bench.backend_cpu_seconds(pid)
    started = time.perf_counter()
    processed = failed = passes = 0
    while True:
        with factory() as session:
            summary = runner.run_due(session)
        passes += 1
        processed += summary.subscriptions_processed
        failed += summary.subscriptions_failed
        if not summary.subscriptions_processed and not summary.subscriptions_failed:
            break
    seconds = time.perf_counter() - started
    backend = engine_bench.backend_cpu_seconds(pid) - backend_start
    engine.dispose()
    print(
        json.dumps(
            {
                "processed": processed,
                "failed": failed,
                "passes": passes,
                "seconds": seconds,
                "cpu_seconds": engine_bench.cpu_seconds() - cpu_start,
                "backend_cpu_seconds": backend,
                "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        ),
        flush=True,
    )


# --- machine readings ---------------------------------------------------------------------------


def cores_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot (/proc/stat's first line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _proc_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu_seconds(url: str) -> float | None:
    """CPU seconds of the whole PostgreSQL server so far: the postmaster, the children it has
    reaped (cutime, cstime: exited backends) and its live children. None on SQLite or when the
    server is not on this machine."""
    if not is_pg(url):
        return None
    db = engine_bench.make_engine(url)
    try:
        with db.connect() as conn:
            data_directory = str(conn.scalar(text("SHOW data_directory")))
    finally:
        db.dispose()
    try:
        postmaster = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
        own = _proc_stat(postmaster)
    except (OSError, ValueError, IndexError):
        return None
    ticks = sum(int(x) for x in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _proc_stat(int(entry.name))
        except (OSError, IndexError):
            continue
        if int(fields[1]) == postmaster:  # ppid
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the run ------------------------------------------------------------------------------------


def run_one(db_name: str, url: str, n: int, workers: int) -> dict[str, Any]:
    import cadency.models  # noqa: F401  (every table, as engine.py's phases load them)
    from cadency.kit.db import make_engine, make_session_factory

    log(f"{db_name} n={n:,} W={workers}: seeding")
    prepared = engine_bench.phase_prepare(url, n)
    log(f"{db_name} n={n:,} W={workers}: seeded in {prepared['seed_seconds']:.1f}s")
    db = make_engine(url)
    engine_bench.set_account_clock(make_session_factory(db), prepared["account_id"])
    renewed_period = engine_bench.dates()["next_payment"]
    directory = Path(tempfile.mkdtemp(prefix="cadency-workers."))
    children = [
        Child(Path(__file__), url, directory, f"worker-{i + 1}", waits_for_go=True)
        for i in range(workers)
    ]
    for child in children:
        child.wait_ready()
    load_start = os.getloadavg()[0]
    busy_start, total_start = cores_busy()
    server_start = server_cpu_seconds(url)
    started = time.perf_counter()
    for child in children:
        child.go()
    summaries = [child.finish(RUN_TIMEOUT) for child in children]
    seconds = time.perf_counter() - started
    busy_end, total_end = cores_busy()
    server_end = server_cpu_seconds(url)
    load_end = os.getloadavg()[0]
    log(f"{db_name} n={n:,} W={workers}: {seconds:.1f}s; checking")
    checked = crash_bench.check(db, n, renewed_period)
    db.dispose()
    problems = checked["problems"]
    failed = sum(s["failed"] for s in summaries)
    if failed:
        problems["workers_failed"] = failed
    cores = os.cpu_count() or 1
    return {
        "db": db_name,
        "n": n,
        "workers": workers,
        "seconds": round(seconds, 2),
        "renewals_per_s": round(n / seconds, 1),
        "processed_by_worker": [s["processed"] for s in summaries],
        "passes_by_worker": [s["passes"] for s in summaries],
        "worker_cpu_seconds": round(sum(s["cpu_seconds"] for s in summaries), 1),
        "backend_cpu_seconds": round(sum(s["backend_cpu_seconds"] for s in summaries), 1),
        "server_cpu_seconds": (
            round(server_end - server_start, 1)
            if server_start is not None and server_end is not None
            else None
        ),
        # Of all the machine's cores over the run (other processes on it included).
        "machine_busy": round((busy_end - busy_start) / max(1, total_end - total_start), 3),
        "cores": cores,
        "load": [round(load_start, 2), round(load_end, 2)],
        "rss_peak_kib": max(s["rss_peak_kib"] for s in summaries),
        "renewed": checked["renewed"],
        "duplicates": checked["duplicates"],
        "missed": checked["missed"],
        "double_charges": checked["double_charges"],
        "counts": checked["counts"],
        "problems": problems,
        "seed_seconds": round(prepared["seed_seconds"], 1),
        "db_version": engine_bench.db_version(url),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'db':<11}{'N':>10}{'W':>3}{'seconds':>9}{'renew/s':>9}{'vs W=1':>8}"
        f"{'worker cpu s':>13}{'server cpu s':>13}{'busy':>6}{'load':>11}"
        f"{'dup':>5}{'missed':>7}{'2x charged':>11}  processed by each"
    )
    print(header)
    print("-" * len(header))
    single = {r["db"]: r["seconds"] for r in results if r["workers"] == 1}
    for r in results:
        base = single.get(r["db"])
        versus = f"{r['seconds'] / base:.2f}x" if base else "-"
        server = "-" if r["server_cpu_seconds"] is None else f"{r['server_cpu_seconds']:.1f}"
        print(
            f"{r['db']:<11}{r['n']:>10,}{r['workers']:>3}{r['seconds']:>9.1f}"
            f"{r['renewals_per_s']:>9,.0f}{versus:>8}{r['worker_cpu_seconds']:>13.1f}"
            f"{server:>13}{100 * r['machine_busy']:>5.0f}%"
            f"{r['load'][0]:>6.1f}-{r['load'][1]:<4.1f}"
            f"{r['duplicates']:>5}{r['missed']:>7}{r['double_charges']:>11}  "
            f"{r['processed_by_worker']}"
        )
        if r["problems"]:
            print(f"    FAILED: {r['problems']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="due subscriptions")
    parser.add_argument("--workers", default="1,4", help="worker counts, each a run of its own")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="postgresql")
    parser.add_argument(
        "--pg-url", help="PostgreSQL URL (its public schema is DROPPED); default: scripts/pg-start"
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"n={SMOKE_N:,}, workers {SMOKE_WORKERS}: seconds"
    )
    # Internal: the worker child.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.url)
        return
    if args.smoke:
        args.n, args.workers = SMOKE_N, SMOKE_WORKERS
    counts = [int(w) for w in args.workers.split(",")]
    log(f"engine code: {engine_bench.code_version()}")
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db_name in dbs:
            for workers in counts:
                tmp = None
                if db_name == "sqlite":
                    tmp = Path(tempfile.mkdtemp(prefix="cadency-workers-db."))
                    url = f"sqlite:///{tmp}/workers.db"
                else:
                    if args.pg_url is None:
                        args.pg_url, pg_base = start_postgres()
                    url = args.pg_url
                result = run_one(db_name, url, args.n, workers)
                result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
                results.append(result)
                if tmp is not None and not result["problems"]:
                    for f in tmp.iterdir():
                        f.unlink()
                    tmp.rmdir()
                elif tmp is not None:
                    log(f"database kept for inspection: {url}")
                if result["problems"]:
                    break  # the next run would drop the evidence
    finally:
        if pg_base is not None and any(r["problems"] for r in results if r["db"] != "sqlite"):
            log(f"PostgreSQL kept for inspection: {args.pg_url} (scripts/pg-stop {pg_base})")
        elif pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    print_table(results)
    keys = (
        "db", "n", "workers", "seconds", "renewals_per_s", "processed_by_worker",
        "worker_cpu_seconds", "backend_cpu_seconds", "server_cpu_seconds", "machine_busy",
        "load", "renewed", "duplicates", "missed", "double_charges",
    )  # fmt: skip
    print(
        json.dumps(
            {
                "benchmark": "workers",
                "n": args.n,
                "workers": counts,
                "db": dbs,
                "ok": bool(results) and not any(r["problems"] for r in results),
                "results": [{k: r[k] for k in keys} for r in results],
            }
        )
    )
    if not results or any(r["problems"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    os.environ.pop("CADENCY_TEST_DATABASE_URL", None)
    main()
