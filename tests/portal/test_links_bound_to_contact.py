"""Links to a subscription's buyer pages (portal, update payment method) are bound to the billing
contact they were made for (issue 11): once the subscription bills another contact, the previous
contact's link answers 410 with a page saying so, and shows nothing of the subscription."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.kit import clock, signing
from cadency.payments.models import PaymentMethod
from cadency.portal.links import PORTAL_PURPOSE
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.models import Subscription
from tests.conftest import Api

STALE = "made for a previous billing contact"


def contact(api: Api, email: str) -> str:
    return str(api.ok(api.post("/contacts", {"email": email}))["id"])


def subscription(api: Api, contact_id: str) -> dict[str, Any]:
    created: dict[str, Any] = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "name": "Secret beans plan",
                "currency": "USD",
                "collection_method": "send_invoice",
                "line_items": [
                    {"name": "Beans", "unit_price": "49.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    return created


def portal_path(api: Api, subscription_id: str) -> str:
    made = api.ok(api.post(f"/subscriptions/{subscription_id}/portal-session"))
    return urlsplit(str(made["url"])).path


def payment_method_path(session_factory: Any, subscription_id: str) -> str:
    with session_factory() as session:
        row = session.get(Subscription, subscription_id)
        path, _ = subscription_service.payment_method_link_path(session, row)
        session.commit()
    return path


def gone(response: Any) -> None:
    assert response.status_code == 410, response.text
    assert STALE in response.text
    assert "Secret beans plan" not in response.text


def test_a_link_stops_working_when_the_subscription_moves_to_another_contact(
    api: Api, client: TestClient, session_factory: Any
) -> None:
    anna, bo = contact(api, "anna@example.com"), contact(api, "bo@example.com")
    sub = subscription(api, anna)
    portal = portal_path(api, sub["id"])
    update = payment_method_path(session_factory, sub["id"])
    assert "Secret beans plan" in client.get(portal).text
    assert client.get(update).status_code == 200

    api.ok(api.patch(f"/subscriptions/{sub['id']}", {"contact_id": bo}))

    gone(client.get(portal))
    gone(client.get(f"{portal}/manage"))
    gone(client.post(f"{portal}/cancel", data={"cancellation.mode": "immediately"}))
    gone(client.get(update))
    card = {"type": "card", "number": "4242424242424242", "exp_month": "12", "exp_year": "2045"}
    gone(client.post(update, data={**card, "cvc": "123"}))
    with session_factory() as session:
        saved = session.scalar(
            select(func.count())
            .select_from(PaymentMethod)
            .where(PaymentMethod.account_id == api.account_id)
        )
    assert saved == 0
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"

    # The buyer reads why in their language; a link made for the new contact works.
    dutch = client.get(portal, headers={"accept-language": "nl"})
    assert "vorig factuurcontact" in dutch.text
    assert "Secret beans plan" in client.get(portal_path(api, sub["id"])).text
    assert client.get(payment_method_path(session_factory, sub["id"])).status_code == 200


def test_a_link_that_names_no_contact_is_refused(
    api: Api, client: TestClient, session_factory: Any
) -> None:
    """Links signed before they were bound name no contact: which one they were for is
    unknown, so they are refused (they lasted at most a week anyway)."""
    sub = subscription(api, contact(api, "cy@example.com"))
    with session_factory() as session:
        token = signing.sign(
            session,
            PORTAL_PURPOSE,
            {"subscription_id": sub["id"], "account_id": api.account_id},
            clock.real_now() + timedelta(hours=1),
        )
        session.commit()
    gone(client.get(f"/billing/portal/{token}"))
