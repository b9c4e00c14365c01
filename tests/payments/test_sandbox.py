from __future__ import annotations

from datetime import date

import pytest

from cadency.payments import sandbox

TODAY = date(2030, 6, 15)


def test_luhn() -> None:
    assert sandbox.luhn_valid("4242424242424242")
    assert sandbox.luhn_valid("79927398713")
    assert not sandbox.luhn_valid("4242424242424241")
    assert not sandbox.luhn_valid("79927398710")


def test_aba_routing_checksum() -> None:
    assert sandbox.aba_routing_valid("110000000")
    assert sandbox.aba_routing_valid("021000021")  # JPMorgan Chase
    assert not sandbox.aba_routing_valid("021000022")
    assert not sandbox.aba_routing_valid("11000000")
    assert not sandbox.aba_routing_valid("11000000a")


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5105105105105100", "mastercard"),
        ("2720999999999996", "mastercard"),
        ("371449635398431", "amex"),
        ("6011000990139424", "discover"),
        ("6500000000000002", "discover"),
        ("3530111333300000", "jcb"),
        ("30569309025904", "diners"),
        ("6200000000000005", "unionpay"),
        ("9999999999999995", "unknown"),
    ],
)
def test_card_brand(number: str, brand: str) -> None:
    assert sandbox.card_brand(number) == brand


def test_tokens_encode_behaviour_not_the_number() -> None:
    first = sandbox.tokenise_card("4000000000000341", 1, 2031, "123", today=TODAY)
    second = sandbox.tokenise_card("4000000000000341", 1, 2031, "123", today=TODAY)
    assert first.token != second.token  # random part
    assert "4000000000000341" not in first.token
    assert first.token.startswith("sbx_card_always_fails_")
    assert (first.brand, first.last4, first.exp_month, first.exp_year) == ("visa", "0341", 1, 2031)
    assert sandbox.behaviour_of(first.token) is sandbox.Behaviour.ALWAYS_FAILS
    assert sandbox.is_sandbox_token(first.token)
    plain = sandbox.tokenise_card("5555555555554444", 1, 2031, "123", today=TODAY)
    assert sandbox.behaviour_of(plain.token) is sandbox.Behaviour.SUCCEEDS


def test_behaviour_of_rejects_foreign_tokens() -> None:
    for token in ("tok_visa", "sbx_card_explodes_" + "0" * 24, "sbx_card_succeeds_short", ""):
        with pytest.raises(ValueError):
            sandbox.behaviour_of(token)
        assert not sandbox.is_sandbox_token(token)


def test_declined_at_attach() -> None:
    with pytest.raises(sandbox.Declined) as caught:
        sandbox.tokenise_card("4000000000000002", 1, 2031, "123", today=TODAY)
    assert caught.value.code == "card_declined"
    assert "4000000000000002" not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("4242424242424241", 1, 2031, "123"), "number"),
        (("4242424242424242", 5, 2030, "123"), "exp_month"),
        (("4242424242424242", 12, 2029, "123"), "exp_year"),
        (("4242424242424242", 0, 2031, "123"), "exp_month"),
        (("4242424242424242", 1, 2031, "12345"), "cvc"),
    ],
)
def test_invalid_card_details(args: tuple[str, int, int, str], field: str) -> None:
    with pytest.raises(sandbox.InvalidDetails) as caught:
        sandbox.tokenise_card(*args, today=TODAY)
    assert caught.value.field == field
    assert args[0] not in str(caught.value)
