"""One page of an index: the records matching a condition, in a sort order, found by keyset
(cursor) pagination so the hundredth page costs what the first does on 100,000+ rows.

The order is total: records with a value for the sort come first, ordered by (sort keys, ID)
in the sort's direction; records without one come last, ordered by ID in the same direction.
Each part is read with its own index-friendly query (`key IS [NOT] NULL` in the WHERE, so
neither database needs a NULLS LAST sort), and a cursor remembers the part, the sort keys and
the ID of the row it stands on. Counting stops at a cap: an exact count of 100,000 rows on
every page load would cost more than the page.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import TypeDecorator

from cadency.kit.db import sorted_after_filtering
from cadency.kit.errors import InvalidRequest
from cadency.kit.filters import (
    CustomSort,
    ObjectSpec,
    Sort,
    compile_sorts,
    custom_sort,
    join_custom_sort,
)
from cadency.kit.i18n import N_
from cadency.kit.ids import looks_like_id

COUNT_CAP = 10_000
PAGE_SIZES = (25, 50, 100)

_ORDER_MODIFIERS = (
    operators.asc_op,
    operators.desc_op,
    operators.nulls_last_op,
    operators.nulls_first_op,
)


class SortKeys(list[ColumnElement[Any]]):
    """The keys of a sort (a list of expressions), and the custom property it is by, if it is:
    `find_page` then reads the same keys from a join to the property's value rows."""

    def __init__(self, keys: Sequence[ColumnElement[Any]], custom: CustomSort | None) -> None:
        super().__init__(keys)
        self.custom = custom


def sort_keys(
    sort: Sort, spec: ObjectSpec, custom: dict[str, str], *, param: str = "sort"
) -> SortKeys:
    """The expressions a sort orders by, exactly as the filter language sorts (text ignoring
    case, money by amount across currencies, custom properties by their value); the ID that
    `compile_sorts` appends is left out. Raises InvalidRequest for an unknown property."""
    try:
        clauses = compile_sorts([sort], spec, custom)
    except InvalidRequest as exc:  # it names "sorts.0.property"; one sort has one name
        raise InvalidRequest(exc.message, param=param) from exc
    keys: list[ColumnElement[Any]] = []
    for clause in clauses[:-1]:
        element: Any = clause
        while isinstance(element, UnaryExpression) and element.modifier in _ORDER_MODIFIERS:
            element = element.element
        keys.append(element)
    return SortKeys(keys, custom_sort(sort, spec, custom))


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


@dataclass(frozen=True)
class _Position:
    nulls: bool  # in the part without a sort value
    keys: list[Any]
    id: str


def _encode_value(value: Any) -> Any:
    # Types a sort key can come back as; JSON keeps strings, numbers and booleans as they are.
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "d" in value:
            return date.fromisoformat(value["d"])
        if "n" in value:
            return Decimal(value["n"])
        raise ValueError("unknown value")
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("unknown value")
    return value


def _encode_cursor(signature: str, position: _Position) -> str:
    data = {
        "s": signature,
        "z": position.nulls,
        "k": [_encode_value(k) for k in position.keys],
        "i": position.id,
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_after(signature: str, key_values: Sequence[Any], record_id: str) -> str:
    """The cursor a page ending on this row hands out (its sort values and ID)."""
    return _encode_cursor(signature, _Position(False, list(key_values), record_id))


# Sort values beyond a signed 64-bit integer cannot be bound on PostgreSQL; no stored number
# has more digits than a Numeric(30, 10) property value.
_LARGEST_INTEGER = 2**63 - 1
_MOST_DIGITS = 40


def _fits(value: Any, key: ColumnElement[Any]) -> bool:
    """Whether a sort value read from a cursor can stand for `key` in a query: of the key's
    type, finite, without NUL. A crafted cursor must fail here, not inside the database."""
    if value is None:
        return True
    if isinstance(value, str):
        return "\x00" not in value and _python_type(key) in (str, None)
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, Decimal) and (
        not value.is_finite()
        or len(value.as_tuple().digits) > _MOST_DIGITS
        or int(value.as_tuple().exponent) < -_MOST_DIGITS
    ):
        return False
    number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if number and abs(value) > _LARGEST_INTEGER:
        return False
    expected = _python_type(key)
    if expected is None:
        return True
    if expected is bool:  # a driver may hand a boolean back as 0 or 1
        return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
    if isinstance(value, bool):
        return False
    if expected is datetime:
        return isinstance(value, datetime)
    if expected is date:
        return isinstance(value, date) and not isinstance(value, datetime)
    if expected is int:
        return isinstance(value, int)
    if expected in (float, Decimal):
        return isinstance(value, int | float | Decimal)
    return False


