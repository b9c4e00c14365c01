"""After a checkout the engine bills each subscription on its own schedule, from its second
period on: the first periods were paid at checkout and are never billed again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.checkout.builders import catalog, checkout, link
from tests.scenarios.story import Story


def test_subscriptions_from_one_checkout_renew_separately(
    client: Any, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 1, 31, 15, tzinfo=UTC))
    api = story.api
    products = catalog(api)
    created = link(
        api,
        [
            {"product_id": products["monthly"]["id"]},
            {"product_id": products["annual"]["id"]},
            {"product_id": products["setup"]["id"]},
        ],
    )
    done = checkout(api, created["id"])
    monthly_id, annual_id = done["subscriptions"]
    story.assert_quiet()
    # The checkout invoice belongs to neither subscription alone.
    assert story.invoices(monthly_id) == []
    assert story.invoices(annual_id) == []

    story.advance_to(date(2026, 2, 27))
    assert story.invoices(monthly_id) == []

    # A month on: the monthly subscription renews (month-end anchor), the annual does not.
    story.advance_to(date(2026, 2, 28))
    assert story.invoices(monthly_id) == [
        ("2026-02-28", "2026-03-31", "10.00", "paid", "2026-02-28")
    ]
    assert story.payments(monthly_id) == [("10.00", "succeeded", None)]
    assert story.invoices(annual_id) == []
    monthly = story.subscription(monthly_id)
    assert (monthly["payments_completed"], monthly["total_collected"]) == (2, "25.00")
    assert (monthly["current_period_start"], monthly["next_payment_date"]) == (
        "2026-02-28",
        "2026-03-31",
    )
    annual = story.subscription(annual_id)
    assert (annual["payments_completed"], annual["total_collected"]) == (1, "100.00")
    assert annual["next_payment_date"] == "2027-01-31"

    # A year on: twelve monthly invoices after the checkout's, one annual renewal.
    story.advance_to(date(2027, 1, 31))
    monthly_periods = [(i[0], i[1]) for i in story.invoices(monthly_id)]
    assert len(monthly_periods) == 12
    assert monthly_periods[0] == ("2026-02-28", "2026-03-31")
    assert monthly_periods[-1] == ("2027-01-31", "2027-02-28")
    assert "2026-01-31" not in [start for start, _ in monthly_periods]
    assert story.invoices(annual_id) == [
        ("2027-01-31", "2028-01-31", "100.00", "paid", "2027-01-31")
    ]
    assert story.subscription(annual_id)["total_collected"] == "200.00"
    assert story.subscription(monthly_id)["total_collected"] == "135.00"  # 5.00 + 13 x 10.00

    # Every payment of the account: the one checkout payment and the engine's renewals.
    all_payments = api.ok(api.get("/payments", params={"limit": 100}))["data"]
    assert len(all_payments) == 1 + 12 + 1
    assert sum(p["invoice_id"] == done["invoice_id"] for p in all_payments) == 1


def test_fixed_term_from_checkout_runs_its_remaining_payments(
    client: Any, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    api = story.api
    created = link(
        api,
        [
            {
                "name": "Course",
                "unit_price": "30.00",
                "billing_frequency": "monthly",
                "billing_terms": "fixed",
                "number_of_payments": 3,
            }
        ],
    )
    done = checkout(api, created["id"])
    [sub_id] = done["subscriptions"]
    assert story.subscription(sub_id)["end_date"] == "2026-06-01"
    story.advance_to(date(2026, 7, 1))
    assert [i[0] for i in story.invoices(sub_id)] == ["2026-03-01", "2026-04-01", "2026-05-01"]
    ended = story.subscription(sub_id)
    assert (ended["status"], ended["payments_completed"], ended["total_collected"]) == (
        "expired",
        3,
        "90.00",
    )


def test_single_payment_fixed_term_needs_nothing_more(client: Any, session_factory: Any) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    api = story.api
    created = link(
        api,
        [
            {
                "name": "Workshop",
                "unit_price": "50.00",
                "billing_frequency": "annually",
                "billing_terms": "fixed",
                "number_of_payments": 1,
            }
        ],
    )
    [sub_id] = checkout(api, created["id"])["subscriptions"]
    assert story.subscription(sub_id)["next_payment_date"] is None
    story.advance_to(date(2027, 3, 2))
    assert len(story.invoices(sub_id)) == 1
    assert story.subscription(sub_id)["status"] == "expired"
