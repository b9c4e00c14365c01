"""`cadency demo` tells 14 months of the coffee shop on the account's test clock: every status,
invoices sent and paid by transfer, one overdue, refunds, a plan change, a payment link that
sold, a published quote; and the engine, run again, finds nothing left to do."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from cadency import demo
from cadency.accounts.models import Account
from cadency.analytics.models import MRR_CHURNED, MRR_EXPANSION, MRR_NEW, MrrMovement
from cadency.billing.runner import run_batch
from cadency.checkout.models import PaymentLink, PaymentLinkPurchase
from cadency.crm.models import Quote
from cadency.invoices.models import Invoice
from cadency.kit import clock, periods
from cadency.payments.models import Payment, Refund
from cadency.subscriptions.models import Subscription


@pytest.fixture(scope="module")
def shop(session_factory: Any) -> int:
    with pytest.MonkeyPatch.context() as patch:
        # A name of its own, so this account is the story's alone.
        patch.setattr(demo, "DEMO_ACCOUNT_NAME", f"Demo {uuid4().hex[:8]}")
        with session_factory() as session:
            made = demo.load_demo(session, email="owner@story.example", password="password-123")
            session.commit()
    return int(made["account_id"])


def test_every_status_is_there(db: Any, shop: int) -> None:
    statuses = Counter(
        db.scalars(select(Subscription.status).where(Subscription.account_id == shop)).all()
    )
    assert set(statuses) == {
        "active",
        "unpaid",
        "scheduled",
        "trialing",
        "paused",
        "canceled",
        "expired",
    }
    assert 35 <= sum(statuses.values()) <= 45
    canceling = db.scalar(
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.account_id == shop,
            Subscription.status == "active",
            Subscription.cancel_at.is_not(None),
        )
    )
    assert canceling == 1
    # Unpaid with retries still to come: a card renewal that failed, retried later.
    retrying = db.scalars(
        select(Invoice.next_attempt_date).where(
            Invoice.account_id == shop,
            Invoice.status == "open",
            Invoice.next_attempt_date.is_not(None),
        )
    ).all()
    account = db.get(Account, shop)
    today = clock.account_today(account)
    assert retrying and all(day >= today for day in retrying)


def test_fourteen_months_of_history(db: Any, shop: int) -> None:
    account = db.get(Account, shop)
    today = clock.account_today(account)
    first = db.scalar(select(func.min(Invoice.issue_date)).where(Invoice.account_id == shop))
    assert first == periods.add_months(today, -14)
    paid = db.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.account_id == shop, Invoice.status == "paid")
    )
    assert paid > 250
    # The story ends at real time, and the clock runs on from there.
    assert account.clock_set_at is not None
    assert abs(clock.account_now(account) - clock.real_now()) < timedelta(minutes=5)
    kinds = set(db.scalars(select(MrrMovement.kind).where(MrrMovement.account_id == shop)).all())
    assert {MRR_NEW, MRR_EXPANSION, MRR_CHURNED} <= kinds


def test_invoices_paid_by_transfer_one_open_one_overdue(db: Any, shop: int) -> None:
    account = db.get(Account, shop)
    today = clock.account_today(account)
    sent = db.scalars(
        select(Invoice)
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .where(Invoice.account_id == shop, Subscription.collection_method == "send_invoice")
    ).all()
    by_transfer = db.scalars(
        select(Payment).where(
            Payment.account_id == shop, Payment.invoice_id.in_([i.id for i in sent])
        )
    ).all()
    assert len(by_transfer) >= 10
    open_ = [i for i in sent if i.status == "open"]
    assert any(i.due_date < today for i in open_), "one overdue"
    assert any(i.due_date >= today for i in open_), "one not yet due"


def test_refunds_a_payment_link_and_a_quote(db: Any, shop: int) -> None:
    refunds = db.scalars(select(Refund.amount).where(Refund.account_id == shop)).all()
    assert len(refunds) >= 3 and 1250 in refunds
    link = db.scalar(select(PaymentLink).where(PaymentLink.account_id == shop))
    assert link is not None and link.name == "Tasting box and grinder"
    purchases = db.scalar(
        select(func.count())
        .select_from(PaymentLinkPurchase)
        .where(PaymentLinkPurchase.payment_link_id == link.id)
    )
    assert purchases == 2
    quote = db.scalar(select(Quote).where(Quote.account_id == shop))
    assert quote is not None and quote.status == "published"
    # Some who left gave more than one reason.
    given = db.scalars(
        select(Subscription.cancellation_reasons).where(
            Subscription.account_id == shop, Subscription.status == "canceled"
        )
    ).all()
    assert ["missing_features", "too_complex"] in given


def test_running_the_engine_again_writes_nothing(db: Any, shop: int) -> None:
    account = db.get(Account, shop)
    before = db.scalar(select(func.count()).select_from(Invoice).where(Invoice.account_id == shop))
    summary = run_batch(db, clock.account_now(account), account_id=shop)
    db.commit()
    after = db.scalar(select(func.count()).select_from(Invoice).where(Invoice.account_id == shop))
    assert (summary.subscriptions_processed, after) == (0, before)
