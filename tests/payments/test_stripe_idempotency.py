"""Nothing is charged twice when Stripe's answer is lost and the charge is tried again.

localstripe does not deduplicate by Idempotency-Key (Stripe does), so a proxy between the
adapter and localstripe plays Stripe's part: it keeps the answer to each key and replays it
when the key comes again, and it can lose answers on the way back (the adapter times out).
The proxy forwards each key to localstripe once, so one PaymentIntent per key there means one
charge per key at Stripe; the tests check that the adapter always sends the same key for the
same attempt, within the library's own retries and across billing runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cadency.payments import stripe_adapter
from tests.conftest import Api, pin_clock
from tests.stripe_server import LocalStripe, LossyProxy, card, lossy_proxy, use_stripe

PATH = "/v1/payment_intents"


@pytest.fixture
def proxy(localstripe: LocalStripe, monkeypatch: pytest.MonkeyPatch) -> Iterator[LossyProxy]:
    # A lost answer is noticed after half a second instead of a minute.
    monkeypatch.setattr(stripe_adapter, "TIMEOUT_SECONDS", 0.5)
    with lossy_proxy(localstripe.url) as running:
        yield running


def subscribe(api: Api, contact_id: str, method_id: str) -> dict[str, Any]:
    body = {
        "contact_id": contact_id,
        "currency": "EUR",
        "line_items": [{"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}],
        "collection_method": "charge_automatically",
        "payment_method_id": method_id,
    }
    return dict(api.ok(api.post("/subscriptions", body)))


def payments_of(api: Api, sub_id: str) -> list[dict[str, Any]]:
    data = api.ok(api.get("/payments", params={"subscription_id": sub_id}))["data"]
    return list(reversed(data))


def invoices_of(api: Api, sub_id: str) -> list[dict[str, Any]]:
    data = api.ok(api.get("/invoices", params={"subscription_id": sub_id}))["data"]
    return list(reversed(data))


def customer_of(localstripe: LocalStripe, payment: dict[str, Any]) -> str:
    return str(localstripe.get(f"{PATH}/{payment['processor_reference']}")["customer"])


def test_a_lost_answer_is_retried_by_the_library_with_the_same_key(
    api: Api, localstripe: LocalStripe, proxy: LossyProxy, session_factory: Any
) -> None:
    use_stripe(api, localstripe, api_base=proxy.url)
    contact = api.ok(api.post("/contacts", {"email": "ann@example.com"}))
    method = api.ok(
        api.post(f"/contacts/{contact['id']}/payment-methods", card("4242424242424242"))
    )

    proxy.lose_answers = 1  # the PaymentIntent's answer is lost once
    sub = subscribe(api, contact["id"], method["id"])

    [payment] = payments_of(api, sub["id"])
    assert payment["status"] == "succeeded"
    assert invoices_of(api, sub["id"])[0]["status"] == "paid"
    sent = proxy.keys(PATH)
    assert len(sent) == 2 and sent[0] == sent[1]  # the library's retry, same key
    assert sent[0] == f"{sub['id']}:{invoices_of(api, sub['id'])[0]['period_start']}:attempt:1"
    assert [key for method_, path, key in proxy.forwarded if path == PATH] == [sent[0]]
    intents = localstripe.payment_intents(customer_of(localstripe, payment))
    assert [i["id"] for i in intents] == [payment["processor_reference"]]


def test_no_answer_at_all_records_nothing_and_the_next_run_charges_once(
    api: Api, localstripe: LocalStripe, proxy: LossyProxy, session_factory: Any
) -> None:
    pin_clock(session_factory, api.account_id, datetime(2026, 3, 1, 8, tzinfo=UTC))
    use_stripe(api, localstripe, api_base=proxy.url)
    contact = api.ok(api.post("/contacts", {"email": "ann@example.com"}))
    method = api.ok(
        api.post(f"/contacts/{contact['id']}/payment-methods", card("4242424242424242"))
    )
    sub = subscribe(api, contact["id"], method["id"])
    [first] = payments_of(api, sub["id"])
    customer = customer_of(localstripe, first)
    before = len(proxy.keys(PATH))

    # The renewal's charge reaches Stripe (localstripe charges it), but no answer ever comes
    # back, through all the library's retries.
    proxy.lose_answers = 1000
    renewal = datetime(2026, 4, 1, 9, tzinfo=UTC)
    summary = api.ok(api.post("/clock/advance", {"to": renewal.isoformat()}))["summary"]
    assert summary["subscriptions_failed"] == 1
    assert (summary["invoices_created"], summary["payments_created"]) == (0, 0)
    # Nothing recorded: the run was rolled back with its invoice, and the subscription is still
    # due for its renewal.
    assert len(payments_of(api, sub["id"])) == 1 and len(invoices_of(api, sub["id"])) == 1
    tries = proxy.keys(PATH)[before:]
    assert len(tries) >= 3 and len(set(tries)) == 1  # bulk, then one by one: 3 tries each
    [key] = set(tries)
    assert key == f"{sub['id']}:2026-04-01:attempt:1"
    assert len(localstripe.payment_intents(customer)) == 2  # Stripe did charge it once

    # Stripe answers again: the next run issues the invoice again (a new ID) and charges it with
    # the same key, so Stripe answers the charge it made instead of making another.
    proxy.lose_answers = 0
    again = api.ok(api.post("/clock/advance", {"to": renewal.isoformat()}))["summary"]
    assert (again["subscriptions_failed"], again["invoices_created"]) == (0, 1)
    payments = payments_of(api, sub["id"])
    assert [p["status"] for p in payments] == ["succeeded", "succeeded"]
    assert [i["status"] for i in invoices_of(api, sub["id"])] == ["paid", "paid"]
    assert proxy.keys(PATH)[-1] == key
    assert [k for _m, path, k in proxy.forwarded if path == PATH].count(key) == 1
    intents = localstripe.payment_intents(customer)
    assert len(intents) == 2
    assert {i["id"] for i in intents} == {p["processor_reference"] for p in payments}
    subscription = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (subscription["payments_completed"], subscription["total_collected"]) == (2, "50.00")
