from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.scenarios.story import Story


def test_fees_apply_to_the_first_invoice_only(client: Any, session_factory: Any) -> None:
    s = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    surcharge = s.api.ok(
        s.api.post("/fees", {"name": "Card surcharge", "fee_type": "percentage", "percentage": "3"})
    )
    setup = s.api.ok(s.api.post("/fees", {"name": "Setup", "fee_type": "fixed", "amount": "5.00"}))
    sub = s.subscribe(price="100.00", fee_ids=[surcharge["id"], setup["id"]])
    assert sub["fee_ids"] == [surcharge["id"], setup["id"]]
    first = s.invoice(sub["id"])
    # 3 % of 100.00, then the fixed 5.00.
    assert (first["subtotal"], first["fee_total"], first["total"]) == ("100.00", "8.00", "108.00")
    assert [(line["description"], line["amount"]) for line in first["lines"]] == [
        ("Beans", "100.00"),
        ("Card surcharge", "3.00"),
        ("Setup", "5.00"),
    ]
    assert s.payments(sub["id"]) == [("108.00", "succeeded", None)]
    assert sub["next_payment_amount"] == "100.00"
    s.advance_to(date(2026, 4, 1))
    assert s.invoices(sub["id"])[-1] == ("2026-04-01", "2026-05-01", "100.00", "paid", "2026-04-01")


def test_fee_validation(client: Any, session_factory: Any) -> None:
    s = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    euro = s.api.ok(
        s.api.post(
            "/fees", {"name": "EUR fee", "fee_type": "fixed", "amount": "1.00", "currency": "EUR"}
        )
    )
    contact_id, method_id = s.customer()
    body = {
        "contact_id": contact_id,
        "currency": "USD",
        "line_items": [{"name": "Beans", "unit_price": "10.00", "billing_frequency": "monthly"}],
        "collection_method": "charge_automatically",
        "payment_method_id": method_id,
    }
    wrong_currency = s.api.post("/subscriptions", {**body, "fee_ids": [euro["id"]]})
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["error"]["param"] == "fee_ids.0"
    missing = s.api.post("/subscriptions", {**body, "fee_ids": ["fee_nope"]})
    assert missing.status_code == 422 and missing.json()["error"]["param"] == "fee_ids.0"
    scheduled = s.api.ok(
        s.api.post(
            "/subscriptions",
            {
                **body,
                "line_items": [{**body["line_items"][0], "billing_start_date": "2026-03-10"}],
                "fee_ids": [],
            },
        )
    )
    assert scheduled["next_payment_amount"] == "10.00"
