"""Benchmark: the REST API's list and search endpoints under load, over 1,000,000 subscriptions.

    uv run python benchmarks/api.py --n 1000000 --db sqlite|postgresql|both [--pg-url URL]
        [--workers 2] [--seconds 20] [--connections 16] [--keep DIR] [--profile cprofile]
    uv run python benchmarks/api.py --smoke

The target (issue 18): the list and search endpoints at >= 500 requests/s with p99 <= 50 ms at
16 connections, served by `cadency serve --workers N`.

For each database:

1. the book of benchmarks/web.py (`web.seed`: a test-mode account, 10,000 contacts and N
   subscriptions bulk-inserted from a template the subscription service made; 80% active,
   next billing dates over the coming year), into a fresh SQLite file or PostgreSQL database
   (the given URL, schema dropped, or a throwaway server from scripts/pg-start); then an API
   key with `subscriptions.view` made by `accounts.service.create_api_key`. With `--keep DIR`
   the database (SQLite file, or the throwaway PostgreSQL server, left running) and the key
   stay in DIR and a later run with the same N reuses them instead of seeding again;
2. the real server, `python -m cadency.cli serve --workers W` (the engine threads in the main
   process, W serving processes) on a free loopback port, its API rate limit raised through
   CADENCY_API_LIMIT_PER_KEY (the benchmark sends far more than a key's everyday share);
3. `wrk --latency` with `--connections` connections (2 threads) for `--seconds` per scenario,
   after a 3 s warm-up run, every request with `Authorization: Bearer <key>`. Each scenario's
   answer is first checked once with httpx (200, the expected shape); any non-2xx answer or
   socket error wrk reports (a request unanswered within 10 s is a timeout) fails the run:
   exit 1 after the table.

Scenarios:
- `list`: GET /api/v1/subscriptions?limit=20 (the first page, newest first);
- `list-filtered`: GET /api/v1/subscriptions?status=active&next_payment_date_gte=today&
  next_payment_date_lte=today+30&limit=50 (first page);
- `search`: POST /api/v1/subscriptions/search, status = active and contact_id = one of 500
  seeded contacts (a wrk Lua script rotates them), sorted by next_payment_date, limit 20;
- `search-broad`: POST /api/v1/subscriptions/search, status = active, sorted by
  next_payment_date, limit 20 (its `total` counts ~80% of the book).

`--profile cprofile` then serves `--profile-requests` requests of each scenario in this
process, through the ASGI app with the thread pool replaced by direct calls (so one profiler
sees everything), and prints the SQL statements per request and the top functions by
cumulative and by own time; the .prof files go to $BENCH_OUT (or the temp dir).

Machine, load average (before and after each scenario) and wrk's own CPU share are printed:
wrk runs on the same two cores as the server. Not part of the test suite; see
benchmarks/README.md for the measured numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

# benchmarks/ is on the path of a script run from it
from common import cpu_model, is_pg, log, start_postgres_at, start_server, stop_server
from sqlalchemy import text

from web import seed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMOKE_N, SMOKE_SECONDS = 2_000, 2  # --smoke: runs in seconds
WARMUP_SECONDS = 3
WRK_TIMEOUT = "10s"  # a request unanswered this long counts as a socket error (timeout)
SCOPES = ["subscriptions.view"]
SEARCH_CONTACTS = 500
TARGET_RPS, TARGET_P99_MS = 500.0, 50.0
SCENARIOS = ("list", "list-filtered", "search", "search-broad")
ONLY: set[str] = set()  # --scenarios: run only these (empty: all)


# --- seeding (or reusing a kept seed) -------------------------------------------------------


def seeded_database(db: str, n: int, keep: Path | None, pg_url: str | None) -> dict[str, Any]:
    """The database URL, the key and the account: seeded now, or as a kept run left them."""
    meta_path = keep / f"api-{db}-{n}.json" if keep else None
    if meta_path is not None and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if reachable(meta["url"]):
            log(f"{db}: reusing the kept seed of {n:,} subscriptions ({meta['url']})")
            meta["reused"] = True
            return meta
        raise SystemExit(
            f"{meta_path} names {meta['url']}, which does not answer: start it again, or "
            f"delete {meta_path} (and its server's directory) to seed anew"
        )
    pg_base = None
    if db == "sqlite":
        folder = keep or Path(tempfile.mkdtemp(prefix="cadency-api-bench."))
        url = f"sqlite:///{folder}/api-{n}.db"
        Path(f"{folder}/api-{n}.db").unlink(missing_ok=True)
    elif pg_url:
        url = pg_url
    else:
        pg_base = str(keep / f"pg-{n}") if keep else tempfile.mkdtemp(prefix="cadency-pg-bench.")
        url = start_postgres_at(pg_base)
    log(f"{db}: seeding {n:,} subscriptions into {url}")
    seeded = seed(url, n)
    log(f"{db}: seeded in {seeded['seed_seconds']:.1f}s")
    meta = {
        "db": db,
        "n": n,
        "url": url,
        "pg_base": pg_base,
        "account_id": seeded["account_id"],
        "key": make_api_key(url, seeded["account_id"]),
        "contacts": sample_contacts(url, seeded["account_id"]),
        "seed_seconds": seeded["seed_seconds"],
        "reused": False,
    }
    if meta_path is not None:
        meta_path.write_text(json.dumps(meta))
    return meta


def reachable(url: str) -> bool:
    from sqlalchemy.exc import OperationalError

    from cadency.kit.db import make_engine

    if not is_pg(url) and not Path(url.split("///", 1)[-1]).exists():
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM subscriptions LIMIT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def make_api_key(url: str, account_id: int) -> str:
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.accounts.models import Account
    from cadency.kit.db import make_engine

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        account = session.get(Account, account_id)
        _, secret = accounts.create_api_key(session, account, name="API benchmark", scopes=SCOPES)
        session.commit()
    engine.dispose()
    return secret


def sample_contacts(url: str, account_id: int) -> list[str]:
    """Contacts that pay for subscriptions, spread over the seeded ones."""
    from cadency.kit.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        ids = [
            str(row[0])
            for row in conn.execute(
                text("SELECT id FROM contacts WHERE account_id = :a ORDER BY id"),
                {"a": account_id},
            )
        ]
    engine.dispose()
    step = max(1, len(ids) // SEARCH_CONTACTS)
    return ids[::step][:SEARCH_CONTACTS]


# --- the server -----------------------------------------------------------------------------


# --- scenarios ------------------------------------------------------------------------------


def search_body(contact_id: str | None) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"property": "status", "operator": "eq", "value": "active"}]
    if contact_id is not None:
        filters.append({"property": "contact_id", "operator": "eq", "value": contact_id})
    return {
        "filter_groups": [{"filters": filters}],
        "sorts": [{"property": "next_payment_date", "direction": "asc"}],
        "limit": 20,
    }


def scenarios(contacts: list[str]) -> list[dict[str, Any]]:
    return [s for s in every_scenario(contacts) if not ONLY or s["name"] in ONLY]


def every_scenario(contacts: list[str]) -> list[dict[str, Any]]:
    today = date.today()
    filtered = urlencode(
        {
            "status": "active",
            "next_payment_date_gte": today.isoformat(),
            "next_payment_date_lte": (today + timedelta(days=30)).isoformat(),
            "limit": "50",
        }
    )
    return [
        {"name": "list", "method": "GET", "path": "/api/v1/subscriptions?limit=20", "rows": 20},
        {
            "name": "list-filtered",
            "method": "GET",
            "path": f"/api/v1/subscriptions?{filtered}",
            "rows": 50,
        },
        {
            "name": "search",
            "method": "POST",
            "path": "/api/v1/subscriptions/search",
            "bodies": [search_body(c) for c in contacts],
            "rows": None,  # a contact's active subscriptions: a few
        },
        {
            "name": "search-broad",
            "method": "POST",
            "path": "/api/v1/subscriptions/search",
            "bodies": [search_body(None)],
            "rows": 20,
        },
    ]


def check_once(base: str, key: str, scenario: dict[str, Any]) -> dict[str, Any]:
    """One request of the scenario, checked: 200 and the expected page."""
    headers = {"Authorization": f"Bearer {key}"}
    url = base + scenario["path"]
    if scenario["method"] == "GET":
        response = httpx.get(url, headers=headers, timeout=60)
    else:
        response = httpx.post(url, headers=headers, json=scenario["bodies"][0], timeout=60)
    if response.status_code != 200:
        raise SystemExit(
            f"{scenario['name']}: {scenario['method']} {url} answered "
            f"{response.status_code}: {response.text[:1000]}"
        )
    answer = response.json()
    rows = len(answer["data"])
    if scenario["rows"] is not None and rows != scenario["rows"]:
        raise SystemExit(f"{scenario['name']}: {rows} rows, expected {scenario['rows']}")
    if scenario["rows"] is None and rows == 0:
        raise SystemExit(f"{scenario['name']}: no rows for the first contact")
    if scenario["name"] == "search-broad" and answer["total"] <= rows:
        raise SystemExit(f"{scenario['name']}: total {answer['total']}")
    return {"rows": rows, "total": answer.get("total")}


def settle(base: str, key: str, timeout: float = 120.0) -> None:
    """Wait until the server has worked off what the previous scenario left queued (wrk stops
    waiting for slow answers after its timeout; the server still computes them): until three
    cheap requests in a row answer within 200 ms."""
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + timeout
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        started = time.perf_counter()
        httpx.get(f"{base}/api/v1/subscriptions?limit=1", headers=headers, timeout=timeout)
        quick = quick + 1 if time.perf_counter() - started < 0.2 else 0
        time.sleep(0.2)


def lua_script(scenario: dict[str, Any], key: str, folder: Path) -> Path:
    """wrk's request: the method, the key, and for a POST the JSON bodies in turn."""
    lines = [f'wrk.headers["Authorization"] = "Bearer {key}"']
    if scenario["method"] == "POST":
        bodies = ", ".join(lua_string(json.dumps(b)) for b in scenario["bodies"])
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"local bodies = {{{bodies}}}",
            "local i = 0",
            "request = function()",
            "  i = i % #bodies + 1",
            "  return wrk.format(nil, nil, nil, bodies[i])",
            "end",
        ]
    path = folder / f"{scenario['name']}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- wrk ------------------------------------------------------------------------------------


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "benchmarks/api.py needs wrk (the HTTP load generator) and it is not installed: "
            "apt-get install -y wrk (Debian package `wrk`; .ci/run installs it)"
        )
    return found


