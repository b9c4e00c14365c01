"""Custom properties: their definitions, and the typed values records carry.

Contacts, companies and subscriptions accept `"properties": {name: value}`; their services call
`set_values` (which checks every value against its definition and rules) and render
`get_values`. A value lives in one `PropertyValue` row, in the column of its type, so the filter
language can compare numbers as numbers and dates as dates:

- text, textarea, select, radio → `text_value`;
- checkboxes → `text_value` as the sorted values joined by ";" (option values cannot hold ";"),
  so `contains_token` can match one of them;
- number → `number_value` for comparisons, and its exact canonical decimal text in `text_value`
  (SQLite keeps NUMERIC as a float; the text keeps the value exact on both databases);
- date → `date_value`; datetime → `datetime_value` (UTC); boolean → `bool_value`.

A property flagged `sensitive` shows its values only to users and API keys with the
`properties.view_sensitive` permission (super admins have every permission): `get_values` gives
everyone else `MASKED` in their place, and `check_filterable` refuses them filters and sorts on
it. Anyone who may edit a record may still write such a value.

`rules.min`/`rules.max` bound a number's value, and a text or textarea's length in characters.
Rules are checked when a value is written; changing a rule does not re-check stored values, except
that switching `unique` on fails while stored values repeat.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from sqlalchemy import and_, delete, event, func, literal, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from cadency.accounts.models import Account
from cadency.kit import clock, labels
from cadency.kit.db import not_an_index_key
from cadency.kit.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from cadency.kit.filters import CUSTOM_PREFIX, FilterGroup, Sort
from cadency.kit.i18n import N_, Message
from cadency.kit.pagination import decode_cursor, encode_cursor
from cadency.kit.schemas import text_problem
from cadency.properties import patterns
from cadency.properties.models import PropertyDefinition, PropertyValue
from cadency.properties.schemas import PropertyCreate, json_number
from cadency.segments.models import Segment

OBJECT_TYPES = ("subscriptions", "contacts", "companies")
_SINGULAR = {"subscriptions": "subscription", "contacts": "contact", "companies": "company"}

# Until plans set it per account (SPEC §8), every account may define this many per object type.
MAX_PROPERTIES_PER_OBJECT_TYPE = 1000
# The longest value of each text type, in characters: a single line is a name, code or
# reference; a multi-line text a note.
MAX_TEXT_LENGTHS = {"text": 1_000, "textarea": 65_536}
# number_value is NUMERIC(30, 10).
MAX_NUMBER_DECIMALS = 10
MAX_NUMBER_INTEGER_DIGITS = 20

FIELD_TYPES = (
    "text", "textarea", "number", "date", "datetime", "select", "radio", "checkboxes", "boolean"
)  # fmt: skip
TEXT_TYPES = frozenset({"text", "textarea"})
OPTION_TYPES = frozenset({"select", "radio", "checkboxes"})
UNIQUE_TYPES = frozenset({"text", "textarea", "number", "date", "datetime"})
CHECKBOX_SEPARATOR = ";"

VIEW_SENSITIVE = "properties.view_sensitive"
SENSITIVE_MASK = "••••••"


class MaskedValue(str):
    """A sensitive value as someone without `properties.view_sensitive` reads it: the mask
    text (so the API and pages show it as it is), of its own type so pages can tell it from a
    value and offer no input for it."""


MASKED = MaskedValue(SENSITIVE_MASK)

_COMMON = {"id", "object", "account_id", "properties", "created_at", "updated_at"}
_ADDRESS = {"address", "line1", "line2", "city", "postal_code", "region", "country"}

# Names a custom property cannot take: the record's own fields (API objects, request bodies and
# columns), which filters, views and exports address by the same names.
BUILTIN_NAMES: dict[str, set[str]] = {
    "subscriptions": _COMMON
    | {
        # The API subscription object.
        "name", "status", "cancel_at_period_end", "cancel_at", "canceled_at",
        "cancellation_reason", "cancellation_reasons", "contact_id", "company_id", "currency",
        "collection_method",
        "payment_terms", "payment_method_id", "billing_frequency", "billing_terms",
        "number_of_payments", "start_date", "end_date", "current_period_start",
        "current_period_end", "next_payment_date", "next_payment_amount",
        "last_payment_amount", "last_payment_status", "payments_completed", "total_collected",
        "mrr", "trial_end", "commitment_end", "paused_at", "resume_at", "invoice_creation",
        "line_items",
        # Request bodies and stored columns.
        "billing_address", "collect_payment_method_on_first_invoice", "trial_days",
        "commitment_months", "invoice_settings", "payment_options", "cancellation_comment",
        "billing_anchor",
        "recurring_amount", "next_action_at", "owner_id", "owner", "deal_id", "quote_id",
        "contact", "company", "amount",
    },
    "contacts": _COMMON
    | _ADDRESS
    | {"email", "first_name", "last_name", "name", "phone", "payment_methods"},
    "companies": _COMMON | _ADDRESS | {"name", "domain"},
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Definitions


def check_object_type(object_type: str) -> str:
    """The object type, or 404: only these records carry custom properties."""
    if object_type not in OBJECT_TYPES:
        raise NotFound(
            "No such object type: '%(object_type)s' (one of %(object_types)s)",
            object_type=object_type,
            object_types=", ".join(OBJECT_TYPES),
        )
    return object_type


def default_group(object_type: str) -> str:
    """The group a property joins when none is given, e.g. "subscription_information"."""
    return f"{_SINGULAR[object_type]}_information"


def property_limit(plan_limit: int | None) -> int:
    """How many custom properties of one object type the account may define: the
    installation's maximum, or less when the account's plan allows fewer. Only new properties
    are checked, so after a downgrade the existing ones stay viewable and editable.

    `plan_limit` is the plan's own limit (`plans.limits.custom_property_limit`; None: none):
    plans sit above properties, so the caller reads it and passes it in."""
    if plan_limit is None:
        return MAX_PROPERTIES_PER_OBJECT_TYPE
    return min(plan_limit, MAX_PROPERTIES_PER_OBJECT_TYPE)


# Where a transaction keeps the definitions it has read (Session.info), by (account, type).
_DEFINITIONS = "cadency.property_definitions"


def definitions(
    session: Session, account_id: int, object_type: str
) -> dict[str, PropertyDefinition]:
    """Every custom property of this object type in the account, by name.

    Read once per transaction (a batch of 100 contacts checks them 100 times): forgotten when
    one is created or deleted here, and when the transaction ends, so another transaction's
    change is seen by the next one."""
    known: dict[tuple[int, str], dict[str, PropertyDefinition]]
    known = session.info.setdefault(_DEFINITIONS, {})
    key = (account_id, object_type)
    if key not in known:
        rows = session.scalars(
            select(PropertyDefinition).where(
                PropertyDefinition.account_id == account_id,
                PropertyDefinition.object_type == object_type,
            )
        )
        known[key] = {row.name: row for row in rows}
    return dict(known[key])


def _forget_definitions(session: Session, *_: Any) -> None:
    session.info.pop(_DEFINITIONS, None)


event.listen(Session, "after_transaction_end", _forget_definitions)


def get_definition(
    session: Session, account_id: int, object_type: str, name: str
) -> PropertyDefinition:
    """One definition of this account, or 404 (another account's is simply not found)."""
    definition = session.scalars(
        select(PropertyDefinition).where(
            PropertyDefinition.account_id == account_id,
            PropertyDefinition.object_type == object_type,
            PropertyDefinition.name == name,
        )
    ).one_or_none()
    if definition is None:
        raise NotFound("No such property: '%(name)s'", name=name)
    return definition


def count_definitions(session: Session, account_id: int, object_type: str) -> int:
    """How many custom properties of this object type the account has (against its limit)."""
    count = session.scalar(
        select(func.count())
        .select_from(PropertyDefinition)
        .where(
            PropertyDefinition.account_id == account_id,
            PropertyDefinition.object_type == object_type,
        )
    )
    return count or 0


def list_definitions(
    session: Session, account_id: int, object_type: str, *, limit: int, cursor: str | None
) -> tuple[Sequence[PropertyDefinition], bool, str | None]:
    """One page of definitions in name order. Returns (rows, has_more, next_cursor)."""
    query = select(PropertyDefinition).where(
        PropertyDefinition.account_id == account_id,
        PropertyDefinition.object_type == object_type,
    )
    if cursor:
        query = query.where(PropertyDefinition.name > decode_cursor(cursor))
    rows = session.scalars(query.order_by(PropertyDefinition.name).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, has_more, encode_cursor(rows[-1].name) if has_more and rows else None


def create_definition(
    session: Session,
    account: Account,
    object_type: str,
    data: PropertyCreate,
    *,
    plan_limit: int | None,
) -> PropertyDefinition:
    """Define a custom property. 422 for a bad shape or a built-in name; 409 for a duplicate
    name or when the account is at its limit (see `property_limit` for `plan_limit`)."""
    check_object_type(object_type)
    if data.name in BUILTIN_NAMES[object_type]:
        raise InvalidRequest(
            "'%(name)s' is a built-in property of %(object_type)s; choose another name",
            name=data.name,
            object_type=object_type,
            param="name",
        )
    _check_not_blank(data.label, "label")
    if data.group is not None:
        _check_not_blank(data.group, "group")
    options = _checked_options(data.field_type, [o.model_dump() for o in data.options])
    rules = _checked_rules(data.field_type, data.rules.model_dump())
    existing = session.scalar(
        select(PropertyDefinition.id).where(
            PropertyDefinition.account_id == account.id,
            PropertyDefinition.object_type == object_type,
            PropertyDefinition.name == data.name,
        )
    )
    if existing is not None:
        raise Conflict("A property named '%(name)s' already exists", name=data.name, param="name")
    count = count_definitions(session, account.id, object_type)
    limit = property_limit(plan_limit)
    if count >= limit:
        raise Conflict(
            "This account already has %(count)s custom properties for "
            "%(object_type)s, the most its plan allows (%(limit)s)",
            count=count,
            object_type=object_type,
            limit=limit,
        )
    now = clock.account_now(account)
    definition = PropertyDefinition(
        account_id=account.id,
        object_type=object_type,
        name=data.name,
        label=data.label,
        group_name=data.group or default_group(object_type),
        description=data.description,
        field_type=data.field_type,
        options=options,
        rules=rules,
        sensitive=data.sensitive,
        created_at=now,
        updated_at=now,
    )
    session.add(definition)
    session.flush()
    _forget_definitions(session)
    return definition


def update_definition(
    session: Session, account: Account, object_type: str, name: str, changes: dict[str, Any]
) -> PropertyDefinition:
    """Change label, group, description, options, rules or the sensitive flag.

    `changes` holds only the fields sent (`model_dump(exclude_unset=True)`); `rules` merges into
    the current rules. Removing an option some record uses, or switching `unique` on while
    values repeat, is a 409.
    """
    definition = get_definition(session, account.id, object_type, name)
    for field in ("label", "group", "options", "rules", "sensitive"):
        if field in changes and changes[field] is None:
            raise InvalidRequest("'%(field)s' cannot be null", field=field, param=field)
    for field in ("label", "group"):
        if field in changes:
            _check_not_blank(changes[field], field)
    if "options" in changes:
        options = _checked_options(definition.field_type, changes["options"])
        kept = {option["value"] for option in options}
        for option in definition.options:
            if option["value"] not in kept:
                _check_option_unused(session, definition, option["value"])
        definition.options = options
    if "rules" in changes:
        merged = {**definition.rules, **changes["rules"]}
        rules = _checked_rules(definition.field_type, merged)
        if rules["unique"] and not definition.rules.get("unique"):
            _check_values_distinct(session, definition)
        definition.rules = rules
    if "label" in changes:
        definition.label = changes["label"]
    if "group" in changes:
        definition.group_name = changes["group"]
    if "description" in changes:
        definition.description = changes["description"]
    if "sensitive" in changes:
        definition.sensitive = changes["sensitive"]
    definition.updated_at = clock.account_now(account)
    session.flush()
    return definition


def _filters_use(groups: Any, object_type: str, name: str, own_type: str) -> bool:
    """Whether stored filter groups over `own_type` records name the custom property `name`
    of `object_type`, also inside "has a subscription where …" (subscription properties)."""
    for group in groups if isinstance(groups, list) else []:
        for item in group.get("filters", []) if isinstance(group, dict) else []:
            if not isinstance(item, dict):
                continue
            if own_type == object_type and item.get("property") in (name, CUSTOM_PREFIX + name):
                return True
            nested = item.get("filter_groups")
            if nested and _filters_use(nested, object_type, name, "subscriptions"):
                return True
    return False


def delete_definition(session: Session, account: Account, object_type: str, name: str) -> None:
    """Remove a definition and every value of it. A property a segment filters on stays
    (409 naming the segment): the segment would otherwise stop working for everyone."""
    definition = get_definition(session, account.id, object_type, name)
    for segment in session.scalars(
        select(Segment).where(Segment.account_id == account.id).order_by(Segment.name)
    ):
        if _filters_use(segment.filter_groups, object_type, name, segment.object_type):
            raise Conflict(
                "The property '%(name)s' is used by the segment '%(segment)s'; change or "
                "delete the segment first",
                name=name,
                segment=segment.name,
            )
    session.execute(
        delete(PropertyValue).where(
            PropertyValue.account_id == account.id,
            PropertyValue.object_type == object_type,
            PropertyValue.name == name,
        )
    )
    session.delete(definition)
    session.flush()
    _forget_definitions(session)


def _check_not_blank(text: str, param: str) -> None:
    # A label of spaces shows as nothing on every page and in every export.
    if not text.strip():
        raise InvalidRequest("'%(field_name)s' cannot be blank", field_name=param, param=param)


def _checked_options(field_type: str, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if field_type not in OPTION_TYPES:
        if options:
            raise InvalidRequest(
                "A %(field_type)s property has no options (only select, radio and checkboxes)",
                field_type=field_type,
                param="options",
            )
        return []
    if not options:
        raise InvalidRequest(
            "A %(field_type)s property needs at least one option",
            field_type=field_type,
            param="options",
        )
    seen: set[str] = set()
    for index, option in enumerate(options):
        _check_not_blank(option["value"], f"options.{index}.value")
        _check_not_blank(option["label"], f"options.{index}.label")
        if option["value"] in seen:
            raise InvalidRequest(
                "Option values must be unique; '%(value)s' repeats",
                value=option["value"],
                param=f"options.{index}.value",
            )
        seen.add(option["value"])
    return [{"value": option["value"], "label": option["label"]} for option in options]


def _checked_rules(field_type: str, rules: Mapping[str, Any]) -> dict[str, Any]:
    """Rules as stored: bounds as canonical decimal strings."""
    unique = bool(rules.get("unique"))
    if unique and field_type not in UNIQUE_TYPES:
        raise InvalidRequest(
            "A %(field_type)s property cannot require unique values",
            field_type=field_type,
            param="rules.unique",
        )
    bounds: dict[str, Decimal | None] = {}
    for key in ("min", "max"):
        raw = rules.get(key)
        if raw is None:
            bounds[key] = None
            continue
        param = f"rules.{key}"
        if field_type == "number":
            bounds[key] = parse_number(raw, param, f"'{key}'")
        elif field_type in TEXT_TYPES:
            length = parse_number(raw, param, f"'{key}'")
            if length < 0 or length != length.to_integral_value():
                raise InvalidRequest(
                    "'%(key)s' of a %(field_type)s property is a length: a whole number ≥ 0",
                    key=key,
                    field_type=field_type,
                    param=param,
                )
            if length > MAX_TEXT_LENGTHS[field_type]:
                raise InvalidRequest(
                    "'%(key)s' of a %(field_type)s property is a length of at most "
                    "%(max_length)s characters",
                    key=key,
                    field_type=field_type,
                    max_length=MAX_TEXT_LENGTHS[field_type],
                    param=param,
                )
            bounds[key] = length
        else:
            raise InvalidRequest(
                "'%(key)s' applies to number, text and textarea properties, not %(field_type)s",
                key=key,
                field_type=field_type,
                param=param,
            )
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        raise InvalidRequest("'max' must not be less than 'min'", param="rules.max")
    pattern = rules.get("pattern")
    if pattern is not None:
        if field_type not in TEXT_TYPES:
            raise InvalidRequest(
                "'pattern' applies to text and textarea properties, not %(field_type)s",
                field_type=field_type,
                param="rules.pattern",
            )
        patterns.check(pattern)
    return {
        "required": bool(rules.get("required")),
        "unique": unique,
        "min": None if low is None else canonical_decimal(low),
        "max": None if high is None else canonical_decimal(high),
        "pattern": pattern,
    }


def _check_option_unused(session: Session, definition: PropertyDefinition, value: str) -> None:
    if definition.field_type == "checkboxes":
        # Stored as "a;b;c": wrap in separators so a token matches only whole values.
        wrapped = literal(CHECKBOX_SEPARATOR) + PropertyValue.text_value + CHECKBOX_SEPARATOR
        token = f"{CHECKBOX_SEPARATOR}{value}{CHECKBOX_SEPARATOR}"
        matches = wrapped.contains(token, autoescape=True)
    else:
        matches = PropertyValue.text_value == value
    used = session.scalar(
        select(func.count())
        .select_from(PropertyValue)
        .where(
            PropertyValue.account_id == definition.account_id,
            PropertyValue.object_type == definition.object_type,
            PropertyValue.name == definition.name,
            matches,
        )
    )
    if used:
        if used == 1:
            raise Conflict(
                "Option '%(value)s' of property '%(name)s' is in use by 1 record; change "
                "those values first",
                value=value,
                name=definition.name,
                param="options",
            )
        raise Conflict(
            "Option '%(value)s' of property '%(name)s' is in use by %(used)s records; change "
            "those values first",
            value=value,
            name=definition.name,
            used=used,
            param="options",
        )


def _value_column(field_type: str) -> InstrumentedAttribute[Any]:
    """The column that identifies equal values (numbers by their exact canonical text)."""
    if field_type == "date":
        return PropertyValue.date_value
    if field_type == "datetime":
        return PropertyValue.datetime_value
    if field_type == "boolean":
        return PropertyValue.bool_value
    return PropertyValue.text_value


def _check_values_distinct(session: Session, definition: PropertyDefinition) -> None:
    column = _value_column(definition.field_type)
    repeated = session.scalar(
        select(column)
        .where(
            PropertyValue.account_id == definition.account_id,
            PropertyValue.object_type == definition.object_type,
            PropertyValue.name == definition.name,
        )
        .group_by(column)
        .having(func.count() > 1)
        .limit(1)
    )
    if repeated is not None:
        raise Conflict(
            "Records already share values of property '%(name)s'; make them unique "
            "before requiring unique values",
            name=definition.name,
            param="rules.unique",
        )


# ---------------------------------------------------------------------------------------------
# Values

# Enough digits that the longest accepted decimal text (40 + 40) is never rounded.
_DECIMAL_PRECISION = 100
_DECIMAL_TEXT = re.compile(r"-?\d{1,40}(\.\d{1,40})?")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})"
)


