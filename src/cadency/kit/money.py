"""Exact money: amounts are integers in the currency's minor units, never floats.

`parse_amount` turns the decimal strings the API and forms receive ("12.50") into minor units
(1250); `format_amount` turns them back. Arithmetic that needs rounding (percentages, proration)
is done with exact integers and rounds half away from zero to whole minor units.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from functools import cache

from babel.core import get_global
from babel.numbers import get_territory_currencies, list_currencies

__all__ = [
    "CURRENCY_EXPONENTS",
    "DEFAULT_EXPONENT",
    "MAX_MINOR_UNITS",
    "MoneyError",
    "currency_exponent",
    "format_amount",
    "is_known_currency",
    "is_transaction_currency",
    "line_amount",
    "parse_amount",
    "percent_of",
    "prorate",
]

DEFAULT_EXPONENT = 2
"""ISO 4217 minor units of every currency not listed in `CURRENCY_EXPONENTS`."""

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
            "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}  # fmt: skip
"""ISO 4217 minor units of the currencies whose exponent is not 2."""

MAX_MINOR_UNITS = 10**15
"""Largest absolute amount accepted by `parse_amount`, in minor units."""

_AMOUNT_PATTERN = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)
# An integer part longer than this is certainly above MAX_MINOR_UNITS; checking the length first
# keeps int() away from huge inputs.
_MAX_INTEGER_DIGITS = 20


class MoneyError(ValueError):
    """An amount or currency is not acceptable; the message is meant for people."""


@cache
def _known_codes() -> frozenset[str]:
    return frozenset(list_currencies()) | frozenset(CURRENCY_EXPONENTS)


def is_known_currency(code: str) -> bool:
    """Whether `code` is an uppercase three-letter ISO 4217 currency code that exists."""
    return (
        isinstance(code, str)
        and len(code) == 3
        and code.isascii()
        and code.isupper()
        and code in _known_codes()
    )


@cache
def _tender_codes() -> frozenset[str]:
    # CLDR (through Babel) knows which currencies are legal tender in some territory today. ISO
    # 4217 also has codes no one pays in: funds (BOV, CLF, USN, …), precious metals (XAU, XAG,
    # XPT, XPD), the IMF's XDR, bond-market units (XBA…), testing (XTS), no currency (XXX),
    # and withdrawn currencies (DEM, HRK); none of them is tender anywhere.
    territories = get_global("territory_currencies")
    return frozenset(
        code
        for territory in territories
        for code in get_territory_currencies(territory, tender=True, non_tender=False)
    )


def is_transaction_currency(code: str) -> bool:
    """Whether `code` is a known currency that payments are made in: legal tender somewhere
    today, so not a fund, precious-metal, testing or withdrawn code."""
    return is_known_currency(code) and code in _tender_codes()


# Exponents of the codes already checked: an export or a list formats millions of amounts in
# a handful of currencies.
_CHECKED_EXPONENTS: dict[str, int] = {}


def currency_exponent(code: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    if type(code) is str and (known := _CHECKED_EXPONENTS.get(code)) is not None:
        return known
    if not is_known_currency(code):
        raise MoneyError(f"{code!r} is not a known ISO 4217 currency code (e.g. 'USD')")
    exponent = _CHECKED_EXPONENTS[code] = CURRENCY_EXPONENTS.get(code, DEFAULT_EXPONENT)
    return exponent


def _scale(exponent: int) -> int:
    """Minor units per major unit."""
    scale: int = 10**exponent
    return scale


def _precision_phrase(currency: str, exponent: int) -> str:
    if exponent == 0:
        return f"{currency} amounts are whole numbers (no decimal places)"
    places = "place" if exponent == 1 else "places"
    return f"{currency} amounts have at most {exponent} decimal {places}"


def parse_amount(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """Parse a decimal string in major units ("12.50") into minor units (1250).

    Only plain decimal notation is accepted: digits, optionally one "." followed by at most as
    many digits as the currency has decimal places, and a leading "-" when `allow_negative`.
    Exponents, NaN/Infinity, spaces, "+" and values above `MAX_MINOR_UNITS` are rejected with a
    `MoneyError`.
    """
    exponent = currency_exponent(currency)
    if not isinstance(text, str):
        raise MoneyError(
            f"an amount must be a decimal string like '12.50', not {type(text).__name__}"
        )
    match = _AMOUNT_PATTERN.fullmatch(text)
    if match is None:
        shown = repr(text) if text else "an empty string"
        raise MoneyError(
            f"{shown} is not a valid {currency} amount: write a plain decimal number like "
            f"{format_amount(1250 * _scale(exponent) // 100, currency)!r}"
        )
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if len(fraction) > exponent:
        raise MoneyError(
            f"{text!r} is not a valid {currency} amount: {_precision_phrase(currency, exponent)}"
        )
    if len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS:
        raise MoneyError(f"{currency} amount {text!r} is too large")
    minor = int(whole) * _scale(exponent) + int(fraction.ljust(exponent, "0") or "0")
    if sign:
        minor = -minor
    if minor < 0 and not allow_negative:
        raise MoneyError(f"{currency} amount {text!r} must not be negative")
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError(f"{currency} amount {text!r} is too large")
    return minor


def format_amount(minor: int, currency: str) -> str:
    """Format minor units as a plain decimal string in major units: 1250 USD -> "12.50"."""
    exponent = currency_exponent(currency)
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"an amount in minor units must be an integer, not {minor!r}")
    sign = "-" if minor < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(minor)}"
    whole, fraction = divmod(abs(minor), _scale(exponent))
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def _round_half_up(value: Fraction) -> int:
    """Round to the nearest integer, halves away from zero."""
    magnitude, remainder = divmod(abs(value.numerator), value.denominator)
    if 2 * remainder >= value.denominator:
        magnitude += 1
    return -magnitude if value < 0 else magnitude


def percent_of(minor: int, percent: Decimal) -> int:
    """`percent` % of `minor`, rounded half away from zero to whole minor units.

    percent_of(1999, Decimal("12.5")) == 250 (249.875 rounds up).
    """
    if not isinstance(percent, Decimal | int) or isinstance(percent, bool):
        raise MoneyError(f"a percentage must be a Decimal, not {type(percent).__name__}")
    if isinstance(percent, Decimal) and not percent.is_finite():
        raise MoneyError(f"a percentage must be a finite number, not {percent}")
    return _round_half_up(Fraction(minor) * Fraction(percent) / 100)


def line_amount(unit_price: int, quantity: int, discount_percent: Decimal | None) -> int:
    """Amount of a line: quantity times the unit price after its per-unit percent discount.

    The discount is rounded per unit (not on the line total), so a line always equals
    `quantity` times the discounted unit price shown next to it.
    """
    unit_discount = 0 if discount_percent is None else percent_of(unit_price, discount_percent)
    return quantity * (unit_price - unit_discount)


def prorate(amount: int, numerator: int, denominator: int) -> int:
    """`amount * numerator / denominator`, rounded half away from zero, in exact integers.

    Used for partial periods, e.g. prorate(3000, 10, 30) == 1000 for 10 of 30 days.
    """
    if denominator <= 0:
        raise MoneyError(f"a proration needs a positive denominator, not {denominator}")
    return _round_half_up(Fraction(amount * numerator, denominator))
