"""Charging and refunding through a payment processor: the one dispatcher every caller uses.
Two adapters implement the processor interface (`payments.adapter.Adapter`): the built-in
sandbox and Stripe; the account's processor settings (`payments.processor_settings`) say which
one serves it, and nothing above this module knows which one runs. Every charge carries an
idempotency key derived from the invoice and the attempt number, so a call repeated after a crash
or a timeout never charges twice.

`processor_for` is the one place that decides which processor serves an account, or none:
saving payment methods, charging, settling bank debits and refunding all ask it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import object_session

from cadency.accounts.models import Account
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.kit.i18n import N_
from cadency.payments import processor_settings, sandbox, stripe_adapter
from cadency.payments.adapter import (
    Adapter,
    ChargeResult,
    PaymentOutcome,
    ProcessorUnavailable,
    RefundSeen,
    Tokenised,
)
from cadency.payments.models import PaymentMethod

__all__ = [
    "NOT_CONFIGURED",
    "NOT_CONFIGURED_MESSAGE",
    "OUT_OF_BAND",
    "REQUIRES_ACTION",
    "Adapter",
    "ChargeResult",
    "PaymentOutcome",
    "ProcessorUnavailable",
    "RefundSeen",
    "Tokenised",
    "adapter_for",
    "authentication",
    "bank_debit_outcome",
    "charge",
    "client_config",
    "processor_for",
    "refund",
    "require_adapter",
    "require_processor",
    "tokenise",
]

NOT_CONFIGURED = "payment_processor_not_configured"
"""The failure reason of a charge that no processor could make."""
NOT_CONFIGURED_MESSAGE = N_(
    "No payment processor is configured for this live account, so it cannot save payment "
    "methods or take payments until one is (the sandbox serves test-mode accounts only; "
    "PATCH /account/processor sets up Stripe)"
)

OUT_OF_BAND = "out_of_band"
"""The processor of a payment the merchant received and recorded by hand (bank transfer, cash,
cheque): no processor was involved, so none can refund it."""

REQUIRES_ACTION = "requires_action"
"""A charge the buyer must authenticate (3-D Secure) before it can succeed."""


def processor_for(account: Account) -> str | None:
    """The processor that serves the account, or None when it cannot take payments: Stripe
    when the account chose it, else the sandbox for a test-mode account (it moves no money)
    and none for a live one."""
    return processor_settings.processor_name(account, processor_settings.config_of(account))


def require_processor(account: Account, *, param: str | None = None) -> str:
    """The account's processor; a 409 naming the missing setup when it has none."""
    name = processor_for(account)
    if name is None:
        raise Conflict(NOT_CONFIGURED_MESSAGE, param=param)
    return name


def adapter_for(account: Account) -> Adapter | None:
    """The adapter of the account's processor (made once per transaction), or None."""
    config = processor_settings.config_of(account)
    name = processor_settings.processor_name(account, config)
    if name == sandbox.PROCESSOR:
        return sandbox.ADAPTER
    if name is None or config is None:
        return None
    made = config.memo.get("adapter")
    if made is None:
        keys = config.stripe_keys()
        if keys is None:  # pragma: no cover - Stripe is chosen only with a secret key
            return None
        made = stripe_adapter.StripeAdapter(keys, test_mode=account.mode == "test")
        config.memo["adapter"] = made
    adapter: Adapter = made
    return adapter


def require_adapter(account: Account, *, param: str | None = None) -> Adapter:
    adapter = adapter_for(account)
    if adapter is None:
        raise Conflict(NOT_CONFIGURED_MESSAGE, param=param)
    return adapter


def _serving(account: Account, processor: str) -> Adapter | None:
    """The adapter when the account's processor is the one that made something (a saved
    payment method, a charge): only that processor can charge or refund it."""
    adapter = adapter_for(account)
    return adapter if adapter is not None and adapter.name == processor else None


def client_config(account: Account) -> dict[str, Any] | None:
    """What a browser needs to talk to the account's processor itself (Stripe.js on the hosted
    pages): the publishable key and API base; None for the sandbox (and for no processor)."""
    config = processor_settings.config_of(account)
    if processor_settings.processor_name(account, config) != stripe_adapter.PROCESSOR:
        return None
    assert config is not None
    return {
        "processor": stripe_adapter.PROCESSOR,
        "publishable_key": config.publishable_key,
        "api_base": config.api_base,
    }


def tokenise(account: Account, data: Any, *, contact_id: str | None = None) -> Tokenised:
    """Hand payment details (a `PaymentMethodCreate`) to the account's processor; 409 when it
    has none. With Stripe, the method is attached to the contact's Stripe customer (a new
    customer when no contact is named yet)."""
    adapter = require_adapter(account)
    session = object_session(account)
    if session is None:  # pragma: no cover - accounts come from a session
        raise RuntimeError("the account is not in a session")
    return adapter.tokenise(session, account, contact_id, data)


