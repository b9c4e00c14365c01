"""Renewals in bulk: the common case of a billing run — an active subscription whose next period
is due and nothing else, charged to a card — written with a handful of statements per batch
instead of a dozen round trips per subscription.

The rules are the engine's own: the same invoice values (`billing.invoicing`), the same
idempotency keys, events and outbox messages, the same wake-up (`planner.wake_at`). A charge
that does not succeed at once is handed to the per-subscription engine with its result, so
dunning works exactly as it does there and nothing is charged twice. Anything unusual about a
subscription (a trial, a cancellation or plan change due, an open or processing payment, more
than one period due, a bank debit) sends it down the full path instead.

Invoice numbers are taken last, as one block (`invoicing.take_numbers`): the number lock on the
account is held from there to the commit, so the charges and the building of the rows, the slow
part, run while other workers renew the same account's other subscriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import engine, invoicing, ledger, payloads, planner
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit import money, periods
from cadency.kit.db import Base
from cadency.kit.events import WORKFLOW_TRIGGER_EVENTS, EventType
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.payments import processor
from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions.models import Subscription, SubscriptionEvent

# An invoice's number until the batch takes its block of numbers; never written.
UNNUMBERED = ""


def renew(
    session: Session, account: Account, subscriptions: Sequence[Subscription], now: datetime
) -> set[str]:
    """Renew what qualifies among `subscriptions` (line items loaded); returns their IDs. The
    others are left untouched for the per-subscription engine."""
    today = periods.local_date(now, account.timezone)
    due = {
        s.id: period for s in subscriptions if (period := planner.plain_renewal(s, account, today))
    }
    plain = [s for s in subscriptions if s.id in due]
    if not plain:
        return set()
    ids = [s.id for s in plain]
    busy = set(
        session.scalars(
            select(Invoice.subscription_id).where(
                Invoice.subscription_id.in_(ids), Invoice.status == "open"
            )
        )
    ) | set(
        session.scalars(
            select(Payment.subscription_id).where(
                Payment.subscription_id.in_(ids), Payment.status == "processing"
            )
        )
    )
    billed = set(
        session.execute(
            select(Invoice.subscription_id, Invoice.cycle_period_start).where(
                Invoice.subscription_id.in_(ids),
                Invoice.cycle_period_start.in_({s.next_payment_date for s in plain}),
            )
        )
    )
    plain = [s for s in plain if s.id not in busy and (s.id, s.next_payment_date) not in billed]
    methods = {
        m.id: m
        for m in session.scalars(
            select(PaymentMethod).where(
                PaymentMethod.id.in_({s.payment_method_id for s in plain}),
                PaymentMethod.type == "card",
            )
        )
    }
    plain = [s for s in plain if s.payment_method_id in methods]
    if not plain:
        return set()
    rates = invoicing.tax_rates(session, [item for s in plain for item in s.line_items])
    languages = invoicing.contact_languages(session, plain)

    invoices: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []
    paid: list[dict[str, Any]] = []
    declined: list[tuple[Subscription, str, processor.ChargeResult]] = []
    # Per invoice: its subscription, and its payment's ID when the charge succeeded.
    issued: list[tuple[Subscription, str | None]] = []
    done: set[str] = set()

    # First everything that needs no invoice number, the charges above all (a real processor
    # is a network call): the account row is not locked yet, so other workers renewing this
    # account's other subscriptions are not held up.
    for sub in plain:
        period = due[sub.id]
        values, invoice_lines = invoicing.period_invoice_values(
            account,
            sub,
            period,
            first=False,
            now=now,
            number=UNNUMBERED,
            rates=rates,
            contact_language=languages.get(sub.contact_id or ""),
        )
        invoices.append(values)
        lines += invoice_lines
        ledger.period_billed(sub, period, now)
        invoice_id, amount = values["id"], values["total"]
        if amount == 0:  # nothing to charge (a free plan): paid as issued, as the engine does
            paid.append(_paid(invoice_id, 0, 0, now))
            sub.next_action_at = planner.wake_at(sub, account, today, (), ())
            issued.append((sub, None))
            done.add(sub.id)
            continue
        method = methods[sub.payment_method_id or ""]
        key = engine.attempt_key(invoice_id, sub.id, period.start, 1)
        result = processor.charge(account, method, amount, sub.currency, key)
        if result.status != "succeeded":
            declined.append((sub, invoice_id, result))
            issued.append((sub, None))
            continue
        payment_id = new_id("pay")
        payments.append(
            {
                "id": payment_id,
                "account_id": account.id,
                "invoice_id": invoice_id,
                "subscription_id": sub.id,
                "contact_id": sub.contact_id,
                "payment_method_id": method.id,
                "status": "succeeded",
                "amount": amount,
                "refunded_amount": 0,
                "currency": sub.currency,
                "failure_reason": None,
                "processor": method.processor,
                "processor_reference": result.reference,
                "idempotency_key": key,
                "settles_on": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        paid.append(_paid(invoice_id, amount, 1, now))
        ledger.payment_collected(sub, amount)
        sub.next_action_at = planner.wake_at(sub, account, today, (), ())
        issued.append((sub, payment_id))
        done.add(sub.id)

    # Then the numbers, as one block: from here to the commit the account row is locked.
    events: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    numbers = invoicing.take_numbers(session, account, len(invoices))
    for values, number, (sub, paid_by) in zip(invoices, numbers, issued, strict=True):
        values["number"] = number
        invoice_id = values["id"]
        total = money.format_amount(values["total"], sub.currency)
        start, end = values["period_start"], values["period_end"]
        event = payloads.invoice_created_event(invoice_id, number, total, start, end)
        events.append(_event(sub, EventType.INVOICE_CREATED, event, now))
        message = payloads.invoice_created_message(
            invoice_id,
            number,
            total,
            values["due_date"],
            values["collection_method"],
            values["billing_reason"],
        )
        messages.append(
            _message(sub, EventType.INVOICE_CREATED, f"invoice.created:{invoice_id}", message, now)
        )
        if paid_by is None:
            continue
        data = payloads.payment_succeeded_event(paid_by, invoice_id, total)
        events.append(_event(sub, EventType.PAYMENT_SUCCEEDED, data, now))
        receipt = {**data, "invoice_number": number, "first_payment": False}
        messages.append(
            _message(sub, EventType.PAYMENT_SUCCEEDED, f"payment.succeeded:{paid_by}", receipt, now)
        )

    # An invoice paid at once is written paid: the same row as inserting it open and updating
    # it, in one write instead of two.
    settled = {row["id"]: row for row in paid}
    for values in invoices:
        values.update(settled.get(values["id"], {}))

    session.flush()  # the subscriptions' new counters, before rows that point at them
    # Plain rows, no ORM bookkeeping: one COPY (PostgreSQL) or executemany per table.
    _insert(session, Invoice, invoices)
    _insert(session, InvoiceLine, lines)
    _insert(session, Payment, payments)
    _insert(session, SubscriptionEvent, events)
    _insert(session, OutboxMessage, messages)

    # A declined card goes through the engine's dunning with the answer it already has.
    for sub, invoice_id, result in declined:
        unpaid = session.get(Invoice, invoice_id)
        assert unpaid is not None
        run = engine.SubscriptionRun(session, account, sub, now)
        run.charge(unpaid, result=result)
        run.run()
        done.add(sub.id)
    return done


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into the model's table. On PostgreSQL with
    COPY … FROM STDIN, several times faster than an executemany of INSERTs; the values are
    converted as SQLAlchemy binds them (the column types' bind processors), so the rows are the
    same. Elsewhere, and for a row that leaves out a column with a Python-side default (which
    only SQLAlchemy's INSERT fills in), one Core executemany."""
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    columns = list(rows[0])
    defaulted = {c.name for c in table.columns if c.default is not None or c.onupdate is not None}
    if connection.dialect.name != "postgresql" or defaulted - set(columns):
        session.execute(insert(table), rows)
        return
    dialect = connection.dialect
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ]
    converters = list(zip(columns, processors, strict=True))
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        row[name] if convert is None else convert(row[name])
                        for name, convert in converters
                    ]
                )
    except psycopg.IntegrityError as error:
        # What the runner catches from an INSERT: another worker wrote one of these first.
        raise IntegrityError(f"COPY {table.name}", None, error) from error
    finally:
        cursor.close()


def _paid(invoice_id: str, amount: int, attempts: int, now: datetime) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "status": "paid",
        "amount_paid": amount,
        "amount_due": 0,
        "paid_at": now,
        "attempt_count": attempts,
        "updated_at": now,
    }


def _event(sub: Subscription, kind: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "account_id": sub.account_id,
        "subscription_id": sub.id,
        "type": kind,
        "data": data,
        "created_at": now,
    }


def _message(
    sub: Subscription, kind: str, dedup: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "account_id": sub.account_id,
        "type": kind,
        "dedup_key": f"{sub.account_id}:{dedup}",
        "subscription_id": sub.id,
        "payload": {
            "subscription_id": sub.id,
            "contact_id": sub.contact_id,
            "currency": sub.currency,
            **payload,
        },
        "created_at": now,
        "delivered_at": None,
        "workflows_read_at": None if kind in WORKFLOW_TRIGGER_EVENTS else now,
        "attempts": 0,
        "last_error": None,
    }
