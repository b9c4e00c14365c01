"""The record page's cancel dialog, through the browser: a refund asked for while the period's
bank debit is processing is refused with the reason, and nothing is canceled or refunded."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Staff
from tests.web.test_subscription_actions import action, events
from tests.web.test_subscription_record import SETTLES_LATER, cells, set_clock, subscribe


def test_cancel_with_a_refund_while_the_bank_debit_processes_shows_why(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, number=SETTLES_LATER)
    before = events(session_factory, sub["id"])
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Cancel subscription").click()
    dialog = page.locator("#cancel-dialog")
    dialog.get_by_label("Refund the last payment in full").check()
    dialog.get_by_label("I understand the customer will not be charged again").check()
    dialog.get_by_role("button", name="Cancel subscription").click()

    # The dialog comes back open with the reason and the choice that was made.
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("dialog-error")).to_contain_text(
        "is still processing (a bank debit settles after a few days) and can be refunded once "
        "it has succeeded"
    )
    expect(dialog.get_by_label("Refund the last payment in full")).to_be_checked()
    expect(page.get_by_test_id("status-badge")).to_have_text("Active")
    assert cells(page, "payment") == [["Mar 1, 2026", "$25.00", "Processing", "", ""]]
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("processing", "0.00")
    assert events(session_factory, sub["id"]) == before
