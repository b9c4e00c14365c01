"""Deleting an account: every row of it, in every table, and nothing of any other account.

The tables come from the metadata, not from a list written here, so a table added later is
covered without anyone remembering this module:
- a table with an `account_id` column is the account's where `account_id` is the account's ID;
- a table without one is the account's where one of its foreign keys points at a row of the
  account (a chain of any length, e.g. a child of an invoice line of an invoice);
- a table that is neither is shared by the whole installation and must be named in
  `INSTALLATION_TABLES`; any other table makes the deletion refuse to run (and its test fail),
  because leaving rows behind would break the promise that every record is removed.

Rows are deleted children first (the metadata's dependency order, reversed), one set-based
statement per table, so an account with many thousands of subscriptions is deleted without
loading a row into Python. Business rules (only a free account, only a `billing.edit` user, the
typed account ID) belong to the caller; this only deletes, and never commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    ForeignKeyConstraint,
    MetaData,
    Table,
    delete,
    false,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

import cadency.models  # noqa: F401  (registers every table in the metadata)
from cadency.accounts.models import Account
from cadency.kit.db import Base

OWNER_COLUMN = "account_id"
ACCOUNTS_TABLE = "accounts"

# Rows every account shares; deleting one account never touches them.
INSTALLATION_TABLES = frozenset(
    {
        "installation_secrets",  # the key that signs links for the whole installation
        "account_id_counter",  # so a deleted account's ID is never handed out again
        # Throttling counters, keyed by a hashed email, client address or key; they expire
        # within the hour and name no account.
        "rate_limit_counters",
    }
)


class UnownedTableError(RuntimeError):
    """A table has neither an `account_id` nor a foreign key to a row of an account, and is not
    named as installation-wide: deleting an account could leave its rows behind."""


@dataclass(frozen=True)
class DeletionPlan:
    """How each table's rows of one account are found, in the order they can be deleted."""

    # Children before parents; the accounts table is last.
    order: tuple[Table, ...]
    # Tables without `account_id`, each with the foreign keys that make a row the account's.
    owned_through: Mapping[str, tuple[ForeignKeyConstraint, ...]]
    # Foreign keys the delete order cannot respect: a table pointing at itself (a product's
    # fallback product) or a loop between tables. Their columns are emptied on the account's
    # rows first, so no DELETE meets a row still pointing at one an earlier DELETE removed.
    loops: tuple[ForeignKeyConstraint, ...]


def deletion_plan(metadata: MetaData = Base.metadata) -> DeletionPlan:
    """Which tables hold rows of an account and in which order they can be deleted."""
    parents_first = list(metadata.sorted_tables)
    position = {table.name: index for index, table in enumerate(parents_first)}
    # A foreign key whose parent does not come before its table cannot be respected by the
    # order: it points at its own table, or closes a loop the sort had to break.
    loops = [
        fk
        for table in parents_first
        for fk in table.foreign_key_constraints
        if position[fk.referred_table.name] >= position[table.name]
    ]

    owned = {t.name for t in parents_first if t.name == ACCOUNTS_TABLE or OWNER_COLUMN in t.c}
    # A chain can be longer than one step, and a loop can point "forwards": repeat until no
    # further table joins.
    changed = True
    while changed:
        changed = False
        for table in parents_first:
            if table.name not in owned and any(
                fk.referred_table.name in owned for fk in table.foreign_key_constraints
            ):
                owned.add(table.name)
                changed = True
    owned_through = {
        table.name: tuple(
            fk for fk in table.foreign_key_constraints if fk.referred_table.name in owned
        )
        for table in parents_first
        if table.name in owned and table.name != ACCOUNTS_TABLE and OWNER_COLUMN not in table.c
    }

    unowned = sorted(t.name for t in parents_first if t.name not in owned | INSTALLATION_TABLES)
    if unowned:
        raise UnownedTableError(
            f"tables {unowned} have no {OWNER_COLUMN} and no foreign key to an account's rows; "
            "give them an account_id, or add them to INSTALLATION_TABLES if they are shared"
        )
    order = tuple(t for t in reversed(parents_first) if t.name in owned)
    return DeletionPlan(
        order=order,
        owned_through=owned_through,
        loops=tuple(fk for fk in loops if fk.table.name in owned),
    )


def _owned_rows(
    plan: DeletionPlan, table: Table, account_id: int, seen: frozenset[str] = frozenset()
) -> ColumnElement[bool]:
    """The WHERE clause that picks the account's rows of `table`."""
    if table.name == ACCOUNTS_TABLE:
        return table.c.id == account_id
    if OWNER_COLUMN in table.c:
        return table.c[OWNER_COLUMN] == account_id
    seen = seen | {table.name}
    conditions: list[ColumnElement[bool]] = []
    for fk in plan.owned_through[table.name]:
        parent = fk.referred_table
        if parent.name in seen:
            continue  # a loop among tables without account_id: its other links decide
        local: list[Column[object]] = [element.parent for element in fk.elements]
        remote: list[Column[object]] = [element.column for element in fk.elements]
        parents = select(*remote).where(_owned_rows(plan, parent, account_id, seen))
        if len(local) == 1:
            conditions.append(local[0].in_(parents))
        else:
            conditions.append(tuple_(*local).in_(parents))
    return or_(false(), *conditions)


def delete_account(session: Session, account: Account) -> dict[str, int]:
    """Remove the account and every row that belongs to it; returns rows deleted per table.

    Refuses (UnownedTableError) when a table's rows cannot be tied to an account. A row of
    another account that points at one of this account's rows makes the database refuse the
    delete (an IntegrityError), so the caller's transaction rolls back with nothing removed."""
    # Write what the session still holds first, so no pending change lands after the deletes.
    session.flush()
    deleted = delete_owned_rows(session, account.id, deletion_plan())
    # The account's objects still in the session are gone from the database: a later flush
    # must not try to write them back. Only loaded attributes are read (loading one would look
    # for a deleted row).
    for instance in list(session.identity_map.values()):
        if instance is account or inspect(instance).dict.get(OWNER_COLUMN) == account.id:
            session.expunge(instance)
    return deleted


def delete_owned_rows(session: Session, account_id: int, plan: DeletionPlan) -> dict[str, int]:
    """The statements of `delete_account`, for the tables of `plan`: one UPDATE per loop to
    break, then one DELETE per table; rows deleted per table, the accounts table last."""
    for fk in plan.loops:
        table = fk.table
        if not all(element.parent.nullable for element in fk.elements):
            continue  # cannot be emptied; the database checks it once the whole table is gone
        columns = [element.parent for element in fk.elements]
        session.execute(
            update(table)
            .where(
                _owned_rows(plan, table, account_id),
                or_(*(column.is_not(None) for column in columns)),
            )
            .values({column.name: None for column in columns})
        )

    deleted: dict[str, int] = {}
    for table in plan.order:
        result = session.execute(delete(table).where(_owned_rows(plan, table, account_id)))
        deleted[table.name] = cast(CursorResult[Any], result).rowcount
    return deleted
