"""Every billing frequency keeps its own rhythm over a span of time, in currencies with 0 and 3
decimals as well as 2."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.scenarios.story import Story, inv, paid

REMINDER = "subscription.renewal_reminder"
RENEWED = ["invoice.created", "payment.succeeded"]


def tax_rate(story: Story, percentage: str) -> str:
    rate = story.api.ok(
        story.api.post("/tax-rates", {"name": f"VAT {percentage}", "percentage": percentage})
    )
    return str(rate["id"])


def test_weekly_in_yen_with_tax(client: Any, session_factory: Any) -> None:
    story = Story(
        client, session_factory, start=datetime(2026, 3, 2, 8, tzinfo=UTC), currency="JPY"
    )
    story.settings(renewal_reminder_days=None)
    sub = story.subscribe(
        currency="JPY",
        frequency="weekly",
        price="1200",
        item={"tax_rate_id": tax_rate(story, "10")},
    )
    sid = sub["id"]
    assert (sub["next_payment_amount"], sub["mrr"]) == ("1320", "5200")  # 1200 * 52 / 12

    def weeks(count: int) -> list[tuple[str, str, str, str, str]]:
        starts = [date(2026, 3, 2) + timedelta(weeks=n) for n in range(count)]
        return [inv(s.isoformat(), (s + timedelta(weeks=1)).isoformat(), "1320") for s in starts]

    story.expect(sid, status="active", invoices=weeks(1), payments=[paid("1320")], outbox=RENEWED)
    first = story.invoice(sid)
    assert (first["subtotal"], first["tax_total"], first["total"]) == ("1200", "120", "1320")

    for count in (2, 3, 4, 5):
        day = date(2026, 3, 2) + timedelta(weeks=count - 1)
        story.advance_to(day - timedelta(days=1), 23)
        story.expect(
            sid, status="active", invoices=weeks(count - 1), payments=[paid("1320")] * (count - 1)
        )
        story.advance_to(day, 0)
        story.expect(
            sid,
            status="active",
            invoices=weeks(count),
            payments=[paid("1320")] * count,
            outbox=RENEWED,
        )
    assert story.subscription(sid)["total_collected"] == "6600"


def test_biweekly_in_dinar_with_reminders(client: Any, session_factory: Any) -> None:
    """KWD has 3 decimals: 12.500 + 5 % tax (0.625) = 13.125. With 14-day reminders a fortnightly
    plan is reminded of its next payment on the day it renews — except the first renewal, which
    is only 14 days after the subscription was created."""
    story = Story(
        client, session_factory, start=datetime(2026, 3, 2, 8, tzinfo=UTC), currency="KWD"
    )
    sub = story.subscribe(
        currency="KWD",
        frequency="biweekly",
        price="12.500",
        item={"tax_rate_id": tax_rate(story, "5")},
    )
    sid = sub["id"]
    assert sub["mrr"] == "27.083"  # 12.500 * 26 / 12

    def fortnights(count: int) -> list[tuple[str, str, str, str, str]]:
        starts = [date(2026, 3, 2) + timedelta(weeks=2 * n) for n in range(count)]
        return [inv(s.isoformat(), (s + timedelta(weeks=2)).isoformat(), "13.125") for s in starts]

    story.expect(
        sid, status="active", invoices=fortnights(1), payments=[paid("13.125")], outbox=RENEWED
    )
    story.advance_to(date(2026, 3, 15))
    story.expect(sid, status="active", invoices=fortnights(1), payments=[paid("13.125")])
    story.advance_to(date(2026, 3, 16))
    story.expect(
        sid,
        status="active",
        invoices=fortnights(2),
        payments=[paid("13.125")] * 2,
        outbox=[*RENEWED, REMINDER],
    )
    story.advance_to(date(2026, 4, 27))
    story.expect(
        sid,
        status="active",
        invoices=fortnights(5),
        payments=[paid("13.125")] * 5,
        outbox=[*RENEWED, REMINDER] * 3,
    )
    assert [r["next_payment_date"] for r in story.outbox_payloads(sid, REMINDER)] == [
        "2026-03-30",
        "2026-04-13",
        "2026-04-27",
        "2026-05-11",
    ]
    assert {r["amount"] for r in story.outbox_payloads(sid, REMINDER)} == {"13.125"}
    assert story.subscription(sid)["total_collected"] == "65.625"


def test_quarterly_from_a_month_end(client: Any, session_factory: Any) -> None:
    """Anchored on November 30th: February 28th, then back to the 30th (May, August,
    November)."""
    story = Story(client, session_factory, start=datetime(2025, 11, 30, 8, tzinfo=UTC))
    sub = story.subscribe(frequency="quarterly", price="90.00")
    sid = sub["id"]
    assert sub["mrr"] == "30.00"
    quarters = ["2025-11-30", "2026-02-28", "2026-05-30", "2026-08-30", "2026-11-30", "2027-02-28"]
    invoices = [inv(quarters[0], quarters[1], "90.00")]
    story.expect(sid, status="active", invoices=invoices, payments=[paid("90.00")], outbox=RENEWED)
    for start, end in itertools.pairwise(quarters[1:]):
        renewal = date.fromisoformat(start)
        story.advance_to(renewal - timedelta(days=14), 0)
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid("90.00")] * len(invoices),
            outbox=[REMINDER],
        )
        story.advance_to(renewal - timedelta(days=1), 23)
        story.expect(
            sid, status="active", invoices=invoices, payments=[paid("90.00")] * len(invoices)
        )
        story.advance_to(renewal, 0)
        invoices.append(inv(start, end, "90.00"))
        story.expect(
            sid,
            status="active",
            invoices=invoices,
            payments=[paid("90.00")] * len(invoices),
            outbox=RENEWED,
            next_payment_date=end,
        )


def test_annually_over_three_years(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    sub = story.subscribe(frequency="annually", price="240.00")
    sid = sub["id"]
    assert sub["mrr"] == "20.00"
    years = [inv(f"{y}-03-01", f"{y + 1}-03-01", "240.00") for y in (2026, 2027, 2028, 2029)]
    story.expect(
        sid, status="active", invoices=years[:1], payments=[paid("240.00")], outbox=RENEWED
    )
    for n, year in enumerate((2027, 2028, 2029), start=2):
        # 14 days before March 1st: February 15th (2027, 2029) or 16th (2028, a leap year).
        reminder = date(year, 3, 1) - timedelta(days=14)
        story.advance_to(reminder - timedelta(days=1), 23)
        story.expect(
            sid, status="active", invoices=years[: n - 1], payments=[paid("240.00")] * (n - 1)
        )
        story.advance_to(reminder, 0)
        story.expect(
            sid,
            status="active",
            invoices=years[: n - 1],
            payments=[paid("240.00")] * (n - 1),
            outbox=[REMINDER],
        )
        story.advance_to(date(year, 3, 1), 0)
        story.expect(
            sid,
            status="active",
            invoices=years[:n],
            payments=[paid("240.00")] * n,
            outbox=RENEWED,
            next_payment_date=f"{year + 1}-03-01",
        )
    assert story.subscription(sid)["total_collected"] == "960.00"
