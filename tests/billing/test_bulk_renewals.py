"""The bulk path writes exactly what the per-subscription engine writes for a plain renewal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cadency.billing import bulk, runner
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit.outbox import OutboxMessage
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription, SubscriptionEvent
from tests.billing import due_set


def outcome(session: Session, account_id: int) -> list[tuple[Any, ...]]:
    """Per subscription, in a fixed order: what a renewal leaves behind, without IDs."""
    rows = []
    for sub in session.scalars(
        select(Subscription).where(Subscription.account_id == account_id).order_by(Subscription.id)
    ):
        invoices = session.scalars(
            select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id)
        ).all()
        lines = session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id.in_([i.id for i in invoices]))
            .order_by(InvoiceLine.invoice_id, InvoiceLine.position)
        ).all()
        payments = session.scalars(select(Payment).where(Payment.subscription_id == sub.id)).all()
        events = session.scalars(
            select(SubscriptionEvent)
            .where(SubscriptionEvent.subscription_id == sub.id)
            .order_by(SubscriptionEvent.id)
        ).all()
        messages = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.subscription_id == sub.id)
            .order_by(OutboxMessage.id)
        ).all()
        rows.append(
            (
                sub.status,
                sub.periods_billed,
                sub.payments_completed,
                sub.total_collected,
                sub.last_payment_amount,
                sub.last_payment_status,
                sub.current_period_start,
                sub.current_period_end,
                sub.next_payment_date,
                sub.next_action_at,
                sub.next_payment_amount,
                sub.mrr,
                [
                    (
                        i.status,
                        i.billing_reason,
                        i.period_start,
                        i.period_end,
                        i.subtotal,
                        i.tax_total,
                        i.total,
                        i.amount_paid,
                        i.amount_due,
                        i.attempt_count,
                        i.due_date,
                        i.paid_at is not None,
                        i.language,
                    )
                    for i in invoices
                ],
                [
                    (
                        li.description,
                        li.quantity,
                        li.unit_price,
                        li.amount,
                        li.tax,
                        li.period_start,
                        li.period_end,
                    )
                    for li in lines
                ],
                [(p.status, p.amount, p.idempotency_key.rsplit(":", 1)[-1]) for p in payments],
                [(e.type, sorted(e.data)) for e in events],
                [(m.type, sorted(m.payload)) for m in messages],
            )
        )
    return rows


@pytest.mark.parametrize("n", [7])
def test_bulk_and_engine_renew_alike(app: FastAPI, n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = app.state.engine
    # Test mode: the sandbox pays the renewals (no processor serves a live account yet).
    by_engine = due_set.seed(engine, n, name="One by one", mode="test")
    in_bulk = due_set.seed(engine, n, name="In bulk", mode="test")
    # The subscriptions name no invoice language: both paths write the contact's.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE contacts SET language = 'da' WHERE account_id IN (:a, :b)"),
            {"a": by_engine.account_id, "b": in_bulk.account_id},
        )
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        with monkeypatch.context() as patched:
            patched.setattr(bulk, "renew", lambda *args, **kwargs: set())
            one_by_one = runner.run_batch(session, now, account_id=by_engine.account_id)
        renew = bulk.renew
        renewed_in_bulk: list[int] = []

        def counted(*args: Any, **kwargs: Any) -> set[str]:
            done = renew(*args, **kwargs)
            renewed_in_bulk.append(len(done))
            return done

        with monkeypatch.context() as patched:
            patched.setattr(bulk, "renew", counted)
            together = runner.run_batch(session, now, account_id=in_bulk.account_id)
    assert one_by_one.subscriptions_processed == together.subscriptions_processed == n
    # The bulk path itself renewed them (it falls back to the engine on any error, which would
    # write the same rows and hide the error).
    assert renewed_in_bulk == [n]
    with Session(engine) as session:
        expected = outcome(session, by_engine.account_id)
        got = outcome(session, in_bulk.account_id)
        # Both renewed every subscription exactly once: an invoice paid by one payment.
        assert all(row[1] == 2 and len(row[12]) == 1 and len(row[14]) == 1 for row in expected)
        assert {invoice[-1] for row in expected for invoice in row[12]} == {"da"}
        assert got == expected
        # Running again writes nothing.
        assert (
            runner.run_batch(session, now, account_id=in_bulk.account_id).subscriptions_processed
            == 0
        )


def test_a_subscription_another_worker_wrote_is_not_claimed_again(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unique-constraint clash means another worker billed it first; the pass moves on
    instead of claiming the same row forever."""
    from sqlalchemy.exc import IntegrityError

    from cadency.billing import engine as billing_engine

    due = due_set.seed(app.state.engine, 2, name="Raced")
    raced = sorted(due.subscription_ids)[0]
    calls: list[str] = []
    process = billing_engine.process

    def clashing(session: Session, account: Any, subscription: Any, now: datetime) -> bool:
        calls.append(subscription.id)
        if len(calls) > 10:
            pytest.fail("the same subscriptions were claimed again and again")
        if subscription.id == raced:
            raise IntegrityError("INSERT INTO invoices", {}, Exception("duplicate period"))
        return process(session, account, subscription, now)

    monkeypatch.setattr(bulk, "renew", lambda *args, **kwargs: set())
    monkeypatch.setattr(billing_engine, "process", clashing)
    with Session(app.state.engine, expire_on_commit=False) as session:
        summary = runner.run_due(session, datetime.now(UTC))
    # Live subscriptions that earlier tests left due are renewed by the same pass.
    mine = set(due.subscription_ids)
    assert sorted(c for c in calls if c in mine) == sorted(mine)
    assert summary.raced_ids == [raced]
    with app.state.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET mode = 'test' WHERE id = :a"), {"a": due.account_id})
