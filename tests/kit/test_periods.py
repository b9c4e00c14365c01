from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadency.kit import periods
from cadency.kit.periods import (
    BillingFrequency,
    add_days,
    add_months,
    days_between,
    fixed_term_end,
    local_date,
    monthly_factor,
    period_containing,
    period_index_containing,
    period_start,
    start_of_day_utc,
)

F = BillingFrequency
MONTHS_PER_PERIOD = {
    F.MONTHLY: 1,
    F.QUARTERLY: 3,
    F.PER_SIX_MONTHS: 6,
    F.ANNUALLY: 12,
    F.PER_TWO_YEARS: 24,
    F.PER_THREE_YEARS: 36,
    F.PER_FOUR_YEARS: 48,
    F.PER_FIVE_YEARS: 60,
}
DAYS_PER_PERIOD = {F.WEEKLY: 7, F.BIWEEKLY: 14}

frequencies = st.sampled_from(list(BillingFrequency))
month_based = st.sampled_from(sorted(MONTHS_PER_PERIOD))
anchors = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- the frequency list -----------------------------------------------------------------------


def test_billing_frequency_values() -> None:
    assert [f.value for f in BillingFrequency] == [
        "weekly",
        "biweekly",
        "monthly",
        "quarterly",
        "per_six_months",
        "annually",
        "per_two_years",
        "per_three_years",
        "per_four_years",
        "per_five_years",
    ]
    assert set(BillingFrequency) == set(MONTHS_PER_PERIOD) | set(DAYS_PER_PERIOD)


@pytest.mark.parametrize(
    ("frequency", "factor"),
    [
        (F.WEEKLY, Fraction(52, 12)),
        (F.BIWEEKLY, Fraction(26, 12)),
        (F.MONTHLY, Fraction(1)),
        (F.QUARTERLY, Fraction(1, 3)),
        (F.PER_SIX_MONTHS, Fraction(1, 6)),
        (F.ANNUALLY, Fraction(1, 12)),
        (F.PER_TWO_YEARS, Fraction(1, 24)),
        (F.PER_THREE_YEARS, Fraction(1, 36)),
        (F.PER_FOUR_YEARS, Fraction(1, 48)),
        (F.PER_FIVE_YEARS, Fraction(1, 60)),
    ],
)
def test_monthly_factor(frequency: BillingFrequency, factor: Fraction) -> None:
    assert monthly_factor(frequency) == factor
    assert monthly_factor(frequency.value) == factor


def test_unknown_frequency_is_rejected() -> None:
    with pytest.raises(ValueError, match="fortnightly"):
        period_start(date(2026, 1, 1), "fortnightly", 1)


# --- period_start -----------------------------------------------------------------------------


def test_jan_31_monthly_anchor_over_a_leap_year() -> None:
    starts = [period_start(date(2024, 1, 31), F.MONTHLY, n) for n in range(14)]
    assert starts == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
        date(2024, 7, 31),
        date(2024, 8, 31),
        date(2024, 9, 30),
        date(2024, 10, 31),
        date(2024, 11, 30),
        date(2024, 12, 31),
        date(2025, 1, 31),
        date(2025, 2, 28),
    ]


def test_jan_31_monthly_anchor_in_a_common_year() -> None:
    assert period_start(date(2023, 1, 31), F.MONTHLY, 1) == date(2023, 2, 28)
    assert period_start(date(2023, 1, 31), F.MONTHLY, 2) == date(2023, 3, 31)


def test_feb_29_annual_anchor() -> None:
    starts = [period_start(date(2024, 2, 29), F.ANNUALLY, n) for n in range(6)]
    assert starts == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2029, 2, 28),
    ]


def test_quarterly_anchor_on_the_30th() -> None:
    starts = [period_start(date(2023, 11, 30), F.QUARTERLY, n) for n in range(5)]
    assert starts == [
        date(2023, 11, 30),
        date(2024, 2, 29),
        date(2024, 5, 30),
        date(2024, 8, 30),
        date(2024, 11, 30),
    ]


