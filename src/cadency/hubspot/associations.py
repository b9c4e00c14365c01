"""HubSpot's associations v4 (`/crm/v4/objects/{from}/{id}/associations/{to}`,
`/crm/v4/associations/{from}/{to}/labels`, `.../batch/read`, `/create` and `/archive`) over
Cadency's typed, labelled associations (crm.associations): the same rows the subscription panel
shows and writes.

Cadency links a subscription with contacts, companies, deals and quotes (by hand or by a quote's
conversion, labelled "converted_from"), and an invoice made by a conversion with its deal; only
those pairs of the types this surface serves are answered, others are HubSpot's 400. Links are
written (default type) and archived for subscriptions only; a conversion's links are read only.
A link is one row, read from both ends. A subscription's billing contact and company are its
fields (`contact_id`, `company_id`), not links.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.crm import associations
from cadency.crm.models import Association
from cadency.hubspot.errors import HubSpotError
from cadency.hubspot.mapping import HubObject, timestamp
from cadency.hubspot.schemas import (
    AssociatedObject,
    AssociationBatchArchiveInput,
    AssociationBatchCreateInput,
    AssociationBatchCreateOut,
    AssociationBatchReadOut,
    AssociationFetchInput,
    AssociationLabelsOut,
    AssociationsOfRecord,
    AssociationsOut,
    AssociationSpecIn,
    AssociationSpecOut,
    AssociationTypeOut,
    BatchError,
    DefaultAssociation,
    DefaultAssociationsOut,
    LabelsBetweenObjects,
    NextPage,
    ObjectIdOut,
    Paging,
)
from cadency.hubspot.service import find_record
from cadency.kit import clock
from cadency.kit.errors import APIError, InvalidRequest, NotFound

# Cadency's labels as HubSpot's association types (Cadency's own type IDs: HubSpot has none
# for these pairs that a client could rely on). Any other label reads as the default type.
DEFAULT = AssociationTypeOut(category="HUBSPOT_DEFINED", typeId=1, label=None)
CONVERTED_FROM = AssociationTypeOut(category="USER_DEFINED", typeId=2, label="Converted from")
_TYPES = {associations.DEFAULT_LABEL: DEFAULT, "converted_from": CONVERTED_FROM}

# The record-type pairs Cadency links (either order); True: written by hand (default type).
_PAIRS = {
    frozenset(("subscription", "contact")): True,
    frozenset(("subscription", "company")): True,
    frozenset(("subscription", "deal")): True,
    frozenset(("invoice", "deal")): False,
}
MAX_LIMIT = 500


def _pair(from_obj: HubObject, to_obj: HubObject) -> bool:
    """Whether the pair is written by hand; 400 for a pair Cadency does not link."""
    found = _PAIRS.get(frozenset((from_obj.record_type, to_obj.record_type)))
    if found is None:
        raise HubSpotError(
            f"{from_obj.name} and {to_obj.name} cannot be associated in Cadency; pairs: "
            "subscriptions with contacts, companies and deals, invoices with deals"
        )
    return found


def labels(from_obj: HubObject, to_obj: HubObject) -> AssociationLabelsOut:
    """The association types of a pair: the default one where links are written by hand, and
    "Converted from" where a quote's conversion links a deal."""
    writable = _pair(from_obj, to_obj)
    found = [DEFAULT] if writable else []
    if "deal" in (from_obj.record_type, to_obj.record_type):
        found.append(CONVERTED_FROM)
    return AssociationLabelsOut(results=found)


def _offset(after: str | None) -> int:
    if not after:
        return 0
    if not after.isascii() or not after.isdigit() or len(after) > 9:
        raise InvalidRequest(
            "'after' is not valid: pass paging.next.after of the previous page unchanged",
            param="after",
        )
    return int(after)


def list_page(
    session: Session,
    account: Account,
    from_obj: HubObject,
    record_id: str,
    to_obj: HubObject,
    *,
    limit: int,
    after: str | None,
) -> AssociationsOut:
    """The records of type `to_obj` linked with the record, oldest link first, each with the
    types of its links; `after` is an offset."""
    _pair(from_obj, to_obj)
    find_record(session, from_obj, account.id, record_id, None)
    linked = _linked_types(session, account, record_id, to_obj)
    offset = _offset(after)
    ids = list(linked)
    page = ids[offset : offset + limit]
    more = len(ids) > offset + limit
    return AssociationsOut(
        results=[AssociatedObject(toObjectId=i, associationTypes=linked[i]) for i in page],
        paging=Paging(next=NextPage(after=str(offset + limit))) if more else None,
    )


