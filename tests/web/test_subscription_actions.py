"""Actions of the subscription record panel, through the browser: cancel (with the confirmation
box, refunds, a pending bank payment), reactivate, pause and resume, delete, edit, change plan,
and the update-payment-method link — each checked on the page and in what the API holds."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from cadency.kit import signing
from cadency.kit.outbox import OutboxMessage
from cadency.subscriptions.models import SubscriptionEvent
from tests.web.conftest import Staff, screenshot
from tests.web.test_subscription_record import (
    SETTLES_LATER,
    cells,
    payment_method,
    set_clock,
    shown_facts,
    subscribe,
    texts,
)


def action(page: Page, name: str) -> Locator:
    return page.get_by_test_id("record-actions").get_by_role("button", name=name, exact=True)


def flash(page: Page) -> Locator:
    return page.get_by_test_id("flash")


def forged_post(page: Page, base_url: str, path: str, data: dict[str, str]) -> httpx.Response:
    """A POST from outside the page, with the signed-in session's cookie and CSRF token."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=base_url, cookies=cookies) as client:
        return client.post(path, data={"csrf_token": token, **data})


def events(session_factory: Any, sub_id: str) -> list[str]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(SubscriptionEvent.type)
                .where(SubscriptionEvent.subscription_id == sub_id)
                .order_by(SubscriptionEvent.id)
            )
        )


# --- cancel -------------------------------------------------------------------------------


def test_cancel_immediately_with_a_prorated_refund(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, price="31.00")  # March has 31 days: 1.00 a day
    api.ok(api.post("/clock/advance", {"to": "2026-03-11T09:00:00+00:00"}))

    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Cancel subscription").click()
    dialog = page.locator("#cancel-dialog")
    expect(dialog).to_be_visible()
    confirm = dialog.get_by_role("button", name="Cancel subscription")
    expect(confirm).to_be_disabled()
    expect(dialog.get_by_label("Immediately")).to_be_checked()
    dialog.get_by_label("Refund the unused days of the current period").check()
    # Reasons are boxes: several may be ticked (issue 19).
    dialog.get_by_label("Too expensive").check()
    dialog.get_by_label("Missing features").check()
    dialog.get_by_label("Comment").fill("Moving abroad")
    box = dialog.get_by_label("I understand the customer will not be charged again")
    box.check()
    expect(confirm).to_be_enabled()
    box.uncheck()
    expect(confirm).to_be_disabled()
    box.check()
    screenshot(page, "subscription-cancel-dialog")
    screenshot(page, "subscription-cancel-reasons-en")
    confirm.click()

    # 11 March to 1 April: 21 unused days of 31.
    expect(flash(page)).to_have_text("The subscription was canceled and $21.00 was refunded.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceled")
    assert shown_facts(
        page,
        {
            "fact-canceled-on": "Mar 11, 2026",
            "fact-cancellation-reason": "Too expensive, Missing features",
            "fact-collected": "$10.00",
            "fact-next-payment-date": "—",
        },
    ) == {
        "fact-canceled-on": "Mar 11, 2026",
        "fact-cancellation-reason": "Too expensive, Missing features",
        "fact-collected": "$10.00",
        "fact-next-payment-date": "—",
    }
    assert cells(page, "payment") == [["Mar 1, 2026", "$31.00", "Partially refunded", "", "$21.00"]]
    assert texts(page, "timeline-entry")[0] == (
        "Mar 11, 2026\nThe subscription was canceled and $21.00 was refunded."
    )
    # Only delete is left for a canceled subscription.
    expect(action(page, "Cancel subscription")).to_have_count(0)
    expect(action(page, "Pause")).to_have_count(0)
    expect(action(page, "Delete")).to_be_visible()

    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["cancellation_reason"], stored["cancellation_comment"]) == (
        "canceled",
        "too_expensive",
        "Moving abroad",
    )
    assert stored["cancellation_reasons"] == ["too_expensive", "missing_features"]
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("partially_refunded", "21.00")


