"""The one filter language (SPEC §7): OR of AND-groups of `{property, operator, value}`, compiled
to one SQL boolean expression, for the index page, saved views, segments, workflows, exports and
the search API, on any object (subscriptions, contacts, companies).

An object describes itself with an `ObjectSpec`: its built-in properties (a column and a kind),
the presence of associated records (an SQL condition each, named `associations.<object>`), and
where its custom property values live (`property_values`, by `object_type`). Custom properties
are passed per call as `{name: field_type}` because they belong to one account.

Semantics, identical on SQLite and PostgreSQL:

- Every value is checked against the property's kind before any SQL is built; a bad value, an
  unknown property or an operator the kind does not support raises `InvalidRequest` naming the
  property, with `param` pointing at the filter (`filter_groups[0].filters[1].value`).
- `neq`, `not_in` and `not_contains_token` are exactly the complement of `eq`, `in` and
  `contains_token`: they also match records that have no value (a NULL built-in, or no
  custom property value), as HubSpot does. Use `has_property` to exclude those.
- Comparisons (`lt`, `lte`, `gt`, `gte`, `between`) never match records without a value.
- Text `eq`/`in` and `contains_token` ignore case (`text_search.fold_case` on both sides:
  PostgreSQL's `lower()`, Python's `str.lower` on SQLite, whose own `lower()` folds ASCII only).
  An empty text counts as no value for `has_property`.
- `contains_token` matches a whole word: the text is split on spaces and punctuation. A leading
  or trailing `*` matches words ending or starting with the rest (`gold*` matches "golden").
  A phrase ("gold plan") matches those words next to each other. On a checkboxes property the
  token is one of the chosen options; `in` there means "any of these options is chosen" and `eq`
  means "exactly these options" (a `;`-separated list, in any order).
- Enums and IDs match exactly (case matters); enum values must be one of the options.
- Money built-ins take a decimal string in major units and the column holds minor units of the
  row's own currency: the comparison is compiled per currency exponent in exact integers, so
  "12.505" compares correctly with cents (`amount_minor >= 1251` for USD, `>= 12505` for KWD).
- Numbers are JSON integers or decimal strings (never floats or booleans); integer columns are
  compared in exact integers too. Dates are "YYYY-MM-DD"; datetimes ISO 8601 with a time (a
  value without an offset is UTC).
- `less_than_days_ago` / `more_than_days_ago` (dates and timestamps) take a whole number of days
  N counted from the account's today (`Today`): "less than N days ago" is a day after
  today - N and not after today; "more than N days ago" is a day before today - N. A
  timestamp's day is its calendar day in the account's timezone. Records without a value never
  match either.
- "Has an associated record where …": an association filter (`associations.subscription`)
  with `has_property` / `not_has_property` may carry its own `filter_groups`, in the language of
  the associated object (`ObjectSpec.related`): a contact "has a subscription where status is
  active and tier is Pro" is one filter, so both conditions hold for the same subscription.
  Such filters do not nest further.
"""

from __future__ import annotations

import math
import operator as py_operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal, TypeAlias, cast, get_args

from pydantic import BeforeValidator, Field, StrictStr, TypeAdapter, ValidationError, WithJsonSchema
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    exists,
    false,
    func,
    intersect,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList, Grouping
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.operators import in_op
from sqlalchemy.sql.selectable import ScalarSelect, Select
from sqlalchemy.sql.visitors import replacement_traverse

from cadency.kit.db import sorted_after_filtering
from cadency.kit.errors import InvalidRequest
from cadency.kit.i18n import N_
from cadency.kit.money import CURRENCY_EXPONENTS, DEFAULT_EXPONENT
from cadency.kit.periods import add_days, start_of_day_utc
from cadency.kit.schemas import StrictModel, refuse_lone_surrogates
from cadency.kit.text_search import LIKE_ESCAPE, escape_like, fold_case, narrowing

__all__ = [
    "ASSOCIATION_PREFIX",
    "CUSTOM_PREFIX",
    "MAX_FILTERS_PER_GROUP",
    "MAX_FILTER_GROUPS",
    "MAX_SORTS",
    "MAX_VALUES",
    "OPERATORS",
    "BuiltinProperty",
    "CustomSort",
    "Filter",
    "FilterGroup",
    "FilterGroups",
    "JoinedSort",
    "ObjectSpec",
    "Operator",
    "PropertyKind",
    "Related",
    "Sort",
    "Sorts",
    "Today",
    "compile_filter_groups",
    "compile_sorts",
    "custom_sort",
    "join_custom_sort",
    "parse_filter_groups",
    "parse_sorts",
]

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 25
MAX_VALUES = 100
MAX_SORTS = 5
ASSOCIATION_PREFIX = "associations."
CUSTOM_PREFIX = "properties."

Operator: TypeAlias = Literal[
    "eq",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "in",
    "not_in",
    "has_property",
    "not_has_property",
    "contains_token",
    "not_contains_token",
    "less_than_days_ago",
    "more_than_days_ago",
]
OPERATORS: tuple[str, ...] = get_args(Operator)

PropertyKind: TypeAlias = Literal[
    "text", "enum", "number", "money", "date", "datetime", "bool", "id"
]


# --------------------------------------------------------------------------- input models


def _lower(value: Any) -> Any:
    # HubSpot spells operators in upper case (EQ, HAS_PROPERTY, …); accept both.
    return value.lower() if isinstance(value, str) else value


def _direction(value: Any) -> Any:
    if isinstance(value, str):
        value = value.lower()
        return {"ascending": "asc", "descending": "desc"}.get(value, value)
    return value


def _json_scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, bool | int | float | str):
        raise ValueError("must be a string, number or boolean")
    return value