def _linked_types(
    session: Session, account: Account, record_id: str, to_obj: HubObject
) -> dict[str, list[AssociationTypeOut]]:
    """The IDs of the records of type `to_obj` linked with the record, oldest link first, each
    with the types of its links."""
    rows = session.scalars(
        select(Association)
        .where(
            Association.account_id == account.id,
            or_(
                and_(Association.from_id == record_id, Association.to_type == to_obj.record_type),
                and_(Association.to_id == record_id, Association.from_type == to_obj.record_type),
            ),
        )
        .order_by(Association.id)
    ).all()
    linked: dict[str, list[AssociationTypeOut]] = {}
    for row in rows:
        other = row.to_id if row.from_id == record_id else row.from_id
        kinds = linked.setdefault(other, [])
        kind = _TYPES.get(row.label, DEFAULT)
        if kind not in kinds:
            kinds.append(kind)
    if to_obj.archivable and linked:
        # As in HubSpot, an archived record drops out of its associations (they come back
        # with it when it is restored).
        model: Any = to_obj.model
        for archived in session.scalars(
            select(model.id).where(model.id.in_(linked), model.archived)
        ):
            del linked[archived]
    return linked


def _both(
    session: Session,
    account: Account,
    from_obj: HubObject,
    from_id: str,
    to_obj: HubObject,
    to_id: str,
) -> tuple[str, str]:
    """Both records (404 for either), as (the subscription's ID, the other's ID) of a pair
    written by hand; 400 for another pair."""
    _require_writable(from_obj, to_obj)
    find_record(session, from_obj, account.id, from_id, None)
    find_record(session, to_obj, account.id, to_id, None)
    if from_obj.record_type == "subscription":
        return from_id, to_id
    return to_id, from_id


def _require_writable(from_obj: HubObject, to_obj: HubObject) -> None:
    """400 for a pair Cadency does not link, or links by a quote's conversion only."""
    if not _pair(from_obj, to_obj):
        raise HubSpotError(
            f"Links between {from_obj.name} and {to_obj.name} are made by a quote's conversion "
            "only; they cannot be written"
        )


def _linked(session: Session, account: Account, a: str, b: str) -> bool:
    return (
        session.scalar(
            select(Association.id)
            .where(
                Association.account_id == account.id,
                or_(
                    and_(Association.from_id == a, Association.to_id == b),
                    and_(Association.from_id == b, Association.to_id == a),
                ),
            )
            .limit(1)
        )
        is not None
    )


def create_default(
    session: Session,
    account: Account,
    from_obj: HubObject,
    from_id: str,
    to_obj: HubObject,
    to_id: str,
) -> DefaultAssociationsOut:
    """Link two records with the default type (as the subscription panel's "Associate"); two
    records already linked stay as they are, as in HubSpot."""
    started = clock.real_now()
    subscription_id, other_id = _both(session, account, from_obj, from_id, to_obj, to_id)
    other_type = to_obj.record_type if subscription_id == from_id else from_obj.record_type
    if not _linked(session, account, subscription_id, other_id):
        associations.associate(
            session, account, "subscription", subscription_id, other_type, other_id
        )
    return _default_out(from_id, to_id, started)


def _default_out(from_id: str, to_id: str, started: datetime) -> DefaultAssociationsOut:
    return DefaultAssociationsOut(
        results=[
            DefaultAssociation(
                from_=ObjectIdOut(id=from_id),
                to=ObjectIdOut(id=to_id),
                associationSpec=AssociationSpecOut(
                    associationCategory=DEFAULT.category, associationTypeId=DEFAULT.typeId
                ),
            )
        ],
        startedAt=timestamp(started),
        completedAt=timestamp(clock.real_now()),
    )


def archive(
    session: Session,
    account: Account,
    from_obj: HubObject,
    from_id: str,
    to_obj: HubObject,
    to_id: str,
) -> None:
    """Remove every link between two records (as the panel's "Remove"); none is no error."""
    subscription_id, other_id = _both(session, account, from_obj, from_id, to_obj, to_id)
    if _linked(session, account, subscription_id, other_id):
        associations.dissociate(session, account, subscription_id, other_id)


def _check_types(from_obj: HubObject, to_obj: HubObject, types: list[AssociationSpecIn]) -> None:
    """The types of a labelled create: only the default type is written by hand; a type the
    pair's labels do not list, or one a quote's conversion writes, is HubSpot's 400."""
    listed = {(t.category, t.typeId) for t in labels(from_obj, to_obj).results}
    for spec in types:
        asked = (spec.associationCategory, spec.associationTypeId)
        if asked not in listed:
            raise HubSpotError(
                f"association type {spec.associationTypeId} ({spec.associationCategory}) is not "
                f"defined between {from_obj.name} and {to_obj.name}; see "
                f"/crm/v4/associations/{from_obj.name}/{to_obj.name}/labels"
            )
        if asked != (DEFAULT.category, DEFAULT.typeId):
            raise HubSpotError(
                f"association type {spec.associationTypeId} is written by a quote's conversion "
                "only; create links with the default type (HUBSPOT_DEFINED 1)"
            )