def test_cancel_at_period_end_then_reactivate(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(action(page, "Reactivate")).to_have_count(0)
    action(page, "Cancel subscription").click()
    dialog = page.locator("#cancel-dialog")
    dialog.get_by_label("At the end of the current period (Apr 1, 2026)").check()
    # At the period end nothing is unused: the refund choice is locked to "No refund".
    expect(dialog.get_by_label("Refund the last payment in full")).to_be_disabled()
    expect(dialog.get_by_label("No refund")).to_be_checked()
    dialog.get_by_label("I understand the customer will not be charged again").check()
    dialog.get_by_role("button", name="Cancel subscription").click()

    expect(flash(page)).to_have_text("The subscription will be canceled on Apr 1, 2026.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceling")
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["cancel_at_period_end"], stored["cancel_at"]) == (
        "active",
        True,
        "2026-04-01",
    )

    action(page, "Reactivate").click()
    expect(flash(page)).to_have_text("The subscription was reactivated: it renews as usual.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Active")
    expect(action(page, "Reactivate")).to_have_count(0)
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["cancel_at_period_end"], stored["cancel_at"]) == (False, None)
    assert texts(page, "timeline-entry")[0] == (
        "Mar 1, 2026\nThe scheduled cancellation was withdrawn: the subscription renews again."
    )


def test_cancel_on_a_date_with_a_prorated_refund(staff: Staff, session_factory: Any) -> None:
    """On a date, the unused days can be refunded (made on that date); the full refund stays
    locked, and going back to the period end locks the refund to "No refund"."""
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, price="31.00")  # March has 31 days: 1.00 a day
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Cancel subscription").click()
    dialog = page.locator("#cancel-dialog")
    dialog.get_by_label("At the end of the current period (Apr 1, 2026)").check()
    expect(dialog.get_by_label("Refund the unused days of the current period")).to_be_disabled()
    dialog.get_by_label("On a date").check()
    expect(dialog.get_by_label("Refund the last payment in full")).to_be_disabled()
    prorated = dialog.get_by_label("Refund the unused days of the current period")
    expect(prorated).to_be_enabled()
    prorated.check()
    dialog.get_by_label("Cancellation date").fill("2026-03-11")
    dialog.get_by_label("I understand the customer will not be charged again").check()
    dialog.get_by_role("button", name="Cancel subscription").click()

    expect(flash(page)).to_have_text(
        "The subscription will be canceled on Mar 11, 2026, and the unused days of its period "
        "refunded then."
    )
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceling")
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("succeeded", "0.00")

    api.ok(api.post("/clock/advance", {"to": "2026-03-11T09:00:00+00:00"}))
    # 11 March to 1 April: 21 unused days of 31.
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("partially_refunded", "21.00")
    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceled")
    assert texts(page, "timeline-entry")[0] == (
        "Mar 11, 2026\nThe subscription was canceled and $21.00 was refunded."
    )


def test_the_server_refuses_a_cancel_without_the_checkbox(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    before = events(session_factory, sub["id"])
    forged = forged_post(
        page,
        staff.base_url,
        f"/subscriptions/{sub['id']}/cancel",
        {"mode": "immediately", "refund": "full"},
    )
    assert forged.status_code == 422
    assert "Tick the box to confirm that you understand the customer will not be charged" in (
        forged.text
    )
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["cancel_at_period_end"]) == ("active", False)
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert payment["status"] == "succeeded"
    assert events(session_factory, sub["id"]) == before


def test_a_refused_cancellation_shows_why_and_cancels_nothing(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Cancel subscription").click()
    dialog = page.locator("#cancel-dialog")
    dialog.get_by_label("On a date").check()
    dialog.get_by_label("Cancellation date").fill("2026-02-01")
    dialog.get_by_label("Not using it").check()
    dialog.get_by_label("Customer service").check()
    dialog.get_by_label("Comment").fill("Asked by phone")
    dialog.get_by_label("I understand the customer will not be charged again").check()
    dialog.get_by_role("button", name="Cancel subscription").click()

    # The dialog comes back open with the service's message and what was typed.
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("dialog-error")).to_contain_text(
        "Choose a cancellation date after today (Mar 1, 2026) and before the subscription's end "
        "date."
    )
    expect(dialog.get_by_label("On a date")).to_be_checked()
    expect(dialog.get_by_label("Comment")).to_have_value("Asked by phone")
    expect(dialog.get_by_label("Not using it")).to_be_checked()
    expect(dialog.get_by_label("Customer service")).to_be_checked()
    expect(dialog.get_by_label("Too expensive")).not_to_be_checked()
    expect(dialog.get_by_role("button", name="Cancel subscription")).to_be_disabled()
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["cancel_at"], stored["cancellation_comment"]) == (
        "active",
        None,
        None,
    )
    assert stored["cancellation_reasons"] == []


