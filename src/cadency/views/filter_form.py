"""The advanced filter editor as pages show it and read it back: the rows of property, operator
and value (and the upper bound of "between") that the subscriptions index and the segment editor
share. The filter language itself (`kit/filters.py`) decides what is valid; this only turns
form fields into its shape and its shape into form rows.

Field names are the API's dotted names: `filter_groups.<g>.filters.<f>.property|operator|
value|values|high_value`. A row of an association filter may also carry `filter_groups` (a JSON
text): the "has a subscription where …" conditions, kept as they are when the form is saved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cadency.kit.i18n import N_
from cadency.views.catalogs import FilterProperty

OPERATOR_LABELS = {
    "eq": N_("is equal to"),
    "neq": N_("is not equal to"),
    "lt": N_("is less than"),
    "lte": N_("is at most"),
    "gt": N_("is greater than"),
    "gte": N_("is at least"),
    "between": N_("is between"),
    "in": N_("is any of"),
    "not_in": N_("is none of"),
    "has_property": N_("is known"),
    "not_has_property": N_("is unknown"),
    "contains_token": N_("contains the word"),
    "not_contains_token": N_("does not contain the word"),
    "less_than_days_ago": N_("is less than this many days ago"),
    "more_than_days_ago": N_("is more than this many days ago"),
}
# Which operators the filter form offers per kind of property (the filter language decides;
# these only keep the form from offering what it would refuse).
EQUALITY = ("eq", "neq", "in", "not_in")
PRESENCE = ("has_property", "not_has_property")
_COMPARE = ("eq", "neq", "lt", "lte", "gt", "gte", "between", "in", "not_in")
_DAYS_AGO = ("less_than_days_ago", "more_than_days_ago")
KIND_OPERATORS: dict[str, tuple[str, ...]] = {
    "text": (*EQUALITY, "contains_token", "not_contains_token", *PRESENCE),
    "enum": (*EQUALITY, *PRESENCE),
    "id": (*EQUALITY, *PRESENCE),
    "number": (*_COMPARE, *PRESENCE),
    "money": (*_COMPARE, *PRESENCE),
    "date": (*_COMPARE, *_DAYS_AGO, *PRESENCE),
    "datetime": (*_COMPARE, *_DAYS_AGO, *PRESENCE),
    "bool": ("eq", "neq", *PRESENCE),
    "checkboxes": (*EQUALITY, "contains_token", "not_contains_token", *PRESENCE),
    "association": PRESENCE,
}
_FILTER_PARAM = re.compile(
    r"filter_groups\.(\d{1,2})\.filters\.(\d{1,2})\."
    r"(property|operator|value|values|high_value|filter_groups)"
)
_LIST_OPERATORS = ("in", "not_in")


class MultiItems(Protocol):
    """Query parameters or a posted form: both list their fields in order."""

    def multi_items(self) -> list[tuple[str, Any]]: ...


def text_of(value: Any) -> str:
    """A filter value as a form shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_from_fields(fields: MultiItems) -> list[dict[str, Any]]:
    """Filter groups from dotted fields, as typed; rows without a property are left out (an
    empty row the user added and did not fill), and groups are renumbered in order."""
    rows: dict[int, dict[int, dict[str, Any]]] = {}
    for key, value in fields.multi_items():
        match = _FILTER_PARAM.fullmatch(key)
        if not match or not isinstance(value, str):
            continue
        g, f, part = int(match[1]), int(match[2]), match[3]
        row = rows.setdefault(g, {}).setdefault(f, {})
        if part == "values":
            row.setdefault("values", []).extend(v.strip() for v in value.split(",") if v.strip())
        elif value.strip():
            row[part] = value.strip()
    groups = []
    for g in sorted(rows):
        filters = [rows[g][f] for f in sorted(rows[g]) if rows[g][f].get("property")]
        if filters:
            groups.append({"filters": filters})
    return groups


def tidy_filter(item: dict[str, Any], kinds: Mapping[str, str], timezone: str) -> dict[str, Any]:
    """What the form sends, in the filter language's shape: a list operator takes the value
    box as a comma-separated list, inputs an operator does not use are dropped (the form
    hides them), and a date-time typed in the browser is read in the account's time zone."""
    op = str(item.get("operator") or "eq").lower()
    out: dict[str, Any] = {"property": item["property"], "operator": op}
    kind = kinds.get(item["property"], "text")
    if op in PRESENCE:
        nested = item.get("filter_groups")
        if isinstance(nested, str) and nested.strip():
            try:
                out["filter_groups"] = json.loads(nested)
            except (ValueError, RecursionError):  # RecursionError: nested too deep to read
                out["filter_groups"] = nested  # the filter language says what is wrong
        return out
    if op in _LIST_OPERATORS:
        values = list(item.get("values") or [])
        if not values and item.get("value"):
            values = [v.strip() for v in str(item["value"]).split(",") if v.strip()]
        out["values"] = [_typed(v, kind, timezone) for v in values]
        return out
    if op in _DAYS_AGO and isinstance(item.get("value"), str) and item["value"].isdigit():
        out["value"] = int(item["value"])  # a number of days, as the API takes it
    elif item.get("value") is not None:
        out["value"] = _typed(item["value"], kind, timezone)
    if op == "between" and item.get("high_value") is not None:
        out["high_value"] = _typed(item["high_value"], kind, timezone)
    return out