@pytest.mark.parametrize(
    ("anchor", "frequency", "n", "expected"),
    [
        (date(2026, 1, 1), F.WEEKLY, 0, date(2026, 1, 1)),
        (date(2026, 1, 1), F.WEEKLY, 1, date(2026, 1, 8)),
        (date(2026, 12, 29), F.WEEKLY, 1, date(2027, 1, 5)),
        (date(2026, 1, 1), F.BIWEEKLY, 3, date(2026, 2, 12)),
        (date(2024, 2, 15), F.BIWEEKLY, 1, date(2024, 2, 29)),
        (date(2026, 8, 31), F.PER_SIX_MONTHS, 1, date(2027, 2, 28)),
        (date(2026, 8, 31), F.PER_SIX_MONTHS, 2, date(2027, 8, 31)),
        (date(2024, 2, 29), F.PER_TWO_YEARS, 1, date(2026, 2, 28)),
        (date(2024, 2, 29), F.PER_FOUR_YEARS, 1, date(2028, 2, 29)),
        (date(2024, 2, 29), F.PER_THREE_YEARS, 1, date(2027, 2, 28)),
        (date(2024, 2, 29), F.PER_FIVE_YEARS, 1, date(2029, 2, 28)),
        (date(2026, 3, 31), "monthly", -1, date(2026, 2, 28)),
    ],
)
def test_period_start(
    anchor: date, frequency: BillingFrequency | str, n: int, expected: date
) -> None:
    assert period_start(anchor, frequency, n) == expected


# --- fixed_term_end ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "frequency", "payments", "end"),
    [
        (date(2026, 3, 1), F.MONTHLY, 6, date(2026, 9, 1)),
        (date(2024, 1, 31), F.MONTHLY, 1, date(2024, 2, 29)),
        (date(2024, 1, 31), F.MONTHLY, 3, date(2024, 4, 30)),
        (date(2026, 1, 1), F.WEEKLY, 4, date(2026, 1, 29)),
        (date(2026, 1, 1), F.BIWEEKLY, 2, date(2026, 1, 29)),
        (date(2026, 5, 15), F.ANNUALLY, 3, date(2029, 5, 15)),
        (date(2026, 5, 15), F.QUARTERLY, 4, date(2027, 5, 15)),
    ],
)
def test_fixed_term_end(start: date, frequency: BillingFrequency, payments: int, end: date) -> None:
    assert fixed_term_end(start, frequency, payments) == end


@pytest.mark.parametrize("payments", [0, -1])
def test_fixed_term_needs_a_payment(payments: int) -> None:
    with pytest.raises(ValueError, match="at least one payment"):
        fixed_term_end(date(2026, 3, 1), F.MONTHLY, payments)


# --- period_index_containing / period_containing ----------------------------------------------


@pytest.mark.parametrize(
    ("day", "index", "period"),
    [
        (date(2024, 1, 31), 0, (date(2024, 1, 31), date(2024, 2, 29))),
        (date(2024, 2, 28), 0, (date(2024, 1, 31), date(2024, 2, 29))),
        (date(2024, 2, 29), 1, (date(2024, 2, 29), date(2024, 3, 31))),
        (date(2024, 3, 30), 1, (date(2024, 2, 29), date(2024, 3, 31))),
        (date(2024, 3, 31), 2, (date(2024, 3, 31), date(2024, 4, 30))),
        (date(2024, 4, 29), 2, (date(2024, 3, 31), date(2024, 4, 30))),
        (date(2025, 2, 28), 13, (date(2025, 2, 28), date(2025, 3, 31))),
    ],
)
def test_period_containing_monthly_from_jan_31(
    day: date, index: int, period: tuple[date, date]
) -> None:
    assert period_index_containing(date(2024, 1, 31), F.MONTHLY, day) == index
    assert period_containing(date(2024, 1, 31), F.MONTHLY, day) == period


