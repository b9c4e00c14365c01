"""The pages work under their Content-Security-Policy (issue 11): Chromium enforces it, so a
page that still needed an inline handler or an evaluated htmx filter would break here and
report a violation on the console."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, expect

from tests.web.conftest import Staff


def test_pages_run_under_the_policy(staff: Staff) -> None:
    page = staff.page
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)

    # The language switch submits itself on change (a handler in app.js, not inline).
    page.goto(f"{staff.base_url}/subscriptions")
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.locator("#language-switch").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # The create form refreshes its summary on edits (the filtering is in create.js).
    page.goto(f"{staff.base_url}/subscriptions/new")
    page.wait_for_load_state("networkidle")
    assert violations == []
