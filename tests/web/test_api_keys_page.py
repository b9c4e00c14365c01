"""Settings → API keys (super admins): make a key with a name, permissions and a last day, see
its secret once, and revoke it with a confirmation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from playwright.sync_api import expect

from cadency.accounts.models import ApiKey, User
from tests.conftest import Api
from tests.web.conftest import Staff, screenshot


def test_create_a_scoped_key_see_its_secret_once_and_revoke_it(
    staff: Staff, session_factory: Any
) -> None:
    page = staff.goto("/settings/api-keys")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("API keys")
    expect(page.locator("tr[data-name='Default key']")).to_be_visible()
    page.get_by_role("link", name="Create API key").click()

    # Nothing chosen: the form says what is missing and keeps what was typed.
    page.get_by_label("Name").fill("Accounting export")
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_test_id("error-scopes")).to_have_text("Choose at least one permission.")
    expect(page.get_by_label("Name")).to_have_value("Accounting export")

    last_day = date.today() + timedelta(days=30)
    page.get_by_label("View subscriptions").check()
    page.get_by_label("Export subscriptions").check()
    page.get_by_label("Works until").fill(last_day.isoformat())
    page.get_by_role("button", name="Create API key").click()

    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    secret = page.get_by_test_id("api-key-secret").input_value()
    assert secret.startswith("cad_test_")
    expect(page.get_by_test_id("copy-key")).to_have_attribute("data-copy", secret)
    screenshot(page, "settings-api-key-created")

    key = Api(client=staff.api.client, account_id=staff.api.account_id, key=secret)
    assert key.get("/subscriptions").status_code == 200
    refused = key.patch("/account/settings", {"timezone": "UTC"})
    assert refused.status_code == 403 and "billing.edit" in refused.text

    page.get_by_role("link", name="Done").click()
    row = page.locator("tr[data-name='Accounting export']")
    expect(row.locator("[data-permission]")).to_have_text(
        ["View subscriptions", "Export subscriptions"]
    )
    expect(row.get_by_test_id("created-by")).to_have_text(f"by {staff.email}")
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    # The secret is never shown again.
    assert secret not in page.content()
    screenshot(page, "settings-api-keys")
    with session_factory() as session:
        stored = session.query(ApiKey).filter_by(name="Accounting export").one()
        assert stored.scopes == ["subscriptions.view", "subscriptions.export"]
        assert stored.expires_at is not None
        assert stored.expires_at.date() in (last_day, last_day + timedelta(days=1))

    row.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Revoke the API key Accounting export?")
    dialog.get_by_role("button", name="Revoke API key").click()
    expect(page.get_by_test_id("flash")).to_have_text("The API key Accounting export was revoked.")
    expect(row.get_by_test_id("status-badge")).to_have_text("Revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    assert key.get("/subscriptions").status_code == 401


def test_the_page_speaks_danish(staff: Staff, session_factory: Any) -> None:
    with session_factory() as session:
        session.get(User, staff_user_id(session, staff)).language = "da"
        session.commit()
    page = staff.goto("/settings/api-keys")
    expect(page.get_by_role("heading", name="API-nøgler")).to_be_visible()
    page.get_by_role("link", name="Opret API-nøgle").click()
    expect(page.get_by_label("Virker til og med")).to_be_visible()


def staff_user_id(session: Any, staff: Staff) -> int:
    user_id: int = session.query(User.id).filter_by(email=staff.email).one()[0]
    return user_id
