"""MRR over four months of a Copenhagen account's clock, against figures worked by hand: new
subscriptions (monthly, weekly, annual, a trial that converts), an upgrade, a cancellation, a
pause and its resume, a downgrade, and a second currency. The ledger agrees with every
subscription after each step (Story.assert_mrr_ledger), and the series read from it say, month
by month:

    month  new     expansion  churned  reactivated  MRR     subs  logo   revenue  NRR
    Jan    130.33                                   130.33  4
    Feb            15.00                            145.33  4     0.0000 0.0000  1.1151
    Mar                       -70.00                 75.33  2     0.5000 0.4817  0.5183
    Apr            -8.67 (contraction) 50.00        116.67  3     0.0000 0.1150  0.8850

Jan's new MRR: 30.00 (monthly) + 7.00 * 52 / 12 = 30.3333… (weekly) + 240.00 / 12 = 20.00
(annual) + 50.00 (the trial, converting on 19 January) = 130.3333…, reported 130.33; its ARR
is exactly 1,564.00. The weekly subscription's third of a cent is carried, never rounded away.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.checkout.builders import error
from tests.scenarios.story import Story


def series(story: Story, path: str, **params: Any) -> list[dict[str, Any]]:
    found = story.api.ok(story.api.get(f"/analytics/{path}", params=params))
    return list(found["data"])


def test_mrr_month_by_month(client: Any, session_factory: Any) -> None:
    story = Story(
        client,
        session_factory,
        timezone="Europe/Copenhagen",
        start=datetime(2026, 1, 5, 8, tzinfo=UTC),
        currency="USD",
    )
    story.settings(renewal_reminder_days=None)
    monthly = story.subscribe(price="30.00", email="monthly@example.com")["id"]
    weekly = story.subscribe(price="7.00", frequency="weekly", email="weekly@example.com")["id"]
    trial = story.subscribe(price="50.00", email="trial@example.com", trial_days=14)["id"]
    story.subscribe(price="10.00", email="euro@example.com", currency="EUR")
    story.advance_to(date(2026, 1, 20))
    annual = story.subscribe(price="240.00", frequency="annually", email="annual@example.com")
    assert story.status(trial) == "active"  # converted on 19 January

    story.advance_to(date(2026, 2, 10))
    story.api.ok(
        story.api.post(
            f"/subscriptions/{monthly}/change",
            {
                "line_items": [
                    {"name": "Beans", "unit_price": "45.00", "billing_frequency": "monthly"}
                ],
                "proration": "none",
            },
        )
    )
    story.assert_quiet()
    story.advance_to(date(2026, 3, 3))
    story.cancel(annual["id"], "immediately", reason="too_expensive")
    story.advance_to(date(2026, 3, 10))
    story.api.ok(story.api.post(f"/subscriptions/{trial}/pause", {}))
    story.assert_quiet()
    story.advance_to(date(2026, 4, 1))
    story.api.ok(story.api.post(f"/subscriptions/{trial}/resume"))
    story.assert_quiet()
    story.advance_to(date(2026, 4, 15))
    # A downgrade of the weekly plan: 7.00 to 5.00 a week, 30.3333… to 21.6666… a month.
    story.api.ok(
        story.api.post(
            f"/subscriptions/{weekly}/change",
            {
                "line_items": [
                    {"name": "Beans", "unit_price": "5.00", "billing_frequency": "weekly"}
                ],
                "proration": "none",
            },
        )
    )
    story.assert_quiet()
    story.advance_to(date(2026, 4, 30))

    mrr = series(story, "mrr", start="2026-01", end="2026-04")
    assert [
        (
            p["period"],
            p["new"],
            p["expansion"],
            p["contraction"],
            p["churned"],
            p["reactivated"],
            p["net_new"],
            p["mrr"],
            p["active_subscriptions"],
            p["new_subscriptions"],
            p["churned_subscriptions"],
        )
        for p in mrr
    ] == [
        ("2026-01", "130.33", "0.00", "0.00", "0.00", "0.00", "130.33", "130.33", 4, 4, 0),
        ("2026-02", "0.00", "15.00", "0.00", "0.00", "0.00", "15.00", "145.33", 4, 0, 0),
        ("2026-03", "0.00", "0.00", "0.00", "-70.00", "0.00", "-70.00", "75.33", 2, 0, 2),
        ("2026-04", "0.00", "0.00", "-8.67", "0.00", "50.00", "41.33", "116.67", 3, 0, 0),
    ]
    assert [p["arr"] for p in mrr] == ["1564.00", "1744.00", "904.00", "1400.00"]

    churn = series(story, "churn", start="2026-01", end="2026-04")
    assert [
        (p["period"], p["logo_churn_rate"], p["revenue_churn_rate"], p["net_revenue_retention"])
        for p in churn
    ] == [
        ("2026-01", None, None, None),  # nothing had MRR when January began
        ("2026-02", "0.0000", "0.0000", "1.1151"),  # (130.33 + 15.00) / 130.33
        ("2026-03", "0.5000", "0.4817", "0.5183"),
        ("2026-04", "0.0000", "0.1150", "0.8850"),  # 8.67 of 75.33 contracted
    ]

    # By day: the trial's conversion is dated the day it happened, in Copenhagen.
    days = series(story, "mrr", start="2026-01", end="2026-01", interval="day")
    assert len(days) == 31
    assert [(p["period"], p["new"]) for p in days if p["new"] != "0.00"] == [
        ("2026-01-05", "60.33"),
        ("2026-01-19", "50.00"),
        ("2026-01-20", "20.00"),
    ]

    # March's churn by reason: the annual plan, too expensive; the pause is no cancellation.
    reasons = story.api.ok(
        story.api.get(
            "/analytics/cancellation-reasons", params={"start": "2026-01", "end": "2026-04"}
        )
    )
    assert reasons["data"] == [{"reason": "too_expensive", "count": 1, "mrr": "20.00"}]

    # The other currency on its own, never converted.
    euro = series(story, "mrr", start="2026-01", end="2026-02", currency="EUR")
    assert [(p["period"], p["new"], p["mrr"]) for p in euro] == [
        ("2026-01", "10.00", "10.00"),
        ("2026-02", "0.00", "10.00"),
    ]
    # Before anything happened, and bad requests.
    assert series(story, "mrr", start="2025-11", end="2025-12")[1]["mrr"] == "0.00"
    api = story.api
    assert (
        error(api.get("/analytics/mrr", params={"start": "2026-13", "end": "2026-01"}), 422)[
            "param"
        ]
        == "start"
    )
    for far in ("9999-12", "0001-01"):
        answer = api.get("/analytics/payments", params={"start": far, "end": far})
        assert error(answer, 422)["param"] == "start"
    assert (
        error(api.get("/analytics/mrr", params={"start": "2026-02", "end": "2026-01"}), 422)[
            "param"
        ]
        == "end"
    )
    assert (
        error(api.get("/analytics/churn", params={"start": "2016-01", "end": "2026-12"}), 422)[
            "message"
        ]
        == "At most 120 months at a time"
    )
    assert (
        error(
            api.get(
                "/analytics/mrr", params={"start": "2026-01", "end": "2026-01", "currency": "XYZ"}
            ),
            422,
        )["param"]
        == "currency"
    )


def test_failed_payments_and_their_recovery(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2026, 1, 10, 8, tzinfo=UTC))
    story.settings(renewal_reminder_days=None)
    recovering = story.subscribe(price="20.00", email="recovering@example.com")
    lapsing = story.subscribe(price="35.00", email="lapsing@example.com")
    for sub in (recovering, lapsing):
        card = story.add_payment_method(sub["contact_id"], "4000000000000341")
        story.patch(sub["id"], payment_method_id=card)
    # 10 February: both renewals are declined; on the 12th one buyer gives a working card, and
    # the balance is taken at once.
    story.advance_to(date(2026, 2, 10))
    assert story.status(recovering["id"]) == story.status(lapsing["id"]) == "unpaid"
    story.advance_to(date(2026, 2, 12))
    working = story.add_payment_method(recovering["contact_id"], "4242424242424242")
    story.patch(recovering["id"], payment_method_id=working)
    assert story.status(recovering["id"]) == "active"

    # The other's retries fail too; when dunning ends (17 February) it is canceled: churned.
    story.advance_to(date(2026, 2, 20))
    assert story.status(lapsing["id"]) == "canceled"
    data = series(story, "payments", start="2026-01", end="2026-02")
    assert [
        (p["period"], p["failed"], p["recovered"], p["recovery_rate"], p["collected"]) for p in data
    ] == [
        ("2026-01", 0, 0, None, "55.00"),
        ("2026-02", 2, 1, "0.5000", "20.00"),
    ]
    # Past due counted as MRR until the cancellation.
    [february] = series(story, "mrr", start="2026-02", end="2026-02")
    assert (february["churned"], february["mrr"], february["churned_subscriptions"]) == (
        "-35.00",
        "20.00",
        1,
    )
    by_day = series(story, "mrr", start="2026-02", end="2026-02", interval="day")
    assert [(p["period"], p["churned"]) for p in by_day if p["churned"] != "0.00"] == [
        ("2026-02-17", "-35.00")
    ]
