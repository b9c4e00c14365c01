from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadency.kit.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR_UNITS,
    MoneyError,
    currency_exponent,
    format_amount,
    is_known_currency,
    is_transaction_currency,
    line_amount,
    parse_amount,
    percent_of,
    prorate,
)

# One currency per exponent: 0, 2, 3 and 4 decimal places.
CURRENCIES_BY_EXPONENT = {"JPY": 0, "USD": 2, "KWD": 3, "CLF": 4}
currencies = st.sampled_from(sorted(CURRENCIES_BY_EXPONENT))


# --- currencies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "known"),
    [
        ("USD", True),
        ("EUR", True),
        ("JPY", True),
        ("KWD", True),
        ("CLF", True),
        ("UYW", True),
        ("usd", False),
        ("Usd", False),
        ("XYZ", False),
        ("US", False),
        ("USDD", False),
        ("", False),
        (" USD", False),
    ],
)
def test_is_known_currency(code: str, known: bool) -> None:
    assert is_known_currency(code) is known


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("DKK", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("XOF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_currency_exponent(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


def test_every_listed_exponent_belongs_to_a_known_currency() -> None:
    unknown = [code for code in CURRENCY_EXPONENTS if not is_known_currency(code)]
    assert unknown == []
    assert len(CURRENCY_EXPONENTS) == 17 + 7 + 2


@pytest.mark.parametrize("code", ["usd", "XYZ", "", "EURO"])
def test_unknown_currency_is_rejected(code: str) -> None:
    with pytest.raises(MoneyError, match="not a known ISO 4217 currency"):
        currency_exponent(code)
    with pytest.raises(MoneyError, match="not a known ISO 4217 currency"):
        parse_amount("1", code)
    with pytest.raises(MoneyError, match="not a known ISO 4217 currency"):
        format_amount(100, code)


# --- parse_amount -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("12", "USD", 1200),
        ("0.00", "USD", 0),
        ("0", "USD", 0),
        ("0.01", "USD", 1),
        ("007.10", "USD", 710),
        ("1200", "JPY", 1200),
        ("0", "JPY", 0),
        ("1.250", "KWD", 1250),
        ("1.25", "KWD", 1250),
        ("0.001", "KWD", 1),
        ("0.0001", "CLF", 1),
        ("10000000000000.00", "USD", MAX_MINOR_UNITS),
        ("1000000000000000", "JPY", MAX_MINOR_UNITS),
    ],
)
def test_parse_amount(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("-3.10", "USD", -310), ("-7", "JPY", -7), ("-0.005", "KWD", -5), ("5.00", "USD", 500)],
)
def test_parse_amount_negative_when_allowed(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency, allow_negative=True) == minor


@pytest.mark.parametrize(
    "value", [12.5, 12, None, Decimal("12.50"), True, b"12.50", ["12.50"]], ids=repr
)
def test_parse_amount_rejects_non_strings(value: Any) -> None:
    with pytest.raises(MoneyError, match="must be a decimal string"):
        parse_amount(value, "USD")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1e3",
        "1E3",
        "1.5e2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        " 12.50",
        "12.50 ",
        "12 .50",
        "1 000",
        "+12",
        "12.",
        ".5",
        "-",
        "1,50",
        "1_000",
        "0x10",
        "--1",
        "1.2.3",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11\uff12",  # full-width digits
    ],
)
def test_parse_amount_rejects_malformed_text(text: str) -> None:
    with pytest.raises(MoneyError, match="not a valid USD amount: write a plain decimal"):
        parse_amount(text, "USD")


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12.505", "USD", "USD amounts have at most 2 decimal places"),
        ("0.001", "EUR", "EUR amounts have at most 2 decimal places"),
        ("12.5", "JPY", "JPY amounts are whole numbers"),
        ("12.0", "JPY", "JPY amounts are whole numbers"),
        ("1.2345", "KWD", "KWD amounts have at most 3 decimal places"),
        ("0.00001", "CLF", "CLF amounts have at most 4 decimal places"),
    ],
)
def test_parse_amount_rejects_too_many_decimals(text: str, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        parse_amount(text, currency)


@pytest.mark.parametrize("text", ["-1", "-0.01", "-3.10"])
def test_parse_amount_rejects_negatives_unless_allowed(text: str) -> None:
    with pytest.raises(MoneyError, match="must not be negative"):
        parse_amount(text, "USD")


@pytest.mark.parametrize(
    ("text", "currency", "allow_negative"),
    [
        ("10000000000000.01", "USD", False),
        ("-10000000000000.01", "USD", True),
        ("1000000000000001", "JPY", False),
        ("99999999999999999999", "USD", False),
        ("9" * 5000, "USD", False),
        ("1" + "0" * 30 + ".5", "USD", False),
    ],
)
def test_parse_amount_rejects_absurdly_large_values(
    text: str, currency: str, allow_negative: bool
) -> None:
    with pytest.raises(MoneyError, match="is too large"):
        parse_amount(text, currency, allow_negative=allow_negative)


def test_money_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="USD"):
        parse_amount("abc", "USD")


