"""The one tax computation (SPEC §4): a line's tax is its rate's percentage of the line's amount
after discounts, rounded half away from zero to whole minor units, per line. Invoices of every
kind, the stored amounts of a subscription and the create form's summary all ask here, so they
cannot disagree by a cent."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.catalog.models import TaxRate
from cadency.kit import money


def line_tax(amount: int, percentage: Decimal | None) -> int:
    """The tax on a line of `amount` (minor units, after discounts) at `percentage`; none
    without a rate."""
    return money.percent_of(amount, percentage) if percentage is not None else 0


def rates(session: Session, rate_ids: Iterable[str | None]) -> dict[str, Decimal]:
    """The percentage of each tax rate named, by ID (unknown and empty IDs are left out)."""
    ids = {rate_id for rate_id in rate_ids if rate_id}
    if not ids:
        return {}
    query = select(TaxRate.id, TaxRate.percentage).where(TaxRate.id.in_(ids))
    return {rate_id: percentage for rate_id, percentage in session.execute(query)}
