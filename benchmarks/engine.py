"""Benchmark: one renewal run of the billing engine over N due monthly subscriptions.

    uv run python benchmarks/engine.py --n 100000 --db sqlite|postgresql|both [--pg-url URL]
    uv run python benchmarks/engine.py --n 10000,50000,100000 --db both
    uv run python benchmarks/engine.py --smoke --db sqlite    # seconds: does it still run?

For each database and each N:

1. a fresh database (SQLite: a file in a temp dir; PostgreSQL: the given URL, schema dropped,
   or a throwaway server from scripts/pg-start when no URL is given), migrated with
   `cadency.kit.migrate.upgrade`;
2. a test-mode account (the sandbox card processor serves only those; its clock is set to now
   before the renewal), a contact with a sandbox card (4242…), and N monthly subscriptions
   whose second period is due today, bulk-inserted in the state `subscriptions.service.create`
   leaves them in after the first period was invoiced and paid (checked field by field against
   a subscription made by the real service, see `check_rows_match_service`);
3. RENEWAL: `cadency.billing.runner.run_due(session, now)` once, timed, in a fresh child
   process (so its peak RSS is the renewal's, not the seeding's); then the exactly-once check:
   exactly N invoices, N invoice lines, N succeeded payments, N outbox `payment.succeeded` and N
   `invoice.created` rows, N distinct invoice numbers, every subscription billed twice and none
   still due, and a second `run_due` writes nothing;
4. FLOOR: the rows the renewal wrote are truncated, and the same rows (invoice, line, payment,
   two outbox messages, two timeline events per subscription, the invoice-number counter and an
   UPDATE of every subscription) are written again with SQLAlchemy Core executemany, 5,000
   subscriptions per transaction, after a keyset read of the batch's subscriptions and line
   items. Same tables, same indexes and constraints, same database file/server: the fastest
   honest way to write what a renewal has to write with SQLAlchemy;
5. RAW FLOOR (issue 18): truncated again, and the same rows written with the driver alone
   (`RawWriter`: sqlite3 executemany; psycopg COPY for the inserts and COPY into a temporary
   table + one UPDATE … FROM for the subscriptions).

Prints one table row per (database, N): renewals/s, both floors' renewals/s, the ratio to the
raw floor (`ratio`) and to the Core floor (`ratio_core`), and the
renewal child's RSS at start and at peak (ru_maxrss), then one JSON line of the figures
(tests/test_benchmarks_smoke.py reads it). `--profile cprofile` profiles the renewal
(written next to the JSON results); `--count-queries` counts SQL statements per renewal (a
separate, untimed concern: the listener costs a little time).

Not part of the test suite; see benchmarks/README.md for the measured numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it
from common import is_pg, log, peak_rss_kib, rss_now_kib, start_postgres
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_BATCH = 5_000
FLOOR_BATCH = 5_000
SMOKE_N = 50  # --smoke: a size that runs in seconds, for tests/test_benchmarks_smoke.py
POSITION_BUCKET = 50  # subscriptions per bucket when timing by position in the batch
PRICE = 2_500  # 25.00 USD a month
PLAN_NAME = "Benchmark plan"
CURRENCY = "USD"
MISSING = "<missing from the bulk row>"  # a column the service sets that the benchmark does not


# --- helpers ------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> float:
    return os.getloadavg()[0]


def backend_cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a PostgreSQL backend process on this machine."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pid(engine: Engine) -> int | None:
    """The server process behind the engine's (single) pooled connection."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")))


def make_engine(url: str) -> Engine:
    """Cadency's own engine settings, with one pooled connection: a worker uses one, and it lets
    the benchmark find the PostgreSQL backend whose CPU time it reports."""
    from cadency.kit.db import make_engine as cadency_engine

    if url.startswith("sqlite://") and url.rstrip("/") == "sqlite:":
        return cadency_engine(url)
    return cadency_engine(url, pool_size=1, max_overflow=0)


def code_version() -> dict[str, Any]:
    """Which engine was measured: the package location, git HEAD and the engine files' hashes
    (the working tree changes while other people work on it)."""
    import cadency

    src = Path(cadency.__file__).resolve().parent
    hashes = {}
    for rel in (
        "billing/engine.py",
        "billing/runner.py",
        "invoices/service.py",
        "billing/invoicing.py",
        "kit/outbox.py",
        "billing/state.py",
        "billing/bulk.py",
        "billing/planner.py",
        "billing/ledger.py",
        "kit/ids.py",
        "kit/periods.py",
    ):
        path = src / rel
        if path.exists():
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"package": str(src), "git_head": head, "files": hashes}


def dates() -> dict[str, Any]:
    """The calendar of the benchmark: subscriptions started a month ago, renewal due today."""
    from cadency.kit import periods

    now = datetime.now(UTC)
    today = now.date()
    anchor = periods.add_months(today, -1)
    next_payment = periods.period_start(anchor, "monthly", 1)
    assert next_payment <= today, (anchor, next_payment, today)
    return {
        "now": now,
        "today": today,
        "anchor": anchor,
        "next_payment": next_payment,
        "due_at": periods.start_of_day_utc(next_payment, "UTC"),
        "created_at": periods.start_of_day_utc(anchor, "UTC") + timedelta(hours=9),
    }


# --- rows -----------------------------------------------------------------------------------


