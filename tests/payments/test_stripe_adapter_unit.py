"""What the Stripe adapter decides without asking Stripe: how Stripe's declines read in the
sandbox's terms (including answers real Stripe gives and localstripe does not), and what a
live account may not send."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from cadency.kit.errors import InvalidRequest
from cadency.payments.schemas import PaymentMethodCreate
from cadency.payments.stripe_adapter import StripeAdapter, StripeKeys, decline_reason

LIVE = StripeAdapter(
    StripeKeys("sk_live_" + "x" * 24, "pk_live_" + "x" * 24, "http://127.0.0.1:9"),
    test_mode=False,
)


def card_error(error: dict[str, Any]) -> stripe.CardError:
    body = {"error": {"type": "card_error", **error}}
    return stripe.CardError(
        error.get("message", "declined"), None, error.get("code"), json_body=body
    )


@pytest.mark.parametrize(
    ("code", "decline_code", "reason"),
    [
        ("card_declined", "insufficient_funds", "insufficient_funds"),
        ("card_declined", "generic_decline", "card_declined"),
        ("card_declined", None, "card_declined"),
        ("expired_card", None, "card_declined"),
        ("insufficient_funds", None, "insufficient_funds"),
    ],
)
def test_declines_read_as_the_sandbox_reasons(
    code: str, decline_code: str | None, reason: str
) -> None:
    assert decline_reason(code, decline_code) == reason


def test_real_stripes_off_session_authentication_decline_waits_for_the_buyer() -> None:
    # Real Stripe declines an off-session charge that needs 3-D Secure with this error, naming
    # the PaymentIntent the buyer can still confirm.
    error = card_error(
        {
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "payment_intent": {"id": "pi_123", "status": "requires_payment_method"},
        }
    )
    result = StripeAdapter._declined(error, debit=False)
    assert (result.status, result.reference, result.failure_reason) == (
        "requires_action",
        "pi_123",
        "authentication_required",
    )
    declined = StripeAdapter._declined(
        card_error(
            {
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "payment_intent": {"id": "pi_456"},
            }
        ),
        debit=False,
    )
    assert (declined.status, declined.reference, declined.failure_reason) == (
        "failed",
        "pi_456",
        "insufficient_funds",
    )


def test_intents_in_each_state() -> None:
    def result(status: str, **extra: Any) -> tuple[str, str | None]:
        answer = StripeAdapter._intent_result({"id": "pi_1", "status": status, **extra}, False)
        return answer.status, answer.failure_reason

    assert result("succeeded") == ("succeeded", None)
    assert result("processing") == ("processing", None)
    assert result("requires_action") == ("requires_action", "authentication_required")
    assert result(
        "requires_payment_method", last_payment_error={"decline_code": "insufficient_funds"}
    ) == ("failed", "insufficient_funds")
    debit = StripeAdapter._intent_result({"id": "pi_2", "status": "requires_payment_method"}, True)
    assert debit.failure_reason == "bank_account_debit_failed"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 1,
                    "exp_year": 2040,
                    "cvc": "1",
                },
            },
            "card",
        ),
        (
            {"type": "bank_debit", "bank_debit": {"iban": "DE89370400440532013000"}},
            "bank_debit.iban",
        ),
    ],
)
def test_a_live_account_takes_no_card_numbers_or_ibans(body: dict[str, Any], param: str) -> None:
    # Refused before anything is sent (the adapter's server here does not even exist).
    with pytest.raises(InvalidRequest) as refused:
        LIVE.tokenise(None, None, None, PaymentMethodCreate.model_validate(body))  # type: ignore[arg-type]
    assert refused.value.param == param
