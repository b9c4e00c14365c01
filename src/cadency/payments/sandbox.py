"""The built-in sandbox processor: tokenises cards and bank accounts like a real processor would,
with documented test numbers that make later charges succeed or fail on purpose.

Card and account numbers and CVCs are only read here, to validate them and to choose the
behaviour; nothing keeps them. What survives is a token such as
`sbx_card_always_fails_3f9c…` (behaviour + randomness, never the number), the brand and the
last four digits. The billing engine later asks `behaviour_of(token)` what a charge does.

Test numbers (API.md "Payment methods"):

| number | at attach | charges |
|---|---|---|
| card 4242424242424242 (or any other valid number) | attached | succeed |
| card 4000000000000002 | declined (402, "Your card was declined.") | — |
| card 4000000000000341 | attached | always fail (card declined) |
| card 4000000000009995 | attached | fail with insufficient funds |
| bank account 000123456789 (or any other valid one) | attached | settle after 4 days |
| bank account 000111111116 | attached | fail after 4 days |
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from cadency.kit import clock
from cadency.kit.errors import InvalidRequest, PaymentFailed
from cadency.payments.adapter import ChargeResult, Tokenised

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cadency.accounts.models import Account
    from cadency.payments.models import PaymentMethod
    from cadency.payments.schemas import PaymentMethodCreate

PROCESSOR = "sandbox"
TOKEN_PREFIX = "sbx_"
BANK_SETTLEMENT_DAYS = 4
"""Days after a bank debit is initiated before it settles (or fails)."""


class Behaviour(StrEnum):
    """What charging a sandbox payment method does."""

    SUCCEEDS = "succeeds"
    """The charge succeeds at once."""
    ALWAYS_FAILS = "always_fails"
    """Every charge is declined (failure reason: card declined)."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    """Every charge is declined for insufficient funds."""
    SETTLES_LATER = "settles_later"
    """Bank debit: pending, then succeeds `BANK_SETTLEMENT_DAYS` days after initiation."""
    FAILS_LATER = "fails_later"
    """Bank debit: pending, then fails `BANK_SETTLEMENT_DAYS` days after initiation."""


DECLINED_AT_ATTACH = "4000000000000002"
_CARD_BEHAVIOURS = {
    "4000000000000341": Behaviour.ALWAYS_FAILS,
    "4000000000009995": Behaviour.INSUFFICIENT_FUNDS,
}
_BANK_BEHAVIOURS = {
    "000111111116": Behaviour.FAILS_LATER,
}
_TOKEN_RE = re.compile(r"sbx_(card|bank)_([a-z_]+)_([0-9a-f]{24})")


class InvalidDetails(ValueError):
    """A card or bank detail is not valid; `field` names it (e.g. "number"), the message never
    contains the value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Declined(Exception):
    """The processor refused to attach the payment method."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check digit of a card number is right."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def aba_routing_valid(routing_number: str) -> bool:
    """The ABA routing number checksum: 3·7·1 weights over the nine digits, a multiple of 10."""
    if not re.fullmatch(r"[0-9]{9}", routing_number, re.ASCII):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing_number, weights, strict=True)) % 10 == 0


def card_brand(number: str) -> str:
    """The card network from the number's leading digits (IIN ranges); "unknown" otherwise."""
    two, three, four, six = (int(number[:n]) for n in (2, 3, 4, 6))
    if number.startswith("4"):
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if four == 6011 or 644 <= three <= 649 or two == 65 or 622126 <= six <= 622925:
        return "discover"
    if 3528 <= four <= 3589:
        return "jcb"
    if two in (36, 38, 39) or 300 <= three <= 305:
        return "diners"
    if two == 62:
        return "unionpay"
    return "unknown"


def _new_token(kind: str, behaviour: Behaviour) -> str:
    return f"{TOKEN_PREFIX}{kind}_{behaviour.value}_{secrets.token_hex(12)}"


def validate_card(number: str, exp_month: int, exp_year: int, cvc: str, *, today: date) -> None:
    """Check a card's details as any processor would before trying it (the Stripe adapter
    checks test cards the same way, so both answer with the same messages).

    Raises `InvalidDetails` (field "number", "exp_month", "exp_year" or "cvc")."""
    if not re.fullmatch(r"[0-9]{12,19}", number, re.ASCII):
        raise InvalidDetails("number", "A card number has 12 to 19 digits (digits only)")
    if not luhn_valid(number):
        raise InvalidDetails("number", "The card number is not valid (check digit mismatch)")
    if not 1 <= exp_month <= 12:
        raise InvalidDetails("exp_month", "The expiry month is 1 to 12")
    if not 2000 <= exp_year <= 2100:
        raise InvalidDetails("exp_year", "The expiry year has four digits, e.g. 2030")
    if (exp_year, exp_month) < (today.year, today.month):
        field = "exp_year" if exp_year < today.year else "exp_month"
        raise InvalidDetails(field, "The card has expired")
    if not re.fullmatch(r"[0-9]{3,4}", cvc, re.ASCII):
        raise InvalidDetails("cvc", "The security code (CVC) has 3 or 4 digits")


def tokenise_card(
    number: str, exp_month: int, exp_year: int, cvc: str, *, today: date
) -> Tokenised:
    """Validate a card and tokenise it; `today` is the account's date (its clock in test mode).

    Raises `InvalidDetails` (field "number", "exp_month", "exp_year" or "cvc") or `Declined`.
    """
    validate_card(number, exp_month, exp_year, cvc, today=today)
    if number == DECLINED_AT_ATTACH:
        raise Declined("Your card was declined.", "card_declined")
    behaviour = _CARD_BEHAVIOURS.get(number, Behaviour.SUCCEEDS)
    return Tokenised(
        type="card",
        token=_new_token("card", behaviour),
        brand=card_brand(number),
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
    )


