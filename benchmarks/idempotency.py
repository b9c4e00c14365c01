"""Benchmark: immediate replays of an `Idempotency-Key` against a real server.

    uv run python benchmarks/idempotency.py [--clients 8] [--requests 20] [--pg-url URL]

Starts `cadency serve --no-worker` on a free loopback port over a fresh SQLite file (or the
given PostgreSQL database, schema dropped), creates a test-mode account with `cadency accounts
create`, then runs `--clients` concurrent clients; each sends `--requests` times a POST
/products with a new key and, as soon as the answer arrives, the same request again. A correct
replay has the first answer's status and body and `Idempotent-Replayed: true`; the script counts
the replays that got a 409 "in progress" instead, any other mismatch, and the products made per
key (must be one). Not part of the test suite; the last line is a JSON summary (see
benchmarks/README.md for the measured numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from cadency.kit.db import make_engine

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def client(base: str, key: str, number: int, requests: int, counts: dict[str, int]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        for i in range(requests):
            body = {
                "name": f"Replay {number}-{i}",
                "unit_price": "12.50",
                "billing_frequency": "monthly",
            }
            extra = {"Idempotency-Key": f"bench-{number}-{i}-{time.time_ns()}"}
            first = await http.post("/api/v1/products", json=body, headers=extra)
            replay = await http.post("/api/v1/products", json=body, headers=extra)
            counts["replays"] += 1
            if replay.status_code == 409:
                counts["replays_409"] += 1
            elif (
                replay.status_code != first.status_code
                or replay.content != first.content
                or replay.headers.get("idempotent-replayed") != "true"
            ):
                counts["replays_mismatched"] += 1


async def run(base: str, key: str, clients: int, requests: int) -> dict[str, int]:
    counts = {"replays": 0, "replays_409": 0, "replays_mismatched": 0}
    await asyncio.gather(*(client(base, key, n, requests, counts) for n in range(clients)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20, help="POST + replay pairs per client")
    parser.add_argument("--pg-url", help="a PostgreSQL URL to use (its schema is dropped)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        url = args.pg_url or f"sqlite:///{directory}/cadency.db"
        if args.pg_url:
            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        port = free_port()
        env = {**os.environ, "CADENCY_DATABASE_URL": url}
        env["CADENCY_BASE_URL"] = f"http://127.0.0.1:{port}"
        created = subprocess.run(
            [sys.executable, "-m", "cadency.cli", "accounts", "create", "--name", "Bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = json.loads(created.stdout.strip().splitlines()[-1])["api_key"]
        server = subprocess.Popen(
            [sys.executable, "-m", "cadency.cli", "serve", "--no-worker", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/openapi.json", timeout=5)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            started = time.perf_counter()
            counts = asyncio.run(run(base, key, args.clients, args.requests))
            seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        engine = make_engine(url)
        with engine.connect() as conn:
            products = conn.execute(text("SELECT count(*) FROM products")).scalar_one()
        engine.dispose()
    summary = {
        "database": "postgresql" if args.pg_url else "sqlite",
        "clients": args.clients,
        **counts,
        "products": products,
        "expected_products": args.clients * args.requests,
        "seconds": round(seconds, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
