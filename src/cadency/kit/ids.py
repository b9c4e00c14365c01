"""Prefixed, time-ordered record IDs (`sub_01JX…`), generated in the application.

IDs are made before insert so that batches of rows can be written without a round trip per row,
and they sort by creation time, which keyset pagination relies on.
"""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# What any record ID can look like (prefix, underscore, base32 body); a cursor or link that
# carries something else was not made by us.
_ID_SHAPE = re.compile(r"[a-z]{1,16}_[0-9a-z]{1,64}")
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


# Every pair of base32 digits, indexed by the 10 bits they stand for: an ID is made for every
# row a renewal writes, so encoding two digits per step is measurable on a billing run.
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]


def _encode(value: int, length: int) -> str:
    """The low `length` base32 digits of `value`, most significant first (`length` even)."""
    return "".join(_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10))


_last_ms_digits = ""  # _encode(_last_ms, 10)
_last_high = -1  # _last_random without its low 20 bits, and its 12 digits
_last_high_digits = ""


def new_id(prefix: str) -> str:
    """A 26-character ULID-style body after `prefix_`, monotonic within this process.

    Within one millisecond only the random part moves (by one), so the time's digits and the
    random part's high digits are kept from the last ID: most IDs encode 4 digits, not 26."""
    global _last_ms, _last_random, _last_ms_digits, _last_high, _last_high_digits
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            _last_random += 1
        else:
            _last_random = int.from_bytes(os.urandom(10), "big") >> 1
            _last_ms = now_ms
            _last_ms_digits = _encode(now_ms, 10)
        random = _last_random
        if random >> 20 != _last_high:
            _last_high = random >> 20
            _last_high_digits = _encode(_last_high, 12)
        body = _last_ms_digits + _last_high_digits + _PAIRS[(random >> 10) & 1023]
        body += _PAIRS[random & 1023]
    return f"{prefix}_{body}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27


def looks_like_id(value: str) -> bool:
    """Whether `value` has the shape of a record ID (so it is safe to compare with ID columns:
    no NUL, no control characters, no surprises for either database)."""
    return _ID_SHAPE.fullmatch(value) is not None
