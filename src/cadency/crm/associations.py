"""Associations (SPEC §3): typed, labelled links between two records — a subscription and a
contact, company, deal or quote. A link is one row, stored in either direction; it is read from
both ends, so a deal converted into a subscription ("converted_from", written by the conversion)
and a deal associated by hand look the same. Services never commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, union
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.crm.models import Association, Company, Contact, Deal, Quote
from cadency.kit import clock
from cadency.kit import labels as kit_labels
from cadency.kit.errors import Conflict, InvalidRequest, NotFound
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned, get_referenced
from cadency.kit.text_search import contains_text
from cadency.subscriptions.models import Subscription

# The record types a link can join, by the type names association rows carry.
RECORD_TYPES: dict[str, Any] = {
    "contact": Contact,
    "company": Company,
    "deal": Deal,
    "quote": Quote,
    "subscription": Subscription,
}
# What a subscription can be associated with by hand (its panel's sections).
ASSOCIABLE_TYPES = ("contact", "company", "deal", "quote")
DEFAULT_LABEL = "associated"


@dataclass(frozen=True)
class LinkedRecord:
    """The other end of a link, as a panel lists it."""

    object_type: str
    id: str
    name: str
    label: str


def record_name(record: Any) -> str:
    """What a record is called on a page: a contact's name (or email), any other's name."""
    if isinstance(record, Contact):
        return record.display_name
    return str(record.name)


def _model(object_type: str, param: str) -> Any:
    model = RECORD_TYPES.get(object_type)
    if model is None:
        raise InvalidRequest(
            "Unknown record type: '%(object_type)s'", object_type=object_type, param=param
        )
    return model


def _between(account_id: int, a: str, b: str) -> ColumnElement[bool]:
    return and_(
        Association.account_id == account_id,
        or_(
            and_(Association.from_id == a, Association.to_id == b),
            and_(Association.from_id == b, Association.to_id == a),
        ),
    )


def linked_records(
    session: Session, account_id: int, object_id: str
) -> dict[str, list[LinkedRecord]]:
    """Every record linked with `object_id`, by type, oldest link first (one query per type)."""
    rows = session.scalars(
        select(Association)
        .where(
            Association.account_id == account_id,
            or_(Association.from_id == object_id, Association.to_id == object_id),
        )
        .order_by(Association.id)
    ).all()
    ends: dict[str, dict[str, str]] = {}
    for row in rows:
        other_type, other_id = (
            (row.to_type, row.to_id) if row.from_id == object_id else (row.from_type, row.from_id)
        )
        ends.setdefault(other_type, {}).setdefault(other_id, row.label)
    result: dict[str, list[LinkedRecord]] = {}
    for object_type, labels in ends.items():
        model = RECORD_TYPES.get(object_type)
        if model is None:  # e.g. invoices: not shown as associated records
            continue
        found = {
            record.id: record
            for record in session.scalars(
                select(model).where(model.account_id == account_id, model.id.in_(list(labels)))
            )
        }
        result[object_type] = [
            LinkedRecord(object_type, record_id, record_name(found[record_id]), label)
            for record_id, label in labels.items()
            if record_id in found
        ]
    return result


def associate(
    session: Session,
    account: Account,
    from_type: str,
    from_id: str,
    to_type: str,
    to_id: str,
    *,
    label: str = DEFAULT_LABEL,
) -> Association:
    """Link two records of the account. A second link between the same two records → 409."""
    get_owned(session, _model(from_type, "from_type"), account.id, from_id, from_type)
    get_referenced(session, _model(to_type, "to_type"), account.id, to_id, to_type, "to_id")
    if from_id == to_id:
        raise InvalidRequest("A record cannot be associated with itself", param="to_id")
    if session.scalar(select(Association.id).where(_between(account.id, from_id, to_id))):
        raise Conflict(
            "The %(to_type)s '%(to_id)s' is already associated",
            to_type=kit_labels.word(to_type, kit_labels.RECORD_KINDS),
            to_id=to_id,
            param="to_id",
        )
    link = Association(
        account_id=account.id,
        from_type=from_type,
        from_id=from_id,
        to_type=to_type,
        to_id=to_id,
        label=label,
        created_at=clock.account_now(account),
    )
    session.add(link)
    session.flush()
    return link


def dissociate(session: Session, account: Account, from_id: str, to_id: str) -> str:
    """Remove every link between two records; 404 when there is none. Returns the label of the
    link that was removed (the oldest, when there were several)."""
    labels = session.scalars(
        select(Association.label)
        .where(_between(account.id, from_id, to_id))
        .order_by(Association.id)
    ).all()
    if not labels:
        raise NotFound(
            "'%(to_id)s' is not associated with '%(from_id)s'", to_id=to_id, from_id=from_id
        )
    session.execute(delete(Association).where(_between(account.id, from_id, to_id)))
    session.flush()
    return labels[0]


def replace(
    session: Session,
    account: Account,
    from_type: str,
    from_id: str,
    to_type: str,
    old_id: str,
    new_id: str,
) -> Association:
    """Swap the record at the other end of a link for another of the same type, keeping the
    link's label. Nothing changes unless both steps succeed (the caller rolls back)."""
    if old_id == new_id:
        raise InvalidRequest("Choose another record to replace this one with", param="to_id")
    label = dissociate(session, account, from_id, old_id)
    return associate(session, account, from_type, from_id, to_type, new_id, label=label)


