"""Invoice numbers of a renewal run: gapless and unique per account, the same number in every
payload that carries it, and taken as one block at the end of a bulk batch, so that a worker
charging cards does not hold the account row (billing/invoicing.take_numbers)."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import invoicing, runner
from cadency.invoices.models import Invoice
from cadency.kit.outbox import OutboxMessage
from cadency.payments import processor
from cadency.payments.adapter import ChargeResult
from cadency.subscriptions.models import Subscription, SubscriptionEvent
from tests.billing import due_set

POSTGRES = bool(os.environ.get("CADENCY_TEST_DATABASE_URL"))


def sequence_of(number: str) -> int:
    return int(number.rsplit("-", 1)[-1])


def numbers_by_invoice(engine: Engine, account_id: int) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            invoice_id: number
            for invoice_id, number in conn.execute(
                select(Invoice.id, Invoice.number).where(Invoice.account_id == account_id)
            )
        }


def payload_numbers(engine: Engine, account_id: int) -> list[tuple[str, str, str]]:
    """(where, invoice ID, number) for every event and outbox payload that names an invoice's
    number."""
    found: list[tuple[str, str, str]] = []
    with engine.connect() as conn:
        rows: list[tuple[str, dict[str, Any]]] = [
            (f"outbox {kind}", payload)
            for kind, payload in conn.execute(
                select(OutboxMessage.type, OutboxMessage.payload).where(
                    OutboxMessage.account_id == account_id
                )
            )
        ]
        rows += [
            (f"event {kind}", data)
            for kind, data in conn.execute(
                select(SubscriptionEvent.type, SubscriptionEvent.data).where(
                    SubscriptionEvent.account_id == account_id
                )
            )
        ]
    for where, payload in rows:
        for key in ("number", "invoice_number"):
            if key in payload and "invoice_id" in payload:
                found.append((where, payload["invoice_id"], payload[key]))
    return found


def test_numbers_of_a_bulk_batch_with_declines_are_contiguous_and_match_every_payload(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = app.state.engine
    n = 12
    due = due_set.seed(engine, n, name="Numbering", mode="test")
    ordered = sorted(due.subscription_ids)
    declined = set(ordered[1::4])  # three declines, spread through the batch
    without_card = ordered[5]  # not a plain renewal: the per-subscription engine issues it
    earlier = 7  # numbers the account had already used
    with engine.begin() as conn:
        conn.execute(
            update(Account).where(Account.id == due.account_id).values(invoice_sequence=earlier)
        )
        conn.execute(
            update(Subscription)
            .where(Subscription.id == without_card)
            .values(payment_method_id=None)
        )

    charge = processor.charge

    def declining(account: Any, method: Any, amount: int, currency: str, key: str) -> Any:
        if key.split(":", 1)[0] in declined:
            return ChargeResult("failed", None, failure_reason="card_declined")
        return charge(account, method, amount, currency, key)

    monkeypatch.setattr(processor, "charge", declining)
    with Session(engine, expire_on_commit=False) as session:
        summary = runner.run_batch(session, datetime.now(UTC), account_id=due.account_id)
    assert summary.subscriptions_processed == n, summary

    numbers = numbers_by_invoice(engine, due.account_id)
    assert len(numbers) == n  # each subscription's renewal, the one without a card included
    sequences = sorted(sequence_of(number) for number in numbers.values())
    assert sequences == list(range(earlier + 1, earlier + n + 1))
    with Session(engine) as session:
        account = session.get(Account, due.account_id)
        assert account is not None and account.invoice_sequence == earlier + n

    named = payload_numbers(engine, due.account_id)
    kinds = {where for where, _, _ in named}
    assert {
        "outbox invoice.created",
        "event invoice.created",
        "outbox payment.succeeded",
        "outbox payment.failed",
    } <= kinds, kinds
    assert [row for row in named if numbers.get(row[1]) != row[2]] == []
    # Every invoice's creation names its number, in the outbox and on the timeline.
    for where in ("outbox invoice.created", "event invoice.created"):
        assert sorted(i for w, i, _ in named if w == where) == sorted(numbers)


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="row locks need PostgreSQL; SQLite has one writer")
def test_two_workers_on_one_account_charge_side_by_side_and_wait_only_to_number(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker has charged its whole batch and holds it open just before numbering:
    the account row is free, and a second worker claims and charges its own batch of the same
    account meanwhile. It then waits at the number step until the first commits, and the two
    blocks of numbers follow each other without a gap."""
    engine = app.state.engine
    batch = 4
    due = due_set.seed(engine, 2 * batch, name="Side by side", mode="test")
    monkeypatch.setattr(runner, "BATCH_SIZE", batch)

    take_numbers = invoicing.take_numbers
    charge = processor.charge
    charged: dict[str, int] = {"first": 0, "second": 0}
    steps = {
        name: threading.Event()
        for name in (
            "first at numbers",
            "first may number",
            "first numbered",
            "first may commit",
            "second at numbers",
            "second may number",
        )
    }
    second_numbered_at: list[float] = []
    first_released_at: list[float] = []
    errors: list[BaseException] = []

    def reach(step: str, then: str) -> None:
        steps[step].set()
        assert steps[then].wait(60), f"the test never gave {then!r}"

    def counting(*args: Any) -> Any:
        charged[threading.current_thread().name] += 1
        return charge(*args)

    def numbering(session: Session, account: Account, count: int) -> list[str]:
        if threading.current_thread().name == "first":
            reach("first at numbers", "first may number")
            numbers = take_numbers(session, account, count)
            reach("first numbered", "first may commit")
            return numbers
        reach("second at numbers", "second may number")
        numbers = take_numbers(session, account, count)
        second_numbered_at.append(time.monotonic())
        return numbers

    def work() -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                summary = runner.run_batch(session, datetime.now(UTC), account_id=due.account_id)
                assert summary.subscriptions_processed == batch, summary
        except BaseException as error:  # reported by the test thread
            errors.append(error)
            for step in steps.values():
                step.set()

    def account_row_is_free() -> bool:
        with Session(engine) as other:
            try:
                other.scalar(
                    select(Account.id)
                    .where(Account.id == due.account_id)
                    .with_for_update(nowait=True, key_share=True)  # the number lock
                )
                return True
            except OperationalError:
                return False
            finally:
                other.rollback()

    monkeypatch.setattr(processor, "charge", counting)
    monkeypatch.setattr(invoicing, "take_numbers", numbering)
    first = threading.Thread(target=work, name="first")
    second = threading.Thread(target=work, name="second")
    try:
        first.start()
        assert steps["first at numbers"].wait(60) and not errors, errors
        assert charged["first"] == batch
        # The first worker's batch is open (its subscriptions locked, its cards charged), yet
        # the account row is free: a second worker claims and charges its own batch meanwhile.
        assert account_row_is_free()
        second.start()
        assert steps["second at numbers"].wait(60) and not errors, errors
        assert charged["second"] == batch
        # The first takes its numbers and holds them (and the account row) until it commits;
        # the second waits at its number step until then.
        steps["first may number"].set()
        assert steps["first numbered"].wait(60) and not errors, errors
        assert not account_row_is_free()
        steps["second may number"].set()
        second.join(0.5)
        assert second.is_alive() and not second_numbered_at
    finally:
        first_released_at.append(time.monotonic())
        for step in steps.values():
            step.set()
        first.join(60)
        second.join(60)
    assert not errors, errors
    assert second_numbered_at and second_numbered_at[0] > first_released_at[0]

    found = due_set.outcome(engine, due.account_id)
    assert due_set.problems(due, found, datetime.now(UTC)) == {}
    numbers = numbers_by_invoice(engine, due.account_id)
    assert sorted(sequence_of(number) for number in numbers.values()) == list(
        range(1, 2 * batch + 1)
    )
    assert [
        row for row in payload_numbers(engine, due.account_id) if numbers[row[1]] != row[2]
    ] == []