# A filter value as JSON gives it; its type is checked against the property's kind when compiling
# (so errors can name the property). Validated by hand rather than as a pydantic union, whose
# errors would point at the union's members ("value.bool").
Scalar = Annotated[
    Any,
    BeforeValidator(_json_scalar),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}),
]


class Filter(StrictModel):
    property: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    operator: Annotated[Operator, BeforeValidator(_lower)]
    value: Scalar | None = None
    values: Annotated[list[Scalar], Field(max_length=MAX_VALUES)] | None = None
    high_value: Scalar | None = None
    # Only on an association with has_property / not_has_property: "has an associated record
    # where …", in the associated object's properties.
    filter_groups: Annotated[list[FilterGroup], Field(max_length=MAX_FILTER_GROUPS)] | None = None


class FilterGroup(StrictModel):
    filters: Annotated[list[Filter], Field(min_length=1, max_length=MAX_FILTERS_PER_GROUP)]


Filter.model_rebuild()


class Sort(StrictModel):
    property: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    direction: Annotated[Literal["asc", "desc"], BeforeValidator(_direction)] = "asc"


FilterGroups = Annotated[list[FilterGroup], Field(max_length=MAX_FILTER_GROUPS)]
"""The `filter_groups` field of request bodies (search, views, segments, workflows, exports)."""
Sorts = Annotated[list[Sort], Field(max_length=MAX_SORTS)]

_GROUPS_ADAPTER: TypeAdapter[list[FilterGroup]] = TypeAdapter(FilterGroups)
_SORTS_ADAPTER: TypeAdapter[list[Sort]] = TypeAdapter(Sorts)


def _validation_error(exc: ValidationError, param: str) -> InvalidRequest:
    error = exc.errors()[0]
    path = param
    for part in error.get("loc", ()):
        if isinstance(part, int) or ("[" not in str(part) and part != "function-after"):
            path += f".{part}"
    if error.get("type") == "extra_forbidden":
        return InvalidRequest("Unknown field: '%(path)s'", path=path, param=path)
    message = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
    return InvalidRequest(
        "Invalid value for '%(path)s': %(detail)s", path=path, detail=message, param=path
    )


def parse_filter_groups(raw: Any, *, param: str = "filter_groups") -> list[FilterGroup]:
    """Validate stored or hand-built JSON (e.g. a segment's filters) into `FilterGroup`s."""
    # Here, not in each group's own check, so that the error names the whole path.
    refuse_lone_surrogates(raw, param=param)
    try:
        return _GROUPS_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise _validation_error(exc, param) from exc


def parse_sorts(raw: Any, *, param: str = "sorts") -> list[Sort]:
    refuse_lone_surrogates(raw, param=param)
    try:
        return _SORTS_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise _validation_error(exc, param) from exc


# --------------------------------------------------------------------------- object description

ColumnLike: TypeAlias = ColumnElement[Any] | QueryableAttribute[Any]


def _expr(column: ColumnLike) -> ColumnElement[Any]:
    return column.expression if isinstance(column, QueryableAttribute) else column


@dataclass(frozen=True)
class BuiltinProperty:
    """A property stored in a column of the object's table.

    `enum` properties with `options=None` accept any string (matched exactly); `money` columns
    hold minor units of the currency in `ObjectSpec.currency_column`. `stored_lowercase`: a
    text column whose values are written in lower case (emails, domains), so equality compares
    the column as it is with the value in lower case, which an index on the column answers.
    """

    column: ColumnLike
    kind: PropertyKind
    options: tuple[str, ...] | None = None
    stored_lowercase: bool = False


@dataclass(frozen=True)
class ObjectSpec:
    """What the filter language needs to know about one object type.

    `associations` maps an associated object name ("company") to a function that builds "this
    record has an associated company" as an SQL condition correlated with the object's table;
    it is filtered as the property `associations.company` with `has_property` or
    `not_has_property`. Custom property values are looked up in `property_values` rows with
    this `object_type` and `object_id == id_column`.

    `property_values` is that table's mapped class (`properties.models.PropertyValue`): the
    object passes it in because kit sits below the tables and imports none of them.
    """

    object_type: str
    id_column: ColumnLike
    account_column: ColumnLike
    currency_column: ColumnLike | None
    property_values: type[Any]
    builtins: dict[str, BuiltinProperty]
    associations: dict[str, Callable[[], ColumnElement[bool]]] = field(default_factory=dict)
    # Associations that can be filtered by their own properties ("has a subscription where …").
    related: dict[str, Related] = field(default_factory=dict)


@dataclass(frozen=True)
class Related:
    """An associated object filterable by its own properties: `link()` is the SQL condition that
    ties a row of `spec`'s table to the outer record (e.g. the subscription's billing contact is
    the contact). Its custom properties come with the call (`compile_filter_groups(related=…)`).
    """

    spec: ObjectSpec
    link: Callable[[], ColumnElement[bool]]


@dataclass(frozen=True)
class Today:
    """The account's today and timezone, for the "days ago" operators."""

    date: date
    timezone: str


# Custom property field types (API.md "Custom properties") -> (kind, PropertyValue column).
_CUSTOM_KINDS: dict[str, tuple[str, str]] = {
    "text": ("text", "text_value"),
    "textarea": ("text", "text_value"),
    "number": ("number", "number_value"),
    "date": ("date", "date_value"),
    "datetime": ("datetime", "datetime_value"),
    "select": ("enum", "text_value"),
    "radio": ("enum", "text_value"),
    "checkboxes": ("checkboxes", "text_value"),
    "boolean": ("bool", "bool_value"),
}