def search_records(
    session: Session,
    account_id: int,
    object_type: str,
    text: str | None,
    *,
    exclude: Collection[str] = (),
    limit: int = 50,
) -> Sequence[tuple[str, str]]:
    """(id, name) of records of one type to choose from: the newest, or those whose name (a
    contact's name or email) contains `text`, case-insensitive."""
    model = _model(object_type, "type")
    query = select(model).where(model.account_id == account_id)
    if exclude:
        query = query.where(model.id.not_in(list(exclude)))
    if text and text.strip():
        columns = (
            [Contact.email, Contact.first_name, Contact.last_name]
            if model is Contact
            else [model.name]
        )
        # The list services' search: their text indexes answer it without reading every row.
        query = query.where(contains_text(columns, text))
    records = session.scalars(query.order_by(model.id.desc()).limit(limit)).all()
    return [(record.id, record_name(record)) for record in records]


# --- a contact's, company's or deal's subscriptions ---------------------------------------------
# A subscription is associated with its billing contact and billing company by its own fields
# (`contact_id`, `company_id`), and with any other record by a link row: the subscription
# panel shows both, and a record's Subscriptions card lists both.

# The subscription's field that names a record of this type, where there is one.
_BILLING_FIELDS: dict[str, Any] = {
    "contact": Subscription.contact_id,
    "company": Subscription.company_id,
}
# Subscriptions chosen at once in "Add existing subscription".
MAX_SUBSCRIPTIONS_TO_ADD = 100


def subscription_associated(account_id: int, object_type: str, record_id: str) -> Any:
    """SQL: the subscription is associated with the record — its billing contact or company,
    or linked by a row in either direction. An IN over the union of what each index finds
    (a row's ends, the billing field), so a card or a "not yet" list reads few rows."""
    parts = [
        select(Association.to_id).where(
            Association.account_id == account_id,
            Association.from_id == record_id,
            Association.to_type == "subscription",
        ),
        select(Association.from_id).where(
            Association.account_id == account_id,
            Association.to_id == record_id,
            Association.from_type == "subscription",
        ),
    ]
    field = _BILLING_FIELDS.get(object_type)
    if field is not None:
        parts.append(
            select(Subscription.id).where(Subscription.account_id == account_id, field == record_id)
        )
    return Subscription.id.in_(union(*parts))


def record_subscriptions(
    session: Session,
    account_id: int,
    object_type: str,
    record_id: str,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Subscription], bool, str | None]:
    """A page of the subscriptions associated with a contact, company or deal, newest first:
    (rows, has_more, next_cursor)."""
    query = select(Subscription).where(
        Subscription.account_id == account_id,
        subscription_associated(account_id, object_type, record_id),
    )
    return paginate(session, query, Subscription.id, limit=limit, cursor=cursor)


def subscriptions_to_add(
    session: Session,
    account_id: int,
    object_type: str,
    record_id: str,
    text: str | None,
    *,
    only: Collection[str] = (),
    limit: int = 50,
) -> Sequence[Subscription]:
    """The account's subscriptions not associated with the record yet, newest first; those
    whose name contains `text` (case-insensitive) when it is given, and among `only` when
    that is given."""
    query = select(Subscription).where(
        Subscription.account_id == account_id,
        ~subscription_associated(account_id, object_type, record_id),
    )
    if only:
        query = query.where(Subscription.id.in_(list(only)))
    if text and text.strip():
        query = query.where(contains_text([Subscription.name], text))
    return session.scalars(query.order_by(Subscription.id.desc()).limit(limit)).all()


def associate_subscriptions(
    session: Session,
    account: Account,
    object_type: str,
    record_id: str,
    subscription_ids: Sequence[str],
) -> list[Subscription]:
    """Associate existing subscriptions with a contact or company ("Add existing
    subscription"): a link row each, as the subscription panel's "Add" and HubSpot's
    associations API write; one already associated (billing field or link) stays as it is.
    Every ID is checked before anything is written: another account's subscription is a 404.
    Returns the subscriptions newly associated."""
    if object_type not in ASSOCIABLE_TYPES:
        raise InvalidRequest(
            "Unknown record type: '%(object_type)s'", object_type=object_type, param="type"
        )
    get_owned(session, _model(object_type, "type"), account.id, record_id, object_type)
    wanted = list(dict.fromkeys(subscription_ids))
    if not wanted:
        raise InvalidRequest("Choose at least one subscription", param="subscription_ids")
    if len(wanted) > MAX_SUBSCRIPTIONS_TO_ADD:
        raise InvalidRequest(
            "At most %(max_subscriptions_to_add)s subscriptions can be added at once",
            max_subscriptions_to_add=MAX_SUBSCRIPTIONS_TO_ADD,
            param="subscription_ids",
        )
    chosen = [
        get_owned(session, Subscription, account.id, subscription_id, "subscription")
        for subscription_id in wanted
    ]
    already = set(
        session.scalars(
            select(Subscription.id).where(
                Subscription.id.in_(wanted),
                subscription_associated(account.id, object_type, record_id),
            )
        )
    )
    added = []
    for subscription in chosen:
        if subscription.id in already:
            continue
        associate(session, account, "subscription", subscription.id, object_type, record_id)
        added.append(subscription)
    return added
