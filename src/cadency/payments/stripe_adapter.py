"""The Stripe adapter, through the official `stripe` library.

- Payment methods: Stripe PaymentMethods attached to one Stripe customer per contact (made the
  first time the contact saves a method with Stripe, and kept on the methods' rows). The API takes
  a `pm_…` made by Stripe.js or the merchant's integration; a test-mode account may also send the
  raw test card numbers and IBANs, which the adapter turns into PaymentMethods.
- Charges: PaymentIntents confirmed off-session, with Cadency's attempt key as Stripe's
  idempotency key, so a charge retried after a timeout is charged once. Declines map to the
  sandbox's failure reasons (so dunning behaves the same); a card that needs the buyer to
  authenticate (3-D Secure) answers `requires_action`; a SEPA debit stays `processing` until
  Stripe's webhook says how it ended.
- Refunds: Stripe refunds, idempotent the same way.
- Events: `verify_event` checks a webhook's signature with the library and `outcomes` reads what
  it says in the processor-neutral terms billing understands.

Everything that is known to Stripe only by its answer is asked with the library's own retries
(`MAX_NETWORK_RETRIES`, each with the same idempotency key); when no answer comes at all,
`ProcessorUnavailable` is raised and nothing is recorded. See docs/stripe.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import stripe
from sqlalchemy import select

from cadency.crm.models import Contact
from cadency.kit import clock
from cadency.kit.errors import InvalidRequest, PaymentFailed
from cadency.payments import sandbox
from cadency.payments.adapter import (
    ChargeResult,
    PaymentOutcome,
    ProcessorUnavailable,
    RefundSeen,
    Tokenised,
)
from cadency.payments.models import PaymentMethod

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cadency.accounts.models import Account
    from cadency.payments.schemas import PaymentMethodCreate

log = logging.getLogger("cadency.payments.stripe")
# The library logs every request at INFO and its bodies at DEBUG (card details of a test card,
# a PaymentIntent's client secret): only its warnings reach Cadency's logs.
logging.getLogger("stripe").setLevel(logging.WARNING)

PROCESSOR = "stripe"
# Seconds to wait for one answer, and how often the library tries again (with the same
# idempotency key) after a timeout, a network error or a 5xx before giving up.
TIMEOUT_SECONDS: float = 60.0
MAX_NETWORK_RETRIES = 2
# Stripe's decline codes that have a failure reason of their own; any other decline is
# "card_declined", as in the sandbox.
DECLINE_REASONS = {
    "insufficient_funds": "insufficient_funds",
}
AUTHENTICATION_REQUIRED = "authentication_required"
BANK_DEBIT_FAILED = "bank_account_debit_failed"


@dataclass(frozen=True)
class StripeKeys:
    """What talking to Stripe for one account takes."""

    secret_key: str = field(repr=False)
    publishable_key: str | None
    api_base: str | None


def client_for(keys: StripeKeys) -> stripe.StripeClient:
    return stripe.StripeClient(
        keys.secret_key,
        base_addresses={"api": keys.api_base} if keys.api_base else None,
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _unavailable(exc: stripe.StripeError) -> ProcessorUnavailable:
    log.warning("Stripe did not answer: %s", type(exc).__name__)
    return ProcessorUnavailable(
        "Stripe did not answer in time; nothing was recorded. Try again: a repeated charge "
        "carries the same idempotency key, so Stripe charges at most once"
    )


def decline_reason(code: str | None, decline_code: str | None) -> str:
    """The sandbox's failure reason for a Stripe card error."""
    for value in (decline_code, code):
        if value in DECLINE_REASONS:
            return DECLINE_REASONS[value]
    return "card_declined"


def verify_secret_key(keys: StripeKeys) -> None:
    """Ask Stripe for the account's balance with the key: a 422 naming the field when Stripe
    refuses it or cannot be reached."""
    try:
        client_for(keys).v1.balance.retrieve()
    except (stripe.AuthenticationError, stripe.PermissionError):
        raise InvalidRequest("Stripe refused this secret key", param="stripe.secret_key") from None
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError):
        where = keys.api_base or "api.stripe.com"
        raise InvalidRequest(
            "Stripe could not be reached at %(where)s to check the secret key; try again",
            where=where,
            param="stripe.api_base" if keys.api_base else "stripe.secret_key",
        ) from None


