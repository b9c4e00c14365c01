"""The test-clock page of a test-mode account: moves the clock by a day, a week, a month or to
a date, runs what is due on the way, and says what ran; only super admins, only test mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI
from playwright.sync_api import expect

from cadency.accounts.models import Account
from tests.conftest import Api, pin_clock
from tests.subscriptions.helpers import create_subscription
from tests.web.conftest import Staff, screenshot
from tests.web.http import signed_in

START = datetime(2026, 3, 1, 8, tzinfo=UTC)


def invoices(api: Api, subscription_id: str) -> list[str]:
    found = api.ok(api.get("/invoices", params={"subscription_id": subscription_id}))["data"]
    return sorted(i["period_start"] for i in found)


def flash(response: Any) -> str:
    return unquote(response.cookies.get("cadency_flash") or "")


def test_steps_and_dates_move_the_clock_and_run_what_is_due(
    app: FastAPI, api: Api, session_factory: Any
) -> None:
    pin_clock(session_factory, api.account_id, START)
    sub = create_subscription(api)
    me = signed_in(app, session_factory, api)
    page = me.client.get("/settings/test-clock")
    assert page.status_code == 200
    assert 'data-testid="clock-now">Mar 1, 2026' in page.text
    assert 'href="/settings/test-clock" data-testid="test-clock-link"' in page.text
    billed = invoices(api, sub["id"])

    moved = me.client.post(
        "/settings/test-clock",
        data={"csrf_token": me.csrf_token, "step": "day"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert api.ok(api.get("/clock"))["today"] == "2026-03-02"
    assert invoices(api, sub["id"]) == billed  # nothing was due on the way

    moved = me.client.post(
        "/settings/test-clock",
        data={"csrf_token": me.csrf_token, "date": "2026-04-03"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert api.ok(api.get("/clock"))["today"] == "2026-04-03"
    # The renewal of April 1st ran on the way: a new invoice, charged.
    assert invoices(api, sub["id"]) == sorted([*billed, "2026-04-01"])
    said = flash(moved)
    assert said.startswith("The clock is now Apr 3, 2026"), said
    assert said.endswith("Invoices created: 1. Payments created: 1."), said
    shown = me.client.get("/settings/test-clock")
    assert 'data-testid="clock-now">Apr 3, 2026' in shown.text

    for step, today in (("week", "2026-04-10"), ("month", "2026-05-10")):
        me.client.post("/settings/test-clock", data={"csrf_token": me.csrf_token, "step": step})
        assert api.ok(api.get("/clock"))["today"] == today


def test_bad_input_is_refused_and_moves_nothing(
    app: FastAPI, api: Api, session_factory: Any
) -> None:
    pin_clock(session_factory, api.account_id, START)
    me = signed_in(app, session_factory, api)
    for data, status, message in (
        ({"date": "2026-03-01"}, 422, "Choose a date after today."),
        ({"date": "2026-02-10"}, 422, "Choose a date after today."),
        ({"date": "next week"}, 422, "Enter a date such as 2027-01-31."),
        ({"step": "year"}, 422, "Choose how far to move the clock."),
        ({}, 422, "Choose how far to move the clock."),
        ({"date": "2035-01-01"}, 422, "The clock moves at most 5 years at a time."),
    ):
        refused = me.client.post("/settings/test-clock", data={"csrf_token": me.csrf_token, **data})
        assert refused.status_code == status, (data, refused.status_code)
        assert message in refused.text, data
    assert api.ok(api.get("/clock"))["now"].startswith("2026-03-01T08:00")
    # Without the CSRF token nothing moves either.
    forged = me.client.post("/settings/test-clock", data={"step": "day"})
    assert forged.status_code == 403
    assert api.ok(api.get("/clock"))["today"] == "2026-03-01"


def test_only_super_admins_of_test_accounts_move_it(
    app: FastAPI, api: Api, session_factory: Any
) -> None:
    pin_clock(session_factory, api.account_id, START)
    viewer = signed_in(
        app, session_factory, api, email="viewer@example.com", permissions=["billing.edit"]
    )
    assert viewer.client.get("/settings/test-clock").status_code == 403
    assert "test-clock-link" not in viewer.client.get("/settings/billing").text
    refused = viewer.client.post(
        "/settings/test-clock", data={"csrf_token": viewer.csrf_token, "step": "day"}
    )
    assert refused.status_code == 403
    assert api.ok(api.get("/clock"))["today"] == "2026-03-01"

    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        account.mode = "live"
        session.commit()
    admin = signed_in(app, session_factory, api)
    page = admin.client.get("/settings/test-clock")
    assert 'data-testid="live-account"' in page.text
    assert "test-clock-link" not in page.text
    live = admin.client.post(
        "/settings/test-clock", data={"csrf_token": admin.csrf_token, "step": "day"}
    )
    assert live.status_code == 409


def test_the_clock_in_the_browser(staff: Staff, session_factory: Any) -> None:
    pin_clock(session_factory, staff.api.account_id, START)
    create_subscription(staff.api)
    page = staff.goto("/subscriptions")
    page.get_by_test_id("test-clock-link").click()
    expect(page.get_by_test_id("clock-now")).to_contain_text("Mar 1, 2026")
    screenshot(page, "test-clock-en")
    page.get_by_test_id("advance-month").click()
    expect(page.get_by_test_id("clock-now")).to_contain_text("Apr 1, 2026")
    expect(page.locator("body")).to_contain_text("Invoices created: 1. Payments created: 1.")
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("h1")).to_have_text("Testklok")
    page.locator("#f-date").fill("2026-04-15")
    page.get_by_test_id("advance-date").click()
    expect(page.get_by_test_id("clock-now")).to_contain_text("15 apr 2026")
    expect(page.locator("body")).to_contain_text("Gemaakte facturen: 0.")
    screenshot(page, "test-clock-nl")