def run_wrk(
    wrk: str, base: str, scenario: dict[str, Any], script: Path, seconds: int, connections: int
) -> dict[str, Any]:
    command = [
        wrk,
        "--latency",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(script),
        base + scenario["path"],
    ]
    cpu_before = os.times()
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu_after = os.times()
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    result = parse_wrk(out.stdout)
    wrk_cpu = (cpu_after.children_user + cpu_after.children_system) - (
        cpu_before.children_user + cpu_before.children_system
    )
    result["wrk_cpu_share"] = wrk_cpu / seconds  # of one core
    result["raw"] = out.stdout
    return result


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, the latency percentiles, and every failure wrk counts."""
    percentiles = {
        int(m[1]): to_ms(m[2])
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None or set(percentiles) != {50, 75, 90, 99}:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(rps[1]),
        "requests": int(total[1]),
        "p50": percentiles[50],
        "p75": percentiles[75],
        "p90": percentiles[90],
        "p99": percentiles[99],
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": sum(int(x) for x in socket_errors.groups()) if socket_errors else 0,
    }


def load_average() -> float:
    return os.getloadavg()[0]


def run(
    meta: dict[str, Any], workers: int, seconds: int, connections: int, tmp: Path
) -> list[dict[str, Any]]:
    wrk = require_wrk()
    server, base, server_log = start_server(meta["url"], tmp, workers=workers, engine=True)
    results = []
    try:
        for scenario in scenarios(meta["contacts"]):
            settle(base, meta["key"])
            checked = check_once(base, meta["key"], scenario)
            script = lua_script(scenario, meta["key"], tmp)
            run_wrk(wrk, base, scenario, script, min(WARMUP_SECONDS, seconds), connections)
            load_before = load_average()
            result = run_wrk(wrk, base, scenario, script, seconds, connections)
            result.update(
                scenario=scenario["name"],
                rows=checked["rows"],
                total=checked["total"],
                load_before=load_before,
                load_after=load_average(),
            )
            if result["non_2xx"] or result["socket_errors"]:
                # Counted and reported with the others; the run exits 1 at the end.
                log(
                    f"{scenario['name']}: FAILED: {result['non_2xx']} non-2xx answers, "
                    f"{result['socket_errors']} socket errors (timeouts: no answer within "
                    f"{WRK_TIMEOUT}); wrk's report:\n{result['raw']}"
                )
            log(
                f"{scenario['name']}: {result['rps']:.0f} req/s, p50 {result['p50']:.1f} ms, "
                f"p99 {result['p99']:.1f} ms, load {load_before:.2f} -> "
                f"{result['load_after']:.2f}, wrk {result['wrk_cpu_share']:.0%} of a core"
            )
            del result["raw"]
            results.append(result)
    except SystemExit:
        log("server log (tail):\n" + server_log.read_text(errors="replace")[-3000:])
        raise
    finally:
        stop_server(server)
    return results


# --- profiling in this process --------------------------------------------------------------


def profile(meta: dict[str, Any], requests: int, out: Path) -> dict[str, Any]:
    """Each scenario `requests` times through the ASGI app in this thread, under cProfile,
    with the thread pool replaced by direct calls; SQL statements counted per request."""
    import cProfile
    import pstats

    import anyio.to_thread
    from sqlalchemy import event

    from cadency.config import Settings
    from cadency.web.app import create_app

    async def inline(func: Any, *args: Any, **_kwargs: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    settings = Settings(
        database_url=meta["url"],
        base_url="http://bench",
        smtp_url=None,
        api_limit_per_key="100000000 per minute",
    )
    app = create_app(settings, migrate_db=False)
    statements = [0]

    @event.listens_for(app.state.engine, "after_cursor_execute")
    def _count(*_args: Any) -> None:
        statements[0] += 1

    headers = {"Authorization": f"Bearer {meta['key']}"}
    db = "postgresql" if is_pg(meta["url"]) else "sqlite"
    found: dict[str, Any] = {}

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            for scenario in scenarios(meta["contacts"]):

                async def one(i: int, scenario: dict[str, Any] = scenario) -> None:
                    if scenario["method"] == "GET":
                        response = await client.get(scenario["path"])
                    else:
                        bodies = scenario["bodies"]
                        response = await client.post(scenario["path"], json=bodies[i % len(bodies)])
                    if response.status_code != 200:
                        raise SystemExit(f"{scenario['name']}: {response.status_code}")

                for i in range(5):
                    await one(i)
                started, cpu_started = time.perf_counter(), time.process_time()
                for i in range(requests):
                    await one(i)
                plain_ms = (time.perf_counter() - started) * 1000 / requests
                # CPU time: what the machine's load changes least (a loaded machine stretches
                # the wall time, not the work).
                cpu_ms = (time.process_time() - cpu_started) * 1000 / requests
                before = statements[0]
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.enable()
                for i in range(requests):
                    await one(i)
                profiler.disable()
                elapsed = time.perf_counter() - started
                path = out / f"api-{scenario['name']}-{db}.prof"
                profiler.dump_stats(path)
                stats = pstats.Stats(profiler)
                shares = breakdown(stats, elapsed)
                found[scenario["name"]] = {
                    "ms_per_request": plain_ms,
                    "cpu_ms_per_request": cpu_ms,
                    "ms_per_request_profiled": elapsed * 1000 / requests,
                    "statements_per_request": (statements[0] - before) / requests,
                    "shares": shares,
                    "profile": str(path),
                }
                log(
                    f"profile {scenario['name']}: {plain_ms:.2f} ms/request in one thread, "
                    f"{cpu_ms:.2f} ms of CPU ({elapsed * 1000 / requests:.2f} profiled), "
                    f"{(statements[0] - before) / requests:.1f} SQL statements/request; "
                    + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
                )
                stats.sort_stats("cumulative").print_stats(40)
                stats.sort_stats("tottime").print_stats(25)

    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # the profiles go to stderr; stdout ends with the JSON line
    try:
        asyncio.run(go())
    finally:
        sys.stdout = real_stdout
        app.state.engine.dispose()
    return found


# Where a request's time goes: (label, pattern of the profiled function). A share is the
# function's cumulative time over the profiled run's; shares overlap where one calls another
# (`endpoint` includes `query` and `present`; `dependencies` includes `auth`).
PARTS = (
    ("middleware-rate-limit", r"kit/throttle\.py:\d+\(hit(_leased|_from_lease)?\)"),
    # Everything below the middlewares (so 1 - this is the middlewares and the test client).
    ("below-middlewares", r"starlette/middleware/exceptions\.py:\d+\(__call__\)"),
    ("routing", r"fastapi/routing\.py:\d+\(_match\)"),
    ("dependencies", r"fastapi/dependencies/utils\.py:\d+\(solve_dependencies\)"),
    ("auth", r"accounts/auth\.py:\d+\(api_context\)"),
    ("endpoint", r"subscriptions/endpoints\.py:\d+\((list|search)_subscriptions\)"),
    ("query", r"subscriptions/service\.py:\d+\((list_subscriptions|search)\)"),
    ("present", r"subscriptions/endpoints\.py:\d+\(present_many\)"),
    ("property-values", r"properties/service\.py:\d+\(get_values\)"),
    ("serialise-response", r"fastapi/routing\.py:\d+\(serialize_response\)"),
    # The driver's execute (the database's work and the round trip).
    (
        "sql-execute",
        r"\{method 'execute' of 'sqlite3\.Cursor' objects\}|psycopg/cursor\.py:\d+\(execute\)",
    ),
)


def breakdown(stats: Any, elapsed: float) -> dict[str, float]:
    import pstats

    shares: dict[str, float] = {}
    for label, pattern in PARTS:
        regex = re.compile(pattern)
        total = 0.0
        for func, (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
            if regex.search(pstats.func_std_string(func)):
                total += ct
        shares[label] = total / elapsed if elapsed else 0.0
    return shares


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="subscriptions")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument("--workers", type=int, default=2, help="cadency serve --workers")
    parser.add_argument("--seconds", type=int, default=20, help="wrk's run per scenario")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the seeded database (and a throwaway PostgreSQL server, left running) in "
        "this directory, and reuse what an earlier run with the same N kept there",
    )
    parser.add_argument("--profile", choices=("cprofile",), help="profile every scenario too")
    parser.add_argument("--profile-requests", type=int, default=300)
    parser.add_argument("--scenarios", help="comma-separated subset of " + ",".join(SCENARIOS))
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run ({SMOKE_N} subscriptions, {SMOKE_SECONDS} s per scenario, SQLite) "
        "that checks the benchmark still works",
    )
    args = parser.parse_args()
    if args.smoke:
        args.n, args.seconds, args.db = SMOKE_N, SMOKE_SECONDS, "sqlite"
    require_wrk()  # before minutes of seeding
    if args.keep:
        args.keep = args.keep.resolve()
        args.keep.mkdir(parents=True, exist_ok=True)
    if args.scenarios:
        unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
        if unknown:
            raise SystemExit(f"unknown scenarios: {sorted(unknown)}")
        ONLY.update(args.scenarios.split(","))

    import cadency.models  # noqa: F401  (every table)

    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    table: list[tuple[str, dict[str, Any]]] = []
    profiles: dict[str, Any] = {}
    seeding: dict[str, float] = {}
    throwaway: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="cadency-api-bench."))
    try:
        for db in dbs:
            meta = seeded_database(db, args.n, args.keep, args.pg_url if db != "sqlite" else None)
            if meta["pg_base"] and not args.keep:
                throwaway.append(meta["pg_base"])
            if not meta["reused"]:
                seeding[db] = meta["seed_seconds"]
            results = run(meta, args.workers, args.seconds, args.connections, tmp)
            table.extend((db, r) for r in results)
            if args.profile:
                out = Path(os.environ.get("BENCH_OUT", tempfile.gettempdir()))
                profiles[db] = profile(meta, args.profile_requests, out)
            if db == "sqlite" and not args.keep:
                db_file = Path(meta["url"].split("///", 1)[-1])
                for f in db_file.parent.glob(db_file.name + "*"):
                    f.unlink()
                db_file.parent.rmdir()
    finally:
        for base in throwaway:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), base], check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"{'db':<11}{'scenario':<15}{'req/s':>8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
        f"{'non-2xx':>9}{'load':>11}  target {TARGET_RPS:.0f}/s, p99 {TARGET_P99_MS:.0f} ms"
    )
    for db, r in table:
        met = r["rps"] >= TARGET_RPS and r["p99"] <= TARGET_P99_MS
        print(
            f"{db:<11}{r['scenario']:<15}{r['rps']:>8.0f}{r['p50']:>8.1f}{r['p90']:>8.1f}"
            f"{r['p99']:>8.1f}{r['non_2xx']:>9}{r['load_before']:>5.1f}-{r['load_after']:<5.1f}"
            f"  {'met' if met else 'MISSED'}"
        )
    for db, seconds in seeding.items():
        print(f"seeding {db}: {args.n:,} subscriptions in {seconds:.1f}s")
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {date.today().isoformat()}; "
        f"cadency serve --workers {args.workers}; wrk -c {args.connections} -d {args.seconds}s"
    )
    # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it).
    print(
        json.dumps(
            {
                "benchmark": "api",
                "n": args.n,
                "workers": args.workers,
                "connections": args.connections,
                "seconds": args.seconds,
                "results": [
                    {
                        "db": db,
                        **{
                            k: r[k]
                            for k in (
                                "scenario",
                                "rps",
                                "requests",
                                "p50",
                                "p75",
                                "p90",
                                "p99",
                                "non_2xx",
                                "socket_errors",
                                "rows",
                                "total",
                                "load_before",
                                "load_after",
                                "wrk_cpu_share",
                            )
                        },
                    }
                    for db, r in table
                ],
                "profiles": profiles,
                "seed_seconds": {db: round(s, 2) for db, s in seeding.items()},
            }
        )
    )
    failed = [f"{db} {r['scenario']}" for db, r in table if r["non_2xx"] or r["socket_errors"]]
    if failed:
        raise SystemExit(f"non-2xx answers or socket errors in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
