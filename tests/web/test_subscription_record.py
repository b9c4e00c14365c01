"""The subscription record panel: what it shows (badge, dates, amounts, line items, invoices,
payments, timeline), associated records, and custom properties edited inline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import or_, select

from cadency.crm.models import Association
from tests.conftest import Api, pin_clock
from tests.web.conftest import Staff, screenshot

CARD = "4242424242424242"
CHARGES_FAIL = "4000000000000341"
SETTLES_LATER = "000123456789"
START = datetime(2026, 3, 1, 8, tzinfo=UTC)


# --- builders (shared by the other record tests) -------------------------------------------


def set_clock(session_factory: Any, api: Api, moment: datetime = START) -> None:
    """Put a fresh test account's clock at a known instant, so dates on the page are exact."""
    pin_clock(session_factory, api.account_id, moment)


def payment_method(api: Api, contact_id: str, number: str = CARD) -> str:
    if number.startswith("0"):
        body: dict[str, Any] = {
            "type": "bank_debit",
            "bank_debit": {"routing_number": "110000000", "account_number": number},
        }
    else:
        body = {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
        }
    return str(api.ok(api.post(f"/contacts/{contact_id}/payment-methods", body))["id"])


def customer(
    api: Api, email: str = "ann@example.com", number: str = CARD, **names: str
) -> tuple[str, str]:
    """A contact with a saved payment method: (contact_id, payment_method_id)."""
    body = {"email": email, "first_name": "Ann", "last_name": "Smith", **names}
    contact = api.ok(api.post("/contacts", body))
    return contact["id"], payment_method(api, contact["id"], number)