def subscription_row(
    sub_id: str, account_id: int, contact_id: str, pm_id: str, d: dict[str, Any]
) -> dict[str, Any]:
    """A monthly auto-renewing subscription of one 25.00 item after its first period was
    invoiced and paid: what `subscriptions.service.create` + the first engine run leave behind,
    with `next_action_at` at the start of the renewal day (the reminder has fired since)."""
    return {
        "id": sub_id,
        "account_id": account_id,
        "name": PLAN_NAME,
        "status": "active",
        "contact_id": contact_id,
        "company_id": None,
        "currency": CURRENCY,
        "billing_address": None,
        "collection_method": "charge_automatically",
        "payment_terms": None,
        "payment_method_id": pm_id,
        "collect_payment_method_on_first_invoice": False,
        "payment_options": None,
        "fee_ids": [],
        "invoice_creation": True,
        # No language of its own: the invoice takes the contact's, or the account's default.
        "invoice_settings": {"comments": None, "tax_ids": [], "language": None, "locale": "en-US"},
        "billing_frequency": "monthly",
        "billing_terms": "auto_renew",
        "number_of_payments": None,
        "start_date": d["anchor"],
        "billing_anchor": d["anchor"],
        "end_date": None,
        "current_period_start": d["anchor"],
        "current_period_end": d["next_payment"],
        "next_payment_date": d["next_payment"],
        "trial_end": None,
        "commitment_months": None,
        "commitment_end": None,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "cancel_refund": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "cancellation_reasons": [],
        "cancellation_comment": None,
        "paused_at": None,
        "resume_at": None,
        "next_payment_amount": PRICE,
        "recurring_amount": PRICE,
        "last_payment_amount": PRICE,
        "last_payment_status": "succeeded",
        "payments_completed": 1,
        "periods_billed": 1,
        "total_collected": PRICE,
        "mrr": PRICE,
        "mrr_scaled": PRICE * 720,  # kit.periods.MRR_SCALE: a monthly price, exact
        "next_action_at": d["due_at"],
        "owner_id": None,
        "pending_change": None,
        "created_at": d["created_at"],
        "updated_at": d["created_at"],
    }


def line_item_row(li_id: str, sub_id: str, account_id: int, d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": li_id,
        "account_id": account_id,
        "subscription_id": sub_id,
        "deal_id": None,
        "quote_id": None,
        "position": 0,
        "name": PLAN_NAME,
        "product_id": None,
        "quantity": 1,
        "unit_price": PRICE,
        "unit_discount_percent": None,
        "tax_rate_id": None,
        "currency": CURRENCY,
        "billing_frequency": "monthly",
        "billing_terms": "auto_renew",
        "number_of_payments": None,
        "billing_start_date": None,
        "amount": PRICE,
        "created_at": d["created_at"],
    }


def check_rows_match_service(d: dict[str, Any]) -> None:
    """Make one subscription through the real service (a test-mode account whose clock stands
    on the anchor day, in a throwaway in-memory database) and check the bulk rows agree with it
    on every column that is not an ID or a timestamp."""
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.catalog.line_items import LineItemInput
    from cadency.crm import service as crm
    from cadency.crm.schemas import ContactCreate
    from cadency.models import Base, LineItem, Subscription
    from cadency.payments import service as payments
    from cadency.payments.schemas import CardIn, PaymentMethodCreate
    from cadency.subscriptions import service as subscriptions
    from cadency.subscriptions.schemas import SubscriptionCreate

    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        account, _ = accounts.create_account(session, name="Template", mode="test")
        account.clock_now = d["created_at"]
        contact = crm.create_contact(session, account, ContactCreate(email="t@example.com"))
        pm = payments.attach_payment_method(
            session,
            account,
            contact.id,
            PaymentMethodCreate(
                type="card",
                card=CardIn(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123"),
            ),
        )
        sub = subscriptions.create(
            session,
            account,
            SubscriptionCreate(
                contact_id=contact.id,
                currency=CURRENCY,
                line_items=[
                    LineItemInput(name=PLAN_NAME, unit_price="25.00", billing_frequency="monthly")
                ],
                collection_method="charge_automatically",
                payment_method_id=pm.id,
            ),
            allow_custom_items=True,
        )
        session.commit()
        ours = subscription_row(sub.id, account.id, contact.id, pm.id, d)
        # The service's next_action_at is the renewal reminder (14 days before); ours is the
        # renewal day itself, where the worker finds it after the reminder was sent.
        skip = {"id", "created_at", "updated_at", "next_action_at"}
        diffs = {
            column.key: (getattr(sub, column.key), ours.get(column.key, MISSING))
            for column in Subscription.__table__.columns
            if column.key not in skip and getattr(sub, column.key) != ours.get(column.key, MISSING)
        }
        item = session.scalars(select(LineItem).where(LineItem.subscription_id == sub.id)).one()
        ours_item = line_item_row(item.id, sub.id, account.id, d)
        diffs.update(
            {
                f"line_item.{column.key}": (
                    getattr(item, column.key),
                    ours_item.get(column.key, MISSING),
                )
                for column in LineItem.__table__.columns
                if column.key not in {"id", "created_at"}
                and getattr(item, column.key) != ours_item.get(column.key, MISSING)
            }
        )
    engine.dispose()
    if diffs:
        raise SystemExit(f"bulk rows differ from subscriptions.service.create: {diffs}")


# --- phases (each runs in its own process) ------------------------------------------------------


def phase_prepare(url: str, n: int) -> dict[str, Any]:
    """Fresh schema, the account, contact and card, and N due subscriptions."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.crm import service as crm
    from cadency.crm.schemas import ContactCreate
    from cadency.kit import migrate
    from cadency.kit.ids import new_id
    from cadency.models import LineItem, Subscription
    from cadency.payments import service as payments
    from cadency.payments.schemas import CardIn, PaymentMethodCreate

    d = dates()
    check_rows_match_service(d)
    engine = make_engine(url)
    if is_pg(url):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    started = time.perf_counter()
    migrate.upgrade(url)
    with Session(engine, expire_on_commit=False) as session:
        # Test mode: the sandbox card processor serves test-mode accounts only (a live account
        # has no processor until a real one is configured), so this is the account a merchant
        # would bench with. Its clock is set in the renewal phase.
        account, _ = accounts.create_account(session, name="Benchmark", mode="test")
        contact = crm.create_contact(
            session, account, ContactCreate(email="bench@example.com", first_name="Bench")
        )
        pm = payments.attach_payment_method(
            session,
            account,
            contact.id,
            PaymentMethodCreate(
                type="card",
                card=CardIn(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123"),
            ),
        )
        session.commit()
        account_id, contact_id, pm_id = account.id, contact.id, pm.id
    for offset in range(0, n, SEED_BATCH):
        size = min(SEED_BATCH, n - offset)
        subs, items = [], []
        for _ in range(size):
            sub_id = new_id("sub")
            subs.append(subscription_row(sub_id, account_id, contact_id, pm_id, d))
            items.append(line_item_row(new_id("li"), sub_id, account_id, d))
        with engine.begin() as conn:
            conn.execute(insert(Subscription.__table__), subs)
            conn.execute(insert(LineItem.__table__), items)
    seeded = time.perf_counter() - started
    vacuum_analyze(engine)
    engine.dispose()
    return {"account_id": account_id, "seed_seconds": seeded}


def vacuum_analyze(engine: Engine) -> None:
    """PostgreSQL: fresh statistics and visibility maps before a timed phase (what autovacuum
    would have done by the time real subscriptions come due). SQLite: nothing — Cadency never
    runs ANALYZE there, so the planner works as it does in production."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def install_query_counter(engine: Engine) -> tuple[Counter[str], Counter[str]]:
    """Count SQL statements by kind and table, and the time spent inside the driver's execute
    for each kind (the database's work plus the round trip, without SQLAlchemy's)."""
    from sqlalchemy import event

    counts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()

    def kind_of(statement: str) -> str:
        words = statement.lstrip().split(None, 3)
        kind = words[0].upper() if words else "?"
        if kind in ("INSERT", "UPDATE", "DELETE") and len(words) > 2:
            target = words[2] if kind != "UPDATE" else words[1]
            return f"{kind} {target.strip(chr(34))}"
        if kind == "SELECT":
            lowered = statement.lower()
            found = re.search(r"\bfrom\s+\"?(\w+)", lowered)
            lock = " FOR UPDATE" if "for update" in lowered else ""
            return f"SELECT {found.group(1) if found else '-'}{lock}"
        return kind

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info["bench_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        kind = kind_of(statement)
        counts[kind] += 1
        seconds[kind] += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())

    return counts, seconds


class Profiling:
    """cProfile or pyinstrument around a block, or nothing."""

    def __init__(self, kind: str | None, name: str) -> None:
        self.kind, self.name, self.profiler = kind, name, None
        if kind == "cprofile":
            import cProfile

            self.profiler = cProfile.Profile()
        elif kind == "pyinstrument":
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.002)

    def __enter__(self) -> Profiling:
        if self.kind == "cprofile":
            self.profiler.enable()
        elif self.kind == "pyinstrument":
            self.profiler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cprofile":
            self.profiler.disable()
        elif self.kind == "pyinstrument":
            self.profiler.stop()

    def save(self) -> str | None:
        return save_profile(self.profiler, self.kind, self.name) if self.profiler else None


