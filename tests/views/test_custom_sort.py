"""A sort by a custom property (issue 18): `find_page` reads the sort values through a join to
the value rows instead of a lookup per record. The pages (rows and cursors), forwards and
backwards, must be exactly those of the lookup, which `find_page` still uses when given the
keys as a plain list: records with a value by (value, ID), then the rest by ID, ties and
records without a value (or with an empty value row) included, with and without filters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.kit.filters import Sort, parse_filter_groups
from cadency.kit.ids import new_id
from cadency.models import Contact, PropertyValue, Subscription
from cadency.properties import service as properties
from cadency.properties.schemas import PropertyCreate
from cadency.views.catalogs import SUBSCRIPTIONS
from cadency.views.listing import Page, SortKeys, find_page, sort_keys

TIERS = ("basic", "pro", "business")
NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
# One row per subscription: (tier, score, label, vip, renewal); None = no value row;
# "" as a tier = a value row whose value is empty (NULL). Ties on purpose.
VALUES: list[tuple[Any, ...]] = [
    ("pro", 3, "banana", True, 2),
    (None, 1, "Apple", None, None),
    ("basic", None, "apple", False, 1),
    ("pro", 3, None, True, 2),
    ("business", 2, "Cherry", None, 3),
    ("", 2, "cherry", True, None),
    ("pro", None, "Äpfel", False, 1),
    (None, 5, None, None, 4),
    ("basic", 1, "date", True, 4),
    ("pro", 3, "apple", None, None),
    ("business", None, "fig", False, 2),
]
FIELD_TYPES = {
    "tier": "select",
    "score": "number",
    "label": "text",
    "vip": "boolean",
    "renewal": "date",
}
COLUMNS = {
    "tier": "text_value",
    "score": "number_value",
    "label": "text_value",
    "vip": "bool_value",
    "renewal": "date_value",
}


def define(db: Session, account: Account) -> None:
    for name, field_type in FIELD_TYPES.items():
        body: dict[str, Any] = {"name": name, "label": name.title(), "field_type": field_type}
        if field_type == "select":
            body["options"] = [{"value": v, "label": v.title()} for v in TIERS]
        properties.create_definition(
            db, account, "subscriptions", PropertyCreate.model_validate(body), plan_limit=None
        )


def seed(db: Session, name: str, statuses: Iterator[str]) -> tuple[int, list[dict[str, Any]]]:
    """An account with a subscription per VALUES row and its values (bulk rows: the pages
    read only columns). Returns the account and, per subscription, its ID, status and values."""
    account, _ = account_service.create_account(db, name=name)
    define(db, account)
    contact_id = new_id("cont")
    db.execute(
        insert(Contact.__table__),
        [{"id": contact_id, "account_id": account.id, "email": "sorter@example.com",
          "created_at": NOW, "updated_at": NOW}],
    )  # fmt: skip
    subscriptions, values, records = [], [], []
    for i, row in enumerate(VALUES):
        sub_id, status = new_id("sub"), next(statuses)
        subscriptions.append(
            {
                "id": sub_id,
                "account_id": account.id,
                "name": f"Sub {i}",
                "status": status,
                "contact_id": contact_id,
                "currency": "USD",
                "collection_method": "send_invoice",
                "billing_frequency": "monthly",
                "billing_terms": "auto_renew",
                "start_date": NOW.date(),
                "billing_anchor": NOW.date(),
                "recurring_amount": 100,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        tier, score, label, vip, renewal = row
        record = {
            "id": sub_id,
            "status": status,
            "tier": tier or None,
            "score": None if score is None else Decimal(score),
            "label": label,
            "vip": vip,
            "renewal": None if renewal is None else date(2026, 4, 1) + timedelta(days=renewal),
        }
        records.append(record)
        for prop in FIELD_TYPES:
            if record[prop] is None and not (prop == "tier" and tier == ""):
                continue
            value: dict[str, Any] = dict.fromkeys(COLUMNS.values())
            value[COLUMNS[prop]] = record[prop]
            values.append(
                {"object_id": sub_id, "name": prop, "account_id": account.id,
                 "object_type": "subscriptions", **value}
            )  # fmt: skip
    db.execute(insert(Subscription.__table__), subscriptions)
    db.execute(insert(PropertyValue.__table__), values)
    db.flush()
    return account.id, records


@pytest.fixture
def shop(db: Session) -> tuple[int, list[dict[str, Any]]]:
    # A second account with the same properties and values: its rows must never show.
    seed(db, "Other shop", iter(["active"] * len(VALUES)))
    return seed(db, "Sorting shop", iter(["active", "paused", "canceled"] * len(VALUES)))


@pytest.fixture
def statements(db: Session) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def walk(
    db: Session, query: Any, keys: Any, descending: bool, limit: int, signature: str
) -> tuple[list[Page], list[Page]]:
    """Every page forwards from the first, then backwards from the last."""

    def page(**cursor: str | None) -> Page:
        return find_page(
            db,
            query,
            keys=keys,
            id_column=Subscription.id,
            descending=descending,
            limit=limit,
            signature=signature,
            **cursor,
        )

    forwards = [page()]
    while forwards[-1].next_cursor and len(forwards) <= len(VALUES):
        forwards.append(page(after=forwards[-1].next_cursor))
    backwards = [forwards[-1]]
    while backwards[-1].previous_cursor and len(backwards) <= len(VALUES):
        backwards.append(page(before=backwards[-1].previous_cursor))
    return forwards, backwards


def pages_of(walked: tuple[list[Page], list[Page]]) -> list[list[tuple[Any, ...]]]:
    return [
        [([s.id for s in p.rows], p.next_cursor, p.previous_cursor) for p in pages]
        for pages in walked
    ]


def expected_order(records: list[dict[str, Any]], prop: str, descending: bool) -> list[str]:
    def key(r: dict[str, Any]) -> Any:
        value = r[prop]
        if prop == "label" and value is not None:
            return (value.lower(), value)
        return value

    valued = sorted(
        (r for r in records if r[prop] is not None),
        key=lambda r: (key(r), r["id"]),
        reverse=descending,
    )
    missing = sorted(
        (r for r in records if r[prop] is None), key=lambda r: r["id"], reverse=descending
    )
    return [r["id"] for r in valued + missing]


def f(prop: str, operator: str, **rest: Any) -> dict[str, Any]:
    return {"property": prop, "operator": operator, **rest}


FILTERS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    "tier is pro": [{"filters": [f("properties.tier", "eq", value="pro")]}],
    "tier is pro and active": [
        {"filters": [f("status", "eq", value="active"), f("properties.tier", "eq", value="pro")]}
    ],
    "tier in basic, business": [
        {"filters": [f("properties.tier", "in", values=["basic", "business"])]}
    ],
    "tier is not pro": [{"filters": [f("properties.tier", "neq", value="pro")]}],
    "has a tier": [{"filters": [f("properties.tier", "has_property")]}],
    "no tier": [{"filters": [f("properties.tier", "not_has_property")]}],
    "tier pro or paused": [
        {"filters": [f("properties.tier", "eq", value="pro")]},
        {"filters": [f("status", "eq", value="paused")]},
    ],
    "score at least 2": [{"filters": [f("properties.score", "gte", value="2")]}],
    "vip": [{"filters": [f("properties.vip", "eq", value=True)]}],
}


def check_same_pages(
    db: Session,
    account_id: int,
    statements: list[str],
    prop: str,
    direction: str,
    limit: int,
    groups: list[dict[str, Any]],
) -> list[str]:
    """The joined pages equal the lookup's; returns the records in page order and leaves the
    statements of the joined pages in `statements`."""
    keys = sort_keys(
        Sort(property=f"properties.{prop}", direction=direction),
        SUBSCRIPTIONS.sort_spec,
        FIELD_TYPES,
    )
    assert isinstance(keys, SortKeys) and keys.custom is not None
    condition = SUBSCRIPTIONS.compile_filters(db, account_id, parse_filter_groups(groups))
    query = select(Subscription).where(condition)
    descending, signature = direction == "desc", f"properties.{prop}:{direction}"

    statements.clear()
    joined = walk(db, query, keys, descending, limit, signature)
    assert any("JOIN property_values" in s for s in statements)
    joined_statements = list(statements)
    looked_up = walk(db, query, list(keys), descending, limit, signature)
    assert pages_of(joined) == pages_of(looked_up)

    forwards, backwards = joined
    assert forwards[0].previous_cursor is None and backwards[-1].previous_cursor is None
    assert all(len(p.rows) == limit for p in forwards[:-1])
    statements[:] = joined_statements
    return [s.id for p in forwards for s in p.rows]


@pytest.mark.parametrize("prop", sorted(FIELD_TYPES))
@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 3, 25])
def test_a_sort_by_each_kind_of_property_pages_as_the_lookup_does(
    db: Session,
    shop: tuple[int, list[dict[str, Any]]],
    statements: list[str],
    prop: str,
    direction: str,
    limit: int,
) -> None:
    account_id, records = shop
    seen = check_same_pages(db, account_id, statements, prop, direction, limit, [])
    assert seen == expected_order(records, prop, direction == "desc")


@pytest.mark.parametrize("name", sorted(FILTERS))
@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 2, 25])
def test_a_filtered_sort_by_tier_pages_as_the_lookup_does(
    db: Session,
    shop: tuple[int, list[dict[str, Any]]],
    statements: list[str],
    name: str,
    direction: str,
    limit: int,
) -> None:
    account_id, records = shop
    seen = check_same_pages(db, account_id, statements, "tier", direction, limit, FILTERS[name])
    matching = {
        "none": lambda r: True,
        "tier is pro": lambda r: r["tier"] == "pro",
        "tier is pro and active": lambda r: r["tier"] == "pro" and r["status"] == "active",
        "tier in basic, business": lambda r: r["tier"] in ("basic", "business"),
        "tier is not pro": lambda r: r["tier"] != "pro",
        "has a tier": lambda r: r["tier"] is not None,
        "no tier": lambda r: r["tier"] is None,
        "tier pro or paused": lambda r: r["tier"] == "pro" or r["status"] == "paused",
        "score at least 2": lambda r: r["score"] is not None and r["score"] >= 2,
        "vip": lambda r: r["vip"] is True,
    }[name]
    wanted = [r for r in records if matching(r)]
    assert wanted, "every filter matches some records"
    assert seen == expected_order(wanted, "tier", direction == "desc")


def test_a_positive_condition_on_the_sort_property_becomes_the_join(
    db: Session, shop: tuple[int, list[dict[str, Any]]], statements: list[str]
) -> None:
    """tier = pro sorted by tier: the matching value rows are joined (no separate list of
    their IDs), and no query looks for records without a tier, as none can match."""
    account_id, records = shop
    seen = check_same_pages(db, account_id, statements, "tier", "asc", 2, FILTERS["tier is pro"])
    assert seen == sorted(r["id"] for r in records if r["tier"] == "pro")
    assert statements and all("JOIN property_values" in s for s in statements)
    assert not any(" IN (SELECT" in s or "IS NULL" in s for s in statements)


def test_a_search_box_sorts_its_few_matches_by_lookup(
    db: Session, shop: tuple[int, list[dict[str, Any]]], statements: list[str]
) -> None:
    account_id, records = shop
    keys = sort_keys(
        Sort(property="properties.tier", direction="asc"), SUBSCRIPTIONS.sort_spec, FIELD_TYPES
    )
    query = select(Subscription).where(Subscription.account_id == account_id)
    statements.clear()
    page = find_page(
        db, query, keys=keys, id_column=Subscription.id, descending=False, limit=25, few=True
    )
    assert [s.id for s in page.rows] == expected_order(records, "tier", False)
    assert not any("JOIN property_values" in s for s in statements)