_COMPARISONS = frozenset({"eq", "neq", "lt", "lte", "gt", "gte", "between", "in", "not_in"})
_PRESENCE = frozenset({"has_property", "not_has_property"})
_EQUALITY = frozenset({"eq", "neq", "in", "not_in"})
_TOKENS = frozenset({"contains_token", "not_contains_token"})
_DAYS_AGO = frozenset({"less_than_days_ago", "more_than_days_ago"})
MAX_DAYS_AGO = 36_600  # a hundred years
_KIND_OPERATORS: dict[str, frozenset[str]] = {
    "text": _EQUALITY | _PRESENCE | _TOKENS,
    "enum": _EQUALITY | _PRESENCE,
    "id": _EQUALITY | _PRESENCE,
    "number": _COMPARISONS | _PRESENCE,
    "money": _COMPARISONS | _PRESENCE,
    "date": _COMPARISONS | _PRESENCE | _DAYS_AGO,
    "datetime": _COMPARISONS | _PRESENCE | _DAYS_AGO,
    "bool": frozenset({"eq", "neq"}) | _PRESENCE,
    "checkboxes": _EQUALITY | _PRESENCE | _TOKENS,
    "association": _PRESENCE,
}
_KIND_NAMES = {"checkboxes": "multiple checkboxes", "bool": "boolean", "id": "ID"}
# A negative operator is compiled as the complement of its positive one.
_NEGATIONS = {"neq": "eq", "not_in": "in", "not_contains_token": "contains_token"}
_OPERATOR_ORDER = {name: i for i, name in enumerate(OPERATORS)}


# --------------------------------------------------------------------------- value checking

_NUMBER_RE = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,10})?", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*", re.ASCII)
_MAX_TEXT = 1000


class _Bad(Exception):
    """A value does not fit the property; the message completes "Invalid value for 'x': …"."""


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a text" if isinstance(value, str) else type(value).__name__


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected a text, got {_describe(value)}")
    if not value:
        raise _Bad("expected a non-empty text (use not_has_property to find empty values)")
    if len(value) > _MAX_TEXT:
        raise _Bad(f"a text value is at most {_MAX_TEXT} characters")
    return value


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Bad(f'expected an integer or a decimal string like "12.5", got {_describe(value)}')
    if isinstance(value, int):
        if abs(value) >= 10**20:
            raise _Bad("the number is too large")
        return Decimal(value)
    if not _NUMBER_RE.fullmatch(value):
        raise _Bad(f'{value!r} is not a number: write a decimal like "12.5"')
    return Decimal(value)


def _money(value: Any) -> Decimal:
    if not isinstance(value, str) or not _NUMBER_RE.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else _describe(value)
        raise _Bad(f'{shown} is not an amount: write a decimal string in major units like "12.50"')
    return Decimal(value)


def _date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise _Bad("expected a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _Bad(f"{value!r} is not a valid calendar date") from exc


def _datetime(value: Any) -> datetime:
    if not isinstance(value, str) or not _DATETIME_RE.fullmatch(value):
        raise _Bad('expected an ISO 8601 date and time like "2025-01-31T09:30:00Z"')
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: out of range once in UTC
        raise _Bad(f"{value!r} is not a valid ISO 8601 date and time") from exc


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _Bad(f"expected true or false, got {_describe(value)}")


def _option(value: Any, options: tuple[str, ...] | None) -> str:
    if not isinstance(value, str) or not value:
        raise _Bad(f"expected one of the options, got {_describe(value)}")
    if options is not None and value not in options:
        raise _Bad(f"{value!r} is not one of the options ({', '.join(options)})")
    return value


def _checkbox_set(value: Any, options: tuple[str, ...] | None) -> str:
    """Checkbox values are stored as the chosen options, sorted and joined with ";"."""
    if not isinstance(value, str):
        raise _Bad(f'expected options joined with ";" like "a;b", got {_describe(value)}')
    chosen = sorted({part for part in value.split(";") if part})
    if not chosen:
        raise _Bad("expected at least one option (use not_has_property to find empty values)")
    for part in chosen:
        _option(part, options)
    return ";".join(chosen)


def _check_value(value: Any, kind: str, op: str, options: tuple[str, ...] | None) -> Any:
    """The value in the Python type the kind compares with; `op` is the positive operator."""
    if isinstance(value, str):
        # Neither database accepts these in a text parameter.
        if "\x00" in value:
            raise _Bad("a text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Bad("a text must be valid Unicode") from exc
    if kind == "text":
        if op == "contains_token":
            _token_patterns(_text(value))  # it must hold a word
        return _text(value)
    if kind == "enum":
        return _option(value, options)
    if kind == "id":
        return _text(value)
    if kind == "number":
        return _number(value)
    if kind == "money":
        return _money(value)
    if kind == "date":
        return _date(value)
    if kind == "datetime":
        return _datetime(value)
    if kind == "bool":
        return _bool(value)
    if kind == "checkboxes":
        return _checkbox_set(value, options) if op == "eq" else _option(value, options)
    raise AssertionError(kind)  # pragma: no cover


# --------------------------------------------------------------------------- SQL building

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "eq": py_operator.eq,
    "lt": py_operator.lt,
    "lte": py_operator.le,
    "gt": py_operator.gt,
    "gte": py_operator.ge,
}


def _int_compare(col: ColumnElement[Any], op: str, value: Fraction) -> ColumnElement[bool]:
    """`col op value` for an integer column and an exact rational value, in integers only.

    x < q ⇔ x < ⌈q⌉, x ≥ q ⇔ x ≥ ⌈q⌉, x ≤ q ⇔ x ≤ ⌊q⌋, x > q ⇔ x > ⌊q⌋; x = q needs q whole.
    A bound outside the 64-bit range becomes a constant, so no bind parameter can overflow.
    """
    if op == "eq":
        if value.denominator != 1 or not _INT64_MIN <= value.numerator <= _INT64_MAX:
            return false()
        return col == value.numerator
    bound = math.ceil(value) if op in ("lt", "gte") else math.floor(value)
    below = op in ("lt", "lte")  # the column must be below the bound
    if bound > _INT64_MAX:
        return col.is_not(None) if below else false()
    if bound < _INT64_MIN:
        return false() if below else col.is_not(None)
    return _CMP[op](col, bound)  # type: ignore[no-any-return]


def _exponent_groups(currency: ColumnElement[Any]) -> list[tuple[int, ColumnElement[bool]]]:
    """One condition per currency exponent; every code not listed has the default exponent."""
    by_exponent: dict[int, list[str]] = {}
    for code, exponent in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exponent, []).append(code)
    listed = sorted(CURRENCY_EXPONENTS)
    groups: list[tuple[int, ColumnElement[bool]]] = [
        (e, currency.in_(sorted(codes))) for e, codes in sorted(by_exponent.items())
    ]
    groups.append((DEFAULT_EXPONENT, currency.not_in(listed)))
    return groups


