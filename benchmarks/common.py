"""What the benchmarks share: a log line, memory readings, a throwaway PostgreSQL server
(scripts/pg-start; `scripts/pg-stop BASE` stops it), the template subscription whose rows
they copy, and a worker child. Imported as `common` (benchmarks/ is on a script's path)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def is_pg(url: str) -> bool:
    return url.startswith("postgresql")


def rss_now_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def start_postgres() -> tuple[str, str]:
    """Start a server; returns its SQLAlchemy URL and its base directory."""
    base = tempfile.mkdtemp(prefix="cadency-pg-bench.")
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pg-start")],
        env={**os.environ, "CADENCY_PG_BASE": base},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1], base


def template_subscription(
    session: Any,
    account: Any,
    *,
    company_id: str | None = None,
    properties: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """A subscription as the API makes one (the services, not hand-written rows): a contact
    template@example.com, a sandbox card, one monthly line item of 25.00, charged
    automatically. Returns it and its payment method; the benchmarks copy its rows."""
    from cadency.catalog.line_items import LineItemInput
    from cadency.crm import service as crm
    from cadency.crm.schemas import ContactCreate
    from cadency.payments import service as payments
    from cadency.payments.schemas import CardIn, PaymentMethodCreate
    from cadency.subscriptions import service as subscriptions
    from cadency.subscriptions.schemas import SubscriptionCreate

    contact = crm.create_contact(
        session, account, ContactCreate(email="template@example.com", first_name="Template")
    )
    card = CardIn(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123")
    method = payments.attach_payment_method(
        session, account, contact.id, PaymentMethodCreate(type="card", card=card)
    )
    extra: dict[str, Any] = {}
    if company_id is not None:
        extra["company_id"] = company_id
    if properties is not None:
        extra["properties"] = properties
    template = subscriptions.create(
        session,
        account,
        SubscriptionCreate(
            contact_id=contact.id,
            currency="USD",
            line_items=[
                LineItemInput(name="Template", unit_price="25.00", billing_frequency="monthly")
            ],
            collection_method="charge_automatically",
            payment_method_id=method.id,
            **extra,
        ),
        allow_custom_items=True,
    )
    return template, method


def start_postgres_at(base: str) -> str:
    """Start a server whose files live in `base` (which must hold no cluster yet); returns its
    SQLAlchemy URL. `scripts/pg-stop BASE` stops it."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pg-start")],
        env={**os.environ, "CADENCY_PG_BASE": base},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def cpu_model() -> str:
    """The processor's name, for the machine line of a report."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def percentile(values: list[float], share: float) -> float:
    """The value at `share` (0.95: p95) of the sorted values, the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    url: str, tmp: Path, *, workers: int = 1, engine: bool = False
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The real `cadency serve` on a free loopback port, with a limit per API key far above what
    a benchmark sends (no 429s); `engine`: the main process also runs the billing engine and
    deliveries, as in production. Returns the process, its base URL and its log file, once
    every serving process answers."""
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CADENCY_DATABASE_URL": url,
        "CADENCY_BASE_URL": base,
        "CADENCY_API_LIMIT_PER_KEY": "100000000 per minute",
        "CADENCY_FILES_DIR": str(tmp / "files"),
        "CADENCY_ENCRYPTION_KEY_FILE": str(tmp / "encryption.key"),
    }
    command = [sys.executable, "-m", "cadency.cli", "serve", "--workers", str(workers)]
    command += ["--port", str(port)] + ([] if engine else ["--no-worker"])
    log_path = tmp / "server.log"
    with open(log_path, "wb") as out:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            stop_server(server)
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the server did not start:\n{tail}")
        time.sleep(0.2)
    if workers > 1:
        time.sleep(1.0)  # every serving process answers (uvicorn starts them together)
    return server, base, log_path


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


READY, GO = "ready", "go"


class Child:
    """A benchmark script run again as a worker (`SCRIPT --child --url URL`) in a fresh
    interpreter: it prints READY once set up, then (if `waits_for_go`) waits for GO on its
    stdin, and prints its figures as its last line of JSON. Its stderr goes to a file, shown
    when it fails."""

    def __init__(
        self, script: Path, url: str, directory: Path, name: str, *, waits_for_go: bool = False
    ) -> None:
        self.stderr_path = directory / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(script), "--child", "--url", url],
                cwd=ROOT,
                stdin=subprocess.PIPE if waits_for_go else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def wait_ready(self) -> float:
        """The moment it said READY."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != READY:
            self.process.wait()
            raise SystemExit(f"worker child did not start ({line!r}):\n{self.stderr()}")
        return time.monotonic()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(GO + "\n")
        self.process.stdin.close()
        self.process.stdin = None  # closed: communicate() must not flush it

    def finish(self, timeout: float) -> dict[str, Any]:
        stdout, _ = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise SystemExit(f"worker child exited {self.process.returncode}:\n{self.stderr()}")
        return dict(json.loads(stdout.strip().splitlines()[-1]))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]
