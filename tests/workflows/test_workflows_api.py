"""Workflows through the REST API: saving one checks everything it names (a 422 naming the field
for an unknown status, property, user, merge field, a refused URL, a value of the wrong type),
plan gating and limits (409 with a clear message), permissions and other accounts, and what a
workflow reads back as (counts, the webhook secret)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.workflows.models import Workflow
from tests.checkout.builders import error
from tests.conftest import Api, Operator, enrolled_account, make_api, pin_clock
from tests.notifications.conftest import add_user
from tests.webhooks.receiver import allow_private

__all__ = ["allow_private"]  # fixture

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


def welcome(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Welcome",
        "enabled": True,
        "trigger": {"type": "subscription.created"},
        "actions": [
            {
                "type": "send_email",
                "subject": "Welcome, {{ contact.first_name }}",
                "body": "Your {{ subscription.name }} renews on "
                "{{ subscription.next_payment_date }}.",
            }
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def shop(api: Api, session_factory: Any) -> Api:
    pin_clock(session_factory, api.account_id, NOW)
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [
                    {"label": "Basic", "value": "basic"},
                    {"label": "Gold", "value": "gold"},
                ],
            },
        )
    )
    return api


def test_a_workflow_is_saved_read_listed_changed_and_deleted(shop: Api) -> None:
    made = shop.ok(
        shop.post(
            "/workflows",
            welcome(
                criteria={
                    "filter_groups": [
                        {"filters": [{"property": "tier", "operator": "eq", "value": "gold"}]}
                    ]
                },
                actions=[
                    {"type": "delay", "days": 2},
                    {"type": "set_property", "property": "tier", "value": "basic"},
                    {
                        "type": "send_internal_email",
                        "to": "super_admins",
                        "subject": "{{ subscription.properties.tier }} customer",
                        "body": "{% if contact.email %}{{ contact.email }}{% endif %}",
                    },
                ],
            ),
        )
    )
    assert made["id"].startswith("wf_")
    assert made["object"] == "workflow" and made["object_type"] == "subscriptions"
    assert made["trigger"] == {"type": "subscription.created"}
    assert made["criteria"] == {
        "filter_groups": [{"filters": [{"property": "tier", "operator": "eq", "value": "gold"}]}]
    }
    assert [a["type"] for a in made["actions"]] == ["delay", "set_property", "send_internal_email"]
    assert made["re_enroll"] is False and made["enabled"] is True
    assert made["enrollments"] == {"active": 0, "completed": 0, "failed": 0}
    assert made["webhook_secret"] is None  # no webhook action
    assert made["created_at"] == "2026-06-01T09:00:00Z"  # the account's clock

    assert shop.ok(shop.get(f"/workflows/{made['id']}")) == made
    listed = shop.ok(shop.get("/workflows"))
    assert [w["id"] for w in listed["data"]] == [made["id"]]

    changed = shop.ok(
        shop.patch(
            f"/workflows/{made['id']}",
            {"name": "  Gold   welcome ", "enabled": False, "criteria": None},
        )
    )
    assert changed["name"] == "Gold welcome" and changed["enabled"] is False
    assert changed["criteria"] is None
    assert changed["actions"] == made["actions"]  # left out: unchanged

    gone = shop.ok(shop.delete(f"/workflows/{made['id']}"))
    assert gone == {"id": made["id"], "object": "workflow", "deleted": True}
    assert error(shop.get(f"/workflows/{made['id']}"), 404)["type"] == "not_found"


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"trigger": {"type": "subscription.status_changed"}}, "trigger.status", "needs"),
        (
            {"trigger": {"type": "subscription.status_changed", "status": "sleeping"}},
            "trigger.status",
            "Unknown status 'sleeping'",
        ),
        (
            {"trigger": {"type": "property_changed", "property": "colour"}},
            "trigger.property",
            "Unknown property 'colour'",
        ),
        (
            {"trigger": {"type": "subscription.created", "days": 3}},
            "trigger.days",
            "takes no 'days'",
        ),
        (
            {"actions": [{"type": "send_email", "subject": "Hi {{ contact.nick }}", "body": "x"}]},
            "actions.0.subject",
            "Unknown merge field {{ contact.nick }}",
        ),
        (
            {
                "actions": [
                    {
                        "type": "send_email",
                        "subject": "Hi",
                        "body": "{{ subscription.properties.colour }} {{ secrets }}",
                    }
                ]
            },
            "actions.0.body",
            "{{ secrets }}, {{ subscription.properties.colour }}",
        ),
        (
            {"actions": [{"type": "send_email", "subject": "Hi", "body": "{% if %}"}]},
            "actions.0.body",
            "cannot be read as a template",
        ),
        (
            {
                "actions": [
                    {"type": "send_email", "subject": "Hi", "body": "{% include 'x.html' %}"}
                ]
            },
            "actions.0.body",
            "cannot include",
        ),
        (
            {"actions": [{"type": "send_email", "subject": "Hi", "body": "{{ ''.__class__ }}"}]},
            "actions.0.body",
            "reads merge fields only",
        ),
        (
            {"actions": [{"type": "set_property", "property": "tier", "value": "platinum"}]},
            "actions.0.value",
            "tier",
        ),
        (
            {"actions": [{"type": "set_property", "property": "colour", "value": "red"}]},
            "actions.0.property",
            "Unknown property 'colour'",
        ),
        (
            {"actions": [{"type": "set_property", "property": "owner_id", "value": "x@y.z"}]},
            "actions.0.value",
            "No active user 'x@y.z'",
        ),
        (
            {
                "actions": [
                    {
                        "type": "send_internal_email",
                        "to": ["stranger@example.com"],
                        "subject": "Hi",
                        "body": "x",
                    }
                ]
            },
            "actions.0.to.0",
            "not an active user",
        ),
        (
            {"actions": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]},
            "actions.0.url",
            "private or local address",
        ),
        (
            {"actions": [{"type": "webhook", "url": "ftp://example.com/hook"}]},
            "actions.0.url",
            "http",
        ),
        ({"name": "   "}, "name", "Give the workflow a name"),
        (
            {
                "criteria": {
                    "filter_groups": [
                        {"filters": [{"property": "colour", "operator": "eq", "value": "red"}]}
                    ]
                }
            },
            "filter_groups.0.filters.0.property",
            "colour",
        ),
    ],
)
def test_what_a_workflow_names_is_checked_when_it_is_saved(
    shop: Api, session_factory: Any, change: dict[str, Any], param: str, words: str
) -> None:
    refused = error(shop.post("/workflows", welcome(**change)), 422)
    assert refused["param"] == param
    assert words in refused["message"]
    with session_factory() as session:
        assert session.query(Workflow).filter_by(account_id=shop.account_id).count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {
            "name": "x",
            "trigger": {"type": "invoice.paid"},
            "actions": [{"type": "delay", "days": 1}],
        },
        {"name": "x", "trigger": {"type": "subscription.created"}, "actions": []},
        {"name": "x", "trigger": {"type": "subscription.created"}, "actions": [{"type": "sms"}]},
        {"name": "x", "trigger": {"type": "payment_due_in", "days": -1}, "actions": []},
        {"name": "x", "trigger": {"type": "subscription.created"}, "actions": [{"type": "delay"}]},
        {
            "name": "x",
            "trigger": {"type": "subscription.created"},
            "actions": [{"type": "delay", "days": "7"}],
        },
        {
            "name": "x",
            "trigger": {"type": "subscription.created"},
            "actions": [{"type": "send_email", "subject": "a" * 201, "body": "b"}],
        },
        {"name": "x" * 10_000, "trigger": {"type": "subscription.created"}, "actions": []},
        {"trigger": {"type": "subscription.created"}, "actions": [{"type": "delay", "days": 1}]},
    ],
)
def test_malformed_workflows_are_422(shop: Api, body: dict[str, Any]) -> None:
    assert shop.post("/workflows", body).status_code == 422


def test_users_and_owners_are_named_by_their_email(shop: Api, session_factory: Any) -> None:
    anna = add_user(session_factory, shop.account_id, "anna@shop.example")
    made = shop.ok(
        shop.post(
            "/workflows",
            welcome(
                actions=[
                    {"type": "set_property", "property": "owner_id", "value": "ANNA@shop.example"},
                    {
                        "type": "send_internal_email",
                        "to": ["anna@shop.example"],
                        "subject": "Yours now: {{ subscription.name }}",
                        "body": "{{ contact.name }}",
                    },
                ]
            ),
        )
    )
    assert made["actions"][0]["value"] == "ANNA@shop.example"
    assert anna > 0


def test_a_webhook_action_gets_a_signing_secret(shop: Api, allow_private: None) -> None:
    made = shop.ok(
        shop.post(
            "/workflows",
            welcome(actions=[{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]),
        )
    )
    assert made["webhook_secret"].startswith("whsec_")
    # Derived, not stored: the same each time it is read.
    assert shop.ok(shop.get(f"/workflows/{made['id']}"))["webhook_secret"] == made["webhook_secret"]


def test_workflows_belong_to_their_account_and_need_a_super_admin(
    shop: Api, other_api: Api, client: TestClient, session_factory: Any
) -> None:
    made = shop.ok(shop.post("/workflows", welcome()))
    assert error(other_api.get(f"/workflows/{made['id']}"), 404)["type"] == "not_found"
    assert error(other_api.patch(f"/workflows/{made['id']}", {"enabled": False}), 404)
    assert error(other_api.delete(f"/workflows/{made['id']}"), 404)
    assert error(other_api.get(f"/workflows/{made['id']}/enrollments"), 404)
    assert other_api.ok(other_api.get("/workflows"))["data"] == []

    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        _key, secret = account_service.create_api_key(
            session, account, name="Editor", scopes=["subscriptions.view", "subscriptions.edit"]
        )
        session.commit()
    editor = Api(client=client, account_id=shop.account_id, key=secret)
    assert editor.get("/workflows").status_code == 403
    assert editor.post("/workflows", welcome()).status_code == 403
    assert editor.get(f"/workflows/{made['id']}/enrollments").status_code == 403


def test_workflows_follow_the_accounts_plan(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    # A trial of Pro: workflows included, up to 50.
    shop = enrolled_account(client, session_factory, "Workflow Shop")
    plan = shop.ok(shop.get("/account/plan"))["plan"]
    assert plan["workflows"] is True and plan["workflow_limit"] == 50
    first = shop.ok(shop.post("/workflows", welcome()))
    for n in range(49):
        shop.ok(shop.post("/workflows", welcome(name=f"Welcome {n}", enabled=False)))
    refused = error(shop.post("/workflows", welcome(name="One more")), 409)
    assert refused["message"] == (
        "An account on the Pro plan has at most 50 workflows; delete one or upgrade"
    )

    # The plan ends: Free has no workflows. The saved ones stay readable, none can be added
    # or turned on, and the enabled ones no longer run (tests/workflows/test_runner.py).
    operator.api.ok(
        operator.api.post(
            f"/subscriptions/{plan_subscription(shop)}/cancel", {"mode": "immediately"}
        )
    )
    assert shop.ok(shop.get("/account/plan"))["plan"]["workflows"] is False
    refused = error(shop.post("/workflows", welcome(name="Free one")), 409)
    assert refused["message"] == (
        "Your plan (Free) does not include workflows; upgrade to a plan that does "
        "(Account & billing)"
    )
    off = shop.ok(shop.patch(f"/workflows/{first['id']}", {"enabled": False}))
    assert off["enabled"] is False
    assert error(shop.patch(f"/workflows/{first['id']}", {"enabled": True}), 409)
    assert len(shop.ok(shop.get("/workflows", params={"limit": 100}))["data"]) == 50

    # An account no operator bills has no plan limits.
    unbilled = make_api(client, session_factory, name="Self-hosted shop")
    unbilled.ok(unbilled.post("/workflows", welcome()))


def plan_subscription(shop: Api) -> str:
    return str(shop.ok(shop.get("/account/plan"))["subscription_id"])