def time_batches(runner: Any) -> dict[str, list[float]]:
    """Wrap the runner's batch and claim functions (module globals, looked up at call time) to
    time every batch and every claim query: shows whether later batches get slower."""
    timings: dict[str, list[float]] = {"batch": [], "claim": [], "size": []}
    run_batch, claim = runner.run_batch, runner._claim

    def timed_batch(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        summary = run_batch(*args, **kwargs)
        timings["batch"].append(time.perf_counter() - started)
        timings["size"].append(summary.subscriptions_processed + summary.subscriptions_failed)
        return summary

    def timed_claim(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        rows = claim(*args, **kwargs)
        timings["claim"].append(time.perf_counter() - started)
        return rows

    # Time each subscription by its position in the batch: on PostgreSQL every savepoint is a
    # subtransaction, and work late in a batch can cost more than work early in it.
    from cadency.billing import engine as billing_engine

    process = billing_engine.process
    position = {"i": 0}
    timings["position_sum"] = [0.0] * 64
    timings["position_count"] = [0.0] * 64

    def timed_process(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return process(*args, **kwargs)
        finally:
            bucket = min(position["i"] // POSITION_BUCKET, 63)
            timings["position_sum"][bucket] += time.perf_counter() - started
            timings["position_count"][bucket] += 1
            position["i"] += 1

    def timed_batch_reset(*args: Any, **kwargs: Any) -> Any:
        position["i"] = 0
        return timed_batch(*args, **kwargs)

    billing_engine.process = timed_process
    runner.run_batch, runner._claim = timed_batch_reset, timed_claim
    return timings


def batch_summary(timings: dict[str, list[float]]) -> dict[str, Any]:
    work = [(t, c, k) for t, c, k in zip(timings["batch"], timings["claim"], timings["size"]) if k]
    if not work:
        return {}
    tenth = max(1, len(work) // 10)
    first, last = work[:tenth], work[-tenth:]

    def rate(part: list[tuple[float, float, int]]) -> float:
        return sum(k for _, _, k in part) / sum(t for t, _, _ in part)

    deciles = [work[i * len(work) // 10 : (i + 1) * len(work) // 10] for i in range(10)]
    by_position = [
        round(1000 * total / count, 2)
        for total, count in zip(timings["position_sum"], timings["position_count"])
        if count
    ]
    return {
        "batches": len(work),
        "ms_per_renewal_by_position": by_position,
        "decile_per_s": [round(rate(part)) for part in deciles if part],
        "decile_claim_ms": [
            round(1000 * sum(c for _, c, _ in part) / len(part), 1) for part in deciles if part
        ],
        "first_10pct_per_s": rate(first),
        "last_10pct_per_s": rate(last),
        "claim_ms_first": 1000 * sum(c for _, c, _ in first) / len(first),
        "claim_ms_last": 1000 * sum(c for _, c, _ in last) / len(last),
        "claim_seconds_total": sum(timings["claim"]),
    }


def phase_renew(
    url: str, n: int, account_id: int, profile: str | None, count: bool, batch_size: int | None
) -> dict:
    from cadency.billing import runner
    from cadency.kit.db import make_session_factory

    if batch_size:  # an experiment: the runner's own batch size is BATCH_SIZE
        runner.BATCH_SIZE = batch_size

    engine = make_engine(url)
    factory = make_session_factory(engine)  # what `cadency worker` uses
    counted = install_query_counter(engine) if count else None
    timings = time_batches(runner)
    pid = backend_pid(engine)  # also opens the pool before measuring
    profiling = Profiling(profile, f"renew-{db_name(url)}-{n}")
    rss_start, load_start = rss_now_kib(), loadavg()
    cpu_start, server_start = cpu_seconds(), backend_cpu_seconds(pid)
    now = set_account_clock(factory, account_id)
    started = time.perf_counter()
    with profiling, factory() as session:
        summary = runner.run_due(session, now)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "renew_seconds": seconds,
        "renew_cpu_seconds": cpu_seconds() - cpu_start,
        "renew_server_cpu_seconds": backend_cpu_seconds(pid) - server_start,
        "renew_load": [load_start, loadavg()],
        "batch_size": runner.BATCH_SIZE,
        "processed": summary.subscriptions_processed,
        "failed": summary.subscriptions_failed,
        "rss_start_kib": rss_start,
        "rss_peak_kib": peak_rss_kib(),
        **batch_summary(timings),
    }
    if counted is not None:
        result["statements"] = dict(counted[0].most_common())
        result["statement_seconds"] = dict(counted[1].most_common())
    if profile:
        result["profile"] = profiling.save()
    verify(engine, factory, account_id, n, now, summary)
    engine.dispose()
    return result


def set_account_clock(factory: Any, account_id: int) -> datetime:
    """Set the test account's clock to the real time (from which it runs on, as a merchant's
    does), so the renewals seeded as due today are due for the worker; returns that instant.
    `run_due` takes a test account up to its own clock, whatever `now` it is given."""
    from cadency.accounts.models import Account
    from cadency.kit import clock

    with factory() as session:
        account = session.get(Account, account_id)
        assert account is not None and account.mode == "test", account_id
        now = datetime.now(UTC)
        clock.set_clock(account, now)
        session.commit()
    return now


def db_name(url: str) -> str:
    return "postgresql" if is_pg(url) else "sqlite"


def save_profile(profiler: Any, kind: str | None, name: str) -> str:
    out = Path(os.environ.get("BENCH_OUT", tempfile.gettempdir()))
    out.mkdir(parents=True, exist_ok=True)
    if kind == "cprofile":
        import pstats

        path = out / f"{name}.prof"
        profiler.dump_stats(path)
        with open(out / f"{name}.txt", "w") as report:
            stats = pstats.Stats(str(path), stream=report)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(70)
        return str(path)
    path = out / f"{name}.pyinstrument.txt"
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return str(path)


def verify(engine: Engine, factory: Any, account_id: int, n: int, now: datetime, summary: Any) -> None:
    """Exactly once: one invoice, line, payment and pair of outbox messages per subscription,
    nothing still due, and a second run writes nothing. Fails loudly otherwise."""
    from cadency.accounts.models import Account
    from cadency.billing import runner
    from cadency.invoices.models import Invoice, InvoiceLine
    from cadency.kit.outbox import OutboxMessage
    from cadency.payments.models import Payment
    from cadency.subscriptions.models import Subscription

    def counts(conn: Any) -> dict[str, int]:
        def one(query: Any) -> int:
            return int(conn.scalar(query) or 0)

        outbox = dict(
            conn.execute(
                select(OutboxMessage.type, func.count())
                .where(OutboxMessage.account_id == account_id)
                .group_by(OutboxMessage.type)
            ).all()
        )
        return {
            "invoices": one(select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id)),
            "invoice_numbers": one(select(func.count(func.distinct(Invoice.number))).where(Invoice.account_id == account_id)),
            "invoices_paid": one(select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id, Invoice.status == "paid")),
            "invoice_lines": one(select(func.count()).select_from(InvoiceLine).where(InvoiceLine.account_id == account_id)),
            "payments_succeeded": one(select(func.count()).select_from(Payment).where(Payment.account_id == account_id, Payment.status == "succeeded")),
            "payments": one(select(func.count()).select_from(Payment).where(Payment.account_id == account_id)),
            "outbox_payment_succeeded": int(outbox.get("payment.succeeded", 0)),
            "outbox_invoice_created": int(outbox.get("invoice.created", 0)),
            "outbox_total": int(sum(outbox.values())),
            "subscriptions_billed_twice": one(select(func.count()).select_from(Subscription).where(Subscription.account_id == account_id, Subscription.periods_billed == 2, Subscription.payments_completed == 2)),
            "subscriptions_still_due": one(select(func.count()).select_from(Subscription).where(Subscription.account_id == account_id, Subscription.next_action_at <= now)),
            "invoice_sequence": one(select(Account.invoice_sequence).where(Account.id == account_id)),
        }

    with engine.connect() as conn:
        first = counts(conn)
    expected = {
        "invoices": n,
        "invoice_numbers": n,
        "invoices_paid": n,
        "invoice_lines": n,
        "payments_succeeded": n,
        "payments": n,
        "outbox_payment_succeeded": n,
        "outbox_invoice_created": n,
        "outbox_total": 2 * n,
        "subscriptions_billed_twice": n,
        "subscriptions_still_due": 0,
        "invoice_sequence": n,
    }
    problems = {k: (first[k], v) for k, v in expected.items() if first[k] != v}
    if summary.subscriptions_processed != n or summary.subscriptions_failed:
        problems["run_summary"] = (
            (summary.subscriptions_processed, summary.subscriptions_failed),
            (n, 0),
        )
    # A second pass over the same time must write nothing.
    with factory() as session:
        again = runner.run_due(session, now)
    with engine.connect() as conn:
        second = counts(conn)
    if again.subscriptions_processed or again.subscriptions_failed or second != first:
        problems["second_run"] = (
            (again.subscriptions_processed, again.subscriptions_failed, second),
            "nothing",
        )
    if problems:
        raise SystemExit(f"EXACTLY-ONCE CHECK FAILED (got, expected): {problems}")


def emptied_tables(written: set[str]) -> list[str]:
    """The tables the floor empties: those the renewal wrote, and every table whose rows point
    at them (refunds, email deliveries: empty here, but PostgreSQL's TRUNCATE refuses a table
    another one references), children first. Found from the models, so a table added later
    cannot break the floor again; one the seed needs (subscriptions, accounts…) stops it."""
    from cadency.models import Base

    tables = set(written)
    while True:
        more = {
            table.name
            for table in Base.metadata.tables.values()
            if table.name not in tables
            and any(fk.column.table.name in tables for fk in table.foreign_keys)
        }
        if not more:
            break
        tables |= more
    kept = {"accounts", "contacts", "payment_methods", "subscriptions", "line_items"}
    if tables & kept:
        raise SystemExit(f"the floor would empty tables the seed needs: {sorted(tables & kept)}")
    order = [t.name for t in reversed(Base.metadata.sorted_tables)]
    return sorted(tables, key=order.index)


class RawWriter:
    """The raw floor's writes, with the driver and no SQLAlchemy statement: on SQLite the
    sqlite3 cursor's executemany; on PostgreSQL psycopg's COPY … FROM STDIN for the inserts, and
    for the subscriptions COPY into a temporary table and one UPDATE … FROM it. Values are
    converted as SQLAlchemy would bind them (the column types' bind processors: JSON to text,
    UTC timestamps), so the rows are the same rows."""

    TEMP = "floor_subscriptions"

    def __init__(self, conn: Any) -> None:
        self.dialect = conn.dialect
        self.pg = conn.dialect.name == "postgresql"
        self.driver = conn.connection.driver_connection
        self.converters: dict[tuple[str, str], Any] = {}

    def _rows(self, table: Any, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
        columns = list(rows[0])
        converters = []
        for column in columns:
            key = (table.name, column)
            if key not in self.converters:
                self.converters[key] = table.c[column].type._cached_bind_processor(self.dialect)
            converters.append(self.converters[key])
        if all(convert is None for convert in converters):
            return columns, [tuple(row.values()) for row in rows]
        return columns, [
            tuple(
                value if convert is None or value is None else convert(value)
                for value, convert in zip(row.values(), converters)
            )
            for row in rows
        ]

    def insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns, values = self._rows(table, rows)
        names = ", ".join(columns)
        cursor = self.driver.cursor()
        if self.pg:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)
        cursor.close()

    def update(self, table: Any, rows: list[dict[str, Any]]) -> None:
        """UPDATE `table` SET every column but id from `rows`, matched on id."""
        if not rows:
            return
        columns, values = self._rows(table, rows)
        names = ", ".join(columns)
        cursor = self.driver.cursor()
        if self.pg:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {self.TEMP} ON COMMIT DELETE ROWS AS "
                f"SELECT {names} FROM {table.name} WITH NO DATA"
            )
            with cursor.copy(f"COPY {self.TEMP} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            assignments = ", ".join(f"{c} = v.{c}" for c in columns if c != "id")
            cursor.execute(
                f"UPDATE {table.name} AS t SET {assignments} FROM {self.TEMP} AS v "
                "WHERE t.id = v.id"
            )
        else:
            assignments = ", ".join(f"{c} = ?" for c in columns if c != "id")
            at = columns.index("id")
            cursor.executemany(
                f"UPDATE {table.name} SET {assignments} WHERE id = ?",
                [row[:at] + row[at + 1 :] + (row[at],) for row in values],
            )
        cursor.close()


def phase_floor(
    url: str, n: int, account_id: int, profile: str | None, *, raw: bool = False
) -> dict[str, Any]:
    """Truncate what the renewal wrote, then write the same rows with Core executemany, or
    (`raw`) with the driver itself: RawWriter."""
    from sqlalchemy import insert

    from cadency.accounts.models import Account
    from cadency.invoices.models import Invoice, InvoiceLine
    from cadency.kit import money
    from cadency.kit.ids import new_id
    from cadency.kit.outbox import OutboxMessage
    from cadency.payments.models import Payment
    from cadency.billing.engine import attempt_key
    from cadency.payments.sandbox import _reference
    from cadency.subscriptions.models import LineItem, Subscription, SubscriptionEvent

    engine = make_engine(url)
    written = emptied_tables(
        {"invoice_lines", "payments", "invoices", "outbox_messages", "subscription_events"}
    )
    with engine.begin() as conn:
        if is_pg(url):
            conn.execute(text(f"TRUNCATE {', '.join(written)}"))
        else:
            for table in written:
                conn.execute(text(f"DELETE FROM {table}"))
    vacuum_analyze(engine)
    pid = backend_pid(engine)
    name = "raw_floor" if raw else "floor"
    profiling = Profiling(profile, f"{name.replace('_', '-')}-{db_name(url)}-{n}")
    rss_start, load_start = rss_now_kib(), loadavg()
    cpu_start, server_start = cpu_seconds(), backend_cpu_seconds(pid)

    now = datetime.now(UTC)
    today = now.date()
    fmt = money.format_amount
    s, li = Subscription.__table__, LineItem.__table__
    sub_update = (
        update(s)
        .where(s.c.id == bindparam("b_id"))
        .values(
            periods_billed=bindparam("b_periods_billed"),
            payments_completed=bindparam("b_payments_completed"),
            total_collected=bindparam("b_total_collected"),
            last_payment_amount=bindparam("b_last_payment_amount"),
            last_payment_status=bindparam("b_last_payment_status"),
            current_period_start=bindparam("b_current_period_start"),
            current_period_end=bindparam("b_current_period_end"),
            next_payment_date=bindparam("b_next_payment_date"),
            next_payment_amount=bindparam("b_next_payment_amount"),
            recurring_amount=bindparam("b_recurring_amount"),
            mrr=bindparam("b_mrr"),
            next_action_at=bindparam("b_next_action_at"),
            updated_at=bindparam("b_updated_at"),
        )
    )
    a = Account.__table__
    from cadency.kit import periods

    started = time.perf_counter()
    profiling.__enter__()
    last_id = ""
    done = 0
    write_seconds = 0.0  # inside the executemany calls (the rest: the read and building rows)
    while True:
        with engine.begin() as conn:
            writer = RawWriter(conn) if raw else None
            rows = conn.execute(
                select(
                    s.c.id, s.c.contact_id, s.c.payment_method_id, s.c.currency,
                    s.c.billing_anchor, s.c.billing_frequency, s.c.next_payment_date,
                    s.c.periods_billed, s.c.payments_completed, s.c.total_collected,
                    s.c.collection_method, s.c.invoice_settings,
                    li.c.id.label("li_id"), li.c.name, li.c.quantity, li.c.unit_price,
                    li.c.amount, li.c.tax_rate_id,
                )
                .join(li, li.c.subscription_id == s.c.id)
                .where(s.c.account_id == account_id, s.c.id > last_id)
                .order_by(s.c.id)
                .limit(FLOOR_BATCH)
            ).all()
            if not rows:
                break
            last_id = rows[-1].id
            sequence = conn.scalar(
                update(a)
                .where(a.c.id == account_id)
                .values(invoice_sequence=a.c.invoice_sequence + len(rows))
                .returning(a.c.invoice_sequence)
            )
            first_number = sequence - len(rows) + 1
            invoices, lines, pays, messages, events, subs = [], [], [], [], [], []
            for i, r in enumerate(rows):
                start = r.next_payment_date
                end = periods.period_start(r.billing_anchor, r.billing_frequency, r.periods_billed + 1)
                inv_id, pay_id = new_id("inv"), new_id("pay")
                number = f"INV-{first_number + i:06d}"
                total = r.amount
                settings = r.invoice_settings or {}
                invoices.append({
                    "id": inv_id, "account_id": account_id, "subscription_id": r.id,
                    "contact_id": r.contact_id, "number": number, "status": "paid",
                    "billing_reason": "subscription_cycle", "collection_method": r.collection_method,
                    "currency": r.currency, "issue_date": today, "due_date": today,
                    "period_start": start, "period_end": end, "cycle_period_start": start,
                    "subtotal": r.unit_price * r.quantity, "discount_total": r.unit_price * r.quantity - r.amount,
                    "tax_total": 0, "fee_total": 0, "total": total, "amount_paid": total,
                    "amount_due": 0, "language": settings.get("language") or "en",
                    "locale": settings.get("locale") or "en-US", "comments": settings.get("comments"),
                    "tax_ids": list(settings.get("tax_ids") or []),
                    "payment_method_id": r.payment_method_id, "attempt_count": 1,
                    "next_attempt_date": None, "paid_at": now, "voided_at": None,
                    "created_at": now, "updated_at": now,
                })
                lines.append({
                    "id": new_id("il"), "invoice_id": inv_id, "account_id": account_id,
                    "position": 0, "description": r.name, "line_item_id": r.li_id,
                    "quantity": r.quantity, "unit_price": r.unit_price,
                    "discount": r.unit_price * r.quantity - r.amount, "tax": 0,
                    "tax_rate_id": r.tax_rate_id, "amount": r.amount,
                    "period_start": start, "period_end": end,
                })
                key = attempt_key(inv_id, r.id, start, 1)  # what the engine sends
                pays.append({
                    "id": pay_id, "account_id": account_id, "invoice_id": inv_id,
                    "subscription_id": r.id, "contact_id": r.contact_id,
                    "payment_method_id": r.payment_method_id, "status": "succeeded",
                    "amount": total, "refunded_amount": 0, "currency": r.currency,
                    "failure_reason": None, "processor": "sandbox",
                    "processor_reference": _reference("ch", key), "idempotency_key": key,
                    "settles_on": None, "created_at": now, "updated_at": now,
                })
                amount = fmt(total, r.currency)
                common = {"subscription_id": r.id, "contact_id": r.contact_id, "currency": r.currency}
                created = {"invoice_id": inv_id, "number": number, "total": amount,
                           "period_start": start.isoformat(), "period_end": end.isoformat()}
                paid = {"payment_id": pay_id, "invoice_id": inv_id, "amount": amount}
                messages.append({
                    "id": new_id("evt"), "account_id": account_id, "type": "invoice.created",
                    "dedup_key": f"{account_id}:invoice.created:{inv_id}", "subscription_id": r.id,
                    "payload": {**common, "invoice_id": inv_id, "number": number, "total": amount,
                                "due_date": today.isoformat(), "collection_method": r.collection_method},
                    "created_at": now, "delivered_at": None, "attempts": 0, "last_error": None,
                })
                messages.append({
                    "id": new_id("evt"), "account_id": account_id, "type": "payment.succeeded",
                    "dedup_key": f"{account_id}:payment.succeeded:{pay_id}", "subscription_id": r.id,
                    "payload": {**common, **paid, "invoice_number": number, "first_payment": False},
                    "created_at": now, "delivered_at": None, "attempts": 0, "last_error": None,
                })
                for kind, data in (("invoice.created", created), ("payment.succeeded", paid)):
                    events.append({
                        "id": new_id("evt"), "account_id": account_id, "subscription_id": r.id,
                        "type": kind, "data": data, "created_at": now,
                    })
                subs.append({
                    "b_id": r.id, "b_periods_billed": r.periods_billed + 1,
                    "b_payments_completed": r.payments_completed + 1,
                    "b_total_collected": r.total_collected + total,
                    "b_last_payment_amount": total, "b_last_payment_status": "succeeded",
                    "b_current_period_start": start, "b_current_period_end": end,
                    "b_next_payment_date": end, "b_next_payment_amount": total,
                    "b_recurring_amount": total, "b_mrr": total,
                    "b_next_action_at": periods.start_of_day_utc(periods.add_days(end, -14), "UTC"),
                    "b_updated_at": now,
                })
            built = time.perf_counter()
            if writer is not None:
                writer.insert(Invoice.__table__, invoices)
                writer.insert(InvoiceLine.__table__, lines)
                writer.insert(Payment.__table__, pays)
                writer.insert(OutboxMessage.__table__, messages)
                writer.insert(SubscriptionEvent.__table__, events)
                writer.update(s, [{k[2:]: v for k, v in sub.items()} for sub in subs])
            else:
                conn.execute(insert(Invoice.__table__), invoices)
                conn.execute(insert(InvoiceLine.__table__), lines)
                conn.execute(insert(Payment.__table__), pays)
                conn.execute(insert(OutboxMessage.__table__), messages)
                conn.execute(insert(SubscriptionEvent.__table__), events)
                conn.execute(sub_update, subs)
            write_seconds += time.perf_counter() - built
            done += len(rows)
    profiling.__exit__()
    seconds = time.perf_counter() - started
    measured = {
        f"{name}_seconds": seconds,
        f"{name}_write_seconds": write_seconds,
        f"{name}_cpu_seconds": cpu_seconds() - cpu_start,
        f"{name}_server_cpu_seconds": backend_cpu_seconds(pid) - server_start,
        f"{name}_load": [load_start, loadavg()],
        f"{name}_rss_start_kib": rss_start,
        f"{name}_rss_peak_kib": peak_rss_kib(),
    }
    if profile:
        measured[f"{name}_profile"] = profiling.save()
    with engine.connect() as conn:
        got = {
            t: conn.scalar(text(f"SELECT count(*) FROM {t}"))
            for t in ("invoices", "invoice_lines", "payments", "outbox_messages", "subscription_events")
        }
        # The rows read back as SQLAlchemy reads the renewal's (the raw floor's conversions).
        payload, created_at = conn.execute(
            select(OutboxMessage.payload, OutboxMessage.created_at).limit(1)
        ).one()
        period_start, paid_at = conn.execute(select(Invoice.period_start, Invoice.paid_at).limit(1)).one()
        next_action_at = conn.scalar(select(Subscription.next_action_at).where(Subscription.account_id == account_id).limit(1))
    engine.dispose()
    if not (
        isinstance(payload, dict) and payload.get("invoice_id")
        and created_at.tzinfo is not None and paid_at.tzinfo is not None
        and next_action_at.tzinfo is not None and type(period_start).__name__ == "date"
    ):
        raise SystemExit(f"{name} rows read back wrong: {payload!r} {created_at!r} {period_start!r} {next_action_at!r}")
    want = {"invoices": n, "invoice_lines": n, "payments": n, "outbox_messages": 2 * n, "subscription_events": 2 * n}
    if done != n or got != want:
        raise SystemExit(f"floor wrote {done} subscriptions, rows {got}; expected {want}")
    return measured


# --- orchestration ------------------------------------------------------------------------------


def child(phase: str, url: str, n: int, **extra: Any) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its JSON result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--url", url, "--n", str(n)]
    for key, value in extra.items():
        if value is None or value is False:
            continue
        command += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}) for {url} n={n}")
    return json.loads(done.stdout.strip().splitlines()[-1])



def db_version(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        if is_pg(url):
            version = conn.scalar(text("SHOW server_version"))
        else:
            version = "SQLite " + str(conn.scalar(text("select sqlite_version()")))
    engine.dispose()
    return str(version)


def run_one(db: str, url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    log(f"{db} n={n}: preparing")
    prepared = child("prepare", url, n)
    log(f"{db} n={n}: seeded in {prepared['seed_seconds']:.1f}s; renewing")
    renewed = child(
        "renew", url, n, account_id=prepared["account_id"],
        profile=args.profile if "renew" in args.profile_phases else None,
        count_queries=args.count_queries, batch_size=args.batch_size,
    )
    log(f"{db} n={n}: renewal {renewed['renew_seconds']:.1f}s, exactly-once check passed; floor")
    floor = child(
        "floor", url, n, account_id=prepared["account_id"],
        profile=args.profile if "floor" in args.profile_phases else None,
    )
    log(f"{db} n={n}: floor {floor['floor_seconds']:.1f}s; raw floor")
    raw_floor = child(
        "raw-floor", url, n, account_id=prepared["account_id"],
        profile=args.profile if "raw-floor" in args.profile_phases else None,
    )
    log(f"{db} n={n}: raw floor {raw_floor['raw_floor_seconds']:.1f}s")
    result = {"db": db, "n": n, **prepared, **renewed, **floor, **raw_floor}
    result["renewals_per_s"] = n / renewed["renew_seconds"]
    result["floor_per_s"] = n / floor["floor_seconds"]
    result["raw_floor_per_s"] = n / raw_floor["raw_floor_seconds"]
    # Against the raw driver's floor (issue 18); against the Core floor as before.
    result["ratio"] = renewed["renew_seconds"] / raw_floor["raw_floor_seconds"]
    result["ratio_core"] = renewed["renew_seconds"] / floor["floor_seconds"]
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    """Wall-clock rates, and the CPU seconds behind them (client process + PostgreSQL backend):
    the CPU figures barely move when other work shares the machine, wall-clock ones do."""
    header = (
        f"{'db':<11}{'N':>9}{'renew s':>9}{'renew/s':>9}{'cpu s':>8}{'srv s':>7}"
        f"{'core s':>8}{'core/s':>9}{'cpu s':>7}{'srv s':>7}"
        f"{'raw s':>7}{'raw/s':>8}{'cpu s':>7}{'srv s':>7}{'÷raw':>7}{'÷core':>7}"
        f"{'RSS start':>10}{'RSS peak':>9}{'1st/last 10%':>15}{'load':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['db']:<11}{r['n']:>9,}{r['renew_seconds']:>9.1f}{r['renewals_per_s']:>9,.0f}"
            f"{r['renew_cpu_seconds']:>8.1f}{r['renew_server_cpu_seconds']:>7.1f}"
            f"{r['floor_seconds']:>8.1f}{r['floor_per_s']:>9,.0f}"
            f"{r['floor_cpu_seconds']:>7.1f}{r['floor_server_cpu_seconds']:>7.1f}"
            f"{r['raw_floor_seconds']:>7.1f}{r['raw_floor_per_s']:>8,.0f}"
            f"{r['raw_floor_cpu_seconds']:>7.1f}{r['raw_floor_server_cpu_seconds']:>7.1f}"
            f"{r['ratio']:>6.2f}x{r['ratio_core']:>6.2f}x"
            f"{r['rss_start_kib'] / 1024:>8.0f}MB{r['rss_peak_kib'] / 1024:>7.0f}MB"
            f"{r.get('first_10pct_per_s', 0):>8,.0f}/{r.get('last_10pct_per_s', 0):<6,.0f}"
            f"{r['renew_load'][0]:>5.1f}-{r['renew_load'][1]:<4.1f}"
        )
        if "decile_per_s" in r:
            print(f"    renewals/s by tenth of the run: {r['decile_per_s']}")
            print(f"    claim query ms by tenth of the run: {r['decile_claim_ms']}")
            if r["ms_per_renewal_by_position"]:  # only renewals the per-subscription engine took
                print(
                    f"    ms per renewal by position in its batch (buckets of {POSITION_BUCKET}): "
                    f"{r['ms_per_renewal_by_position']}"
                )
        if "statements" in r:
            per = {k: round(v / r["n"], 2) for k, v in r["statements"].items() if v >= r["n"] / 100}
            print(f"    statements per renewal: {sum(r['statements'].values()) / r['n']:.1f} {per}")
            spent = r["statement_seconds"]
            print(
                f"    time inside the driver: {sum(spent.values()):.1f}s of {r['renew_seconds']:.1f}s; "
                "us per renewal by kind: "
                + str({k: round(1e6 * v / r["n"]) for k, v in spent.items() if v * 1e6 / r["n"] >= 20})
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="100000", help="subscriptions; a comma list runs each size")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"the tiny size ({SMOKE_N}) that checks the benchmark still runs",
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED); default: start one with scripts/pg-start")
    parser.add_argument("--profile", choices=("cprofile", "pyinstrument"))
    parser.add_argument(
        "--profile-phases",
        default="renew,floor,raw-floor",
        help="which phases --profile covers",
    )
    parser.add_argument("--count-queries", action="store_true", help="count SQL statements per renewal")
    parser.add_argument(
        "--batch-size", type=int, help="experiment: override runner.BATCH_SIZE in the renewal"
    )
    parser.add_argument("--json", help="append the results to this JSON-lines file")
    # Internal: one phase in a child process.
    parser.add_argument(
        "--phase", choices=("prepare", "renew", "floor", "raw-floor"), help=argparse.SUPPRESS
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        import cadency.models  # noqa: F401  (every table, as the worker and the app load them)

        n = int(args.n)
        if args.phase == "prepare":
            out = phase_prepare(args.url, n)
        elif args.phase == "renew":
            out = phase_renew(
                args.url, n, args.account_id, args.profile, args.count_queries, args.batch_size
            )
        else:
            out = phase_floor(
                args.url, n, args.account_id, args.profile, raw=args.phase == "raw-floor"
            )
        print(json.dumps(out))
        return

    sizes = [SMOKE_N] if args.smoke else [int(x) for x in args.n.replace("_", "").split(",")]
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    version = code_version()
    log(f"engine code: {version}")
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db in dbs:
            for n in sizes:
                if db == "sqlite":
                    tmp = tempfile.mkdtemp(prefix="cadency-bench.")
                    url = f"sqlite:///{tmp}/bench.db"
                else:
                    if args.pg_url is None:
                        args.pg_url, pg_base = start_postgres()
                    url = args.pg_url
                result = run_one(db, url, n, args)
                result["db_version"] = db_version(url)
                result["code"] = version
                result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
                results.append(result)
                if db == "sqlite":
                    for f in Path(tmp).iterdir():
                        f.unlink()
                    Path(tmp).rmdir()
                if args.json:
                    with open(args.json, "a") as out:
                        out.write(json.dumps(result, default=str) + "\n")
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
        if results:
            print_table(results)
    # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it); only a run
    # whose every exactly-once check passed gets here.
    summary_keys = (
        "db", "n", "processed", "renew_seconds", "renewals_per_s", "floor_seconds",
        "floor_per_s", "raw_floor_seconds", "raw_floor_per_s", "ratio", "ratio_core",
        "rss_start_kib", "rss_peak_kib",
    )
    print(json.dumps({
        "benchmark": "engine",
        "code": version["git_head"],
        "results": [{k: r[k] for k in summary_keys} for r in results],
    }))


if __name__ == "__main__":
    main()