def canonical_decimal(value: Decimal) -> str:
    """The decimal's shortest plain text: "12.5", "100", "-0.25" (no exponent, no "-0")."""
    if value == 0:
        return "0"
    with localcontext(prec=_DECIMAL_PRECISION):  # the default 28 digits would round
        return format(value.normalize(), "f")


def parse_number(value: Any, param: str, what: str) -> Decimal:
    """A JSON number (not a boolean, not NaN/Infinity) or a decimal string, exactly."""
    problem = Message(
        N_("Invalid value for %(what)s: must be a number or a decimal string"), what=what
    )
    if isinstance(value, bool):
        raise InvalidRequest(problem, param=param)
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(problem, param=param)
        number = Decimal(str(value))  # the shortest text that round-trips, e.g. 0.1 → "0.1"
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        number = Decimal(value)
    else:
        raise InvalidRequest(problem, param=param)
    with localcontext(prec=_DECIMAL_PRECISION):  # the default 28 digits would round
        try:
            exponent = number.normalize().as_tuple().exponent
        except InvalidOperation as exc:  # pragma: no cover - finite inputs only
            raise InvalidRequest(problem, param=param) from exc
        too_large = abs(number) >= Decimal(10) ** MAX_NUMBER_INTEGER_DIGITS
    if isinstance(exponent, int) and -exponent > MAX_NUMBER_DECIMALS:
        raise InvalidRequest(
            "Invalid value for %(what)s: at most %(max_number_decimals)s decimal places",
            what=what,
            max_number_decimals=MAX_NUMBER_DECIMALS,
            param=param,
        )
    if too_large:
        raise InvalidRequest(
            "Invalid value for %(what)s: at most %(max_number_integer_digits)s "
            "digits before the decimal point",
            what=what,
            max_number_integer_digits=MAX_NUMBER_INTEGER_DIGITS,
            param=param,
        )
    return Decimal(canonical_decimal(number))