def tokenise_bank_account(routing_number: str, account_number: str) -> Tokenised:
    """Validate a US bank account (ACH debit) and tokenise it.

    Raises `InvalidDetails` (field "routing_number" or "account_number").
    """
    if not aba_routing_valid(routing_number):
        raise InvalidDetails(
            "routing_number", "A routing number has 9 digits with a valid ABA checksum"
        )
    if not re.fullmatch(r"[0-9]{4,17}", account_number, re.ASCII):
        raise InvalidDetails("account_number", "An account number has 4 to 17 digits")
    behaviour = _BANK_BEHAVIOURS.get(account_number, Behaviour.SETTLES_LATER)
    return Tokenised(
        type="bank_debit",
        token=_new_token("bank", behaviour),
        brand=None,
        last4=account_number[-4:],
        exp_month=None,
        exp_year=None,
    )


def is_sandbox_token(token: str) -> bool:
    """Whether the sandbox issued this token (so `behaviour_of` can read it)."""
    try:
        behaviour_of(token)
    except ValueError:
        return False
    return True


def behaviour_of(token: str) -> Behaviour:
    """What charging the payment method with this sandbox token does (see `Behaviour`).

    The billing engine calls this when it charges: `SUCCEEDS` → paid now; `ALWAYS_FAILS` →
    failed, reason card declined; `INSUFFICIENT_FUNDS` → failed, reason insufficient funds;
    `SETTLES_LATER` / `FAILS_LATER` → pending, then paid / failed `BANK_SETTLEMENT_DAYS` days
    after the attempt. Raises `ValueError` for a token the sandbox did not issue.
    """
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise ValueError("not a sandbox payment method token")
    try:
        return Behaviour(match.group(2))
    except ValueError:
        raise ValueError("not a sandbox payment method token") from None


# --- the adapter ---------------------------------------------------------------------------


def _reference(kind: str, idempotency_key: str) -> str:
    # The same key always yields the same reference: the processor's own deduplication.
    return f"sbx_{kind}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


class SandboxAdapter:
    """The sandbox behind the processor interface (`payments.adapter.Adapter`)."""

    name = PROCESSOR

    def tokenise(
        self, session: Session, account: Account, contact_id: str | None, data: PaymentMethodCreate
    ) -> Tokenised:
        if data.type == "stripe":
            raise InvalidRequest(
                "A 'stripe' payment method needs the Stripe processor; this account uses the "
                "sandbox (PATCH /account/processor switches it)",
                param="type",
            )
        for other in ("card", "bank_debit", "stripe"):
            if other != data.type and getattr(data, other) is not None:
                raise InvalidRequest(
                    "A '%(type)s' payment method has no '%(other)s'",
                    type=data.type,
                    other=other,
                    param=other,
                )
        try:
            if data.type == "card":
                if data.card is None:
                    raise InvalidRequest("A card payment method needs 'card'", param="card")
                return tokenise_card(
                    data.card.number,
                    data.card.exp_month,
                    data.card.exp_year,
                    data.card.cvc,
                    today=clock.account_today(account),
                )
            debit = data.bank_debit
            if debit is None:
                raise InvalidRequest(
                    "A bank debit payment method needs 'bank_debit'", param="bank_debit"
                )
            if debit.iban is not None:
                raise InvalidRequest(
                    "SEPA debits (an IBAN) need the Stripe processor; the sandbox takes US bank "
                    "accounts (routing_number and account_number)",
                    param="bank_debit.iban",
                )
            for field in ("routing_number", "account_number"):
                if getattr(debit, field) is None:
                    raise InvalidRequest(
                        "Missing required field: 'bank_debit.%(field)s'",
                        field=field,
                        param=f"bank_debit.{field}",
                    )
            assert debit.routing_number is not None and debit.account_number is not None
            return tokenise_bank_account(debit.routing_number, debit.account_number)
        except InvalidDetails as exc:
            raise InvalidRequest(exc.message, param=f"{data.type}.{exc.field}") from None
        except Declined as exc:
            raise PaymentFailed(exc.message, param=data.type) from None

    def charge(
        self, method: PaymentMethod, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        behaviour = behaviour_of(method.processor_token)
        reference = _reference("ch", idempotency_key)
        if behaviour is Behaviour.SUCCEEDS:
            return ChargeResult("succeeded", reference)
        if behaviour is Behaviour.ALWAYS_FAILS:
            return ChargeResult("failed", reference, failure_reason="card_declined")
        if behaviour is Behaviour.INSUFFICIENT_FUNDS:
            return ChargeResult("failed", reference, failure_reason="insufficient_funds")
        settles_as = "succeeded" if behaviour is Behaviour.SETTLES_LATER else "failed"
        return ChargeResult(
            "processing",
            reference,
            settles_in_days=BANK_SETTLEMENT_DAYS,
            settles_as=settles_as,
        )

    def bank_debit_outcome(
        self, method: PaymentMethod, reference: str | None
    ) -> tuple[str, str | None]:
        if behaviour_of(method.processor_token) is Behaviour.FAILS_LATER:
            return "failed", "bank_account_debit_failed"
        return "succeeded", None

    def refund(self, charge_reference: str, amount: int, refund_key: str) -> str:
        return _reference("re", f"{charge_reference}:{refund_key}:{amount}")


ADAPTER = SandboxAdapter()
