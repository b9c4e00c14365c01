"""Billing-date arithmetic: the one module that computes billing periods and their dates.

Billing dates are calendar dates in the account's timezone. Periods are anchored on the billing
start date and every period start is computed from the anchor (never from the previous period),
so a month-based anchor on the 29th-31st falls on the last day of shorter months and returns to
the anchor day afterwards: Jan 31 -> Feb 28 (29) -> Mar 31 -> Apr 30.

Work due on a date runs as soon as that date begins in the account's timezone; use
`start_of_day_utc` to get that instant and `local_date` for the reverse.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

__all__ = [
    "BillingFrequency",
    "add_days",
    "add_months",
    "days_between",
    "fixed_term_end",
    "local_date",
    "monthly_factor",
    "period_containing",
    "period_index_containing",
    "period_start",
    "start_of_day_utc",
]


class BillingFrequency(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    PER_SIX_MONTHS = "per_six_months"
    ANNUALLY = "annually"
    PER_TWO_YEARS = "per_two_years"
    PER_THREE_YEARS = "per_three_years"
    PER_FOUR_YEARS = "per_four_years"
    PER_FIVE_YEARS = "per_five_years"


_DAYS_PER_PERIOD: dict[BillingFrequency, int] = {
    BillingFrequency.WEEKLY: 7,
    BillingFrequency.BIWEEKLY: 14,
}
_MONTHS_PER_PERIOD: dict[BillingFrequency, int] = {
    BillingFrequency.MONTHLY: 1,
    BillingFrequency.QUARTERLY: 3,
    BillingFrequency.PER_SIX_MONTHS: 6,
    BillingFrequency.ANNUALLY: 12,
    BillingFrequency.PER_TWO_YEARS: 24,
    BillingFrequency.PER_THREE_YEARS: 36,
    BillingFrequency.PER_FOUR_YEARS: 48,
    BillingFrequency.PER_FIVE_YEARS: 60,
}
# Day-based periods per month for MRR: 52 weeks (26 fortnights) a year over 12 months.
_DAY_BASED_MONTHLY_FACTOR: dict[BillingFrequency, Fraction] = {
    BillingFrequency.WEEKLY: Fraction(52, 12),
    BillingFrequency.BIWEEKLY: Fraction(26, 12),
}


def add_days(day: date, days: int) -> date:
    """`day` moved by `days` calendar days (negative moves back)."""
    return day + timedelta(days=days)


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, clamped to the last day of a shorter month."""
    result: date = day + relativedelta(months=months)
    return result


def days_between(a: date, b: date) -> int:
    """Calendar days from `a` to `b` (negative when `b` is before `a`)."""
    return (b - a).days


# A billing run asks the same questions of many subscriptions that share an anchor day and a
# frequency (the renewals due today): the answers of these pure functions are kept, a bounded
# number of them, so relativedelta runs once per (anchor, frequency, n) instead of per row.
_CACHED = 4_096


@functools.lru_cache(maxsize=_CACHED)
def period_start(anchor: date, frequency: BillingFrequency | str, n: int) -> date:
    """Start of the `n`-th period of a schedule anchored on `anchor` (n=0 is the anchor)."""
    frequency = BillingFrequency(frequency)
    if frequency in _DAYS_PER_PERIOD:
        return add_days(anchor, _DAYS_PER_PERIOD[frequency] * n)
    return add_months(anchor, _MONTHS_PER_PERIOD[frequency] * n)


def fixed_term_end(start: date, frequency: BillingFrequency | str, number_of_payments: int) -> date:
    """End date of a fixed term of `number_of_payments` periods (the day after the last period).

    Started 1 March with 6 monthly payments -> 1 September.
    """
    if number_of_payments < 1:
        raise ValueError(f"a fixed term needs at least one payment, not {number_of_payments}")
    return period_start(start, frequency, number_of_payments)


@functools.lru_cache(maxsize=_CACHED)
def period_index_containing(anchor: date, frequency: BillingFrequency | str, day: date) -> int:
    """Index n of the period [period_start(n), period_start(n + 1)) that contains `day`.

    Constant time: the index is estimated from the day or month distance, then corrected.
    """
    frequency = BillingFrequency(frequency)
    if day < anchor:
        raise ValueError(f"{day.isoformat()} is before the anchor date {anchor.isoformat()}")
    if frequency in _DAYS_PER_PERIOD:
        return days_between(anchor, day) // _DAYS_PER_PERIOD[frequency]
    months = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    n = months // _MONTHS_PER_PERIOD[frequency]
    # Period n starts in the same month as `day` or earlier, and period n + 1 in a later month,
    # so the estimate is at most one too high (when n starts later in day's month).
    while n > 0 and period_start(anchor, frequency, n) > day:
        n -= 1
    while period_start(anchor, frequency, n + 1) <= day:
        n += 1
    return n