def charge(
    account: Account, method: PaymentMethod, amount: int, currency: str, idempotency_key: str
) -> ChargeResult:
    """Charge `amount` minor units of `currency` to a saved payment method.

    With no processor serving the account (a live account without one, or a method saved by
    another processor) the attempt fails with reason `NOT_CONFIGURED` and nothing is paid. This
    is what Stripe does when it cannot charge an automatically collected invoice: the invoice
    stays open, the attempt is recorded as failed and dunning follows, so the merchant sees why
    and can still collect by hand (void, write off) or once a processor is set up.

    Raises `ProcessorUnavailable` when the processor's answer is unknown (a timeout after the
    library's retries): the caller records nothing, and the next try sends the same key."""
    adapter = _serving(account, method.processor)
    if adapter is None:
        return ChargeResult("failed", None, failure_reason=NOT_CONFIGURED)
    return adapter.charge(method, amount, currency, idempotency_key)


def bank_debit_outcome(
    account: Account, method: PaymentMethod, *, reference: str | None = None
) -> tuple[str, str | None]:
    """How a processing bank debit of this method ends: (status, failure reason)."""
    adapter = _serving(account, method.processor)
    if adapter is None:
        return "failed", NOT_CONFIGURED
    return adapter.bank_debit_outcome(method, reference)


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
    adapter = _serving(account, processor)
    if adapter is None:
        raise Conflict(NOT_CONFIGURED_MESSAGE)
    return adapter.refund(charge_reference, amount, refund_key)


def _browser(account: Account) -> tuple[stripe_adapter.StripeAdapter, dict[str, Any]] | None:
    """The Stripe adapter and what a buyer's page needs to load Stripe.js: the publishable
    key, where Stripe.js comes from and the origins it talks to; None for the sandbox."""
    config = client_config(account)
    adapter = adapter_for(account)
    if config is None or not isinstance(adapter, stripe_adapter.StripeAdapter):
        return None
    base = (config["api_base"] or "").rstrip("/")
    return adapter, {
        **config,
        # A Stripe-compatible test server serves its own Stripe.js; Stripe serves the real one.
        "js_url": f"{base}/js.stripe.com/v3/" if base else "https://js.stripe.com/v3/",
        "origins": [base] if base else list(STRIPE_ORIGINS),
    }


def browser_setup(account: Account) -> dict[str, Any] | None:
    """What a hosted payment form needs for the processor's own card field (Stripe.js): the
    publishable key, where Stripe.js comes from, and a fresh SetupIntent's client secret; None
    when the account's processor takes card numbers in Cadency's own form (the sandbox)."""
    browser = _browser(account)
    if browser is None:
        return None
    adapter, config = browser
    return {**config, **adapter.browser_setup()}


def browser_authentication(
    account: Account, payment_reference: str | None
) -> dict[str, Any] | None:
    """What the hosted invoice page needs to let the buyer authenticate a payment waiting for
    them (3-D Secure) with Stripe.js: `browser_setup`'s keys and the PaymentIntent's client
    secret; None when nothing is left to authenticate."""
    browser = _browser(account)
    if browser is None:
        return None
    found = authentication(account, payment_reference)
    if found is None or not found.get("client_secret"):
        return None
    return {**browser[1], "client_secret": found["client_secret"]}


STRIPE_ORIGINS = ("https://js.stripe.com", "https://api.stripe.com", "https://hooks.stripe.com")
"""Where Stripe.js loads from, talks to and frames (3-D Secure): the hosted pages' CSP."""


def set_up_payment_method(account: Account, setup_intent: str) -> str:
    """The processor's payment method a buyer's card field set up (`browser_setup`)."""
    adapter = require_adapter(account)
    if not isinstance(adapter, stripe_adapter.StripeAdapter):
        raise InvalidRequest(
            "This account's processor takes card details directly", param="stripe_setup_intent"
        )
    return adapter.set_up_payment_method(setup_intent)


def authentication(account: Account, payment_reference: str | None) -> dict[str, Any] | None:
    """For a payment in `requires_action`: what Stripe.js needs to let the buyer authenticate
    it on the hosted invoice page (the PaymentIntent's client secret, with `client_config`);
    None when there is nothing to authenticate (or the processor is not Stripe)."""
    adapter = adapter_for(account)
    if not isinstance(adapter, stripe_adapter.StripeAdapter) or not payment_reference:
        return None
    return adapter.authentication(payment_reference)