def create_labelled(
    session: Session,
    account: Account,
    from_obj: HubObject,
    from_id: str,
    to_obj: HubObject,
    to_id: str,
    types: list[AssociationSpecIn],
) -> LabelsBetweenObjects:
    """`PUT .../associations/{to}/{toId}` with types: the default type only (see
    `_check_types`); two records already linked stay as they are."""
    _check_types(from_obj, to_obj, types)
    create_default(session, account, from_obj, from_id, to_obj, to_id)
    return _labels_between(from_obj, from_id, to_obj, to_id)


def _labels_between(
    from_obj: HubObject, from_id: str, to_obj: HubObject, to_id: str
) -> LabelsBetweenObjects:
    # The default type has no label, as in HubSpot.
    return LabelsBetweenObjects(
        fromObjectTypeId=from_obj.type_id,
        fromObjectId=from_id,
        toObjectTypeId=to_obj.type_id,
        toObjectId=to_id,
        labels=[],
    )


def _error(exc: APIError, ids: list[str]) -> BatchError:
    category = "OBJECT_NOT_FOUND" if isinstance(exc, NotFound) else "VALIDATION_ERROR"
    return BatchError(category=category, message=exc.message, context={"ids": ids})


def batch_read(
    session: Session,
    account: Account,
    from_obj: HubObject,
    to_obj: HubObject,
    inputs: list[AssociationFetchInput],
) -> AssociationBatchReadOut:
    """The links of each record asked for (all of them, unpaged); a record not found is an
    error of the answer (HubSpot's 207), not of the request."""
    started = clock.real_now()
    _pair(from_obj, to_obj)
    results: list[AssociationsOfRecord] = []
    missing: list[str] = []
    for item in inputs:
        try:
            find_record(session, from_obj, account.id, item.id, None)
        except NotFound:
            missing.append(item.id)
            continue
        linked = list(_linked_types(session, account, item.id, to_obj).items())
        results.append(
            AssociationsOfRecord(
                from_=ObjectIdOut(id=item.id),
                to=[
                    AssociatedObject(toObjectId=i, associationTypes=k)
                    for i, k in linked[_offset(item.after) :]
                ],
            )
        )
    errors = (
        [
            BatchError(
                category="OBJECT_NOT_FOUND",
                message=f"No such {from_obj.name}: they may be deleted or not exist",
                context={"ids": missing},
            )
        ]
        if missing
        else None
    )
    return AssociationBatchReadOut(
        results=results,
        startedAt=timestamp(started),
        completedAt=timestamp(clock.real_now()),
        errors=errors,
        numErrors=len(errors) if errors else None,
    )


def batch_create(
    session: Session,
    account: Account,
    from_obj: HubObject,
    to_obj: HubObject,
    body: AssociationBatchCreateInput,
) -> AssociationBatchCreateOut:
    """Labelled creates, one per input; an input naming a record not found or a type not
    written by hand is an error of the answer (HubSpot's 207), the others are written. A pair
    Cadency does not link (or only a conversion links) fails the whole request."""
    started = clock.real_now()
    _require_writable(from_obj, to_obj)
    results: list[LabelsBetweenObjects] = []
    errors: list[BatchError] = []
    for item in body.inputs:
        try:
            results.append(
                create_labelled(
                    session, account, from_obj, item.from_.id, to_obj, item.to.id, item.types
                )
            )
        except NotFound as exc:
            errors.append(_error(exc, [item.from_.id, item.to.id]))
        except HubSpotError as exc:  # a type not written by hand
            errors.append(_error(exc, [item.from_.id, item.to.id]))
    return AssociationBatchCreateOut(
        results=results,
        startedAt=timestamp(started),
        completedAt=timestamp(clock.real_now()),
        errors=errors or None,
        numErrors=len(errors) if errors else None,
    )


def batch_archive(
    session: Session,
    account: Account,
    from_obj: HubObject,
    to_obj: HubObject,
    body: AssociationBatchArchiveInput,
) -> None:
    """Remove every link between each `from` record and each of its `to` records; a record not
    found fails the request (404), before anything is removed."""
    pairs = [(item.from_.id, to.id) for item in body.inputs for to in item.to]
    for from_id, to_id in pairs:
        _both(session, account, from_obj, from_id, to_obj, to_id)
    for from_id, to_id in pairs:
        archive(session, account, from_obj, from_id, to_obj, to_id)