def _parse_date(value: Any, param: str, what: str) -> date:
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRequest(
        "Invalid value for %(what)s: must be a date 'YYYY-MM-DD'", what=what, param=param
    )


def _parse_datetime(value: Any, param: str, what: str) -> datetime:
    if isinstance(value, str) and _DATETIME_TEXT.fullmatch(value):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except (ValueError, OverflowError):  # e.g. hour 24, or year 1 moved before year 1
            pass
    raise InvalidRequest(
        "Invalid value for %(what)s: must be an ISO 8601 timestamp with a UTC "
        "offset, e.g. '2025-01-31T09:30:00Z'",
        what=what,
        param=param,
    )


def _required(name: str) -> InvalidRequest:
    return InvalidRequest("Property '%(name)s' is required", name=name, param=f"properties.{name}")


def unsaved_definition(object_type: str, data: PropertyCreate) -> PropertyDefinition:
    """A property as `create_definition` would make it, checked the same way but never added
    to the session: the property form's Preview draws a record form's field of it."""
    check_object_type(object_type)
    return PropertyDefinition(
        object_type=object_type,
        name=data.name,
        label=data.label,
        group_name=data.group or default_group(object_type),
        description=data.description,
        field_type=data.field_type,
        options=_checked_options(data.field_type, [o.model_dump() for o in data.options]),
        rules=_checked_rules(data.field_type, data.rules.model_dump()),
        sensitive=data.sensitive,
    )