def subscribe(
    api: Api,
    *,
    price: str = "25.00",
    name: str = "Beans",
    number: str = CARD,
    email: str = "ann@example.com",
    items: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A monthly subscription charged automatically (billed at once when it starts today)."""
    contact_id, method_id = customer(api, email, number)
    body: dict[str, Any] = {
        "contact_id": contact_id,
        "currency": "USD",
        "line_items": items
        or [{"name": name, "unit_price": price, "billing_frequency": "monthly"}],
        "collection_method": "charge_automatically",
        "payment_method_id": method_id,
        **extra,
    }
    created: dict[str, Any] = api.ok(api.post("/subscriptions", body))
    return created


def texts(page: Page, test_id: str) -> list[str]:
    return [t.strip() for t in page.get_by_test_id(test_id).all_inner_texts()]


def shown_facts(page: Page, expected: dict[str, str]) -> dict[str, str]:
    """The panel's facts with these test ids, as the user reads them (line breaks kept)."""
    return {test_id: page.get_by_test_id(test_id).inner_text().strip() for test_id in expected}


def cells(page: Page, test_id: str) -> list[list[str]]:
    """The cells of each row with this test id, as the user reads them."""
    rows = page.get_by_test_id(test_id)
    return [
        [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


# --- what the panel shows -------------------------------------------------------------------


def test_the_panel_shows_an_active_subscription(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    vat = api.ok(api.post("/tax-rates", {"name": "VAT", "percentage": "21.00"}))
    coffee = api.ok(
        api.post(
            "/products",
            {
                "name": "Coffee subscription",
                "unit_price": "10.00",
                "currency": "USD",
                "billing_frequency": "monthly",
            },
        )
    )
    sub = subscribe(
        api,
        items=[
            {
                "product_id": coffee["id"],
                "quantity": 2,
                "unit_discount_percent": "10",
                "tax_rate_id": vat["id"],
            },
            {"name": "Welcome kit", "unit_price": "5.00"},
        ],
        billing_address={"line1": "1 Canal St", "city": "Amsterdam", "country": "NL"},
    )

    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("subscription-name")).to_have_text("Coffee subscription")
    expect(page.get_by_test_id("status-badge")).to_have_text("Active")
    facts = {
        "fact-start-date": "Mar 1, 2026",
        "fact-next-payment-date": "Apr 1, 2026",
        # 2 x 9.00 (10% off) = 18.00, plus 21% VAT; the one-time kit was on the first invoice.
        "fact-next-payment-amount": "$21.78",
        "fact-frequency": "Monthly",
        "fact-terms": "Renews until canceled",
        "fact-collection-method": "Charge automatically",
        "fact-payment-method": "Visa ending in 4242",
        "fact-collected": "$26.78",
        "fact-payments-made": "1",
        "fact-mrr": "$18.00",
        "fact-billing-contact": "Ann Smith\nann@example.com",
        "fact-billing-address": "1 Canal St\nAmsterdam\nNL",
    }
    assert shown_facts(page, facts) == facts
    assert cells(page, "line-item") == [
        ["Coffee subscription\nMonthly", "2", "$10.00", "10%", "VAT (21%)", "$18.00"],
        ["Welcome kit\nOne-time", "1", "$5.00", "—", "—", "$5.00"],
    ]
    assert cells(page, "invoice") == [
        [
            "INV-000001",
            "Paid",
            "Mar 1, 2026",
            "Mar 1, 2026",
            "Mar 1, 2026 to Apr 1, 2026",
            "$26.78",
            "$0.00",
            "",  # a paid invoice offers no action
        ]
    ]
    assert cells(page, "payment") == [["Mar 1, 2026", "$26.78", "Succeeded", "", ""]]
    assert texts(page, "timeline-entry") == [
        "Mar 1, 2026\nA payment of $26.78 succeeded.",
        "Mar 1, 2026\nInvoice INV-000001 was issued for $26.78.",
        "Mar 1, 2026\nThe subscription was created.",
    ]
    # Every action this status allows, for a super admin; none that it does not.
    actions = page.get_by_test_id("record-actions")
    for name in ("Edit", "Change plan", "Send payment method link", "Pause", "Cancel subscription"):
        expect(actions.get_by_role("button", name=name, exact=True)).to_be_visible()
    for name in ("Reactivate", "Resume", "Delete"):
        expect(actions.get_by_role("button", name=name, exact=True)).to_have_count(0)
    screenshot(page, "subscription-record")

    # The change-plan dialog starts from the line items as they are.
    actions.get_by_role("button", name="Change plan").click()
    dialog = page.locator("#change-dialog")
    expect(dialog.get_by_label("Quantity of Coffee subscription")).to_have_value("2")
    expect(dialog.get_by_label("Unit price of Coffee subscription")).to_have_value("10.00")
    expect(dialog.get_by_label("Discount of Coffee subscription")).to_have_value("10")
    expect(dialog.get_by_label("Tax rate of Coffee subscription")).to_have_value(vat["id"])
    expect(dialog.get_by_label("Unit price of Welcome kit")).to_have_value("5.00")


def test_a_month_later_the_panel_shows_the_renewal_and_a_failed_payment(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api, price="25.00", number=CHARGES_FAIL)
    api.ok(api.post("/clock/advance", {"to": "2026-03-02T09:00:00+00:00"}))

    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("status-badge")).to_have_text("Past due")
    expect(page.get_by_test_id("fact-collected")).to_have_text("$0.00")
    assert cells(page, "payment") == [["Mar 1, 2026", "$25.00", "Failed", "Card declined", ""]]
    assert cells(page, "invoice")[0][1:2] == ["Open"]
    assert cells(page, "invoice")[0][6:] == ["$25.00", "Record payment"]
    timeline = texts(page, "timeline-entry")
    assert "Mar 1, 2026\nThe status changed from Active to Past due." in timeline
    assert (
        "Mar 1, 2026\nA payment of $25.00 failed (Card declined). The next attempt is on "
        "Mar 4, 2026." in timeline
    )


def test_each_status_has_its_badge(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    trial = subscribe(api, email="t@example.com", trial_days=60)
    scheduled = subscribe(
        api,
        email="s@example.com",
        items=[
            {
                "name": "Beans",
                "unit_price": "25.00",
                "billing_frequency": "monthly",
                "billing_start_date": "2026-04-15",
            }
        ],
    )
    canceling = subscribe(api, email="c@example.com")
    api.ok(api.post(f"/subscriptions/{canceling['id']}/cancel", {"mode": "at_period_end"}))
    paused = subscribe(api, email="p@example.com")
    api.ok(api.post(f"/subscriptions/{paused['id']}/pause", {"resume_at": "2026-05-01"}))
    expired = subscribe(
        api,
        email="e@example.com",
        items=[
            {
                "name": "Beans",
                "unit_price": "25.00",
                "billing_frequency": "monthly",
                "billing_terms": "fixed",
                "number_of_payments": 1,
            }
        ],
    )
    api.ok(api.post("/clock/advance", {"to": "2026-04-01T09:00:00+00:00"}))
    assert api.ok(api.get(f"/subscriptions/{expired['id']}"))["status"] == "expired"

    expected = {
        trial["id"]: ("Trial", {"fact-trial-end": "Apr 30, 2026"}),
        scheduled["id"]: ("Scheduled", {"fact-start-date": "Apr 15, 2026"}),
        canceling["id"]: ("Canceled", {"fact-canceled-on": "Apr 1, 2026"}),
        paused["id"]: ("Paused", {"fact-resume-date": "May 1, 2026"}),
        expired["id"]: ("Expired", {"fact-end-date": "Apr 1, 2026"}),
    }
    for sub_id, (badge, facts) in expected.items():
        page = staff.goto(f"/subscriptions/{sub_id}")
        expect(page.get_by_test_id("status-badge")).to_have_text(badge)
        assert shown_facts(page, facts) == facts


def test_canceling_badge_and_notice(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "at_period_end"}))
    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("status-badge")).to_have_text("Canceling")
    expect(page.get_by_test_id("fact-cancel-date")).to_have_text("Apr 1, 2026")
    expect(page.get_by_test_id("canceling-notice")).to_contain_text("Apr 1, 2026")
    assert texts(page, "timeline-entry")[0] == (
        "Mar 1, 2026\nThe subscription was set to cancel on Apr 1, 2026."
    )


