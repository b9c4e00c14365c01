"""What the buyer types into the payment forms of the hosted pages (the invoice page, update
payment method, the payment-link page): the card or bank details read from the form (numbers
are never typed back), the addresses asked, and the short sentences the buyer reads when the
processor or the schema refuses something, in the buyer-page catalog."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel import Locale
from starlette.datastructures import FormData

from cadency.accounts.models import Account
from cadency.crm.schemas import AddressIn, country_codes
from cadency.invoices.documents import D_
from cadency.kit.errors import InvalidRequest
from cadency.payments import processor
from cadency.payments.models import Payment
from cadency.payments.schemas import PaymentMethodCreate
from cadency.web.forms import FormErrors, FormInvalid, build, checked, text

# What the buyer reads for a field the processor or the schema refused: the services speak
# English to developers; a buyer gets a short sentence in their language.
FIELD_MESSAGES = {
    "card.number": D_("Check the card number."),
    "card.exp_month": D_("Check the expiry month."),
    "card.exp_year": D_("Check the expiry year."),
    "card.cvc": D_("Check the security code (CVC)."),
    "bank_debit.routing_number": D_("Check the routing number."),
    "bank_debit.account_number": D_("Check the account number."),
    "bank_debit.iban": D_("Check the IBAN."),
}
FAILURE_MESSAGES = {
    "card_declined": D_("Your card was declined."),
    "insufficient_funds": D_("The payment was declined: insufficient funds."),
    "bank_account_debit_failed": D_("The bank debit failed."),
    "authentication_required": D_("Your bank did not confirm the payment."),
    processor.NOT_CONFIGURED: D_("Online payments are not available."),
}
PAYMENT_FAILED = D_("The payment failed.")
CARD_FIELDS = ("number", "exp_month", "exp_year", "cvc")
BANK_FIELDS = ("routing_number", "account_number")
IBAN_FIELDS = ("iban",)
SETUP_INTENT = re.compile(r"seti_[A-Za-z0-9]{1,64}", re.ASCII)


# --- payment method forms -----------------------------------------------------------------


@dataclass
class MethodForm:
    """What the buyer typed (card and account numbers are never echoed back) and what went
    wrong, per field."""

    kind: str
    values: dict[str, str]
    errors: FormErrors

    @classmethod
    def empty(cls) -> MethodForm:
        return cls(kind="card", values={}, errors={})

    @classmethod
    def refused(cls, message: str) -> MethodForm:
        """A form to fill in again, with why the last post was refused (a message id)."""
        return cls(kind="card", values={}, errors={"__all__": message})


def _int_or_text(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def method_from_form(
    form: FormData, *, set_up: str | None = None
) -> tuple[MethodForm, PaymentMethodCreate | None]:
    """The payment method the form gives: card or bank details typed into it, or, with
    `set_up`, the processor's payment method its own card field set up (`card_set_up`)."""
    kind = "bank_debit" if text(form, "type") == "bank_debit" else "card"
    if kind == "card" and set_up is not None:
        method = build(
            PaymentMethodCreate, {"type": "stripe", "stripe": {"payment_method": set_up}}
        )
        return MethodForm(kind="card", values={}, errors={}), method
    # With Stripe a bank debit is a SEPA debit, given by its IBAN.
    fields = CARD_FIELDS if kind == "card" else IBAN_FIELDS if "iban" in form else BANK_FIELDS
    values = {name: text(form, name) or "" for name in fields}
    details: dict[str, Any] = {name: values[name] or None for name in fields}
    if kind == "card":
        details["exp_month"] = _int_or_text(values["exp_month"] or None)
        details["exp_year"] = _int_or_text(values["exp_year"] or None)
        # Two digits are what cards print: 30 means 2030.
        if isinstance(details["exp_year"], int) and details["exp_year"] < 100:
            details["exp_year"] += 2000
    # Only the expiry date is typed back into the form; the numbers are asked for again.
    kept: dict[str, str] = {n: values[n] for n in ("exp_month", "exp_year") if n in values}
    form_state = MethodForm(kind=kind, values=kept, errors={})
    try:
        data = build(PaymentMethodCreate, {"type": kind, kind: details})
    except FormInvalid as exc:
        form_state.errors = buyer_errors(exc.errors, kind)
        return form_state, None
    return form_state, data


def buyer_errors(errors: Mapping[str, str], kind: str) -> FormErrors:
    """Field errors as the buyer reads them (message ids, translated by the template)."""
    result: FormErrors = {}
    for param in errors:
        field = param.rsplit(".", 1)[-1]  # "card.number" → "number"
        if f"{kind}.{field}" in FIELD_MESSAGES:
            result[field] = FIELD_MESSAGES[f"{kind}.{field}"]
        else:
            result.setdefault("__all__", D_("Check the payment details."))
    return result


