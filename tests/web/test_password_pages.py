"""The password forms in a browser: changing one's password on the profile page, and the
"Forgot password?" way from the login page to a new password."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from cadency.accounts import service as account_service
from cadency.accounts.models import PasswordReset, User
from tests.conftest import Api
from tests.web.conftest import PASSWORD, Staff, add_user, screenshot

NEW_PASSWORD = "a brand new passphrase"


def test_change_password_on_the_profile_page(staff: Staff, session_factory: Any) -> None:
    page = staff.goto("/settings/profile")
    form = page.get_by_test_id("change-password")
    form.locator("#f-current_password").fill("not my password")
    form.locator("#f-new_password").fill(NEW_PASSWORD)
    form.locator("#f-new_password_again").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("error-current_password")).to_have_text(
        "The current password is not right"
    )

    form = page.get_by_test_id("change-password")
    form.locator("#f-current_password").fill(PASSWORD)
    form.locator("#f-new_password").fill(NEW_PASSWORD)
    form.locator("#f-new_password_again").fill(NEW_PASSWORD)
    screenshot(page, "profile-change-password")
    form.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Your password was changed.")
    with session_factory() as session:
        assert account_service.authenticate(session, staff.email, NEW_PASSWORD) is not None
        assert account_service.authenticate(session, staff.email, PASSWORD) is None


def test_forgot_password_from_the_login_page(
    api: Api, session_factory: Any, page: Page, base_url: str
) -> None:
    email = f"forgetful-{api.account_id}@example.com"
    user_id = add_user(api, session_factory, email)
    page.goto(base_url + "/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.locator("#f-email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_test_id("reset-requested")).to_contain_text("If an account exists for")

    with session_factory() as session:
        reset = session.query(PasswordReset).filter_by(user_id=user_id).one()
        path = account_service.password_reset_path(session, reset.id)
    page.goto(base_url + path)
    expect(page.get_by_test_id("reset-email")).to_contain_text(email)
    page.locator("#f-new_password").fill(NEW_PASSWORD)
    page.locator("#f-new_password_again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_test_id("flash")).to_contain_text("Log in with the new one.")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base_url + "/subscriptions")
    with session_factory() as session:
        assert session.get(User, user_id) is not None
