"""The record panel's cancel dialog inside a running commitment: a second box, "End the
commitment early", is needed to cancel sooner than the commitment's end (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.scenarios.story import Story
from tests.web.http import SignedIn, signed_in

BOX = 'name="override_commitment"'


def committed(app: FastAPI, client: TestClient, session_factory: Any) -> tuple[Story, SignedIn]:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    story.advance_to(date(2026, 3, 1))
    return story, signed_in(app, session_factory, story.api)


def cancel(me: SignedIn, sid: str, **fields: str) -> httpx.Response:
    form = {"csrf_token": me.csrf_token, "understood": "on", "reason": "unused", **fields}
    return me.client.post(f"/subscriptions/{sid}/cancel", data=form, follow_redirects=False)


def test_the_dialog_asks_to_end_the_commitment_early(
    app: FastAPI, client: TestClient, session_factory: Any
) -> None:
    story, me = committed(app, client, session_factory)
    sid = story.subscribe(commitment_months=12)["id"]
    page = me.client.get(f"/subscriptions/{sid}").text
    assert BOX in page and "End the commitment early" in page
    assert "At the end of the commitment (Mar 1, 2027)" in page
    assert "At the end of the current period (" not in page
    assert "The subscription is committed until Mar 1, 2027" in page
    dutch = me.client.get(f"/subscriptions/{sid}", headers={"Accept-Language": "nl"}).text
    assert "De verbintenisperiode vroegtijdig beëindigen" in dutch
    assert "Aan het einde van de verbintenisperiode (" in dutch

    # A commitment that ends inside the paid year: the period end is the year's end.
    yearly = story.subscribe(
        email="yearly@example.com", frequency="annually", price="300.00", commitment_months=6
    )["id"]
    page = me.client.get(f"/subscriptions/{yearly}").text
    assert BOX in page and "The subscription is committed until Sep 1, 2026" in page
    assert "At the end of the current period (Mar 1, 2027)" in page
    assert "At the end of the commitment (" not in page

    # No commitment, no box.
    plain = story.subscribe(email="plain@example.com")["id"]
    page = me.client.get(f"/subscriptions/{plain}").text
    assert BOX not in page and "End the commitment early" not in page
    assert "At the end of the current period (Apr 1, 2026)" in page


def test_canceling_now_without_the_box_is_refused_and_changes_nothing(
    app: FastAPI, client: TestClient, session_factory: Any
) -> None:
    story, me = committed(app, client, session_factory)
    sid = story.subscribe(commitment_months=12)["id"]
    before = story.subscription(sid)
    for fields in ({"mode": "immediately"}, {"mode": "at_date", "cancel_at": "2026-06-01"}):
        response = cancel(me, sid, **fields)
        assert response.status_code == 409, response.text
        assert (
            "The subscription is committed until Mar 1, 2027. Tick “End the commitment early” "
            "to cancel sooner, or cancel at the end of the commitment." in response.text
        )
        assert 'data-testid="dialog-error"' in response.text
        assert story.subscription(sid) == before


def test_with_the_box_ticked_it_cancels_now(
    app: FastAPI, client: TestClient, session_factory: Any
) -> None:
    story, me = committed(app, client, session_factory)
    sid = story.subscribe(commitment_months=12)["id"]
    response = cancel(me, sid, mode="immediately", override_commitment="on")
    assert response.status_code == 303, response.text
    canceled = story.subscription(sid)
    assert (canceled["status"], canceled["cancellation_reason"]) == ("canceled", "unused")
    assert "The subscription was canceled." in me.client.get(response.headers["location"]).text


def test_at_the_period_end_the_box_changes_nothing(
    app: FastAPI, client: TestClient, session_factory: Any
) -> None:
    """The box only ends a commitment sooner: at the period end it still runs to its end."""
    story, me = committed(app, client, session_factory)
    sid = story.subscribe(commitment_months=12)["id"]
    response = cancel(me, sid, mode="at_period_end", override_commitment="on")
    assert response.status_code == 303, response.text
    canceling = story.subscription(sid)
    assert (canceling["status"], canceling["cancel_at"]) == ("active", "2027-03-01")
    assert story.new_outbox(sid)[-1] == "subscription.non_renewal_notice"