# --- format_amount ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "USD", "12.50"),
        (1200, "USD", "12.00"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (-310, "USD", "-3.10"),
        (-5, "USD", "-0.05"),
        (1200, "JPY", "1200"),
        (-7, "JPY", "-7"),
        (0, "JPY", "0"),
        (1250, "KWD", "1.250"),
        (1, "KWD", "0.001"),
        (1, "CLF", "0.0001"),
        (MAX_MINOR_UNITS, "USD", "10000000000000.00"),
    ],
)
def test_format_amount(minor: int, currency: str, text: str) -> None:
    assert format_amount(minor, currency) == text


@pytest.mark.parametrize("value", [12.5, True, "1250", Decimal(1250)], ids=repr)
def test_format_amount_rejects_non_integers(value: Any) -> None:
    with pytest.raises(MoneyError, match="must be an integer"):
        format_amount(value, "USD")


# --- percent_of, line_amount, prorate ---------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "percent", "expected"),
    [
        (1000, "10", 100),
        (1999, "12.5", 250),  # 249.875
        (5, "50", 3),  # 2.5 rounds half up
        (3, "50", 2),  # 1.5
        (-5, "50", -3),  # halves go away from zero
        (1, "49.99", 0),
        (1, "50", 1),
        (0, "33", 0),
        (1000, "100", 1000),
        (333, "33.333", 111),  # 110.99889
        (1000, "0.05", 1),  # 0.5
        (1000, "0.0499", 0),
    ],
)
def test_percent_of(minor: int, percent: str, expected: int) -> None:
    assert percent_of(minor, Decimal(percent)) == expected


@pytest.mark.parametrize("percent", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_percent_of_rejects_non_finite(percent: Decimal) -> None:
    with pytest.raises(MoneyError, match="finite"):
        percent_of(100, percent)


def test_percent_of_rejects_float() -> None:
    with pytest.raises(MoneyError, match="must be a Decimal"):
        percent_of(100, 12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("unit_price", "quantity", "discount", "expected"),
    [
        (1999, 3, None, 5997),
        (1999, 3, "12.5", 5247),  # 3 * (1999 - 250): the discount rounds per unit
        (1000, 2, "100", 0),
        (1000, 0, "10", 0),
        (1000, 7, "0", 7000),
        (1, 3, "50", 0),  # 1 - 1 per unit
        (99, 10, "33.33", 660),  # 99 - 33 = 66 per unit
    ],
)
def test_line_amount(unit_price: int, quantity: int, discount: str | None, expected: int) -> None:
    percent = None if discount is None else Decimal(discount)
    assert line_amount(unit_price, quantity, percent) == expected


@pytest.mark.parametrize(
    ("amount", "numerator", "denominator", "expected"),
    [
        (3000, 10, 30, 1000),
        (1000, 1, 3, 333),
        (1000, 2, 3, 667),
        (1, 1, 2, 1),
        (-1, 1, 2, -1),
        (3, 1, 2, 2),
        (5, 1, 4, 1),
        (999, 0, 31, 0),
        (999, 31, 31, 999),
        (2999, 17, 28, 1821),  # 1820.82...
        (-2999, 17, 28, -1821),
    ],
)
def test_prorate(amount: int, numerator: int, denominator: int, expected: int) -> None:
    assert prorate(amount, numerator, denominator) == expected


@pytest.mark.parametrize("denominator", [0, -30])
def test_prorate_rejects_non_positive_denominator(denominator: int) -> None:
    with pytest.raises(MoneyError, match="positive denominator"):
        prorate(1000, 1, denominator)


# --- properties -------------------------------------------------------------------------------

amounts = st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS)


