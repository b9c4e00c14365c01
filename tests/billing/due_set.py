"""A live account with N monthly subscriptions whose renewal is due now, bulk-inserted, and the
exactly-once check of a renewal run over them (tests/billing/test_worker_safety.py).

Only live accounts are claimed by the worker, and a live account has no payment processor yet
(the sandbox serves test mode only): the card is saved while the account is still in test mode,
and a live run invoices each period and records one failed charge attempt
("payment_processor_not_configured"), marking nothing paid. A test-mode set (`mode="test"`,
for runs given the account) is charged through the sandbox and paid.

The rows are copies of one subscription made by the real `subscriptions.service.create` (in a
throwaway in-memory database, a test-mode account whose clock stands a month back), so every
column, including ones added later, holds what the service writes. Only the IDs, the owner
(account, contact, card) and `next_action_at` are changed: the renewal is due at the start of
its day, where the live worker finds it after the renewal reminder was sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select
from sqlalchemy.orm import Session

from cadency.accounts import service as accounts
from cadency.catalog.line_items import LineItemInput
from cadency.crm import service as crm
from cadency.crm.schemas import ContactCreate
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit import periods
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.models import Base
from cadency.payments import processor
from cadency.payments import service as payments
from cadency.payments.models import Payment
from cadency.payments.schemas import CardIn, PaymentMethodCreate
from cadency.subscriptions.models import LineItem, Subscription

PRICE = "25.00"
PRICE_MINOR = 2_500
INSERT_BATCH = 5_000
SUCCEEDING_CARD = CardIn(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123")


@dataclass(frozen=True)
class Calendar:
    """Subscriptions started a month ago (their first period invoiced and paid then); the second
    period starts on `renewal_date`, on or before today, and is due at `due_at`."""

    anchor: date
    renewal_date: date
    next_renewal_date: date
    due_at: datetime
    created_at: datetime

    @classmethod
    def today(cls) -> Calendar:
        today = datetime.now(UTC).date()
        anchor = periods.add_months(today, -1)
        renewal = periods.period_start(anchor, "monthly", 1)
        assert renewal <= today, (anchor, renewal, today)
        return cls(
            anchor=anchor,
            renewal_date=renewal,
            next_renewal_date=periods.period_start(anchor, "monthly", 2),
            due_at=periods.start_of_day_utc(renewal, "UTC"),
            created_at=periods.start_of_day_utc(anchor, "UTC") + timedelta(hours=9),
        )


@dataclass(frozen=True)
class DueSet:
    account_id: int
    subscription_ids: frozenset[str]
    calendar: Calendar
    mode: str

    @property
    def paid(self) -> bool:
        """Whether the renewals can be paid: only the sandbox of a test-mode account takes them."""
        return self.mode == "test"


def _template(calendar: Calendar) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One subscription (and its line items) as the real service leaves it after its first
    period was invoiced and paid, as column dicts."""
    from cadency.subscriptions import service as subscriptions
    from cadency.subscriptions.schemas import SubscriptionCreate

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:
            account, _ = accounts.create_account(session, name="Template", mode="test")
            account.clock_now, account.clock_set_at = calendar.created_at, None
            contact = crm.create_contact(session, account, ContactCreate(email="t@example.com"))
            card = payments.attach_payment_method(
                session,
                account,
                contact.id,
                PaymentMethodCreate(type="card", card=SUCCEEDING_CARD),
            )
            made = subscriptions.create(
                session,
                account,
                SubscriptionCreate(
                    contact_id=contact.id,
                    currency="USD",
                    line_items=[
                        LineItemInput(
                            name="Monthly plan", unit_price=PRICE, billing_frequency="monthly"
                        )
                    ],
                    collection_method="charge_automatically",
                    payment_method_id=card.id,
                ),
                allow_custom_items=True,
            )
            session.commit()
            row = dict(
                session.execute(select(Subscription.__table__).where(Subscription.id == made.id))
                .one()
                ._mapping
            )
            items = [
                dict(r._mapping)
                for r in session.execute(
                    select(LineItem.__table__).where(LineItem.subscription_id == made.id)
                )
            ]
    finally:
        engine.dispose()
    # What the copies rely on; if the service changes, this says so before a worker runs.
    expected = {
        "status": "active",
        "periods_billed": 1,
        "payments_completed": 1,
        "billing_anchor": calendar.anchor,
        "next_payment_date": calendar.renewal_date,
        "payment_method_id": card.id,
        "recurring_amount": PRICE_MINOR,
    }
    actual = {key: row[key] for key in expected}
    assert actual == expected, f"the service made a different subscription: {actual}"
    assert len(items) == 1, items
    return row, items