def test_period_containing_weekly() -> None:
    anchor = date(2026, 1, 7)
    assert period_index_containing(anchor, F.WEEKLY, date(2026, 1, 13)) == 0
    assert period_index_containing(anchor, F.WEEKLY, date(2026, 1, 14)) == 1
    assert period_containing(anchor, F.WEEKLY, date(2026, 1, 20)) == (
        date(2026, 1, 14),
        date(2026, 1, 21),
    )
    assert period_containing(anchor, F.BIWEEKLY, date(2026, 1, 21)) == (
        date(2026, 1, 21),
        date(2026, 2, 4),
    )


def test_period_containing_rejects_days_before_the_anchor() -> None:
    with pytest.raises(ValueError, match="before the anchor date 2026-03-01"):
        period_containing(date(2026, 3, 1), F.MONTHLY, date(2026, 2, 28))


def test_period_index_is_computed_without_walking_the_periods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real_period_start: Callable[[date, BillingFrequency | str, int], date] = periods.period_start

    def counting(anchor: date, frequency: BillingFrequency | str, n: int) -> date:
        calls.append(n)
        return real_period_start(anchor, frequency, n)

    monkeypatch.setattr(periods, "period_start", counting)
    assert period_index_containing(date(1, 1, 31), F.MONTHLY, date(9999, 12, 30)) == 119986
    assert len(calls) <= 3
    calls.clear()
    assert period_index_containing(date(1, 1, 1), F.WEEKLY, date(9999, 12, 31)) == 521722
    assert len(calls) <= 3


# --- plain date arithmetic --------------------------------------------------------------------


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2024, 5, 31), 1) == date(2024, 6, 30)
    assert add_months(date(2024, 12, 15), 1) == date(2025, 1, 15)
    assert add_months(date(2024, 12, 15), 0) == date(2024, 12, 15)


def test_add_days_and_days_between() -> None:
    assert add_days(date(2024, 2, 28), 1) == date(2024, 2, 29)
    assert add_days(date(2025, 2, 28), 1) == date(2025, 3, 1)
    assert add_days(date(2026, 1, 1), -1) == date(2025, 12, 31)
    assert days_between(date(2024, 1, 1), date(2025, 1, 1)) == 366
    assert days_between(date(2025, 1, 1), date(2024, 1, 1)) == -366
    assert days_between(date(2026, 3, 1), date(2026, 3, 1)) == 0


# --- timezones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "tz", "day"),
    [
        (utc(2026, 2, 28, 18, 29, 59), "Asia/Kolkata", date(2026, 2, 28)),
        (utc(2026, 2, 28, 18, 30), "Asia/Kolkata", date(2026, 3, 1)),
        (utc(2026, 3, 2, 4, 59, 59), "America/Bogota", date(2026, 3, 1)),
        (utc(2026, 3, 2, 5, 0), "America/Bogota", date(2026, 3, 2)),
        (utc(2026, 9, 26, 11, 59, 59), "Pacific/Auckland", date(2026, 9, 26)),
        (utc(2026, 9, 26, 12, 0), "Pacific/Auckland", date(2026, 9, 27)),
        (utc(2026, 9, 27, 11, 0), "Pacific/Auckland", date(2026, 9, 28)),
        (utc(2026, 1, 1, 0, 0), "UTC", date(2026, 1, 1)),
        (
            datetime(2026, 3, 1, 1, 0, tzinfo=ZoneInfo("Asia/Kolkata")),
            "UTC",
            date(2026, 2, 28),
        ),
    ],
)
def test_local_date(moment: datetime, tz: str, day: date) -> None:
    assert local_date(moment, tz) == day


def test_local_date_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        local_date(datetime(2026, 1, 1, 12, 0), "UTC")


