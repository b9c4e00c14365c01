""" "Record payment" on the subscription record panel: an invoice billed by hand that the buyer
paid by bank transfer is recorded from its row, and the panel and the API show it paid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from cadency.payments.models import Payment
from tests.conftest import Api
from tests.web.conftest import Staff
from tests.web.test_permissions import signed_in_as
from tests.web.test_subscription_actions import flash, forged_post
from tests.web.test_subscription_record import cells, customer, set_clock, texts


def manual_subscription(api: Api) -> dict[str, Any]:
    """A subscription billed by invoice, net 15: its first invoice is open."""
    contact_id, _card = customer(api)
    created: dict[str, Any] = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "collection_method": "send_invoice",
                "payment_terms": "net_15",
                "line_items": [
                    {"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
            },
        )
    )
    return created


def test_record_a_bank_transfer_for_an_overdue_invoice(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    sub = manual_subscription(api)
    api.ok(api.post("/clock/advance", {"to": "2026-03-20T09:00:00+00:00"}))
    # Held there, so the dates on the page are exact.
    set_clock(session_factory, api, datetime(2026, 3, 20, 9, tzinfo=UTC))
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "unpaid"

    page = staff.goto(f"/subscriptions/{sub['id']}")
    expect(page.get_by_test_id("status-badge")).to_have_text("Past due")
    row = page.get_by_test_id("invoice")
    row.get_by_role("button", name="Record payment of INV-000001").click()
    dialog = page.get_by_role("dialog", name="Record payment of INV-000001")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Received on")).to_have_value("2026-03-20")

    # A reference of two lines cannot be typed into the field; one too long is refused by the
    # server, with the dialog open again and what was typed kept.
    dialog.get_by_label("Reference (optional)").evaluate("e => e.removeAttribute('maxlength')")
    dialog.get_by_label("Reference (optional)").fill("x" * 256)
    dialog.get_by_label("Received on").fill("2026-03-18")
    dialog.get_by_role("button", name="Record payment").click()
    dialog = page.get_by_role("dialog", name="Record payment of INV-000001")
    expect(dialog.get_by_test_id("dialog-error")).to_contain_text("Enter at most 255 characters.")
    expect(dialog.get_by_label("Received on")).to_have_value("2026-03-18")
    assert api.ok(api.get(f"/invoices/{sub_invoice(api, sub['id'])}"))["status"] == "open"

    dialog.get_by_label("Reference (optional)").fill("Transfer 2026-0042")
    dialog.get_by_role("button", name="Record payment").click()

    expect(flash(page)).to_have_text("A payment of $25.00 was recorded: INV-000001 is paid.")
    expect(page.get_by_test_id("status-badge")).to_have_text("Active")
    assert cells(page, "invoice")[0][1] == "Paid"
    assert cells(page, "invoice")[0][-1] == ""
    assert cells(page, "payment") == [["Mar 18, 2026", "$25.00", "Succeeded", "", ""]]
    timeline = texts(page, "timeline-entry")
    assert "Mar 20, 2026\nA payment of $25.00 succeeded." in timeline
    assert "Mar 20, 2026\nThe status changed from Past due to Active." in timeline

    stored = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert (stored["status"], stored["payments_completed"]) == ("active", 1)
    with session_factory() as session:
        payment = session.scalars(select(Payment).where(Payment.subscription_id == sub["id"])).one()
        assert (payment.processor, payment.processor_reference, payment.status) == (
            "out_of_band",
            "Transfer 2026-0042",
            "succeeded",
        )


def sub_invoice(api: Api, sub_id: str) -> str:
    data = api.ok(api.get("/invoices", params={"subscription_id": sub_id}))["data"]
    return str(data[0]["id"])


def test_a_view_only_user_cannot_record_a_payment(
    api: Api, session_factory: Any, page: Page, context: BrowserContext, base_url: str
) -> None:
    set_clock(session_factory, api)
    sub = manual_subscription(api)
    signed_in_as(api, session_factory, context, base_url, ["subscriptions.view"])
    page.goto(f"{base_url}/subscriptions/{sub['id']}")
    assert cells(page, "invoice")[0][1] == "Open"
    expect(page.get_by_role("button", name="Record payment")).to_have_count(0)

    invoice_id = sub_invoice(api, sub["id"])
    forged = forged_post(
        page,
        base_url,
        f"/subscriptions/{sub['id']}/invoices/{invoice_id}/record-payment",
        {"reference": "cash"},
    )
    assert forged.status_code == 403
    assert api.ok(api.get(f"/invoices/{invoice_id}"))["status"] == "open"
    assert api.ok(api.get("/payments", params={"invoice_id": invoice_id}))["data"] == []