def test_cancel_tells_that_a_pending_bank_payment_is_not_cancelled(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, number=SETTLES_LATER)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    assert cells(page, "payment") == [["Mar 1, 2026", "$25.00", "Processing", "", ""]]
    action(page, "Cancel subscription").click()
    dialog = page.locator("#cancel-dialog")
    expect(dialog.get_by_test_id("pending-bank-payment")).to_contain_text(
        "Canceling does not cancel or refund it"
    )
    dialog.get_by_label("I understand the customer will not be charged again").check()
    dialog.get_by_role("button", name="Cancel subscription").click()

    expect(flash(page)).to_have_text(
        "The subscription was canceled. A bank payment is still pending: it is not cancelled "
        "or refunded automatically. Refund it once it has settled if the customer should not "
        "pay it."
    )
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceled")
    assert cells(page, "payment") == [["Mar 1, 2026", "$25.00", "Processing", "", ""]]
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "canceled"
    payment = api.ok(api.get("/payments", params={"subscription_id": sub["id"]}))["data"][0]
    assert (payment["status"], payment["refunded_amount"]) == ("processing", "0.00")


def test_cancel_with_several_reasons_in_dutch_then_reactivate(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    page.locator("#language-switch").select_option("nl")
    action(page, "Abonnement annuleren").click()
    dialog = page.locator("#cancel-dialog")
    expect(dialog.get_by_test_id("cancel-reasons").locator("legend")).to_have_text("Redenen")
    dialog.get_by_label("Aan het einde van de huidige periode (1 apr 2026)").check()
    dialog.get_by_label("Te duur").check()
    dialog.get_by_label("Wordt niet gebruikt").check()
    dialog.get_by_label("Ik begrijp dat de klant niet opnieuw wordt belast").check()
    screenshot(page, "subscription-cancel-reasons-nl")
    dialog.get_by_role("button", name="Abonnement annuleren").click()

    expect(flash(page)).to_have_text("Het abonnement wordt geannuleerd op 1 apr 2026.")
    # The facts list every reason, under the plural heading.
    reasons = page.get_by_test_id("fact-cancellation-reason")
    expect(reasons).to_have_text("Te duur, Wordt niet gebruikt")
    expect(page.locator("dt", has_text="Redenen van annulering")).to_have_count(1)
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["cancellation_reason"], stored["cancellation_reasons"]) == (
        "too_expensive",
        ["too_expensive", "unused"],
    )

    # Reactivating clears the reasons with the cancellation.
    action(page, "Opnieuw activeren").click()
    expect(page.get_by_test_id("fact-cancellation-reason")).to_have_count(0)
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["cancellation_reason"], stored["cancellation_reasons"]) == (None, [])


def test_the_server_refuses_a_reason_ticked_twice(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=staff.base_url, cookies=cookies) as client:
        forged = client.post(
            f"/subscriptions/{sub['id']}/cancel",
            data={
                "csrf_token": token,
                "understood": "on",
                "mode": "immediately",
                "reasons": ["unused", "unused"],
            },
        )
    assert forged.status_code == 422
    assert "Check this value: must not name a reason twice" in forged.text
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"


# --- pause, resume ---------------------------------------------------------------------------


def test_pause_with_a_resume_date_then_resume(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(action(page, "Resume")).to_have_count(0)

    action(page, "Pause").click()
    dialog = page.locator("#pause-dialog")
    dialog.get_by_label("Resume on (optional)").fill("2026-03-01")
    dialog.get_by_role("button", name="Pause subscription").click()
    expect(dialog.get_by_test_id("dialog-error")).to_contain_text(
        "Choose a date after today (Mar 1, 2026) to resume on, or leave it empty."
    )
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"

    dialog.get_by_label("Resume on (optional)").fill("2026-04-15")
    dialog.get_by_role("button", name="Pause subscription").click()
    expect(flash(page)).to_have_text("The subscription was paused. It resumes on Apr 15, 2026.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Paused")
    expect(page.get_by_test_id("fact-resume-date")).to_have_text("Apr 15, 2026")
    expect(action(page, "Pause")).to_have_count(0)
    expect(action(page, "Change plan")).to_have_count(0)
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["resume_at"], stored["next_payment_date"]) == (
        "paused",
        "2026-04-15",
        None,
    )

    action(page, "Resume").click()
    expect(flash(page)).to_have_text("The subscription was resumed: a new period starts today.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Active")
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["resume_at"]) == ("active", None)
    timeline = texts(page, "timeline-entry")
    assert "Mar 1, 2026\nThe subscription was paused until Apr 15, 2026." in timeline
    assert "Mar 1, 2026\nThe subscription was resumed." in timeline


