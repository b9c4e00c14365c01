"""Series read from the MRR movements ledger (API.md "Analytics"): MRR and its movements per
month or day, and the churn rates of each period.

Every figure is summed exactly (the ledger's 720ths of a minor unit) and rounded half-even to
the currency's precision once, when it is reported. Movements are signed: contraction and
churned are negative, so `net_new` is the sum of the five kinds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.analytics.models import (
    MRR_CHURNED,
    MRR_CONTRACTION,
    MRR_EXPANSION,
    MRR_KINDS,
    MRR_NEW,
    MRR_REACTIVATED,
    MrrDay,
    MrrMovement,
)
from cadency.invoices.models import Invoice
from cadency.kit import money
from cadency.kit.errors import InvalidRequest
from cadency.kit.periods import MRR_SCALE
from cadency.kit.periods import local_date as periods_local_date
from cadency.payments.models import Payment
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.models import cancellation_reasons as subscription_reasons

MAX_MONTHS = 120
FIRST_YEAR, LAST_YEAR = 1970, 2999
MAX_DAYS = 400
RATE_PLACES = Decimal("0.0001")
# A subscription with MRR counts one more (new, reactivated) or one fewer (churned).
_COUNT_CHANGE = {MRR_NEW: 1, MRR_REACTIVATED: 1, MRR_CHURNED: -1}


def month(text: str, param: str) -> date:
    """The first day of a `YYYY-MM` month (422 naming `param` otherwise)."""
    first = parse_month(text)
    if first is None:
        raise InvalidRequest("'%(text)s' is not a month (YYYY-MM)", text=text, param=param)
    # Far enough from the calendar's ends that the month after, and the instants of its days
    # in any timezone, exist.
    if not FIRST_YEAR <= first.year <= LAST_YEAR:
        raise InvalidRequest(
            "A month from %(first_year)s-01 to %(last_year)s-12, not '%(text)s'",
            first_year=FIRST_YEAR,
            last_year=LAST_YEAR,
            text=text,
            param=param,
        )
    return first


def parse_month(text: str) -> date | None:
    """The first day of a `YYYY-MM` month, or None for text that is not one."""
    try:
        year, number = text.split("-")
        if len(year) != 4 or len(number) != 2:
            return None
        return date(int(year), int(number), 1)
    except ValueError:
        return None


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    label: str  # 2026-03 or 2026-03-14
    first: date
    last: date


def periods(start: date, end: date, interval: str) -> list[Period]:
    """The months (or days) from the first day of `start`'s month to the last of `end`'s."""
    if end < start:
        raise InvalidRequest("'end' is before 'start'", param="end")
    found: list[Period] = []
    first = start
    while first <= end:
        after = _next_month(first)
        if interval == "month":
            found.append(Period(first.strftime("%Y-%m"), first, after - timedelta(days=1)))
        else:
            day = first
            while day < after:
                found.append(Period(day.isoformat(), day, day))
                day += timedelta(days=1)
        first = after
    limit = MAX_MONTHS if interval == "month" else MAX_DAYS
    if len(found) > limit and interval == "month":
        raise InvalidRequest("At most %(limit)s months at a time", limit=limit, param="end")
    if len(found) > limit:
        raise InvalidRequest("At most %(limit)s days at a time", limit=limit, param="end")
    return found


@dataclass
class Totals:
    """What the ledger says of one period, exact (in 720ths)."""

    moved: dict[str, int]  # kind -> sum of amounts
    counted: dict[str, int]  # kind -> number of movements

    @classmethod
    def empty(cls) -> Totals:
        return cls(dict.fromkeys(MRR_KINDS, 0), dict.fromkeys(MRR_KINDS, 0))


def _bucket(session: Session, interval: str) -> Any:
    if interval == "day":
        return MrrDay.day
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(MrrDay.day, "YYYY-MM")
    return func.strftime("%Y-%m", MrrDay.day)


def _ledger(
    session: Session, account_id: int, currency: str, spans: Sequence[Period], interval: str
) -> tuple[int, int, dict[str, Totals]]:
    """The MRR and the number of subscriptions with MRR before the first period, and each
    period's totals by kind — from the per-day sums of the ledger (MrrDay)."""
    first, last = spans[0].first, spans[-1].last
    mine = (MrrDay.account_id == account_id, MrrDay.currency == currency)
    counted = case(
        *((MrrDay.kind == kind, change) for kind, change in _COUNT_CHANGE.items()), else_=0
    )
    opening, opening_count = session.execute(
        select(
            func.coalesce(func.sum(MrrDay.amount), 0),
            func.coalesce(func.sum(MrrDay.count * counted), 0),
        ).where(*mine, MrrDay.day < first)
    ).one()
    bucket = _bucket(session, interval)
    rows = session.execute(
        select(bucket, MrrDay.kind, func.sum(MrrDay.amount), func.sum(MrrDay.count))
        .where(*mine, MrrDay.day >= first, MrrDay.day <= last)
        .group_by(bucket, MrrDay.kind)
    ).all()
    totals: dict[str, Totals] = {}
    for label, kind, amount, count in rows:
        key = label.isoformat() if isinstance(label, date) else str(label)
        found = totals.setdefault(key, Totals.empty())
        found.moved[kind] = int(amount)
        found.counted[kind] = int(count)
    return int(opening), int(opening_count), totals