def test_another_accounts_subscription_is_not_found(
    staff: Staff, other_api: Api, session_factory: Any
) -> None:
    theirs = subscribe(other_api)
    page = staff.page
    response = page.goto(f"{staff.base_url}/subscriptions/{theirs['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-message")).to_contain_text("No such subscription")
    assert "Beans" not in page.content()
    response = page.goto(f"{staff.base_url}/subscriptions/sub_doesnotexist")
    assert response is not None and response.status == 404


# --- custom properties, edited inline ---------------------------------------------------------


def test_edit_custom_properties_inline(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    tiers = [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Professional"}]
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "tier", "label": "Tier", "field_type": "select", "options": tiers},
        )
    )
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "seats", "label": "Seats", "field_type": "number", "rules": {"max": 100}},
        )
    )
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "region", "label": "Sales region", "field_type": "text", "group": "sales"},
        )
    )
    sub = subscribe(api)
    page = staff.goto(f"/subscriptions/{sub['id']}")
    groups = page.get_by_test_id("property-group")
    expect(groups).to_have_count(2)
    info = groups.filter(has_text="Subscription information")
    expect(info.get_by_test_id("property-tier")).to_have_text("—")
    expect(info.get_by_test_id("property-seats")).to_have_text("—")

    info.get_by_role("link", name="Edit").click()
    info.get_by_label("Tier").select_option(label="Professional")
    info.get_by_label("Seats").fill("150")
    info.get_by_role("button", name="Save").click()
    expect(info.locator(".field-error")).to_contain_text("seats")
    expect(info.get_by_label("Seats")).to_have_value("150")
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["properties"] == {}

    info.get_by_label("Seats").fill("12")
    info.get_by_role("button", name="Save").click()
    expect(info.get_by_test_id("property-tier")).to_have_text("Professional")
    expect(info.get_by_test_id("property-seats")).to_have_text("12")
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["properties"] == {
        "tier": "pro",
        "seats": 12,
    }

    page.reload()
    expect(info.get_by_test_id("property-tier")).to_have_text("Professional")
    expect(info.get_by_test_id("property-seats")).to_have_text("12")
    assert texts(page, "timeline-entry")[0] == (
        "Mar 1, 2026\nThe subscription was edited: custom properties."
    )
    # The other group has its own form; clearing a value removes it.
    sales = groups.filter(has_text="Sales")
    sales.get_by_role("link", name="Edit").click()
    sales.get_by_label("Sales region").fill("Benelux")
    sales.get_by_role("button", name="Save").click()
    expect(sales.get_by_test_id("property-region")).to_have_text("Benelux")
    info.get_by_role("link", name="Edit").click()
    info.get_by_label("Seats").fill("")
    info.get_by_role("button", name="Save").click()
    expect(info.get_by_test_id("property-seats")).to_have_text("—")
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["properties"] == {
        "tier": "pro",
        "region": "Benelux",
    }


# --- associated records ------------------------------------------------------------------------


def linked(session_factory: Any, sub_id: str) -> list[tuple[str, str]]:
    """(type, id) of every record linked with the subscription, in the database."""
    with session_factory() as session:
        rows = session.scalars(
            select(Association).where(
                or_(Association.from_id == sub_id, Association.to_id == sub_id)
            )
        ).all()
        return sorted(
            (r.to_type, r.to_id) if r.from_id == sub_id else (r.from_type, r.from_id) for r in rows
        )


