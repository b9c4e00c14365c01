"""The buyer cancels in the portal during a commitment: only the merchant may end it early, so
even a portal set to cancel immediately stops renewal at the commitment's end (SPEC §6)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.conftest import Api
from tests.scenarios.story import Story, inv, paid


def portal_cancel(api: Api, client: TestClient, sid: str, shown: list[str]) -> Any:
    """Cancel on the buyer's manage page, as the buyer would, with a portal session the
    merchant (`api`) opened; `shown` gets the page."""
    session = api.ok(api.post(f"/subscriptions/{sid}/portal-session"))
    manage = client.get(urlsplit(str(session["url"])).path + "/manage")
    assert manage.status_code == 200, manage.text
    shown.append(manage.text)
    token = re.search(r'name="form_token" value="([^"]+)"', manage.text)
    assert token is not None
    action = re.search(r'action="([^"]*/cancel)"', manage.text)
    assert action is not None
    return client.post(
        action.group(1),
        data={"form_token": token.group(1), "reason": "unused", "confirm": "1"},
        follow_redirects=False,
    )


def test_a_portal_cancel_inside_a_commitment_stops_renewal_at_its_end(
    client: TestClient, session_factory: Any
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    story.api.ok(
        story.api.patch(
            "/portal-configuration", {"cancellation": {"mode": "immediately", "refund": "full"}}
        )
    )
    sid = story.subscribe(commitment_months=12)["id"]
    story.advance_to(date(2026, 4, 10))
    story.new_outbox(sid)

    shown: list[str] = []
    response = portal_cancel(story.api, client, sid, shown)
    # The page says so before the buyer cancels.
    assert (
        "Your subscription has a commitment until Mar 1, 2027: it stays active and is billed "
        "until then, and is then not renewed." in shown[0]
    )
    assert "Your subscription ends right away." not in shown[0]
    assert response.status_code == 303, response.text
    story.expect(
        sid,
        status="active",
        invoices=[inv("2026-03-01", "2026-04-01"), inv("2026-04-01", "2026-05-01")],
        payments=[paid(), paid()],  # nothing refunded: the buyer keeps paying
        outbox=["subscription.non_renewal_notice"],
        cancel_at="2027-03-01",
        cancel_at_period_end=True,
        cancellation_reason="unused",
    )

    # Without a commitment the portal's own mode applies: canceled now, refunded in full.
    other = story.subscribe(email="other@example.com")["id"]
    assert portal_cancel(story.api, client, other, shown).status_code == 303
    assert "Your subscription ends right away." in shown[1]
    assert story.subscription(other)["status"] == "canceled"
    assert story.payments(other) == [("25.00", "refunded", None)]