def _python_type(key: ColumnElement[Any]) -> type | None:
    sql_type: Any = key.type
    if isinstance(sql_type, TypeDecorator):  # e.g. UTCDateTime: the type it stores as
        sql_type = sql_type.impl_instance
    try:
        python_type: type = sql_type.python_type
    except NotImplementedError:  # an expression of no definite type
        return None
    return None if python_type is object else python_type


def _decode_cursor(
    cursor: str, signature: str, keys: Sequence[ColumnElement[Any]]
) -> _Position | None:
    """The position a cursor stands on; None when it was made for another sort (a link kept
    from before the sort changed starts again at the first page)."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if data.get("s") != signature:
            return None
        raw_keys = data["k"]
        if not isinstance(raw_keys, list) or len(raw_keys) != len(keys):
            raise ValueError("wrong keys")
        if not isinstance(data["i"], str) or not isinstance(data["z"], bool):
            raise ValueError("wrong position")
        if not looks_like_id(data["i"]):
            raise ValueError("not a record ID")
        values = [_decode_value(k) for k in raw_keys]
        if not all(_fits(v, k) for v, k in zip(values, keys, strict=True)):
            raise ValueError("a sort value of the wrong type")
        return _Position(data["z"], values, data["i"])
    except (KeyError, TypeError, ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest(N_("The page link is not valid."), param="cursor") from exc


def _beyond(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], forward: bool
) -> ColumnElement[bool]:
    """Rows after (`forward`) or before the given values in ascending tuple order. The first
    column's own bound is repeated, which helps both planners pick an index range."""
    bound = [bindparam(None, v, type_=c.type) for c, v in zip(columns, values, strict=True)]
    if forward:
        return and_(columns[0] >= bound[0], tuple_(*columns) > tuple_(*bound))
    return and_(columns[0] <= bound[0], tuple_(*columns) < tuple_(*bound))


def _beyond_by_steps(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], forward: bool
) -> list[tuple[ColumnElement[bool], list[ColumnElement[Any]]]]:
    """The rows `_beyond` the values, as pieces read one after the other, each a condition and
    the columns it is in order of: the rest of the values' ties first (equal on all but the
    last column, beyond on it), then beyond on one column fewer each step. Each piece is one
    seek in an index on the columns; a single row-value comparison is not, on SQLite when the
    first column is also compared for equality (a filter on the sorted property): it would
    read every tie of the value since the first and sort them."""
    bound = [bindparam(None, v, type_=c.type) for c, v in zip(columns, values, strict=True)]
    pieces = []
    for i in range(len(columns) - 1, -1, -1):
        equal = [c == b for c, b in zip(columns[:i], bound[:i], strict=True)]
        past = columns[i] > bound[i] if forward else columns[i] < bound[i]
        pieces.append((and_(*equal, past), list(columns[i:])))
    return pieces


