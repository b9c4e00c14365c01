"""Benchmark: segment member counts and exports over N subscriptions with 3 custom properties.

    uv run python benchmarks/exports.py --n 100000,1000000 --db sqlite|postgresql|both
    uv run python benchmarks/exports.py --n 100000 --db both --before   # + without migration 0024
    uv run python benchmarks/exports.py --smoke                          # tiny, SQLite

For each database and N:

1. a fresh database (SQLite: a file in a temp dir; PostgreSQL: the given URL, schema dropped,
   or a throwaway server from scripts/pg-start), migrated to the head (with `--before`: to
   revision 0023, without the segment indexes of 0024, which are added after the first
   measurement and measured again);
2. one test-mode account with three custom subscription properties made by the properties
   service (`tier`: a dropdown Basic / Pro / Enterprise, `seats`: a number, `renewal_review`:
   a date), N/2 contacts, N/20 companies, and N subscriptions (one line item each, a billing
   contact each, a company on every tenth, a value of each of the three properties on every
   one) bulk-inserted with Core executemany from template rows that `subscriptions.service
   .create` wrote in the same database (so the rows look like what the services write). Statuses:
   75% active, 8% canceled and 4% expired (canceled_at spread over the last 200 days), 5%
   paused, 4% unpaid, 2% trialing, 2% scheduled;
3. phase `segments` (a fresh child process): the two seed segments of issue 13 — win-back
   (status in canceled, expired AND canceled_at less than 60 days ago) and upsell (tier eq Basic
   AND status active) — counted by `segments.service.member_count`, as a segment read counts
   its members: the catalog's `compile_filters` (the filter language, the account's custom
   properties and its today) and one `SELECT count(id)`. One warm-up, then the median of 5
   timed runs each (each run compiles and counts). Each count is checked against an
   independent plain-SQL count; the script exits 1 when they differ;
4. phase `export` (a fresh child process per format, CSV then XLSX) through
   `cadency.exports.service` when it offers `create_export` and `run_next`: every subscription
   with all its properties (`--properties all`, the default: the contact and company columns
   included; or `all_with_associations`), timed from the request to the finished file, with the
   child's peak RSS (ru_maxrss); the file is read back (rows = N + the header). While that
   service does not exist the JSON says `"exports": "not available"` — no figure is made up.

The last line of stdout is one JSON object with every figure. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# benchmarks/ is on the path of a script run from it
from common import (
    cpu_model,
    is_pg,
    log,
    peak_rss_kib,
    rss_now_kib,
    start_postgres,
    template_subscription,
)
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_BATCH = 5_000
SMOKE_N = 400  # --smoke: runs in seconds, for tests/test_benchmarks_smoke.py
TIMED_RUNS = 5
BEFORE_REVISION = "0023"  # the schema before the segment indexes (migration 0024)
TIERS = ("Basic", "Pro", "Enterprise")
STATUSES = [
    ("active", 75),
    ("canceled", 8),
    ("expired", 4),
    ("paused", 5),
    ("unpaid", 4),
    ("trialing", 2),
    ("scheduled", 2),
]
FREQUENCIES = [("monthly", 70, 1), ("quarterly", 10, 3), ("annually", 20, 12)]
PRICES = [900, 1250, 2500, 4900, 9900]
PRODUCTS = ["Coffee beans", "Espresso club", "Tea tasting", "Grinder care", "Barista course"]
# The two seed segments of issue 13, in the filter language as a segment stores them.
SEGMENTS: dict[str, list[dict[str, Any]]] = {
    "win_back": [
        {
            "filters": [
                {"property": "status", "operator": "in", "values": ["canceled", "expired"]},
                {"property": "canceled_at", "operator": "less_than_days_ago", "value": 60},
            ]
        }
    ],
    "upsell": [
        {
            "filters": [
                {"property": "properties.tier", "operator": "eq", "value": "Basic"},
                {"property": "status", "operator": "eq", "value": "active"},
            ]
        }
    ],
}


def make_engine(url: str) -> Engine:
    from cadency.kit.db import make_engine as cadency_engine

    return cadency_engine(url)


def migrate(url: str, revision: str) -> None:
    from alembic import command

    from cadency.kit.migrate import alembic_config

    command.upgrade(alembic_config(url), revision)


def analyze(url: str) -> None:
    """PostgreSQL's autovacuum would analyze the new tables soon, and Cadency's hourly
    housekeeping SQLite's (kit.db.refresh_statistics): do it now."""
    engine = make_engine(url)
    if not is_pg(url):
        from cadency.kit.db import refresh_statistics

        with engine.begin() as conn:
            refresh_statistics(conn)
        engine.dispose()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