# Words are separated by whitespace and these punctuation marks. The class is written so that it
# means the same in an SQLite GLOB and a PostgreSQL regular expression: "]" first, "-" last, and
# "[" just before "-" (never followed by ":", "." or "=", which would open a POSIX class).
_SEPARATORS = " \t\r\n,.;:!?(){}<>\"'/|&@+=[]-"
_SEPARATOR_CLASS = "[]" + _SEPARATORS.replace("]", "").replace("[", "").replace("-", "") + "[-]"


def _escape_glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _token_words(token: str) -> list[str]:
    """The words of a token, without its leading / trailing "*"."""
    starts = token.startswith("*")
    ends = token.endswith("*") and len(token) > 1
    core = token[1 if starts else 0 : len(token) - 1 if ends else len(token)]
    for sep in _SEPARATORS:
        core = core.replace(sep, " ")
    words = core.split()
    if not words:
        raise _Bad("expected a word")
    return words


def _token_patterns(token: str) -> tuple[str, str]:
    """(GLOB pattern, regular expression) matching the token as whole words in a text padded
    with a space each side. A leading / trailing "*" drops the word boundary on that side; the
    words of a phrase are separated by one separator character."""
    starts = token.startswith("*")
    ends = token.endswith("*") and len(token) > 1
    words = _token_words(token)
    left = "" if starts else _SEPARATOR_CLASS
    right = "" if ends else _SEPARATOR_CLASS
    glob = _SEPARATOR_CLASS.join(_escape_glob(w) for w in words)
    regex = _SEPARATOR_CLASS.join(re.escape(w) for w in words)
    return f"*{left}{glob}{right}*", f"{left}{regex}{right}"


class _token_match(FunctionElement[bool]):
    """`text` matches a pattern: GLOB on SQLite, a regular expression (`~`) on PostgreSQL.
    Arguments: text, GLOB pattern, regular expression. (A chain of REPLACE calls that turns
    punctuation into spaces would be simpler, but overflows SQLite's parser stack.)"""

    type = Boolean()
    inherit_cache = True
    name = "token_match"


@compiles(_token_match)
def _compile_token_match(element: _token_match, compiler: SQLCompiler, **kw: Any) -> str:
    text, _glob, regex = element.clauses
    return f"({compiler.process(text, **kw)} ~ {compiler.process(regex, **kw)})"


@compiles(_token_match, "sqlite")
def _compile_token_match_sqlite(element: _token_match, compiler: SQLCompiler, **kw: Any) -> str:
    text, glob, _regex = element.clauses
    return f"({compiler.process(text, **kw)} GLOB {compiler.process(glob, **kw)})"


def _contains_token(col: ColumnElement[Any], kind: str, token: str) -> ColumnElement[bool]:
    if kind == "checkboxes":
        # One of the chosen options: ";"-joined, so match ";option;" in ";a;b;".
        text = literal(";", String) + fold_case(col) + literal(";", String)
        pattern = "%;" + escape_like(token) + ";%"
        return text.like(fold_case(literal(pattern, String)), escape=LIKE_ESCAPE)
    padded = literal(" ", String) + fold_case(col) + literal(" ", String)
    glob, regex = _token_patterns(token)
    # lower() of the patterns in SQL, like the text, so both fold case the same way (the
    # patterns' own syntax holds no letters to fold).
    matched = _token_match(
        padded, fold_case(literal(glob, String)), fold_case(literal(regex, String))
    )
    # A text holding the token holds its longest word: where the column has a text index, it
    # narrows the rows the exact match reads.
    narrowed = narrowing([col], max(_token_words(token), key=len))
    return matched if narrowed is None else and_(narrowed, matched)


def _predicate(
    col: ColumnElement[Any],
    kind: str,
    op: str,
    operands: list[Any],
    currency: ColumnElement[Any] | None,
) -> ColumnElement[bool]:
    """The positive condition (eq, lt, lte, gt, gte, between, in, contains_token) on a value."""
    if op == "between":
        return and_(
            _predicate(col, kind, "gte", operands[:1], currency),
            _predicate(col, kind, "lte", operands[1:], currency),
        )
    if op == "in":
        if kind in ("enum", "id"):
            return col.in_(operands)
        if kind == "text":
            return fold_case(col).in_([fold_case(literal(v, String)) for v in operands])
        if kind == "checkboxes":  # any of these options is chosen
            return or_(*(_contains_token(col, kind, v) for v in operands))
        return or_(*(_predicate(col, kind, "eq", [v], currency) for v in operands))
    (value,) = operands
    if op == "contains_token":
        return _contains_token(col, kind, value)
    if kind in ("text", "checkboxes"):
        return fold_case(col) == fold_case(literal(value, String))
    if kind == "money":
        assert currency is not None
        return or_(
            *(
                and_(in_group, _int_compare(col, op, Fraction(value) * 10**exponent))
                for exponent, in_group in _exponent_groups(currency)
            )
        )
    if kind == "number" and isinstance(col.type, Integer):
        return _int_compare(col, op, Fraction(value))
    return _CMP[op](col, value)  # type: ignore[no-any-return]


