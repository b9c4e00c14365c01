"""Benchmark: what workflows add to a billing day — the renewal run of N due subscriptions, and
the workflows passes that read the day's outbox afterwards.

    uv run python benchmarks/workflows.py --n 100000 --db sqlite|postgresql|both [--pg-url URL]
    uv run python benchmarks/workflows.py --n 10000 --db sqlite --profile cprofile
    uv run python benchmarks/workflows.py --smoke          # seconds, SQLite: does it still run?

For each database, the same billing day twice, each in a fresh database (SQLite: a file in a
temp dir; PostgreSQL: the given URL with its schema dropped, or a throwaway server from
scripts/pg-start), migrated to the head:

1. the day (`prepare`, its own process): a test-mode account, no operator plan (an account no
   operator bills has no plan limits, so workflows are allowed), a super admin, the custom
   select properties `tier` and `dunning`, and a subscription made by the services a month ago
   (`common.template_subscription`: a monthly 25.00 item on a sandbox card 4242…, its first
   period invoiced and paid), its contact also holding a card that always declines
   (4000000000000341). Its rows are copied, bulk-inserted (as engine.py's billing day):
   - N monthly subscriptions whose renewal is due today (the template is one of them);
     `--declined` percent of them (spread evenly) are charged to the declining card, so the
     renewal fails them into dunning (`payment.failed`, status active → unpaid);
   - `--due-soon` percent of N more whose next payment is 1 to 7 days after today (not due
     today); every other one of them is tier `pro`;
   - every subscription has a tier (basic / pro / business);
   - what making the account queued in the outbox is marked read by workflows, so a pass reads
     the day's messages only.
   The second copy of the day also has four enabled workflows (`workflows.service.
   create_workflow`), each re-enrolling (once per trigger occurrence):
   - `payment.failed` → set `dunning` = retrying, then an internal email to the super admins;
   - `subscription.status_changed` to `unpaid` → an internal email;
   - `payment_due_in` 7 days, criteria tier = pro and status active → an internal email;
   - `property_changed` of `dunning` → an internal email (fired by the first workflow's step:
     enrollments that cause enrollments);
   and, as the week before would have left it, one completed enrollment of the
   `payment_due_in` workflow per subscription renewed today (made 7 days ago, for today's
   payment date).
2. RENEWAL (its own process): the account's clock set to now, `billing.runner.run_due` once,
   timed; then checked: N processed, N invoices, N minus `declined` payments succeeded,
   `declined` failed and as many subscriptions unpaid.
3. WORKFLOWS (its own process): `workflows.runner.run` — the worker's pass — called until a
   pass reports nothing (no enrollment, step or failure), all timed: it reads what the day
   left unread in the outbox (of 2N + declined messages, plus what the steps write), evaluates
   "payment due in 7 days", enrolls and takes every step. The time is split by part of the
   pass (outbox, payment due, steps). Then checked, or the script exits 1: every outbox message has
   `workflows_read_at` set; the enrollments made equal those expected, per workflow, all
   completed; one internal email per enrollment; and one more pass enrolls and does nothing.
   Overhead = workflows seconds / renewal seconds of the same day (the issue's target: ≤ 0.20).

On the first copy (no workflow) the workflows pass is timed too: what the lane costs an
account without workflows (what the day left unread marked read in bulk, unseen).

Prints one table row per database, then one JSON line of the figures (the last line;
tests/test_benchmarks_smoke.py reads it). `--profile cprofile` profiles the workflows passes
(written to $BENCH_OUT, default the temp dir). See benchmarks/README.md for the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it; engine.py's calendar, engine and
# measuring helpers.
import engine as renewals
from common import is_pg, log, peak_rss_kib, rss_now_kib, start_postgres, template_subscription
from sqlalchemy import func, select, text, update

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED_BATCH = 5_000
SMOKE_N = 200
DUE_IN_DAYS = 7
TIERS = ("basic", "pro", "business")
SUPER_ADMIN_EMAIL = "admin@example.com"
ALWAYS_DECLINES = "4000000000000341"
TARGET = 0.20


def spread(count: int, total: int) -> set[int]:
    """`count` indices of range(total), evenly spread."""
    return {i for i in range(total) if (i * count) // total != ((i + 1) * count) // total}


def share(n: int, percent: float) -> int:
    return round(n * percent / 100)


def internal_email(subject: str, body: str) -> dict[str, Any]:
    return {"type": "send_internal_email", "to": "super_admins", "subject": subject, "body": body}


BODY = (
    "{{ contact.name }} <{{ contact.email }}>, {{ subscription.name }} "
    "({{ subscription.properties.tier }}): {{ subscription.next_payment_amount }} "
    "on {{ subscription.next_payment_date }}, status {{ subscription.status }}."
)
WORKFLOWS: dict[str, dict[str, Any]] = {
    "payment_failed": {
        "name": "Payment failed: flag and tell the team",
        "enabled": True,
        "re_enroll": True,
        "trigger": {"type": "payment.failed"},
        "actions": [
            {"type": "set_property", "property": "dunning", "value": "retrying"},
            internal_email("Payment failed: {{ subscription.name }}", BODY),
        ],
    },
    "unpaid": {
        "name": "Went unpaid",
        "enabled": True,
        "re_enroll": True,
        "trigger": {"type": "subscription.status_changed", "status": "unpaid"},
        "actions": [internal_email("Unpaid: {{ subscription.name }}", BODY)],
    },
    "due_soon": {
        "name": "Pro renewal in a week",
        "enabled": True,
        "re_enroll": True,
        "trigger": {"type": "payment_due_in", "days": DUE_IN_DAYS},
        "criteria": {
            "filter_groups": [
                {
                    "filters": [
                        {"property": "tier", "operator": "eq", "value": "pro"},
                        {"property": "status", "operator": "in", "values": ["active"]},
                    ]
                }
            ]
        },
        "actions": [internal_email("Renews in a week: {{ subscription.name }}", BODY)],
    },
    "dunning_changed": {
        "name": "Dunning flag changed",
        "enabled": True,
        "re_enroll": True,
        "trigger": {"type": "property_changed", "property": "dunning"},
        "actions": [internal_email("Dunning: {{ subscription.properties.dunning }}", BODY)],
    },
}


# --- phase: the billing day -------------------------------------------------------------------


def phase_prepare(url: str, n: int, declined_pct: float, due_soon_pct: float, flows: bool) -> dict:
    """Fresh schema and the billing day (see the module's docstring); `flows`: with the four
    workflows and the enrollments the week before left. Returns what the checks expect."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from cadency.accounts import service as accounts
    from cadency.kit import migrate, periods
    from cadency.kit.ids import new_id
    from cadency.kit.outbox import OutboxMessage
    from cadency.models import LineItem, PropertyValue, Subscription
    from cadency.payments import service as payments
    from cadency.payments.schemas import CardIn, PaymentMethodCreate
    from cadency.plans.limits import custom_property_limit
    from cadency.properties import service as properties
    from cadency.properties.schemas import PropertyCreate
    from cadency.workflows import service as workflows
    from cadency.workflows.models import WorkflowEnrollment
    from cadency.workflows.schemas import WorkflowCreate

    d = renewals.dates()
    engine = renewals.make_engine(url)
    if is_pg(url):
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    started = time.perf_counter()
    migrate.upgrade(url)
    with Session(engine, expire_on_commit=False) as session:
        # Test mode: the sandbox card processor serves test-mode accounts only. No AccountPlan
        # row: no operator bills it, so no plan limit applies (workflows are allowed). Its
        # clock stands on the day a month ago the subscriptions started (the renewal phase
        # sets it to now).
        account, _ = accounts.create_account(session, name="Workflows benchmark", mode="test")
        account.clock_now = d["created_at"]
        accounts.create_user(
            session, account, email=SUPER_ADMIN_EMAIL, password="benchmark password"
        )
        for name, values in (("tier", TIERS), ("dunning", ("retrying", "recovered"))):
            properties.create_definition(
                session,
                account,
                "subscriptions",
                PropertyCreate.model_validate(
                    {
                        "name": name,
                        "label": name.title(),
                        "field_type": "select",
                        "options": [{"value": v, "label": v.title()} for v in values],
                    }
                ),
                plan_limit=custom_property_limit(session, account),
            )
        # The subscription every other one copies, made by the services: a monthly 25.00 item
        # charged to a sandbox card, its first period invoiced and paid a month ago.
        template, good = template_subscription(session, account)
        bad = payments.attach_payment_method(
            session,
            account,
            template.contact_id,
            PaymentMethodCreate(
                type="card",
                card=CardIn(number=ALWAYS_DECLINES, exp_month=12, exp_year=2040, cvc="123"),
            ),
        )
        flow_ids: dict[str, str] = {}
        if flows:
            for key, body in WORKFLOWS.items():
                made = workflows.create_workflow(
                    session, account, WorkflowCreate.model_validate(body), allow_private=True
                )
                flow_ids[key] = made.id
        session.commit()
        account_id, good_pm, bad_pm = account.id, good.id, bad.id
        sub_row = {c.key: getattr(template, c.key) for c in Subscription.__table__.columns}
        item = session.scalars(
            select(LineItem).where(LineItem.subscription_id == template.id)
        ).one()
        item_row = {c.key: getattr(item, c.key) for c in LineItem.__table__.columns}
    if (sub_row["next_payment_date"], sub_row["periods_billed"]) != (d["next_payment"], 1):
        raise SystemExit(f"the template is not due today: {sub_row}")

    declines = share(n, declined_pct)
    due_soon = share(n, due_soon_pct)
    declined = spread(declines, n)
    week_ago = d["now"] - timedelta(days=DUE_IN_DAYS)
    today_key = f"due:{d['today'].isoformat()}"

    def value(sub_id: str, tier: str) -> dict[str, Any]:
        return {
            "object_id": sub_id,
            "name": "tier",
            "account_id": account_id,
            "object_type": "subscriptions",
            "text_value": tier,
            "number_value": None,
            "date_value": None,
            "datetime_value": None,
            "bool_value": None,
        }

    def due_on(payment: date) -> dict[str, Any]:
        """The template's dates moved so that its next payment is `payment`."""
        anchor = periods.add_months(payment, -1)
        created = periods.start_of_day_utc(anchor, "UTC") + timedelta(hours=9)
        return {
            "start_date": anchor,
            "billing_anchor": anchor,
            "current_period_start": anchor,
            "current_period_end": payment,
            "next_payment_date": payment,
            "next_action_at": periods.start_of_day_utc(payment, "UTC"),
            "created_at": created,
            "updated_at": created,
        }

    # (index, due today?) of every subscription: N due today (the template is the first of
    # them), then the due-soon ones. Those due today wait for the renewal itself: the reminder
    # 14 days before has been sent.
    plan = [(i, True) for i in range(n)] + [(j, False) for j in range(due_soon)]
    for offset in range(0, len(plan), SEED_BATCH):
        subs, items, values, history = [], [], [], []
        for i, today in plan[offset : offset + SEED_BATCH]:
            sub_id = template.id if today and i == 0 else new_id("sub")
            if today:
                row = {
                    **sub_row,
                    "id": sub_id,
                    "payment_method_id": bad_pm if i in declined else good_pm,
                    "next_action_at": d["due_at"],
                }
                tier = TIERS[i % len(TIERS)]
                if flows:  # the payment_due_in workflow enrolled it a week ago
                    history.append(
                        {
                            "id": new_id("wfe"),
                            "account_id": account_id,
                            "workflow_id": flow_ids["due_soon"],
                            "record_id": sub_id,
                            "trigger_key": today_key,
                            "status": "completed",
                            "step": 1,
                            "next_run_at": None,
                            "attempt": 0,
                            "lease_until": None,
                            "history": [
                                {"step": 0, "at": week_ago.isoformat(), "outcome": "enrolled"},
                                {"step": 1, "at": week_ago.isoformat(), "outcome": "completed"},
                            ],
                            "created_at": week_ago,
                            "updated_at": week_ago,
                        }
                    )
            else:
                payment = d["today"] + timedelta(days=1 + i % DUE_IN_DAYS)
                row = {**sub_row, "id": sub_id, **due_on(payment)}
                tier = "pro" if i % 2 == 0 else "basic"
            if sub_id != template.id:
                subs.append(row)
                items.append({**item_row, "id": new_id("li"), "subscription_id": sub_id})
            values.append(value(sub_id, tier))
        with engine.begin() as conn:
            if subs:
                conn.execute(insert(Subscription.__table__), subs)
                conn.execute(insert(LineItem.__table__), items)
            conn.execute(insert(PropertyValue.__table__), values)
            if history:
                conn.execute(insert(WorkflowEnrollment.__table__), history)
    with engine.begin() as conn:  # the template waits for the renewal too
        conn.execute(
            update(Subscription)
            .where(Subscription.id == template.id)
            .values(next_action_at=d["due_at"])
        )
    with engine.begin() as conn:
        # What making the account queued is not the billing day's: read before the day.
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.workflows_read_at.is_(None))
            .values(workflows_read_at=OutboxMessage.created_at)
        )
    seeded = time.perf_counter() - started
    renewals.vacuum_analyze(engine)
    engine.dispose()
    pro_due_soon = (due_soon + 1) // 2
    expected = (
        {
            flow_ids["payment_failed"]: declines,
            flow_ids["unpaid"]: declines,
            flow_ids["due_soon"]: pro_due_soon,
            flow_ids["dunning_changed"]: declines,
        }
        if flows
        else {}
    )
    return {
        "account_id": account_id,
        "seed_seconds": seeded,
        "declined": declines,
        "due_soon": due_soon,
        "due_soon_pro": pro_due_soon,
        "expect": {
            "enrollments": expected,
            "history": {flow_ids["due_soon"]: n} if flows else {},
            "property_sets": declines if flows else 0,
        },
    }


