"""A bank debit is `processing` for four days: until it has succeeded it cannot be refunded. Every
way of asking for a refund (the refund endpoint, canceling with a refund, the buyer's portal)
answers 409 saying so and writes nothing, instead of answering 200 and refunding nothing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.kit.outbox import OutboxMessage
from cadency.payments.models import Payment, Refund
from cadency.subscriptions.models import SubscriptionEvent
from tests.scenarios.story import Story, processing

SETTLES = "000123456789"  # a bank account whose debits settle after four days


def new_story(client: TestClient, session_factory: Any) -> Story:
    return Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))


def payment_id(story: Story, sub_id: str) -> str:
    """The subscription's newest payment."""
    data = story.api.ok(story.api.get("/payments", params={"subscription_id": sub_id}))["data"]
    return str(data[0]["id"])


def written(story: Story) -> tuple[Any, ...]:
    """Everything a refund or a cancellation writes: refunds, outbox rows, timeline entries, and
    the payments and subscriptions as they stand."""
    account_id = story.api.account_id
    with story.session_factory() as session:
        counts = tuple(
            session.scalar(
                select(func.count()).select_from(model).where(model.account_id == account_id)
            )
            for model in (Refund, OutboxMessage, SubscriptionEvent)
        )
        payments = session.execute(
            select(Payment.id, Payment.status, Payment.refunded_amount, Payment.updated_at)
            .where(Payment.account_id == account_id)
            .order_by(Payment.id)
        ).all()
    subscriptions = story.api.ok(story.api.get("/subscriptions"))["data"]
    return counts, [tuple(p) for p in payments], subscriptions


def refused(response: Any, param: str | None = None) -> str:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["type"] == "conflict"
    assert error.get("param") == param
    message = str(error["message"])
    assert "still processing" in message and "once it has succeeded" in message
    return message