@given(currency=currencies, minor=amounts)
def test_format_then_parse_round_trips(currency: str, minor: int) -> None:
    text = format_amount(minor, currency)
    assert parse_amount(text, currency, allow_negative=True) == minor
    assert Decimal(text) == Decimal(minor).scaleb(-CURRENCIES_BY_EXPONENT[currency])


@st.composite
def decimal_strings(draw: st.DrawFn, max_places: int) -> str:
    # Stay within MAX_MINOR_UNITS whatever the fraction is.
    whole = draw(st.integers(min_value=0, max_value=MAX_MINOR_UNITS // 10**max_places - 1))
    places = draw(st.integers(min_value=0, max_value=max_places))
    if places == 0:
        return str(whole)
    fraction = draw(st.text(alphabet="0123456789", min_size=places, max_size=places))
    return f"{whole}.{fraction}"


@given(data=st.data(), currency=currencies)
def test_parse_then_format_keeps_the_value(data: st.DataObject, currency: str) -> None:
    exponent = CURRENCIES_BY_EXPONENT[currency]
    text = data.draw(decimal_strings(exponent))
    minor = parse_amount(text, currency)
    assert minor == Decimal(text).scaleb(exponent)
    assert Decimal(format_amount(minor, currency)) == Decimal(text)


@given(data=st.data(), currency=currencies, extra=st.integers(min_value=1, max_value=4))
def test_parse_rejects_too_precise_strings(data: st.DataObject, currency: str, extra: int) -> None:
    exponent = CURRENCIES_BY_EXPONENT[currency]
    whole = data.draw(st.integers(min_value=0, max_value=10**9))
    fraction = data.draw(
        st.text(alphabet="0123456789", min_size=exponent + extra, max_size=exponent + extra)
    )
    with pytest.raises(MoneyError, match=currency):
        parse_amount(f"{whole}.{fraction}", currency)


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    denominator=st.integers(min_value=1, max_value=10_000),
    data=st.data(),
)
def test_prorate_is_bounded_and_nearest(amount: int, denominator: int, data: st.DataObject) -> None:
    numerator = data.draw(st.integers(min_value=0, max_value=denominator))
    result = prorate(amount, numerator, denominator)
    assert abs(result) <= abs(amount)
    assert (result >= 0) if amount >= 0 else (result <= 0)
    assert abs(Fraction(result) - Fraction(amount * numerator, denominator)) <= Fraction(1, 2)


@given(
    per_unit=st.integers(min_value=-(10**9), max_value=10**9),
    numerator=st.integers(min_value=0, max_value=10_000),
    denominator=st.integers(min_value=1, max_value=10_000),
)
def test_prorate_is_exact_when_the_denominator_divides(
    per_unit: int, numerator: int, denominator: int
) -> None:
    assert prorate(per_unit * denominator, numerator, denominator) == per_unit * numerator


@given(
    minor=st.integers(min_value=-(10**12), max_value=10**12),
    percent=st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False),
)
def test_percent_of_is_nearest_and_symmetric(minor: int, percent: Decimal) -> None:
    result = percent_of(minor, percent)
    assert abs(Fraction(result) - Fraction(minor) * Fraction(percent) / 100) <= Fraction(1, 2)
    assert percent_of(-minor, percent) == -result


@pytest.mark.parametrize(
    ("code", "paid_in"),
    [
        ("USD", True),
        ("EUR", True),
        ("JPY", True),
        ("KWD", True),
        ("XOF", True),  # the CFA franc: an X code that is legal tender
        ("XCD", True),
        # ISO 4217 codes no one pays in: testing, no currency, metals, IMF, funds, withdrawn.
        ("XTS", False),
        ("XXX", False),
        ("XAU", False),
        ("XAG", False),
        ("XPT", False),
        ("XPD", False),
        ("XDR", False),
        ("XBA", False),
        ("BOV", False),
        ("CLF", False),
        ("USN", False),
        ("CHE", False),
        ("UYI", False),
        ("DEM", False),
        ("XYZ", False),
        ("usd", False),
    ],
)
def test_is_transaction_currency(code: str, paid_in: bool) -> None:
    assert is_transaction_currency(code) is paid_in