def try_value(definition: PropertyDefinition, value: Any) -> None:
    """Refuse (422) a value as saving it on a new record would, storing nothing (the Preview's
    "Try it"). Whether it is unique compares records, so that is checked only when stored."""
    if _columns(definition, value) is None and definition.rules.get("required"):
        raise _required(definition.name)


def check_value(definition: PropertyDefinition, value: Any) -> None:
    """Refuse (422) a value not of the property's field type or outside its rules, as storing
    it would; a rule that compares records (unique) is checked when it is stored."""
    _columns(definition, value)


def _columns(definition: PropertyDefinition, value: Any) -> dict[str, Any] | None:
    """The PropertyValue columns for a value, or None when the value removes it."""
    if value is None:
        return None
    name, field_type, rules = definition.name, definition.field_type, definition.rules
    param, what = f"properties.{name}", Message(N_("property '%(name)s'"), name=name)

    def invalid(message: str, **values: Any) -> InvalidRequest:
        detail = message if isinstance(message, Message) else Message(message, **values)
        return InvalidRequest(
            "Invalid value for %(what)s: %(detail)s", what=what, detail=detail, param=param
        )

    if field_type in TEXT_TYPES:
        if not isinstance(value, str):
            raise invalid(N_("must be a string"))
        if problem := text_problem(value, multiline=field_type == "textarea"):
            raise invalid(problem)
        if value == "":
            return None  # an empty text is no value, as in a cleared form field
        if definition.sensitive and value == SENSITIVE_MASK:
            # A client that sends back what it read would replace the value with its mask.
            raise invalid(
                N_(
                    "that is the mask shown in place of a sensitive value; send the value "
                    "itself or leave the property out"
                )
            )
        longest = MAX_TEXT_LENGTHS[field_type]
        if len(value) > longest:
            raise invalid(N_("at most %(count)s characters"), count=longest)
        if rules.get("min") is not None and len(value) < Decimal(rules["min"]):
            raise invalid(N_("at least %(count)s characters"), count=rules["min"])
        if rules.get("max") is not None and len(value) > Decimal(rules["max"]):
            raise invalid(N_("at most %(count)s characters"), count=rules["max"])
        if rules.get("pattern") is not None:
            try:
                matched = patterns.full_match(rules["pattern"], value)
            except InvalidRequest as exc:  # a pattern stored before patterns ran on RE2
                raise invalid(
                    N_("the property's %(problem)s; change the pattern"), problem=exc.message
                ) from exc
            if not matched:
                raise invalid(N_("does not match the property's pattern"))
        return {"text_value": value}
    if field_type == "number":
        number = parse_number(value, param, what)
        if rules.get("min") is not None and number < Decimal(rules["min"]):
            raise invalid(N_("must be at least %(least)s"), least=rules["min"])
        if rules.get("max") is not None and number > Decimal(rules["max"]):
            raise invalid(N_("must be at most %(most)s"), most=rules["max"])
        return {"number_value": number, "text_value": canonical_decimal(number)}
    if field_type == "date":
        return {"date_value": _parse_date(value, param, what)}
    if field_type == "datetime":
        return {"datetime_value": _parse_datetime(value, param, what)}
    if field_type == "boolean":
        if not isinstance(value, bool):
            raise invalid(N_("must be true or false"))
        return {"bool_value": value}
    allowed = [option["value"] for option in definition.options]
    choices = ", ".join(allowed[:10]) + (", …" if len(allowed) > 10 else "")
    if field_type in ("select", "radio"):
        if not isinstance(value, str) or value not in allowed:
            raise invalid(N_("must be one of: %(choices)s"), choices=choices)
        return {"text_value": value}
    if field_type == "checkboxes":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise invalid(N_("must be a list of option values"))
        if any(item not in allowed for item in value):
            # The input is not echoed: values of sensitive properties must not leak into logs.
            raise invalid(N_("every value must be one of: %(choices)s"), choices=choices)
        if not value:
            return None  # no box checked
        return {"text_value": CHECKBOX_SEPARATOR.join(sorted(set(value)))}
    raise AssertionError(f"unknown field type {field_type}")  # pragma: no cover