def _amount(scaled: int | Fraction, currency: str) -> str:
    """An exact figure in 720ths as the API shows money: rounded half-even to minor units."""
    return money.format_amount(round(Fraction(scaled) / MRR_SCALE), currency)


def _rate(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    rate = Decimal(numerator) / Decimal(denominator)
    return str(rate.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN))


def currency_of(account: Account, currency: str | None) -> str:
    if currency is None:
        return account.currency
    code = currency.upper()
    if not money.is_known_currency(code):
        raise InvalidRequest(
            "Unknown currency: '%(currency)s' (use an ISO 4217 code)",
            currency=currency,
            param="currency",
        )
    return code


def mrr_series(
    session: Session, account: Account, *, start: date, end: date, interval: str, currency: str
) -> list[dict[str, Any]]:
    """Per period: MRR and ARR at its end, and its movements."""
    spans = periods(start, end, interval)
    mrr, active, totals = _ledger(session, account.id, currency, spans, interval)
    data = []
    for span in spans:
        found = totals.get(span.label, Totals.empty())
        net = sum(found.moved.values())
        mrr += net
        active += sum(found.counted[kind] * change for kind, change in _COUNT_CHANGE.items())
        data.append(
            {
                "period": span.label,
                "mrr": _amount(mrr, currency),
                "arr": _amount(mrr * 12, currency),
                **{kind: _amount(found.moved[kind], currency) for kind in MRR_KINDS},
                "net_new": _amount(net, currency),
                "active_subscriptions": active,
                "new_subscriptions": found.counted[MRR_NEW],
                "churned_subscriptions": found.counted[MRR_CHURNED],
            }
        )
    return data


def churn_series(
    session: Session, account: Account, *, start: date, end: date, interval: str, currency: str
) -> list[dict[str, Any]]:
    """Per period: logo churn (subscriptions churned ÷ those with MRR at its start), revenue
    churn ((churned + contraction) ÷ MRR at its start) and net revenue retention ((MRR at start
    + expansion - contraction - churned) ÷ MRR at start); null where nothing had MRR."""
    spans = periods(start, end, interval)
    mrr, active, totals = _ledger(session, account.id, currency, spans, interval)
    data = []
    for span in spans:
        found = totals.get(span.label, Totals.empty())
        lost = -(found.moved[MRR_CHURNED] + found.moved[MRR_CONTRACTION])
        kept = mrr + found.moved[MRR_EXPANSION] - lost
        data.append(
            {
                "period": span.label,
                "logo_churn_rate": _rate(found.counted[MRR_CHURNED], active),
                "revenue_churn_rate": _rate(lost, mrr),
                "net_revenue_retention": _rate(kept, mrr),
            }
        )
        mrr += sum(found.moved.values())
        active += sum(found.counted[kind] * change for kind, change in _COUNT_CHANGE.items())
    return data


def _label(day: date, interval: str) -> str:
    return day.strftime("%Y-%m") if interval == "month" else day.isoformat()


def _utc_bounds(account: Account, spans: Sequence[Period]) -> tuple[datetime, datetime]:
    """The instants from the first period's start to the last one's end, in the account's
    timezone (a little wide: rows are put in periods by their local day afterwards)."""
    zone = ZoneInfo(account.timezone)
    first = datetime.combine(spans[0].first, time(), zone).astimezone(UTC)
    after = datetime.combine(spans[-1].last + timedelta(days=1), time(), zone).astimezone(UTC)
    return first, after