def test_add_replace_and_remove_associated_records(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    acme = api.ok(api.post("/companies", {"name": "Acme", "domain": "acme.example"}))
    globex = api.ok(api.post("/companies", {"name": "Globex"}))
    sub = subscribe(api, company_id=acme["id"])
    deal = api.ok(api.post("/deals", {"name": "Big deal", "contact_id": sub["contact_id"]}))
    quote = api.ok(api.post("/quotes", {"name": "Q-1", "contact_id": sub["contact_id"]}))
    bob = api.ok(api.post("/contacts", {"email": "bob@example.com", "first_name": "Bob"}))

    page = staff.goto(f"/subscriptions/{sub['id']}")
    companies = page.get_by_test_id("association-company")
    names = companies.get_by_test_id("associated-company").locator(".association-name")
    assert [" ".join(t.split()) for t in names.all_inner_texts()] == [
        "Acme Billing company acme.example"
    ]

    # Add a deal, a quote and a second contact by choosing them.
    for kind, record, name in (
        ("deal", deal, "Big deal"),
        ("quote", quote, "Q-1"),
        ("contact", bob, "Bob"),
    ):
        section = page.get_by_test_id(f"association-{kind}")
        section.locator("summary", has_text="Add").click()
        section.get_by_label("Record").select_option(record["id"])
        section.get_by_role("button", name="Save").click()
        expect(page.get_by_test_id("flash")).to_have_text(
            f"The {kind} was associated with the subscription."
        )
        expect(section.locator(f"[data-record-id='{record['id']}']")).to_contain_text(name)
    assert linked(session_factory, sub["id"]) == sorted(
        [("contact", bob["id"]), ("deal", deal["id"]), ("quote", quote["id"])]
    )

    # The search narrows the choices (htmx).
    section = page.get_by_test_id("association-company")
    section.locator("summary", has_text="Add").click()
    section.get_by_label("Search").fill("glob")
    expect(section.get_by_label("Record").locator("option")).to_have_text(["Globex"])

    # Replace the billing company: the subscription's own field changes.
    billing = companies.locator(f"[data-record-id='{acme['id']}']")
    billing.locator("summary", has_text="Replace").click()
    billing.get_by_label("Replace with").select_option(globex["id"])
    billing.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The company was replaced.")
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["company_id"] == globex["id"]

    # Replace the deal by another, then remove it.
    other_deal = api.ok(api.post("/deals", {"name": "Renewal deal"}))
    page.reload()
    deals = page.get_by_test_id("association-deal")
    row = deals.locator(f"[data-record-id='{deal['id']}']")
    row.locator("summary", has_text="Replace").click()
    row.get_by_label("Replace with").select_option(other_deal["id"])
    row.get_by_role("button", name="Save").click()
    expect(deals.get_by_test_id("associated-deal")).to_contain_text(["Renewal deal"])
    assert ("deal", other_deal["id"]) in linked(session_factory, sub["id"])
    assert ("deal", deal["id"]) not in linked(session_factory, sub["id"])
    deals.locator(f"[data-record-id='{other_deal['id']}']").get_by_role(
        "button", name="Remove"
    ).click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "The deal is no longer associated with the subscription."
    )
    expect(page.get_by_test_id("association-deal")).to_contain_text("None yet.")
    assert [k for k, _ in linked(session_factory, sub["id"])] == ["contact", "quote"]

    # Removing the billing company empties the field.
    page.get_by_test_id("association-company").locator(
        f"[data-record-id='{globex['id']}']"
    ).get_by_role("button", name="Remove").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "The company is no longer associated with the subscription."
    )
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["company_id"] is None


def test_the_billing_contact_is_replaced_never_removed(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = subscribe(api)
    bob = api.ok(api.post("/contacts", {"email": "bob@example.com", "first_name": "Bob"}))
    bobs_card = payment_method(api, bob["id"], "5555555555554444")
    page = staff.goto(f"/subscriptions/{sub['id']}")
    contacts = page.get_by_test_id("association-contact")
    billing = contacts.locator(f"[data-record-id='{sub['contact_id']}']")
    expect(billing).to_contain_text("Billing contact")
    expect(billing.get_by_role("button", name="Remove")).to_have_count(0)

    # A forged removal is refused by the server.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=staff.base_url, cookies=cookies) as client:
        forged = client.post(
            f"/subscriptions/{sub['id']}/associations/remove",
            data={"csrf_token": token, "type": "contact", "record_id": sub["contact_id"]},
        )
    assert forged.status_code == 422
    assert "The billing contact cannot be removed" in forged.text
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["contact_id"] == sub["contact_id"]

    # Replacing it goes through the edit dialog, with a payment method of the new contact.
    billing.get_by_role("button", name="Replace").click()
    dialog = page.locator("#edit-dialog")
    dialog.get_by_label("Find a contact").fill("bob")
    # The search finds Bob (htmx); his saved payment methods replace Ann's.
    expect(dialog.get_by_label("Billing contact").locator("option")).to_have_text(["Bob"])
    expect(dialog.get_by_label("Payment method").locator("option")).to_have_text(
        ["—", "Mastercard ending in 4444"]
    )
    dialog.get_by_label("Payment method").select_option(bobs_card)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The subscription was saved.")
    expect(page.get_by_test_id("fact-billing-contact")).to_contain_text("Bob")
    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["contact_id"], stored["payment_method_id"]) == (bob["id"], bobs_card)