def period_containing(
    anchor: date, frequency: BillingFrequency | str, day: date
) -> tuple[date, date]:
    """The period containing `day` as (start inclusive, end exclusive); `day` >= `anchor`."""
    n = period_index_containing(anchor, frequency, day)
    return period_start(anchor, frequency, n), period_start(anchor, frequency, n + 1)


def monthly_factor(frequency: BillingFrequency | str) -> Fraction:
    """Periods per month, to normalise a recurring amount to MRR (annually -> 1/12)."""
    frequency = BillingFrequency(frequency)
    if frequency in _DAY_BASED_MONTHLY_FACTOR:
        return _DAY_BASED_MONTHLY_FACTOR[frequency]
    return Fraction(1, _MONTHS_PER_PERIOD[frequency])


# Monthly figures are kept in 720ths of a minor unit: 720 is the least common multiple of the
# denominators of every frequency's monthly factor (52/12, 26/12, 1/3, 1/6, 1/12, 1/24, 1/36,
# 1/48, 1/60), so any subscription's MRR is a whole number of them — exact, and summable.
MRR_SCALE = 720


def scaled_monthly(amount: int, frequency: BillingFrequency | str) -> int:
    """`amount` per period of `frequency`, per month, in 720ths (MRR_SCALE): exact."""
    scaled = monthly_factor(frequency) * amount * MRR_SCALE
    assert scaled.denominator == 1, f"{frequency} needs a larger MRR_SCALE"
    return int(scaled)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no timezone; pass an aware UTC datetime")


def local_date(moment_utc: datetime, tz: str) -> date:
    """The calendar date in the IANA timezone `tz` at the aware instant `moment_utc`."""
    _require_aware(moment_utc)
    return moment_utc.astimezone(ZoneInfo(tz)).date()


def local_days_of_utc_day(utc_day: date, tz: str) -> list[tuple[datetime, date]]:
    """The calendar days in the IANA timezone `tz` that the UTC day `utc_day` spans, each with
    the UTC instant within `utc_day` from which it is the local day (the first from UTC
    midnight): one or two, three when a local day of 23 hours fits inside. Converting many
    timestamps to local days (an export) then needs only a comparison of their time of day."""
    zone = ZoneInfo(tz)
    start = datetime.combine(utc_day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    days = [(start, start.astimezone(zone).date())]
    while True:
        begins = start_of_day_utc(days[-1][1] + timedelta(days=1), tz)
        if begins >= end:
            return days
        # A skipped local day (Pacific/Apia, 2011-12-30) begins where the next one does.
        days.append((begins, begins.astimezone(zone).date()))


def start_of_day_utc(day: date, tz: str) -> datetime:
    """The aware UTC instant at which `day` begins in the IANA timezone `tz`.

    Usually local midnight. When midnight is repeated (clocks go back to 00:00) it is the first
    midnight; when midnight does not exist (clocks jump from 00:00 to 01:00, as in
    America/Santiago or Asia/Beirut) it is the first instant of the day, the moment of the jump.
    If the whole day was skipped (Pacific/Apia on 2011-12-30) it is when the next day begins.
    """
    zone = ZoneInfo(tz)
    midnight = datetime.combine(day, time())
    # PEP 495: fold=0 uses the offset before a transition, fold=1 the offset after it. They agree
    # unless midnight is repeated (both are real; fold=0 is earlier) or skipped (neither is real).
    before = midnight.replace(tzinfo=zone, fold=0).astimezone(UTC)
    after = midnight.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if before.astimezone(zone).replace(tzinfo=None) == midnight:
        return min(before, after)
    # Skipped midnight: clocks jumped forward over it. With the earlier offset it maps to an
    # instant at or after the jump and with the later offset to one before it; bisect for the
    # first instant whose local date is `day` or later.
    low, high = min(before, after), max(before, after)
    if not _reached(high, zone, day) or _reached(low, zone, day):
        return high  # not a simple gap; cannot happen with real tz data
    step = timedelta(microseconds=1)
    while high - low > step:
        middle = low + (high - low) // 2
        if _reached(middle, zone, day):
            high = middle
        else:
            low = middle
    return high


def _reached(moment: datetime, zone: ZoneInfo, day: date) -> bool:
    return moment.astimezone(zone).date() >= day