_VALUE_COLUMNS = ("text_value", "number_value", "date_value", "datetime_value", "bool_value")


def set_values(
    session: Session,
    account: Account,
    object_type: str,
    object_id: str,
    values: Mapping[str, Any] | None,
    *,
    creating: bool,
) -> None:
    """Check and store custom property values of one record; null (or "" / []) removes one.

    Every name must be a property of the object type, every value of its field type and within
    its rules, else a 422 whose `param` is `properties.<name>`. With `creating`, a required
    property must have a value even when `values` omits it, so call this on every create.
    Nothing is written unless every value is acceptable. Never commits.
    """
    check_object_type(object_type)
    values = values or {}
    defined = definitions(session, account.id, object_type)
    for name in values:
        if name not in defined:
            raise InvalidRequest(
                "Unknown property '%(name)s' for %(object_type)s; define it first",
                name=name,
                object_type=object_type,
                param=f"properties.{name}",
            )
    columns = {name: _columns(defined[name], value) for name, value in values.items()}
    for name, definition in defined.items():
        if not definition.rules.get("required"):
            continue
        if columns.get(name) is None and (creating or name in columns):
            raise _required(name)
    for name, stored in columns.items():
        definition = defined[name]
        if stored is None or not definition.rules.get("unique"):
            continue
        column = _value_column(definition.field_type)
        taken = session.scalar(
            select(PropertyValue.object_id)
            .where(
                PropertyValue.account_id == account.id,
                PropertyValue.object_type == object_type,
                PropertyValue.name == name,
                column == stored[column.key],
                PropertyValue.object_id != object_id,
            )
            .limit(1)
        )
        if taken is not None:
            raise InvalidRequest(
                "Another %(singular)s already has this value of property '%(name)s', "
                "which must be unique",
                singular=labels.word(_SINGULAR[object_type], labels.RECORD_KINDS),
                name=name,
                param=f"properties.{name}",
            )
    if not columns:
        return
    existing = {
        row.name: row
        for row in session.scalars(
            select(PropertyValue).where(
                PropertyValue.object_id == object_id,
                PropertyValue.name.in_(list(columns)),
                PropertyValue.account_id == account.id,
            )
        )
    }
    for name, stored in columns.items():
        row = existing.get(name)
        if stored is None:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            row = PropertyValue(
                object_id=object_id, name=name, account_id=account.id, object_type=object_type
            )
            session.add(row)
        for key in _VALUE_COLUMNS:
            setattr(row, key, stored.get(key))
    session.flush()