def test_the_refund_endpoint_refuses_a_processing_bank_debit(
    client: TestClient, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(card=SETTLES)
    paying = payment_id(story, sub["id"])
    before = written(story)

    for body in ({}, {"amount": "5.00"}, None):
        message = refused(story.api.post(f"/payments/{paying}/refund", body))
        assert paying in message and "bank debit" in message
    assert written(story) == before
    assert story.payments(sub["id"]) == [processing()]

    # Once the debit has settled, the same request refunds it.
    story.advance_to(date(2026, 3, 5))
    refunded = story.api.ok(story.api.post(f"/payments/{paying}/refund", {}))
    assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", "25.00")


def test_cancel_with_a_refund_while_the_period_is_processing_is_refused(
    client: TestClient, session_factory: Any
) -> None:
    """Canceling would end the subscription and refund nothing; the merchant is told to cancel
    without a refund, or to wait until the debit has succeeded."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=SETTLES)
    sid = sub["id"]
    paying = payment_id(story, sid)
    before = written(story)

    for refund in ("full", "prorated"):
        response = story.api.post(
            f"/subscriptions/{sid}/cancel", {"mode": "immediately", "refund": refund}
        )
        message = refused(response, param="refund")
        assert paying in message and "refund 'none'" in message
    assert written(story) == before
    assert story.subscription(sid)["status"] == "active"

    # Once the debit has succeeded, the same cancellation refunds it.
    story.advance_to(date(2026, 3, 5))
    canceled = story.cancel(sid, "immediately", refund="full")
    assert canceled["status"] == "canceled"
    assert story.payments(sid) == [("25.00", "refunded", None)]


def test_cancel_without_a_refund_while_processing_goes_through(
    client: TestClient, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sub = story.subscribe(card=SETTLES)
    canceled = story.cancel(sub["id"], "immediately", refund="none")
    assert canceled["status"] == "canceled"
    assert story.payments(sub["id"]) == [processing()]


def test_cancel_with_a_refund_while_a_renewal_is_processing_is_refused(
    client: TestClient, session_factory: Any
) -> None:
    """March has settled, April's debit is in flight: the refund is owed on April's payment, so
    it is refused rather than quietly skipped (or taken from March's)."""
    story = new_story(client, session_factory)
    sub = story.subscribe(card=SETTLES)
    sid = sub["id"]
    story.advance_to(date(2026, 4, 2))
    assert [p[1] for p in story.payments(sid)] == ["succeeded", "processing"]
    april = payment_id(story, sid)
    before = written(story)

    response = story.api.post(
        f"/subscriptions/{sid}/cancel", {"mode": "immediately", "refund": "full"}
    )
    assert april in refused(response, param="refund")
    assert written(story) == before

    # After April's debit has settled, the same cancellation refunds it in full.
    story.advance_to(date(2026, 4, 5))
    story.cancel(sid, "immediately", refund="full")
    assert [p[1] for p in story.payments(sid)] == ["succeeded", "refunded"]


def test_the_portal_refuses_a_cancel_with_refund_while_processing(
    client: TestClient, session_factory: Any
) -> None:
    """The merchant's portal cancels at once with a full refund: the buyer's cancel is refused
    while the debit is in flight, and nothing is written."""
    story = new_story(client, session_factory)
    story.api.ok(
        story.api.patch(
            "/portal-configuration",
            {"cancellation": {"mode": "immediately", "refund": "full", "reasons": ["unused"]}},
        )
    )
    sub = story.subscribe(card=SETTLES)
    link = story.api.ok(story.api.post(f"/subscriptions/{sub['id']}/portal-session"))
    path = link["url"].removeprefix("http://testserver")
    manage = client.get(f"{path}/manage")
    token = re.search(r'name="form_token" value="([^"]+)"', manage.text)
    assert token is not None
    before = written(story)

    form = {"form_token": token.group(1), "reason": "unused", "confirm": "on"}
    response = client.post(f"{path}/cancel", data=form, follow_redirects=False)
    assert response.status_code == 409
    # The buyer is told why and when to come back, not to reload and try again.
    assert "Your last bank payment is still being processed" in response.text
    assert "in a few days" in response.text
    assert written(story) == before
    assert story.subscription(sub["id"])["status"] == "active"


def test_a_downgrade_with_proration_while_the_period_is_processing_is_refused(
    client: TestClient, session_factory: Any
) -> None:
    """A cheaper plan mid-period is a credit refunded from the period's payment: while that
    bank debit is processing the credit cannot be paid, and was once dropped silently."""
    story = new_story(client, session_factory)
    sid = story.subscribe(card=SETTLES, price="30.00")["id"]
    paying = payment_id(story, sid)
    story.advance_to(date(2026, 3, 3))
    before = written(story)
    cheaper = {
        "line_items": [{"name": "Less", "unit_price": "10.00", "billing_frequency": "monthly"}]
    }

    message = refused(story.api.post(f"/subscriptions/{sid}/change", cheaper), param="proration")
    assert paying in message and "proration 'none'" in message
    assert written(story) == before
    assert [i["name"] for i in story.subscription(sid)["line_items"]] == ["Beans"]

    # Without proration the change goes through and refunds nothing.
    changed = story.api.ok(
        story.api.post(f"/subscriptions/{sid}/change", {**cheaper, "proration": "none"})
    )
    assert [i["name"] for i in changed["line_items"]] == ["Less"]
    assert story.payments(sid) == [processing("30.00")]


def test_a_downgrade_after_the_debit_settled_refunds_the_credit(
    client: TestClient, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    sid = story.subscribe(card=SETTLES, price="31.00")["id"]
    story.advance_to(date(2026, 3, 5))  # settled
    cheaper = {
        "line_items": [{"name": "Less", "unit_price": "0.00", "billing_frequency": "monthly"}]
    }
    story.api.ok(story.api.post(f"/subscriptions/{sid}/change", cheaper))
    # 27 of March's 31 days unused, at 1.00 a day.
    assert story.payments(sid) == [("31.00", "partially_refunded", None)]
    with story.session_factory() as session:
        refunded = session.scalar(
            select(func.sum(Refund.amount)).where(Refund.account_id == story.api.account_id)
        )
    assert refunded == 2700
