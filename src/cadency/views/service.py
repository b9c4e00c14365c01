"""Saved views of index pages: a name, the filters (the one filter language), the columns in
their order, the sort and the search text. A view is private to the user who made it, or
shared with every user of the account; nothing is ever seen across accounts.

Who may do what: seeing and saving views needs the index's own permission (for subscriptions
`subscriptions.view`); a private view is seen and changed only by its owner; a shared view is
seen by everyone and changed or deleted by its owner or a super admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cadency.accounts.models import SUPER_ADMIN, Account, User, grants
from cadency.kit import clock
from cadency.kit.errors import InvalidRequest, PermissionDenied, not_found
from cadency.kit.filters import FilterGroup, Sort, parse_filter_groups
from cadency.kit.i18n import N_
from cadency.kit.ids import new_id
from cadency.views.catalogs import CUSTOM_PREFIX, Catalog, catalog_for
from cadency.views.listing import sort_keys
from cadency.views.models import SavedView
from cadency.views.schemas import MAX_NAME, ViewCreate, ViewUpdate


def _allows(user: User, permission: str) -> bool:
    return grants(user.permissions, permission)


def _catalog(object_type: str) -> Catalog:
    catalog = catalog_for(object_type)
    if catalog is None:
        raise InvalidRequest(
            "No index page for '%(object_type)s'", object_type=object_type, param="object_type"
        )
    return catalog


def _require_index(user: User, catalog: Catalog) -> None:
    if not _allows(user, catalog.permission):
        raise PermissionDenied(
            "You need the '%(permission)s' permission for this.", permission=catalog.permission
        )


def may_change(user: User, view: SavedView) -> bool:
    """The owner changes their views; a super admin also changes shared ones."""
    return view.owner_user_id == user.id or (view.shared and _allows(user, SUPER_ADMIN))


def visible_views(session: Session, user: User, object_type: str) -> list[SavedView]:
    """The user's own views and every shared view of the user's account, oldest first."""
    _require_index(user, _catalog(object_type))
    return list(
        session.scalars(
            select(SavedView)
            .where(
                SavedView.account_id == user.account_id,
                SavedView.object_type == object_type,
                or_(SavedView.owner_user_id == user.id, SavedView.shared.is_(True)),
            )
            .order_by(SavedView.created_at, SavedView.id)
        )
    )


def get_view(session: Session, user: User, view_id: str) -> SavedView:
    """A view the user may see; another user's private view, or another account's, is simply
    not found."""
    view = session.get(SavedView, view_id)
    if (
        view is None
        or view.account_id != user.account_id
        or not (view.shared or view.owner_user_id == user.id)
    ):
        raise not_found("view", view_id)
    _require_index(user, _catalog(view.object_type))
    return view


def _changeable(session: Session, user: User, view_id: str) -> SavedView:
    view = get_view(session, user, view_id)
    if not may_change(user, view):
        raise PermissionDenied(
            N_("Only the owner of a shared view or a super admin can change it.")
        )
    return view


def _checked_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidRequest(N_("Give the view a name."), param="name")
    if len(cleaned) > MAX_NAME:
        raise InvalidRequest(
            "A view name is at most %(max_name)s characters long.", max_name=MAX_NAME, param="name"
        )
    return cleaned


def checked_columns(
    session: Session, account_id: int, catalog: Catalog, columns: Sequence[str]
) -> list[str]:
    """The columns in the order given, each known (built-in, or a custom property of the
    account), each once; the record's name always comes first. Empty means the default."""
    if not columns:
        return list(catalog.default_columns)
    custom = {CUSTOM_PREFIX + d.name for d in catalog.custom_definitions(session, account_id)}
    seen: list[str] = []
    for i, key in enumerate(columns):
        if key not in catalog.columns and key not in custom:
            raise InvalidRequest("Unknown column: '%(key)s'", key=key, param=f"columns.{i}")
        if key in seen:
            raise InvalidRequest(
                "The column '%(key)s' is chosen twice", key=key, param=f"columns.{i}"
            )
        seen.append(key)
    primary = catalog.primary_column
    return [primary, *(key for key in seen if key != primary)]


def _checked_filters(
    session: Session, account_id: int, catalog: Catalog, groups: Sequence[FilterGroup]
) -> list[dict[str, Any]]:
    # Compiling checks every property, operator and value against the account's properties.
    catalog.compile_filters(session, account_id, list(groups))
    return [g.model_dump(exclude_none=True) for g in groups]


def _checked_sort(
    session: Session, account_id: int, catalog: Catalog, prop: str | None, direction: str
) -> str | None:
    if prop is None:
        return None
    custom = {d.name: d.field_type for d in catalog.custom_definitions(session, account_id)}
    sort_keys(
        Sort(property=prop, direction=direction), catalog.sort_spec, custom, param="sort_property"
    )
    return prop


def _checked_query(query: str | None) -> str | None:
    cleaned = (query or "").strip()
    return cleaned or None


def create_view(session: Session, account: Account, user: User, data: ViewCreate) -> SavedView:
    """Save a view for the user (private) or for everyone in the account (`shared`)."""
    catalog = _catalog(data.object_type)
    _require_index(user, catalog)
    now = clock.account_now(account)
    view = SavedView(
        id=new_id("view"),
        account_id=account.id,
        object_type=catalog.object_type,
        owner_user_id=user.id,
        shared=data.shared,
        name=_checked_name(data.name),
        filter_groups=_checked_filters(session, account.id, catalog, data.filter_groups),
        columns=checked_columns(session, account.id, catalog, data.columns),
        sort_property=_checked_sort(
            session, account.id, catalog, data.sort_property, data.sort_direction
        ),
        sort_direction=data.sort_direction,
        query=_checked_query(data.query),
        created_at=now,
        updated_at=now,
    )
    session.add(view)
    session.flush()
    return view


def update_view(
    session: Session, account: Account, user: User, view_id: str, data: ViewUpdate
) -> SavedView:
    """Rename, share or unshare a view, or replace what it shows; fields left out of `data`
    stay as they are."""
    view = _changeable(session, user, view_id)
    catalog = _catalog(view.object_type)
    given = data.model_fields_set
    if "name" in given:
        view.name = _checked_name(data.name or "")
    if "shared" in given and data.shared is not None:
        view.shared = data.shared
    if "filter_groups" in given:
        view.filter_groups = _checked_filters(
            session, account.id, catalog, data.filter_groups or []
        )
    if "columns" in given:
        view.columns = checked_columns(session, account.id, catalog, data.columns or [])
    if "sort_direction" in given and data.sort_direction is not None:
        view.sort_direction = data.sort_direction
    if "sort_property" in given:
        view.sort_property = _checked_sort(
            session, account.id, catalog, data.sort_property, view.sort_direction
        )
    if "query" in given:
        view.query = _checked_query(data.query)
    view.updated_at = clock.account_now(account)
    session.flush()
    return view


def delete_view(session: Session, user: User, view_id: str) -> SavedView:
    """Delete a view; returns it (gone from the database after the flush)."""
    view = _changeable(session, user, view_id)
    session.delete(view)
    session.flush()
    return view


def view_filter_groups(view: SavedView) -> list[FilterGroup]:
    """A stored view's filters, checked again (a property may have been deleted since)."""
    return parse_filter_groups(view.filter_groups or [])