# --- seeding ------------------------------------------------------------------------------------


def phase_seed(url: str, n: int, revision: str) -> dict[str, Any]:
    """The account, its custom properties, contacts, companies and N subscriptions."""
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.crm import service as crm
    from cadency.crm.schemas import CompanyCreate
    from cadency.kit.ids import new_id
    from cadency.models import Company, Contact, LineItem, PropertyValue, Subscription
    from cadency.plans.limits import custom_property_limit
    from cadency.properties import service as properties
    from cadency.properties.schemas import PropertyCreate

    engine = make_engine(url)
    if is_pg(url):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate(url, revision)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        # Test mode: the template is charged to a sandbox card, which serves test accounts only.
        # Without a clock set, a test account runs on real time, like a live one.
        account, _ = accounts.create_account(session, name="Benchmark", mode="test")
        limit = custom_property_limit(session, account)
        for spec in (
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [{"value": v, "label": v} for v in TIERS],
            },
            {"name": "seats", "label": "Seats", "field_type": "number"},
            {"name": "renewal_review", "label": "Renewal review", "field_type": "date"},
        ):
            properties.create_definition(
                session,
                account,
                "subscriptions",
                PropertyCreate.model_validate(spec),
                plan_limit=limit,
            )
        company = crm.create_company(session, account, CompanyCreate(name="Template Inc"))
        template, method = template_subscription(
            session,
            account,
            company_id=company.id,
            properties={"tier": "Pro", "seats": 5, "renewal_review": "2027-03-01"},
        )
        contact = session.get(Contact, template.contact_id)
        session.commit()
        account_id, method_id = account.id, method.id

        def row_of(obj: Any) -> dict[str, Any]:
            return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns}

        sub_row = row_of(template)
        item_row = row_of(
            session.scalars(select(LineItem).where(LineItem.subscription_id == template.id)).one()
        )
        contact_row, company_row = row_of(contact), row_of(company)
        value_rows = {
            v.name: row_of(v)
            for v in session.scalars(
                select(PropertyValue).where(PropertyValue.object_id == template.id)
            )
        }
    if set(value_rows) != {"tier", "seats", "renewal_review"}:
        raise SystemExit(f"the service wrote property values {sorted(value_rows)}")

    rng = random.Random(13)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    n_contacts, n_companies = max(1, n // 2), max(1, n // 20)
    contact_ids = [new_id("cont") for _ in range(n_contacts)]
    company_ids = [new_id("comp") for _ in range(n_companies)]
    with engine.begin() as conn:
        for start in range(0, n_companies, SEED_BATCH):
            conn.execute(
                insert(Company.__table__),
                [
                    {
                        **company_row,
                        "id": company_ids[i],
                        "name": f"Company {i}",
                        "domain": f"company{i}.example.com",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(n_companies, start + SEED_BATCH))
                ],
            )
        for start in range(0, n_contacts, SEED_BATCH):
            conn.execute(
                insert(Contact.__table__),
                [
                    {
                        **contact_row,
                        "id": contact_ids[i],
                        "email": f"buyer{i}@example.com",
                        "first_name": f"Buyer{i}",
                        "last_name": rng.choice(["Jansen", "Holm", "Smith", "Berg", "Visser"]),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(n_contacts, start + SEED_BATCH))
                ],
            )

    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    frequencies = [(f, months) for f, weight, months in FREQUENCIES for _ in range(weight)]
    # The template made by the service is subscription number 0; the rest are bulk rows.
    for offset in range(1, n, SEED_BATCH):
        subs, items, values = [], [], []
        for i in range(offset, min(n, offset + SEED_BATCH)):
            sub_id = new_id("sub")
            status = rng.choice(statuses)
            frequency, months = rng.choice(frequencies)
            price = rng.choice(PRICES)
            created = now - timedelta(days=200 + rng.randrange(530), seconds=rng.randrange(86_400))
            due = today + timedelta(days=rng.randrange(31 * months))
            ended = status in ("canceled", "expired")
            canceled_at = (
                now - timedelta(days=rng.randrange(200), seconds=rng.randrange(86_400))
                if ended
                else None
            )
            name = f"{rng.choice(PRODUCTS)} {i}"
            subs.append(
                {
                    **sub_row,
                    "id": sub_id,
                    "name": name,
                    "status": status,
                    "contact_id": contact_ids[i % n_contacts],
                    "company_id": company_ids[i % n_companies] if i % 10 == 0 else None,
                    "payment_method_id": method_id,
                    "billing_frequency": frequency,
                    "start_date": created.date() if status != "scheduled" else due,
                    "billing_anchor": created.date() if status != "scheduled" else due,
                    "current_period_start": None if status == "scheduled" else due,
                    "current_period_end": None if status == "scheduled" else due,
                    "end_date": canceled_at.date() if canceled_at else None,
                    "next_payment_date": None if ended or status == "paused" else due,
                    "canceled_at": canceled_at,
                    "cancellation_reason": "too_expensive" if status == "canceled" else None,
                    "paused_at": now if status == "paused" else None,
                    "next_payment_amount": price,
                    "recurring_amount": price,
                    "last_payment_amount": price,
                    "total_collected": price,
                    "mrr": price // months if status in ("active", "unpaid") else 0,
                    "next_action_at": None,
                    "created_at": created,
                    "updated_at": canceled_at or created,
                }
            )
            items.append(
                {
                    **item_row,
                    "id": new_id("li"),
                    "subscription_id": sub_id,
                    "name": name,
                    "unit_price": price,
                    "amount": price,
                    "billing_frequency": frequency,
                    "created_at": created,
                }
            )
            # The tiers are uneven, as in a real book: 50% Basic, 35% Pro, 15% Enterprise.
            tier = TIERS[0] if i % 20 < 10 else TIERS[1] if i % 20 < 17 else TIERS[2]
            values.append({**value_rows["tier"], "object_id": sub_id, "text_value": tier})
            values.append(
                {
                    **value_rows["seats"],
                    "object_id": sub_id,
                    "number_value": Decimal(1 + rng.randrange(200)),
                }
            )
            values.append(
                {
                    **value_rows["renewal_review"],
                    "object_id": sub_id,
                    "date_value": today + timedelta(days=rng.randrange(365)),
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(Subscription.__table__), subs)
            conn.execute(insert(LineItem.__table__), items)
            conn.execute(insert(PropertyValue.__table__), values)
        if offset % 200_000 == 1 and offset > 1:
            log(f"  seeded {offset:,} subscriptions")
    with engine.connect() as conn:
        remaining = conn.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.account_id == account_id)
        )
    if remaining != n:
        raise SystemExit(f"seeded {remaining} subscriptions, expected {n}")
    seed_seconds = time.perf_counter() - started
    engine.dispose()
    analyze(url)
    return {"account_id": account_id, "seed_seconds": seed_seconds}