@pytest.mark.parametrize(
    ("day", "tz", "instant"),
    [
        (date(2026, 1, 1), "UTC", utc(2026, 1, 1)),
        (date(2026, 3, 1), "Asia/Kolkata", utc(2026, 2, 28, 18, 30)),
        (date(2026, 3, 8), "America/Bogota", utc(2026, 3, 8, 5, 0)),
        (date(2026, 11, 1), "America/Bogota", utc(2026, 11, 1, 5, 0)),
        # Auckland: NZDT (+13) ends 2026-04-05 03:00 -> 02:00, NZST (+12) until 2026-09-27.
        (date(2026, 4, 5), "Pacific/Auckland", utc(2026, 4, 4, 11, 0)),
        (date(2026, 4, 6), "Pacific/Auckland", utc(2026, 4, 5, 12, 0)),
        (date(2026, 9, 27), "Pacific/Auckland", utc(2026, 9, 26, 12, 0)),
        (date(2026, 9, 28), "Pacific/Auckland", utc(2026, 9, 27, 11, 0)),
        # Santiago: midnight is skipped on 2026-09-06 (00:00 -04 -> 01:00 -03), so the day
        # begins at the jump; on 2026-04-05 clocks go back at midnight to 23:00 Saturday.
        (date(2026, 9, 5), "America/Santiago", utc(2026, 9, 5, 4, 0)),
        (date(2026, 9, 6), "America/Santiago", utc(2026, 9, 6, 4, 0)),
        (date(2026, 9, 7), "America/Santiago", utc(2026, 9, 7, 3, 0)),
        (date(2026, 4, 4), "America/Santiago", utc(2026, 4, 4, 3, 0)),
        (date(2026, 4, 5), "America/Santiago", utc(2026, 4, 5, 4, 0)),
        # Beirut: midnight skipped on 2026-03-29 (00:00 +02 -> 01:00 +03).
        (date(2026, 3, 29), "Asia/Beirut", utc(2026, 3, 28, 22, 0)),
        (date(2026, 10, 25), "Asia/Beirut", utc(2026, 10, 24, 22, 0)),
        # Havana: midnight skipped on 2026-03-08; repeated on 2026-11-01 (01:00 -> 00:00).
        (date(2026, 3, 8), "America/Havana", utc(2026, 3, 8, 5, 0)),
        (date(2026, 11, 1), "America/Havana", utc(2026, 11, 1, 4, 0)),
        # Samoa skipped 2011-12-30 entirely: that day "begins" when 2011-12-31 does.
        (date(2011, 12, 30), "Pacific/Apia", utc(2011, 12, 30, 10, 0)),
        (date(2011, 12, 31), "Pacific/Apia", utc(2011, 12, 30, 10, 0)),
    ],
)
def test_start_of_day_utc(day: date, tz: str, instant: datetime) -> None:
    result = start_of_day_utc(day, tz)
    assert result == instant
    assert result.utcoffset() == timedelta(0)


# --- properties -------------------------------------------------------------------------------


@given(anchor=anchors, frequency=frequencies, n=st.integers(min_value=-300, max_value=300))
def test_period_start_is_strictly_increasing(
    anchor: date, frequency: BillingFrequency, n: int
) -> None:
    assert period_start(anchor, frequency, n) < period_start(anchor, frequency, n + 1)
    assert period_start(anchor, frequency, 0) == anchor


@given(anchor=anchors, frequency=month_based, n=st.integers(min_value=0, max_value=200))
def test_month_based_period_start_keeps_the_anchor_day(
    anchor: date, frequency: BillingFrequency, n: int
) -> None:
    start = period_start(anchor, frequency, n)
    months = anchor.year * 12 + anchor.month - 1 + n * MONTHS_PER_PERIOD[frequency]
    year, month = divmod(months, 12)
    assert (start.year, start.month) == (year, month + 1)
    assert start.day == min(anchor.day, calendar.monthrange(year, month + 1)[1])


@given(
    anchor=anchors,
    frequency=st.sampled_from(sorted(DAYS_PER_PERIOD)),
    n=st.integers(min_value=0, max_value=2000),
)
def test_day_based_periods_have_a_fixed_length(
    anchor: date, frequency: BillingFrequency, n: int
) -> None:
    assert (
        days_between(anchor, period_start(anchor, frequency, n)) == n * DAYS_PER_PERIOD[frequency]
    )


@given(anchor=anchors, frequency=frequencies, offset=st.integers(min_value=0, max_value=40_000))
def test_period_containing_contains_the_day(
    anchor: date, frequency: BillingFrequency, offset: int
) -> None:
    day = anchor + timedelta(days=offset)
    n = period_index_containing(anchor, frequency, day)
    start, end = period_containing(anchor, frequency, day)
    assert start <= day < end
    assert start == period_start(anchor, frequency, n)
    assert end == period_start(anchor, frequency, n + 1)