def _typed(value: Any, kind: str, timezone: str) -> Any:
    if kind == "datetime" and isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value  # the filter language says what is wrong with it
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        return moment.isoformat()
    if kind == "bool" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def read_filter_groups(
    fields: MultiItems, properties: Sequence[FilterProperty], timezone: str
) -> list[dict[str, Any]]:
    """The filter groups a filter editor's fields describe, in the filter language's shape."""
    kinds = {p.name: p.kind for p in properties}
    return [
        {"filters": [tidy_filter(f, kinds, timezone) for f in g["filters"]]}
        for g in rows_from_fields(fields)
    ]


def filter_rows(groups: Sequence[Mapping[str, Any]]) -> list[list[dict[str, str]]]:
    """Filter groups as the editor's rows (every value as text)."""
    return [
        [
            {
                "property": f.get("property", ""),
                "operator": f.get("operator", "eq"),
                "value": ", ".join(text_of(v) for v in f["values"])
                if f.get("values")
                else text_of(f["value"])
                if f.get("value") is not None
                else "",
                "high_value": text_of(f["high_value"]) if f.get("high_value") is not None else "",
                "filter_groups": json.dumps(f["filter_groups"]) if f.get("filter_groups") else "",
            }
            for f in g.get("filters", [])
        ]
        for g in groups
    ]


def editor_context(
    gettext: Callable[[str], str], properties: Sequence[FilterProperty]
) -> dict[str, Any]:
    """What the filter editor's templates need besides the rows: the properties (labels in the
    page's language), what each kind offers (for index.js), and the operators."""
    return {
        "properties": [
            {"name": p.name, "label": gettext(p.label) if p.translate else p.label}
            for p in properties
        ],
        "properties_json": json.dumps(
            {
                p.name: {
                    "kind": p.kind,
                    "operators": list(KIND_OPERATORS.get(p.kind, EQUALITY)),
                    "options": [
                        [value, gettext(label) if p.translate else label]
                        for value, label in p.options
                    ],
                }
                for p in properties
            }
        ),
        "operators": [(k, gettext(v)) for k, v in OPERATOR_LABELS.items()],
    }


# --- "has a subscription where …" in the editor ------------------------------------------------
# A contact or company filter offers the subscription's properties as rows of their own
# ("Subscription: Status"). The rows on them in one group are saved as one filter of the
# filter language — `associations.subscription` has_property with their conditions — so they
# must all hold for the same subscription; the editor shows such a filter as those rows again.

RELATED_PREFIX = "subscription."
RELATED_ASSOCIATION = "associations.subscription"


def related_properties(
    gettext: Callable[[str], str], properties: Sequence[FilterProperty]
) -> list[FilterProperty]:
    """A subscription's filter properties as rows of a contact or company filter, labelled in
    the page's language."""
    prefix = gettext("Subscription")
    return [
        FilterProperty(
            RELATED_PREFIX + p.name,
            f"{prefix}: {gettext(p.label) if p.translate else p.label}",
            p.kind,
            tuple((v, gettext(label) if p.translate else label) for v, label in p.options),
            translate=False,
        )
        for p in properties
        if p.kind != "association"
    ]


def fold_related(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each group's rows on the subscription's properties as one "has a subscription where …"."""
    folded = []
    for group in groups:
        own = [f for f in group["filters"] if not f["property"].startswith(RELATED_PREFIX)]
        related = [
            {**f, "property": f["property"].removeprefix(RELATED_PREFIX)}
            for f in group["filters"]
            if f["property"].startswith(RELATED_PREFIX)
        ]
        if related:
            own.append(
                {
                    "property": RELATED_ASSOCIATION,
                    "operator": "has_property",
                    "filter_groups": [{"filters": related}],
                }
            )
        folded.append({"filters": own})
    return folded


def unfold_related(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The inverse of `fold_related`, where the editor can show it: a group with one "has a
    subscription where …" of one group becomes rows again; any other shape (several such
    filters, OR inside, "has no subscription where …") stays one row that keeps it as it is."""
    unfolded = []
    for group in groups:
        filters = list(group.get("filters", []))
        nested = [f for f in filters if _foldable(f)]
        if len(nested) == 1:
            filters.remove(nested[0])
            filters += [
                {**f, "property": RELATED_PREFIX + str(f.get("property", ""))}
                for f in nested[0]["filter_groups"][0]["filters"]
            ]
        unfolded.append({"filters": filters})
    return unfolded


def _foldable(f: Mapping[str, Any]) -> bool:
    nested = f.get("filter_groups")
    return (
        f.get("property") == RELATED_ASSOCIATION
        and f.get("operator") == "has_property"
        and isinstance(nested, list)
        and len(nested) == 1
        and isinstance(nested[0], dict)
        and isinstance(nested[0].get("filters"), list)
        and all(
            isinstance(inner, dict) and not inner.get("filter_groups")
            for inner in nested[0]["filters"]
        )
    )