# --- segments -----------------------------------------------------------------------------------


def member_count(session: Any, account_id: int, groups: list[dict[str, Any]]) -> int:
    """What a segment read does for `member_count` (`segments.service.member_count`): compile
    the segment's filters with the catalog of its object (the account's custom properties and
    today included) and count. The segment is not stored: only its filters matter."""
    from cadency.segments import service as segments
    from cadency.segments.models import Segment

    segment = Segment(account_id=account_id, object_type="subscriptions", filter_groups=groups)
    return segments.member_count(session, segment)


def plain_count(session: Any, account_id: int, name: str) -> int:
    """The same count in plain SQL written by hand, as a check of the filter language."""
    from cadency.accounts.models import Account
    from cadency.kit import clock

    if name == "win_back":
        account = session.get(Account, account_id)
        zone = ZoneInfo(account.timezone)
        today = clock.account_today(account)
        # "less than 60 days ago": the day is after today - 60 and not after today.
        low = datetime.combine(today - timedelta(days=59), day_start(), zone).astimezone(UTC)
        high = datetime.combine(today + timedelta(days=1), day_start(), zone).astimezone(UTC)
        sql = (
            "SELECT count(*) FROM subscriptions WHERE account_id = :a"
            " AND status IN ('canceled', 'expired') AND canceled_at >= :low"
            " AND canceled_at < :high"
        )
        params: dict[str, Any] = {"a": account_id, "low": low, "high": high}
        if session.get_bind().dialect.name == "sqlite":
            # Timestamps are stored as naive UTC text on SQLite (kit.db.UTCDateTime).
            params.update(
                low=low.replace(tzinfo=None).isoformat(" "),
                high=high.replace(tzinfo=None).isoformat(" "),
            )
    else:
        sql = (
            "SELECT count(*) FROM subscriptions s JOIN property_values v"
            " ON v.object_id = s.id AND v.account_id = :a AND v.object_type = 'subscriptions'"
            " AND v.name = 'tier' WHERE s.account_id = :a AND s.status = 'active'"
            " AND v.text_value = 'Basic'"
        )
        params = {"a": account_id}
    return int(session.scalar(text(sql), params))