# --- delete ----------------------------------------------------------------------------------


def test_delete_a_canceled_subscription(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}))
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Delete").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog.get_by_test_id("export-advice")).to_have_text(
        "To keep a copy of the subscription, export it from the subscriptions list before you "
        "delete it."
    )
    dialog.get_by_role("button", name="Delete subscription").click()

    expect(page).to_have_url(f"{staff.base_url}/subscriptions")
    expect(flash(page)).to_have_text("The subscription “Beans” was deleted.")
    assert api.get(f"/subscriptions/{sub['id']}").status_code == 404
    # Invoices and payments are financial records: they stay.
    assert len(api.ok(api.get("/invoices", params={"subscription_id": sub["id"]}))["data"]) == 1


def test_an_active_subscription_cannot_be_deleted(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(action(page, "Delete")).to_have_count(0)
    forged = forged_post(page, staff.base_url, f"/subscriptions/{sub['id']}/delete", {})
    assert forged.status_code == 409
    assert "Only canceled or expired subscriptions can be deleted" in forged.text
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"


# --- edit, change plan -----------------------------------------------------------------------


def test_edit_the_payment_method_next_payment_date_and_address(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    mastercard = payment_method(api, sub["contact_id"], "5555555555554444")
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Edit").click()
    dialog = page.locator("#edit-dialog")
    dialog.get_by_label("Next payment date").fill("2026-02-20")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_test_id("dialog-error")).to_contain_text(
        "Choose a next payment date after today (Mar 1, 2026) and within the subscription's term."
    )
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["next_payment_date"] == "2026-04-01"

    dialog.get_by_label("Next payment date").fill("2026-04-20")
    dialog.get_by_label("Payment method").select_option(label="Mastercard ending in 4444")
    dialog.get_by_label("Address line 1").fill("Herengracht 1")
    dialog.get_by_label("Postal code").fill("1015 BA")
    dialog.get_by_label("City").fill("Amsterdam")
    dialog.get_by_label("Country (two letters, e.g. NL)").fill("nl")
    dialog.get_by_role("button", name="Save").click()

    expect(flash(page)).to_have_text("The subscription was saved.")
    expected = {
        "fact-next-payment-date": "Apr 20, 2026",
        "fact-payment-method": "Mastercard ending in 4444",
        "fact-billing-address": "Herengracht 1\n1015 BA Amsterdam\nNL",
    }
    assert shown_facts(page, expected) == expected
    assert texts(page, "timeline-entry")[0] == (
        "Mar 1, 2026\nThe subscription was edited: payment method, billing address, next "
        "payment date."
    )
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert stored["next_payment_date"] == "2026-04-20"
    assert stored["payment_method_id"] == mastercard
    assert stored["billing_address"] == {
        "line1": "Herengracht 1",
        "line2": None,
        "city": "Amsterdam",
        "postal_code": "1015 BA",
        "region": None,
        "country": "NL",
    }

    # Saving again without changes writes nothing.
    before = events(session_factory, sub["id"])
    action(page, "Edit").click()
    dialog.get_by_role("button", name="Save").click()
    expect(flash(page)).to_have_text("Nothing was changed.")
    assert events(session_factory, sub["id"]) == before


def test_change_the_quantity_now_with_proration(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, price="31.00")
    api.ok(api.post("/clock/advance", {"to": "2026-03-11T09:00:00+00:00"}))
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Change plan").click()
    dialog = page.locator("#change-dialog")
    dialog.get_by_label("Unit price of Beans").fill("31.005")
    dialog.get_by_role("button", name="Change plan").click()
    expect(dialog.get_by_test_id("dialog-error")).to_contain_text(
        "Invalid value for 'line_items.0.unit_price'"
    )
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["line_items"][0]["quantity"] == 1
    dialog.get_by_label("Unit price of Beans").fill("31.00")

    dialog.get_by_label("Quantity of Beans").fill("2")
    expect(
        dialog.get_by_label(
            "Now, prorated: credit the unused time of the current plan and charge the rest of "
            "the period at the new price"
        )
    ).to_be_checked()
    dialog.get_by_role("button", name="Change plan").click()

    expect(flash(page)).to_have_text("The plan was changed.")
    assert cells(page, "line-item") == [["Beans\nMonthly", "2", "$31.00", "—", "—", "$62.00"]]
    # 21 of 31 days left: 21.00 credited at the old price, 42.00 charged at the new one.
    invoices = cells(page, "invoice")
    assert [(row[0], row[1], row[5]) for row in invoices] == [
        ("INV-000002", "Paid", "$21.00"),
        ("INV-000001", "Paid", "$31.00"),
    ]
    expect(page.get_by_test_id("fact-next-payment-amount")).to_have_text("$62.00")
    assert texts(page, "timeline-entry")[0].startswith("Mar 11, 2026\n")
    assert "Mar 11, 2026\nThe plan was changed from Beans to Beans." in texts(
        page, "timeline-entry"
    )
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert [(i["quantity"], i["amount"]) for i in stored["line_items"]] == [(2, "62.00")]
    assert stored["total_collected"] == "52.00"


def test_change_the_price_from_the_next_period(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, price="31.00")
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Change plan").click()
    dialog = page.locator("#change-dialog")
    dialog.get_by_label("Unit price of Beans").fill("40.00")
    dialog.get_by_label("At the end of the current period, on Apr 1, 2026").check()
    dialog.get_by_role("button", name="Change plan").click()

    expect(flash(page)).to_have_text("The new plan starts with the next period, on Apr 1, 2026.")
    expect(page.get_by_test_id("pending-change")).to_contain_text("Apr 1, 2026")
    assert cells(page, "line-item") == [["Beans\nMonthly", "1", "$31.00", "—", "—", "$31.00"]]
    assert texts(page, "timeline-entry")[0] == (
        "Mar 1, 2026\nA change of plan to Beans was scheduled for Apr 1, 2026."
    )
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["line_items"][0]["unit_price"] == "31.00"
    api.ok(api.post("/clock/advance", {"to": "2026-04-01T09:00:00+00:00"}))
    renewed = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert renewed["line_items"][0]["unit_price"] == "40.00"
    assert renewed["last_payment_amount"] == "40.00"


# --- update-payment-method link --------------------------------------------------------------


def test_send_a_link_to_update_the_payment_method(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, email="buyer@example.com")
    page = staff.goto(f"/subscriptions/{sub['id']}")
    action(page, "Send payment method link").click()
    dialog = page.locator("#link-dialog")
    expect(dialog).to_contain_text("buyer@example.com gets an email with a secure link")
    dialog.get_by_role("button", name="Send link").click()

    expect(flash(page)).to_have_text(
        "A link to update the payment method was sent to buyer@example.com."
    )
    assert texts(page, "timeline-entry")[0] == (
        "Mar 1, 2026\nA link to update the payment method was sent to buyer@example.com."
    )
    with session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subscription_id == sub["id"],
                OutboxMessage.type == "subscription.payment_method_update_requested",
            )
        ).all()
        assert len(rows) == 1
        payload = rows[0].payload
        assert (payload["contact_id"], payload["email"]) == (sub["contact_id"], "buyer@example.com")
        prefix = "http://testserver/billing/update-payment-method/"
        assert payload["url"].startswith(prefix)
        token = payload["url"].removeprefix(prefix)
        # Bound to the billing contact it was made for.
        assert signing.unsign(session, "update_payment_method", token) == {
            "subscription_id": sub["id"],
            "account_id": api.account_id,
            "contact_id": sub["contact_id"],
        }
        # Made for this purpose only: it opens nothing else.
        try:
            signing.unsign(session, "portal", token)
        except signing.BadSignature:
            pass
        else:
            raise AssertionError("the token was accepted for another purpose")
