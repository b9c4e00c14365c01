"""Benchmark: webhook deliveries to a real receiver on loopback that answers after a delay.

    uv run python benchmarks/webhooks.py --n 3000 --db both            # 20 ms receiver
    uv run python benchmarks/webhooks.py --n 3000 --db sqlite --latency-ms 50 --senders 16
    uv run python benchmarks/webhooks.py --smoke                        # 60 deliveries, SQLite

For each database:

1. a fresh database (SQLite: a file in a temp dir; PostgreSQL: a throwaway server from
   scripts/pg-start, or `--pg-url`), migrated to the head;
2. one test-mode account with one webhook endpoint (`webhooks.service.create_endpoint`) for
   every event type, pointing at the receiver: a separate process (so its work does not share
   this interpreter), a threading HTTP server that sleeps `--latency-ms` before each 200 and
   verifies every request's signature with the `standardwebhooks` package;
3. phase "publish": N outbox messages (`subscription.updated` of one subscription made by the
   subscriptions service) made public by `webhooks.service.publish` — each renders the
   subscription as the API shows it and makes one delivery; timed;
4. phase "deliver": `webhooks.service.deliver_due` until nothing is due (the worker's webhook
   lane does the same), timed. Then checks, or the script exits 1: the receiver got N
   requests, every one verified, N distinct event IDs; every delivery succeeded after one
   attempt; a second pass sends nothing.

The last line of stdout is one JSON object with every figure. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# benchmarks/ is on the path of a script run from it
from common import log, start_postgres, template_subscription

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMOKE_N = 60


# --- the receiver (its own process) -----------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # Set before it listens: the default backlog of 5 resets a burst of new connections.
    request_queue_size = 128


def receive(latency_ms: float, secret: str) -> None:
    """Serve on a free loopback port (printed first), verify each POST, answer 200 after the
    delay; GET /stats answers the counts so far."""
    from standardwebhooks import Webhook

    verifier = Webhook(secret)
    lock = threading.Lock()
    stats: dict[str, Any] = {"received": 0, "verified": 0, "ids": set()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer in one segment, sent at once: headers and body written apart, on a kept
        # connection, would wait for the sender's delayed ACK (Nagle), 40 ms a request.
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verifier.verify(body, headers)
                good = True
            except Exception:
                good = False
            with lock:
                stats["received"] += 1
                stats["verified"] += good
                stats["ids"].add(headers.get("webhook-id"))
            time.sleep(latency_ms / 1000)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(
                    {
                        "received": stats["received"],
                        "verified": stats["verified"],
                        "distinct_ids": len(stats["ids"]),
                    }
                ).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class Receiver:
    def __init__(self, latency_ms: float, secret: str) -> None:
        command = [
            sys.executable, str(Path(__file__).resolve()), "--receiver",
            "--latency-ms", str(latency_ms), "--secret", secret,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        import httpx

        found: dict[str, int] = httpx.get(self.url + "/stats", timeout=10).json()
        return found

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


# --- the run ----------------------------------------------------------------------------------


def run_one(db: str, url: str, n: int, latency_ms: float, senders: int) -> dict[str, Any]:
    from sqlalchemy import func, insert, select

    from cadency.accounts import service as accounts
    from cadency.config import Settings
    from cadency.kit import clock, migrate
    from cadency.kit.db import make_engine, make_session_factory
    from cadency.kit.events import EventType
    from cadency.kit.ids import new_id
    from cadency.kit.outbox import OutboxMessage
    from cadency.webhooks import service
    from cadency.webhooks.models import WebhookDelivery

    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    settings = Settings(database_url=url, base_url="http://127.0.0.1:8000", smtp_url=None)
    links = service.Links(settings.base_url, settings)
    now = clock.real_now()
    with factory() as session:
        account, _key = accounts.create_account(session, name="Webhook benchmark")
        template, _method = template_subscription(session, account)
        subscription_id = template.id
        endpoint = service.create_endpoint(
            session,
            account,
            url="http://127.0.0.1:9/",  # replaced below, once the receiver listens
            enabled_events=["*"],
            description="benchmark",
            allow_private=True,
            now=now,
        )
        secret = service.secret(session, endpoint)
        session.commit()
        account_id, endpoint_id = account.id, endpoint.id
    receiver = Receiver(latency_ms, secret)
    try:
        with factory() as session:
            found = service.get_endpoint(session, account_id, endpoint_id)
            found.url = receiver.url + "/hook"
            # The outbox of this benchmark only: what making the account and subscription
            # queued is published first, untimed.
            session.commit()
            service.run(factory, links, allow_private=True, account_id=account_id)
            baseline = receiver.stats()["received"]
            rows = [
                {
                    "id": new_id("evt"),
                    "account_id": account_id,
                    "type": EventType.SUBSCRIPTION_UPDATED,
                    "dedup_key": f"{account_id}:bench:{i}",
                    "subscription_id": subscription_id,
                    "payload": {
                        "subscription_id": subscription_id,
                        "changes": {"name": {"from": f"Name {i}", "to": f"Name {i + 1}"}},
                    },
                    "created_at": now,
                    "attempts": 0,
                }
                for i in range(n)
            ]
            session.execute(insert(OutboxMessage), rows)
            session.commit()

        log(f"{db}: publishing {n:,} events")
        started = time.perf_counter()
        published = 0
        while True:
            with factory() as session:
                taken = service.publish(session, links)
            if not taken:
                break
            published += taken
        publish_seconds = time.perf_counter() - started

        log(f"{db}: delivering {n:,} events ({senders} senders, {latency_ms:g} ms receiver)")
        started = time.perf_counter()
        attempts = service.deliver_due(
            factory, allow_private=True, account_id=account_id, senders=senders
        )
        deliver_seconds = time.perf_counter() - started
        again = service.deliver_due(factory, allow_private=True, account_id=account_id)
        stats = receiver.stats()
        with factory() as session:
            statuses = dict(
                session.execute(
                    select(WebhookDelivery.status, func.count())
                    .where(WebhookDelivery.account_id == account_id)
                    .group_by(WebhookDelivery.status)
                ).all()
            )
            errors = sorted(
                {
                    str(e)
                    for e in session.scalars(
                        select(WebhookDelivery.error).where(
                            WebhookDelivery.account_id == account_id,
                            WebhookDelivery.status != "succeeded",
                        )
                    )
                }
            )[:5]
            max_attempt = session.scalar(
                select(func.max(WebhookDelivery.attempt)).where(
                    WebhookDelivery.account_id == account_id
                )
            )
    finally:
        receiver.stop()
        engine.dispose()

    received = stats["received"] - baseline
    checks = {
        "received": received,
        "verified": stats["verified"] - baseline,
        "distinct_ids": stats["distinct_ids"] - baseline,
        "succeeded": statuses.get("succeeded", 0) - baseline,
        "not_succeeded": sum(v for k, v in statuses.items() if k != "succeeded"),
        "max_attempt": max_attempt,
        "second_pass_sent": again,
        "errors": errors,
    }
    ok = (
        published == n
        and attempts == n
        and checks["received"] == checks["verified"] == checks["distinct_ids"] == n
        and checks["succeeded"] == n
        and checks["not_succeeded"] == 0
        and max_attempt == 1
        and again == 0
    )
    result = {
        "db": db,
        "n": n,
        "latency_ms": latency_ms,
        "senders": senders,
        "publish_seconds": publish_seconds,
        "published_per_s": n / publish_seconds if publish_seconds else 0.0,
        "deliver_seconds": deliver_seconds,
        "deliveries_per_s": n / deliver_seconds if deliver_seconds else 0.0,
        "ceiling_per_s": senders * 1000 / latency_ms if latency_ms else None,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "checks": checks,
        "ok": ok,
    }
    log(
        f"{db}: published {result['published_per_s']:,.0f}/s, delivered "
        f"{result['deliveries_per_s']:,.0f}/s; checks {'ok' if ok else 'FAILED'}: {checks}"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", help="an existing PostgreSQL database (it is migrated)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=None, help="default: the service's")
    parser.add_argument("--smoke", action="store_true")
    # Internal: the receiver's process.
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receive(args.latency_ms, args.secret)
        return 0
    # A failed attempt is logged by the service: the reason shows on stderr.
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("cadency.webhooks").setLevel(logging.INFO)
    from cadency.webhooks import service

    n = SMOKE_N if args.smoke else args.n
    senders = args.senders or service.SENDERS
    dbs = (
        ["sqlite"] if args.smoke else (["sqlite", "postgresql"] if args.db == "both" else [args.db])
    )
    results = []
    pg_base = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for db in dbs:
                if db == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'webhooks.db'}"
                elif args.pg_url:
                    url = args.pg_url
                else:
                    url, pg_base = start_postgres()
                results.append(run_one(db, url, n, args.latency_ms, senders))
    finally:
        if pg_base is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg-stop"), pg_base], check=False)
    code = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(json.dumps({"benchmark": "webhooks", "code": code, "results": results}))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
