"""`cadency analytics rebuild`: the MRR movements ledger recomputed from the subscriptions'
timelines, for installations that had subscriptions before the ledger, or to check it.

A subscription's MRR at any moment is its recurring items' basis (carried by its created,
plan changed and downgraded entries, billing.state.BASIS_EVENTS) in its status (carried by its
status_changed entries). Walking its timeline in order, every change of that figure is a
movement on the day of the entry, of the kind billing.state.movement_kind says — the same rule
the incremental writer follows, so a rebuild of a ledger written as it happened changes nothing
(tests/analytics/test_rebuild.py holds it to that). A subscription whose entries predate the
basis (made before the ledger existed) is taken to have had its present items throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.analytics.models import MrrDay, MrrMovement
from cadency.billing.state import BASIS_EVENTS, basis_mrr, movement_kind, mrr_basis
from cadency.kit.db import begin_write
from cadency.kit.events import EventType
from cadency.kit.ids import new_id
from cadency.kit.periods import local_date
from cadency.subscriptions.models import Subscription, SubscriptionEvent

BATCH = 500
_READ = (*BASIS_EVENTS, EventType.SUBSCRIPTION_STATUS_CHANGED)


@dataclass
class RebuildSummary:
    subscriptions: int = 0
    movements: int = 0


def movements_of(
    subscription: Subscription, events: Sequence[SubscriptionEvent], timezone: str
) -> list[dict[str, Any]]:
    """The ledger rows a subscription's timeline implies, oldest first."""
    status: str | None = None
    basis: dict[str, Any] | None = None
    mrr = 0
    had_mrr = False
    rows: list[dict[str, Any]] = []
    for event in events:
        data = event.data or {}
        if event.type == EventType.SUBSCRIPTION_STATUS_CHANGED:
            status = str(data.get("to"))
        elif event.type in BASIS_EVENTS:
            basis = data.get("mrr_basis") or basis or mrr_basis(subscription)
            if event.type == EventType.SUBSCRIPTION_CREATED:
                status = str(data.get("status") or status)
        if status is None or basis is None:
            continue
        after = basis_mrr(basis, status)
        if after == mrr:
            continue
        rows.append(
            {
                "subscription_id": subscription.id,
                "effective_on": local_date(event.created_at, timezone),
                "kind": movement_kind(mrr, after, had_mrr=had_mrr),
                "amount": after - mrr,
                "mrr_after": after,
                "created_at": event.created_at,
            }
        )
        had_mrr = had_mrr or after > 0
        mrr = after
    return rows


def rebuild(
    session_factory: Callable[[], Session], *, account_id: int | None = None
) -> RebuildSummary:
    """Recompute the ledger of one account (or all), a batch of subscriptions per transaction;
    each subscription's exact MRR is set to where its movements end."""
    summary = RebuildSummary()
    after = ""
    while True:
        with session_factory() as session:
            begin_write(session)
            query = (
                select(Subscription)
                .where(Subscription.id > after)
                .options(selectinload(Subscription.line_items))
                .order_by(Subscription.id)
                .limit(BATCH)
            )
            if account_id is not None:
                query = query.where(Subscription.account_id == account_id)
            batch = list(session.scalars(query))
            if not batch:
                break
            after = batch[-1].id
            zones = {
                a.id: a.timezone
                for a in session.scalars(
                    select(Account).where(Account.id.in_({s.account_id for s in batch}))
                )
            }
            timelines: dict[str, list[SubscriptionEvent]] = {s.id: [] for s in batch}
            for event in session.scalars(
                select(SubscriptionEvent)
                .where(
                    SubscriptionEvent.subscription_id.in_(list(timelines)),
                    SubscriptionEvent.type.in_(_READ),
                )
                .order_by(SubscriptionEvent.created_at, SubscriptionEvent.id)
            ):
                timelines[event.subscription_id].append(event)
            session.execute(
                delete(MrrMovement).where(MrrMovement.subscription_id.in_(list(timelines)))
            )
            for subscription in batch:
                rows = movements_of(
                    subscription, timelines[subscription.id], zones[subscription.account_id]
                )
                for row in rows:
                    session.add(
                        MrrMovement(
                            id=new_id("mrm"),
                            account_id=subscription.account_id,
                            currency=subscription.currency,
                            **row,
                        )
                    )
                subscription.mrr_scaled = rows[-1]["mrr_after"] if rows else 0
                summary.movements += len(rows)
            summary.subscriptions += len(batch)
            session.commit()
    _sum_days(session_factory, account_id)
    return summary


def _sum_days(session_factory: Callable[[], Session], account_id: int | None) -> None:
    """The per-day sums made again from the movements."""
    with session_factory() as session:
        begin_write(session)
        days = delete(MrrDay)
        movements = select(
            MrrMovement.account_id,
            MrrMovement.currency,
            MrrMovement.effective_on,
            MrrMovement.kind,
            func.sum(MrrMovement.amount),
            func.count(),
        ).group_by(
            MrrMovement.account_id, MrrMovement.currency, MrrMovement.effective_on, MrrMovement.kind
        )
        if account_id is not None:
            days = days.where(MrrDay.account_id == account_id)
            movements = movements.where(MrrMovement.account_id == account_id)
        session.execute(days)
        session.execute(
            insert(MrrDay).from_select(
                ["account_id", "currency", "day", "kind", "amount", "count"], movements
            )
        )
        session.commit()
