"""A service's refusal reads in the reader's language on staff pages, and in English in the API,
from the one sentence the service raises (kit.errors.APIError holds a kit.i18n.Message): a
stale page's action, a typed value the service refuses, a filter, a deal that cannot be
converted, an unknown record."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from markupsafe import escape
from playwright.sync_api import expect
from sqlalchemy import select

from cadency.accounts.models import User
from cadency.kit.i18n import translations
from tests.conftest import Api
from tests.web.conftest import Staff, screenshot
from tests.web.http import reads_in, signed_in
from tests.web.test_subscription_record import set_clock, subscribe


def said(language: str, message: str, **values: str) -> str:
    """The catalog's sentence in `language`, as a page shows it (escaped); never the English."""
    translated = translations(language).gettext(message)
    assert translated != message, f"no {language} translation of {message!r}"
    return str(escape(translated % values if values else translated))


def test_a_stale_page_refusal_names_the_status_in_the_readers_words(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    set_clock(session_factory, api)
    sub = subscribe(api)
    # Canceled through the API while the record page still offered "Pause".
    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}))

    for language in ("nl", "da"):
        reads_in(session_factory, me.user_id, language)
        answer = me.client.post(
            f"/subscriptions/{sub['id']}/pause", data={"csrf_token": me.csrf_token}
        )
        assert answer.status_code == 409
        status = translations(language).gettext("Canceled")
        expected = said(language, "A %(status)s subscription cannot be paused", status=status)
        assert expected in answer.text
        assert "cannot be paused" not in answer.text

    # The API says it in English, with the stored status.
    refused = api.post(f"/subscriptions/{sub['id']}/pause", {})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "A canceled subscription cannot be paused"
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "canceled"


def test_a_value_the_service_refuses_is_said_next_to_its_field(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    reads_in(session_factory, me.user_id, "da")
    form = {
        "csrf_token": me.csrf_token,
        "timezone": "UTC",
        "currency": "XYZ",
        "language": "en",
        "locale": "en-US",
        "renewal_reminders": "on",
        "renewal_reminder_days": "14",
        "dunning_retry_days": "3, 5, 7",
        "dunning_final_action": "cancel",
        "dunning_invoice_action": "mark_uncollectible",
        "invoice_number_prefix": "INV",
    }
    answer = me.client.post("/settings/account", data=form)
    assert answer.status_code == 422
    assert said("da", "Unknown currency: '%(code)s' (use an ISO 4217 code)", code="XYZ") in (
        answer.text
    )
    assert "Unknown currency" not in answer.text
    assert api.ok(api.get("/account/settings"))["currency"] == "USD"


def test_a_filter_the_filter_language_refuses_reads_in_dutch(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    reads_in(session_factory, me.user_id, "nl")
    answer = me.client.get(
        "/subscriptions?advanced=1&filter_groups.0.filters.0.property=recurring_amount"
    )
    assert answer.status_code == 422
    assert said("nl", "Unknown property: '%(name)s'", name="recurring_amount") in answer.text
    assert "Unknown property" not in answer.text


def test_a_deal_that_cannot_be_converted_says_why_in_danish(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    deal = api.ok(api.post("/deals", {"name": "Office coffee", "currency": "USD"}))
    reads_in(session_factory, me.user_id, "da")
    answer = me.client.post(f"/deals/{deal['id']}/convert", data={"csrf_token": me.csrf_token})
    assert answer.status_code == 409
    message = (
        "Deal '%(deal_id)s' has no contact to bill; create a quote for it with a contact_id and "
        "convert the quote"
    )
    assert said("da", message, deal_id=deal["id"]) in answer.text
    assert "has no contact to bill" not in answer.text


def test_an_unknown_record_is_named_in_the_readers_words(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    reads_in(session_factory, me.user_id, "nl")
    answer = me.client.get("/subscriptions/sub_doesnotexist")
    assert answer.status_code == 404
    kind = translations("nl").gettext("subscription")
    assert said(
        "nl", "No such %(kind)s: '%(record_id)s'", kind=kind, record_id="sub_doesnotexist"
    ) in (answer.text)
    refused = api.get("/subscriptions/sub_doesnotexist")
    assert refused.json()["error"]["message"] == "No such subscription: 'sub_doesnotexist'"


def test_a_stale_dialog_is_refused_in_the_pages_language(
    staff: Staff, session_factory: Any
) -> None:
    """In the browser: the record page still offers Pause; the subscription was canceled
    meanwhile. The page says why in its language, and nothing changes."""
    api = staff.api
    set_clock(session_factory, api)
    with session_factory() as session:
        user_id = session.scalars(select(User.id).where(User.email == staff.email)).one()
    for language in ("en", "nl"):
        sub = subscribe(api, email=f"{language}@example.com")
        reads_in(session_factory, user_id, language)
        page = staff.goto(f"/subscriptions/{sub['id']}")
        api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}))
        page.locator("[data-open-dialog=pause-dialog]").click()
        dialog = page.locator("#pause-dialog")
        dialog.locator("button[type=submit]").click()

        gettext = translations(language).gettext
        expected = gettext("A %(status)s subscription cannot be paused") % {
            "status": gettext("Canceled") if language != "en" else "canceled"
        }
        # The page drawn again offers no Pause any more, so the refusal stands above the panel.
        expect(page.get_by_test_id("action-error")).to_contain_text(expected)
        expect(page.get_by_test_id("status-badge")).to_have_text(gettext("Canceled"))
        screenshot(page, f"subscription-stale-refusal-{language}")
        assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "canceled"
