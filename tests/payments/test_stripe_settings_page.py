"""Settings → Payment processor: the same service and checks as PATCH /account/processor,
with the secrets never put back into the page."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Api
from tests.stripe_server import LocalStripe
from tests.web.test_sections import as_user

SECRET = "sk_test_" + "PageSecret0123" + "9876"
WEBHOOK = "whsec_" + "pagewebhook0123456"


def test_switching_to_stripe_on_the_settings_page(
    client: TestClient, session_factory: Any, api: Api, localstripe: LocalStripe
) -> None:
    editor = as_user(client, session_factory, api, "billing.edit")
    page = editor.get("/settings/payment-processor")
    assert page.status_code == 200
    assert f"/webhooks/stripe/{api.account_id}" in page.text
    assert "payment_intent.succeeded" in page.text

    form = {
        "processor": "stripe",
        "stripe.publishable_key": "pk_test_" + "pagekey01234",
        "stripe.secret_key": "sk_live_" + "a" * 20,
        "stripe.webhook_secret": WEBHOOK,
        "stripe.api_base": localstripe.url,
    }
    refused = editor.post("/settings/payment-processor", form)
    assert refused.status_code == 422
    assert 'data-testid="error-stripe.secret_key"' in refused.text
    assert "sk_test_ keys only" in refused.text
    # What was typed into the secret fields is not sent back.
    assert WEBHOOK not in refused.text and "sk_live_" + "a" * 20 not in refused.text
    assert api.ok(api.get("/account/processor"))["processor"] == "sandbox"

    saved = editor.post("/settings/payment-processor", {**form, "stripe.secret_key": SECRET})
    assert saved.status_code == 303, saved.text
    shown = api.ok(api.get("/account/processor"))
    assert shown["processor"] == "stripe"
    assert shown["stripe"]["secret_key"] == "sk_test_…9876"
    page = editor.get("/settings/payment-processor")
    assert "sk_test_…9876" in page.text
    assert SECRET not in page.text and WEBHOOK not in page.text

    # Saving again with the secret fields empty keeps both secrets.
    kept = editor.post(
        "/settings/payment-processor",
        {**form, "stripe.secret_key": "", "stripe.webhook_secret": ""},
    )
    assert kept.status_code == 303, kept.text
    assert api.ok(api.get("/account/processor")) == shown

    fields = {
        k: v for k, v in form.items() if k not in ("stripe.secret_key", "stripe.webhook_secret")
    }
    back = editor.post("/settings/payment-processor", {**fields, "processor": "sandbox"})
    assert back.status_code == 303, back.text
    assert api.ok(api.get("/account/processor"))["processor"] == "sandbox"
