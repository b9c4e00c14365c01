"""Benchmark: the analytics series over N subscriptions with two years of MRR movements, and
what the ledger costs the renewal run.

    uv run python benchmarks/analytics.py --n 1000000 --db sqlite|postgresql|both [--pg-url URL]
    uv run python benchmarks/analytics.py --n 300000 --db sqlite --renewal-n 0   # series only
    uv run python benchmarks/analytics.py --smoke          # seconds, SQLite: does it still run?

For each database:

1. SEED (its own process): a fresh database (SQLite: a file in a temp dir; PostgreSQL: the
   given URL with its schema dropped, or a throwaway server from scripts/pg-start), migrated to
   the head; a test-mode account (UTC, USD) with a subscription made by the services
   (`common.template_subscription`: monthly 25.00, its "new" movement written by the ledger's
   writer), whose rows are copied into N - 1 more (bulk-inserted, one line item each, 10% in
   EUR). Each copy gets a two-year history of MRR movements that obeys the ledger's rules
   (`billing.state.movement_kind`): `new` on its start day (30 to 730 days ago), then 3 to 5
   more changes on later days — `expansion` and `contraction` (its item's price changes),
   `churned` (to zero), `reactivated` (back from zero, at a new price) — about 5 movements a
   subscription, amounts in 720ths (`kit.periods.MRR_SCALE`) at monthly, quarterly and annual
   frequencies. The subscription ends where its movements end: `mrr_scaled` is their sum,
   `mrr` that rounded as `billing.state.sync_mrr` rounds it, its item's price the last one,
   its status active or unpaid with MRR, canceled (with a reason, or none), expired or paused
   without. Movements are written with Core executemany on SQLite and COPY on PostgreSQL;
   the per-day sums (`mrr_days`) are then made by `analytics.rebuild._sum_days`, the
   rebuild's own INSERT … SELECT (timed). PostgreSQL is VACUUM ANALYZEd afterwards.
2. SERIES (its own process), each one warm-up call and then `--runs` timed calls (median and
   max; the warm-up is reported as `first_ms`):
   - `analytics.service.mrr_series`, 36 months by month, and `churn_series`, the same months;
   - the same two through HTTP: `GET /api/v1/analytics/mrr` and `/churn` through the ASGI app
     (FastAPI `TestClient`, a key made by `accounts.service.create_api_key` with
     `analytics.view` only);
   - `mrr_series` by day over the last 12 months;
   - `cancellation_reasons` over the last 12 months (reads movements joined to subscriptions);
   - `payments_series` over 12 months: the seeded subscriptions have no payments, so this
     reads an all-but-empty table and says little.
   Then the checks, which exit 1 when one fails: the series' last MRR (by month, by day and
   over HTTP) equals the sum of every subscription's `mrr_scaled` in the currency rounded
   half-even to cents, and its active subscriptions the number with MRR; every subscription's
   movements add up to its `mrr_scaled`; each subscription has exactly one `new` movement;
   and the `mrr_days` rows equal the movements summed per (currency, day, kind).
3. RENEWAL (`--renewal-n`, default 100,000; 0 skips it): `benchmarks/engine.py`'s own phases
   (prepare, renewal, floor; each in a process of its own, as engine.py runs them) in a fresh
   database. Run in a copy of an older commit, whose engine.py row lacks `mrr_scaled` (until
   63950a9), the row gets it (25.00 a month = 1,800,000), or its check against the
   subscriptions service stops it; on a commit before the ledger nothing is added. A plain
   renewal changes no MRR, so the movements the renewal wrote are counted (expected 0) and
   reported with the renewal rate and the floor of the same run.

Prints a table, then one JSON line of every figure (the last line; tests/test_benchmarks_smoke
.py reads it). See benchmarks/README.md for the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it; engine.py's phases are reused.
import engine as renewals
from common import cpu_model, is_pg, log, peak_rss_kib, rss_now_kib, start_postgres, template_subscription
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_BATCH = 5_000
SMOKE_N = 300  # --smoke: runs in seconds, for tests/test_benchmarks_smoke.py
SMOKE_RENEWAL_N = 50
TIMED_RUNS = 7
TARGET_MS = 1000.0  # the issue: each series in <= 1 s at 1M subscriptions
MONTHS = 36
HISTORY_DAYS = 730  # two years of movements
FREQUENCIES = [("monthly", 70), ("quarterly", 10), ("annually", 20)]
PRICES = [900, 1250, 2500, 4900, 9900]
STEPS = [300, 500, 1000, 2500]  # what an expansion adds to the item's price
REASONS = ["too_expensive", "unused", "switched_service", "missing_features", None]
EUR_EVERY = 10  # every tenth subscription is in EUR


def make_engine(url: str) -> Engine:
    from cadency.kit.db import make_engine as cadency_engine

    return cadency_engine(url)


def analyze(url: str) -> None:
    """PostgreSQL: fresh statistics (what autovacuum would do soon after a bulk load). SQLite is
    left as the application leaves it (Cadency never runs ANALYZE there)."""
    if not is_pg(url):
        return
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def months_back(first: date, months: int) -> date:
    from cadency.kit import periods

    return periods.add_months(first, -months)


# --- seeding ------------------------------------------------------------------------------------


def history(
    rng: random.Random, today: date, frequency_mult: int
) -> tuple[list[tuple[date, str, int, int]], int, int, date]:
    """One subscription's movements, oldest first, as (day, kind, amount, mrr_after) in 720ths,
    by the ledger's rule; and the price of its item at the end (the last one it paid), the MRR
    it ends with and the day it started."""
    start = today - timedelta(days=30 + rng.randrange(HISTORY_DAYS - 30))
    price = rng.choice(PRICES)
    mrr = price * frequency_mult
    rows = [(start, "new", mrr, mrr)]
    changes = rng.choice((3, 4, 4, 5))
    span = (today - start).days  # >= 30
    for offset in sorted(rng.sample(range(1, span + 1), changes)):
        day = start + timedelta(days=offset)
        if mrr == 0:
            price = rng.choice(PRICES)
            after, kind = price * frequency_mult, "reactivated"
        else:
            roll = rng.random()
            if roll < 0.45:
                price += rng.choice(STEPS)
                after, kind = price * frequency_mult, "expansion"
            elif roll < 0.75 and price >= 2:
                price -= max(1, price // rng.choice((2, 4, 5)))
                after, kind = price * frequency_mult, "contraction"
            else:
                after, kind = 0, "churned"
        rows.append((day, kind, after - mrr, after))
        mrr = after
    return rows, price, mrr, start


def phase_seed(url: str, n: int) -> dict[str, Any]:
    """The account, its template subscription, N - 1 copies and their movements, and the
    per-day sums."""
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.analytics.models import MrrMovement
    from cadency.analytics.rebuild import _sum_days
    from cadency.kit import migrate, money, periods
    from cadency.kit.db import make_session_factory
    from cadency.kit.ids import new_id
    from cadency.models import LineItem, Subscription

    engine = make_engine(url)
    if is_pg(url):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(url)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        # Test mode: the template is charged to a sandbox card, which serves test accounts only.
        account, _ = accounts.create_account(session, name="Benchmark", mode="test")
        template, _method = template_subscription(session, account)
        session.commit()
        account_id = account.id

        def row_of(obj: Any) -> dict[str, Any]:
            return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns}

        sub_row = row_of(template)
        item_row = row_of(
            session.scalars(select(LineItem).where(LineItem.subscription_id == template.id)).one()
        )
        template_movements = session.scalar(
            select(func.count()).where(MrrMovement.subscription_id == template.id)
        )
    if template_movements != 1 or sub_row["mrr_scaled"] != 2_500 * periods.MRR_SCALE:
        raise SystemExit(
            f"the service's subscription has {template_movements} movements and mrr_scaled "
            f"{sub_row['mrr_scaled']}; expected 1 and {2_500 * periods.MRR_SCALE}"
        )

    rng = random.Random(15)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    frequencies = [f for f, weight in FREQUENCIES for _ in range(weight)]
    mult = {f: periods.scaled_monthly(1, f) for f, _ in FREQUENCIES}
    columns = [c.key for c in MrrMovement.__table__.columns]
    pg = is_pg(url)
    movements = 0
    write_seconds = 0.0
    # The template made by the service is subscription number 0; the rest are bulk rows.
    for offset in range(1, n, SEED_BATCH):
        subs, items, moves = [], [], []
        for i in range(offset, min(n, offset + SEED_BATCH)):
            sub_id = new_id("sub")
            currency = "EUR" if i % EUR_EVERY == EUR_EVERY - 1 else "USD"
            frequency = rng.choice(frequencies)
            rows, price, mrr, start = history(rng, today, mult[frequency])
            created = datetime.combine(start, datetime.min.time(), UTC) + timedelta(
                seconds=rng.randrange(80_000)
            )
            for number, (day, kind, amount, after) in enumerate(rows):
                at = (
                    created
                    if number == 0
                    else datetime.combine(day, datetime.min.time(), UTC)
                    + timedelta(seconds=rng.randrange(86_000))
                )
                moves.append(
                    (
                        new_id("mrm"),
                        account_id,
                        sub_id,
                        currency,
                        day,
                        kind,
                        amount,
                        after,
                        at,
                    )
                )
            last_day = rows[-1][0]
            if mrr > 0:
                status = "unpaid" if i % 20 == 0 else "active"
            else:
                status = ("canceled", "canceled", "canceled", "expired", "paused")[i % 5]
            ended = status in ("canceled", "expired")
            ended_at = datetime.combine(last_day, datetime.min.time(), UTC) + timedelta(hours=12)
            due = today + timedelta(days=1 + rng.randrange(28))
            subs.append(
                {
                    **sub_row,
                    "id": sub_id,
                    "name": f"Subscription {i}",
                    "status": status,
                    "currency": currency,
                    "billing_frequency": frequency,
                    "start_date": start,
                    "billing_anchor": start,
                    "current_period_start": None if ended else start,
                    "current_period_end": None if ended else due,
                    "end_date": last_day if ended else None,
                    "next_payment_date": None if ended or status == "paused" else due,
                    "canceled_at": ended_at if ended else None,
                    # (i // 5: the status took i % 5, and every reason should occur.)
                    "cancellation_reason": REASONS[(i // 5) % len(REASONS)]
                    if status == "canceled"
                    else None,
                    "paused_at": ended_at if status == "paused" else None,
                    "next_payment_amount": price,
                    "recurring_amount": price,
                    "last_payment_amount": price,
                    "total_collected": price,
                    "mrr_scaled": mrr,
                    "mrr": money.prorate(mrr, 1, periods.MRR_SCALE),
                    # Never due: this database is read, not billed.
                    "next_action_at": None,
                    "created_at": created,
                    "updated_at": ended_at if mrr == 0 else created,
                }
            )
            items.append(
                {
                    **item_row,
                    "id": new_id("li"),
                    "subscription_id": sub_id,
                    "name": f"Subscription {i}",
                    "currency": currency,
                    "unit_price": price,
                    "amount": price,
                    "billing_frequency": frequency,
                    "created_at": created,
                }
            )
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(Subscription.__table__), subs)
            conn.execute(insert(LineItem.__table__), items)
            if pg:
                # COPY, the fastest way in; in the transaction of the subscriptions.
                raw = conn.connection.driver_connection
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f"COPY mrr_movements ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for move in moves:
                        copy.write_row(move)
            else:
                conn.execute(
                    insert(MrrMovement.__table__),
                    [dict(zip(columns, m, strict=True)) for m in moves],
                )
        write_seconds += time.perf_counter() - began
        movements += len(moves)
        if (offset - 1) % 200_000 == 0 and offset > 1:
            log(f"  seeded {offset - 1:,} subscriptions, {movements:,} movements")
    seed_seconds = time.perf_counter() - started
    factory = make_session_factory(engine)
    began = time.perf_counter()
    _sum_days(factory, account_id)
    days_seconds = time.perf_counter() - began
    with engine.connect() as conn:
        counted = {
            "subscriptions": conn.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(Subscription.account_id == account_id)
            ),
            "movements": conn.scalar(
                select(func.count())
                .select_from(MrrMovement)
                .where(MrrMovement.account_id == account_id)
            ),
            "mrr_days": conn.scalar(
                text("SELECT count(*) FROM mrr_days WHERE account_id = :a"), {"a": account_id}
            ),
        }
    engine.dispose()
    if counted["subscriptions"] != n or counted["movements"] != movements + 1:
        raise SystemExit(f"seeded {counted}; expected {n} subscriptions, {movements + 1} movements")
    began = time.perf_counter()
    analyze(url)
    return {
        "account_id": account_id,
        "seed_seconds": seed_seconds,
        "seed_write_seconds": write_seconds,
        "sum_days_seconds": days_seconds,
        "analyze_seconds": time.perf_counter() - began,
        **counted,
    }


# --- the series ---------------------------------------------------------------------------------


def timed(call: Callable[[], Any], runs: int) -> tuple[Any, dict[str, Any]]:
    """One warm-up call, then `runs` timed ones; the last result and the times in ms."""
    began = time.perf_counter()
    result = call()
    first = (time.perf_counter() - began) * 1000
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - began) * 1000)
    return result, {
        "first_ms": round(first, 2),
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "runs_ms": [round(t, 2) for t in times],
        "meets_1s": max(times) <= TARGET_MS,
    }


def expected_figures(session: Any, account_id: int) -> dict[str, dict[str, Any]]:
    """Per currency, from the subscriptions alone: the MRR (their `mrr_scaled` summed, rounded
    half-even once, as the API shows money) and how many have MRR."""
    from cadency.kit import money
    from cadency.kit.periods import MRR_SCALE
    from cadency.models import Subscription

    found = {}
    for currency, total, with_mrr in session.execute(
        select(
            Subscription.currency,
            func.coalesce(func.sum(Subscription.mrr_scaled), 0),
            func.count().filter(Subscription.mrr_scaled > 0),
        )
        .where(Subscription.account_id == account_id)
        .group_by(Subscription.currency)
    ):
        minor = round(Fraction(int(total), MRR_SCALE))  # round() of a Fraction: half-even
        found[currency] = {"mrr": money.format_amount(minor, currency), "active": int(with_mrr)}
    return found


def ledger_checks(session: Any, account_id: int) -> dict[str, Any]:
    """The ledger against the subscriptions, and the per-day sums against the ledger."""
    from cadency.analytics.models import MrrDay, MrrMovement
    from cadency.models import Subscription

    totals = (
        select(MrrMovement.subscription_id, func.sum(MrrMovement.amount).label("total"))
        .where(MrrMovement.account_id == account_id)
        .group_by(MrrMovement.subscription_id)
        .subquery()
    )
    disagreeing = session.scalar(
        select(func.count())
        .select_from(Subscription)
        .outerjoin(totals, totals.c.subscription_id == Subscription.id)
        .where(
            Subscription.account_id == account_id,
            Subscription.mrr_scaled != func.coalesce(totals.c.total, 0),
        )
    )
    new_movements, with_movements = session.execute(
        select(
            func.count().filter(MrrMovement.kind == "new"),
            func.count(func.distinct(MrrMovement.subscription_id)),
        ).where(MrrMovement.account_id == account_id)
    ).one()
    summed = {
        (currency, day, kind): (int(amount), int(count))
        for currency, day, kind, amount, count in session.execute(
            select(
                MrrMovement.currency,
                MrrMovement.effective_on,
                MrrMovement.kind,
                func.sum(MrrMovement.amount),
                func.count(),
            )
            .where(MrrMovement.account_id == account_id)
            .group_by(MrrMovement.currency, MrrMovement.effective_on, MrrMovement.kind)
        )
    }
    days = {
        (currency, day, kind): (int(amount), int(count))
        for currency, day, kind, amount, count in session.execute(
            select(MrrDay.currency, MrrDay.day, MrrDay.kind, MrrDay.amount, MrrDay.count).where(
                MrrDay.account_id == account_id
            )
        )
    }
    differing = sorted(
        (str(key), summed.get(key), days.get(key))
        for key in set(summed) | set(days)
        if summed.get(key) != days.get(key)
    )
    return {
        "subscriptions_whose_movements_do_not_add_up": int(disagreeing),
        "subscriptions_with_movements": int(with_movements),
        "new_movements": int(new_movements),
        "day_kind_rows": len(summed),
        "mrr_days_rows": len(days),
        "mrr_days_differing": len(differing),
        "mrr_days_differing_sample": differing[:5],
    }


def phase_series(url: str, account_id: int, runs: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from cadency.accounts import service as accounts
    from cadency.accounts.models import Account
    from cadency.analytics import service
    from cadency.config import Settings
    from cadency.kit.db import make_session_factory
    from cadency.web.app import create_app

    engine = make_engine(url)
    factory = make_session_factory(engine)
    today = datetime.now(UTC).date()
    this_month = today.replace(day=1)
    first36 = months_back(this_month, MONTHS - 1)
    first12 = months_back(this_month, 11)
    out: dict[str, Any] = {"load_start": os.getloadavg()[0], "rss_start_kib": rss_now_kib()}
    series: dict[str, Any] = {}
    results: dict[str, Any] = {}
    with factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        _, secret = accounts.create_api_key(
            session, account, name="Analytics benchmark", scopes=["analytics.view"]
        )
        session.commit()
        calls: dict[str, Callable[[], Any]] = {
            "mrr_36_months": lambda: service.mrr_series(
                session, account, start=first36, end=this_month, interval="month", currency="USD"
            ),
            "churn_36_months": lambda: service.churn_series(
                session, account, start=first36, end=this_month, interval="month", currency="USD"
            ),
            "mrr_12_months_by_day": lambda: service.mrr_series(
                session, account, start=first12, end=this_month, interval="day", currency="USD"
            ),
            "cancellation_reasons_12_months": lambda: service.cancellation_reasons(
                session, account, start=first12, end=this_month, currency="USD"
            ),
            "payments_12_months": lambda: service.payments_series(
                session, account, start=first12, end=this_month, interval="month", currency="USD"
            ),
            "mrr_36_months_eur": lambda: service.mrr_series(
                session, account, start=first36, end=this_month, interval="month", currency="EUR"
            ),
        }
        for name, call in calls.items():
            results[name], series[name] = timed(call, runs)
            session.rollback()  # each call reads afresh, as a request's session would
        expected = expected_figures(session, account_id)
        checks = ledger_checks(session, account_id)
    app = create_app(Settings(database_url=url, base_url="http://bench", smtp_url=None))
    query = {"start": first36.strftime("%Y-%m"), "end": this_month.strftime("%Y-%m")}
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        for name, path in (("http_mrr_36_months", "mrr"), ("http_churn_36_months", "churn")):

            def get(path: str = path) -> Any:
                response = client.get(f"/api/v1/analytics/{path}", params=query)
                if response.status_code != 200:
                    status = response.status_code
                    raise SystemExit(f"GET /analytics/{path}: {status} {response.text}")
                return response.json()

            results[name], series[name] = timed(get, runs)
    app.state.engine.dispose()
    engine.dispose()

    usd, eur = expected.get("USD", {}), expected.get("EUR", {})
    monthly, daily = results["mrr_36_months"], results["mrr_12_months_by_day"]
    http = results["http_mrr_36_months"]["data"]
    checks.update(
        {
            "expected_mrr_usd": usd.get("mrr"),
            "series_mrr_usd": monthly[-1]["mrr"],
            "by_day_mrr_usd": daily[-1]["mrr"],
            "http_mrr_usd": http[-1]["mrr"],
            "expected_active_usd": usd.get("active"),
            "series_active_usd": monthly[-1]["active_subscriptions"],
            "expected_mrr_eur": eur.get("mrr"),
            "series_mrr_eur": results["mrr_36_months_eur"][-1]["mrr"],
            "periods": [len(monthly), len(results["churn_36_months"]), len(daily), len(http)],
            "cancellation_reasons": len(results["cancellation_reasons_12_months"]),
        }
    )
    problems = []
    if not usd.get("mrr") == monthly[-1]["mrr"] == daily[-1]["mrr"] == http[-1]["mrr"]:
        problems.append("the series' last MRR is not the subscriptions' MRR (USD)")
    if usd.get("active") != monthly[-1]["active_subscriptions"]:
        problems.append("the series' active subscriptions are not those with MRR (USD)")
    if eur and eur["mrr"] != results["mrr_36_months_eur"][-1]["mrr"]:
        problems.append("the series' last MRR is not the subscriptions' MRR (EUR)")
    if checks["subscriptions_whose_movements_do_not_add_up"]:
        problems.append("some subscriptions' movements do not add up to their mrr_scaled")
    if checks["new_movements"] != checks["subscriptions_with_movements"]:
        problems.append("not one 'new' movement per subscription")
    if checks["mrr_days_differing"]:
        problems.append("mrr_days differ from the movements summed per (day, kind)")
    if len(monthly) != MONTHS or len(http) != MONTHS:
        problems.append(f"not {MONTHS} months in the series")
    checks["ok"] = not problems
    checks["problems"] = problems
    out.update(
        {
            "series": series,
            "checks": checks,
            "load_end": os.getloadavg()[0],
            "rss_peak_kib": peak_rss_kib(),
        }
    )
    if problems:
        print(json.dumps(out, default=str))
        raise SystemExit("ANALYTICS CHECK FAILED: " + "; ".join(problems))
    return out


# --- the renewal (engine.py's phases) ------------------------------------------------------------


def patch_engine_rows() -> None:
    """An older engine.py's bulk subscription row lacks `mrr_scaled`: give it the exact MRR its
    one 25.00 monthly item has, as `subscriptions.service.create` does (a row that has it, and
    a schema without the column, before the ledger, are left alone)."""
    from cadency.models import Subscription

    if "mrr_scaled" not in Subscription.__table__.columns:
        return
    from cadency.kit.periods import MRR_SCALE

    row_of = renewals.subscription_row

    def with_mrr(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"mrr_scaled": renewals.PRICE * MRR_SCALE, **row_of(*args, **kwargs)}

    renewals.subscription_row = with_mrr


def ledger_rows(url: str, account_id: int) -> dict[str, int | None]:
    engine = make_engine(url)
    with engine.connect() as conn:
        try:
            found: dict[str, int | None] = {
                table: int(
                    conn.scalar(
                        text(f"SELECT count(*) FROM {table} WHERE account_id = :a"),
                        {"a": account_id},
                    )
                )
                for table in ("mrr_movements", "mrr_days")
            }
            found["subscriptions_mrr_scaled_changed"] = int(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM subscriptions WHERE account_id = :a"
                        " AND mrr_scaled != :m"
                    ),
                    {"a": account_id, "m": renewals.PRICE * 720},  # kit.periods.MRR_SCALE
                )
            )
        except Exception:  # a schema before the ledger
            found = {"mrr_movements": None, "mrr_days": None}
    engine.dispose()
    return found


def phase_renewal(url: str, n: int, account_id: int) -> dict[str, Any]:
    before = ledger_rows(url, account_id)
    out = renewals.phase_renew(url, n, account_id, None, False, None)
    after = ledger_rows(url, account_id)
    out["ledger_before"], out["ledger_after"] = before, after
    if before["mrr_movements"] is not None:
        assert after["mrr_movements"] is not None
        out["movements_written"] = after["mrr_movements"] - before["mrr_movements"]
    else:
        out["movements_written"] = None
    return out


def run_renewal(db: str, url: str, n: int) -> dict[str, Any]:
    log(f"{db} renewal n={n:,}: preparing (engine.py's phases)")
    prepared = child("renewal-prepare", url, n)
    log(f"{db} renewal n={n:,}: seeded in {prepared['seed_seconds']:.1f}s; renewing")
    renewed = child("renewal", url, n, account_id=prepared["account_id"])
    log(
        f"{db} renewal n={n:,}: {renewed['renew_seconds']:.1f}s "
        f"({n / renewed['renew_seconds']:,.0f}/s), movements written: "
        f"{renewed['movements_written']}; floor"
    )
    floor = child("renewal-floor", url, n, account_id=prepared["account_id"])
    result = {
        "n": n,
        "processed": renewed["processed"],
        "renew_seconds": renewed["renew_seconds"],
        "renewals_per_s": n / renewed["renew_seconds"],
        "renew_cpu_seconds": renewed["renew_cpu_seconds"],
        "renew_server_cpu_seconds": renewed["renew_server_cpu_seconds"],
        "renew_load": renewed["renew_load"],
        "floor_seconds": floor["floor_seconds"],
        "floor_per_s": n / floor["floor_seconds"],
        "ratio": renewed["renew_seconds"] / floor["floor_seconds"],
        "movements_written": renewed["movements_written"],
        "ledger_before": renewed["ledger_before"],
        "ledger_after": renewed["ledger_after"],
        "rss_peak_kib": renewed["rss_peak_kib"],
    }
    log(f"{db} renewal n={n:,}: floor {floor['floor_seconds']:.1f}s, ratio {result['ratio']:.2f}")
    if result["processed"] != n:
        raise SystemExit(f"the renewal processed {result['processed']} of {n}")
    if result["movements_written"]:
        raise SystemExit(f"a plain renewal wrote {result['movements_written']} MRR movements")
    return result


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
        tail = done.stdout.strip().splitlines()[-1:] if done.stdout else []
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}) for {url} n={n}: {tail}")
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


def run_one(db: str, url: str, n: int, runs: int, renewal_n: int) -> dict[str, Any]:
    result: dict[str, Any] = {"db": db, "n": n}
    if n:
        log(f"{db} n={n:,}: seeding")
        seeded = child("seed", url, n)
        result.update(seeded)
        log(
            f"{db} n={n:,}: seeded {seeded['movements']:,} movements in "
            f"{seeded['seed_seconds']:.1f}s; mrr_days summed in {seeded['sum_days_seconds']:.1f}s "
            f"({seeded['mrr_days']:,} rows)"
        )
        measured = child("series", url, n, account_id=seeded["account_id"], runs=runs)
        result.update(measured)
        for name, s in measured["series"].items():
            log(
                f"{db} n={n:,}: {name}: median {s['median_ms']:.1f} ms, max {s['max_ms']:.1f} ms"
                f" (first {s['first_ms']:.1f} ms)"
            )
        log(f"{db} n={n:,}: checks passed: {measured['checks']['series_mrr_usd']} USD MRR")
    if renewal_n:
        result["renewal"] = run_renewal(db, url, renewal_n)
    result["db_version"] = db_version(url)
    return result


def git_head() -> str:
    """HEAD of the checkout; a copy of the tree outside git names its commit in BENCH_CODE."""
    if os.environ.get("BENCH_CODE"):
        return os.environ["BENCH_CODE"]
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return done.stdout.strip() or "unknown (not a git checkout)"


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'db':<11}{'N':>10}{'series':>32}{'median ms':>11}{'max ms':>9}{'<= 1 s':>8}")
    for r in results:
        for name, s in r.get("series", {}).items():
            ok = "yes" if s["meets_1s"] else "NO"
            print(
                f"{r['db']:<11}{r['n']:>10,}{name:>32}{s['median_ms']:>11.1f}"
                f"{s['max_ms']:>9.1f}{ok:>8}"
            )
        if "renewal" in r:
            w = r["renewal"]
            print(
                f"{r['db']:<11}{w['n']:>10,}  renewal {w['renewals_per_s']:,.0f}/s, floor "
                f"{w['floor_per_s']:,.0f}/s, ratio {w['ratio']:.2f}, movements written "
                f"{w['movements_written']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="subscriptions (0: no series)")
    parser.add_argument(
        "--db", choices=("sqlite", "postgresql", "postgres", "both"), default="sqlite"
    )
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument("--runs", type=int, default=TIMED_RUNS, help="timed calls per series")
    parser.add_argument(
        "--renewal-n",
        type=int,
        default=100_000,
        help="subscriptions renewed by engine.py's phases (0 skips the renewal)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run ({SMOKE_N} subscriptions, {SMOKE_RENEWAL_N} renewals, SQLite)",
    )
    # Internal: one phase in a child process.
    parser.add_argument(
        "--phase",
        choices=("seed", "series", "renewal-prepare", "renewal", "renewal-floor"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import cadency.models  # noqa: F401  (every table, as the worker and the app load them)

    if args.phase:
        if args.phase == "seed":
            out = phase_seed(args.url, args.n)
        elif args.phase == "series":
            out = phase_series(args.url, args.account_id, args.runs)
        elif args.phase == "renewal-prepare":
            patch_engine_rows()
            out = renewals.phase_prepare(args.url, args.n)
        elif args.phase == "renewal":
            out = phase_renewal(args.url, args.n, args.account_id)
        else:
            out = renewals.phase_floor(args.url, args.n, args.account_id, None)
        print(json.dumps(out, default=str))
        return

    if args.smoke:
        args.n, args.db, args.runs, args.renewal_n = SMOKE_N, "sqlite", 3, SMOKE_RENEWAL_N
    db_names = {"both": ["sqlite", "postgresql"], "postgres": ["postgresql"]}
    dbs = db_names.get(args.db, [args.db])
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db in dbs:
            tmp = Path(tempfile.mkdtemp(prefix="cadency-analytics-bench."))
            if db == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                if args.pg_url is None:
                    args.pg_url, pg_base = start_postgres()
                url = args.pg_url
            result = run_one(db, url, args.n, args.runs, args.renewal_n)
            result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
            results.append(result)
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    print_table(results)
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {date.today().isoformat()}")
    # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it); a run whose
    # checks failed exited 1 before this.
    print(
        json.dumps({"benchmark": "analytics", "code": git_head(), "results": results}, default=str)
    )


if __name__ == "__main__":
    main()