def phase_segments(url: str, account_id: int) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    engine = make_engine(url)
    out: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    with Session(engine) as session:
        for name, groups in SEGMENTS.items():
            count = member_count(session, account_id, groups)  # warm-up
            times = []
            for _ in range(TIMED_RUNS):
                started = time.perf_counter()
                again = member_count(session, account_id, groups)
                times.append((time.perf_counter() - started) * 1000)
                if again != count:
                    raise SystemExit(f"{name}: member_count changed between runs")
            expected = plain_count(session, account_id, name)
            out[name] = {
                "count": count,
                "plain_sql_count": expected,
                "median_ms": statistics.median(times),
                "runs_ms": [round(t, 2) for t in times],
            }
            if count != expected:
                print(json.dumps(out))
                raise SystemExit(f"{name}: member_count {count} but plain SQL counts {expected}")
    engine.dispose()
    return out


# --- exports ------------------------------------------------------------------------------------


def exports_service() -> Any | None:
    """`cadency.exports.service` when it offers what this benchmark calls, else None."""
    try:
        service = importlib.import_module("cadency.exports.service")
    except ImportError:
        return None
    if not (hasattr(service, "create_export") and hasattr(service, "run_next")):
        return None
    return service


def request_export(
    service: Any, session: Any, account_id: int, fmt: str, properties: str, now: datetime
) -> Any:
    """The one call site of `create_export` (API.md POST /exports): every subscription, English
    headers, `properties` "all" (every built-in and custom property, the contact and company
    among them) or "all_with_associations". Adapt here if the signature differs."""
    return service.create_export(
        session,
        account_id,
        object_type="subscriptions",
        format=fmt,
        language="en",
        properties=properties,
        associations_limit="1000",
        now=now,
    )


def run_export(service: Any, factory: Any, files_dir: Path) -> int:
    """The worker's side: `run_next` until it finds no more work; how many jobs it ran."""
    jobs = 0
    while service.run_next(factory, files_dir=str(files_dir)) is not None:
        jobs += 1
    return jobs


