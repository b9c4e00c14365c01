"""Benchmark: a billing day that is not all plain renewals.

    uv run python benchmarks/billing_day.py --n 20000 --db sqlite|postgresql|both [--pg-url URL]
    uv run python benchmarks/billing_day.py --smoke --db sqlite    # seconds: does it still run?
    uv run python benchmarks/billing_day.py --n 20000 --db sqlite --profile cprofile

Issue 18 asks that a billing day where 10% of cards decline, 5% are bank debits and 5% are
trials converting runs at >= 50% of the plain rate, with the same exactly-once guarantees and
the same events. For each database this runs two scenarios on fresh seeds of N subscriptions,
each due today (seeded by engine.py's `prepare` phase: a test-mode account, one contact, rows
in the state `subscriptions.service.create` and the first engine run leave them):

- **plain**: every renewal plain (the bulk path's case);
- **mix**: the same, then, by position in ID order, 10% switched to a card that always
  declines (sandbox 4000000000000341), 5% to a bank debit (sandbox account 000123456789:
  pending, settles after 4 days) and 5% into trials ending today, in the state the real
  service leaves a subscription created with `trial_days=30` (derived from one made by
  `subscriptions.service.create` in a throwaway database, column by column).

One `runner.run_due` is timed in a fresh child process. The time inside the bulk path
(`runner._renew_in_bulk`, declines' dunning included, since the bulk path hands them to the
engine with the card's answer) and inside the per-subscription engine (`runner._process_one`)
is measured separately. Then the checks: one invoice per subscription and N distinct numbers,
payments by kind (plain and trial: succeeded; declined: failed; bank debit: processing),
nothing still due, and a second `run_due` writes nothing. Any difference exits 1.

The last line is JSON: `{"benchmark": "billing_day", "results": [{"db", "scenario", "n",
"seconds", "per_s", "bulk_seconds", "one_by_one", "one_by_one_seconds", "one_by_one_per_s"}],
"mix_vs_plain": {db: ratio}}`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it
import engine as engine_bench
from common import log, start_postgres
from sqlalchemy import func, select, update

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMOKE_N = 200
# Shares of the mix, by position in ID order (out of 20): what the issue names.
DECLINED = (0, 1)  # 10%
BANK_DEBIT = (2,)  # 5%
TRIAL = (3,)  # 5%
KEPT = {"id", "account_id", "contact_id", "payment_method_id", "created_at", "updated_at"}


def kind_of(position: int, mix: bool) -> str:
    if not mix:
        return "plain"
    slot = position % 20
    if slot in DECLINED:
        return "declined"
    if slot in BANK_DEBIT:
        return "bank_debit"
    if slot in TRIAL:
        return "trial"
    return "plain"


def trial_row(d: dict[str, Any]) -> dict[str, Any]:
    """The columns of a subscription created with `trial_days=30` thirty days ago, as the real
    service leaves them (made in a throwaway in-memory database), with `next_action_at` at the
    start of the day the trial ends."""
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.catalog.line_items import LineItemInput
    from cadency.crm import service as crm
    from cadency.crm.schemas import ContactCreate
    from cadency.kit import periods
    from cadency.models import Base, Subscription
    from cadency.payments import service as payments
    from cadency.payments.schemas import CardIn, PaymentMethodCreate
    from cadency.subscriptions import service as subscriptions
    from cadency.subscriptions.schemas import SubscriptionCreate

    engine = engine_bench.make_engine("sqlite://")
    Base.metadata.create_all(engine)
    started = datetime.combine(d["today"] - timedelta(days=30), datetime.min.time(), UTC)
    with Session(engine, expire_on_commit=False) as session:
        account, _ = accounts.create_account(session, name="Template", mode="test")
        account.clock_now = started + timedelta(hours=9)
        contact = crm.create_contact(session, account, ContactCreate(email="t@example.com"))
        card = CardIn(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123")
        pm = payments.attach_payment_method(
            session, account, contact.id, PaymentMethodCreate(type="card", card=card)
        )
        sub = subscriptions.create(
            session,
            account,
            SubscriptionCreate(
                contact_id=contact.id,
                currency=engine_bench.CURRENCY,
                line_items=[
                    LineItemInput(
                        name=engine_bench.PLAN_NAME, unit_price="25.00", billing_frequency="monthly"
                    )
                ],
                collection_method="charge_automatically",
                payment_method_id=pm.id,
                trial_days=30,
            ),
            allow_custom_items=True,
        )
        session.commit()
        assert sub.status == "trialing" and sub.trial_end == d["today"], (sub.status, sub.trial_end)
        row = {
            c.key: getattr(sub, c.key)
            for c in Subscription.__table__.columns
            if c.key not in KEPT and c.key != "next_action_at"
        }
    engine.dispose()
    row["next_action_at"] = periods.start_of_day_utc(d["today"], "UTC")
    return row


def phase_prepare(url: str, n: int, mix: bool) -> dict[str, Any]:
    """engine.py's seed of N plain renewals due today, then (mix) the shares switched."""
    from sqlalchemy.orm import Session

    from cadency.accounts.models import Account
    from cadency.models import Subscription
    from cadency.payments import service as payments
    from cadency.payments.schemas import BankDebitIn, CardIn, PaymentMethodCreate

    prepared = engine_bench.phase_prepare(url, n)
    account_id = prepared["account_id"]
    engine = engine_bench.make_engine(url)
    kinds: dict[str, int] = {}
    with Session(engine, expire_on_commit=False) as session:
        ids = list(
            session.scalars(
                select(Subscription.id)
                .where(Subscription.account_id == account_id)
                .order_by(Subscription.id)
            )
        )
        by_kind: dict[str, list[str]] = {}
        for position, sub_id in enumerate(ids):
            by_kind.setdefault(kind_of(position, mix), []).append(sub_id)
        kinds = {kind: len(members) for kind, members in by_kind.items()}
        if mix:
            account = session.get(Account, account_id)
            assert account is not None
            contact_id = session.scalar(
                select(Subscription.contact_id).where(Subscription.id == ids[0])
            )
            assert contact_id is not None
            declining = payments.attach_payment_method(
                session,
                account,
                contact_id,
                PaymentMethodCreate(
                    type="card",
                    card=CardIn(number="4000000000000341", exp_month=12, exp_year=2040, cvc="123"),
                ),
            )
            bank = payments.attach_payment_method(
                session,
                account,
                contact_id,
                PaymentMethodCreate(
                    type="bank_debit",
                    bank_debit=BankDebitIn(routing_number="110000000", account_number="000123456789"),
                ),
            )
            s = Subscription.__table__
            for kind, values in (
                ("declined", {"payment_method_id": declining.id}),
                ("bank_debit", {"payment_method_id": bank.id}),
                ("trial", trial_row(engine_bench.dates())),
            ):
                members = by_kind.get(kind, [])
                for start in range(0, len(members), 5_000):
                    session.execute(
                        update(s).where(s.c.id.in_(members[start : start + 5_000])).values(values)
                    )
            session.commit()
    engine_bench.vacuum_analyze(engine)
    engine.dispose()
    return {**prepared, "kinds": kinds}