def failure_message(payment: Payment | None) -> str:
    if payment is None or payment.failure_reason is None:
        return PAYMENT_FAILED
    return FAILURE_MESSAGES.get(payment.failure_reason, PAYMENT_FAILED)


# --- addresses ----------------------------------------------------------------------------

ADDRESS_PARTS = ("line1", "line2", "postal_code", "city", "region", "country")
ADDRESS_MESSAGES = {
    "line1": D_("Enter the street and house number."),
    "line2": D_("Check the second address line."),
    "postal_code": D_("Enter the postal code."),
    "city": D_("Enter the city."),
    "region": D_("Check the region."),
    "country": D_("Choose the country."),
}


def address_from_form(form: FormData, prefix: str) -> dict[str, str]:
    """The parts of an address typed into the form's `{prefix}.{part}` fields."""
    return {part: text(form, f"{prefix}.{part}") or "" for part in ADDRESS_PARTS}


def address_input(values: Mapping[str, str]) -> dict[str, str | None]:
    """An address as the API takes it: a part left empty is no part."""
    return {part: (value.strip() or None) for part, value in values.items()}


def country_choices(language: str) -> list[tuple[str, str]]:
    """Every country a buyer may choose, named and sorted in the page's language."""
    names = Locale.parse(language).territories
    return sorted(
        ((code, str(names.get(code, code))) for code in country_codes()),
        key=lambda choice: choice[1],
    )


# --- what the seller asks besides the payment method --------------------------------------

TYPE_NOT_ACCEPTED = D_("Choose one of the payment methods offered here.")
CONSENT_NEEDED = D_("Agree to the future payments to continue.")
REQUIRED_PARTS = ("line1", "postal_code", "city", "country")


def asked_from_form(form: FormData) -> dict[str, Any]:
    """The addresses and the consent to keep the method, as typed (for the form again)."""
    return {
        "billing_address": address_from_form(form, "billing_address"),
        "shipping_address": address_from_form(form, "shipping_address"),
        "save_payment_method": checked(form, "save_payment_method"),
    }


def check_asked(
    errors: FormErrors, asked: Mapping[str, Any], options: Mapping[str, Any], consent: str
) -> dict[str, dict[str, Any] | None]:
    """The addresses the payment options ask for, complete and valid, to keep on the payment
    (None where not asked); what is missing goes on `errors`, and so does a consent the page
    requires and the buyer did not give."""
    kept: dict[str, dict[str, Any] | None] = {"billing_address": None, "shipping_address": None}
    for name, option in (
        ("billing_address", "collect_billing_address"),
        ("shipping_address", "collect_shipping_address"),
    ):
        if not options[option]:
            continue
        parts = address_input(asked[name])
        missing = [part for part in REQUIRED_PARTS if not parts.get(part)]
        for part in missing:
            errors[f"{name}.{part}"] = ADDRESS_MESSAGES[part]
        if missing:
            continue
        try:
            kept[name] = build(AddressIn, parts).stored()
        except FormInvalid as exc:
            for param in exc.errors:
                part = param.rsplit(".", 1)[-1]
                errors[f"{name}.{part}"] = ADDRESS_MESSAGES.get(part, ADDRESS_MESSAGES["line1"])
    if consent == "required" and not asked["save_payment_method"]:
        errors["save_payment_method"] = CONSENT_NEEDED
    return kept


# --- the processor's own card field (Stripe.js) -------------------------------------------


def card_set_up(account: Account, form: FormData) -> str | None:
    """The processor's payment method for the card the buyer typed into the processor's own
    field (Stripe.js confirmed the form's SetupIntent before posting it), or None when the
    form carries its own card or bank details. A declined card is a 402 `PaymentFailed`."""
    setup = text(form, "stripe_setup_intent")
    if not setup or text(form, "type") == "bank_debit":
        return None
    if not SETUP_INTENT.fullmatch(setup):
        raise InvalidRequest("Not a card setup of this page", param="stripe_setup_intent")
    return processor.set_up_payment_method(account, setup)


def paid_by(method: PaymentMethodCreate) -> str:
    """The payment type a method given on a hosted form is: the processor's card field sets
    up cards only."""
    return "card" if method.type == "stripe" else method.type


def processor_field(account: Account, types: Sequence[str]) -> dict[str, Any] | None:
    """What the form needs for the processor's own card field (Stripe.js), when the account's
    processor has one and cards are offered; None for the sandbox's plain fields."""
    return processor.browser_setup(account) if "card" in types else None


def offered_types(account: Account, types: Sequence[str]) -> list[str]:
    """The accepted payment types a hosted form can take for this account: a live Stripe
    account takes SEPA debits only through Stripe's own form (which collects the mandate),
    not by IBAN here, so it offers cards only."""
    config = processor.client_config(account)
    if config is not None and account.mode == "live":
        return [kind for kind in types if kind != "bank_debit"]
    return list(types)
