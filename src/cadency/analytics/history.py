"""One subscription's MRR history: its movements in the ledger, oldest first, as its record
panel shows them (a sparkline of its MRR after each movement, and the list of them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.analytics.models import MrrMovement
from cadency.kit.periods import MRR_SCALE


@dataclass(frozen=True)
class Movement:
    effective_on: date  # in the account's timezone
    kind: str  # MRR_KINDS
    # In minor units of `currency`, each rounded half-even once from the ledger's exact figure
    # (so a change and the MRR after it may not add up to the cent shown before it).
    amount: int
    mrr_after: int
    currency: str


def _minor(scaled: int) -> int:
    # round() of a Fraction rounds half to even: the ledger's one rounding rule.
    return round(Fraction(scaled, MRR_SCALE))


def history(session: Session, subscription_id: str) -> list[Movement]:
    """The subscription's movements, oldest first (the order they were written in a day)."""
    rows = session.scalars(
        select(MrrMovement)
        .where(MrrMovement.subscription_id == subscription_id)
        .order_by(MrrMovement.effective_on, MrrMovement.created_at, MrrMovement.id)
    ).all()
    return [
        Movement(
            effective_on=row.effective_on,
            kind=row.kind,
            amount=_minor(row.amount),
            mrr_after=_minor(row.mrr_after),
            currency=row.currency,
        )
        for row in rows
    ]