# Bound parameters per query stay well below SQLite's limit.
_IDS_PER_QUERY = 5000


def get_values(
    session: Session,
    account_id: int,
    object_type: str,
    object_ids: Sequence[str],
    *,
    view_sensitive: bool,
) -> dict[str, dict[str, Any]]:
    """Custom property values of many records, JSON-ready, by record ID then name.

    Every requested ID is in the result (with `{}` when it has no values); properties without
    a value are left out. Without `view_sensitive` (the reader's `properties.view_sensitive`
    permission) a sensitive property's value reads `MASKED`. One query (per 5,000 IDs).
    """
    result: dict[str, dict[str, Any]] = {object_id: {} for object_id in object_ids}
    ids = list(result)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        rows = session.execute(
            select(
                PropertyValue.object_id,
                PropertyValue.name,
                PropertyDefinition.field_type,
                PropertyDefinition.sensitive,
                PropertyValue.text_value,
                PropertyValue.number_value,
                PropertyValue.date_value,
                PropertyValue.datetime_value,
                PropertyValue.bool_value,
            )
            .join(
                PropertyDefinition,
                and_(
                    PropertyDefinition.account_id == PropertyValue.account_id,
                    PropertyDefinition.object_type == PropertyValue.object_type,
                    PropertyDefinition.name == PropertyValue.name,
                ),
            )
            .where(
                # Found by their IDs (the primary key), not by scanning the account's values.
                not_an_index_key(PropertyValue.account_id) == account_id,
                not_an_index_key(PropertyValue.object_type) == object_type,
                PropertyValue.object_id.in_(ids[start : start + _IDS_PER_QUERY]),
            )
            .order_by(PropertyValue.object_id, PropertyValue.name)
        )
        for object_id, name, field_type, sensitive, text, number, day, moment, flag in rows:
            result[object_id][name] = (
                MASKED
                if sensitive and not view_sensitive
                else _json_value(field_type, text, number, day, moment, flag)
            )
    return result


