"""The web app in Dutch and Danish: the language comes from the user's own setting, else the
browser's Accept-Language; dates and money follow that language's conventions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Browser, expect
from sqlalchemy import update

from cadency.accounts.models import Account, User
from tests.conftest import Api
from tests.web.conftest import Staff, add_user, screenshot, sign_in
from tests.web.test_subscriptions_index import customer, subscribe

NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)


def _euro_shop(api: Api, session_factory: Any) -> None:
    with session_factory() as session:
        session.execute(
            update(Account)
            .where(Account.id == api.account_id)
            .values(clock_now=NOW, clock_set_at=None, currency="EUR", locale="nl-NL")
        )
        session.commit()


def test_dutch_from_the_browser(
    api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    _euro_shop(api, session_factory)
    who = customer(api, "anne@example.nl", "Anne", "de Vries")
    subscription = subscribe(api, who, "Koffieabonnement", price="1234.50", currency="EUR")
    user_id = add_user(api, session_factory, f"nl-{api.account_id}@example.com")
    context = browser.new_context(locale="nl-NL", viewport={"width": 1400, "height": 900})
    sign_in(context, session_factory, user_id, base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)

    page.goto(base_url + "/subscriptions")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", name="Abonnementen")).to_be_visible()
    for tab, label in (("all", "Alle"), ("unpaid", "Onbetaald"), ("scheduled", "Gepland")):
        expect(page.get_by_test_id(f"tab-{tab}")).to_contain_text(label)
    row = page.locator(f"tr:has(a[href='/subscriptions/{subscription['id']}'])")
    expect(row.get_by_test_id("status-badge")).to_have_text("Actief")
    # Dutch money: euro sign first, dot for thousands, comma for cents.
    expect(row).to_contain_text("€ 1.234,50")
    screenshot(page, "subscriptions-index-nl")

    page.goto(base_url + f"/subscriptions/{subscription['id']}")
    expect(page.get_by_test_id("status-badge").first).to_have_text("Actief")
    # 10 March 2026 is the start; the next payment is 10 April 2026, in Dutch.
    expect(page.locator("body")).to_contain_text("10 apr 2026")
    screenshot(page, "subscription-record-nl")
    context.close()


def test_danish_from_the_users_own_setting_over_the_browser(
    api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    _euro_shop(api, session_factory)
    who = customer(api, "mette@example.dk", "Mette", "Hansen")
    subscription = subscribe(api, who, "Kaffeklub", price="99.00", currency="EUR")
    user_id = add_user(api, session_factory, f"da-{api.account_id}@example.com")
    with session_factory() as session:
        session.execute(update(User).where(User.id == user_id).values(language="da"))
        session.commit()
    # The browser asks for English; the user's own setting wins.
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    sign_in(context, session_factory, user_id, base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)

    page.goto(base_url + "/subscriptions")
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(page.get_by_role("heading", name="Abonnementer")).to_be_visible()
    for tab, label in (("all", "Alle"), ("unpaid", "Ubetalt"), ("scheduled", "Planlagt")):
        expect(page.get_by_test_id(f"tab-{tab}")).to_contain_text(label)
    row = page.locator(f"tr:has(a[href='/subscriptions/{subscription['id']}'])")
    expect(row.get_by_test_id("status-badge")).to_have_text("Aktiv")
    # Danish money: amount first, comma for cents, then the euro sign.
    expect(row).to_contain_text("99,00\xa0€")
    screenshot(page, "subscriptions-index-da")

    page.goto(base_url + "/products")
    expect(page.get_by_role("heading", name="Produkter")).to_be_visible()
    page.goto(base_url + "/settings/account")
    expect(page.get_by_role("link", name="Log ud")).to_have_count(0)
    expect(page.get_by_role("button", name="Log ud")).to_be_visible()
    context.close()


def test_switching_language_keeps_the_filters(staff: Staff) -> None:
    page = staff.goto("/payments?status=failed")
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page).to_have_url(f"{staff.base_url}/payments?status=failed")
    page.locator("#language-switch").select_option("en")
    expect(page).to_have_url(f"{staff.base_url}/payments?status=failed")
