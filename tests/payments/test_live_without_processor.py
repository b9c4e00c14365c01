"""A live account has no payment processor yet (the sandbox serves test-mode accounts only), so
it cannot take payments: the API answers 409 naming the missing setup for everything that would
save a payment method or charge, the hosted pages say so and show no card form, and the billing
engine marks nothing paid (a charge attempt fails, "payment_processor_not_configured")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.billing import bulk, runner
from cadency.invoices.models import Invoice
from cadency.kit.errors import Conflict
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.payments import processor, sandbox
from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.models import Subscription
from tests.billing import due_set
from tests.checkout.builders import card, catalog, checkout_body, link, row_counts
from tests.conftest import Api, make_api

MISSING_SETUP = "No payment processor is configured for this live account"


@pytest.fixture
def live(client: TestClient, session_factory: Any) -> Api:
    return make_api(client, session_factory, name="Live shop", mode="live")


def conflict(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["type"] == "conflict"
    assert MISSING_SETUP in body["message"]
    return body


def contact(api: Api, email: str = "buyer@example.com") -> str:
    created = api.ok(api.post("/contacts", {"email": email, "first_name": "Bo"}))
    return str(created["id"])


def sandbox_card(session_factory: Any, api: Api, contact_id: str) -> str:
    """A card the sandbox tokenised for this live account before live accounts were refused
    (the data the review found): it must never be charged."""
    tokenised = sandbox.tokenise_card("4242424242424242", 12, 2045, "123", today=date.today())
    with session_factory() as session:
        method = PaymentMethod(
            id=new_id("pm"),
            account_id=api.account_id,
            contact_id=contact_id,
            type="card",
            brand=tokenised.brand,
            last4=tokenised.last4,
            exp_month=12,
            exp_year=2045,
            processor=sandbox.PROCESSOR,
            processor_token=tokenised.token,
            created_at=datetime.now(UTC),
        )
        session.add(method)
        session.commit()
        return method.id


def invoiced_subscription(api: Api, contact_id: str, language: str = "en") -> dict[str, Any]:
    """A subscription billed by invoice (that a live account can have): its first invoice is
    open."""
    created: dict[str, Any] = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "collection_method": "send_invoice",
                "invoice_settings": {"language": language},
                "line_items": [
                    {"name": "Beans", "unit_price": "49.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    return created


def open_invoice(api: Api, subscription_id: str) -> dict[str, Any]:
    invoices = api.ok(api.get("/invoices", params={"subscription_id": subscription_id}))
    invoice: dict[str, Any] = invoices["data"][0]
    assert invoice["status"] == "open"
    return invoice


def count(session_factory: Any, model: Any, account_id: int) -> int:
    with session_factory() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(model).where(model.account_id == account_id)
            )
            or 0
        )


# --- the API ------------------------------------------------------------------------------


def test_a_live_account_cannot_save_a_payment_method(
    live: Api, api: Api, session_factory: Any
) -> None:
    buyer = contact(live)
    conflict(live.post(f"/contacts/{buyer}/payment-methods", card()))
    assert count(session_factory, PaymentMethod, live.account_id) == 0
    # A test-mode account saves the same card through the sandbox.
    saved = api.ok(api.post(f"/contacts/{contact(api)}/payment-methods", card()))
    assert saved["last4"] == "4242"


def test_a_live_invoice_cannot_be_paid_through_the_api(live: Api, session_factory: Any) -> None:
    buyer = contact(live)
    invoice = open_invoice(live, invoiced_subscription(live, buyer)["id"])
    method_id = sandbox_card(session_factory, live, buyer)
    conflict(live.post(f"/invoices/{invoice['id']}/pay", {"payment_method_id": method_id}))
    assert live.ok(live.get(f"/invoices/{invoice['id']}"))["status"] == "open"
    assert count(session_factory, Payment, live.account_id) == 0


def test_live_subscriptions_charged_automatically_are_refused(
    live: Api, session_factory: Any
) -> None:
    buyer = contact(live)
    method_id = sandbox_card(session_factory, live, buyer)
    body = {
        "contact_id": buyer,
        "currency": "USD",
        "collection_method": "charge_automatically",
        "line_items": [{"name": "Beans", "unit_price": "49.00", "billing_frequency": "monthly"}],
    }
    with_card = conflict(live.post("/subscriptions", {**body, "payment_method_id": method_id}))
    assert with_card["param"] == "payment_method_id"
    assert count(session_factory, Subscription, live.account_id) == 0
    assert count(session_factory, Invoice, live.account_id) == 0
    # Collecting the method on the first invoice charges nothing now (the operator's plan
    # trials do this): allowed; that invoice's page tells the buyer payments are unavailable.
    collecting = {**body, "collect_payment_method_on_first_invoice": True}
    first = open_invoice(live, live.ok(live.post("/subscriptions", collecting))["id"])
    assert first["amount_due"] == "49.00"
    assert count(session_factory, Payment, live.account_id) == 0

    # Billed by invoice it is fine, and the saved card cannot be made its default either.
    subscription = invoiced_subscription(live, buyer)
    moved = live.patch(f"/subscriptions/{subscription['id']}", {"payment_method_id": method_id})
    assert conflict(moved)["param"] == "payment_method_id"


def test_a_live_checkout_is_refused_and_writes_nothing(live: Api, session_factory: Any) -> None:
    products = catalog(live)
    made = link(live, [{"product_id": products["monthly"]["id"]}])
    before = row_counts(session_factory, live.account_id)
    conflict(live.post(f"/payment-links/{made['id']}/checkout", checkout_body()))
    assert row_counts(session_factory, live.account_id) == before


def test_a_live_conversion_invoices_instead_of_charging(live: Api, session_factory: Any) -> None:
    products = catalog(live)
    buyer = contact(live)
    sandbox_card(session_factory, live, buyer)  # the newest card would otherwise be charged
    items = [{"product_id": products["monthly"]["id"]}]

    def quote() -> dict[str, Any]:
        body = {"name": "Office coffee", "contact_id": buyer, "line_items": items}
        made = live.ok(live.post("/quotes", body))
        published: dict[str, Any] = live.ok(live.post(f"/quotes/{made['id']}/publish"))
        return published

    asked = live.post(
        f"/quotes/{quote()['id']}/convert", {"collection_method": "charge_automatically"}
    )
    assert conflict(asked)["param"] == "collection_method"
    converted = live.ok(live.post(f"/quotes/{quote()['id']}/convert"))
    subscription = live.ok(live.get(f"/subscriptions/{converted['subscriptions'][0]}"))
    assert subscription["collection_method"] == "send_invoice"
    assert count(session_factory, Payment, live.account_id) == 0


def test_a_live_payment_made_through_the_sandbox_cannot_be_refunded(
    live: Api, session_factory: Any
) -> None:
    buyer = contact(live)
    invoice = open_invoice(live, invoiced_subscription(live, buyer)["id"])
    now = datetime.now(UTC)
    with session_factory() as session:
        payment = Payment(
            id=new_id("pay"),
            account_id=live.account_id,
            invoice_id=invoice["id"],
            contact_id=buyer,
            status="succeeded",
            amount=4900,
            refunded_amount=0,
            currency="USD",
            processor=sandbox.PROCESSOR,
            processor_reference="sbx_ch_0123456789abcdef01234567",
            idempotency_key=f"{invoice['id']}:attempt:1",
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
        session.commit()
        payment_id = payment.id
    conflict(live.post(f"/payments/{payment_id}/refund"))
    assert live.ok(live.get(f"/payments/{payment_id}"))["status"] == "succeeded"


# --- the billing engine -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["bulk", "one by one"])
def test_live_renewals_are_invoiced_and_never_marked_paid(
    app: Any, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = app.state.engine
    due = due_set.seed(engine, 3, name=f"Live renewals {path}")
    if path == "one by one":
        monkeypatch.setattr(bulk, "renew", lambda *args, **kwargs: set())
    with Session(engine, expire_on_commit=False) as session:
        summary = runner.run_batch(session, datetime.now(UTC), account_id=due.account_id)
    assert summary.subscriptions_processed == 3
    found = due_set.outcome(engine, due.account_id)
    # Each renewal invoiced once, charged once: a failed attempt naming the missing processor.
    assert due_set.problems(due, found, datetime.now(UTC)) == {}
    assert {row[6] for row in found.payments} == {processor.NOT_CONFIGURED}
    assert {row[4] for row in found.invoices} == {"open"}
    with Session(engine) as session:
        failures = session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.account_id == due.account_id,
                OutboxMessage.type == "payment.failed",
            )
        ).all()
    assert [p["failure_reason"] for p in failures] == [processor.NOT_CONFIGURED] * 3
    with engine.begin() as conn:  # keep live workers elsewhere in the suite away from these
        conn.execute(update(Account).where(Account.id == due.account_id).values(mode="test"))


# --- the hosted pages ---------------------------------------------------------------------


def test_the_hosted_invoice_page_says_payments_are_unavailable(
    live: Api, client: TestClient, session_factory: Any
) -> None:
    buyer = contact(live)
    invoice = open_invoice(live, invoiced_subscription(live, buyer)["id"])
    path = urlsplit(invoice["hosted_url"]).path
    page = client.get(path)
    assert page.status_code == 200
    assert 'data-testid="payments-unavailable"' in page.text
    assert "Live shop cannot take online payments yet" in page.text
    assert 'data-testid="card-form"' not in page.text
    # A card posted anyway is refused before anything is saved or charged.
    posted = client.post(
        f"{path}/pay",
        data={"type": "card", "number": "4242424242424242", "exp_month": "12"},
    )
    assert posted.status_code == 409
    assert "cannot take online payments yet" in posted.text
    assert count(session_factory, PaymentMethod, live.account_id) == 0
    assert count(session_factory, Payment, live.account_id) == 0


def test_the_hosted_invoice_page_says_so_in_the_buyers_language(
    live: Api, client: TestClient
) -> None:
    invoice = open_invoice(live, invoiced_subscription(live, contact(live), "nl")["id"])
    page = client.get(urlsplit(invoice["hosted_url"]).path)
    assert "Live shop kan nog geen online betalingen ontvangen" in page.text


def test_the_update_payment_method_page_shows_no_form(
    live: Api, client: TestClient, session_factory: Any
) -> None:
    subscription = invoiced_subscription(live, contact(live), "da")
    with session_factory() as session:
        row = session.get(Subscription, subscription["id"])
        path, _ = subscription_service.payment_method_link_path(session, row)
        session.commit()
    page = client.get(path)
    assert page.status_code == 200
    assert 'data-testid="payments-unavailable"' in page.text
    assert "Live shop kan endnu ikke modtage onlinebetalinger" in page.text
    assert 'data-testid="card-form"' not in page.text
    posted = client.post(path, data={"type": "card", "number": "4242424242424242"})
    assert posted.status_code == 409
    assert count(session_factory, PaymentMethod, live.account_id) == 0


def test_the_portal_says_payment_methods_cannot_be_changed(
    live: Api, client: TestClient, session_factory: Any
) -> None:
    subscription = invoiced_subscription(live, contact(live), "de")
    session = live.ok(live.post(f"/subscriptions/{subscription['id']}/portal-session"))
    path = urlsplit(str(session["url"])).path
    page = client.get(f"{path}/manage")
    assert page.status_code == 200
    assert 'data-testid="payments-unavailable"' in page.text
    assert "Live shop kann noch keine Online-Zahlungen annehmen" in page.text
    assert 'data-testid="update-payment-method"' not in page.text
    assert "/billing/update-payment-method/" not in page.text


def test_the_account_settings_page_says_what_a_live_account_still_needs(
    live: Api, api: Api, client: TestClient, session_factory: Any
) -> None:
    def settings_page(of: Api, email: str) -> str:
        with session_factory() as session:
            account = session.get(Account, of.account_id)
            user = account_service.create_user(
                session, account, email=email, password="a long enough password 1"
            )
            token, _ = account_service.start_session(session, user)
            session.commit()
        client.cookies.set("cadency_session", token)
        try:
            page = client.get("/settings/account")
        finally:
            client.cookies.clear()
        assert page.status_code == 200
        return page.text

    assert "No payment processor is configured" in settings_page(live, "owner@live.example")
    assert "No payment processor is configured" not in settings_page(api, "owner@test.example")


def test_no_update_payment_method_email_sends_a_live_buyer_to_a_dead_end(
    live: Api, session_factory: Any
) -> None:
    subscription = invoiced_subscription(live, contact(live))
    with session_factory() as session:
        account = session.get(Account, live.account_id)
        with pytest.raises(Conflict) as refused:
            subscription_service.request_payment_method_update(
                session, account, subscription["id"], "http://shop.example"
            )
        assert MISSING_SETUP in refused.value.message
        session.rollback()
    with session_factory() as session:
        emails = session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.account_id == live.account_id,
                OutboxMessage.type == "subscription.payment_method_update_requested",
            )
        ).all()
    assert emails == []
