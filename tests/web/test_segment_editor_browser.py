"""The segment editor in the browser: the index's filter editor (with the days-ago operator),
the live member count while editing, saving, and the members afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.conftest import pin_clock
from tests.subscriptions.helpers import create_subscription
from tests.web.conftest import Staff, screenshot

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


def test_build_the_win_back_segment_in_the_editor(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    pin_clock(session_factory, api.account_id, NOW - timedelta(days=90))
    long_ago = create_subscription(api, email="long-ago@example.com")
    api.ok(api.post(f"/subscriptions/{long_ago['id']}/cancel", {"mode": "immediately"}))
    pin_clock(session_factory, api.account_id, NOW - timedelta(days=10))
    recent = create_subscription(api, email="recent@example.com")
    api.ok(api.post(f"/subscriptions/{recent['id']}/cancel", {"mode": "immediately"}))
    pin_clock(session_factory, api.account_id, NOW)

    page = staff.goto("/subscriptions")
    page.get_by_role("link", name="Segments").click()
    page.get_by_test_id("new-subscriptions").click()
    page.get_by_label("Name").fill("Win-back")
    rows = page.locator("[data-filter-row]")
    rows.nth(0).get_by_label("Property").select_option(label="Status")
    rows.nth(0).get_by_label("Operator").select_option(label="is any of")
    rows.nth(0).get_by_label("Value", exact=True).fill("canceled, expired")
    rows.nth(0).get_by_label("Value", exact=True).blur()
    expect(page.get_by_test_id("live-count")).to_have_text("2 members")

    page.get_by_role("button", name="Add filter (and)").click()
    rows.nth(1).get_by_label("Property").select_option(label="Canceled on")
    rows.nth(1).get_by_label("Operator").select_option(label="is less than this many days ago")
    days = rows.nth(1).get_by_label("Value", exact=True)
    expect(days).to_have_attribute("type", "number")
    days.fill("60")
    days.blur()
    expect(page.get_by_test_id("live-count")).to_have_text("1 member")
    screenshot(page, "segment-editor-win-back")

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Saved the segment “Win-back”.")
    expect(page.locator(f"[data-testid='row-{recent['id']}']")).to_be_visible()
    expect(page.locator(f"[data-testid='row-{long_ago['id']}']")).to_have_count(0)

    saved = api.ok(api.get("/segments"))["data"]
    assert [s["name"] for s in saved] == ["Win-back"]
    assert saved[0]["member_count"] == 1
    assert saved[0]["filter_groups"] == [
        {
            "filters": [
                {"property": "status", "operator": "in", "values": ["canceled", "expired"]},
                {"property": "canceled_at", "operator": "less_than_days_ago", "value": 60},
            ]
        }
    ]

    page.get_by_role("link", name="All segments").click()
    expect(page.get_by_test_id(f"segment-{saved[0]['id']}")).to_contain_text("Win-back")
