"""Benchmark: server time of the subscriptions index and the record panel on 100,000 rows.

    uv run python benchmarks/web.py --n 100000 --db sqlite|postgresql|both [--pg-url URL]
    uv run python benchmarks/web.py --n 100000 --db sqlite --requests 300 --profile cprofile
    uv run python benchmarks/web.py --n 1000000 --scenarios custom,custom-all \
        --sqlite-path /tmp/web1m.db --reuse   # seeds once, later runs measure the same file

For each database:

1. a fresh database (SQLite: a file in a temp dir; PostgreSQL: the given URL, schema dropped,
   or a throwaway server from scripts/pg-start), migrated with `cadency.kit.migrate.upgrade`;
2. one test-mode account (the sandbox card processor serves only those) with a custom select
   property `tier`, 10,000 contacts, and N subscriptions (one line item each), bulk-inserted
   with Core executemany from a template row that `subscriptions.service.create` made in the
   same database. The rows vary like a real book: 80% active, the rest unpaid, trialing,
   scheduled, paused, canceled and expired; monthly, quarterly and annual; next billing dates
   spread over the coming year; created over two years; a tier on half of them (so
   `property_values` holds N/2 rows);
3. a signed-in super admin; every scenario below is requested through the ASGI app in this
   process (`TestClient`: routing, auth, the page's queries and the template, as a browser
   request sees them minus the network), a few times to warm up and then `--requests` times,
   reporting p50 / p95 / max in milliseconds and the SQL statements per request.

Scenarios:
- `index`: the All tab as it opens (newest first, 25 rows);
- `filtered`: Status = Active and Next billing date = next 30 days, sorted by next billing
  date, 50 rows, first page;
- `filtered-deep`: the same, from a cursor 40,000 rows in (keyset pagination: no OFFSET);
- `custom`: the advanced filter tier = pro, sorted by tier, with the Tier column shown;
- `custom-all`: every subscription sorted by tier (no filter; those without one last), with
  the Tier column shown;
- `search`: the search box (a part of a contact's email; scans names and contacts);
- `record`: the record panel GET /subscriptions/{id} of random subscriptions.

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
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# benchmarks/ is on the path of a script run from it
from common import cpu_model, is_pg, log, percentile, start_postgres, template_subscription
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_BATCH = 5_000
CONTACTS = 10_000
SMOKE_N, SMOKE_REQUESTS = 300, 2  # --smoke: runs in seconds, for tests/test_benchmarks_smoke.py
DEEP = 40_000
FILTERED = {
    "view": "all",
    "status": "active",
    "next_billing": "next_30_days",
    "sort": "next_payment_date",
    "direction": "asc",
    "limit": "50",
}
CUSTOM_FILTER = [
    ("advanced", "1"),
    ("filter_groups.0.filters.0.property", "properties.tier"),
    ("filter_groups.0.filters.0.operator", "eq"),
    ("filter_groups.0.filters.0.value", "pro"),
]
CUSTOM_SORT = [
    ("sort", "properties.tier"),
    ("direction", "asc"),
    *[("columns", c) for c in ("name", "status", "properties.tier", "next_payment_date")],
]
SCENARIOS = ("index", "filtered", "filtered-deep", "custom", "custom-all", "search", "record")
PRODUCTS = ["Coffee beans", "Espresso club", "Tea tasting", "Grinder care", "Barista course"]
STATUSES = [
    ("active", 80),
    ("unpaid", 3),
    ("trialing", 3),
    ("scheduled", 2),
    ("paused", 2),
    ("canceled", 8),
    ("expired", 2),
]
FREQUENCIES = [("monthly", 70, 1), ("quarterly", 10, 3), ("annually", 20, 12)]
PRICES = [900, 1250, 2500, 4900, 9900]


# --- seeding --------------------------------------------------------------------------------


def seed(url: str, n: int) -> dict[str, Any]:
    """The account, its user, 10,000 contacts and N subscriptions; returns what the scenarios
    need (account and user IDs, a few subscription IDs)."""
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.kit import migrate
    from cadency.kit.db import make_engine, refresh_statistics
    from cadency.kit.ids import new_id
    from cadency.models import Contact, LineItem, PropertyValue, Subscription
    from cadency.plans.limits import custom_property_limit
    from cadency.properties import service as properties
    from cadency.properties.schemas import PropertyCreate

    engine = make_engine(url)
    if is_pg(url):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(url)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        # Test mode: the template subscription is charged to a sandbox card, and the sandbox
        # serves test-mode accounts only (a live account has no processor until one is set up).
        # Without a clock set, a test account runs on real time, like a live one.
        account, _ = accounts.create_account(session, name="Benchmark", mode="test")
        user = accounts.create_user(
            session, account, email="admin@example.com", password="benchmark password"
        )
        properties.create_definition(
            session,
            account,
            "subscriptions",
            PropertyCreate.model_validate(
                {
                    "name": "tier",
                    "label": "Tier",
                    "field_type": "select",
                    "options": [
                        {"value": v, "label": v.title()} for v in ("basic", "pro", "business")
                    ],
                }
            ),
            plan_limit=custom_property_limit(session, account),
        )
        template, method = template_subscription(session, account)
        session.commit()
        account_id, user_id, method_id = account.id, user.id, method.id
        sub_row = {c.key: getattr(template, c.key) for c in Subscription.__table__.columns}
        item = session.scalars(
            select(LineItem).where(LineItem.subscription_id == template.id)
        ).one()
        item_row = {c.key: getattr(item, c.key) for c in LineItem.__table__.columns}

    rng = random.Random(42)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    contact_ids: list[str] = []
    contacts = []
    for i in range(CONTACTS):
        contact_id = new_id("cont")
        contact_ids.append(contact_id)
        first, last = f"Buyer{i}", rng.choice(["Jansen", "Holm", "Smith", "Berg", "Visser"])
        contacts.append(
            {
                "id": contact_id,
                "account_id": account_id,
                "email": f"buyer{i}@example.com",
                "first_name": first,
                "last_name": last,
                "phone": None,
                "address": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        for start in range(0, CONTACTS, SEED_BATCH):
            conn.execute(insert(Contact.__table__), contacts[start : start + SEED_BATCH])

    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    frequencies = [(f, months) for f, weight, months in FREQUENCIES for _ in range(weight)]
    sample: list[str] = []
    for offset in range(0, n, SEED_BATCH):
        subs, items, values = [], [], []
        for i in range(offset, min(n, offset + SEED_BATCH)):
            sub_id = new_id("sub")
            status = rng.choice(statuses)
            frequency, months = rng.choice(frequencies)
            price = rng.choice(PRICES)
            created = now - timedelta(days=rng.randrange(730), seconds=rng.randrange(86_400))
            due = today + timedelta(days=rng.randrange(31 * months))
            ended = status in ("canceled", "expired")
            name = f"{rng.choice(PRODUCTS)} {i}"
            subs.append(
                {
                    **sub_row,
                    "id": sub_id,
                    "name": name,
                    "status": status,
                    "contact_id": contact_ids[i % CONTACTS],
                    "payment_method_id": method_id,
                    "billing_frequency": frequency,
                    "start_date": created.date() if status != "scheduled" else due,
                    "billing_anchor": created.date() if status != "scheduled" else due,
                    "current_period_start": None if status == "scheduled" else due,
                    "current_period_end": None if status == "scheduled" else due,
                    "next_payment_date": None if ended or status == "paused" else due,
                    "canceled_at": created + timedelta(days=30) if status == "canceled" else None,
                    "cancellation_reason": "too_expensive" if status == "canceled" else None,
                    "paused_at": now if status == "paused" else None,
                    "next_payment_amount": price,
                    "recurring_amount": price,
                    "last_payment_amount": price,
                    "total_collected": price,
                    "mrr": price // months if status in ("active", "unpaid") else 0,
                    "next_action_at": None,
                    "created_at": created,
                    "updated_at": created,
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
            if i % 2 == 0:
                values.append(
                    {
                        "object_id": sub_id,
                        "name": "tier",
                        "account_id": account_id,
                        "object_type": "subscriptions",
                        "text_value": rng.choice(["basic", "pro", "business"]),
                        "number_value": None,
                        "date_value": None,
                        "datetime_value": None,
                        "bool_value": None,
                    }
                )
            if i % (n // 50 or 1) == 0:
                sample.append(sub_id)
        with engine.begin() as conn:
            conn.execute(insert(Subscription.__table__), subs)
            conn.execute(insert(LineItem.__table__), items)
            conn.execute(insert(PropertyValue.__table__), values)
    if is_pg(url):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        # The statistics an installation has once housekeeping has run (hourly).
        with engine.begin() as conn:
            refresh_statistics(conn)
    engine.dispose()
    return {
        "account_id": account_id,
        "user_id": user_id,
        "sample": [template.id, *sample],
        "seed_seconds": time.perf_counter() - started,
    }


# --- measuring ------------------------------------------------------------------------------


def deep_cursor(app: Any, account_id: int) -> str:
    """The cursor of the filtered scenario's row number DEEP, or two thirds in when fewer
    match (what following "Next" that far
    would hand out), built by the index's own cursor code from that row."""
    from sqlalchemy.orm import Session

    from cadency.accounts.models import Account
    from cadency.kit import clock
    from cadency.kit.filters import parse_filter_groups
    from cadency.subscriptions.models import Subscription
    from cadency.views import listing
    from cadency.views.catalogs import SUBSCRIPTIONS

    with Session(app.state.engine) as session:
        account = session.get(Account, account_id)
        today = clock.account_today(account)
        groups = parse_filter_groups(
            [
                {
                    "filters": [
                        {"property": "status", "operator": "in", "values": ["active"]},
                        {
                            "property": "next_payment_date",
                            "operator": "between",
                            "value": today.isoformat(),
                            "high_value": (today + timedelta(days=29)).isoformat(),
                        },
                    ]
                }
            ]
        )
        condition = SUBSCRIPTIONS.compile_filters(session, account_id, groups)
        matching = session.scalar(select(func.count()).select_from(Subscription).where(condition))
        row = session.execute(
            select(Subscription.next_payment_date, Subscription.id)
            .where(condition)
            .order_by(Subscription.next_payment_date, Subscription.id)
            .offset(min(DEEP, int(matching or 0) * 2 // 3))
            .limit(1)
        ).one()
    return listing.cursor_after("next_payment_date:asc", [row[0]], row[1])


def count_statements(engine: Engine) -> list[int]:
    counter = [0]

    @event.listens_for(engine, "after_cursor_execute")
    def _count(*_args: Any) -> None:
        counter[0] += 1

    return counter


def measure(
    client: Any, counter: list[int], name: str, urls: Callable[[int], str], requests: int
) -> dict[str, Any]:
    for i in range(5):  # warm caches, compiled statements and templates
        response = client.get(urls(i))
        if response.status_code != 200:
            raise SystemExit(f"{name}: {urls(i)} answered {response.status_code}")
    times, statements = [], []
    for i in range(requests):
        before = counter[0]
        started = time.perf_counter()
        response = client.get(urls(i))
        times.append((time.perf_counter() - started) * 1000)
        statements.append(counter[0] - before)
        if response.status_code != 200:
            raise SystemExit(f"{name}: {urls(i)} answered {response.status_code}")
    return {
        "scenario": name,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "statements": max(statements),
        "rows": response.text.count('data-testid="row-'),
    }


def seeded_before(url: str, n: int) -> dict[str, Any] | None:
    """What `seed` returned, read back from a database an earlier run seeded with N
    subscriptions (`--reuse`), after migrating it to the newest schema; None if it holds
    something else."""
    from sqlalchemy.orm import Session

    from cadency.accounts.models import Account, User
    from cadency.kit import migrate
    from cadency.kit.db import make_engine, refresh_statistics
    from cadency.models import Subscription

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            account = session.scalars(select(Account).where(Account.name == "Benchmark")).first()
            if account is None:
                return None
            count = session.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(Subscription.account_id == account.id)
            )
            if count != n + 1:  # and the template
                return None
            user_id = session.scalars(select(User.id).where(User.account_id == account.id)).one()
            step = max(1, n // 50)
            sample = list(
                session.scalars(
                    select(Subscription.id)
                    .where(Subscription.account_id == account.id)
                    .order_by(Subscription.id)
                    .limit(51 * step)
                )
            )[::step]
            account_id = account.id
    except Exception:  # not a benchmark database (no tables, another schema)
        return None
    finally:
        engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    if is_pg(url):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.begin() as conn:
            refresh_statistics(conn)
    engine.dispose()
    return {"account_id": account_id, "user_id": user_id, "sample": sample, "seed_seconds": 0.0}


def run(
    url: str,
    n: int,
    requests: int,
    profile: str | None,
    only: tuple[str, ...] = SCENARIOS,
    reuse: bool = False,
) -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from cadency.accounts import service as accounts
    from cadency.accounts.models import User
    from cadency.config import Settings
    from cadency.web.app import create_app

    seeded = seeded_before(url, n) if reuse else None
    if seeded is not None:
        log(f"reusing the {n:,} subscriptions already in the database")
    else:
        log(f"seeding {n:,} subscriptions")
        seeded = seed(url, n)
        log(f"seeded in {seeded['seed_seconds']:.1f}s")
    app = create_app(Settings(database_url=url, base_url="http://bench", smtp_url=None))
    with app.state.session_factory() as session:
        user = session.get(User, seeded["user_id"])
        token, _ = accounts.start_session(session, user)
        session.commit()
    counter = count_statements(app.state.engine)
    cursor = deep_cursor(app, seeded["account_id"]) if "filtered-deep" in only else ""
    sample = seeded["sample"]
    scenarios: list[tuple[str, Callable[[int], str]]] = [
        ("index", lambda i: "/subscriptions"),
        ("filtered", lambda i: "/subscriptions?" + urlencode(FILTERED)),
        (
            "filtered-deep",
            lambda i: "/subscriptions?" + urlencode({**FILTERED, "after": cursor}),
        ),
        ("custom", lambda i: "/subscriptions?" + urlencode([*CUSTOM_FILTER, *CUSTOM_SORT])),
        ("custom-all", lambda i: "/subscriptions?" + urlencode(CUSTOM_SORT)),
        ("search", lambda i: f"/subscriptions?q=buyer{(i * 37) % CONTACTS}@"),
        ("record", lambda i: f"/subscriptions/{sample[i % len(sample)]}"),
    ]
    results = []
    with TestClient(app) as client:
        client.cookies.set("cadency_session", token)
        for name, urls in scenarios:
            if name not in only:
                continue
            profiler = None
            if profile and name in ("filtered", "record"):
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            result = measure(client, counter, name, urls, requests)
            if profiler is not None:
                profiler.disable()
                out = Path(os.environ.get("BENCH_OUT", tempfile.gettempdir()))
                path = out / f"web-{name}-{'postgresql' if is_pg(url) else 'sqlite'}.prof"
                profiler.dump_stats(path)
                result["profile"] = str(path)
            log(
                f"{name}: p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms, "
                f"max {result['max']:.1f} ms, {result['statements']} statements, "
                f"{result['rows']} rows"
            )
            results.append(result)
    app.state.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="subscriptions")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--profile", choices=("cprofile",), help="profile two scenarios")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default: all of {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--sqlite-path",
        help="the SQLite file to use (kept afterwards) instead of a temporary one",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="if the database (--sqlite-path, --pg-url) already holds N benchmark "
        "subscriptions, migrate it and measure without seeding again",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run ({SMOKE_N} subscriptions, {SMOKE_REQUESTS} requests per scenario) that "
        "checks the benchmark still works",
    )
    args = parser.parse_args()
    only = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if args.smoke:
        args.n, args.requests = SMOKE_N, SMOKE_REQUESTS

    import cadency.models  # noqa: F401  (every table)

    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    table: list[tuple[str, dict[str, Any]]] = []
    pg_base = None
    try:
        for db in dbs:
            tmp = None
            if db == "sqlite" and args.sqlite_path:
                url = f"sqlite:///{Path(args.sqlite_path).resolve()}"
            elif db == "sqlite":
                tmp = tempfile.mkdtemp(prefix="cadency-web-bench.")
                url = f"sqlite:///{tmp}/bench.db"
            else:
                if args.pg_url is None:
                    args.pg_url, pg_base = start_postgres()
                url = args.pg_url
            log(f"{db}: {url}")
            for result in run(url, args.n, args.requests, args.profile, only, args.reuse):
                table.append((db, result))
            if tmp is not None:
                for f in Path(tmp).iterdir():
                    f.unlink()
                Path(tmp).rmdir()
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    print(f"{'db':<11}{'scenario':<15}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}{'SQL':>5}{'rows':>6}")
    for db, r in table:
        print(
            f"{db:<11}{r['scenario']:<15}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['max']:>8.1f}"
            f"{r['statements']:>5}{r['rows']:>6}"
        )
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {date.today().isoformat()}")
    # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it).
    print(
        json.dumps(
            {
                "benchmark": "web",
                "n": args.n,
                "requests": args.requests,
                "results": [
                    {
                        "db": db,
                        **{
                            k: r[k] for k in ("scenario", "p50", "p95", "max", "statements", "rows")
                        },
                    }
                    for db, r in table
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
