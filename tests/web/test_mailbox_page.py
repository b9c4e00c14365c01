"""The dev mailbox (super admins): the emails kept when no SMTP server is configured, listed and
shown as the recipient would see them; and the profile's switch for payment emails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from cadency.accounts.models import User
from cadency.notifications.models import MailboxMessage
from tests.conftest import Api, pin_clock
from tests.notifications.conftest import deliver
from tests.web.conftest import Staff, add_user, screenshot, sign_in


def subscribe(api: Api, email: str, price: str) -> str:
    contact = api.ok(api.post("/contacts", {"email": email, "first_name": "Mia"}))
    method = api.ok(
        api.post(
            f"/contacts/{contact['id']}/payment-methods",
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2045,
                    "cvc": "123",
                },
            },
        )
    )
    sub = api.ok(
        api.post(
            "/subscriptions",
            {
                "contact_id": contact["id"],
                "currency": "USD",
                "line_items": [
                    {"name": "Coffee club", "unit_price": price, "billing_frequency": "monthly"}
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": method["id"],
            },
        )
    )
    return str(sub["id"])


def mailbox(session_factory: Any, account_id: int) -> list[tuple[str, str]]:
    with session_factory() as session:
        rows = session.execute(
            select(MailboxMessage.to, MailboxMessage.subject)
            .where(MailboxMessage.account_id == account_id)
            .order_by(MailboxMessage.id)
        ).all()
        return [(to, subject) for to, subject in rows]


def test_super_admin_reads_the_kept_emails(staff: Staff, session_factory: Any) -> None:
    subscribe(staff.api, "mia@buyer.test", "30.00")
    assert deliver(session_factory, staff.api.account_id, None).sent == 2

    page = staff.goto("/settings/mailbox")
    expect(page.get_by_role("heading", name="Mailbox")).to_be_visible()
    expect(page.get_by_text("No SMTP server is configured")).to_be_visible()
    rows = page.get_by_test_id("mailbox-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    # Newest first: the admin's notice was written after the buyer's receipt.
    expect(rows.nth(0)).to_contain_text(staff.email)
    expect(rows.nth(0)).to_contain_text("First payment: Mia paid $30.00")
    expect(rows.nth(1)).to_contain_text("mia@buyer.test")
    expect(rows.nth(1)).to_contain_text("Your receipt from Test shop")
    screenshot(page, "settings-mailbox")

    page.get_by_role("link", name="Your receipt from Test shop").click()
    expect(page.get_by_test_id("mail-subject")).to_have_text("Your receipt from Test shop")
    expect(page.get_by_test_id("mail-to")).to_have_text("mia@buyer.test")
    expect(page.get_by_test_id("mail-text")).to_contain_text("Thank you for your payment of $30.00")
    expect(page.get_by_test_id("mail-text")).to_contain_text("Coffee club: $30.00")
    # The HTML part, rendered in a sandbox with no scripts.
    assert page.get_by_test_id("mail-html").get_attribute("sandbox") == ""
    frame = page.frame_locator("[data-testid=mail-html]")
    expect(frame.get_by_text("Thank you for your payment of $30.00")).to_be_visible()
    expect(frame.get_by_text("Hello Mia,")).to_be_visible()
    screenshot(page, "settings-mailbox-message")

    page.get_by_role("link", name="Back to the mailbox").click()
    expect(page.get_by_test_id("mailbox-table")).to_be_visible()


def test_only_super_admins_see_the_mailbox(
    staff: Staff, other_api: Api, session_factory: Any, context: BrowserContext, base_url: str
) -> None:
    subscribe(staff.api, "mia@buyer.test", "12.00")
    deliver(session_factory, staff.api.account_id, None)
    with session_factory() as session:
        own = session.scalar(
            select(MailboxMessage.id).where(MailboxMessage.account_id == staff.api.account_id)
        )
    assert own is not None

    # Another account's super admin gets no emails of this one: not found.
    other_id = add_user(other_api, session_factory, f"other-{other_api.account_id}@example.com")
    sign_in(context, session_factory, other_id, base_url)
    response = staff.page.goto(f"{base_url}/settings/mailbox/{own}")
    assert response is not None and response.status == 404
    page = staff.page
    page.goto(f"{base_url}/settings/mailbox")
    expect(page.get_by_test_id("mailbox-empty")).to_be_visible()

    # A billing admin who is no super admin: forbidden, and no link in the navigation.
    billing_id = add_user(
        staff.api, session_factory, "books@shop.test", ["billing.edit", "subscriptions.view"]
    )
    sign_in(context, session_factory, billing_id, base_url)
    for path in ("/settings/mailbox", f"/settings/mailbox/{own}"):
        response = page.goto(f"{base_url}{path}")
        assert response is not None and response.status == 403, path
    page.goto(f"{base_url}/settings/profile")
    expect(page.get_by_role("link", name="Mailbox")).to_have_count(0)
    # Payment emails are for super admins: nothing to turn off here.
    expect(page.get_by_test_id("notify-payments")).to_have_count(0)


def test_a_super_admin_turns_payment_emails_off(staff: Staff, session_factory: Any) -> None:
    page = staff.goto("/settings/profile")
    checkbox = page.get_by_test_id("notify-payments")
    expect(checkbox).to_be_checked()
    checkbox.uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your profile was saved.")).to_be_visible()
    expect(page.get_by_test_id("notify-payments")).not_to_be_checked()
    with session_factory() as session:
        user = session.scalar(select(User).where(User.email == staff.email))
        assert user is not None and user.notify_payments is False

    subscribe(staff.api, "mia@buyer.test", "30.00")
    deliver(session_factory, staff.api.account_id, None)
    # The buyer's receipt still goes; the admin's payment notice does not.
    assert mailbox(session_factory, staff.api.account_id) == [
        ("mia@buyer.test", "Your receipt from Test shop")
    ]

    page.get_by_test_id("notify-payments").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("notify-payments")).to_be_checked()
    subscribe(staff.api, "max@buyer.test", "45.00")
    deliver(session_factory, staff.api.account_id, None)
    assert mailbox(session_factory, staff.api.account_id)[1:] == [
        ("max@buyer.test", "Your receipt from Test shop"),
        (staff.email, "First payment: Mia paid $45.00"),
    ]


def test_emails_are_dated_and_sorted_by_the_accounts_clock(
    staff: Staff, session_factory: Any
) -> None:
    # A test account a year from now on its own clock: its emails carry that time, not today's.
    pin_clock(session_factory, staff.api.account_id, datetime(2027, 6, 1, 9, tzinfo=UTC))
    subscribe(staff.api, "mia@buyer.test", "30.00")
    assert deliver(session_factory, staff.api.account_id, None).sent == 2
    # Then the clock moves a month on: the renewal (and its reminder) write their emails.
    staff.api.ok(staff.api.post("/clock/advance", {"to": "2027-07-01T10:00:00+00:00"}))
    later = deliver(session_factory, staff.api.account_id, None).sent
    assert later >= 2

    page = staff.goto("/settings/mailbox")
    rows = page.get_by_test_id("mailbox-table").locator("tbody tr")
    expect(rows).to_have_count(2 + later)
    shown = [
        datetime.strptime(
            rows.nth(i).locator("td").first.inner_text().replace("\u202f", " "),
            "%m/%d/%y, %I:%M %p",
        )
        for i in range(2 + later)
    ]
    # Newest first by the account's clock; the first two emails on June 1st, 2027.
    assert shown == sorted(shown, reverse=True)
    assert shown[0].date() == datetime(2027, 7, 1).date()
    assert [d.date() for d in shown[-2:]] == [datetime(2027, 6, 1).date()] * 2
    expect(rows.nth(1 + later)).to_contain_text("Your receipt from Test shop")
    rows.nth(1 + later).get_by_role("link").click()
    expect(page.locator("dl")).to_contain_text("Jun 1, 2027")


def test_an_unknown_or_huge_cursor_is_not_found(staff: Staff) -> None:
    for before in ("999999", str(2**70), "-1"):
        response = staff.page.request.get(f"{staff.base_url}/settings/mailbox?before={before}")
        assert response.status == 404, before
    response = staff.page.request.get(f"{staff.base_url}/settings/mailbox?before=abc")
    assert response.status in (400, 422)
