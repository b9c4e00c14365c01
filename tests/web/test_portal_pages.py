"""The buyer's billing settings page and portal behind a signed link (SPEC §9): the summary
card, switching plan or billing period with proration, canceling with a reason and
reactivating, the past-due warning and the payment method update that retries the balance,
invoices (PDF) and payments, what the portal configuration turns off, bad links, the buyer's
language; and the merchant's side: the record panel's portal link and the settings page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, FormData, Page, expect

from cadency.kit import clock, signing
from cadency.portal.links import PORTAL_PURPOSE
from cadency.subscriptions import service as subscription_service
from cadency.subscriptions.models import Subscription
from tests.checkout.builders import product
from tests.conftest import Api, pin_clock
from tests.web.conftest import Staff, add_user, screenshot, sign_in
from tests.web.test_hosted_pages import fill_card

CARD = "4242424242424242"
CHARGES_FAIL = "4000000000000341"
START = datetime(2026, 3, 1, 8, tzinfo=UTC)
# Ten days into the first monthly period (March 1 to April 1): 21 of its 31 days are unused.
TEN_DAYS_LATER = datetime(2026, 3, 11, 8, tzinfo=UTC)


# --- builders --------------------------------------------------------------------------------


def set_clock(session_factory: Any, api: Api, moment: datetime = START) -> None:
    pin_clock(session_factory, api.account_id, moment)


def advance(api: Api, moment: datetime) -> None:
    api.ok(api.post("/clock/advance", {"to": moment.isoformat()}))


def subscribe(
    api: Api,
    plan: dict[str, Any],
    *,
    card: str = CARD,
    email: str = "anna@example.com",
    language: str | None = None,
) -> dict[str, Any]:
    """A buyer with a saved card, subscribed to a library plan (charged automatically)."""
    body: dict[str, Any] = {"email": email, "first_name": "Anna", "last_name": "Berg"}
    if language:
        body["language"] = language
    contact = api.ok(api.post("/contacts", body))
    method = api.ok(
        api.post(
            f"/contacts/{contact['id']}/payment-methods",
            {
                "type": "card",
                "card": {"number": card, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
            },
        )
    )
    created: dict[str, Any] = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "currency": "USD",
                "collection_method": "charge_automatically",
                "payment_method_id": method["id"],
                "line_items": [{"product_id": plan["id"]}],
            },
        )
    )
    return created


def portal_path(api: Api, subscription_id: str, return_url: str | None = None) -> str:
    """The path of a fresh portal session's link (the API names the configured host)."""
    body = {"return_url": return_url} if return_url else None
    session = api.ok(api.post(f"/subscriptions/{subscription_id}/portal-session", body))
    return urlsplit(str(session["url"])).path


def allow_plans(api: Api, *plans: dict[str, Any]) -> None:
    api.ok(
        api.patch(
            "/portal-configuration",
            {"plan_change": {"enabled": True, "products": [p["id"] for p in plans]}},
        )
    )


