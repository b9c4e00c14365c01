"""Benchmark: the HubSpot-compatible contact search and batch create over 1,000,000 contacts.

    uv run python benchmarks/hubspot.py --n 1000000 --db sqlite|postgresql|both [--pg-url URL]
    uv run python benchmarks/hubspot.py --smoke

The target (issue 17): `POST /crm/v3/objects/contacts/search` p95 <= 50 ms for an EQ on
`email` and a CONTAINS_TOKEN on `firstname` / `lastname`, and
`POST /crm/v3/objects/contacts/batch/create` of 100 contacts <= 150 ms.

For each database:

1. a fresh database (SQLite: a file in a temp dir; PostgreSQL: the given URL, schema dropped,
   or a throwaway server from scripts/pg-start), migrated with `cadency.kit.migrate.upgrade`
   (which also makes the trigram text indexes: FTS5 `contacts_text` with triggers on SQLite,
   pg_trgm GIN indexes on PostgreSQL);
2. one test-mode account and an API key with the contact scopes (`subscriptions.view`,
   `subscriptions.edit`); N contacts written with the raw driver (SQLite: executemany in chunks
   of 50,000, the FTS5 triggers firing per row; PostgreSQL: COPY, the GIN indexes kept as rows
   arrive), then ANALYZE. Names come from ~300 first and ~1,000 last names (some non-ASCII),
   so one name matches about 0.1-0.3% of the contacts; emails are lower case and unique;
3. the real app served by `python -m cadency.cli serve --no-worker` in a child process (the
   API rate limit raised through CADENCY_API_LIMIT_PER_KEY), asked over HTTP with one httpx
   keep-alive client; each scenario is warmed with 5 requests, then `--requests` are timed
   (wall time per request, client side) and reported as p50 / p95 / max in ms.

Scenarios (every answer is checked: a non-2xx answer aborts the run, a wrong one is counted
and reported as `wrong`, with the terms it was wrong for):
- `search-email-eq`: EQ on `email` of a seeded contact: total 1, that email;
- `search-firstname-token` / `search-lastname-token`: CONTAINS_TOKEN on the name of a seeded
  contact: total > 0, every result's name holds the token;
- `search-query`: `query` = a seeded last name (the search box over email, first and last name);
- `batch-create-100`: 100 new contacts per request: 201 and 100 results.
Afterwards the contacts must number N + the ones created (exit 1 otherwise).

Not part of the test suite; see benchmarks/README.md for the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

# benchmarks/ is on the path of a script run from it
from common import cpu_model, is_pg, log, percentile, start_postgres, start_server, stop_server
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_CHUNK = 50_000
SAMPLE = 1_000  # seeded contacts whose email and names the searches ask for
WARMUP = 5
BATCH = 100
SMOKE_N, SMOKE_REQUESTS = 2_000, 10  # --smoke: runs in seconds
SCOPES = ["subscriptions.view", "subscriptions.edit"]  # what the contact endpoints require
SCENARIOS = (
    "search-email-eq",
    "search-firstname-token",
    "search-lastname-token",
    "search-query",
    "batch-create-100",
)
TARGETS = {
    "search-email-eq": 50.0,
    "search-firstname-token": 50.0,
    "search-lastname-token": 50.0,
    "batch-create-100": 150.0,
}
COLUMNS = ("id", "account_id", "email", "first_name", "last_name", "created_at", "updated_at")


# Names: stems x endings, 300 first and 1,000 last names, a few of them not ASCII.
def words(text: str) -> list[str]:
    return text.split()


FIRST_STEMS = words(
    "Al Ber Car Dan El Fre Ga Hel In Jo Ka Le Mar Ni Ol Pe Ro Sa Te Vi Wil Ze Ån Jü Ré Øy Mi Lu "
    "Ha Si"
)
FIRST_ENDINGS = words("a ina on ric elle mund rik ette is o")
FIRST_REAL = words("Zoë Søren Jürgen Åsa Renée José Chloé Björn")
LAST_STEMS = words(
    "Ber Holm Lind Sand Øster Dahl Falk Strand Ek Nord Sjö Hag Wes Kro Mal Rud Sven Tor Vall "
    "Åker Ahl Bran Carl Dun Fer Gar Hart Ives Jan Kel Lor Mor Nor Pal Quin Rey Stan Trem Ul Whit"
)
LAST_ENDINGS = words(
    "berg man son sen ström lund vik gaard ski ez ford ton wood ley field haus mann dorf stein "
    "ová ini elli ier eau ard"
)


def name_lists() -> tuple[list[str], list[str]]:
    first = list(dict.fromkeys(FIRST_REAL + [s + e for s in FIRST_STEMS for e in FIRST_ENDINGS]))
    last = list(dict.fromkeys(["Øster", "Zoë"] + [s + e for s in LAST_STEMS for e in LAST_ENDINGS]))
    return first[:300], last[:1000]


def ascii_slug(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum()) or "x"


# --- seeding --------------------------------------------------------------------------------


def contact_rows(
    account_id: int, n: int, rng: random.Random, sample: set[int], picked: list[tuple[str, ...]]
) -> Iterator[tuple[Any, ...]]:
    """N contacts, created over the last two years in ID order, as naive UTC datetimes (how
    the app stores them); the rows whose index is in `sample` are also kept in `picked`."""
    from cadency.kit.ids import new_id

    first, last = name_lists()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    start = now - timedelta(days=730)
    step = timedelta(days=730) / max(n, 1)
    for i in range(n):
        f, la = rng.choice(first), rng.choice(last)
        email = f"{ascii_slug(f)}.{ascii_slug(la)}.{i}@example{i % 97}.com".lower()
        created = start + step * i
        if i in sample:
            picked.append((email, f, la))
        yield (new_id("cont"), account_id, email, f, la, created, created)


def seed(url: str, n: int, rng: random.Random) -> dict[str, Any]:
    """The account, its API key and N contacts; returns the key, sampled contacts and timings."""
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.kit import migrate
    from cadency.kit.db import make_engine, refresh_statistics

    engine = make_engine(url)
    if is_pg(url):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(url)
    with Session(engine, expire_on_commit=False) as session:
        account, _ = accounts.create_account(session, name="HubSpot benchmark", mode="test")
        _, key = accounts.create_api_key(session, account, name="Benchmark", scopes=SCOPES)
        session.commit()
        account_id = account.id
    with engine.connect() as conn:
        before = int(conn.scalar(text("SELECT count(*) FROM contacts")) or 0)
        check_not_null(conn)
    sample = set(rng.sample(range(n), min(SAMPLE, n)))
    picked: list[tuple[str, ...]] = []
    rows = contact_rows(account_id, n, rng, sample, picked)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        if is_pg(url):
            seed_postgresql(raw, rows, n)
        else:
            seed_sqlite(raw, rows, n)
        seeded = time.perf_counter() - started
        cursor = raw.cursor()
        if is_pg(url):
            raw.commit()
            raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
            cursor.execute("VACUUM ANALYZE contacts")
        cursor.close()
        if not is_pg(url):
            raw.commit()
            # What housekeeping keeps current (hourly), as an installation has it.
            with engine.begin() as conn:
                refresh_statistics(conn)
        analyzed = time.perf_counter() - started - seeded
    finally:
        raw.close()
    engine.dispose()
    rng.shuffle(picked)
    return {
        "account_id": account_id,
        "key": key,
        "picked": picked,
        "before": before,
        "seed_seconds": seeded,
        "analyze_seconds": analyzed,
    }


def check_not_null(conn: Any) -> None:
    """Every NOT NULL column of contacts is one the seeding writes."""
    if conn.dialect.name == "sqlite":
        required = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(contacts)") if row[3]]
    else:
        required = [
            row[0]
            for row in conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE "
                    "table_name = 'contacts' AND is_nullable = 'NO' AND column_default IS NULL"
                )
            )
        ]
    missing = set(required) - set(COLUMNS)
    if missing:
        raise SystemExit(f"contacts has NOT NULL columns the seeding does not write: {missing}")


def seed_sqlite(raw: Any, rows: Iterator[tuple[Any, ...]], n: int) -> None:
    # The format SQLAlchemy's SQLite DateTime writes (microseconds always), for UTCDateTime.
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    insert = f"INSERT INTO contacts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    cursor = raw.cursor()
    done = 0
    while done < n:
        chunk = []
        for row in rows:
            chunk.append((*row[:5], row[5].strftime(fmt), row[6].strftime(fmt)))
            if len(chunk) == SEED_CHUNK:
                break
        cursor.executemany(insert, chunk)
        raw.commit()
        done += len(chunk)
        if done % 200_000 == 0 or done == n:
            log(f"  {done:,} contacts")
    cursor.close()


def seed_postgresql(raw: Any, rows: Iterator[tuple[Any, ...]], n: int) -> None:
    cursor = raw.driver_connection.cursor()
    done = 0
    while done < n:
        with cursor.copy(f"COPY contacts ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                done += 1
                if done % SEED_CHUNK == 0:
                    break
        raw.commit()
        if done % 200_000 == 0 or done == n:
            log(f"  {done:,} contacts")
    cursor.close()


# --- the server -----------------------------------------------------------------------------


# --- measuring ------------------------------------------------------------------------------


Request = Callable[[int], tuple[str, dict[str, Any]]]
Check = Callable[[int, dict[str, Any]], str | None]


def measure(
    client: httpx.Client, name: str, request: Request, check: Check, requests: int
) -> dict[str, Any]:
    times: list[float] = []
    wrong: list[str] = []
    for i in range(WARMUP + requests):
        path, body = request(i)
        started = time.perf_counter()
        response = client.post(path, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        if not 200 <= response.status_code < 300:
            raise SystemExit(
                f"{name}: {path} {json.dumps(body)[:300]} answered {response.status_code}: "
                f"{response.text[:2000]}"
            )
        problem = check(i, response.json())
        if response.status_code != expected_status(name):
            problem = f"status {response.status_code}"
        if problem:
            # Counted, not fatal: the table and the JSON say how many and which.
            term = search_term(body)
            wrong.append(term)
            if len(wrong) <= 3:
                log(f"{name}: WRONG ANSWER ({problem}) to {json.dumps(body)[:200]}")
        if i >= WARMUP:
            times.append(elapsed)
    return {
        "scenario": name,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "wrong": len(wrong),
        # Wrong answers to a term with a letter outside ASCII (see README: SQLite's lower()).
        "wrong_non_ascii": sum(not term.isascii() for term in wrong),
        "wrong_examples": sorted(set(wrong))[:5],
    }


def search_term(body: dict[str, Any]) -> str:
    if "query" in body:
        return str(body["query"])
    if body.get("filterGroups"):
        return str(body["filterGroups"][0]["filters"][0]["value"])
    return "(batch)"


def expected_status(name: str) -> int:
    return 201 if name == "batch-create-100" else 200


def search_body(prop: str, operator: str, value: str) -> dict[str, Any]:
    return {
        "filterGroups": [
            {"filters": [{"propertyName": prop, "operator": operator, "value": value}]}
        ],
        "properties": ["email", "firstname", "lastname"],
    }


def token_check(prop: str, tokens: list[str]) -> Check:
    def check(i: int, answer: dict[str, Any]) -> str | None:
        token = tokens[i % len(tokens)].lower()
        if answer["total"] <= 0 or not answer["results"]:
            return "nothing found"
        for result in answer["results"]:
            if token not in (result["properties"].get(prop) or "").lower():
                return f"a result without {token!r} in {prop}"
        return None

    return check


def scenarios(picked: list[tuple[str, ...]], run_tag: str) -> list[tuple[str, Request, Check]]:
    emails = [p[0] for p in picked]
    firsts = [p[1] for p in picked]
    lasts = [p[2] for p in picked]
    first_names, last_names = name_lists()
    rng = random.Random(7)
    search = "/crm/v3/objects/contacts/search"

    def email_check(i: int, answer: dict[str, Any]) -> str | None:
        want = emails[i % len(emails)]
        if answer["total"] != 1 or len(answer["results"]) != 1:
            return f"total {answer['total']}, not 1"
        if answer["results"][0]["properties"]["email"] != want:
            return "another email"
        return None

    def query_check(i: int, answer: dict[str, Any]) -> str | None:
        term = lasts[i % len(lasts)].lower()
        if answer["total"] <= 0 or not answer["results"]:
            return "nothing found"
        for result in answer["results"]:
            props = result["properties"]
            if not any(
                term in (props.get(k) or "").lower() for k in ("email", "firstname", "lastname")
            ):
                return f"a result without {term!r}"
        return None

    def batch(i: int) -> tuple[str, dict[str, Any]]:
        inputs = [
            {
                "properties": {
                    "email": f"new.{run_tag}.{i}.{j}@batch.example.com",
                    "firstname": rng.choice(first_names),
                    "lastname": rng.choice(last_names),
                }
            }
            for j in range(BATCH)
        ]
        return "/crm/v3/objects/contacts/batch/create", {"inputs": inputs}

    def batch_check(i: int, answer: dict[str, Any]) -> str | None:
        if len(answer.get("results", [])) != BATCH:
            return f"{len(answer.get('results', []))} results, not {BATCH}"
        return None

    return [
        (
            "search-email-eq",
            lambda i: (search, search_body("email", "EQ", emails[i % len(emails)])),
            email_check,
        ),
        (
            "search-firstname-token",
            lambda i: (
                search,
                search_body("firstname", "CONTAINS_TOKEN", firsts[i % len(firsts)]),
            ),
            token_check("firstname", firsts),
        ),
        (
            "search-lastname-token",
            lambda i: (search, search_body("lastname", "CONTAINS_TOKEN", lasts[i % len(lasts)])),
            token_check("lastname", lasts),
        ),
        (
            "search-query",
            lambda i: (
                search,
                {"query": lasts[i % len(lasts)], "properties": ["email", "firstname", "lastname"]},
            ),
            query_check,
        ),
        ("batch-create-100", batch, batch_check),
    ]


def run(url: str, n: int, requests: int, tmp: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from cadency.kit.db import make_engine

    log(f"seeding {n:,} contacts")
    seeded = seed(url, n, random.Random(42))
    rate = n / seeded["seed_seconds"] if seeded["seed_seconds"] else 0.0
    log(
        f"seeded in {seeded['seed_seconds']:.1f}s ({rate:,.0f} rows/s), "
        f"ANALYZE {seeded['analyze_seconds']:.1f}s"
    )
    server, base, server_log = start_server(url, tmp)  # one process: requests come one at a time
    results = []
    created = 0
    try:
        headers = {"Authorization": f"Bearer {seeded['key']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for name, request, check in scenarios(seeded["picked"], f"{int(time.time())}"):
                result = measure(client, name, request, check, requests)
                if name == "batch-create-100":
                    created = (WARMUP + requests) * BATCH
                log(
                    f"{name}: p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms, "
                    f"max {result['max']:.1f} ms"
                )
                results.append(result)
    except SystemExit:
        log("server log (tail):\n" + server_log.read_text(errors="replace")[-3000:])
        raise
    finally:
        stop_server(server)
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.scalar(text("SELECT count(*) FROM contacts")) or 0)
    engine.dispose()
    expected = seeded["before"] + n + created
    if count != expected:
        raise SystemExit(f"contacts: {count:,}, expected {expected:,} (N + created)")
    log(f"contacts afterwards: {count:,} = N + {created:,} created")
    return results, {"seed_seconds": seeded["seed_seconds"], "rows_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="contacts")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run ({SMOKE_N} contacts, {SMOKE_REQUESTS} requests per scenario) that "
        "checks the benchmark still works",
    )
    args = parser.parse_args()
    if args.smoke:
        args.n, args.requests = SMOKE_N, SMOKE_REQUESTS

    import cadency.models  # noqa: F401  (every table)

    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    table: list[tuple[str, dict[str, Any]]] = []
    seeding: dict[str, dict[str, Any]] = {}
    pg_base = None
    tmp = Path(tempfile.mkdtemp(prefix="cadency-hubspot-bench."))
    try:
        for db in dbs:
            if db == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                if args.pg_url is None:
                    args.pg_url, pg_base = start_postgres()
                url = args.pg_url
            log(f"{db}: {url}")
            results, seeding[db] = run(url, args.n, args.requests, tmp)
            table.extend((db, r) for r in results)
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
        for f in sorted(tmp.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        tmp.rmdir()
    print(
        f"{'db':<11}{'scenario':<24}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'wrong':>7}  target p95"
    )
    for db, r in table:
        target = TARGETS.get(r["scenario"])
        verdict = (
            ""
            if target is None
            else f"{target:.0f} ms " + ("met" if r["p95"] <= target else "MISSED")
        )
        print(
            f"{db:<11}{r['scenario']:<24}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['max']:>8.1f}"
            f"{r['wrong']:>7}  {verdict}"
        )
    for db, s in seeding.items():
        print(
            f"seeding {db}: {args.n:,} contacts in {s['seed_seconds']:.1f}s "
            f"({s['rows_per_s']:,.0f} rows/s)"
        )
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {date.today().isoformat()}")
    # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it).
    print(
        json.dumps(
            {
                "benchmark": "hubspot",
                "n": args.n,
                "requests": args.requests,
                "results": [
                    {
                        "db": db,
                        **{
                            k: r[k]
                            for k in (
                                "scenario",
                                "p50",
                                "p95",
                                "max",
                                "wrong",
                                "wrong_non_ascii",
                                "wrong_examples",
                            )
                        },
                    }
                    for db, r in table
                ],
                "seed_seconds": {db: round(s["seed_seconds"], 2) for db, s in seeding.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
