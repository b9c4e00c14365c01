"""Account & billing (SPEC §9): a merchant account's own plan as its billing settings page:
the trial, paid seats (and the cancel they block), the way into the operator's portal for this
plan, and partners told to contact support."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from cadency.accounts.models import Account
from cadency.plans import service as plans
from cadency.plans.models import SeatAssignment
from tests.conftest import Operator
from tests.web.conftest import Staff, add_user, screenshot


def enroll(session_factory: Any, staff: Staff, **account: Any) -> None:
    with session_factory() as session:
        created = session.get(Account, staff.api.account_id)
        assert created is not None
        for key, value in account.items():
            setattr(created, key, value)
        plans.enroll(session, created, staff.email)
        session.commit()


def test_trial_seats_and_the_portal(operator: Operator, staff: Staff, session_factory: Any) -> None:
    enroll(session_factory, staff)
    chef = add_user(staff.api, session_factory, "chef@shop.example")
    page = staff.goto("/settings/billing")
    summary = page.get_by_test_id("plan-summary")
    expect(page.get_by_test_id("plan-name")).to_have_text("Pro")
    expect(page.get_by_test_id("plan-period")).to_have_text("Monthly")
    expect(page.get_by_test_id("plan-status")).to_contain_text("Trial")
    trial_end = staff.api.ok(staff.api.get("/account/plan"))["trial_end"]
    assert trial_end is not None
    expect(page.get_by_test_id("trial-end")).to_be_visible()
    expect(page.get_by_test_id("plans-for-sale").locator("tr[data-plan='pro']")).to_contain_text(
        "$500.00"
    )
    expect(page.get_by_test_id("plans-for-sale").locator("tr[data-plan='pro']")).to_contain_text(
        "save $100.00"
    )
    expect(summary.get_by_test_id("manage-plan")).to_have_text("Update subscription")
    screenshot(page, "account-billing")

    # A paid seat for the chef: shown here and on the users page; it blocks a cancel.
    row = page.get_by_test_id("seats").locator("tr[data-user='chef@shop.example']")
    row.get_by_role("button", name="Assign paid seat").click()
    expect(page.get_by_test_id("flash")).to_have_text("The paid seat was assigned.")
    expect(page.get_by_test_id("seats")).to_contain_text("1 of 5 paid seats assigned.")
    expect(page.get_by_test_id("cancel-blocked")).to_be_visible()
    with session_factory() as session:
        assert session.get(SeatAssignment, (staff.api.account_id, chef)) is not None
    staff.goto("/settings/users")
    expect(
        page.locator("tr[data-user='chef@shop.example']").get_by_test_id("paid-seat")
    ).to_be_visible()

    # Into the operator's portal for this plan: the cancel there names the seat holder.
    staff.goto("/settings/billing")
    page.get_by_test_id("manage-plan").click()
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    page.get_by_test_id("cancel-reason-too_expensive").check()
    page.get_by_test_id("cancel-confirm").check()
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("error")).to_be_visible()
    plan = staff.api.ok(staff.api.get("/account/plan"))
    assert plan["can_cancel"] is False and plan["status"] == "trialing"

    # Unassign the seat, then cancel the renewal: the plan runs to its end, then Free.
    staff.goto("/settings/billing")
    row = page.get_by_test_id("seats").locator("tr[data-user='chef@shop.example']")
    row.get_by_role("button", name="Unassign").click()
    expect(page.get_by_test_id("flash")).to_have_text("The paid seat was unassigned.")
    page.get_by_test_id("manage-plan").click()
    page.get_by_test_id("cancel-reason-too_expensive").check()
    page.get_by_test_id("cancel-confirm").check()
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("badge")).to_have_text("Canceling")
    # The portal leads back to Account & billing.
    page.get_by_test_id("home").click()
    # The way back is the configured base URL's Account & billing (the tests' is testserver).
    expect(page.get_by_test_id("return")).to_have_attribute(
        "href", "http://testserver/settings/billing"
    )
    staff.goto("/settings/billing")
    expect(page.get_by_test_id("plan-status")).to_contain_text("Canceling")
    expect(page.get_by_test_id("plan-downgrade")).to_contain_text("moves to the Free plan")
    expect(page.get_by_test_id("manage-plan")).to_have_text("Manage subscription")
    after = staff.api.ok(staff.api.get("/account/plan"))
    assert after["plan"]["code"] == "pro" and after["seats"]["assigned"] == []

    # On the effective date (the trial's end here) the account moves to the Free plan.
    sub = operator.api.ok(operator.api.get(f"/subscriptions/{after['subscription_id']}"))
    effective = f"{sub['cancel_at']}T12:00:00+00:00"
    operator.api.ok(operator.api.post("/clock/advance", {"to": effective}))
    staff.goto("/settings/billing")
    expect(page.get_by_test_id("plan-name")).to_have_text("Free")
    expect(page.get_by_test_id("plan-status")).to_contain_text("Active")
    expect(page.get_by_test_id("delete-blocked")).to_have_count(0)


def test_partner_accounts_are_told_to_contact_support(
    operator: Operator, staff: Staff, session_factory: Any
) -> None:
    enroll(session_factory, staff, kind="partner")
    page = staff.goto("/settings/billing")
    expect(page.get_by_test_id("contact-support")).to_contain_text("contact support")
    expect(page.get_by_test_id("cancel-blocked")).to_have_count(0)


def test_an_account_without_a_plan(staff: Staff) -> None:
    page = staff.goto("/settings/billing")
    expect(page.get_by_test_id("no-plan")).to_be_visible()
    expect(page.get_by_test_id("plan-summary")).to_have_count(0)


def test_end_the_trial_then_delete_the_free_account(
    operator: Operator, staff: Staff, session_factory: Any
) -> None:
    enroll(session_factory, staff)
    page = staff.goto("/settings/billing")
    # Not free yet: the page says why it cannot be deleted.
    expect(page.get_by_test_id("delete-blocked")).to_be_visible()
    # No payment method on file: ending the trial moves the account to Free.
    page.get_by_test_id("end-trial").click()
    expect(page.get_by_test_id("flash")).to_have_text("The trial has ended.")
    expect(page.get_by_test_id("plan-name")).to_have_text("Free")
    assert staff.api.ok(staff.api.get("/account/plan"))["plan"]["code"] == "free"

    section = page.get_by_test_id("delete-account")
    expect(section).to_contain_text("Export what you want to keep first.")
    section.get_by_label(f"Type the account ID, {staff.api.account_id}, to confirm").fill("12345")
    section.get_by_test_id("delete-account-button").click()
    expect(page.get_by_test_id("form-error").first).to_have_text(
        f"Type the account ID, {staff.api.account_id}, to confirm"
    )
    # In the reader's language, like the rest of the page. Switching the language on the
    # page of the refused form comes back to the billing page (not to the form's action).
    page.locator("#language-switch").select_option("nl")
    expect(page).to_have_url(f"{staff.base_url}/settings/billing")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    section = page.get_by_test_id("delete-account")
    section.locator("#f-account_id").fill("999")
    section.get_by_test_id("delete-account-button").click()
    expect(page.get_by_test_id("form-error").first).to_have_text(
        f"Typ het account-ID, {staff.api.account_id}, ter bevestiging"
    )
    page = staff.goto("/settings/billing")
    page.locator("#language-switch").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with session_factory() as session:
        assert session.get(Account, staff.api.account_id) is not None

    section = page.get_by_test_id("delete-account")
    section.get_by_label(f"Type the account ID, {staff.api.account_id}, to confirm").fill(
        str(staff.api.account_id)
    )
    section.get_by_test_id("delete-account-button").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        f"Account {staff.api.account_id} was deleted."
    )
    expect(page).to_have_url(f"{staff.base_url}/login")
    with session_factory() as session:
        assert session.get(Account, staff.api.account_id) is None
    # Signed out: the app asks to sign in again.
    staff.goto("/settings/billing")
    expect(page).to_have_url(f"{staff.base_url}/login?next=/settings/billing")


def test_upgrade_to_yearly_business_in_the_portal(
    operator: Operator, staff: Staff, session_factory: Any
) -> None:
    enroll(session_factory, staff)
    sub_id = staff.api.ok(staff.api.get("/account/plan"))["subscription_id"]
    card = {
        "type": "card",
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2045, "cvc": "123"},
    }
    contact_id = operator.api.ok(operator.api.get(f"/subscriptions/{sub_id}"))["contact_id"]
    method = operator.api.ok(operator.api.post(f"/contacts/{contact_id}/payment-methods", card))
    use_it = {"payment_method_id": method["id"]}
    operator.api.ok(operator.api.patch(f"/subscriptions/{sub_id}", use_it))

    page = staff.goto("/settings/billing")
    page.get_by_test_id("end-trial").click()
    expect(page.get_by_test_id("plan-name")).to_have_text("Pro")
    expect(page.get_by_test_id("plan-status")).to_contain_text("Active")
    page.get_by_test_id("manage-plan").click()
    row = page.get_by_test_id("plans").locator("tr", has_text="Business").filter(has_text="Yearly")
    expect(row.get_by_test_id("saving")).to_have_text("Save $240.00 a year")
    row.locator("input[type=radio]").check()
    page.get_by_test_id("change-plan").click()
    expect(page.get_by_test_id("done")).to_have_text("Your plan was changed.")
    page.get_by_test_id("home").click()
    # The way back is the configured base URL's Account & billing (the tests' is testserver).
    expect(page.get_by_test_id("return")).to_have_attribute(
        "href", "http://testserver/settings/billing"
    )
    staff.goto("/settings/billing")
    expect(page.get_by_test_id("plan-name")).to_have_text("Business")
    expect(page.get_by_test_id("plan-period")).to_have_text("Yearly")
    expect(page.get_by_test_id("seats")).to_contain_text("0 of 10 paid seats assigned.")
    plan = staff.api.ok(staff.api.get("/account/plan"))
    assert (plan["plan"]["code"], plan["billing_period"]) == ("business", "yearly")
    invoices = operator.api.ok(operator.api.get("/invoices", params={"subscription_id": sub_id}))
    # Pro's month credited in full (changed on its first day), Business's year charged.
    assert sorted((i["total"], i["status"]) for i in invoices["data"]) == [
        ("1200.00", "paid"),
        ("50.00", "paid"),
    ]


def test_a_declined_plan_payment_shows_past_due(
    operator: Operator, staff: Staff, session_factory: Any
) -> None:
    enroll(session_factory, staff)
    sub_id = staff.api.ok(staff.api.get("/account/plan"))["subscription_id"]
    declining = {
        "type": "card",
        "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2045, "cvc": "123"},
    }
    contact_id = operator.api.ok(operator.api.get(f"/subscriptions/{sub_id}"))["contact_id"]
    method = operator.api.ok(
        operator.api.post(f"/contacts/{contact_id}/payment-methods", declining)
    )
    operator.api.ok(
        operator.api.patch(f"/subscriptions/{sub_id}", {"payment_method_id": method["id"]})
    )
    page = staff.goto("/settings/billing")
    page.get_by_test_id("end-trial").click()
    expect(page.get_by_test_id("plan-status")).to_contain_text("Past due")
    expect(page.get_by_test_id("plan-past-due")).to_be_visible()
    # Still Pro while dunning runs; the portal asks for a new payment method.
    assert staff.api.ok(staff.api.get("/account/plan"))["plan"]["code"] == "pro"
    page.get_by_test_id("manage-plan").click()
    expect(page.get_by_test_id("past-due")).to_be_visible()
    expect(page.get_by_test_id("past-due-update")).to_be_visible()