def data_rows(path: Path, fmt: str) -> int:
    """Rows in the file after the header: CSV parsed with `csv`; XLSX by counting the sheet's
    <row> elements, streamed (openpyxl would take minutes over a million rows)."""
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            return sum(1 for _ in csv.reader(f)) - 1
    with zipfile.ZipFile(path) as book:
        sheet = next(n for n in book.namelist() if n.startswith("xl/worksheets/sheet"))
        rows, tail = 0, b""
        with book.open(sheet) as f:
            while chunk := f.read(1 << 20):
                data = tail + chunk
                rows += data.count(b"<row ") + data.count(b"<row>")
                tail = data[-5:]
                rows -= tail.count(b"<row ") + tail.count(b"<row>")
        rows += tail.count(b"<row ") + tail.count(b"<row>")
        return rows - 1


def phase_export(
    url: str, n: int, account_id: int, fmt: str, properties: str, files_dir: Path
) -> dict[str, Any]:
    from cadency.exports.models import Export
    from cadency.kit.db import make_session_factory

    service = exports_service()
    if service is None:
        return {"available": False}
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rss_start = rss_now_kib()
    started = time.perf_counter()
    with factory() as session:
        export = request_export(service, session, account_id, fmt, properties, datetime.now(UTC))
        export_id = export.id
        session.commit()
    jobs = run_export(service, factory, files_dir)
    seconds = time.perf_counter() - started
    rss_peak = peak_rss_kib()
    with factory() as session:
        row = session.get(Export, export_id)
        assert row is not None
        status, row_count, size, file_path = (
            row.status,
            row.row_count,
            row.size_bytes,
            row.file_path,
        )
    engine.dispose()
    if status != "succeeded" or file_path is None:
        raise SystemExit(f"{fmt} export ended {status!r} (file {file_path!r})")
    path = files_dir / file_path
    rows = data_rows(path, fmt)
    if rows != n or row_count != n:
        raise SystemExit(f"{fmt} export: {rows} rows in the file, row_count {row_count}; want {n}")
    return {
        "available": True,
        "format": fmt,
        "properties": properties,
        "seconds": seconds,
        "rows_per_s": n / seconds,
        "row_count": row_count,
        "file_rows": rows,
        "size_bytes": size,
        "file_bytes": path.stat().st_size,
        "jobs": jobs,
        "rss_start_kib": rss_start,
        "rss_peak_kib": rss_peak,
    }


# --- orchestration ------------------------------------------------------------------------------


def child(phase: str, url: str, n: int, **extra: Any) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its JSON result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--url", url]
    command += ["--n", str(n)]
    for key, value in extra.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}) for {url} n={n}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result



