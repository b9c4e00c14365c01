"""Queries every domain repeats: fetch one record of the caller's account, or fail with 404."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

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
        raise InvalidRequest(f"No such {kind}: '{record_id}'", param=param)
    return record
