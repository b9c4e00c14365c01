"""The Payments pages: every payment with its status and failure, filtered by status; a
payment's detail with its refunds; "Refund payment" for part or all of what is left, through
the same service as the API, and nothing written when it is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI
from playwright.sync_api import expect

from tests.conftest import Api, make_api, pin_clock
from tests.subscriptions.helpers import card, contact, create_subscription, product
from tests.web.conftest import Staff, screenshot
from tests.web.http import signed_in

START = datetime(2026, 3, 1, 8, tzinfo=UTC)


def two_payments(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """A succeeded 25.00 payment (emma) and a declined one (olaf)."""
    create_subscription(api)
    olaf = contact(api, "olaf@example.com")
    declining = card(api, olaf["id"], "4000000000000341")
    api.post(
        "/subscriptions",
        {
            "contact_id": olaf["id"],
            "currency": "USD",
            "line_items": [{"product_id": product(api, price="40.00")["id"]}],
            "collection_method": "charge_automatically",
            "payment_method_id": declining["id"],
        },
    )
    found = {p["status"]: p for p in api.ok(api.get("/payments"))["data"]}
    return found["succeeded"], found["failed"]


def flash(response: Any) -> str:
    return unquote(response.cookies.get("cadency_flash") or "")


def test_the_list_shows_every_payment_and_filters_by_status(
    app: FastAPI, api: Api, session_factory: Any
) -> None:
    pin_clock(session_factory, api.account_id, START)
    paid, failed = two_payments(api)
    me = signed_in(app, session_factory, api)
    index = me.client.get("/payments")
    assert index.status_code == 200
    assert f'data-payment-id="{paid["id"]}"' in index.text
    assert f'data-payment-id="{failed["id"]}"' in index.text
    assert "$25.00" in index.text and "$40.00" in index.text
    assert "Card declined" in index.text and "card_declined" not in index.text
    assert 'href="/payments"' in index.text  # in the navigation
    only_failed = me.client.get("/payments", params={"status": "failed"})
    assert f'data-payment-id="{failed["id"]}"' in only_failed.text
    assert f'data-payment-id="{paid["id"]}"' not in only_failed.text
    none = me.client.get("/payments", params={"status": "refunded"})
    assert "No payments with this status." in none.text
    # An unknown status is no filter, not an error.
    assert me.client.get("/payments", params={"status": "bogus"}).status_code == 200


def test_refund_part_then_the_rest(app: FastAPI, api: Api, session_factory: Any) -> None:
    pin_clock(session_factory, api.account_id, START)
    paid, failed = two_payments(api)
    me = signed_in(app, session_factory, api)
    detail = me.client.get(f"/payments/{paid['id']}")
    assert detail.status_code == 200
    assert 'data-testid="refund-form"' in detail.text
    assert "Up to $25.00." in detail.text
    assert 'data-testid="refund-form"' not in me.client.get(f"/payments/{failed['id']}").text

    # Refused: more than is left, or not an amount. Nothing is written.
    for amount in ("30.00", "ten", "0"):
        refused = me.client.post(
            f"/payments/{paid['id']}/refund", data={"csrf_token": me.csrf_token, "amount": amount}
        )
        assert refused.status_code == 422, (amount, refused.status_code)
        assert 'data-testid="form-error"' in refused.text
        assert "Enter an amount more than 0 and up to $25.00." in refused.text, amount
    assert api.ok(api.get(f"/payments/{paid['id']}"))["refunded_amount"] == "0.00"

    part = me.client.post(
        f"/payments/{paid['id']}/refund",
        data={"csrf_token": me.csrf_token, "amount": "5.00"},
        follow_redirects=False,
    )
    assert part.status_code == 303
    assert flash(part) == "$5.00 was refunded."
    after = api.ok(api.get(f"/payments/{paid['id']}"))
    assert (after["status"], after["refunded_amount"]) == ("partially_refunded", "5.00")
    detail = me.client.get(f"/payments/{paid['id']}")
    assert detail.text.count('data-testid="refund"') == 2  # one row, one button
    assert "Up to $20.00." in detail.text

    rest = me.client.post(
        f"/payments/{paid['id']}/refund",
        data={"csrf_token": me.csrf_token, "amount": ""},
        follow_redirects=False,
    )
    assert flash(rest) == "$20.00 was refunded."
    after = api.ok(api.get(f"/payments/{paid['id']}"))
    assert (after["status"], after["refunded_amount"]) == ("refunded", "25.00")
    done = me.client.get(f"/payments/{paid['id']}")
    assert 'data-testid="refund-form"' not in done.text
    assert done.text.count('data-testid="refund"') == 2  # two refund rows, no button


def test_viewers_see_but_do_not_refund_and_accounts_stay_apart(
    app: FastAPI, api: Api, session_factory: Any, client: Any
) -> None:
    pin_clock(session_factory, api.account_id, START)
    paid, _ = two_payments(api)
    viewer = signed_in(
        app, session_factory, api, email="viewer@example.com", permissions=["subscriptions.view"]
    )
    page = viewer.client.get(f"/payments/{paid['id']}")
    assert page.status_code == 200 and 'data-testid="refund-form"' not in page.text
    refused = viewer.client.post(
        f"/payments/{paid['id']}/refund", data={"csrf_token": viewer.csrf_token}
    )
    assert refused.status_code == 403
    assert api.ok(api.get(f"/payments/{paid['id']}"))["refunded_amount"] == "0.00"

    other = make_api(client, session_factory, name="Other shop")
    stranger = signed_in(app, session_factory, other)
    assert stranger.client.get(f"/payments/{paid['id']}").status_code == 404
    assert f'data-payment-id="{paid["id"]}"' not in stranger.client.get("/payments").text
    sent = stranger.client.post(
        f"/payments/{paid['id']}/refund", data={"csrf_token": stranger.csrf_token}
    )
    assert sent.status_code == 404
    assert api.ok(api.get(f"/payments/{paid['id']}"))["refunded_amount"] == "0.00"


def test_refund_in_the_browser(staff: Staff, session_factory: Any) -> None:
    pin_clock(session_factory, staff.api.account_id, START)
    paid, _ = two_payments(staff.api)
    page = staff.goto("/payments")
    screenshot(page, "payments-en")
    page.locator(f'[data-payment-id="{paid["id"]}"] a').first.click()
    page.locator("#f-amount").fill("7.50")
    page.get_by_test_id("refund").click()
    expect(page.locator("body")).to_contain_text("$7.50 was refunded.")
    expect(page.get_by_test_id("payment-refunded")).to_have_text("$7.50")
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("h1")).to_contain_text("Betaling")
    expect(page.get_by_test_id("refunds")).to_contain_text("Terugbetalingen")
    screenshot(page, "payment-nl")
