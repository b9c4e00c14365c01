"""The `rules.pattern` of text properties, run by RE2: matching takes time linear in the value,
so no pattern can stall the process (Python's `re` backtracks: `(a+)+b` against 30 "a"s runs for
minutes, holding the GIL). RE2 has no backreferences or lookaround; such patterns are refused
when the rule is set, never at write time.

Every check and match of a pattern goes through this module."""

from __future__ import annotations

from typing import Any

import re2

from cadency.kit.errors import InvalidRequest

# Long enough for any realistic format (IBANs, postcodes, order numbers); RE2 also refuses
# repetitions over 1,000 and programs over its memory budget, so compiling stays cheap.
MAX_PATTERN_LENGTH = 500

_OPTIONS = re2.Options()
# The refusal becomes a 422 naming the rule; RE2 need not also write it to stderr.
_OPTIONS.log_errors = False


def check(pattern: str) -> None:
    """Accept a pattern for `rules.pattern`, or a 422 on it that says why it cannot be used."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidRequest(
            "'pattern' is too long: at most %(max_pattern_length)s characters",
            max_pattern_length=MAX_PATTERN_LENGTH,
            param="rules.pattern",
        )
    _compiled(pattern)


def full_match(pattern: str, value: str) -> bool:
    """Whether the whole value matches the pattern. A pattern stored before patterns ran on
    RE2 may not compile: that is a 422 on `rules.pattern` saying why."""
    regexp = _compiled(pattern)
    try:
        return regexp.fullmatch(value) is not None
    except UnicodeEncodeError:  # a lone surrogate: not text any pattern can describe
        return False


def _compiled(pattern: str) -> Any:
    # Not capped in length: RE2 matches any pattern in linear time, and patterns stored when
    # longer ones were accepted keep working.
    try:
        return re2.compile(pattern, _OPTIONS)  # the library caches compiled patterns
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidRequest(
            "'pattern' is not a valid regular expression: %(cause)s (patterns use "
            "RE2 syntax: no backreferences such as \\1, no lookahead or lookbehind)",
            cause=reason,
            param="rules.pattern",
        ) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate cannot be UTF-8 for RE2
        raise InvalidRequest(
            "'pattern' is not a valid regular expression: it holds an invalid character",
            param="rules.pattern",
        ) from exc
