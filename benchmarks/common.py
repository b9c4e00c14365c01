"""What the benchmarks share: a log line, memory readings, a throwaway PostgreSQL server
(scripts/pg-start; `scripts/pg-stop BASE` stops it) and the template subscription whose rows
they copy. Imported as `common` (benchmarks/ is on a script's path)."""

from __future__ import annotations

import os
import resource
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
