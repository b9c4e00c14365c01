"""Record IDs: base32 bodies, time-ordered and unique within the process."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cadency.kit import ids

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def digit_by_digit(value: int, length: int) -> str:
    """Base32, one digit at a time, most significant first: what `_encode` must equal."""
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(length)))


@given(st.integers(min_value=0, max_value=2**90), st.sampled_from([10, 16]))
def test_encoding_two_digits_at_a_time_is_base32(value: int, length: int) -> None:
    assert ids._encode(value, length) == digit_by_digit(value, length)


def test_ids_sort_by_creation_and_never_repeat() -> None:
    made = [ids.new_id("sub") for _ in range(5_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(ids.has_prefix(i, "sub") and ids.looks_like_id(i) for i in made)