# --- phase: the renewal run -------------------------------------------------------------------


def phase_renew(url: str, n: int, account_id: int, declines: int) -> dict[str, Any]:
    """The account's clock set to now, one `run_due`, timed; then the renewals checked."""
    from cadency.billing import runner
    from cadency.invoices.models import Invoice
    from cadency.kit.db import make_session_factory
    from cadency.kit.outbox import OutboxMessage
    from cadency.payments.models import Payment
    from cadency.subscriptions.models import Subscription

    def counts() -> dict[str, int]:
        with engine.connect() as conn:

            def count(model: Any, *where: Any) -> int:
                query = select(func.count()).select_from(model).where(*where)
                return int(conn.scalar(query) or 0)

            return {
                "invoices": count(Invoice, Invoice.account_id == account_id),
                "payments_succeeded": count(
                    Payment, Payment.account_id == account_id, Payment.status == "succeeded"
                ),
                "payments_failed": count(
                    Payment, Payment.account_id == account_id, Payment.status == "failed"
                ),
                "unpaid": count(
                    Subscription,
                    Subscription.account_id == account_id,
                    Subscription.status == "unpaid",
                ),
                "outbox": count(OutboxMessage, OutboxMessage.account_id == account_id),
            }

    engine = renewals.make_engine(url)
    factory = make_session_factory(engine)  # what `cadency worker` uses
    before = counts()  # the template's first invoice and payment
    pid = renewals.backend_pid(engine)  # also opens the pool before measuring
    rss_start = rss_now_kib()
    cpu_start, server_start = renewals.cpu_seconds(), renewals.backend_cpu_seconds(pid)
    now = renewals.set_account_clock(factory, account_id)
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    with factory() as session:
        summary = runner.run_due(session, now)
    seconds = time.perf_counter() - started
    result = {
        "renew_seconds": seconds,
        "renew_cpu_seconds": renewals.cpu_seconds() - cpu_start,
        "renew_server_cpu_seconds": renewals.backend_cpu_seconds(pid) - server_start,
        "renew_load": [load_start, os.getloadavg()[0]],
        "renew_rss_start_kib": rss_start,
        "renew_rss_peak_kib": peak_rss_kib(),
    }
    after = counts()
    engine.dispose()
    result["outbox_of_the_day"] = after["outbox"] - before["outbox"]
    got = {
        "processed": summary.subscriptions_processed,
        "failed": summary.subscriptions_failed,
        **{k: after[k] - before[k] for k in after if k != "outbox"},
    }
    want = {
        "processed": n,
        "failed": 0,
        "invoices": n,
        "payments_succeeded": n - declines,
        "payments_failed": declines,
        "unpaid": declines,
    }
    if got != want:
        raise SystemExit(f"RENEWAL CHECK FAILED: got {got}, expected {want}")
    return result


