"""What every payment processor adapter does, and what it answers with. Two adapters exist: the
built-in sandbox (`payments.sandbox`) and Stripe (`payments.stripe_adapter`); `payments.processor`
picks the one that serves an account, and nothing above it knows which one runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cadency.kit.errors import APIError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cadency.accounts.models import Account
    from cadency.payments.models import PaymentMethod
    from cadency.payments.schemas import PaymentMethodCreate


@dataclass(frozen=True)
class ChargeResult:
    """How the processor answered a charge.

    `status` is "succeeded", "failed", "processing" (a bank debit: settled later, on
    `settles_in_days` for the sandbox or by the processor's webhook) or "requires_action" (the
    buyer must authenticate the payment, e.g. 3-D Secure: the invoice waits for them)."""

    status: str
    reference: str | None  # None when no processor was reached
    failure_reason: str | None = None
    settles_in_days: int | None = None  # sandbox bank debits
    settles_as: str | None = None  # what a sandbox debit becomes: "succeeded" | "failed"


@dataclass(frozen=True)
class Tokenised:
    """What may be kept about a payment method."""

    type: str  # "card" | "bank_debit"
    token: str
    brand: str | None
    last4: str
    exp_month: int | None
    exp_year: int | None
    processor: str = "sandbox"
    customer: str | None = None  # the processor's customer it is attached to (Stripe)


@dataclass(frozen=True)
class PaymentOutcome:
    """The processor says how a payment it answered "processing" or "requires_action" ended
    (from its webhook)."""

    reference: str  # the payment's processor_reference
    status: str  # "succeeded" | "failed"
    failure_reason: str | None
    # Whether the processor's record names it as Cadency's (so a payment not found yet is one
    # whose transaction has not committed, not someone else's).
    ours: bool = True


@dataclass(frozen=True)
class RefundSeen:
    """A refund the processor made of a payment (in its dashboard, or by Cadency)."""

    payment_reference: str
    refund_reference: str
    amount: int


class ProcessorUnavailable(APIError):
    """The processor could not be reached, or did not answer, even after the retries its
    library makes (a timeout, a network error, a 5xx). Nothing is known about the charge, so
    nothing is recorded: the caller's transaction is rolled back, and the next try sends the same
    idempotency key, so the processor charges at most once."""

    status_code = 503
    error_type = "processor_unavailable"


class Adapter(Protocol):
    """One payment processor. Every call names the account's own processor settings through
    the adapter instance (`payments.processor.adapter_for`)."""

    name: str

    def tokenise(
        self, session: Session, account: Account, contact_id: str | None, data: PaymentMethodCreate
    ) -> Tokenised:
        """Turn payment details into the processor's reusable method. Raises InvalidRequest
        naming the bad field, PaymentFailed (402) on a decline."""
        ...

    def charge(
        self, method: PaymentMethod, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge a saved method off-session. The same key never charges twice. Raises
        ProcessorUnavailable when the answer is unknown."""
        ...

    def bank_debit_outcome(
        self, method: PaymentMethod, reference: str | None
    ) -> tuple[str, str | None]:
        """How a processing bank debit ended: (status, failure reason)."""
        ...

    def refund(self, charge_reference: str, amount: int, refund_key: str) -> str:
        """Refund part or all of a charge; returns the processor's refund reference."""
        ...
