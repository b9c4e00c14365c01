"""Queries every domain repeats: one record of the caller's account (or a 404), or many by ID."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.kit import labels
from cadency.kit.errors import InvalidRequest, not_found


class AccountRecord(Protocol):
    account_id: Any


R = TypeVar("R", bound=AccountRecord)


def get_owned(session: Session, model: type[R], account_id: int, record_id: str, kind: str) -> R:
    """The record with this ID in this account; another account's record is simply not found."""
    record = session.get(model, record_id) if len(record_id) <= 40 else None
    if record is None or record.account_id != account_id:
        raise not_found(kind, record_id)
    return record


def get_referenced(
    session: Session, model: type[R], account_id: int, record_id: str, kind: str, param: str
) -> R:
    """Like get_owned, for an ID given inside a request body: a 422 naming the field."""
    record = session.get(model, record_id) if len(record_id) <= 40 else None
    if record is None or record.account_id != account_id:
        raise InvalidRequest(
            "No such %(kind)s: '%(record_id)s'",
            kind=labels.word(kind, labels.RECORD_KINDS),
            record_id=record_id,
            param=param,
        )
    return record


def owned_by_id(
    session: Session, model: type[Any], account_id: int, ids: Iterable[str | None]
) -> dict[str, Any]:
    """Records of one account by ID, in one query: what a page's rows refer to (contacts,
    invoices, products), loaded once for the page rather than once per row. Empty, too long
    and other accounts' IDs are simply left out."""
    wanted = sorted({i for i in ids if i and len(i) <= 40})
    if not wanted:
        return {}
    rows = session.scalars(
        select(model).where(model.account_id == account_id, model.id.in_(wanted))
    )
    return {row.id: row for row in rows}