def seed(engine: Engine, n: int, *, name: str = "Worker safety", mode: str = "live") -> DueSet:
    """A new account (live unless `mode` says test) with a sandbox card that succeeds and `n`
    subscriptions due now."""
    calendar = Calendar.today()
    template, template_items = _template(calendar)
    with Session(engine, expire_on_commit=False) as session:
        account, _ = accounts.create_account(session, name=name, mode="test")
        contact = crm.create_contact(
            session, account, ContactCreate(email="worker-safety@example.com")
        )
        card = payments.attach_payment_method(
            session, account, contact.id, PaymentMethodCreate(type="card", card=SUCCEEDING_CARD)
        )
        if mode == "live":  # a card from the sandbox, which no live account can charge
            account.mode, account.clock_now = "live", None
        session.commit()
        account_id, contact_id, card_id = account.id, contact.id, card.id
    ids: list[str] = []
    for offset in range(0, n, INSERT_BATCH):
        rows, items = [], []
        for _ in range(min(INSERT_BATCH, n - offset)):
            sub_id = new_id("sub")
            ids.append(sub_id)
            rows.append(
                {
                    **template,
                    "id": sub_id,
                    "account_id": account_id,
                    "contact_id": contact_id,
                    "payment_method_id": card_id,
                    "next_action_at": calendar.due_at,
                }
            )
            items += [
                {**item, "id": new_id("li"), "account_id": account_id, "subscription_id": sub_id}
                for item in template_items
            ]
        with engine.begin() as conn:
            conn.execute(insert(Subscription), rows)
            conn.execute(insert(LineItem), items)
    return DueSet(
        account_id=account_id, subscription_ids=frozenset(ids), calendar=calendar, mode=mode
    )


def invoice_count(engine: Engine, account_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.account_id == account_id)
            )
            or 0
        )


def still_due(engine: Engine, due: DueSet, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(
                    Subscription.account_id == due.account_id,
                    Subscription.next_action_at <= now,
                )
            )
            or 0
        )


@dataclass
class Outcome:
    """What a renewal run over a due set wrote, for that set's account only."""

    invoices: list[tuple[str, str | None, date | None, str, str, int]] = field(
        default_factory=list
    )  # (id, subscription_id, cycle_period_start, number, status, amount_paid)
    invoice_lines: int = 0
    payments: list[tuple[str, str | None, str | None, str, str, int, str | None]] = field(
        default_factory=list
    )  # (id, invoice_id, subscription_id, status, idempotency_key, amount, failure_reason)
    outbox: Counter[str] = field(default_factory=Counter)
    succeeded_payment_ids_in_outbox: Counter[str] = field(default_factory=Counter)
    subscriptions: list[tuple[str, int, int, date | None, datetime | None]] = field(
        default_factory=list
    )  # (id, periods_billed, payments_completed, next_payment_date, next_action_at)

    def counts(self) -> dict[str, int]:
        return {
            "invoices": len(self.invoices),
            "invoice_lines": self.invoice_lines,
            "payments": len(self.payments),
            "outbox": sum(self.outbox.values()),
        }


def outcome(engine: Engine, account_id: int) -> Outcome:
    result = Outcome()
    with engine.connect() as conn:
        result.invoices = [
            (r.id, r.subscription_id, r.cycle_period_start, r.number, r.status, r.amount_paid)
            for r in conn.execute(
                select(
                    Invoice.id,
                    Invoice.subscription_id,
                    Invoice.cycle_period_start,
                    Invoice.number,
                    Invoice.status,
                    Invoice.amount_paid,
                ).where(Invoice.account_id == account_id)
            )
        ]
        result.invoice_lines = int(
            conn.scalar(
                select(func.count())
                .select_from(InvoiceLine)
                .where(InvoiceLine.account_id == account_id)
            )
            or 0
        )
        result.payments = [
            (
                r.id,
                r.invoice_id,
                r.subscription_id,
                r.status,
                r.idempotency_key,
                r.amount,
                r.failure_reason,
            )
            for r in conn.execute(
                select(
                    Payment.id,
                    Payment.invoice_id,
                    Payment.subscription_id,
                    Payment.status,
                    Payment.idempotency_key,
                    Payment.amount,
                    Payment.failure_reason,
                ).where(Payment.account_id == account_id)
            )
        ]
        for kind, payload in conn.execute(
            select(OutboxMessage.type, OutboxMessage.payload).where(
                OutboxMessage.account_id == account_id
            )
        ):
            result.outbox[kind] += 1
            if kind == "payment.succeeded":
                result.succeeded_payment_ids_in_outbox[payload["payment_id"]] += 1
        result.subscriptions = [
            (r.id, r.periods_billed, r.payments_completed, r.next_payment_date, r.next_action_at)
            for r in conn.execute(
                select(
                    Subscription.id,
                    Subscription.periods_billed,
                    Subscription.payments_completed,
                    Subscription.next_payment_date,
                    Subscription.next_action_at,
                ).where(Subscription.account_id == account_id)
            )
        ]
    return result