# --- phase: the workflows passes --------------------------------------------------------------


def time_parts(runner: Any) -> dict[str, float]:
    """Wrap the three parts of a pass (module globals, looked up at call time) to time each."""
    spent = {"outbox": 0.0, "payment_due": 0.0, "steps": 0.0}

    def timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - started

        return wrapper

    runner._enroll_from_outbox = timed("outbox", runner._enroll_from_outbox)
    runner._enroll_due_payments = timed("payment_due", runner._enroll_due_payments)
    runner._take_due_steps = timed("steps", runner._take_due_steps)
    return spent


def phase_workflows(url: str, account_id: int, expect: dict[str, Any], profile: str | None) -> dict:
    """The passes, timed, then the checks. `expect`: new enrollments per workflow, the
    enrollments the week before left per workflow, and the properties the steps set."""
    from cadency.kit.db import make_session_factory
    from cadency.kit.events import EventType
    from cadency.kit.outbox import OutboxMessage
    from cadency.workflows import runner
    from cadency.workflows.models import WorkflowEnrollment

    expected: dict[str, int] = expect["enrollments"]
    history: dict[str, int] = expect["history"]
    engine = renewals.make_engine(url)
    factory = make_session_factory(engine)
    spent = time_parts(runner)
    pid = renewals.backend_pid(engine)
    with engine.connect() as conn:
        by_type = select(OutboxMessage.type, func.count()).group_by(OutboxMessage.type)
        day = {kind: int(count) for kind, count in conn.execute(by_type).all()}
        unread_before = conn.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.workflows_read_at.is_(None))
        )
    profiling = renewals.Profiling(profile, f"workflows-{renewals.db_name(url)}")
    rss_start, load_start = rss_now_kib(), os.getloadavg()[0]
    cpu_start, server_start = renewals.cpu_seconds(), renewals.backend_cpu_seconds(pid)
    passes: list[dict[str, Any]] = []
    started = time.perf_counter()
    with profiling:
        while True:
            began = time.perf_counter()
            summary = runner.run(factory, allow_private=True)
            passes.append(
                {
                    "seconds": round(time.perf_counter() - began, 3),
                    "enrolled": summary.enrolled,
                    "steps": summary.steps,
                    "failed": summary.failed,
                }
            )
            if not (summary.enrolled or summary.steps or summary.failed):
                break
            if len(passes) > 1000:
                raise SystemExit(f"WORKFLOWS CHECK FAILED: no end after {len(passes)} passes")
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "workflows_seconds": seconds,
        "workflows_cpu_seconds": renewals.cpu_seconds() - cpu_start,
        "workflows_server_cpu_seconds": renewals.backend_cpu_seconds(pid) - server_start,
        "workflows_load": [load_start, os.getloadavg()[0]],
        "workflows_parts_seconds": {k: round(v, 3) for k, v in spent.items()},
        "workflows_rss_start_kib": rss_start,
        "workflows_rss_peak_kib": peak_rss_kib(),
        "passes": passes,
        "enrolled": sum(p["enrolled"] for p in passes),
        "steps": sum(p["steps"] for p in passes),
        "step_failures": sum(p["failed"] for p in passes),
        # What the pass found unread: the day's messages, less those written already read.
        "outbox_unread_at_start": int(unread_before or 0),
    }
    if profile:
        result["profile"] = profiling.save()

    # The checks: every message read; the enrollments expected, all completed; one more pass
    # does nothing.
    def counts() -> dict[str, Any]:
        with engine.connect() as conn:
            by_flow = dict(
                conn.execute(
                    select(WorkflowEnrollment.workflow_id, func.count())
                    .where(WorkflowEnrollment.account_id == account_id)
                    .group_by(WorkflowEnrollment.workflow_id)
                ).all()
            )
            statuses = dict(
                conn.execute(
                    select(WorkflowEnrollment.status, func.count())
                    .where(WorkflowEnrollment.account_id == account_id)
                    .group_by(WorkflowEnrollment.status)
                ).all()
            )
            outbox = dict(
                conn.execute(
                    select(OutboxMessage.type, func.count()).group_by(OutboxMessage.type)
                ).all()
            )
            unread = conn.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.workflows_read_at.is_(None))
            )
        return {
            "by_flow": {k: int(v) for k, v in by_flow.items()},
            "statuses": {k: int(v) for k, v in statuses.items()},
            "outbox": {k: int(v) for k, v in outbox.items()},
            "unread": int(unread or 0),
        }

    first = counts()
    # For this account, as a clock advance runs it: it always looks for payments coming due
    # (the worker's pass looks at most once a minute).
    again = runner.run(factory, allow_private=True, account_id=account_id)
    second = counts()
    engine.dispose()

    made = {f: c - history.get(f, 0) for f, c in first["by_flow"].items()}
    total = sum(expected.values())
    problems: dict[str, Any] = {}

    def check(name: str, got: Any, want: Any) -> None:
        if got != want:
            problems[name] = {"got": got, "expected": want}

    check("unread outbox messages", first["unread"], 0)
    check(
        "enrollments made, per workflow",
        {f: c for f, c in made.items() if c},
        {f: c for f, c in expected.items() if c},
    )
    check("enrollments reported by the passes", result["enrolled"], total)
    check("steps that failed", result["step_failures"], 0)
    everyone = total + sum(history.values())
    check("enrollments by status", first["statuses"], {"completed": everyone} if everyone else {})

    def written(kind: str) -> int:
        return int(first["outbox"].get(kind, 0) - day.get(kind, 0))

    check("internal emails queued", written(EventType.WORKFLOW_INTERNAL_EMAIL), total)
    check("properties set", written(EventType.SUBSCRIPTION_UPDATED), expect["property_sets"])
    check("one more pass", again.__dict__, {"enrolled": 0, "steps": 0, "failed": 0})
    check("what one more pass changed", second, first)
    if problems:
        raise SystemExit(f"WORKFLOWS CHECK FAILED: {json.dumps(problems, default=str)}")
    result["enrollments_made"] = sum(made.values())
    result["enrollments_expected"] = total
    result["outbox_after"] = first["outbox"]
    return result