def find_page(
    session: Session,
    query: Select[Any],
    *,
    keys: Sequence[ColumnElement[Any]],
    id_column: ColumnElement[str],
    descending: bool,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    signature: str = "",
    few: bool = False,
) -> Page:
    """One page of `query` (selecting one entity, or only its ID) ordered by `keys` then the
    ID, both ascending or both `descending`. `after` continues past a cursor, `before` goes
    back. `few`: the query's condition matches few rows (a search box), found through their
    own indexes and then sorted (kit.db.sorted_after_filtering)."""
    labelled = query.add_columns(*(k.label(f"sort_key_{i}") for i, k in enumerate(keys)))
    position: _Position | None = None
    backwards = False
    if before:
        position = _decode_cursor(before, signature, keys)
        backwards = position is not None
    elif after:
        position = _decode_cursor(after, signature, keys)

    # Reading backwards walks the same order reversed, then turns the rows around.
    ascending = descending == backwards
    # The records with a value for the sort (False), then those without (True).
    if not keys or position is None:
        parts = [False, True] if keys else [False]
    elif not position.nulls:
        parts = [False] if backwards else [False, True]
    else:
        parts = [True, False] if backwards else [True]

    # A sort by a custom property reads the records with a value through a join to the value
    # rows, in the order of their index, rather than a lookup per record and a sort of all of
    # them (issue 18); a search box's few matches are looked up and sorted as they are.
    custom = keys.custom if isinstance(keys, SortKeys) and not few else None
    joined = None if custom is None else join_custom_sort(query, custom)
    if joined is not None and joined.all_valued:
        parts = [nulls for nulls in parts if not nulls]
    if backwards:
        # Reversed, the part without values comes first.
        parts.sort(key=lambda nulls: not nulls)

    wanted = limit + 1
    found: list[tuple[bool, Any]] = []
    for nulls in parts:
        if len(found) >= wanted:
            break
        part, part_keys, part_id = labelled, list(keys), id_column
        if joined is not None and not nulls:
            part_keys, part_id = joined.keys, joined.record_id
            part = joined.statement.add_columns(
                *(k.label(f"sort_key_{i}") for i, k in enumerate(part_keys))
            )
        columns = [*part_keys, part_id]
        # Each piece: a condition and the columns it is read in order of.
        pieces: list[tuple[ColumnElement[bool], list[ColumnElement[Any]]]]
        if not keys:
            condition: ColumnElement[bool] = true()
            if position is not None:
                condition = _beyond([id_column], [position.id], ascending)
            pieces = [(condition, columns)]
        elif nulls:
            condition = part_keys[0].is_(None)
            if position is not None and position.nulls:
                condition = and_(condition, _beyond([id_column], [position.id], ascending))
            pieces = [(condition, [part_id])]
        elif position is None or position.nulls:
            pieces = [(part_keys[0].is_not(None), columns)]
        elif joined is not None:
            valued = part_keys[0].is_not(None)
            pieces = [
                (and_(valued, condition), order)
                for condition, order in _beyond_by_steps(
                    columns, [*position.keys, position.id], ascending
                )
            ]
        else:
            here = _beyond(columns, [*position.keys, position.id], ascending)
            pieces = [(and_(part_keys[0].is_not(None), here), columns)]
        for condition, order in pieces:
            if len(found) >= wanted:
                break
            if few:
                order = [sorted_after_filtering(c) for c in order]
            statement = (
                part.where(condition)
                .order_by(*(c.asc() if ascending else c.desc() for c in order))
                .limit(wanted - len(found))
            )
            found.extend((nulls, row) for row in session.execute(statement).all())

    more = len(found) > limit
    found = found[:limit]
    if backwards:
        found.reverse()

    def cursor_at(item: tuple[bool, Any]) -> str:
        nulls, row = item
        entity = row[0]
        values = [None] * len(keys) if nulls else list(row[1 : 1 + len(keys)])
        record_id = entity if isinstance(entity, str) else entity.id
        return _encode_cursor(signature, _Position(nulls, values, record_id))

    rows = [row[0] for _, row in found]
    if not found:
        return Page(rows, None, None)
    has_next = more if not backwards else True
    has_previous = more if backwards else position is not None
    return Page(
        rows,
        cursor_at(found[-1]) if has_next else None,
        cursor_at(found[0]) if has_previous else None,
    )


def count_capped(
    session: Session,
    condition: ColumnElement[bool],
    id_column: ColumnElement[str],
    cap: int = COUNT_CAP,
) -> tuple[int, bool]:
    """How many records match, counting at most `cap` + 1 of them: (count, more than cap)."""
    limited = select(id_column).where(condition).limit(cap + 1).subquery()
    total = int(session.scalar(select(func.count()).select_from(limited)) or 0)
    return min(total, cap), total > cap