def phase_run(url: str, n: int, account_id: int, kinds: dict[str, int], profile: str | None) -> dict:
    from cadency.billing import runner
    from cadency.kit.db import make_session_factory

    engine = engine_bench.make_engine(url)
    factory = make_session_factory(engine)
    spent = {"bulk": 0.0, "one_by_one": 0.0, "one_by_one_count": 0}
    renew_in_bulk, process_one = runner._renew_in_bulk, runner._process_one

    def timed_bulk(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return renew_in_bulk(*args, **kwargs)
        finally:
            spent["bulk"] += time.perf_counter() - started

    def timed_one(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return process_one(*args, **kwargs)
        finally:
            spent["one_by_one"] += time.perf_counter() - started
            spent["one_by_one_count"] += 1

    runner._renew_in_bulk, runner._process_one = timed_bulk, timed_one  # type: ignore[assignment]
    profiling = engine_bench.Profiling(profile, f"billing-day-{engine_bench.db_name(url)}-{n}")
    now = engine_bench.set_account_clock(factory, account_id)
    started = time.perf_counter()
    with profiling, factory() as session:
        summary = runner.run_due(session, now)
    seconds = time.perf_counter() - started
    runner._renew_in_bulk, runner._process_one = renew_in_bulk, process_one  # type: ignore[assignment]
    outbox = verify(engine, factory, account_id, n, kinds, now, summary)
    engine.dispose()
    result = {
        "seconds": seconds,
        "processed": summary.subscriptions_processed,
        "bulk_seconds": spent["bulk"],
        "one_by_one": spent["one_by_one_count"],
        "one_by_one_seconds": spent["one_by_one"],
        "outbox": outbox,
    }
    if profile:
        result["profile"] = profiling.save()
    return result


def verify(
    engine: Any, factory: Any, account_id: int, n: int, kinds: dict[str, int], now: datetime,
    summary: Any,
) -> dict[str, int]:
    """Exactly once, by kind; returns the outbox messages by type."""
    from cadency.accounts.models import Account
    from cadency.billing import runner
    from cadency.invoices.models import Invoice
    from cadency.kit.outbox import OutboxMessage
    from cadency.payments.models import Payment
    from cadency.subscriptions.models import Subscription

    def counts() -> dict[str, Any]:
        with engine.connect() as conn:
            def one(query: Any) -> int:
                return int(conn.scalar(query) or 0)

            mine = Invoice.account_id == account_id
            payments = dict(
                conn.execute(
                    select(Payment.status, func.count())
                    .where(Payment.account_id == account_id)
                    .group_by(Payment.status)
                ).all()
            )
            outbox = dict(
                conn.execute(
                    select(OutboxMessage.type, func.count())
                    .where(OutboxMessage.account_id == account_id)
                    .group_by(OutboxMessage.type)
                ).all()
            )
            return {
                "invoices": one(select(func.count()).select_from(Invoice).where(mine)),
                "invoiced_subscriptions": one(
                    select(func.count(func.distinct(Invoice.subscription_id))).where(mine)
                ),
                "invoice_numbers": one(select(func.count(func.distinct(Invoice.number))).where(mine)),
                "invoice_sequence": one(select(Account.invoice_sequence).where(Account.id == account_id)),
                "payments": {k: int(v) for k, v in payments.items()},
                "still_due": one(
                    select(func.count()).select_from(Subscription).where(
                        Subscription.account_id == account_id, Subscription.next_action_at <= now
                    )
                ),
                "outbox": {k: int(v) for k, v in outbox.items()},
            }

    first = counts()
    succeeded = kinds.get("plain", 0) + kinds.get("trial", 0)
    expected_payments = {
        status: count
        for status, count in (
            ("succeeded", succeeded),
            ("failed", kinds.get("declined", 0)),
            ("processing", kinds.get("bank_debit", 0)),
        )
        if count
    }
    expected = {
        "invoices": n,
        "invoiced_subscriptions": n,
        "invoice_numbers": n,
        "invoice_sequence": n,
        "payments": expected_payments,
        "still_due": 0,
    }
    problems = {k: (first[k], v) for k, v in expected.items() if first[k] != v}
    if summary.subscriptions_processed != n or summary.subscriptions_failed:
        problems["run_summary"] = (
            (summary.subscriptions_processed, summary.subscriptions_failed),
            (n, 0),
        )
    with factory() as session:
        again = runner.run_due(session, now)
    second = counts()
    if again.subscriptions_processed or again.subscriptions_failed or second != first:
        problems["second_run"] = ((again.subscriptions_processed, second), "nothing")
    if problems:
        raise SystemExit(f"EXACTLY-ONCE CHECK FAILED (got, expected): {problems}")
    return dict(first["outbox"])


def child(phase: str, url: str, n: int, **extra: Any) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--url", url]
    command += ["--n", str(n), "--extra", json.dumps(extra)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}) for {url} n={n}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_scenario(db: str, url: str, n: int, mix: bool, profile: str | None) -> dict[str, Any]:
    scenario = "mix" if mix else "plain"
    log(f"{db} {scenario} n={n}: preparing")
    prepared = child("prepare", url, n, mix=mix)
    log(f"{db} {scenario} n={n}: seeded {prepared['kinds']}; running")
    ran = child(
        "run", url, n, account_id=prepared["account_id"], kinds=prepared["kinds"], profile=profile
    )
    log(f"{db} {scenario} n={n}: {ran['seconds']:.1f}s, exactly-once checks passed")
    one = ran["one_by_one"]
    return {
        "db": db,
        "scenario": scenario,
        "n": n,
        "kinds": prepared["kinds"],
        "seconds": ran["seconds"],
        "per_s": n / ran["seconds"],
        "bulk_seconds": ran["bulk_seconds"],
        "one_by_one": one,
        "one_by_one_seconds": ran["one_by_one_seconds"],
        "one_by_one_per_s": one / ran["one_by_one_seconds"] if one else None,
        "outbox": ran["outbox"],
        "load": engine_bench.loadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--smoke", action="store_true", help=f"n={SMOKE_N}: does it still run?")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument("--profile", choices=("cprofile", "pyinstrument"), help="the mix's run")
    parser.add_argument("--phase", choices=("prepare", "run"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        import cadency.models  # noqa: F401  (every table, as the worker loads them)

        extra = json.loads(args.extra)
        if args.phase == "prepare":
            out = phase_prepare(args.url, args.n, extra["mix"])
        else:
            out = phase_run(
                args.url, args.n, extra["account_id"], extra["kinds"], extra.get("profile")
            )
        print(json.dumps(out, default=str))
        return

    n = SMOKE_N if args.smoke else args.n
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db in dbs:
            for mix in (False, True):
                if db == "sqlite":
                    tmp = tempfile.mkdtemp(prefix="cadency-bench.")
                    url = f"sqlite:///{tmp}/bench.db"
                else:
                    if args.pg_url is None:
                        args.pg_url, pg_base = start_postgres()
                    url = args.pg_url
                results.append(run_scenario(db, url, n, mix, args.profile if mix else None))
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    print(f"{'db':<11}{'scenario':<9}{'N':>8}{'s':>8}{'per s':>8}{'bulk s':>8}"
          f"{'1-by-1':>8}{'1-by-1 s':>9}{'1-by-1/s':>9}")
    for r in results:
        rate = r["one_by_one_per_s"]
        print(
            f"{r['db']:<11}{r['scenario']:<9}{r['n']:>8,}{r['seconds']:>8.1f}{r['per_s']:>8,.0f}"
            f"{r['bulk_seconds']:>8.1f}{r['one_by_one']:>8,}{r['one_by_one_seconds']:>9.1f}"
            f"{rate or 0:>9,.0f}"
        )
    ratios = {}
    for db in dbs:
        plain = next(r for r in results if r["db"] == db and r["scenario"] == "plain")
        mixed = next(r for r in results if r["db"] == db and r["scenario"] == "mix")
        ratios[db] = mixed["per_s"] / plain["per_s"]
        print(f"{db}: the mix runs at {ratios[db]:.0%} of the plain rate (target: >= 50%)")
    keys = ("db", "scenario", "n", "seconds", "per_s", "bulk_seconds", "one_by_one",
            "one_by_one_seconds", "one_by_one_per_s", "kinds", "outbox")
    print(json.dumps({
        "benchmark": "billing_day",
        "results": [{k: r[k] for k in keys} for r in results],
        "mix_vs_plain": ratios,
    }))


if __name__ == "__main__":
    main()