def _custom_value(pv: Any, target: _Target) -> ColumnElement[Any]:
    """The value column a custom property's conditions compare. An option (enum) is compared in
    code point order, the order it sorts in, so that on PostgreSQL one index on the value in
    that collation (migration 0032) finds "tier is Pro" and reads the tiers in sort order;
    equality is the same in every deterministic collation."""
    assert target.custom_column is not None
    column: ColumnElement[Any] = getattr(pv, target.custom_column).expression
    return _binary_collation(column) if target.kind == "enum" else column


def _present(col: ColumnElement[Any], kind: str) -> ColumnElement[bool]:
    if kind in ("text", "checkboxes"):
        return and_(col.is_not(None), col != "")
    return col.is_not(None)


@dataclass(frozen=True)
class _Target:
    """A resolved property: a built-in column, a custom property, or an association."""

    label: str
    kind: str
    options: tuple[str, ...] | None = None
    column: ColumnElement[Any] | None = None
    custom_name: str | None = None
    custom_column: str | None = None
    association: Callable[[], ColumnElement[bool]] | None = None
    stored_lowercase: bool = False


def _resolve(
    name: str,
    spec: ObjectSpec,
    custom: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None,
    param: str,
    *,
    sorting: bool = False,
) -> _Target:
    if name.startswith(ASSOCIATION_PREFIX):
        build = spec.associations.get(name.removeprefix(ASSOCIATION_PREFIX))
        if build is not None:
            if sorting:
                raise InvalidRequest(
                    "Cannot sort by association '%(name)s'", name=name, param=param
                )
            return _Target(label=name, kind="association", association=build)
    builtin = None if name.startswith(CUSTOM_PREFIX) else spec.builtins.get(name)
    if builtin is not None:
        return _Target(
            label=name,
            kind=builtin.kind,
            options=builtin.options,
            column=_expr(builtin.column),
            stored_lowercase=builtin.stored_lowercase,
        )
    custom_name = name.removeprefix(CUSTOM_PREFIX)
    field_type = custom.get(custom_name)
    if field_type is not None:
        if field_type not in _CUSTOM_KINDS:
            raise ValueError(f"unknown custom property field type {field_type!r}")
        kind, column = _CUSTOM_KINDS[field_type]
        choices = None if options is None or custom_name not in options else options[custom_name]
        return _Target(
            label=name,
            kind=kind,
            options=None if choices is None else tuple(choices),
            custom_name=custom_name,
            custom_column=column,
        )
    raise InvalidRequest("Unknown property: '%(name)s'", name=name, param=param)


def _operands(f: Filter, target: _Target, op: str, param: str) -> list[Any]:
    """Check which of value / values / high_value the operator takes, and their types."""
    label = target.label
    wants = {
        "value": op not in ("in", "not_in") and op not in _PRESENCE,
        "values": op in ("in", "not_in"),
        "high_value": op == "between",
    }
    for key, wanted in wants.items():
        if getattr(f, key) is not None and not wanted:
            raise InvalidRequest(
                "Operator '%(op)s' on '%(label)s' takes no %(key)s",
                op=op,
                label=label,
                key=key,
                param=f"{param}.{key}",
            )
    for key, wanted in wants.items():
        if getattr(f, key) is None and wanted:
            needs = (
                N_("Operator '%(op)s' on '%(label)s' needs a list of values")
                if key == "values"
                else N_("Operator '%(op)s' on '%(label)s' needs a %(key)s")
            )
            raise InvalidRequest(
                needs,
                op=op,
                label=label,
                key=key,
                param=f"{param}.{key}",
            )
    if op in _PRESENCE:
        return []
    if op in _DAYS_AGO:
        return [_days(f.value, label, f"{param}.value")]
    positive = _NEGATIONS.get(op, op)

    def check(value: Any, where: str) -> Any:
        try:
            return _check_value(value, target.kind, positive, target.options)
        except _Bad as exc:
            raise InvalidRequest(
                "Invalid value for '%(label)s': %(problem)s", label=label, problem=exc, param=where
            ) from exc

    if op in ("in", "not_in"):
        assert f.values is not None
        if not f.values:
            raise InvalidRequest(
                "Operator '%(op)s' on '%(label)s' needs at least one value",
                op=op,
                label=label,
                param=f"{param}.values",
            )
        return [check(v, f"{param}.values.{i}") for i, v in enumerate(f.values)]
    value = check(f.value, f"{param}.value")
    if op != "between":
        return [value]
    high = check(f.high_value, f"{param}.high_value")
    if high < value:
        raise InvalidRequest(
            "Invalid range for '%(label)s': high_value is below value",
            label=label,
            param=f"{param}.high_value",
        )
    return [value, high]


def _days(value: Any, label: str, where: str) -> int:
    """A whole number of days for the "days ago" operators (JSON integer or digit string)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS_AGO:
        raise InvalidRequest(
            "Invalid value for '%(label)s': expected a whole number of days from 0 "
            "to %(max_days_ago)s",
            label=label,
            max_days_ago=MAX_DAYS_AGO,
            param=where,
        )
    return value


def _days_ago(
    col: ColumnElement[Any], kind: str, op: str, days: int, today: Today | None
) -> ColumnElement[bool]:
    """`col` is less / more than `days` days before the account's today (see the module)."""
    if today is None:
        raise ValueError("the days-ago operators need the account's today (Today)")
    boundary = add_days(today.date, -days)
    if kind == "date":
        if op == "less_than_days_ago":
            return and_(col > boundary, col <= today.date)
        return col < boundary
    # A timestamp's day is its day in the account's timezone: compare with the instants those
    # days start at.
    if op == "less_than_days_ago":
        return and_(
            col >= start_of_day_utc(add_days(boundary, 1), today.timezone),
            col < start_of_day_utc(add_days(today.date, 1), today.timezone),
        )
    return col < start_of_day_utc(boundary, today.timezone)


