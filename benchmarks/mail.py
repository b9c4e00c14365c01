"""Benchmark: the email dispatcher delivering N outbox messages to a local SMTP server.

    uv run python benchmarks/mail.py                       # 10,000 messages, SQLite
    uv run python benchmarks/mail.py --n 10000 --admins 1  # + a super admin's payment notice
    uv run python benchmarks/mail.py --database-url postgresql+psycopg://…  # an empty database

1. a fresh database (SQLite: a file in a temp dir), migrated;
2. a test-mode account with S subscriptions (default 100) made through the REST API, each
   charged a first time, so each has a real invoice, payment and `payment.succeeded` event;
   those events are delivered (untimed) to warm up, then N more `payment.succeeded` outbox
   rows are bulk-inserted, copies of those events over the same records (so every one renders
   a full receipt: invoice lines, totals, period, in the buyer's language);
3. TIMED: one `Dispatcher.run` over the account, sending each batch over a few SMTP
   connections at once (the dispatcher's `SMTP_CONNECTIONS`) to an aiosmtpd server on loopback (its handler only counts), with every delivery recorded;
4. checks: the server got exactly N * (1 + admins) messages, every delivery is `sent` after one
   attempt, every outbox row is delivered, and a second run (a restarted dispatcher) sends
   nothing.

Prints outbox messages/s and emails/s, then one JSON line. `--smoke` is a run of seconds
(tests/test_benchmarks_smoke.py). Not part of the test suite; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402


class CountingHandler:
    """The SMTP server's handler: accepts and counts, so the client side is what is timed."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def serve_smtp(port: int) -> None:
    """The child process: an aiosmtpd server that answers each line on stdin with the number
    of messages it has received (a process of its own, so it does not share the GIL with the
    dispatcher being timed)."""
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        for _line in sys.stdin:
            print(handler.count, flush=True)
    finally:
        controller.stop()


if __name__ == "__main__" and "--serve-smtp" in sys.argv:
    # The SMTP server child needs none of Cadency: it starts before Cadency is imported
    # (seconds of start-up, and memory, that would only be the benchmark's own overhead).
    serve_smtp(int(sys.argv[sys.argv.index("--serve-smtp") + 1]))
    raise SystemExit(0)

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402

from cadency.accounts import service as account_service  # noqa: E402
from cadency.accounts.models import Account  # noqa: E402
from cadency.config import Settings  # noqa: E402
from cadency.invoices.documents import render_invoice_pdf  # noqa: E402
from cadency.invoices.models import Invoice  # noqa: E402
from cadency.kit import migrate  # noqa: E402
from cadency.kit.db import make_engine, make_session_factory  # noqa: E402
from cadency.kit.ids import new_id  # noqa: E402
from cadency.kit.outbox import OutboxMessage  # noqa: E402
from cadency.notifications.dispatcher import Dispatcher  # noqa: E402
from cadency.notifications.models import EmailDelivery  # noqa: E402
from cadency.web.app import create_app  # noqa: E402


class SmtpServerProcess:
    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-smtp", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(client: TestClient, key: str, subscriptions: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(f"/api/v1{path}", json=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    for index in range(subscriptions):
        contact = post("/contacts", {"email": f"buyer{index}@example.com", "first_name": "Ann"})
        method = post(
            f"/contacts/{contact['id']}/payment-methods",
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2045,
                    "cvc": "123",
                },
            },
        )
        post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "currency": "EUR",
                "line_items": [
                    {"name": "Coffee club", "unit_price": "19.50", "billing_frequency": "monthly"}
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": method["id"],
                "invoice_settings": {"language": ("en", "nl", "da", "de")[index % 4]},
            },
        )


