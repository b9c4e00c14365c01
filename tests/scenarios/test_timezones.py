"""Billing dates are dates in the account's timezone, and work due on a date runs as soon as that
date begins there — also across daylight-saving changes (Pacific/Auckland leaves DST on
2026-04-05 and enters it on 2026-09-27)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.scenarios.story import Story, inv, paid

ZONES = ["UTC", "Asia/Kolkata", "America/Bogota", "Pacific/Auckland"]
REMINDER = "subscription.renewal_reminder"
RENEWED = ["invoice.created", "payment.succeeded"]
ONE_MINUTE = timedelta(minutes=1)


def local(zone: str, day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone))


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("zone", ZONES)
def test_monthly_renewals_and_reminders_run_as_the_local_day_begins(
    client: Any, session_factory: Any, zone: str
) -> None:
    # 10:00 on March 1st local time; in Auckland that is still February 28th in UTC.
    story = Story(client, session_factory, timezone=zone, start=local(zone, date(2026, 3, 1), 10))
    sub = story.subscribe()
    sid = sub["id"]
    invoices = [inv("2026-03-01", "2026-04-01")]
    story.expect(
        sid,
        status="active",
        invoices=invoices,
        payments=[paid()],
        outbox=RENEWED,
        start_date="2026-03-01",
        next_payment_date="2026-04-01",
    )

    story.advance(local(zone, date(2026, 3, 18)) - ONE_MINUTE)
    story.expect(sid, status="active", invoices=invoices, payments=[paid()])
    story.advance(local(zone, date(2026, 3, 18)))
    story.expect(sid, status="active", invoices=invoices, payments=[paid()], outbox=[REMINDER])

    story.advance(local(zone, date(2026, 4, 1)) - ONE_MINUTE)
    story.expect(sid, status="active", invoices=invoices, payments=[paid()])
    story.advance(local(zone, date(2026, 4, 1), 0, 30))
    invoices.append(inv("2026-04-01", "2026-05-01"))
    story.expect(sid, status="active", invoices=invoices, payments=[paid()] * 2, outbox=RENEWED)
    april = story.invoice(sid)
    # The work ran at the instant the local day began, and its records carry that time.
    assert april["paid_at"] == utc_iso(local(zone, date(2026, 4, 1)))
    assert april["created_at"] == utc_iso(local(zone, date(2026, 4, 1)))

    # Through Auckland's DST change on April 5th and back on September 27th.
    story.advance(local(zone, date(2026, 10, 1)) - ONE_MINUTE)
    months = ["05", "06", "07", "08", "09"]
    invoices += [inv(f"2026-{m}-01", f"2026-{int(m) + 1:02d}-01") for m in months]
    story.expect(
        sid,
        status="active",
        invoices=invoices,
        payments=[paid()] * 7,
        outbox=[*[REMINDER, *RENEWED] * 5, REMINDER],
    )
    reminded_at = [r["next_payment_date"] for r in story.outbox_payloads(sid, REMINDER)]
    assert reminded_at == [f"2026-{m:02d}-01" for m in range(4, 11)]

    story.advance(local(zone, date(2026, 10, 1), 0, 30))
    invoices.append(inv("2026-10-01", "2026-11-01"))
    story.expect(sid, status="active", invoices=invoices, payments=[paid()] * 8, outbox=RENEWED)
    assert story.invoice(sid)["paid_at"] == utc_iso(local(zone, date(2026, 10, 1)))


def test_auckland_weekly_renewals_on_the_days_the_clocks_change(
    client: Any, session_factory: Any
) -> None:
    """A weekly plan anchored on Sunday March 29th renews on Sunday April 5th (03:00 NZDT becomes
    02:00 NZST) and on Sunday September 27th (02:00 NZST becomes 03:00 NZDT)."""
    zone = "Pacific/Auckland"
    story = Story(client, session_factory, timezone=zone, start=local(zone, date(2026, 3, 29), 9))
    story.settings(renewal_reminder_days=None)
    sub = story.subscribe(frequency="weekly", price="7.00")
    sid = sub["id"]

    def weekly(count: int) -> list[tuple[str, str, str, str, str]]:
        starts = [date(2026, 3, 29) + timedelta(weeks=n) for n in range(count)]
        return [inv(s.isoformat(), (s + timedelta(weeks=1)).isoformat(), "7.00") for s in starts]

    story.expect(sid, status="active", invoices=weekly(1), payments=[paid("7.00")], outbox=RENEWED)

    # 23:59 on Saturday April 4th is 10:59 UTC (NZDT, +13); the Sunday begins one minute later.
    story.advance(local(zone, date(2026, 4, 4), 23, 59))
    story.expect(sid, status="active", invoices=weekly(1), payments=[paid("7.00")])
    story.advance(local(zone, date(2026, 4, 5)))
    story.expect(
        sid, status="active", invoices=weekly(2), payments=[paid("7.00")] * 2, outbox=RENEWED
    )
    assert story.invoice(sid)["paid_at"] == "2026-04-04T11:00:00Z"

    # The next Saturday midnight is at +12: 12:00 UTC, an hour later in UTC than a week before.
    story.advance(datetime(2026, 4, 11, 11, 59, tzinfo=UTC))
    story.expect(sid, status="active", invoices=weekly(2), payments=[paid("7.00")] * 2)
    story.advance(datetime(2026, 4, 11, 12, 0, tzinfo=UTC))
    story.expect(
        sid, status="active", invoices=weekly(3), payments=[paid("7.00")] * 3, outbox=RENEWED
    )

    # Saturday September 26th 23:59 NZST is 11:59 UTC; Sunday the 27th begins at 12:00 UTC.
    story.advance(local(zone, date(2026, 9, 26), 23, 59))
    assert story.at(date(2026, 9, 26)).utcoffset() == timedelta(hours=12)
    story.expect(
        sid,
        status="active",
        invoices=weekly(26),
        payments=[paid("7.00")] * 26,
        outbox=RENEWED * 23,
    )
    story.advance(local(zone, date(2026, 9, 27), 0, 30))
    story.expect(
        sid, status="active", invoices=weekly(27), payments=[paid("7.00")] * 27, outbox=RENEWED
    )
    assert story.invoice(sid)["paid_at"] == "2026-09-26T12:00:00Z"

    # After the change midnight is at +13 again: 11:00 UTC on Saturday October 3rd.
    story.advance(datetime(2026, 10, 3, 10, 59, tzinfo=UTC))
    story.expect(sid, status="active", invoices=weekly(27), payments=[paid("7.00")] * 27)
    story.advance(datetime(2026, 10, 3, 11, 0, tzinfo=UTC))
    story.expect(
        sid, status="active", invoices=weekly(28), payments=[paid("7.00")] * 28, outbox=RENEWED
    )


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Bogota", "Pacific/Auckland"])
def test_dunning_retries_run_on_local_dates(client: Any, session_factory: Any, zone: str) -> None:
    """Created late in the local evening, when the UTC date differs: the retries are 3, 5 and 7
    local days later, each at local midnight."""
    story = Story(client, session_factory, timezone=zone, start=local(zone, date(2026, 6, 10), 23))
    sub = story.subscribe(card="4000000000000341")
    sid = sub["id"]
    june = inv("2026-06-10", "2026-07-10", status="open")
    failed = ("25.00", "failed", "card_declined")
    story.expect(
        sid,
        status="unpaid",
        invoices=[june],
        payments=[failed],
        outbox=["invoice.created", "payment.failed", "subscription.status_changed"],
    )
    assert story.invoice(sid)["next_attempt_date"] == "2026-06-13"
    for retry, count in ((date(2026, 6, 13), 2), (date(2026, 6, 15), 3)):
        story.advance(local(zone, retry) - ONE_MINUTE)
        story.expect(sid, status="unpaid", invoices=[june], payments=[failed] * (count - 1))
        story.advance(local(zone, retry))
        story.expect(
            sid,
            status="unpaid",
            invoices=[june],
            payments=[failed] * count,
            outbox=["payment.failed"],
        )
    story.advance(local(zone, date(2026, 6, 17)))
    story.expect(
        sid,
        status="canceled",
        invoices=[inv("2026-06-10", "2026-07-10", status="uncollectible")],
        payments=[failed] * 4,
        outbox=["payment.failed", "subscription.status_changed", "subscription.canceled"],
        canceled_at=utc_iso(local(zone, date(2026, 6, 17))),
    )