@dataclass(frozen=True)
class _Context:
    """What a compilation needs beyond the filters: the account, its today, and the custom
    properties of the object (and of related objects, by association name)."""

    account_id: int
    today: Today | None
    related: Mapping[str, tuple[Mapping[str, str], Mapping[str, Sequence[str]] | None]]


def _compile_related(
    f: Filter, spec: ObjectSpec, target: _Target, context: _Context, param: str
) -> ColumnElement[bool]:
    """EXISTS an associated record linked to this one that matches the filter's own groups."""
    name = target.label.removeprefix(ASSOCIATION_PREFIX)
    related = spec.related.get(name)
    where = f"{param}.filter_groups"
    if related is None:
        raise InvalidRequest(
            "'%(label)s' cannot be filtered by the associated records' properties",
            label=target.label,
            param=where,
        )
    if f.operator not in _PRESENCE:
        raise InvalidRequest(
            "Filters of associated records go with has_property or not_has_property on '%(label)s'",
            label=target.label,
            param=f"{param}.operator",
        )
    _operands(f, target, f.operator, param)  # presence operators take no value
    assert f.filter_groups is not None
    for g, group in enumerate(f.filter_groups):
        for i, inner in enumerate(group.filters):
            if inner.filter_groups is not None:
                raise InvalidRequest(
                    "Filters of associated records do not nest",
                    param=f"{where}.{g}.filters.{i}.filter_groups",
                )
    custom, options = context.related.get(name, ({}, None))
    inner_context = _Context(context.account_id, context.today, {})
    condition = _compile_groups(
        f.filter_groups, related.spec, custom, options, inner_context, where
    )
    found = exists().where(
        _expr(related.spec.account_column) == context.account_id, related.link(), condition
    )
    return not_(found) if f.operator == "not_has_property" else found


def _compile_filter(
    f: Filter,
    spec: ObjectSpec,
    custom: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None,
    context: _Context,
    param: str,
) -> ColumnElement[bool]:
    account_id = context.account_id
    target = _resolve(f.property, spec, custom, options, f"{param}.property")
    if f.filter_groups is not None:
        if target.kind != "association":
            raise InvalidRequest(
                "Only an association filter takes filter_groups, not '%(label)s'",
                label=target.label,
                param=f"{param}.filter_groups",
            )
        return _compile_related(f, spec, target, context, param)
    op = f.operator
    allowed = _KIND_OPERATORS[target.kind]
    if op not in allowed:
        kind = _KIND_NAMES.get(target.kind, target.kind)
        usable = ", ".join(sorted(allowed, key=_OPERATOR_ORDER.__getitem__))
        raise InvalidRequest(
            "Operator '%(op)s' cannot be used on '%(label)s' (%(kind)s property); "
            "use one of: %(usable)s",
            op=op,
            label=target.label,
            kind=kind,
            usable=usable,
            param=f"{param}.operator",
        )
    operands = _operands(f, target, op, param)
    negate = op in _NEGATIONS or op == "not_has_property"
    positive = _NEGATIONS.get(op, op)

    if target.association is not None:
        condition = target.association()
        return not_(condition) if negate else condition

    if target.column is not None:
        col = target.column
        if op in _PRESENCE:
            present = _present(col, target.kind)
            return not_(present) if negate else present
        if op in _DAYS_AGO:
            return _days_ago(col, target.kind, op, operands[0], context.today)
        currency = None if spec.currency_column is None else _expr(spec.currency_column)
        if target.kind == "money" and currency is None:
            raise ValueError(f"{spec.object_type} has money properties but no currency column")
        matched: ColumnElement[bool]
        if target.stored_lowercase and positive in ("eq", "in"):
            # Lower-cased as the value was when written (str.lower, as the services do).
            matched = col.in_([str(v).lower() for v in operands])
        else:
            matched = _predicate(col, target.kind, positive, operands, currency)
        # NULL semantics: a negative operator is the complement, so it matches NULLs too.
        return or_(col.is_(None), not_(matched)) if negate else matched

    # A custom property: (NOT) EXISTS a value row of this account, object type and record.
    pv = aliased(spec.property_values)
    assert target.custom_name is not None and target.custom_column is not None
    value_col = _custom_value(pv, target)
    if op in _PRESENCE:
        condition = _present(value_col, target.kind)
    elif op in _DAYS_AGO:
        condition = _days_ago(value_col, target.kind, op, operands[0], context.today)
    else:
        condition = _predicate(value_col, target.kind, positive, operands, None)
    rows = (
        pv.account_id == account_id,
        pv.object_type == spec.object_type,
        pv.name == target.custom_name,
    )
    if not negate:
        # A positive condition is "the record's ID is among the IDs whose value matches": the
        # same records as a correlated EXISTS (object_id and the ID are never NULL), but SQLite
        # then reads the matching IDs once, from the index on (account, object type, name, text
        # value, object ID), instead of running a lookup for every record (a segment's "tier is
        # Basic" over 1M subscriptions; see benchmarks/README.md, exports.py).
        # Annotated so that a sort by the same property can read its value rows through this
        # condition (`join_custom_sort`).
        listed = _expr(spec.id_column).in_(select(pv.object_id).where(*rows, condition))
        return listed._annotate({_LISTED_BY: (spec.object_type, target.custom_name)})
    # Like HubSpot, neq / not_in / not_contains_token also match records without the property:
    # they are NOT EXISTS of the positive condition.
    return not_(exists().where(*rows, pv.object_id == _expr(spec.id_column), condition))


