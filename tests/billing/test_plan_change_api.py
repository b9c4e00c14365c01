from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story


def setup(client: Any, session_factory: Any) -> tuple[Story, dict[str, Any]]:
    s = Story(client, session_factory, start=datetime(2026, 4, 1, 8, tzinfo=UTC))
    return s, s.subscribe(price="30.00")  # April has 30 days: 1.00 a day


def test_upgrade_now_with_proration_charges_the_difference(
    client: Any, session_factory: Any
) -> None:
    s, sub = setup(client, session_factory)
    s.advance_to(date(2026, 4, 11))
    changed = s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {"name": "Beans XL", "unit_price": "60.00", "billing_frequency": "monthly"}
                ]
            },
        )
    )
    assert [li["name"] for li in changed["line_items"]] == ["Beans XL"]
    assert changed["next_payment_amount"] == "60.00"
    # 20 unused days: credit 20.00 at the old price, charge 40.00 at the new one.
    adjustment = s.invoice(sub["id"])
    assert (adjustment["billing_reason"], adjustment["total"], adjustment["status"]) == (
        "subscription_update",
        "20.00",
        "paid",
    )
    assert [line["amount"] for line in adjustment["lines"]] == ["-20.00", "40.00"]
    assert s.payments(sub["id"])[-1] == ("20.00", "succeeded", None)
    s.advance_to(date(2026, 5, 1))
    assert s.invoices(sub["id"])[-1] == ("2026-05-01", "2026-06-01", "60.00", "paid", "2026-05-01")


def test_downgrade_now_refunds_the_difference(client: Any, session_factory: Any) -> None:
    s, sub = setup(client, session_factory)
    s.advance_to(date(2026, 4, 21))
    s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {"name": "Beans S", "unit_price": "15.00", "billing_frequency": "monthly"}
                ]
            },
        )
    )
    # 10 unused days: credit 10.00, charge 5.00 → 5.00 back on the April payment.
    payment = s.api.ok(s.api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("partially_refunded", "5.00")
    assert len(s.invoices(sub["id"])) == 1


def test_change_without_proration_applies_at_the_next_invoice(
    client: Any, session_factory: Any
) -> None:
    s, sub = setup(client, session_factory)
    s.advance_to(date(2026, 4, 11))
    s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {"name": "Beans XL", "unit_price": "60.00", "billing_frequency": "monthly"}
                ],
                "proration": "none",
            },
        )
    )
    assert len(s.invoices(sub["id"])) == 1
    s.advance_to(date(2026, 5, 1))
    assert s.invoices(sub["id"])[-1][2] == "60.00"


def test_switch_to_annual_starts_a_new_period_today(client: Any, session_factory: Any) -> None:
    s, sub = setup(client, session_factory)
    s.advance_to(date(2026, 4, 11))
    changed = s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {
                        "name": "Beans yearly",
                        "unit_price": "300.00",
                        "billing_frequency": "annually",
                    }
                ]
            },
        )
    )
    assert changed["billing_frequency"] == "annually"
    assert changed["current_period_start"] == "2026-04-11"
    assert changed["next_payment_date"] == "2027-04-11"
    assert s.invoices(sub["id"])[-1] == ("2026-04-11", "2027-04-11", "300.00", "paid", "2026-04-11")
    # The unused 20 days of April came back.
    first = s.api.ok(s.api.get("/payments", params={"subscription_id": sub["id"]}))["data"][-1]
    assert first["refunded_amount"] == "20.00"
    bad = s.api.post(
        f"/subscriptions/{sub['id']}/change",
        {
            "line_items": [
                {"name": "A", "unit_price": "1.00", "billing_frequency": "monthly"},
                {"name": "B", "unit_price": "1.00", "billing_frequency": "weekly"},
            ]
        },
    )
    assert (
        bad.status_code == 422 and bad.json()["error"]["param"] == "line_items.1.billing_frequency"
    )


def test_change_at_period_end_waits_for_the_next_period(client: Any, session_factory: Any) -> None:
    s, sub = setup(client, session_factory)
    s.advance_to(date(2026, 4, 11))
    scheduled = s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {
                        "name": "Beans yearly",
                        "unit_price": "300.00",
                        "billing_frequency": "annually",
                    }
                ],
                "effective": "period_end",
            },
        )
    )
    assert [li["name"] for li in scheduled["line_items"]] == ["Beans"]
    assert len(s.invoices(sub["id"])) == 1
    s.advance_to(date(2026, 4, 30))
    assert len(s.invoices(sub["id"])) == 1
    s.advance_to(date(2026, 5, 1))
    after = s.subscription(sub["id"])
    assert [li["name"] for li in after["line_items"]] == ["Beans yearly"]
    assert after["billing_frequency"] == "annually"
    assert s.invoices(sub["id"])[-1] == ("2026-05-01", "2027-05-01", "300.00", "paid", "2026-05-01")
    assert after["next_payment_date"] == "2027-05-01"
    types = [e["type"] for e in s.api.ok(s.api.get(f"/subscriptions/{sub['id']}/events"))["data"]]
    assert "subscription.plan_change_scheduled" in types and "subscription.plan_changed" in types
    bad = s.api.post(
        f"/subscriptions/{sub['id']}/change",
        {"line_items": [{"product_id": "prod_nope"}], "effective": "period_end"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "line_items.0.product_id"


def test_a_new_billing_frequency_on_the_first_day_of_a_paid_period_is_charged(
    client: Any, session_factory: Any
) -> None:
    """Switching to yearly on the day the monthly period began: the month is credited in full
    and the year is charged now (the month's invoice must not pass for the year's)."""
    s, sub = setup(client, session_factory)
    s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {
                        "name": "Beans yearly",
                        "unit_price": "300.00",
                        "billing_frequency": "annually",
                    }
                ]
            },
        )
    )
    assert s.invoices(sub["id"]) == [
        ("2026-04-01", "2026-05-01", "30.00", "paid", "2026-04-01"),
        ("2026-04-01", "2027-04-01", "300.00", "paid", "2026-04-01"),
    ]
    payments = s.api.ok(s.api.get("/payments", params={"subscription_id": sub["id"]}))["data"]
    assert sorted((p["amount"], p["status"], p["refunded_amount"]) for p in payments) == [
        ("30.00", "refunded", "30.00"),
        ("300.00", "succeeded", "0.00"),
    ]
    after = s.subscription(sub["id"])
    assert (after["current_period_end"], after["next_payment_date"]) == ("2027-04-01", "2027-04-01")
    s.assert_quiet()
    s.advance_to(date(2026, 5, 1))
    assert len(s.invoices(sub["id"])) == 2