# --- orchestration ----------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """engine.py's record of the code (package, git HEAD, billing files' hashes), plus the
    workflows files': other people change the working tree while this runs."""
    import hashlib

    import cadency

    version = renewals.code_version()
    src = Path(cadency.__file__).resolve().parent
    for rel in ("workflows/runner.py", "workflows/service.py", "workflows/models.py"):
        if (src / rel).exists():
            version["files"][rel] = hashlib.sha256((src / rel).read_bytes()).hexdigest()[:12]
    return version


def child(phase: str, url: str, n: int, **extra: Any) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its JSON result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--url", url]
    command += ["--n", str(n)]
    for key, value in extra.items():
        if value is None or value is False:
            continue
        command += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {done.returncode}) for {url} n={n}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def run_day(db: str, url: str, n: int, flows: bool, args: argparse.Namespace) -> dict[str, Any]:
    """One billing day in a fresh database: seed, renew, workflows passes."""
    label = f"{db} n={n} {'with' if flows else 'without'} workflows"
    if not is_pg(url):  # a fresh file (PostgreSQL: the prepare phase drops the schema)
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
    log(f"{label}: preparing")
    day = child("prepare", url, n, declined=args.declined, due_soon=args.due_soon, flows=flows)
    log(
        f"{label}: seeded in {day['seed_seconds']:.1f}s ({day['declined']:,} to decline, "
        f"{day['due_soon']:,} due in 1-{DUE_IN_DAYS} days); renewing"
    )
    renewed = child("renew", url, n, account_id=day["account_id"], declines=day["declined"])
    log(f"{label}: renewal {renewed['renew_seconds']:.1f}s, checked; workflows passes")
    passes = child(
        "workflows",
        url,
        n,
        account_id=day["account_id"],
        expect=json.dumps(day["expect"]),
        profile=args.profile if flows else None,
    )
    log(
        f"{label}: workflows {passes['workflows_seconds']:.1f}s in {len(passes['passes'])} "
        f"passes {passes['workflows_parts_seconds']}, {passes['enrollments_made']:,} "
        f"enrollments, {passes['steps']:,} steps; checks passed"
    )
    result = {**day, **renewed, **passes}
    del result["expect"]
    result["overhead"] = passes["workflows_seconds"] / renewed["renew_seconds"]
    parts = passes["workflows_parts_seconds"]
    # Reading the outbox and "payment due" (enrolling) grows with the day's renewals; the
    # steps grow with the enrollments made.
    result["overhead_enrolling"] = (parts["outbox"] + parts["payment_due"]) / renewed[
        "renew_seconds"
    ]
    result["overhead_steps"] = parts["steps"] / renewed["renew_seconds"]
    # The same in CPU seconds (this process + the PostgreSQL backend): steadier than wall-clock
    # time when other work shares the machine.
    result["overhead_cpu"] = (
        passes["workflows_cpu_seconds"] + passes["workflows_server_cpu_seconds"]
    ) / (renewed["renew_cpu_seconds"] + renewed["renew_server_cpu_seconds"])
    return result


