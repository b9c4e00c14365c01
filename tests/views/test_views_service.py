"""Saved views: what they keep, how they are checked, and who sees and changes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.models import Account, User
from cadency.kit.errors import InvalidRequest, NotFound, PermissionDenied
from cadency.kit.filters import parse_filter_groups
from cadency.properties import service as properties
from cadency.properties.schemas import PropertyCreate
from cadency.views import service
from cadency.views.models import SavedView
from cadency.views.schemas import ViewCreate, ViewUpdate

ACTIVE_PRO = [
    {
        "filters": [
            {"property": "status", "operator": "in", "values": ["active", "unpaid"]},
            {"property": "properties.tier", "operator": "eq", "value": "pro"},
        ]
    }
]


@dataclass
class Shop:
    account: Account
    owner: User  # may only see subscriptions
    colleague: User  # may only see subscriptions
    admin: User  # super admin


def _user(db: Session, account: Account, email: str, permissions: list[str]) -> User:
    # Views never look at passwords; a user row without one keeps these tests quick (hashing
    # a password is deliberately slow).
    user = User(
        account_id=account.id,
        email=email,
        password_hash="!",
        permissions=permissions,
        created_at=datetime.now(UTC),
    )
    db.add(user)
    db.flush()
    return user


def _shop(db: Session, name: str) -> Shop:
    account, _ = account_service.create_account(db, name=name)
    properties.create_definition(
        db,
        account,
        "subscriptions",
        PropertyCreate.model_validate(
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}],
            }
        ),
        plan_limit=None,  # not enrolled in a plan
    )
    return Shop(
        account=account,
        owner=_user(db, account, "owner@example.com", ["subscriptions.view"]),
        colleague=_user(db, account, "colleague@example.com", ["subscriptions.view"]),
        admin=_user(db, account, "admin@example.com", ["super_admin"]),
    )


@pytest.fixture
def shop(db: Session) -> Shop:
    return _shop(db, "Views shop")


def view(db: Session, shop: Shop, user: User | None = None, **fields: Any) -> SavedView:
    body: dict[str, Any] = {"name": "Active pro", "filter_groups": ACTIVE_PRO, **fields}
    return service.create_view(
        db, shop.account, user or shop.owner, ViewCreate.model_validate(body)
    )


def error_of(call: Any, kind: type[Exception] = InvalidRequest) -> Any:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


# --- what a view keeps -------------------------------------------------------------------------


def test_a_view_keeps_filters_columns_sort_and_search(db: Session, shop: Shop) -> None:
    saved = view(
        db,
        shop,
        name="  Active   pro  ",
        columns=["status", "properties.tier", "name", "amount"],
        sort_property="properties.tier",
        sort_direction="asc",
        query="  coffee ",
        shared=True,
    )
    db.expire_all()
    row = db.get(SavedView, saved.id)
    assert row is not None
    assert row.id.startswith("view_")
    assert (row.account_id, row.owner_user_id, row.object_type) == (
        shop.account.id,
        shop.owner.id,
        "subscriptions",
    )
    assert row.name == "Active pro"
    assert row.filter_groups == ACTIVE_PRO
    # The record's name always comes first; the rest keep the order given.
    assert row.columns == ["name", "status", "properties.tier", "amount"]
    assert (row.sort_property, row.sort_direction, row.query, row.shared) == (
        "properties.tier",
        "asc",
        "coffee",
        True,
    )
    # What it keeps is the filter language itself: it parses back unchanged.
    assert [g.model_dump(exclude_none=True) for g in parse_filter_groups(row.filter_groups)] == (
        ACTIVE_PRO
    )


def test_no_columns_means_the_default_columns(db: Session, shop: Shop) -> None:
    saved = view(db, shop)
    assert saved.columns == [
        "name",
        "status",
        "contact",
        "next_payment_date",
        "amount",
        "billing_frequency",
        "created_at",
    ]
    assert saved.sort_property is None
    assert saved.query is None


# --- checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_a_view_needs_a_name(db: Session, shop: Shop, name: str) -> None:
    error = error_of(lambda: view(db, shop, name=name))
    assert (error.message, error.param) == ("Give the view a name.", "name")


def test_a_name_is_at_most_100_characters(db: Session, shop: Shop) -> None:
    error = error_of(lambda: view(db, shop, name="x" * 101))
    assert error.param == "name"
    assert "at most 100 characters" in error.message


def test_unknown_or_repeated_columns_are_refused(db: Session, shop: Shop) -> None:
    error = error_of(lambda: view(db, shop, columns=["name", "colour"]))
    assert (error.message, error.param) == ("Unknown column: 'colour'", "columns.1")
    error = error_of(lambda: view(db, shop, columns=["properties.size"]))
    assert (error.message, error.param) == ("Unknown column: 'properties.size'", "columns.0")
    error = error_of(lambda: view(db, shop, columns=["status", "status"]))
    assert error.param == "columns.1"
    assert "twice" in error.message


def test_filters_are_checked_against_the_accounts_properties(db: Session, shop: Shop) -> None:
    unknown = [{"filters": [{"property": "size", "operator": "eq", "value": "xl"}]}]
    error = error_of(lambda: view(db, shop, filter_groups=unknown))
    assert (error.message, error.param) == (
        "Unknown property: 'size'",
        "filter_groups.0.filters.0.property",
    )
    bad_option = [{"filters": [{"property": "properties.tier", "operator": "eq", "value": "gold"}]}]
    error = error_of(lambda: view(db, shop, filter_groups=bad_option))
    assert error.param == "filter_groups.0.filters.0.value"
    assert "'gold' is not one of the options" in error.message
    bad_date = [{"filters": [{"property": "next_payment_date", "operator": "lt", "value": "soon"}]}]
    error = error_of(lambda: view(db, shop, filter_groups=bad_date))
    assert error.message.startswith("Invalid value for 'next_payment_date'")
    # Another account's custom property is unknown here.
    other = _shop(db, "Other shop")
    properties.create_definition(
        db,
        other.account,
        "subscriptions",
        PropertyCreate.model_validate({"name": "region", "label": "Region", "field_type": "text"}),
        plan_limit=None,
    )
    theirs = [{"filters": [{"property": "properties.region", "operator": "has_property"}]}]
    error = error_of(lambda: view(db, shop, filter_groups=theirs))
    assert error.message == "Unknown property: 'properties.region'"
    saved = select(SavedView).where(SavedView.account_id == shop.account.id)
    assert db.scalars(saved).all() == []


def test_an_unknown_sort_property_is_refused(db: Session, shop: Shop) -> None:
    error = error_of(lambda: view(db, shop, sort_property="colour"))
    assert (error.message, error.param) == ("Unknown property: 'colour'", "sort_property")
    error = error_of(lambda: view(db, shop, sort_property="associations.company"))
    assert "Cannot sort by association" in error.message


# --- who sees and changes what -----------------------------------------------------------------


def names(views: list[SavedView]) -> list[str]:
    return [v.name for v in views]


def test_private_views_are_their_owners_and_shared_ones_everyones(db: Session, shop: Shop) -> None:
    mine = view(db, shop, name="Mine")
    ours = view(db, shop, name="Ours", shared=True)
    theirs = view(db, shop, shop.colleague, name="Colleague's own")
    assert names(service.visible_views(db, shop.owner, "subscriptions")) == ["Mine", "Ours"]
    assert names(service.visible_views(db, shop.colleague, "subscriptions")) == [
        "Ours",
        "Colleague's own",
    ]
    # Not even a super admin sees another user's private view.
    assert names(service.visible_views(db, shop.admin, "subscriptions")) == ["Ours"]
    assert service.get_view(db, shop.colleague, ours.id) is ours
    error_of(lambda: service.get_view(db, shop.colleague, mine.id), NotFound)
    error_of(lambda: service.get_view(db, shop.admin, theirs.id), NotFound)


def test_views_never_cross_accounts(db: Session, shop: Shop) -> None:
    shared = view(db, shop, name="Ours", shared=True)
    other = _shop(db, "Another shop")
    assert service.visible_views(db, other.admin, "subscriptions") == []
    assert service.visible_views(db, other.owner, "subscriptions") == []
    error = error_of(lambda: service.get_view(db, other.admin, shared.id), NotFound)
    assert error.message == f"No such view: '{shared.id}'"
    rename = ViewUpdate(name="Taken over")
    error_of(
        lambda: service.update_view(db, other.account, other.admin, shared.id, rename), NotFound
    )
    error_of(lambda: service.delete_view(db, other.admin, shared.id), NotFound)
    db.expire_all()
    assert db.get(SavedView, shared.id) is not None
    assert db.get(SavedView, shared.id).name == "Ours"  # type: ignore[union-attr]


def test_shared_views_change_by_their_owner_or_a_super_admin(db: Session, shop: Shop) -> None:
    shared = view(db, shop, name="Ours", shared=True)
    refused = error_of(
        lambda: service.update_view(
            db, shop.account, shop.colleague, shared.id, ViewUpdate(name="Mine now")
        ),
        PermissionDenied,
    )
    assert "owner" in refused.message
    error_of(lambda: service.delete_view(db, shop.colleague, shared.id), PermissionDenied)
    assert shared.name == "Ours"

    service.update_view(db, shop.account, shop.admin, shared.id, ViewUpdate(name="Team view"))
    assert shared.name == "Team view"
    service.update_view(db, shop.account, shop.owner, shared.id, ViewUpdate(shared=False))
    assert shared.shared is False
    # Private again: the super admin no longer sees it, let alone deletes it.
    error_of(lambda: service.delete_view(db, shop.admin, shared.id), NotFound)
    service.delete_view(db, shop.owner, shared.id)
    assert db.get(SavedView, shared.id) is None


def test_an_update_changes_only_what_it_names(db: Session, shop: Shop) -> None:
    saved = view(db, shop, columns=["name", "status"], sort_property="name", query="coffee")
    service.update_view(db, shop.account, shop.owner, saved.id, ViewUpdate(name="Renamed"))
    assert (saved.name, saved.filter_groups, saved.columns, saved.sort_property, saved.query) == (
        "Renamed",
        ACTIVE_PRO,
        ["name", "status"],
        "name",
        "coffee",
    )
    service.update_view(
        db,
        shop.account,
        shop.owner,
        saved.id,
        ViewUpdate(filter_groups=[], columns=["amount"], sort_property=None, query=None),
    )
    assert (saved.filter_groups, saved.columns, saved.sort_property, saved.query) == (
        [],
        ["name", "amount"],
        None,
        None,
    )
    error = error_of(
        lambda: service.update_view(db, shop.account, shop.owner, saved.id, ViewUpdate(name=" "))
    )
    assert error.message == "Give the view a name."
    assert saved.name == "Renamed"


def test_views_need_the_index_permission(db: Session, shop: Shop) -> None:
    saved = view(db, shop, shared=True)
    clerk = _user(db, shop.account, "clerk@example.com", ["billing.edit"])
    for call in (
        lambda: service.visible_views(db, clerk, "subscriptions"),
        lambda: service.get_view(db, clerk, saved.id),
        lambda: view(db, shop, clerk),
    ):
        error = error_of(call, PermissionDenied)
        assert error.message == "You need the 'subscriptions.view' permission for this."
