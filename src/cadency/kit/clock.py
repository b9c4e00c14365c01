"""What time it is for an account: real time in live mode, the account's own clock in test mode."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from cadency.kit import periods


class HasClock(Protocol):
    mode: str
    timezone: str
    clock_now: datetime | None


def real_now() -> datetime:
    return datetime.now(UTC)


def account_now(account: HasClock) -> datetime:
    """The current instant for this account (aware UTC)."""
    if account.mode == "test" and account.clock_now is not None:
        return account.clock_now
    return real_now()


def account_today(account: HasClock) -> date:
    """Today's calendar date in the account's timezone: billing dates are these dates."""
    return periods.local_date(account_now(account), account.timezone)
