"""What a payment processor tells after the fact, by its webhooks, in processor-neutral terms
(`payments.adapter.PaymentOutcome`, `RefundSeen`), applied through the same writers as
everything else: a payment that was processing or waiting for the buyer settles through the
engine (`engine.settle_payment`, as a sandbox bank debit does), and a refund made in the
processor's dashboard is recorded as a refund made here is (`payments.service.refund_payment`),
once: a refund Cadency made is recognised by its reference."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import engine
from cadency.payments import service as payments
from cadency.payments.adapter import PaymentOutcome, RefundSeen
from cadency.payments.models import Payment, Refund

log = logging.getLogger("cadency.billing")


class NotYetRecorded(Exception):
    """The processor names a payment Cadency made whose transaction has not committed yet (its
    webhook overtook the charge's own commit): try again shortly."""


def _payment(session: Session, account: Account, processor: str, reference: str) -> Payment | None:
    return session.scalar(
        select(Payment)
        .where(
            Payment.account_id == account.id,
            Payment.processor_reference == reference,
            Payment.processor == processor,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


def apply(
    session: Session,
    account: Account,
    processor: str,
    outcomes: Sequence[PaymentOutcome | RefundSeen],
    now: datetime,
) -> int:
    """Apply what the processor said; returns how many outcomes changed something. Raises
    NotYetRecorded for a payment of Cadency's that is not in the database yet."""
    changed = 0
    for outcome in outcomes:
        if isinstance(outcome, PaymentOutcome):
            payment = _payment(session, account, processor, outcome.reference)
            if payment is None:
                if outcome.ours:
                    raise NotYetRecorded(outcome.reference)
                continue  # a payment of the merchant's own, made without Cadency
            if engine.settle_payment(
                session, account, payment, outcome.status, outcome.failure_reason, now
            ):
                changed += 1
        elif _record_refund(session, account, processor, outcome):
            changed += 1
    return changed


def _record_refund(session: Session, account: Account, processor: str, seen: RefundSeen) -> bool:
    payment = _payment(session, account, processor, seen.payment_reference)
    if payment is None:
        return False
    # Wait for a refund of this payment being made here right now (PostgreSQL row lock), so
    # its reference is seen below instead of the refund being counted twice.
    session.refresh(payment, attribute_names=["status", "refunded_amount"], with_for_update=True)
    known = session.scalar(
        select(Refund.id).where(
            Refund.payment_id == payment.id, Refund.processor_reference == seen.refund_reference
        )
    )
    if known is not None:
        return False
    refundable = payment.amount - payment.refunded_amount
    if payment.status not in ("succeeded", "partially_refunded") or not (
        0 < seen.amount <= refundable
    ):
        log.warning(
            "refund %s of payment %s (%s) does not fit what is left to refund; not recorded",
            seen.refund_reference,
            payment.id,
            payment.status,
        )
        return False
    payments.refund_payment(
        session,
        account,
        payment,
        seen.amount,
        reason="refunded_at_processor",
        made_by_processor=seen.refund_reference,
    )
    return True