def pdf_timing(factory: Any, account_id: int, count: int) -> dict[str, Any]:
    """Render one of the account's invoices as a PDF `count` times (after one warm-up that
    loads fonts): the time one invoice document takes, as attached to an email."""
    with factory() as session:
        account = session.get(Account, account_id)
        invoice = session.scalars(
            select(Invoice).where(Invoice.account_id == account_id).limit(1)
        ).one()
        render_invoice_pdf(session, account, invoice)
        times = []
        size = 0
        for _ in range(count):
            started = time.perf_counter()
            size = len(render_invoice_pdf(session, account, invoice))
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return {
        "renders": count,
        "p50_ms": statistics.median(times),
        "p95_ms": p95,
        "kib": size / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="outbox messages to deliver")
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--admins", type=int, default=0, help="super admins (payment notices)")
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    parser.add_argument("--profile", help="write a cProfile of the timed run to this file")
    parser.add_argument("--pdfs", type=int, default=30, help="invoice PDFs to render, timed")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (40 messages over 4 subscriptions, one admin, one PDF) that checks the "
        "benchmark still works",
    )
    parser.add_argument("--serve-smtp", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.n, args.subscriptions, args.admins, args.pdfs = 40, 4, 1, 1
    if args.serve_smtp:
        serve_smtp(args.serve_smtp)
        return

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/mail.db"
        migrate.upgrade(url)
        port = free_port()
        server = SmtpServerProcess(port)
        settings = Settings(url, "http://127.0.0.1:8000", f"smtp://127.0.0.1:{port}")
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            with factory() as session:
                account, key = account_service.create_account(
                    session, name="Benchmark shop", currency="EUR"
                )
                for index in range(args.admins):
                    account_service.create_user(
                        session, account, email=f"admin{index}@shop.test", password="p" * 12
                    )
                session.commit()
                account_id = account.id
            app = create_app(settings, engine=engine, migrate_db=False)
            with TestClient(app) as client:
                seed(client, key, args.subscriptions)
            with factory() as session:  # the seed's own events, delivered untimed (warm-up)
                Dispatcher(settings).run(session, account_id=account_id)
                templates = list(
                    session.scalars(
                        select(OutboxMessage).where(
                            OutboxMessage.account_id == account_id,
                            OutboxMessage.type == "payment.succeeded",
                        )
                    )
                )
                before = server.received()
                created = templates[0].created_at
                rows = []
                for index in range(args.n):
                    template = templates[index % len(templates)]
                    rows.append(
                        {
                            "id": new_id("evt"),
                            "account_id": account_id,
                            "type": template.type,
                            "dedup_key": f"{account_id}:bench:{index}",
                            "subscription_id": template.subscription_id,
                            "payload": {**template.payload, "first_payment": False},
                            "created_at": created,
                            "attempts": 0,
                        }
                    )
                for start in range(0, len(rows), 5_000):
                    session.execute(insert(OutboxMessage), rows[start : start + 5_000])
                session.commit()

            with factory() as session:
                profiler = cProfile.Profile() if args.profile else None
                started = time.perf_counter()
                if profiler:
                    profiler.enable()
                summary = Dispatcher(settings).run(session, account_id=account_id)
                elapsed = time.perf_counter() - started
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)

            expected = args.n * (1 + args.admins)
            with factory() as session:
                undelivered = session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.account_id == account_id, OutboxMessage.delivered_at.is_(None)
                    )
                )
                not_sent_once = session.scalar(
                    select(func.count())
                    .select_from(EmailDelivery)
                    .where(
                        EmailDelivery.account_id == account_id,
                        (EmailDelivery.status != "sent") | (EmailDelivery.attempts != 1),
                    )
                )
                again = Dispatcher(settings).run(session, account_id=account_id)
                # A restart after a crash: rows undelivered again, deliveries already sent.
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.account_id == account_id)
                    .values(delivered_at=None)
                )
                session.commit()
                restarted = Dispatcher(settings).run(session, account_id=account_id)
            checks = {
                "server received": (server.received() - before, expected),
                "dispatcher sent": (summary.sent, expected),
                "undelivered outbox rows": (undelivered, 0),
                "deliveries not sent exactly once": (not_sent_once, 0),
                "second run sent": (again.sent, 0),
                "restarted run sent": (restarted.sent, 0),
            }
            failed = {name: got for name, got in checks.items() if got[0] != got[1]}
            database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            print(
                f"{database}: {args.n:,} outbox messages, {summary.sent:,} emails in "
                f"{elapsed:.2f} s = {args.n / elapsed:,.0f} messages/s, "
                f"{summary.sent / elapsed:,.0f} emails/s"
            )
            for name, (got, want) in checks.items():
                print(f"  {name}: {got} (expected {want})")
            pdf = pdf_timing(factory, account_id, args.pdfs) if args.pdfs else None
            if pdf:
                print(
                    f"invoice PDF: {pdf['renders']} renders, p50 {pdf['p50_ms']:.0f} ms, "
                    f"p95 {pdf['p95_ms']:.0f} ms, {pdf['kib']:.0f} KiB"
                )
            if failed:
                raise SystemExit(f"FAILED checks: {failed}")
            # The last line is machine-readable (tests/test_benchmarks_smoke.py reads it).
            print(
                json.dumps(
                    {
                        "benchmark": "mail",
                        "database": database,
                        "messages": args.n,
                        "emails": summary.sent,
                        "seconds": elapsed,
                        "messages_per_s": args.n / elapsed,
                        "emails_per_s": summary.sent / elapsed,
                        "checks": {name: got for name, (got, _want) in checks.items()},
                        "pdf": pdf,
                    }
                )
            )
        finally:
            server.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
