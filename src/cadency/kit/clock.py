"""What time it is for an account: real time in live mode, the account's own clock in test mode.

A test clock is stored as the simulated instant it was last set to (`clock_now`) and the real
instant at which that happened (`clock_set_at`); it runs on with real time from there. A clock
with no `clock_set_at` stands still at `clock_now` (tests pin one so to assert exact instants).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from cadency.kit import periods


class HasClock(Protocol):
    mode: str
    timezone: str
    clock_now: datetime | None
    clock_set_at: datetime | None


def real_now() -> datetime:
    return datetime.now(UTC)


def account_now(account: HasClock) -> datetime:
    """The current instant for this account (aware UTC)."""
    if account.mode == "test" and account.clock_now is not None:
        if account.clock_set_at is None:
            return account.clock_now
        return account.clock_now + max(real_now() - account.clock_set_at, timedelta(0))
    return real_now()


def set_clock(account: HasClock, instant: datetime) -> None:
    """Set a test-mode account's clock to `instant`, from which it runs on with real time."""
    account.clock_now = instant
    account.clock_set_at = real_now()


def stop_clock_at(account: HasClock, instant: datetime) -> None:
    """Hold a test-mode account's clock at `instant`: while an advance does the work due then,
    every record it writes carries that instant exactly."""
    account.clock_now = instant
    account.clock_set_at = None


def account_today(account: HasClock) -> date:
    """Today's calendar date in the account's timezone: billing dates are these dates."""
    return periods.local_date(account_now(account), account.timezone)
