"""The portal configuration (GET/PATCH /portal-configuration) and portal sessions
(POST /subscriptions/{id}/portal-session): defaults, merging, validation with nothing written,
permissions, tenants, and the links they make."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.portal.models import PortalConfiguration
from tests.checkout.builders import error, product
from tests.conftest import Api
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
DEFAULTS = {
    "object": "portal_configuration",
    "plan_change": {
        "enabled": False,
        "products": [],
        "billing_period_change": True,
        "proration": "prorate",
        "effective": "now",
    },
    "cancellation": {
        "enabled": True,
        "mode": "at_period_end",
        "refund": "none",
        "reasons": [
            "too_expensive",
            "missing_features",
            "switched_service",
            "unused",
            "customer_service",
            "too_complex",
            "low_quality",
            "other",
        ],
    },
    "payment_method_update": {"enabled": True},
    "invoice_history": {"enabled": True},
    "updated_at": None,
}


def stored_rows(session_factory: Any, account_id: int) -> int:
    with session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(PortalConfiguration)
                .where(PortalConfiguration.account_id == account_id)
            )
            or 0
        )


def test_defaults_then_a_patch_merges_field_by_field(api: Api, session_factory: Any) -> None:
    assert api.ok(api.get("/portal-configuration")) == DEFAULTS
    assert stored_rows(session_factory, api.account_id) == 0  # reading writes nothing

    basic = product(api, "Basic", "10.00", "monthly")
    pro = product(api, "Pro", "25.00", "monthly")
    changed = api.ok(
        api.patch(
            "/portal-configuration",
            {
                "plan_change": {"enabled": True, "products": [basic["id"], pro["id"]]},
                "cancellation": {"mode": "immediately", "reasons": ["too_expensive", "other"]},
            },
        )
    )
    assert changed["plan_change"] == {
        **DEFAULTS["plan_change"],  # type: ignore[dict-item]
        "enabled": True,
        "products": [basic["id"], pro["id"]],
    }
    assert changed["cancellation"] == {
        "enabled": True,
        "mode": "immediately",
        "refund": "none",
        "reasons": ["too_expensive", "other"],
    }
    assert changed["invoice_history"] == {"enabled": True}
    assert changed["updated_at"] is not None
    assert api.ok(api.get("/portal-configuration")) == changed

    # A later PATCH changes only what it names.
    again = api.ok(api.patch("/portal-configuration", {"invoice_history": {"enabled": False}}))
    assert again["invoice_history"] == {"enabled": False}
    assert again["plan_change"] == changed["plan_change"]
    assert again["cancellation"] == changed["cancellation"]
    assert stored_rows(session_factory, api.account_id) == 1


def test_bad_configurations_are_refused_and_nothing_is_written(
    api: Api, other_api: Api, session_factory: Any
) -> None:
    one_time = product(api, "Setup", "50.00", None)
    theirs = product(other_api, "Theirs", "10.00", "monthly")
    archived = product(api, "Old plan", "10.00", "monthly")
    api.ok(api.patch(f"/products/{archived['id']}", {"archived": True}))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"plan_change": {"products": ["prod_nope"]}}, "plan_change.products.0"),
        ({"plan_change": {"products": [one_time["id"]]}}, "plan_change.products.0"),
        ({"plan_change": {"products": [theirs["id"]]}}, "plan_change.products.0"),
        ({"plan_change": {"products": [archived["id"]]}}, "plan_change.products.0"),
        ({"plan_change": {"enabled": True}}, "plan_change.products"),
        ({"plan_change": {"proration": "sometimes"}}, "plan_change.proration"),
        ({"cancellation": {"reasons": []}}, "cancellation.reasons"),
        ({"cancellation": {"reasons": ["other", "other"]}}, "cancellation.reasons"),
        ({"cancellation": {"reasons": ["bored"]}}, "cancellation.reasons.0"),
        ({"cancellation": {"mode": "at_date"}}, "cancellation.mode"),
        ({"cancellation": None}, "cancellation"),
        ({"invoice_history": {"enabled": "yes"}}, "invoice_history.enabled"),
        ({"colour": "blue"}, "colour"),
    ]
    for body, param in cases:
        body_error = error(api.patch("/portal-configuration", body), 422)
        assert body_error["param"] == param, (body, body_error)
    assert stored_rows(session_factory, api.account_id) == 0
    assert api.ok(api.get("/portal-configuration")) == DEFAULTS


def test_changing_the_configuration_needs_billing_edit(
    api: Api, api_with_scopes: Callable[..., Api]
) -> None:
    viewer = api_with_scopes("subscriptions.view")
    assert viewer.ok(viewer.get("/portal-configuration")) == DEFAULTS
    turn_off = {"invoice_history": {"enabled": False}}
    refused = error(viewer.patch("/portal-configuration", turn_off), 403)
    assert "billing.edit" in refused["message"]
    editor = api_with_scopes("billing.edit", "subscriptions.view")
    changed = editor.ok(editor.patch("/portal-configuration", turn_off))
    assert changed["invoice_history"] == {"enabled": False}


def test_a_portal_session_is_a_signed_link_to_one_subscription(
    client: TestClient,
    session_factory: Any,
    other_api: Api,
) -> None:
    story = Story(client, session_factory, start=START)
    sub = story.subscribe(price="30.00")
    before = datetime.now(UTC)
    session = story.api.ok(
        story.api.post(
            f"/subscriptions/{sub['id']}/portal-session",
            {"return_url": "https://shop.example/account"},
        )
    )
    assert session["object"] == "portal_session"
    assert session["subscription_id"] == sub["id"]
    assert session["return_url"] == "https://shop.example/account"
    assert re.fullmatch(r"http://testserver/billing/portal/[\w.-]+", session["url"])
    expires_at = datetime.fromisoformat(session["expires_at"])
    assert before + timedelta(hours=23) < expires_at <= datetime.now(UTC) + timedelta(hours=24)

    path = session["url"].removeprefix("http://testserver")
    page = client.get(path)
    assert page.status_code == 200
    assert "Beans" in page.text and "Test shop" in page.text
    assert 'href="https://shop.example/account"' in page.text
    assert page.headers["cache-control"] == "no-store"

    # Tampered with, or another account's subscription: a 404 page with nothing of it.
    tampered = client.get(path[:-3] + ("abc" if not path.endswith("abc") else "xyz"))
    assert tampered.status_code == 404 and "Beans" not in tampered.text
    assert error(other_api.post(f"/subscriptions/{sub['id']}/portal-session"), 404)
    for bad in ("javascript:alert(1)", "ftp://x", "not a url", 12):
        refused = error(
            story.api.post(f"/subscriptions/{sub['id']}/portal-session", {"return_url": bad}), 422
        )
        assert refused["param"] == "return_url"
    # Making a session needs subscriptions.edit: the link lets the buyer change the plan.
    viewer = Api(
        client=client, account_id=story.api.account_id, key=_scoped_key(story, "subscriptions.view")
    )
    assert error(viewer.post(f"/subscriptions/{sub['id']}/portal-session"), 403)


def _scoped_key(story: Story, *scopes: str) -> str:
    from cadency.accounts import service as account_service
    from cadency.accounts.models import Account

    with story.session_factory() as session:
        account = session.get(Account, story.api.account_id)
        assert account is not None
        _key, secret = account_service.create_api_key(
            session, account, name="Limited", scopes=list(scopes)
        )
        session.commit()
    return secret