def db_version(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        if is_pg(url):
            version = "PostgreSQL " + str(conn.scalar(text("SHOW server_version")))
        else:
            version = "SQLite " + str(conn.scalar(text("select sqlite_version()")))
    engine.dispose()
    return version


def run_one(
    db: str,
    url: str,
    n: int,
    before: bool,
    tmp: Path,
    skip_exports: bool = False,
    properties: str = "all",
) -> dict[str, Any]:
    result: dict[str, Any] = {"db": db, "n": n}
    log(f"{db} n={n:,}: seeding" + (f" at revision {BEFORE_REVISION}" if before else ""))
    seeded = child("seed", url, n, revision=BEFORE_REVISION if before else "head")
    account_id = seeded["account_id"]
    result["seed_seconds"] = seeded["seed_seconds"]
    log(f"{db} n={n:,}: seeded in {seeded['seed_seconds']:.1f}s")
    if before:
        result["segments_before"] = child("segments", url, n, account_id=account_id)
        log(f"{db} n={n:,}: before migration 0024: {summary(result['segments_before'])}")
        migrate(url, "head")
        analyze(url)
    result["segments"] = child("segments", url, n, account_id=account_id)
    log(f"{db} n={n:,}: segments: {summary(result['segments'])}")
    if skip_exports:
        result["exports"] = "skipped"
        return result
    if exports_service() is None:
        result["exports"] = "not available"
        log(f"{db} n={n:,}: exports: not available (no cadency.exports.service)")
        return result
    files_dir = tmp / "files"
    files_dir.mkdir(exist_ok=True)
    result["exports"] = {}
    for fmt in ("csv", "xlsx"):
        out = child(
            "export",
            url,
            n,
            account_id=account_id,
            format=fmt,
            properties=properties,
            files_dir=files_dir,
        )
        result["exports"][fmt] = out
        log(
            f"{db} n={n:,}: {fmt}: {out['seconds']:.1f}s, {out['file_bytes'] / 1e6:.1f} MB, "
            f"peak RSS {out['rss_peak_kib'] / 1024:.0f} MB"
        )
    return result


def summary(segments: dict[str, Any]) -> str:
    return (
        ", ".join(
            f"{name} {s['count']:,} in {s['median_ms']:.1f} ms"
            for name, s in segments.items()
            if name in SEGMENTS
        )
        + f" (load average {segments['load_average']:.1f})"
    )


def git_head() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", default="100000", help="subscriptions; a comma list runs each")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument(
        "--before",
        action="store_true",
        help=f"seed at revision {BEFORE_REVISION}, count, then migrate to head and count again",
    )
    parser.add_argument("--skip-exports", action="store_true", help="segment counts only")
    parser.add_argument(
        "--properties",
        choices=("all", "all_with_associations"),
        default="all",
        help="what the exports hold (default: every property, the contact and company included)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"a tiny run ({SMOKE_N} subscriptions, SQLite)"
    )
    # Internal: one phase in a child process.
    parser.add_argument("--phase", choices=("seed", "segments", "export"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--revision", help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    parser.add_argument("--files-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import cadency.models  # noqa: F401  (every table, as the worker and the app load them)

    if args.phase:
        n = int(args.n)
        if args.phase == "seed":
            out = phase_seed(args.url, n, args.revision)
        elif args.phase == "segments":
            out = phase_segments(args.url, args.account_id)
        else:
            out = phase_export(
                args.url, n, args.account_id, args.format, args.properties, Path(args.files_dir)
            )
        print(json.dumps(out, default=str))
        return

    if args.smoke:
        args.n, args.db = str(SMOKE_N), "sqlite"
    sizes = [int(x) for x in args.n.replace("_", "").split(",")]
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db in dbs:
            for n in sizes:
                tmp = Path(tempfile.mkdtemp(prefix="cadency-exports-bench."))
                if db == "sqlite":
                    url = f"sqlite:///{tmp}/bench.db"
                else:
                    if args.pg_url is None:
                        args.pg_url, pg_base = start_postgres()
                    url = args.pg_url
                result = run_one(db, url, n, args.before, tmp, args.skip_exports, args.properties)
                result["db_version"] = db_version(url)
                results.append(result)
                subprocess.run(["rm", "-rf", str(tmp)], check=False)
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    print_table(results)
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {date.today().isoformat()}")
    # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it); a run whose
    # counts disagreed with plain SQL, or whose export file was wrong, exited 1 before this.
    available = exports_service() is not None
    print(
        json.dumps(
            {
                "benchmark": "exports",
                "code": git_head(),
                "exports": "available" if available else "not available",
                "results": results,
            },
            default=str,
        )
    )


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'db':<11}{'N':>10}{'segment':>10}{'members':>10}{'median ms':>11}{'before ms':>11}")
    for r in results:
        for name in SEGMENTS:
            s = r["segments"][name]
            before = r.get("segments_before", {}).get(name, {}).get("median_ms")
            shown = "" if before is None else f"{before:.1f}"
            print(
                f"{r['db']:<11}{r['n']:>10,}{name:>10}{s['count']:>10,}"
                f"{s['median_ms']:>11.1f}{shown:>11}"
            )
        exports = r["exports"]
        if isinstance(exports, dict):
            for fmt, e in exports.items():
                print(
                    f"{r['db']:<11}{r['n']:>10,}{fmt:>10} export {e['seconds']:.1f} s, "
                    f"{e['file_bytes'] / 1e6:.1f} MB, peak RSS {e['rss_peak_kib'] / 1024:.0f} MB"
                )


if __name__ == "__main__":
    main()
