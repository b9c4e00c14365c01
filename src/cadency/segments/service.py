"""Segments (SPEC §8): a name and filters in the one filter language over subscriptions,
contacts or companies. Members are never stored: they are whoever matches the filters when the
segment is read, so a segment is always up to date (and costs a query per read).

Filters are checked when a segment is saved (an unknown property, operator or value is refused
naming it) and again when it is read, because a custom property may have been deleted since.
Segments belong to one account; another account's segment is simply not found. Who may read
or change them is decided by the endpoints and pages (the catalog's view permission to read,
`subscriptions.edit` as well to change), as for every other record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.kit import clock
from cadency.kit.errors import InvalidRequest, not_found
from cadency.kit.filters import FilterGroup, Sort, count_statement, parse_filter_groups
from cadency.kit.i18n import N_
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.properties import service as property_service
from cadency.segments.models import Segment
from cadency.segments.schemas import MAX_NAME, SegmentCreate, SegmentUpdate
from cadency.subscriptions.models import Subscription
from cadency.views.catalogs import Catalog, catalog_for
from cadency.views.listing import Page, find_page, sort_keys

EDIT_PERMISSION = "subscriptions.edit"


def catalog_of(object_type: str) -> Catalog:
    """The catalog (properties, columns, filters) of a segment's object type."""
    catalog = catalog_for(object_type)
    if catalog is None:
        raise InvalidRequest(
            "Segments are made of subscriptions, contacts or companies, not '%(object_type)s'",
            object_type=object_type,
            param="object_type",
        )
    return catalog


def checked_name(name: str) -> str:
    """The name with its spaces tidied; a blank or too long name is refused naming `name`."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidRequest(N_("Give the segment a name."), param="name")
    if len(cleaned) > MAX_NAME:
        raise InvalidRequest(
            "A segment name is at most %(max_name)s characters long.",
            max_name=MAX_NAME,
            param="name",
        )
    return cleaned


def checked_filters(
    session: Session,
    account_id: int,
    catalog: Catalog,
    groups: Sequence[FilterGroup],
    *,
    view_sensitive: bool,
) -> list[dict[str, Any]]:
    """The filters as stored, after compiling them once: every property, operator and value is
    checked against the account's properties. Without `view_sensitive`, a filter on a
    sensitive property is refused (who matches would tell its values)."""
    property_service.check_filterable(
        session, account_id, catalog.object_type, groups, view_sensitive=view_sensitive
    )
    catalog.compile_filters(session, account_id, list(groups))
    return [g.model_dump(exclude_none=True) for g in groups]


def create_segment(
    session: Session,
    account: Account,
    data: SegmentCreate,
    *,
    user_id: int | None = None,
    view_sensitive: bool = False,
) -> Segment:
    """Save a segment of the account (made by `user_id`, if a person made it)."""
    catalog = catalog_of(data.object_type)
    now = clock.account_now(account)
    segment = Segment(
        id=new_id("seg"),
        account_id=account.id,
        object_type=catalog.object_type,
        name=checked_name(data.name),
        filter_groups=checked_filters(
            session, account.id, catalog, data.filter_groups, view_sensitive=view_sensitive
        ),
        created_by_user_id=user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(segment)
    session.flush()
    return segment


def get_segment(session: Session, account_id: int, segment_id: str) -> Segment:
    """A segment of the account; another account's (or none) is not found."""
    segment = session.get(Segment, segment_id)
    if segment is None or segment.account_id != account_id:
        raise not_found("segment", segment_id)
    return segment


def list_segments(
    session: Session,
    account: Account,
    *,
    object_type: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Segment], bool, str | None]:
    """The account's segments, newest first, one page at a time."""
    query = select(Segment).where(Segment.account_id == account.id)
    if object_type is not None:
        query = query.where(Segment.object_type == catalog_of(object_type).object_type)
    return paginate(session, query, Segment.id, limit=limit, cursor=cursor)


def all_segments(session: Session, account_id: int) -> list[Segment]:
    """Every segment of the account, by name (the Segments page)."""
    return list(
        session.scalars(
            select(Segment)
            .where(Segment.account_id == account_id)
            .order_by(func.lower(Segment.name), Segment.id)
        )
    )


def update_segment(
    session: Session,
    account: Account,
    segment_id: str,
    data: SegmentUpdate,
    *,
    view_sensitive: bool = False,
) -> Segment:
    """Rename a segment or replace its filters; fields left out of `data` stay as they are."""
    segment = get_segment(session, account.id, segment_id)
    given = data.model_fields_set
    if "name" in given:
        segment.name = checked_name(data.name or "")
    if "filter_groups" in given:
        segment.filter_groups = checked_filters(
            session,
            account.id,
            catalog_of(segment.object_type),
            data.filter_groups or [],
            view_sensitive=view_sensitive,
        )
    segment.updated_at = clock.account_now(account)
    session.flush()
    return segment


def delete_segment(session: Session, account_id: int, segment_id: str) -> Segment:
    """Delete a segment (its members are untouched: they are only found through it)."""
    segment = get_segment(session, account_id, segment_id)
    session.delete(segment)
    session.flush()
    return segment


def filter_groups_of(segment: Segment) -> list[FilterGroup]:
    """A stored segment's filters, parsed again."""
    return parse_filter_groups(segment.filter_groups or [])


def member_condition(session: Session, segment: Segment) -> ColumnElement[bool]:
    """Who is a member now: the segment's filters over its object, within its account."""
    catalog = catalog_of(segment.object_type)
    return catalog.compile_filters(session, segment.account_id, filter_groups_of(segment))


def count_matching(session: Session, catalog: Catalog, condition: ColumnElement[bool]) -> int:
    """How many of the catalog's records meet a compiled filter condition."""
    dialect = session.get_bind().dialect.name
    return int(session.scalar(count_statement(catalog.model.id, condition, dialect)) or 0)


def member_count(session: Session, segment: Segment) -> int:
    """How many records match the segment's filters now."""
    catalog = catalog_of(segment.object_type)
    return count_matching(session, catalog, member_condition(session, segment))


def _members_query(segment: Segment, condition: ColumnElement[bool]) -> Select[Any]:
    model = catalog_of(segment.object_type).model
    query = select(model).where(condition)
    if model is Subscription:
        # The API shows a subscription with its line items; load them in one more query.
        query = query.options(selectinload(Subscription.line_items))
    return query


def members(
    session: Session, segment: Segment, *, limit: int, cursor: str | None
) -> tuple[Sequence[Any], bool, str | None]:
    """One page of the segment's members, newest first, as the API lists records."""
    model = catalog_of(segment.object_type).model
    query = _members_query(segment, member_condition(session, segment))
    return paginate(session, query, model.id, limit=limit, cursor=cursor)


def member_page(
    session: Session,
    segment: Segment,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> Page:
    """One page of the segment's members in the index's default order (the Segments page)."""
    catalog = catalog_of(segment.object_type)
    sort, direction = catalog.default_sort
    custom = {d.name: d.field_type for d in catalog.custom_definitions(session, segment.account_id)}
    keys = sort_keys(Sort(property=sort, direction=direction), catalog.sort_spec, custom)
    return find_page(
        session,
        _members_query(segment, member_condition(session, segment)),
        keys=keys,
        id_column=catalog.model.id,
        descending=direction == "desc",
        limit=limit,
        after=after,
        before=before,
        signature=f"{sort}:{direction}",
    )
