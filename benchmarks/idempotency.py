"""Benchmark: immediate replays of an `Idempotency-Key` against a real server.

    uv run python benchmarks/idempotency.py [--clients 8] [--requests 20] [--pg-url URL] [--crash]

Starts `cadency serve --no-worker` on a free loopback port over a fresh SQLite file (or the
given PostgreSQL database, schema dropped), creates a test-mode account with `cadency accounts
create`, then runs `--clients` concurrent clients; each sends `--requests` times a POST
/products with a new key and, as soon as the answer arrives, the same request again. A correct
replay has the first answer's status and body and `Idempotent-Replayed: true`; the script counts
the replays that got a 409 "in progress" instead, any other mismatch, and the products made per
key (must be one). With `--crash` it then kills the server with SIGKILL under load, restarts it
and retries the requests that were cut: at once (409 "in progress" is right: the lease has not
run out) and again after the claim lease: each must now run (200), replay its recorded answer,
or — when the kill came after its effect was committed but before the answer was recorded —
answer 409 "carried out"; none may make its product twice.
Not part of the test suite; the last line is a JSON summary (benchmarks/README.md has the
measured numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from common import free_port
from sqlalchemy import text

from cadency.kit.db import make_engine
from cadency.kit.idempotency import CLAIM_LEASE

ROOT = Path(__file__).resolve().parent.parent


Cut = list[tuple[str, dict[str, str]]]  # (Idempotency-Key, body) of requests the kill cut


def product(number: int, i: int) -> dict[str, str]:
    return {"name": f"Replay {number}-{i}", "unit_price": "12.50", "billing_frequency": "monthly"}


async def client(base: str, key: str, number: int, requests: int, counts: dict[str, int]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        for i in range(requests):
            body = product(number, i)
            extra = {"Idempotency-Key": f"bench-{number}-{i}"}
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


async def until_killed(base: str, key: str, number: int, cut: Cut) -> None:
    """POST new products until the server dies; keeps the (key, body) of the cut request."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        for i in range(1_000_000):
            body = product(100 + number, i)
            idempotency_key = f"crash-{number}-{i}"
            try:
                await http.post(
                    "/api/v1/products", json=body, headers={"Idempotency-Key": idempotency_key}
                )
            except httpx.TransportError:
                cut.append((idempotency_key, body))
                return


async def retry(base: str, key: str, cut: Cut) -> list[str]:
    """The answers to the cut requests sent again: "200", "409 in progress", "409 carried out"."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        answers = await asyncio.gather(
            *(
                http.post("/api/v1/products", json=body, headers={"Idempotency-Key": k})
                for k, body in cut
            )
        )
    return [
        str(answer.status_code)
        if answer.status_code != 409
        else "409 carried out"
        if "carried out" in answer.json()["error"]["message"]
        else "409 in progress"
        for answer in answers
    ]


class ServerExited(Exception):
    """The server process ended before it answered (its port was taken meanwhile, say)."""


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`cadency serve` on `port`, once it answers; its output goes to `log`."""
    with open(log, "ab") as out:
        server = subprocess.Popen(
            # One serving process, as measured (its --crash mode kills that process).
            [
                sys.executable,
                "-m",
                "cadency.cli",
                "serve",
                "--no-worker",
                "--workers",
                "1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    # Generous: on a loaded machine (the test suite runs the smoke runs side by side) a start
    # takes seconds.
    deadline = time.monotonic() + 180
    while True:
        if server.poll() is not None:
            raise ServerExited(log.read_text(errors="replace")[-2000:])
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.kill()
                output = log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"the server did not answer in 180 s:\n{output}") from None
            time.sleep(0.2)


def start_on_a_free_port(
    env: dict[str, str], key: str, log: Path
) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """The server on a port nothing listened on, and its base URL and environment. Between
    choosing the port and binding it another process may take it: then the server exits, or
    (if that process serves HTTP too) our key is not known there; either way, another port."""
    for _attempt in range(5):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        served = {**env, "CADENCY_BASE_URL": base}
        try:
            server = start_server(port, served, log)
        except ServerExited:
            continue
        ours = httpx.get(f"{base}/api/v1/products", headers={"Authorization": f"Bearer {key}"})
        if ours.status_code == 200 and server.poll() is None:
            return server, base, served
        server.kill()
        server.wait()
    raise SystemExit(f"the server did not start:\n{log.read_text(errors='replace')[-2000:]}")


async def crash(base: str, key: str, clients: int) -> Cut:
    cut: Cut = []
    await asyncio.gather(*(until_killed(base, key, n, cut) for n in range(clients)))
    return cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20, help="POST + replay pairs per client")
    parser.add_argument("--pg-url", help="a PostgreSQL URL to use (its schema is dropped)")
    parser.add_argument(
        "--crash",
        action="store_true",
        help="also kill -9 the server under load, restart it and retry the cut requests at once "
        "and again after the claim lease",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (2 clients x 3 pairs) that checks the benchmark still works",
    )
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.requests = 2, 3

    summary: dict[str, Any] = {
        "database": "postgresql" if args.pg_url else "sqlite",
        "clients": args.clients,
    }
    with tempfile.TemporaryDirectory() as directory:
        url = args.pg_url or f"sqlite:///{directory}/cadency.db"
        if args.pg_url:
            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        env = {**os.environ, "CADENCY_DATABASE_URL": url}
        log = Path(directory) / "server.log"
        created = subprocess.run(
            [sys.executable, "-m", "cadency.cli", "accounts", "create", "--name", "Bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = json.loads(created.stdout.strip().splitlines()[-1])["api_key"]
        server, base, env = start_on_a_free_port(env, key, log)
        try:
            started = time.perf_counter()
            summary.update(asyncio.run(run(base, key, args.clients, args.requests)))
            summary["seconds"] = round(time.perf_counter() - started, 1)
            if args.crash:
                threading.Timer(2.0, server.send_signal, (signal.SIGKILL,)).start()
                cut = asyncio.run(crash(base, key, args.clients))
                server.wait(timeout=30)
                # The same port: the cut requests are retried where they were sent.
                server = start_server(int(base.rsplit(":", 1)[1]), env, log)
                at_once = asyncio.run(retry(base, key, cut))
                time.sleep(CLAIM_LEASE.total_seconds() + 2)
                after_lease = asyncio.run(retry(base, key, cut))
                summary["cut_by_kill_9"] = len(cut)
                summary["retried_at_once"] = Counter(at_once)
                summary["retried_after_lease"] = Counter(after_lease)
        finally:
            server.terminate()
            server.wait(timeout=30)
        engine = make_engine(url)
        with engine.connect() as conn:
            products: dict[str, int] = {
                name: count
                for name, count in conn.execute(
                    text("SELECT name, count(*) FROM products GROUP BY name")
                )
            }
        engine.dispose()
    replayed = [f"Replay {n}-{i}" for n in range(args.clients) for i in range(args.requests)]
    summary["products_made_once"] = sum(products.get(name) == 1 for name in replayed)
    summary["expected_products"] = len(replayed)
    if args.crash:
        summary["cut_products_made_twice"] = sum(
            products.get(body["name"], 0) > 1 for _key, body in cut
        )
    print(json.dumps(summary))  # the last line: tests/test_benchmarks_smoke.py reads it


if __name__ == "__main__":
    main()
