"""Charging and refunding through a payment processor. The sandbox is built in; the Stripe
adapter plugs in here later. Every charge carries an idempotency key derived from the invoice
and the attempt number, so a call repeated after a crash never charges twice."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cadency.payments import sandbox
from cadency.payments.models import PaymentMethod


@dataclass(frozen=True)
class ChargeResult:
    status: str  # "succeeded" | "failed" | "processing"
    reference: str
    failure_reason: str | None = None
    settles_in_days: int | None = None  # processing bank debits
    settles_as: str | None = None  # what a processing debit becomes: "succeeded" | "failed"


def _reference(kind: str, idempotency_key: str) -> str:
    # The same key always yields the same reference: the processor's own deduplication.
    return f"sbx_{kind}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def charge(method: PaymentMethod, amount: int, currency: str, idempotency_key: str) -> ChargeResult:
    """Charge `amount` minor units of `currency` to a saved payment method."""
    behaviour = sandbox.behaviour_of(method.processor_token)
    reference = _reference("ch", idempotency_key)
    if behaviour is sandbox.Behaviour.SUCCEEDS:
        return ChargeResult("succeeded", reference)
    if behaviour is sandbox.Behaviour.ALWAYS_FAILS:
        return ChargeResult("failed", reference, failure_reason="card_declined")
    if behaviour is sandbox.Behaviour.INSUFFICIENT_FUNDS:
        return ChargeResult("failed", reference, failure_reason="insufficient_funds")
    settles_as = "succeeded" if behaviour is sandbox.Behaviour.SETTLES_LATER else "failed"
    return ChargeResult(
        "processing",
        reference,
        settles_in_days=sandbox.BANK_SETTLEMENT_DAYS,
        settles_as=settles_as,
    )


def bank_debit_outcome(method: PaymentMethod) -> tuple[str, str | None]:
    """How a processing bank debit of this method ends: (status, failure reason)."""
    behaviour = sandbox.behaviour_of(method.processor_token)
    if behaviour is sandbox.Behaviour.FAILS_LATER:
        return "failed", "bank_account_debit_failed"
    return "succeeded", None


def refund(charge_reference: str, amount: int, refund_key: str) -> str:
    """Refund part or all of a charge; returns the processor's refund reference."""
    return _reference("re", f"{charge_reference}:{refund_key}:{amount}")