def subscription(api: Api, subscription_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.ok(api.get(f"/subscriptions/{subscription_id}"))
    return found


def invoices(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    """The subscription's invoices, oldest first."""
    listed = api.ok(api.get("/invoices", params={"subscription_id": subscription_id}))
    return list(reversed(listed["data"]))


def payments(api: Api, subscription_id: str) -> list[tuple[str, str, str]]:
    """(amount, status, refunded_amount) of the subscription's payments, oldest first."""
    listed = api.ok(api.get("/payments", params={"subscription_id": subscription_id}))
    return [(p["amount"], p["status"], p["refunded_amount"]) for p in reversed(listed["data"])]


def plan_row(page: Page, plan: dict[str, Any]) -> Any:
    return page.get_by_test_id("plans").locator(f"tr[data-product='{plan['id']}']")


def form_token(page: Page) -> str:
    value = page.locator("input[name=form_token]").first.get_attribute("value")
    assert value
    return value


# --- billing settings and the portal -------------------------------------------------------


def test_billing_settings_summary_opens_the_portal(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)
    path = portal_path(api, sub["id"], return_url="https://shop.example/account")

    page.goto(base_url + path)
    expect(page.locator("h1")).to_have_text("Billing settings")
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("Test shop")
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    expect(page.get_by_test_id("period")).to_have_text("Monthly")
    expect(page.get_by_test_id("badge")).to_have_text("Active")
    expect(page.get_by_test_id("next-billing-date")).to_have_text("Apr 1, 2026 · $25.00")
    expect(page.get_by_test_id("ends-on")).to_have_count(0)
    expect(page.get_by_test_id("payment-method")).to_have_text("Card ending in 4242")
    expect(page.get_by_test_id("past-due")).to_have_count(0)
    expect(page.get_by_test_id("return")).to_have_attribute("href", "https://shop.example/account")
    screenshot(page, "portal-billing-settings")

    page.get_by_test_id("manage").click()
    expect(page).to_have_url(f"{base_url}{path}/manage")
    expect(page.locator("h1")).to_have_text("Manage subscription")
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    # Plan changes are off by default (no products named); the rest is on.
    expect(page.get_by_test_id("plans")).to_have_count(0)
    expect(page.get_by_test_id("update-payment-method")).to_be_visible()
    expect(page.get_by_test_id("invoices")).to_be_visible()
    expect(page.get_by_test_id("cancel-card")).to_be_visible()
    # Opening pages changes nothing.
    after = subscription(api, sub["id"])
    assert after["status"] == "active"
    assert after["next_payment_date"] == "2026-04-01"
    assert after["next_payment_amount"] == "25.00"


def test_switch_to_the_yearly_plan_with_proration(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    basic = product(api, "Basic", "10.00", "monthly")
    pro = product(api, "Pro", "25.00", "monthly")
    pro_yearly = product(api, "Pro", "250.00", "annually")
    allow_plans(api, basic, pro_yearly)
    sub = subscribe(api, pro)
    advance(api, TEN_DAYS_LATER)
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    expect(plan_row(page, pro)).to_contain_text("Current plan")
    expect(plan_row(page, pro)).to_contain_text("$25.00")
    expect(plan_row(page, pro).locator("input[type=radio]")).to_be_disabled()
    expect(plan_row(page, basic)).to_contain_text("Monthly")
    expect(plan_row(page, basic)).to_contain_text("$10.00")
    expect(plan_row(page, basic).get_by_test_id("saving")).to_have_count(0)
    yearly = plan_row(page, pro_yearly)
    expect(yearly).to_contain_text("Yearly")
    expect(yearly).to_contain_text("$250.00")
    # Twelve months of Pro at $25.00 cost $300.00; the yearly Pro $250.00.
    expect(yearly.get_by_test_id("saving")).to_have_text("Save $50.00 a year")
    expect(page.get_by_test_id("plans")).to_contain_text("charged or credited the difference")
    screenshot(page, "portal-manage")

    yearly.locator("input[type=radio]").check()
    page.get_by_test_id("change-plan").click()
    expect(page.get_by_test_id("done")).to_have_text("Your plan was changed.")
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    expect(page.get_by_test_id("period")).to_have_text("Yearly")
    # A new billing period starts today, a year long.
    expect(page.get_by_test_id("next-billing-date")).to_have_text("Mar 11, 2027 · $250.00")
    # The yearly plan is now the current one (Basic is still offered).
    expect(plan_row(page, pro_yearly)).to_contain_text("Current plan")

    after = subscription(api, sub["id"])
    assert after["status"] == "active"
    assert after["billing_frequency"] == "annually"
    assert [(i["product_id"], i["billing_frequency"]) for i in after["line_items"]] == [
        (pro_yearly["id"], "annually")
    ]
    assert after["current_period_start"] == "2026-03-11"
    assert after["current_period_end"] == "2027-03-11"
    # The new frequency is billed as a new period from today; the unused 21 of 31 days of the
    # monthly plan (25.00 x 21 / 31 = 16.94) are refunded on March's payment.
    assert [(i["total"], i["status"], i["period_start"]) for i in invoices(api, sub["id"])] == [
        ("25.00", "paid", "2026-03-01"),
        ("250.00", "paid", "2026-03-11"),
    ]
    assert payments(api, sub["id"]) == [
        ("25.00", "partially_refunded", "16.94"),
        ("250.00", "succeeded", "0.00"),
    ]


def test_switch_between_monthly_plans_charges_the_difference(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    basic = product(api, "Basic", "10.00", "monthly")
    pro = product(api, "Pro", "25.00", "monthly")
    allow_plans(api, basic, pro)
    sub = subscribe(api, basic)
    advance(api, TEN_DAYS_LATER)
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    expect(plan_row(page, basic)).to_contain_text("Current plan")
    plan_row(page, pro).locator("input[type=radio]").check()
    page.get_by_test_id("change-plan").click()
    expect(page.get_by_test_id("done")).to_have_text("Your plan was changed.")
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    expect(page.get_by_test_id("period")).to_have_text("Monthly")
    # The period stays: the next bill is on April 1 at the new price.
    expect(page.get_by_test_id("next-billing-date")).to_have_text("Apr 1, 2026 · $25.00")
    # The adjustment invoice is in the list (newest first).
    expect(page.get_by_test_id("invoices").locator("tbody tr").first).to_contain_text("$10.17")

    # The current plan (or one not offered) cannot be chosen: the page says so, nothing changes.
    refused = page.request.post(
        f"{base_url}{path}/plan", form={"form_token": form_token(page), "product_id": pro["id"]}
    )
    assert refused.status == 422
    assert "Choose one of the plans offered." in refused.text()

    after = subscription(api, sub["id"])
    assert [i["product_id"] for i in after["line_items"]] == [pro["id"]]
    assert after["billing_frequency"] == "monthly"
    assert after["current_period_end"] == "2026-04-01"
    # For the 21 unused days of 31: credit 10.00 x 21/31 = 6.77, charge 25.00 x 21/31 = 16.94.
    first, adjustment = invoices(api, sub["id"])
    assert (first["total"], first["status"]) == ("10.00", "paid")
    assert adjustment["billing_reason"] == "subscription_update"
    assert [line["amount"] for line in adjustment["lines"]] == ["-6.77", "16.94"]
    assert (adjustment["total"], adjustment["status"]) == ("10.17", "paid")
    assert payments(api, sub["id"]) == [
        ("10.00", "succeeded", "0.00"),
        ("10.17", "succeeded", "0.00"),
    ]


def test_a_plan_change_at_the_end_of_the_period(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    basic = product(api, "Basic", "10.00", "monthly")
    pro = product(api, "Pro", "25.00", "monthly")
    api.ok(
        api.patch(
            "/portal-configuration",
            {"plan_change": {"enabled": True, "products": [pro["id"]], "effective": "period_end"}},
        )
    )
    sub = subscribe(api, basic)
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    expect(page.get_by_test_id("plans")).to_contain_text(
        "Your new plan starts when the current period ends, on Apr 1, 2026."
    )
    plan_row(page, pro).locator("input[type=radio]").check()
    page.get_by_test_id("change-plan").click()
    expect(page.get_by_test_id("done")).to_have_text(
        "Your new plan starts at the end of the current period."
    )
    # Until then the buyer keeps (and pays for) the current plan, with nothing charged today;
    # the portal says what comes, and offers no second change meanwhile.
    expect(page.get_by_test_id("plan")).to_have_text("Basic")
    expect(page.get_by_test_id("pending-plan")).to_have_text(
        "Your plan changes to Pro on Apr 1, 2026."
    )
    expect(page.get_by_test_id("plans")).to_have_count(0)
    with session_factory() as session:
        stored = session.get(Subscription, sub["id"])
        assert stored.pending_change == {"line_items": [{"product_id": pro["id"], "quantity": 1}]}
    assert [i["product_id"] for i in subscription(api, sub["id"])["line_items"]] == [basic["id"]]
    assert [i["total"] for i in invoices(api, sub["id"])] == ["10.00"]

    # The engine swaps the plan in before it bills April.
    advance(api, datetime(2026, 4, 1, 9, tzinfo=UTC))
    after = subscription(api, sub["id"])
    assert [i["product_id"] for i in after["line_items"]] == [pro["id"]]
    assert [(i["total"], i["status"]) for i in invoices(api, sub["id"])] == [
        ("10.00", "paid"),
        ("25.00", "paid"),
    ]
    page.goto(base_url + path)
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    expect(page.get_by_test_id("next-billing-date")).to_have_text("May 1, 2026 · $25.00")
    expect(page.get_by_test_id("pending-plan")).to_have_count(0)


def test_the_configuration_turns_sections_off(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    basic = product(api, "Basic", "10.00", "monthly")
    pro = product(api, "Pro", "25.00", "monthly")
    allow_plans(api, basic, pro)
    sub = subscribe(api, pro)
    path = portal_path(api, sub["id"])
    manage = f"{base_url}{path}/manage"
    sections = ("plans", "update-payment-method", "invoices", "payments", "cancel-card")

    page.goto(manage)
    for section in sections:
        expect(page.get_by_test_id(section)).to_have_count(1)
    stale_token = form_token(page)  # a form left open while the merchant changes the settings

    api.ok(
        api.patch(
            "/portal-configuration",
            {
                "plan_change": {"enabled": False},
                "cancellation": {"enabled": False},
                "invoice_history": {"enabled": False},
                "payment_method_update": {"enabled": False},
            },
        )
    )
    page.goto(manage)
    expect(page.get_by_test_id("summary")).to_be_visible()
    for section in sections:
        expect(page.get_by_test_id(section)).to_have_count(0)
    expect(page.get_by_test_id("payment-method-card")).to_have_count(0)
    assert "Download PDF" not in page.content()

    # The server refuses what the page no longer offers, even from a form opened before.
    refused_plan = page.request.post(
        f"{manage.removesuffix('/manage')}/plan",
        form={"form_token": stale_token, "product_id": basic["id"]},
    )
    assert refused_plan.status == 409
    refused_cancel = page.request.post(
        f"{manage.removesuffix('/manage')}/cancel",
        form={"form_token": stale_token, "reason": "too_expensive", "confirm": "1"},
    )
    assert refused_cancel.status == 409
    assert "That could not be done" in refused_cancel.text()
    after = subscription(api, sub["id"])
    assert [i["product_id"] for i in after["line_items"]] == [pro["id"]]
    assert after["cancel_at_period_end"] is False
    assert after["status"] == "active"


def test_cancel_with_a_reason_then_reactivate(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    expect(page.get_by_test_id("reactivate")).to_have_count(0)
    card = page.get_by_test_id("cancel-card")
    expect(card).to_contain_text("stays active until the end of the current period")
    # Every reason is offered by default, as a box: the buyer may tick several (issue 19).
    expect(page.get_by_test_id("cancel-reasons").locator("input[type=checkbox]")).to_have_count(8)
    page.get_by_test_id("cancel-reason-too_expensive").check()
    page.get_by_test_id("cancel-reason-missing_features").check()
    page.get_by_test_id("cancel-comment").fill("Cheaper elsewhere.")
    page.get_by_test_id("cancel-confirm").check()
    screenshot(page, "portal-cancel-reasons-en")
    page.get_by_test_id("cancel").click()

    expect(page.get_by_test_id("done")).to_have_text(
        "Your subscription will end at the end of the current period."
    )
    expect(page.get_by_test_id("badge")).to_have_text("Canceling")
    expect(page.get_by_test_id("ends-on")).to_have_text("Apr 1, 2026")
    expect(page.get_by_test_id("next-billing-date")).to_have_count(0)
    expect(page.get_by_test_id("cancel-card")).to_have_count(0)
    expect(page.get_by_test_id("reactivate-card")).to_contain_text("Apr 1, 2026")
    canceling = subscription(api, sub["id"])
    assert canceling["status"] == "active"
    assert canceling["cancel_at_period_end"] is True
    # In the order the page lists them; the first is the one reason old clients read.
    assert canceling["cancellation_reasons"] == ["too_expensive", "missing_features"]
    assert canceling["cancellation_reason"] == "too_expensive"
    assert canceling["cancellation_comment"] == "Cheaper elsewhere."

    # The billing settings page shows the end and offers "Manage subscription".
    page.goto(base_url + path)
    expect(page.get_by_test_id("badge")).to_have_text("Canceling")
    expect(page.get_by_test_id("ends-on")).to_have_text("Apr 1, 2026")
    expect(page.get_by_test_id("manage")).to_have_text("Manage subscription")

    page.get_by_test_id("manage").click()
    page.get_by_test_id("reactivate").click()
    expect(page.get_by_test_id("done")).to_have_text(
        "Your subscription was reactivated: it renews as before."
    )
    expect(page.get_by_test_id("badge")).to_have_text("Active")
    expect(page.get_by_test_id("next-billing-date")).to_have_text("Apr 1, 2026 · $25.00")
    expect(page.get_by_test_id("reactivate-card")).to_have_count(0)
    expect(page.get_by_test_id("cancel-card")).to_be_visible()
    reactivated = subscription(api, sub["id"])
    assert reactivated["status"] == "active"
    assert reactivated["cancel_at_period_end"] is False
    assert reactivated["cancellation_reason"] is None
    assert reactivated["cancellation_reasons"] == []

    page.get_by_test_id("home").click()
    expect(page.get_by_test_id("manage")).to_have_text("Update subscription")


def test_cancel_at_once_with_a_prorated_refund(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    api.ok(
        api.patch(
            "/portal-configuration",
            {"cancellation": {"mode": "immediately", "refund": "prorated", "reasons": ["unused"]}},
        )
    )
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)
    advance(api, TEN_DAYS_LATER)
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    expect(page.get_by_test_id("cancel-card")).to_contain_text("Your subscription ends right away.")
    # Only the reasons the merchant chose are offered.
    boxes = page.get_by_test_id("cancel-reasons").locator("input[type=checkbox]")
    expect(boxes).to_have_count(1)
    expect(boxes).to_have_attribute("value", "unused")
    page.get_by_test_id("cancel-reason-unused").check()
    page.get_by_test_id("cancel-confirm").check()
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("done")).to_have_text("Your subscription was canceled.")
    expect(page.get_by_test_id("badge")).to_have_text("Canceled")
    for section in ("cancel-card", "reactivate-card", "plans", "update-payment-method"):
        expect(page.get_by_test_id(section)).to_have_count(0)
    # Invoices and payments stay visible after the end.
    expect(page.get_by_test_id("payments")).to_contain_text("Partially refunded")

    after = subscription(api, sub["id"])
    assert after["status"] == "canceled"
    assert (after["cancellation_reason"], after["cancellation_reasons"]) == ("unused", ["unused"])
    # 21 of March's 31 days unused: 25.00 x 21 / 31 = 16.94 back.
    assert payments(api, sub["id"]) == [("25.00", "partially_refunded", "16.94")]

    page.goto(base_url + path)
    expect(page.get_by_test_id("badge")).to_have_text("Canceled")
    expect(page.get_by_test_id("next-billing-date")).to_have_count(0)
    expect(page.get_by_test_id("ended-on")).to_have_text("Mar 11, 2026")
    expect(page.get_by_test_id("manage")).to_have_text("Invoices and payments")


def test_cancel_needs_a_reason_and_a_confirmation(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)
    path = portal_path(api, sub["id"])
    page.goto(f"{base_url}{path}/manage")

    # No box ticked: the server asks for a reason (the browser asks for the confirmation).
    page.get_by_test_id("cancel-confirm").check()
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as posted:
        page.get_by_test_id("cancel").click()
    assert posted.value.status == 422
    expect(page.get_by_test_id("error")).to_have_text("Choose a reason for canceling.")
    expect(page.get_by_test_id("badge")).to_have_text("Active")
    expect(page.get_by_test_id("cancel-card")).to_be_visible()

    token = form_token(page)
    unconfirmed = page.request.post(
        f"{base_url}{path}/cancel", form={"form_token": token, "reason": "too_expensive"}
    )
    assert unconfirmed.status == 422
    assert "Tick the box to confirm that you want to cancel." in unconfirmed.text()
    # A reason that is not offered is refused like a missing one, also beside offered ones.
    for sent in ([("reason", "bored")], [("reasons", "too_expensive"), ("reasons", "bored")]):
        form = FormData().set("form_token", token).set("confirm", "1")
        for name, value in sent:
            form.append(name, value)
        unknown = page.request.post(f"{base_url}{path}/cancel", form=form)
        assert unknown.status == 422
        assert "Choose a reason for canceling." in unknown.text()
    # A post without the form token of this link is refused.
    forged = page.request.post(
        f"{base_url}{path}/cancel", form={"reason": "too_expensive", "confirm": "1"}
    )
    assert forged.status == 403
    after = subscription(api, sub["id"])
    assert after["status"] == "active"
    assert after["cancel_at_period_end"] is False
    assert after["cancellation_reason"] is None


def test_past_due_update_the_payment_method(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro, card=CHARGES_FAIL)
    assert subscription(api, sub["id"])["status"] == "unpaid"
    path = portal_path(api, sub["id"])

    page.goto(base_url + path)
    expect(page.get_by_test_id("badge")).to_have_text("Past due")
    expect(page.get_by_test_id("payment-method")).to_have_text("Card ending in 0341")
    expect(page.get_by_test_id("past-due")).to_contain_text("A payment failed")
    page.get_by_test_id("past-due-update").click()

    # The hosted update-payment-method page: saving a working card retries the balance.
    expect(page).to_have_url(re.compile(r"/billing/update-payment-method/[\w.-]+$"))
    expect(page.get_by_test_id("past-due")).to_contain_text("$25.00 is unpaid")
    fill_card(page, CARD)
    expect(page.get_by_test_id("outcome")).to_have_text(
        "Your payment method was updated and your payment of $25.00 succeeded. Thank you!"
    )
    after = subscription(api, sub["id"])
    assert after["status"] == "active"
    assert [(i["total"], i["status"]) for i in invoices(api, sub["id"])] == [("25.00", "paid")]
    assert payments(api, sub["id"]) == [
        ("25.00", "failed", "0.00"),
        ("25.00", "succeeded", "0.00"),
    ]

    page.goto(f"{base_url}{path}/manage")
    expect(page.get_by_test_id("past-due")).to_have_count(0)
    expect(page.get_by_test_id("badge")).to_have_text("Active")
    expect(page.get_by_test_id("payment-method")).to_have_text("Card ending in 4242")
    rows = page.get_by_test_id("payments").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Succeeded")
    expect(rows.nth(1)).to_contain_text("Failed")
    for row in (rows.nth(0), rows.nth(1)):
        expect(row).to_contain_text("$25.00")
        expect(row).to_contain_text("Mar 1, 2026")


def test_invoices_and_their_pdf(api: Api, session_factory: Any, page: Page, base_url: str) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)
    [invoice] = invoices(api, sub["id"])
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    row = page.get_by_test_id("invoices").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-number", invoice["number"])
    expect(row).to_contain_text(invoice["number"])
    expect(row).to_contain_text("Mar 1, 2026")
    expect(row).to_contain_text("$25.00")
    expect(row).to_contain_text("Paid")

    href = row.get_by_test_id("invoice-pdf").get_attribute("href")
    assert href is not None and href.endswith("/pdf")
    pdf = page.request.get(base_url + href)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")

    # The number opens the hosted invoice page.
    row.get_by_role("link", name=invoice["number"]).click()
    expect(page.get_by_test_id("invoice-number")).to_have_text(invoice["number"])
    expect(page.get_by_test_id("amount-due")).to_have_text("$0.00")


def test_tampered_and_expired_links_show_an_error_and_no_data(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)
    token = portal_path(api, sub["id"]).rsplit("/", 1)[1]
    body, _, mac = token.partition(".")
    tampered = f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    payload = {"subscription_id": sub["id"], "account_id": api.account_id}
    with session_factory() as session:
        expired = signing.sign(
            session, PORTAL_PURPOSE, payload, clock.real_now() - timedelta(minutes=1)
        )
        # A valid link made for another purpose opens nothing here.
        other_purpose = signing.sign(
            session,
            subscription_service.PAYMENT_METHOD_LINK_PURPOSE,
            payload,
            clock.real_now() + timedelta(days=1),
        )
        session.commit()

    for bad in (tampered, expired, other_purpose, "garbage"):
        for suffix in ("", "/manage"):
            response = page.goto(f"{base_url}/billing/portal/{bad}{suffix}")
            assert response is not None and response.status == 404, (bad, suffix)
            expect(page.get_by_test_id("error-message")).to_have_text(
                "This link is not valid or has expired. Ask the sender for a new link."
            )
            content = page.content()
            for secret in ("Test shop", "Pro", "25.00", "4242", sub["id"]):
                assert secret not in content, (bad, suffix, secret)
        refused = page.request.post(
            f"{base_url}/billing/portal/{bad}/cancel",
            form={"reason": "too_expensive", "confirm": "1"},
        )
        assert refused.status == 404
    assert subscription(api, sub["id"])["cancel_at_period_end"] is False


def test_the_portal_speaks_the_buyers_language(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    pro_yearly = product(api, "Pro", "250.00", "annually")
    allow_plans(api, pro_yearly)
    sub = subscribe(api, pro, language="de")
    path = portal_path(api, sub["id"])

    page.goto(base_url + path)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Abrechnungseinstellungen")
    expect(page.get_by_test_id("period")).to_have_text("Monatlich")
    expect(page.get_by_test_id("badge")).to_have_text("Aktiv")
    expect(page.get_by_test_id("next-billing-date")).to_have_text("01.04.2026 · 25,00\xa0$")
    expect(page.get_by_test_id("payment-method")).to_have_text("Karte mit Endziffern 4242")
    expect(page.get_by_test_id("manage")).to_have_text("Abonnement ändern")

    page.get_by_test_id("manage").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Abonnement verwalten")
    expect(page.get_by_test_id("saving")).to_have_text("Sparen Sie 50,00\xa0$ pro Jahr")
    page.get_by_test_id("cancel-reason-other").check()
    page.get_by_test_id("cancel-confirm").check()
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("done")).to_have_text(
        "Ihr Abonnement endet am Ende des laufenden Zeitraums."
    )
    expect(page.get_by_test_id("badge")).to_have_text("Wird gekündigt")
    assert subscription(api, sub["id"])["cancellation_reason"] == "other"
    page.get_by_test_id("home").click()
    expect(page.get_by_test_id("manage")).to_have_text("Abonnement verwalten")
    expect(page.get_by_test_id("ends-on")).to_have_text("01.04.2026")


def test_a_dutch_buyer_gives_several_reasons(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    api.ok(
        api.patch(
            "/portal-configuration",
            {"cancellation": {"reasons": ["unused", "too_expensive", "missing_features"]}},
        )
    )
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro, language="nl")
    path = portal_path(api, sub["id"])

    page.goto(f"{base_url}{path}/manage")
    reasons = page.get_by_test_id("cancel-reasons")
    expect(reasons.locator("legend")).to_have_text("Waarom zeg je op?")
    # The merchant's reasons, in the merchant's order, in the buyer's words.
    expect(reasons.locator("label")).to_have_text(
        ["Ik gebruik het te weinig", "Het is te duur", "Het mist functies die ik nodig heb"]
    )
    page.get_by_test_id("cancel-reason-too_expensive").check()
    page.get_by_test_id("cancel-reason-missing_features").check()
    page.get_by_test_id("cancel-confirm").check()
    screenshot(page, "portal-cancel-reasons-nl")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("done")).to_have_text(
        "Je abonnement eindigt aan het einde van de huidige periode."
    )
    canceling = subscription(api, sub["id"])
    assert canceling["cancellation_reasons"] == ["too_expensive", "missing_features"]
    assert canceling["cancellation_reason"] == "too_expensive"


# --- the merchant's side -----------------------------------------------------------------------


def test_the_record_panel_makes_a_portal_link(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro)

    page = staff.goto(f"/subscriptions/{sub['id']}")
    page.get_by_test_id("portal-link").click()
    expect(page.locator("h1")).to_have_text("Billing portal link")
    url = page.get_by_test_id("portal-url").input_value()
    path = urlsplit(url).path
    assert path.startswith("/billing/portal/")

    page.goto(staff.base_url + path)
    expect(page.locator("h1")).to_have_text("Billing settings")
    expect(page.get_by_test_id("plan")).to_have_text("Pro")
    expect(page.get_by_test_id("badge")).to_have_text("Active")


def test_portal_settings_page(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    basic = product(api, "Basic", "10.00", "monthly")
    pro = product(api, "Pro", "25.00", "monthly")
    product(api, "Enterprise", "900.00", "annually")
    defaults = api.ok(api.get("/portal-configuration"))

    page = staff.goto("/settings/portal")
    expect(page.locator("h1")).to_have_text("Billing portal")
    screenshot(page, "settings-portal")

    # Plan changes on with no plan named: the error, and nothing written.
    page.locator("input[name='plan_change.enabled']").check()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save").click()
    assert posted.value.status == 422
    expect(page.locator("#portal-settings-form")).to_contain_text(
        "Name the products buyers may switch between"
    )
    expect(page.locator("input[name='plan_change.enabled']")).to_be_checked()
    assert api.ok(api.get("/portal-configuration")) == defaults

    for plan in (basic, pro):
        page.locator(f"input[name='plan_change.products'][value='{plan['id']}']").check()
    page.locator("select[name='plan_change.effective']").select_option("period_end")
    page.locator("input[name='invoice_history.enabled']").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The portal settings were saved.")
    saved = api.ok(api.get("/portal-configuration"))
    assert saved["plan_change"] == {
        "enabled": True,
        "products": [basic["id"], pro["id"]],
        "billing_period_change": True,
        "proration": "prorate",
        "effective": "period_end",
    }
    assert saved["invoice_history"] == {"enabled": False}
    assert saved["cancellation"] == defaults["cancellation"]
    assert saved["payment_method_update"] == {"enabled": True}
    # The form shows what was saved.
    expect(page.locator("input[name='plan_change.enabled']")).to_be_checked()
    expect(page.locator(f"input[name='plan_change.products'][value='{pro['id']}']")).to_be_checked()
    expect(page.locator("input[name='invoice_history.enabled']")).not_to_be_checked()


def test_portal_settings_need_billing_edit(
    api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    viewer = add_user(
        api, session_factory, f"viewer-{api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, viewer, base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)
    page.goto(base_url + "/settings/portal")
    expect(page.locator("#portal-settings-form fieldset").first).to_have_attribute("disabled", "")
    expect(page.locator("input[name='invoice_history.enabled']")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert csrf
    refused = page.request.post(
        base_url + "/settings/portal",
        form={"csrf_token": csrf, "payment_method_update.enabled": "1"},
    )
    assert refused.status == 403
    assert "billing.edit" in refused.text()
    assert api.ok(api.get("/portal-configuration"))["updated_at"] is None
    context.close()


def test_an_ended_subscription_says_when_it_ended(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    set_clock(session_factory, api)
    pro = product(api, "Pro", "25.00", "monthly")
    sub = subscribe(api, pro, language="nl")
    ending = {"mode": "at_date", "cancel_at": "2026-03-20", "refund": "none"}
    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", ending))
    path = portal_path(api, sub["id"])
    page.goto(base_url + path)
    expect(page.get_by_test_id("badge")).to_have_text("Wordt geannuleerd")
    expect(page.get_by_test_id("ends-on")).to_have_text("20 mrt 2026")
    expect(page.get_by_test_id("ended-on")).to_have_count(0)

    # The 20th has passed: the end is history, not a date to come.
    advance(api, datetime(2026, 3, 22, 8, tzinfo=UTC))
    assert subscription(api, sub["id"])["status"] == "canceled"
    page.goto(base_url + path)
    expect(page.get_by_test_id("badge")).to_have_text("Geannuleerd")
    expect(page.get_by_test_id("ends-on")).to_have_count(0)
    expect(page.get_by_test_id("ended-on")).to_have_text("20 mrt 2026")
    expect(page.get_by_test_id("summary")).to_contain_text("Geëindigd op")
