"""Charging and refunding through a payment processor. The sandbox is built in; the Stripe
adapter plugs in here later. Every charge carries an idempotency key derived from the invoice
and the attempt number, so a call repeated after a crash never charges twice.

`processor_for` is the one place that decides which processor serves an account, or none:
saving payment methods, charging, settling bank debits and refunding all ask it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cadency.accounts.models import Account
from cadency.kit.errors import Conflict
from cadency.payments import sandbox
from cadency.payments.models import PaymentMethod

NOT_CONFIGURED = "payment_processor_not_configured"
"""The failure reason of a charge that no processor could make."""
NOT_CONFIGURED_MESSAGE = (
    "No payment processor is configured for this live account, so it cannot save payment "
    "methods or take payments until one is (the sandbox serves test-mode accounts only)"
)

OUT_OF_BAND = "out_of_band"
"""The processor of a payment the merchant received and recorded by hand (bank transfer, cash,
cheque): no processor was involved, so none can refund it."""


def processor_for(account: Account) -> str | None:
    """The processor that serves the account, or None when it cannot take payments.

    The sandbox moves no money, so it serves test-mode accounts only. A live account needs a
    real processor; none can be configured yet (the Stripe adapter is still to come), so a live
    account has none today."""
    if account.mode == "test":
        return sandbox.PROCESSOR
    return None


def require_processor(account: Account, *, param: str | None = None) -> str:
    """The account's processor; a 409 naming the missing setup when it has none."""
    name = processor_for(account)
    if name is None:
        raise Conflict(NOT_CONFIGURED_MESSAGE, param=param)
    return name


def _serves(account: Account, processor: str) -> bool:
    """Whether the account's processor is the one that made something (a saved payment
    method, a charge): only that processor can charge or refund it."""
    return processor_for(account) == processor


@dataclass(frozen=True)
class ChargeResult:
    status: str  # "succeeded" | "failed" | "processing"
    reference: str | None  # None when no processor was reached
    failure_reason: str | None = None
    settles_in_days: int | None = None  # processing bank debits
    settles_as: str | None = None  # what a processing debit becomes: "succeeded" | "failed"


def _reference(kind: str, idempotency_key: str) -> str:
    # The same key always yields the same reference: the processor's own deduplication.
    return f"sbx_{kind}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def charge(
    account: Account, method: PaymentMethod, amount: int, currency: str, idempotency_key: str
) -> ChargeResult:
    """Charge `amount` minor units of `currency` to a saved payment method.

    With no processor serving the account (a live account without one, or a method saved by
    another processor) the attempt fails with reason `NOT_CONFIGURED` and nothing is paid. This
    is what Stripe does when it cannot charge an automatically collected invoice: the invoice
    stays open, the attempt is recorded as failed and dunning follows, so the merchant sees why
    and can still collect by hand (void, write off) or once a processor is set up."""
    if not _serves(account, method.processor):
        return ChargeResult("failed", None, failure_reason=NOT_CONFIGURED)
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


def bank_debit_outcome(account: Account, method: PaymentMethod) -> tuple[str, str | None]:
    """How a processing bank debit of this method ends: (status, failure reason)."""
    if not _serves(account, method.processor):
        return "failed", NOT_CONFIGURED
    behaviour = sandbox.behaviour_of(method.processor_token)
    if behaviour is sandbox.Behaviour.FAILS_LATER:
        return "failed", "bank_account_debit_failed"
    return "succeeded", None


def refund(
    account: Account, processor: str, charge_reference: str, amount: int, refund_key: str
) -> str:
    """Refund part or all of a charge made by `processor`; returns the processor's refund
    reference. A 409 when that processor does not serve the account: no money would move."""
    if processor == OUT_OF_BAND:
        raise Conflict(
            "This payment was received outside the payment processor, so no processor can "
            "refund it; return the money the way it came in"
        )
    if not _serves(account, processor):
        raise Conflict(NOT_CONFIGURED_MESSAGE)
    return _reference("re", f"{charge_reference}:{refund_key}:{amount}")