def run_one(db: str, url: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    plain = run_day(db, url, n, False, args)
    flows = run_day(db, url, n, True, args)
    return {
        "db": db,
        "n": n,
        "declined": flows["declined"],
        "due_soon": flows["due_soon"],
        "renew_seconds_without": plain["renew_seconds"],
        "renew_seconds_with": flows["renew_seconds"],
        "workflows_seconds_without": plain["workflows_seconds"],
        "workflows_seconds": flows["workflows_seconds"],
        "workflows_parts_seconds": flows["workflows_parts_seconds"],
        "overhead": flows["overhead"],
        "overhead_enrolling": flows["overhead_enrolling"],
        "overhead_steps": flows["overhead_steps"],
        "overhead_cpu": flows["overhead_cpu"],
        "renew_cpu_seconds_without": plain["renew_cpu_seconds"] + plain["renew_server_cpu_seconds"],
        "renew_cpu_seconds_with": flows["renew_cpu_seconds"] + flows["renew_server_cpu_seconds"],
        "workflows_cpu_seconds": flows["workflows_cpu_seconds"]
        + flows["workflows_server_cpu_seconds"],
        "load": [
            min(flows["renew_load"] + flows["workflows_load"]),
            max(flows["renew_load"] + flows["workflows_load"]),
        ],
        "overhead_without_workflows": plain["overhead"],
        "target": TARGET,
        "met": flows["overhead"] <= TARGET,
        "enrollments": flows["enrollments_made"],
        "enrollments_expected": flows["enrollments_expected"],
        "steps": flows["steps"],
        "passes": len(flows["passes"]),
        "outbox_of_the_day": flows["outbox_of_the_day"],
        "outbox_unread_at_start": flows["outbox_unread_at_start"],
        "renew_rss_peak_kib": flows["renew_rss_peak_kib"],
        "workflows_rss_start_kib": flows["workflows_rss_start_kib"],
        "workflows_rss_peak_kib": flows["workflows_rss_peak_kib"],
        "workflows_rss_peak_kib_without": plain["workflows_rss_peak_kib"],
        "without": plain,
        "with": flows,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'db':<11}{'N':>9}{'renew s':>9}{'+wf renew s':>12}{'wf s':>8}{'overhead':>9}"
        f"{'no-wf s':>8}{'enrolled':>9}{'steps':>7}{'passes':>7}{'wf RSS':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['db']:<11}{r['n']:>9,}{r['renew_seconds_without']:>9.1f}"
            f"{r['renew_seconds_with']:>12.1f}{r['workflows_seconds']:>8.1f}"
            f"{100 * r['overhead']:>8.1f}%{r['workflows_seconds_without']:>8.1f}"
            f"{r['enrollments']:>9,}{r['steps']:>7,}{r['passes']:>7}"
            f"{r['workflows_rss_peak_kib'] / 1024:>6.0f}MB"
        )
        print(
            f"    workflows seconds by part: {r['workflows_parts_seconds']}; overhead of "
            f"enrolling {100 * r['overhead_enrolling']:.1f}%, of steps "
            f"{100 * r['overhead_steps']:.1f}%; in CPU seconds {r['workflows_cpu_seconds']:.1f} / "
            f"{r['renew_cpu_seconds_with']:.1f} = {100 * r['overhead_cpu']:.1f}%; load "
            f"{r['load'][0]:.1f}-{r['load'][1]:.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="subscriptions due today")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_N} subscriptions, SQLite")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg-url", help="PostgreSQL URL (its public schema is DROPPED); default: start one"
    )
    parser.add_argument(
        "--declined", type=float, default=1.0, help="percent of the renewals declined (1)"
    )
    parser.add_argument(
        "--due-soon",
        type=float,
        default=1.0,
        help=f"percent of N more, due in 1-{DUE_IN_DAYS} days (1)",
    )
    parser.add_argument("--profile", choices=("cprofile", "pyinstrument"))
    # Internal: one phase in a child process.
    parser.add_argument(
        "--phase", choices=("prepare", "renew", "workflows"), help=argparse.SUPPRESS
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--declines", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--flows", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        import cadency.models  # noqa: F401  (every table, as the worker and the app load them)

        if args.phase == "prepare":
            out = phase_prepare(args.url, args.n, args.declined, args.due_soon, args.flows)
        elif args.phase == "renew":
            out = phase_renew(args.url, args.n, args.account_id, args.declines)
        else:
            out = phase_workflows(args.url, args.account_id, json.loads(args.expect), args.profile)
        print(json.dumps(out, default=str))
        return 0

    n = SMOKE_N if args.smoke else args.n
    dbs = (
        ["sqlite"] if args.smoke else (["sqlite", "postgresql"] if args.db == "both" else [args.db])
    )
    version = code_version()
    log(f"code: {version}")
    results: list[dict[str, Any]] = []
    pg_base = None
    try:
        for db in dbs:
            if db == "sqlite":
                with tempfile.TemporaryDirectory(prefix="cadency-bench.") as tmp:
                    url = f"sqlite:///{tmp}/workflows.db"
                    result = run_one(db, url, n, args)
                    result["db_version"] = renewals.db_version(url)
            else:
                if args.pg_url is None:
                    args.pg_url, pg_base = start_postgres()
                url = args.pg_url
                result = run_one(db, url, n, args)
                result["db_version"] = renewals.db_version(url)
            results.append(result)
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
        if results:
            print_table(results)
    print(
        json.dumps(
            {
                "benchmark": "workflows",
                "code": version["git_head"],
                "results": [
                    {k: v for k, v in r.items() if k not in ("without", "with")} for r in results
                ],
                "details": [{"without": r["without"], "with": r["with"]} for r in results],
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