def check_filterable(
    session: Session,
    account_id: int,
    object_type: str,
    filter_groups: Sequence[FilterGroup],
    sorts: Sequence[Sort] = (),
    *,
    view_sensitive: bool,
) -> None:
    """403 naming `properties.view_sensitive` when a filter or sort uses a sensitive property
    and the reader lacks that permission: which records match, and in what order, would tell
    the values the reader may not see."""
    if view_sensitive:
        return
    used = [f.property for group in filter_groups for f in group.filters]
    used += [sort.property for sort in sorts]
    names = {name.removeprefix(CUSTOM_PREFIX) for name in used}
    if not names:
        return
    sensitive = session.scalars(
        select(PropertyDefinition.name)
        .where(
            PropertyDefinition.account_id == account_id,
            PropertyDefinition.object_type == object_type,
            PropertyDefinition.sensitive.is_(True),
            PropertyDefinition.name.in_(sorted(names)),
        )
        .order_by(PropertyDefinition.name)
        .limit(1)
    ).first()
    if sensitive is not None:
        raise PermissionDenied(
            "Filtering or sorting by the sensitive property '%(sensitive)s' needs "
            "the '%(needed)s' permission",
            sensitive=sensitive,
            needed=VIEW_SENSITIVE,
        )


def _json_value(
    field_type: str,
    text: str | None,
    number: Decimal | None,
    day: date | None,
    moment: datetime | None,
    flag: bool | None,
) -> Any:
    if field_type == "number":
        exact = Decimal(text) if text is not None else number
        return None if exact is None else json_number(exact)
    if field_type == "date":
        return day.isoformat() if day else None
    if field_type == "datetime":
        return format_timestamp(moment) if moment else None
    if field_type == "boolean":
        return flag
    if field_type == "checkboxes":
        return text.split(CHECKBOX_SEPARATOR) if text else []
    return text


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with "Z", as pydantic renders the API's other timestamps."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def delete_values(session: Session, account_id: int, object_id: str) -> None:
    """Remove every custom property value of a record (call when deleting the record)."""
    session.execute(
        delete(PropertyValue).where(
            PropertyValue.account_id == account_id, PropertyValue.object_id == object_id
        )
    )