def compile_filter_groups(
    groups: Sequence[FilterGroup],
    spec: ObjectSpec,
    custom: Mapping[str, str],
    account_id: int,
    *,
    options: Mapping[str, Sequence[str]] | None = None,
    today: Today | None = None,
    related: Mapping[str, tuple[Mapping[str, str], Mapping[str, Sequence[str]] | None]]
    | None = None,
    param: str = "filter_groups",
) -> ColumnElement[bool]:
    """OR of the groups, AND of the filters in a group, as one SQL condition.

    `custom` maps the account's custom property names to their field types; `options` (optional)
    maps select/radio/checkboxes properties to their option values, to reject unknown options.
    `today` is needed by the "days ago" operators; `related` gives, per association name of
    `spec.related`, the associated object's (custom types, options).
    No groups matches every record. The caller still filters the object's own table by account:
    custom property lookups are limited to `account_id` here, and the spec's association
    conditions to the record's own account.
    """
    context = _Context(account_id, today, related or {})
    return _compile_groups(groups, spec, custom, options, context, param)


def _compile_groups(
    groups: Sequence[FilterGroup],
    spec: ObjectSpec,
    custom: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None,
    context: _Context,
    param: str,
) -> ColumnElement[bool]:
    if len(groups) > MAX_FILTER_GROUPS:
        raise InvalidRequest(
            "At most %(max_filter_groups)s filter groups are allowed",
            max_filter_groups=MAX_FILTER_GROUPS,
            param=param,
        )
    if not groups:
        return true()
    ors: list[ColumnElement[bool]] = []
    for g, group in enumerate(groups):
        where = f"{param}.{g}.filters"
        if not group.filters or len(group.filters) > MAX_FILTERS_PER_GROUP:
            raise InvalidRequest(
                "A filter group has 1 to %(max_filters_per_group)s filters",
                max_filters_per_group=MAX_FILTERS_PER_GROUP,
                param=where,
            )
        ands = [
            _compile_filter(f, spec, custom, options, context, f"{where}.{i}")
            for i, f in enumerate(group.filters)
        ]
        ors.append(and_(*ands))
    return or_(*ors)


# --------------------------------------------------------------------------- sorting


class _binary_collation(FunctionElement[str]):
    """Text compared byte by byte (code point order) on every database, so sorts agree."""

    type = String()
    inherit_cache = True
    name = "binary_collation"