def problems(due: DueSet, found: Outcome, now: datetime) -> dict[str, Any]:
    """Everything that is not "each due period invoiced and charged exactly once" (paid, or for
    a live account that no processor serves, one failed attempt and left open): an empty dict
    when the run was right, else a short description (with a few examples) per problem."""
    n = len(due.subscription_ids)
    wrong: dict[str, Any] = {}

    def some(items: Any) -> list[Any]:
        return sorted(items, key=str)[:5]

    invoices_per_sub = Counter(sub for _, sub, _, _, _, _ in found.invoices)
    if len(found.invoices) != n:
        wrong["invoice_count"] = (len(found.invoices), n)
    if set(invoices_per_sub) != due.subscription_ids:
        wrong["subscriptions_not_invoiced"] = some(due.subscription_ids - set(invoices_per_sub))
        wrong["invoices_of_unknown_subscriptions"] = some(
            set(invoices_per_sub) - due.subscription_ids
        )
    doubled = {sub: count for sub, count in invoices_per_sub.items() if count > 1}
    if doubled:
        wrong["subscriptions_invoiced_more_than_once"] = (len(doubled), some(doubled.items()))
    periods_wrong = [row for row in found.invoices if row[2] != due.calendar.renewal_date]
    if periods_wrong:
        wrong["invoices_of_another_period"] = (len(periods_wrong), some(periods_wrong))
    numbers = Counter(row[3] for row in found.invoices)
    if len(numbers) != len(found.invoices):
        wrong["duplicate_invoice_numbers"] = some(k for k, c in numbers.items() if c > 1)
    settled = ("paid", PRICE_MINOR) if due.paid else ("open", 0)
    unsettled = [row for row in found.invoices if (row[4], row[5]) != settled]
    if unsettled:
        wrong["invoices_not_settled_once"] = (settled, len(unsettled), some(unsettled))
    if found.invoice_lines != n:
        wrong["invoice_line_count"] = (found.invoice_lines, n)

    invoice_ids = {row[0] for row in found.invoices}
    outcome = ("succeeded", None) if due.paid else ("failed", processor.NOT_CONFIGURED)
    charged = [row for row in found.payments if (row[3], row[6]) == outcome]
    succeeded = [row for row in found.payments if row[3] == "succeeded"]
    if len(found.payments) != n or len(charged) != n:
        wrong["payment_count"] = {
            "all": len(found.payments),
            outcome[0]: len(charged),
            "want": n,
        }
    per_invoice = Counter(row[1] for row in charged)
    charged_twice = {inv: c for inv, c in per_invoice.items() if c > 1}
    if charged_twice:
        wrong["invoices_charged_twice"] = (len(charged_twice), some(charged_twice))
    if set(per_invoice) != invoice_ids:
        wrong["invoices_without_a_payment"] = some(invoice_ids - set(per_invoice))
        wrong["payments_of_unknown_invoices"] = some(set(per_invoice) - invoice_ids)
    keys = Counter(row[4] for row in found.payments)
    if len(keys) != len(found.payments):
        wrong["duplicate_idempotency_keys"] = some(k for k, c in keys.items() if c > 1)
    # A renewal's charge is keyed by its subscription and period (billing.engine.attempt_key).
    bad_keys = [
        row
        for row in found.payments
        if not (row[4].startswith(f"{row[2]}:") and row[4].endswith(":attempt:1"))
    ]
    if bad_keys:
        wrong["payments_not_first_attempts"] = (len(bad_keys), some(bad_keys))

    for kind in ("payment.succeeded", "payment.failed"):
        want = n if kind == f"payment.{outcome[0]}" else 0
        if found.outbox[kind] != want:
            wrong[f"outbox_{kind}"] = (found.outbox[kind], want)
    if found.outbox["invoice.created"] != n:
        wrong["outbox_invoice_created"] = (found.outbox["invoice.created"], n)
    if set(found.succeeded_payment_ids_in_outbox) != {row[0] for row in succeeded} or any(
        c > 1 for c in found.succeeded_payment_ids_in_outbox.values()
    ):
        wrong["outbox_payment_succeeded_not_one_per_payment"] = some(
            found.succeeded_payment_ids_in_outbox.items()
        )

    if {row[0] for row in found.subscriptions} != due.subscription_ids:
        wrong["subscription_rows"] = (len(found.subscriptions), n)
    counters = (2, 2) if due.paid else (2, 1)  # (periods billed, payments completed)
    not_advanced = [row for row in found.subscriptions if row[1:3] != counters]
    if not_advanced:
        wrong["counters_not_advanced_by_exactly_one"] = (len(not_advanced), some(not_advanced))
    not_moved = [
        row
        for row in found.subscriptions
        if row[3] != due.calendar.next_renewal_date or row[4] is None or row[4] <= now
    ]
    if not_moved:
        wrong["still_due_or_not_rescheduled"] = (len(not_moved), some(not_moved))
    return wrong