def payments_series(
    session: Session, account: Account, *, start: date, end: date, interval: str, currency: str
) -> list[dict[str, Any]]:
    """Per period: `failed`, the invoices whose first failed payment fell in it; `recovered`,
    how many of those were paid since; their ratio; and `collected`, what succeeded payments
    brought in (before refunds)."""
    spans = periods(start, end, interval)
    first, after = _utc_bounds(account, spans)
    first_failure = (
        select(Payment.invoice_id, func.min(Payment.created_at).label("failed_at"))
        .where(
            Payment.account_id == account.id,
            Payment.currency == currency,
            Payment.status == "failed",
            Payment.invoice_id.is_not(None),
        )
        .group_by(Payment.invoice_id)
        .subquery()
    )
    failed: dict[str, int] = {}
    recovered: dict[str, int] = {}
    for failed_at, status in session.execute(
        select(first_failure.c.failed_at, Invoice.status)
        .join(Invoice, Invoice.id == first_failure.c.invoice_id)
        .where(first_failure.c.failed_at >= first, first_failure.c.failed_at < after)
    ):
        label = _label(periods_local_date(failed_at, account.timezone), interval)
        failed[label] = failed.get(label, 0) + 1
        if status == "paid":
            recovered[label] = recovered.get(label, 0) + 1
    collected: dict[str, int] = {}
    for created_at, amount in session.execute(
        select(Payment.created_at, Payment.amount).where(
            Payment.account_id == account.id,
            Payment.currency == currency,
            Payment.status == "succeeded",
            Payment.created_at >= first,
            Payment.created_at < after,
        )
    ):
        label = _label(periods_local_date(created_at, account.timezone), interval)
        collected[label] = collected.get(label, 0) + int(amount)
    return [
        {
            "period": span.label,
            "failed": failed.get(span.label, 0),
            "recovered": recovered.get(span.label, 0),
            "recovery_rate": _rate(recovered.get(span.label, 0), failed.get(span.label, 0)),
            "collected": money.format_amount(collected.get(span.label, 0), currency),
        }
        for span in spans
    ]


UNKNOWN_REASON = "unknown"


def cancellation_reasons(
    session: Session, account: Account, *, start: date, end: date, currency: str
) -> list[dict[str, Any]]:
    """Subscriptions canceled in the months from `start` to `end` (by the day their MRR went),
    by the reason given: how many, and the MRR they took; most MRR first.

    A cancellation may give several reasons: it counts, with all the MRR it took,
    under each of them, so the counts (and the MRR) of the rows add up to more than the
    cancellations when some gave more than one."""
    spans = periods(start, end, "month")
    # One row per combination of reasons given (a handful), not per subscription. The list
    # is grouped as its JSON text: PostgreSQL's JSON has no equality to group by.
    reasons_text = cast(Subscription.cancellation_reasons, Text)
    rows = session.execute(
        select(
            Subscription.cancellation_reason,
            reasons_text,
            func.count(func.distinct(MrrMovement.subscription_id)),
            func.sum(MrrMovement.amount),
        )
        .join(Subscription, Subscription.id == MrrMovement.subscription_id)
        .where(
            MrrMovement.account_id == account.id,
            MrrMovement.currency == currency,
            MrrMovement.kind == MRR_CHURNED,
            MrrMovement.effective_on >= spans[0].first,
            MrrMovement.effective_on <= spans[-1].last,
            Subscription.status == "canceled",
        )
        .group_by(Subscription.cancellation_reason, reasons_text)
    ).all()
    counts: dict[str, int] = {}
    lost: dict[str, int] = {}
    for first, listed, count, amount in rows:
        given = subscription_reasons(first, json.loads(listed) if listed else None)
        for reason in given or [UNKNOWN_REASON]:
            counts[reason] = counts.get(reason, 0) + int(count)
            lost[reason] = lost.get(reason, 0) - int(amount)
    ranked = sorted(counts, key=lambda reason: (-lost[reason], reason))
    return [
        {"reason": reason, "count": counts[reason], "mrr": _amount(lost[reason], currency)}
        for reason in ranked
    ]