@compiles(_binary_collation)
def _compile_binary_default(element: _binary_collation, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return compiler.process(arg, **kw)


@compiles(_binary_collation, "sqlite")
def _compile_binary_sqlite(element: _binary_collation, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"({compiler.process(arg, **kw)}) COLLATE BINARY"


@compiles(_binary_collation, "postgresql")
def _compile_binary_pg(element: _binary_collation, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return f'({compiler.process(arg, **kw)}) COLLATE "C"'


def _sort_keys(
    col: ColumnElement[Any], kind: str, currency: ColumnElement[Any] | None
) -> list[ColumnElement[Any]]:
    if kind in ("text", "checkboxes"):
        return [_binary_collation(func.lower(col)), _binary_collation(col)]
    if kind in ("enum", "id"):
        return [_binary_collation(col)]
    if kind == "money":
        # By amount in major units across currencies, in exact integers: whole major units
        # first, then the rest in 1/10,000ths (integer division and remainder both truncate
        # toward zero on SQLite and PostgreSQL, so the pair orders like the exact amount).
        assert currency is not None
        groups = _exponent_groups(currency)
        top = max(e for e, _ in groups)
        whole = case(
            *((cond, col // 10**e) for e, cond in groups[:-1]), else_=col // 10**DEFAULT_EXPONENT
        )
        rest = case(
            *((cond, (col % 10**e) * 10 ** (top - e)) for e, cond in groups[:-1]),
            else_=(col % 10**DEFAULT_EXPONENT) * 10 ** (top - DEFAULT_EXPONENT),
        )
        return [whole, rest]
    return [col]


@dataclass(frozen=True)
class CustomSort:
    """A sort by one custom property of `spec`'s records (`custom_sort`): its value lives in
    `column` of the value rows with `name` (at most one per record: the rows' key is the
    record's ID and the name)."""

    spec: ObjectSpec
    name: str
    column: str
    kind: str


@dataclass(frozen=True)
class JoinedSort:
    """A statement joined to the value rows of the property it is sorted by, the sort keys read
    from the joined row, and that row's record ID (equal to the record's). Only records with a
    value row are in it. `all_valued`: the statement's condition holds only for records with a
    value for the sort (a positive condition on the same property), so none sorts as missing.
    """

    statement: Select[Any]
    keys: list[ColumnElement[Any]]
    record_id: ColumnElement[str]
    all_valued: bool


_LISTED_BY = "cadency_custom_property_ids"


def custom_sort(sort: Sort, spec: ObjectSpec, custom: Mapping[str, str]) -> CustomSort | None:
    """The custom property `sort` is by, or None for a built-in one (or an unknown name, which
    `compile_sorts` refuses)."""
    try:
        target = _resolve(sort.property, spec, custom, None, "sort", sorting=True)
    except InvalidRequest:
        return None
    if target.custom_name is None or target.custom_column is None:
        return None
    return CustomSort(spec, target.custom_name, target.custom_column, target.kind)


def _conjuncts(condition: Any) -> list[Any]:
    """The terms `condition` is an AND of (itself when it is no AND)."""
    if condition is None:
        return []
    if isinstance(condition, Grouping):
        return _conjuncts(condition.element)
    if _is_and(condition):
        return [t for clause in condition.clauses for t in _conjuncts(clause)]
    return [condition]


def join_custom_sort(statement: Select[Any], sort: CustomSort) -> JoinedSort:
    """`statement` (over `sort.spec`'s records) joined to the value rows of `sort`'s property,
    with the sort keys `compile_sorts` orders by, read from the joined row instead of a lookup
    per record: the rows of an index on (account, object type, name, value, record ID) come in
    sort order, so a page of the sort reads a page of that index (issue 18).

    When the statement's condition is an AND holding a positive condition on the same property
    (tier = Pro), that condition becomes the join's: its list of matching IDs is dropped and the
    value rows that match are joined, in index order, to their records. The same records: a
    record has at most one value row for a property, so both read the same row."""
    spec = sort.spec
    id_column = _expr(spec.id_column)
    wanted = (spec.object_type, sort.name)
    listed = next(
        (
            term
            for term in _conjuncts(statement.whereclause)
            if term._annotations.get(_LISTED_BY) == wanted and _is_id_list(term, id_column)
        ),
        None,
    )
    if listed is not None:
        ids: Select[Any] = listed.right.element
        (values,) = ids.get_final_froms()
        assert ids.whereclause is not None
        condition = ids.whereclause

        def drop_listed(element: Any, **_kw: Any) -> Any:
            return true() if element is listed else None

        no_options: dict[str, Any] = {}
        statement = cast(
            "Select[Any]", replacement_traverse(cast(Any, statement), no_options, drop_listed)
        )
    else:
        values = spec.property_values.__table__.alias()
        condition = and_(values.c.object_type == spec.object_type, values.c.name == sort.name)
    on = and_(
        values.c.object_id == id_column,
        values.c.account_id == _expr(spec.account_column),
        condition,
    )
    currency = None if spec.currency_column is None else _expr(spec.currency_column)
    return JoinedSort(
        statement=statement.join(values, on),
        keys=_sort_keys(values.c[sort.column], sort.kind, currency),
        record_id=values.c.object_id,
        all_valued=listed is not None,
    )


def compile_sorts(
    sorts: Sequence[Sort],
    spec: ObjectSpec,
    custom: Mapping[str, str],
    *,
    param: str = "sorts",
    few: bool = False,
) -> list[ColumnElement[Any]]:
    """ORDER BY clauses: each sort with NULLs last in both directions, then the id ascending.

    Text sorts ignore case first (then code point order); money sorts by the amount in major
    units; custom properties sort by their value. Associations cannot be sorted by. `few`: the
    condition matches few rows (a text search), found through their own indexes and then
    sorted (kit.db.sorted_after_filtering).
    """
    if len(sorts) > MAX_SORTS:
        raise InvalidRequest(
            "At most %(max_sorts)s sorts are allowed", max_sorts=MAX_SORTS, param=param
        )
    clauses: list[ColumnElement[Any]] = []
    id_column = _expr(spec.id_column)
    currency = None if spec.currency_column is None else _expr(spec.currency_column)
    for i, sort in enumerate(sorts):
        target = _resolve(sort.property, spec, custom, None, f"{param}.{i}.property", sorting=True)
        if target.column is not None:
            col = target.column
        else:
            pv = aliased(spec.property_values)
            assert target.custom_column is not None
            # The value per record (a lookup each): `join_custom_sort` reads the same keys
            # from a join where the query allows one (the index's pages).
            col = (
                select(getattr(pv, target.custom_column))
                .where(
                    pv.object_type == spec.object_type,
                    pv.name == target.custom_name,
                    pv.object_id == id_column,
                    pv.account_id == _expr(spec.account_column),
                )
                .scalar_subquery()
            )
        for key in _sort_keys(col, target.kind, currency):
            if few:
                key = sorted_after_filtering(key)
            ordered = key.desc() if sort.direction == "desc" else key.asc()
            clauses.append(ordered.nulls_last())
    clauses.append((sorted_after_filtering(id_column) if few else id_column).asc())
    return clauses


def count_statement(id_column: Any, condition: ColumnElement[bool], dialect: str) -> Select[Any]:
    """How many records meet a compiled `condition`, as one query.

    On SQLite, when the condition is an AND holding positive custom-property conditions (each
    compiled to "ID IN (IDs whose value matches)"), the IDs meeting the rest and each of those ID
    lists are intersected by a merge of ID-ordered lists (SQLite's compound-select merge), rather
    than by a search of the rest's index for every listed ID: "tier is Basic and status active"
    over 1M subscriptions reads two ordered runs of IDs instead of doing 333k index descents.
    Everything else counts as it is."""
    plain = select(func.count(id_column)).where(condition)
    if dialect != "sqlite":
        return plain
    terms = list(condition.clauses) if _is_and(condition) else [condition]
    id_lists = [t.right.element for t in terms if _is_id_list(t, id_column)]
    if not id_lists:
        return plain
    rest = [t for t in terms if not _is_id_list(t, id_column)]
    merged = intersect(select(id_column).where(*rest), *id_lists).order_by(literal_column("1"))
    return select(func.count()).select_from(merged.subquery())


def _is_and(condition: ColumnElement[bool]) -> bool:
    return isinstance(condition, BooleanClauseList) and condition.operator is py_operator.and_


def _is_id_list(term: Any, id_column: Any) -> bool:
    """Whether `term` is "ID IN (a subquery)", as a positive custom-property condition is."""
    return (
        isinstance(term, BinaryExpression)
        and term.operator is in_op
        and isinstance(term.right, ScalarSelect)
        and term.left.compare(_expr(id_column))
    )
