"""Keyset pagination of index pages: every record exactly once, in one total order (records
without a sort value last), forwards and backwards, whatever the sort."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.kit.errors import InvalidRequest
from cadency.kit.filters import Sort
from cadency.kit.ids import new_id
from cadency.models import Contact, Subscription
from cadency.views.catalogs import SUBSCRIPTIONS
from cadency.views.listing import count_capped, cursor_after, find_page, sort_keys

DAY = date(2026, 3, 1)
# (name, next payment date offset or None, amount in cents): ties, NULLs and mixed case.
ROWS = [
    ("banana", 3, 500),
    ("Apple", None, 1500),
    ("cherry", 1, 500),
    ("apple", 3, None),
    ("Date", None, 2500),
    ("elder", 1, 500),
    ("fig", 2, 1500),
]


@pytest.fixture
def shop(db: Session) -> tuple[int, list[dict[str, Any]]]:
    """An account with ROWS as subscriptions (bulk rows: the pagination reads only columns)."""
    account, _ = account_service.create_account(db, name="Paging shop")
    now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    contact_id = new_id("cont")
    db.execute(
        insert(Contact.__table__),
        [
            {
                "id": contact_id,
                "account_id": account.id,
                "email": "pager@example.com",
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    rows = []
    for i, (name, offset, amount) in enumerate(ROWS):
        rows.append(
            {
                "id": new_id("sub"),
                "account_id": account.id,
                "name": name,
                "status": "active",
                "contact_id": contact_id,
                "currency": "USD",
                "collection_method": "send_invoice",
                "billing_frequency": "monthly",
                "billing_terms": "auto_renew",
                "start_date": DAY,
                "billing_anchor": DAY,
                "next_payment_date": None if offset is None else DAY + timedelta(days=offset),
                "recurring_amount": amount or 0,
                "last_payment_amount": amount,
                "created_at": now + timedelta(minutes=i % 3),  # ties on purpose
                "updated_at": now,
            }
        )
    db.execute(insert(Subscription.__table__), rows)
    db.flush()
    return account.id, rows


def expected_order(rows: list[dict[str, Any]], key: Any, descending: bool) -> list[str]:
    """Records with a value by (value, ID) in the direction, then the rest by ID."""
    valued = sorted(
        (r for r in rows if key(r) is not None),
        key=lambda r: (key(r), r["id"]),
        reverse=descending,
    )
    missing = sorted((r for r in rows if key(r) is None), key=lambda r: r["id"], reverse=descending)
    return [r["id"] for r in valued + missing]


SORTS = {
    "next_payment_date": lambda r: r["next_payment_date"],
    "name": lambda r: (r["name"].lower(), r["name"]),
    "last_payment_amount": lambda r: r["last_payment_amount"],
    "created_at": lambda r: r["created_at"],
}


@pytest.mark.parametrize("prop", sorted(SORTS))
@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_pages_cover_every_record_once_forwards_and_backwards(
    db: Session, shop: tuple[int, list[dict[str, Any]]], prop: str, direction: str, limit: int
) -> None:
    account_id, rows = shop
    keys = sort_keys(Sort(property=prop, direction=direction), SUBSCRIPTIONS.sort_spec, {})
    query = select(Subscription).where(Subscription.account_id == account_id)
    signature = f"{prop}:{direction}"

    def page(**cursor: str | None) -> Any:
        return find_page(
            db,
            query,
            keys=keys,
            id_column=Subscription.id,
            descending=direction == "desc",
            limit=limit,
            signature=signature,
            **cursor,
        )

    pages = [page()]
    assert pages[0].previous_cursor is None
    while pages[-1].next_cursor:
        pages.append(page(after=pages[-1].next_cursor))
    seen = [s.id for p in pages for s in p.rows]
    assert seen == expected_order(rows, SORTS[prop], direction == "desc")
    assert all(len(p.rows) == limit for p in pages[:-1])

    # Back from the last page, page by page, to the first: the same pages in reverse.
    back = [pages[-1]]
    while back[-1].previous_cursor:
        back.append(page(before=back[-1].previous_cursor))
    assert [[s.id for s in p.rows] for p in reversed(back)][1:] == [
        [s.id for s in p.rows] for p in pages
    ][1:]
    assert back[-1].previous_cursor is None


def test_a_cursor_of_another_sort_starts_again_and_a_forged_one_is_refused(
    db: Session, shop: tuple[int, list[dict[str, Any]]]
) -> None:
    account_id, rows = shop
    keys = sort_keys(Sort(property="name", direction="asc"), SUBSCRIPTIONS.sort_spec, {})
    query = select(Subscription).where(Subscription.account_id == account_id)
    stale = cursor_after("created_at:desc", ["x"], rows[0]["id"])
    first = find_page(
        db,
        query,
        keys=keys,
        id_column=Subscription.id,
        descending=False,
        limit=2,
        signature="name:asc",
        after=stale,
    )
    assert [s.name for s in first.rows] == ["Apple", "apple"]
    assert first.previous_cursor is None
    for forged in (
        "not-a-cursor",
        "eyJzIjoibmFtZTphc2MiLCJ6IjpmYWxzZSwiayI6WyJhIl0sImkiOiJ4In0",  # one key, not two
        "eyJzIjoibmFtZTphc2MiLCJ6IjpmYWxzZSwiayI6W3siYiI6MX0sImEiXSwiaSI6IngifQ",  # odd value
        "eyJzIjoibmFtZTphc2MiLCJ6Ijoibm8iLCJrIjpbImEiLCJhIl0sImkiOiJ4In0",  # odd part
    ):
        with pytest.raises(InvalidRequest) as caught:
            find_page(
                db,
                query,
                keys=keys,
                id_column=Subscription.id,
                descending=False,
                limit=2,
                signature="name:asc",
                after=forged,
            )
        assert caught.value.message == "The page link is not valid."


def test_the_count_stops_at_its_cap(db: Session, shop: tuple[int, list[dict[str, Any]]]) -> None:
    account_id, _ = shop
    condition = Subscription.account_id == account_id
    assert count_capped(db, condition, Subscription.id, cap=10) == (7, False)
    assert count_capped(db, condition, Subscription.id, cap=7) == (7, False)
    assert count_capped(db, condition, Subscription.id, cap=5) == (5, True)
