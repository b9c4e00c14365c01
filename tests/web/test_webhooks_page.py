"""Settings → Webhooks (super admins), in Chromium: add an endpoint to a real receiver on
loopback, see its signing secret once, send a test event and read it in the delivery log (the
receiver verifies it with `standardwebhooks`), send it again, disable and enable, roll the
secret, and delete the endpoint."""

from __future__ import annotations

import json

from fastapi import FastAPI
from playwright.sync_api import expect
from standardwebhooks import Webhook

from cadency.webhooks import service
from tests.web.conftest import Staff, screenshot
from tests.webhooks.receiver import Receiver, allow_private, receiver

__all__ = ["allow_private", "receiver"]  # fixtures


def deliver_now(app: FastAPI) -> None:
    """What the worker's webhook lane does every second."""
    settings = app.state.settings
    service.run(
        app.state.session_factory,
        service.Links(settings.base_url, settings),
        allow_private=settings.webhook_allow_private,
    )


def test_add_an_endpoint_test_it_and_read_its_deliveries(
    staff: Staff, app: FastAPI, receiver: Receiver, allow_private: None
) -> None:
    page = staff.goto("/settings/webhooks")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Webhooks")
    expect(page.get_by_text("This account has no webhook endpoints yet.")).to_be_visible()
    page.get_by_role("link", name="Add endpoint").click()

    # No event chosen: the form says so and keeps what was typed.
    page.get_by_label("Endpoint URL").fill(receiver.url + "/cadency")
    page.get_by_test_id("all-events").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_test_id("error-enabled_events")).to_have_text("Choose at least one event.")
    expect(page.get_by_label("Endpoint URL")).to_have_value(receiver.url + "/cadency")

    page.get_by_label("Description").fill("Our CRM")
    page.get_by_label("invoice.created").check()
    page.get_by_label("payment.failed").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Endpoint added")).to_be_visible()
    secret = page.get_by_test_id("webhook-secret").input_value()
    assert secret.startswith("whsec_")
    screenshot(page, "settings-webhook-secret")
    page.get_by_role("link", name="Done").click()

    # The endpoint's page: what it receives, and no delivery yet; the secret is not shown.
    expect(page.get_by_test_id("endpoint-facts")).to_contain_text("invoice.created")
    expect(page.get_by_test_id("endpoint-facts")).to_contain_text("Our CRM")
    assert secret not in page.content()
    expect(page.get_by_text("No event was sent to this endpoint yet.")).to_be_visible()

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "A test event is on its way; its delivery shows below."
    )
    deliver_now(app)
    page.reload()
    row = page.locator("tr[data-delivery]")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("status-badge")).to_have_text("Succeeded")
    expect(row).to_contain_text("ping")
    expect(row).to_contain_text("200")
    [request] = receiver.requests
    assert request.path == "/cadency"
    # The log shows what was sent: the event, as the request's body.
    shown = json.loads(row.get_by_test_id("request-body").text_content() or "")
    assert shown == json.loads(request.body)
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "ping"
    screenshot(page, "settings-webhook-deliveries")

    row.get_by_role("button", name="Send again").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "The event is sent again; its delivery shows below."
    )
    expect(row.get_by_test_id("status-badge")).to_have_text("Pending")
    deliver_now(app)
    assert len(receiver.requests) == 2

    # Edit: what it receives and its description; the URL is checked as on adding.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Endpoint URL")).to_have_value(receiver.url + "/cadency")
    page.get_by_label("Endpoint URL").fill("ftp://example.com/x")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error-url")).to_contain_text("http:// or https://")
    page.get_by_label("Endpoint URL").fill(receiver.url + "/cadency")
    page.get_by_label("Description").fill("Our CRM and books")
    page.get_by_label("payment.failed").uncheck()
    page.get_by_label("payment.succeeded").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("The endpoint was saved.")
    facts = page.get_by_test_id("endpoint-facts")
    expect(facts).to_contain_text("Our CRM and books")
    expect(facts).to_contain_text("invoice.created, payment.succeeded")

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_test_id("flash")).to_have_text("The endpoint was disabled.")
    expect(page.get_by_test_id("endpoint-facts").get_by_test_id("status-badge")).to_have_text(
        "Disabled"
    )
    expect(page.get_by_role("button", name="Send test event")).to_be_disabled()
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_test_id("flash")).to_have_text("The endpoint was enabled.")

    page.get_by_role("button", name="Roll signing secret").click()
    expect(page.get_by_role("heading", name="New signing secret")).to_be_visible()
    rolled = page.get_by_test_id("webhook-secret").input_value()
    assert rolled.startswith("whsec_") and rolled != secret
    page.get_by_role("link", name="Done").click()

    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete this endpoint?")
    dialog.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_test_id("flash")).to_have_text("The endpoint was deleted.")
    expect(page.get_by_text("This account has no webhook endpoints yet.")).to_be_visible()


def test_a_private_address_is_refused_on_the_form(staff: Staff, receiver: Receiver) -> None:
    page = staff.goto("/settings/webhooks/new")
    page.get_by_label("Endpoint URL").fill(receiver.url + "/x")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_test_id("error-url")).to_contain_text("private or local address")