@given(anchor=anchors, frequency=frequencies, offset=st.integers(min_value=0, max_value=800))
def test_period_index_matches_a_linear_walk(
    anchor: date, frequency: BillingFrequency, offset: int
) -> None:
    day = anchor + timedelta(days=offset)
    walked = 0
    while period_start(anchor, frequency, walked + 1) <= day:
        walked += 1
    assert period_index_containing(anchor, frequency, day) == walked


@given(anchor=anchors, frequency=frequencies, payments=st.integers(min_value=1, max_value=120))
def test_fixed_term_end_is_the_start_of_the_period_after_the_last(
    anchor: date, frequency: BillingFrequency, payments: int
) -> None:
    end = fixed_term_end(anchor, frequency, payments)
    assert end == period_start(anchor, frequency, payments)
    last_day = end - timedelta(days=1)
    assert period_index_containing(anchor, frequency, last_day) == payments - 1
    assert period_containing(anchor, frequency, last_day)[1] == end


# Zones with DST, half-hour offsets, and midnight transitions (skipped or repeated midnights).
ZONES = [
    "UTC",
    "Asia/Kolkata",
    "America/Bogota",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Beirut",
    "America/Havana",
    "America/Asuncion",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Africa/Cairo",
    "Europe/Amsterdam",
    "America/New_York",
]
days = st.dates(min_value=date(1970, 1, 2), max_value=date(2100, 12, 31))
ONE_MICROSECOND = timedelta(microseconds=1)


@given(day=days, tz=st.sampled_from(ZONES))
def test_start_of_day_utc_is_the_first_instant_of_the_day(day: date, tz: str) -> None:
    start = start_of_day_utc(day, tz)
    assert start.utcoffset() == timedelta(0)
    assert local_date(start, tz) == day
    assert local_date(start - ONE_MICROSECOND, tz) == day - timedelta(days=1)


@given(day=days, tz=st.timezone_keys())
def test_start_of_day_utc_is_when_the_date_is_reached_in_every_zone(day: date, tz: str) -> None:
    # Looser than above: in a zone that skipped `day` entirely (Pacific/Apia, 2011-12-30) the
    # local date jumps past it.
    start = start_of_day_utc(day, tz)
    assert local_date(start, tz) >= day
    assert local_date(start - ONE_MICROSECOND, tz) < day


@pytest.mark.parametrize(
    ("tz", "utc_day"),
    [
        ("UTC", date(2026, 3, 1)),
        ("Europe/Amsterdam", date(2026, 3, 29)),  # clocks forward at 01:00 UTC
        ("Europe/Amsterdam", date(2026, 10, 24)),  # the evening before clocks go back
        ("Asia/Kolkata", date(2026, 6, 1)),  # +05:30: the day changes at 18:30 UTC
        ("America/St_Johns", date(2026, 11, 1)),  # -03:30, and back to -02:30 that night
        ("America/Santiago", date(2026, 9, 6)),  # local midnight is skipped
        ("Pacific/Apia", date(2011, 12, 30)),  # the whole local day was skipped
        ("Pacific/Kiritimati", date(2026, 1, 1)),  # +14
    ],
)
def test_local_days_of_a_utc_day_agree_with_local_date_minute_by_minute(
    tz: str, utc_day: date
) -> None:
    spans = periods.local_days_of_utc_day(utc_day, tz)
    start = datetime.combine(utc_day, time(), tzinfo=UTC)
    assert spans[0][0] == start
    for minute in range(24 * 60):
        moment = start + timedelta(minutes=minute, seconds=30)
        expected = periods.local_date(moment, tz)
        found = [day for begins, day in spans if begins <= moment][-1]
        assert found == expected, (tz, moment)
    for (_, before), (begins, day) in itertools.pairwise(spans):
        assert periods.local_date(begins, tz) == day != before
        assert periods.local_date(begins - timedelta(microseconds=1), tz) == before
