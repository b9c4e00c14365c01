from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story


def test_commitment_end_downgrades_to_the_free_plan(client: Any, session_factory: Any) -> None:
    s = Story(client, session_factory, start=datetime(2026, 1, 15, 9, tzinfo=UTC))
    free = s.api.ok(
        s.api.post(
            "/products", {"name": "Free", "unit_price": "0.00", "billing_frequency": "monthly"}
        )
    )
    pro = s.api.ok(
        s.api.post(
            "/products",
            {
                "name": "Pro",
                "unit_price": "40.00",
                "billing_frequency": "monthly",
                "fallback_product_id": free["id"],
            },
        )
    )
    contact_id, method_id = s.customer()
    sub = s.api.ok(
        s.api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [{"product_id": pro["id"]}],
                "collection_method": "charge_automatically",
                "payment_method_id": method_id,
                "commitment_months": 6,
            },
        )
    )
    assert sub["commitment_end"] == "2026-07-15"
    s.advance_to(date(2026, 3, 20))
    canceling = s.api.ok(
        s.api.post(
            f"/subscriptions/{sub['id']}/cancel",
            {"mode": "at_period_end", "reason": "too_expensive"},
        )
    )
    # Renewal stops at the end of the commitment, not of this month; the buyer is told when.
    assert (canceling["cancel_at_period_end"], canceling["cancel_at"]) == (True, "2026-07-15")
    assert "subscription.non_renewal_notice" in s.outbox(sub["id"])

    s.advance_to(date(2026, 7, 14))
    assert [i[0] for i in s.invoices(sub["id"])] == [
        "2026-01-15",
        "2026-02-15",
        "2026-03-15",
        "2026-04-15",
        "2026-05-15",
        "2026-06-15",
    ]
    s.advance_to(date(2026, 7, 15))
    downgraded = s.subscription(sub["id"])
    assert downgraded["status"] == "active"
    assert [li["name"] for li in downgraded["line_items"]] == ["Free"]
    assert downgraded["cancel_at"] is None and downgraded["commitment_end"] is None
    assert downgraded["mrr"] == "0.00"
    assert s.invoices(sub["id"])[-1] == ("2026-07-15", "2026-08-15", "0.00", "paid", "2026-07-15")
    assert "subscription.downgraded" in s.outbox(sub["id"])
    # Nothing more is charged: the free plan invoices 0.00 and takes no payment.
    s.advance_to(date(2026, 9, 16))
    assert [p[0] for p in s.payments(sub["id"])] == ["40.00"] * 6


def test_fallback_must_be_a_recurring_product_in_the_same_currency(
    client: Any, session_factory: Any
) -> None:
    s = Story(client, session_factory, start=datetime(2026, 1, 15, 9, tzinfo=UTC))
    one_time = s.api.ok(s.api.post("/products", {"name": "Mug", "unit_price": "9.00"}))
    bad = s.api.post(
        "/products",
        {
            "name": "Pro",
            "unit_price": "40.00",
            "billing_frequency": "monthly",
            "fallback_product_id": one_time["id"],
        },
    )
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "fallback_product_id"