class StripeAdapter:
    """Stripe for one account (`payments.adapter.Adapter`)."""

    name = PROCESSOR

    def __init__(self, keys: StripeKeys, *, test_mode: bool) -> None:
        self.keys = keys
        self.test_mode = test_mode
        self.client = client_for(keys)

    # --- payment methods ------------------------------------------------------------------

    def tokenise(
        self, session: Session, account: Account, contact_id: str | None, data: PaymentMethodCreate
    ) -> Tokenised:
        for other in ("card", "bank_debit", "stripe"):
            if other != data.type and getattr(data, other) is not None:
                raise InvalidRequest(
                    "A '%(type)s' payment method has no '%(other)s'",
                    type=data.type,
                    other=other,
                    param=other,
                )
        contact = session.get(Contact, contact_id) if contact_id else None
        if data.type == "stripe":
            if data.stripe is None:
                raise InvalidRequest("A stripe payment method needs 'stripe'", param="stripe")
            method = self._retrieve(data.stripe.payment_method)
        elif data.type == "card":
            method = self._card(account, data)
        else:
            method = self._bank_debit(data, contact)
        customer = method.get("customer")
        if not customer:
            customer = self._customer_for(session, account, contact)
            method = self._attach(str(method["id"]), customer, data.type)
        return self._tokenised(method, str(customer))

    def _retrieve(self, payment_method: str) -> dict[str, Any]:
        try:
            found = self.client.v1.payment_methods.retrieve(payment_method)
        except stripe.InvalidRequestError:
            raise InvalidRequest(
                "Stripe has no PaymentMethod '%(payment_method)s' for this account",
                payment_method=payment_method,
                param="stripe.payment_method",
            ) from None
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return found.to_dict()

    def _card(self, account: Account, data: PaymentMethodCreate) -> dict[str, Any]:
        if not self.test_mode:
            raise InvalidRequest(
                "A live account takes cards as Stripe PaymentMethods (`pm_…` made by Stripe.js), "
                "never as card numbers",
                param="card",
            )
        card = data.card
        if card is None:
            raise InvalidRequest("A card payment method needs 'card'", param="card")
        try:
            sandbox.validate_card(
                card.number,
                card.exp_month,
                card.exp_year,
                card.cvc,
                today=clock.account_today(account),
            )
        except sandbox.InvalidDetails as exc:
            raise InvalidRequest(exc.message, param=f"card.{exc.field}") from None
        return self._create(
            {
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc,
                },
            },
            "card.number",
        )

    def _bank_debit(self, data: PaymentMethodCreate, contact: Contact | None) -> dict[str, Any]:
        debit = data.bank_debit
        if debit is None:
            raise InvalidRequest(
                "A bank debit payment method needs 'bank_debit'", param="bank_debit"
            )
        if debit.iban is None:
            raise InvalidRequest(
                "With Stripe, a bank debit is a SEPA debit: give 'iban' (US bank accounts are "
                "verified by Stripe.js, not taken by number)",
                param="bank_debit.iban",
            )
        if debit.routing_number is not None or debit.account_number is not None:
            raise InvalidRequest("A SEPA debit has an IBAN only", param="bank_debit.routing_number")
        if not self.test_mode:
            raise InvalidRequest(
                "A live account takes SEPA debits as Stripe PaymentMethods (`pm_…` made by "
                "Stripe.js, which collects the buyer's mandate), never as IBANs",
                param="bank_debit.iban",
            )
        iban = debit.iban.replace(" ", "").upper()
        if not (15 <= len(iban) <= 34 and iban[:2].isalpha() and iban[2:].isalnum()):
            raise InvalidRequest("This is not an IBAN", param="bank_debit.iban")
        details: dict[str, Any] = {}
        if contact is not None:
            details = {"name": contact.display_name, "email": contact.email}
        params: dict[str, Any] = {"type": "sepa_debit", "sepa_debit": {"iban": iban}}
        if any(details.values()):
            params["billing_details"] = {k: v for k, v in details.items() if v}
        return self._create(params, "bank_debit.iban")

    def _create(self, params: dict[str, Any], param: str) -> dict[str, Any]:
        try:
            made = self.client.v1.payment_methods.create(params)  # type: ignore[arg-type]
        except stripe.CardError as exc:
            raise PaymentFailed(
                exc.user_message or "Your card was declined.", param=param
            ) from None
        except stripe.InvalidRequestError:
            raise InvalidRequest("Stripe did not accept these details", param=param) from None
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return made.to_dict()

    def _customer_for(self, session: Session, account: Account, contact: Contact | None) -> str:
        """The contact's Stripe customer: the one its saved Stripe methods are attached to,
        else a new one (created with an idempotency key per contact, so a retry within Stripe's
        24 hours finds the same customer)."""
        if contact is not None:
            known = session.scalar(
                select(PaymentMethod.processor_customer)
                .where(
                    PaymentMethod.account_id == account.id,
                    PaymentMethod.contact_id == contact.id,
                    PaymentMethod.processor == PROCESSOR,
                    PaymentMethod.processor_customer.is_not(None),
                )
                .order_by(PaymentMethod.created_at.desc(), PaymentMethod.id.desc())
                .limit(1)
            )
            if known:
                return known
        params: dict[str, Any] = {"metadata": {"cadency_account": str(account.id)}}
        options: dict[str, Any] = {}
        if contact is not None:
            params["metadata"]["cadency_contact"] = contact.id
            if contact.email:
                params["email"] = contact.email
            if contact.display_name:
                params["name"] = contact.display_name
            options["idempotency_key"] = f"cadency:customer:{account.id}:{contact.id}"
        try:
            customer = self.client.v1.customers.create(params, options)  # type: ignore[arg-type]
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return str(customer.id)

    def _attach(self, payment_method: str, customer: str, kind: str) -> dict[str, Any]:
        try:
            attached = self.client.v1.payment_methods.attach(payment_method, {"customer": customer})
        except stripe.CardError as exc:
            message = exc.user_message or "Your card was declined."
            raise PaymentFailed(message, param=kind) from None
        except stripe.InvalidRequestError:
            raise InvalidRequest("Stripe could not save this payment method", param=kind) from None
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return attached.to_dict()

    @staticmethod
    def _tokenised(method: dict[str, Any], customer: str) -> Tokenised:
        if method.get("type") == "sepa_debit":
            debit = method.get("sepa_debit") or {}
            return Tokenised(
                type="bank_debit",
                token=str(method["id"]),
                brand=None,
                last4=str(debit.get("last4") or "")[-4:],
                exp_month=None,
                exp_year=None,
                processor=PROCESSOR,
                customer=customer,
            )
        if method.get("type") != "card":
            raise InvalidRequest(
                "Cadency charges cards and SEPA debits; this PaymentMethod is neither",
                param="stripe.payment_method",
            )
        card = method.get("card") or {}
        return Tokenised(
            type="card",
            token=str(method["id"]),
            brand=card.get("brand"),
            last4=str(card.get("last4") or "")[-4:],
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
            processor=PROCESSOR,
            customer=customer,
        )

    # --- charges --------------------------------------------------------------------------

    def charge(
        self, method: PaymentMethod, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        debit = method.type == "bank_debit"
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": method.processor_token,
            "payment_method_types": ["sepa_debit" if debit else "card"],
            "confirm": True,
            "off_session": True,
            "metadata": {
                "cadency_account": str(method.account_id),
                "cadency_attempt": idempotency_key,
            },
        }
        if method.processor_customer:
            params["customer"] = method.processor_customer
        try:
            intent = self.client.v1.payment_intents.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            ).to_dict()
        except stripe.CardError as exc:
            result = self._declined(exc, debit)
            if result.reference and result.reference.startswith("ch_"):
                # Named by its PaymentIntent, as Stripe's events name it.
                result = replace(result, reference=self._intent_of(result.reference))
            return result
        except (stripe.AuthenticationError, stripe.PermissionError):
            log.error("Stripe refused the secret key of account %s", method.account_id)
            return ChargeResult("failed", None, failure_reason="payment_processor_not_configured")
        except stripe.InvalidRequestError as exc:
            # The method is gone at Stripe (detached, customer deleted): this attempt fails.
            log.warning("Stripe refused a charge request: %s", exc.user_message)
            return ChargeResult(
                "failed", None, failure_reason=BANK_DEBIT_FAILED if debit else "card_declined"
            )
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return self._intent_result(intent, debit)

    def _intent_of(self, charge: str) -> str:
        """The PaymentIntent of a charge (a decline's error may name only the charge); the
        charge itself when Stripe cannot say."""
        try:
            found = self.client.v1.charges.retrieve(charge).to_dict()
        except stripe.StripeError:
            return charge
        intent = found.get("payment_intent")
        if isinstance(intent, dict):
            intent = intent.get("id")
        return str(intent or charge)

    @staticmethod
    def _intent_result(intent: dict[str, Any], debit: bool) -> ChargeResult:
        status, reference = intent.get("status"), str(intent["id"])
        if status == "succeeded":
            return ChargeResult("succeeded", reference)
        if status == "processing":
            return ChargeResult("processing", reference)  # settled by Stripe's webhook
        if status in ("requires_action", "requires_confirmation"):
            return ChargeResult(
                "requires_action", reference, failure_reason=AUTHENTICATION_REQUIRED
            )
        error = intent.get("last_payment_error") or {}
        reason = (
            BANK_DEBIT_FAILED
            if debit
            else decline_reason(error.get("code"), error.get("decline_code"))
        )
        return ChargeResult("failed", reference, failure_reason=reason)

    @staticmethod
    def _declined(exc: stripe.CardError, debit: bool) -> ChargeResult:
        error = _error_body(exc)
        intent = error.get("payment_intent") or {}
        reference = intent.get("id") or error.get("charge")
        if error.get("code") == AUTHENTICATION_REQUIRED or (
            error.get("decline_code") == AUTHENTICATION_REQUIRED
        ):
            # Off-session, Stripe declines a card that needs 3-D Secure; the buyer can still
            # authenticate this PaymentIntent on the hosted invoice page.
            return ChargeResult(
                "requires_action", reference, failure_reason=AUTHENTICATION_REQUIRED
            )
        reason = (
            BANK_DEBIT_FAILED
            if debit
            else decline_reason(error.get("code"), error.get("decline_code"))
        )
        return ChargeResult("failed", reference, failure_reason=reason)

    def bank_debit_outcome(
        self, method: PaymentMethod, reference: str | None
    ) -> tuple[str, str | None]:
        # Stripe's debits are settled by its webhook (they have no settlement day), so this is
        # asked only of a debit whose webhook never came.
        if reference is None:
            return "failed", BANK_DEBIT_FAILED
        try:
            intent = self.client.v1.payment_intents.retrieve(reference).to_dict()
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        if intent.get("status") == "succeeded":
            return "succeeded", None
        if intent.get("status") in ("requires_payment_method", "canceled"):
            return "failed", BANK_DEBIT_FAILED
        raise ProcessorUnavailable("Stripe is still processing this debit")

    def refund(self, charge_reference: str, amount: int, refund_key: str) -> str:
        target = "charge" if charge_reference.startswith("ch_") else "payment_intent"
        try:
            refund = self.client.v1.refunds.create(
                {target: charge_reference, "amount": amount},  # type: ignore[arg-type]
                {"idempotency_key": f"cadency:refund:{charge_reference}:{refund_key}:{amount}"},
            )
        except stripe.InvalidRequestError as exc:
            raise InvalidRequest(
                "Stripe refused the refund: %(value)s",
                value=exc.user_message or "invalid request",
                param="amount",
            ) from None
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return str(refund.id)

    # --- the hosted pages ------------------------------------------------------------------

    def authentication(self, reference: str) -> dict[str, Any] | None:
        """What Stripe.js needs to let the buyer authenticate a payment (3-D Secure): the
        PaymentIntent's client secret and payment method; None once nothing is left to do."""
        try:
            intent = self.client.v1.payment_intents.retrieve(reference).to_dict()
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        if intent.get("status") not in ("requires_action", "requires_payment_method"):
            return None
        return {
            "payment_intent": intent["id"],
            "client_secret": intent.get("client_secret"),
            "payment_method": intent.get("payment_method"),
            "status": intent.get("status"),
        }

    # --- the hosted pages' card form (Stripe.js) ---------------------------------------------

    def browser_setup(self) -> dict[str, str]:
        """A SetupIntent for one view of a hosted payment form: Stripe.js confirms the card
        the buyer types into Stripe's own field with it, so the card number reaches Stripe
        only; the form then posts the SetupIntent's ID."""
        try:
            intent = self.client.v1.setup_intents.create(
                {"usage": "off_session", "payment_method_types": ["card"]}  # type: ignore[arg-type]
            ).to_dict()
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        return {"setup_intent": str(intent["id"]), "client_secret": str(intent["client_secret"])}

    def set_up_payment_method(self, setup_intent: str) -> str:
        """The PaymentMethod a SetupIntent of `browser_setup` set up, once the buyer's card was
        confirmed with it; 402 when it was not (declined, authentication failed)."""
        try:
            intent = self.client.v1.setup_intents.retrieve(setup_intent).to_dict()
        except stripe.InvalidRequestError:
            raise InvalidRequest(
                "No such card setup at Stripe", param="stripe_setup_intent"
            ) from None
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        method = intent.get("payment_method")
        if intent.get("status") != "succeeded" or not method:
            raise PaymentFailed("Your card was declined.", param="card")
        return str(method)

    # --- events ------------------------------------------------------------------------------

    def outcomes(
        self, session: Session, account: Account, event: dict[str, Any]
    ) -> list[PaymentOutcome | RefundSeen]:
        """What a Stripe event tells Cadency, in processor-neutral terms; [] for events
        Cadency does not follow."""
        kind = str(event.get("type") or "")
        obj = (event.get("data") or {}).get("object") or {}
        if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            metadata = obj.get("metadata") or {}
            ours = metadata.get("cadency_account") == str(account.id)
            if kind == "payment_intent.succeeded":
                return [PaymentOutcome(str(obj["id"]), "succeeded", None, ours)]
            error = obj.get("last_payment_error") or {}
            debit = (
                session.scalar(
                    select(PaymentMethod.type).where(
                        PaymentMethod.account_id == account.id,
                        PaymentMethod.processor_token == str(obj.get("payment_method") or ""),
                    )
                )
                == "bank_debit"
                or (error.get("payment_method") or {}).get("type") == "sepa_debit"
            )
            reason = (
                BANK_DEBIT_FAILED
                if debit
                else decline_reason(error.get("code"), error.get("decline_code"))
            )
            return [PaymentOutcome(str(obj["id"]), "failed", reason, ours)]
        if kind == "charge.refunded":
            return self._refunds_of_charge(obj)
        if kind in ("charge.refund.updated", "refund.created", "refund.updated"):
            return self._refund(obj)
        return []

    def _refunds_of_charge(self, charge: dict[str, Any]) -> list[PaymentOutcome | RefundSeen]:
        # Newer API versions leave a charge's refunds out of the event: ask for them.
        try:
            refunds = self.client.v1.refunds.list({"charge": str(charge["id"]), "limit": 100})
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            raise _unavailable(exc) from None
        reference = str(charge.get("payment_intent") or charge["id"])
        return [
            RefundSeen(reference, str(refund.id), int(refund.amount))
            for refund in refunds.data
            if refund.status in ("succeeded", "pending")
        ]

    def _refund(self, refund: dict[str, Any]) -> list[PaymentOutcome | RefundSeen]:
        if refund.get("status") not in ("succeeded", "pending"):
            return []
        reference = refund.get("payment_intent")
        if not reference and refund.get("charge"):
            try:
                charge = self.client.v1.charges.retrieve(str(refund["charge"])).to_dict()
            except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
                raise _unavailable(exc) from None
            reference = charge.get("payment_intent") or charge["id"]
        if not reference:
            return []
        return [RefundSeen(str(reference), str(refund["id"]), int(refund["amount"]))]


def verify_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event of a webhook request whose Stripe-Signature header is right for the secret
    (checked by the library, with its 5-minute tolerance); ValueError otherwise."""
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret)
    except stripe.SignatureVerificationError:
        raise ValueError("The Stripe-Signature header does not match the payload") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise ValueError("The payload is not JSON") from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ValueError("The payload is not a Stripe event")
    return event
