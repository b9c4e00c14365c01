"""Automation → Workflows, over HTTP and in Chromium: the list, the editor (trigger, the index's
filter editor for the criteria, actions added, moved and removed on the server), a refusal shown
next to its field with what was typed kept, editing, turning off and on, deleting, who may see
the pages, another account's workflow, a plan without workflows, hostile form values, the
enrollments and their history after the runner took their steps, the lines those steps leave on
the subscription's timeline, and the pages in Dutch."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import ConsoleMessage, expect
from sqlalchemy import func, select

from cadency.workflows import runner
from cadency.workflows.models import Workflow, WorkflowEnrollment
from tests.conftest import Api, Operator, enrolled_account, make_api, pin_clock
from tests.subscriptions.helpers import create_subscription
from tests.web.conftest import Staff, screenshot
from tests.web.http import SignedIn, reads_in, signed_in
from tests.webhooks.receiver import allow_private

__all__ = ["allow_private"]  # fixture

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
BIG = "x" * 100_000


@pytest.fixture
def shop(api: Api, session_factory: Any) -> Api:
    """An account with its clock held at NOW and a "Tier" select property on subscriptions."""
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


def _form(me: SignedIn, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": me.csrf_token, **fields}


def welcome_fields(**overrides: str) -> dict[str, str]:
    """The editor's fields of a workflow: gold subscriptions get a welcome email and the super
    admins a note."""
    fields = {
        "name": "Welcome gold",
        "trigger.type": "subscription.created",
        "filter_groups.0.filters.0.property": "properties.tier",
        "filter_groups.0.filters.0.operator": "eq",
        "filter_groups.0.filters.0.value": "gold",
        "enabled": "1",
        "actions.0.type": "send_email",
        "actions.0.subject": "Welcome, {{ contact.first_name }}",
        "actions.0.body": "Your {{ subscription.name }} is ready.\r\nSee you soon.",
        "actions.1.type": "send_internal_email",
        "actions.1.to": "super_admins",
        "actions.1.subject": "New gold subscription",
        "actions.1.body": "{{ subscription.name }} for {{ contact.email }}",
        "op": "save",
    }
    fields.update(overrides)
    return fields


def create_workflow(api: Api, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Welcome",
        "enabled": True,
        "trigger": {"type": "subscription.created"},
        "actions": [
            {"type": "send_email", "subject": "Welcome", "body": "Hello {{ contact.first_name }}"}
        ],
    }
    body.update(overrides)
    return api.ok(api.post("/workflows", body))


def workflows_of(session_factory: Any, account_id: int) -> list[Workflow]:
    with session_factory() as session:
        return list(session.scalars(select(Workflow).where(Workflow.account_id == account_id)))


def field_value(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    assert found is not None, name
    return html.unescape(found.group(1))


def error_of(page: str, name: str) -> str:
    found = re.search(rf'data-testid="error-{re.escape(name)}">([^<]*)<', page)
    assert found is not None, name
    return html.unescape(found.group(1))


def test_the_list_shows_each_workflow_with_its_trigger_and_status(
    app: FastAPI, session_factory: Any, shop: Api
) -> None:
    welcome = create_workflow(shop)
    unpaid = create_workflow(
        shop,
        name="Past due",
        enabled=False,
        trigger={"type": "subscription.status_changed", "status": "unpaid"},
    )
    me = signed_in(app, session_factory, shop)

    page = me.client.get("/workflows")
    assert page.status_code == 200
    assert 'href="/workflows"' in page.text  # the navigation has it, under Automation
    assert "Automation" in page.text
    assert 'href="/workflows/new"' in page.text
    row = re.search(rf'data-workflow="{welcome["id"]}".*?</tr>', page.text, re.S)
    assert row is not None
    assert "When a subscription is created" in row.group(0)
    assert ">Enabled<" in row.group(0)
    assert re.search(r'data-testid="active-count">0<', row.group(0))
    other = re.search(rf'data-workflow="{unpaid["id"]}".*?</tr>', page.text, re.S)
    assert other is not None
    assert "When a subscription&#39;s status changes to Past due" in other.group(0)
    assert ">Disabled<" in other.group(0)


def test_the_editor_creates_a_workflow_with_criteria_and_two_actions(
    app: FastAPI, session_factory: Any, shop: Api
) -> None:
    me = signed_in(app, session_factory, shop)
    editor = me.client.get("/workflows/new")
    assert editor.status_code == 200
    # The index's filter editor, with the custom property; the merge fields as help.
    assert "is less than this many days ago" in editor.text
    assert 'value="properties.tier"' in editor.text
    assert "{{ contact.first_name }}" not in editor.text  # no email action yet
    assert 'data-testid="action-0"' not in editor.text

    # "Add action" twice: the form comes back with the actions, nothing saved.
    added = me.client.post(
        "/workflows/new",
        data=_form(me, name="Welcome gold", op="add", new_action_type="send_email"),
    )
    assert added.status_code == 200
    assert field_value(added.text, "name") == "Welcome gold"
    assert 'name="actions.0.subject"' in added.text
    assert "{{ contact.first_name }}" in added.text and "subscription.properties.tier" in added.text
    fields = welcome_fields()
    added = me.client.post(
        "/workflows/new",
        data=_form(
            me,
            **{k: v for k, v in fields.items() if not k.startswith("actions.1")}
            | {"op": "add", "new_action_type": "send_internal_email"},
        ),
    )
    assert added.status_code == 200
    assert 'name="actions.1.to"' in added.text
    assert field_value(added.text, "actions.0.subject") == "Welcome, {{ contact.first_name }}"
    assert field_value(added.text, "filter_groups.0.filters.0.value") == "gold"
    assert workflows_of(session_factory, shop.account_id) == []

    saved = me.client.post("/workflows/new", data=_form(me, **fields), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    [workflow] = workflows_of(session_factory, shop.account_id)
    assert saved.headers["location"] == f"/workflows/{workflow.id}"
    assert workflow.name == "Welcome gold" and workflow.enabled is True
    assert workflow.trigger == {"type": "subscription.created"}
    assert workflow.criteria == [
        {"filters": [{"property": "properties.tier", "operator": "eq", "value": "gold"}]}
    ]
    assert workflow.re_enroll is False
    assert workflow.actions == [
        {
            "type": "send_email",
            "subject": "Welcome, {{ contact.first_name }}",
            "body": "Your {{ subscription.name }} is ready.\nSee you soon.",
        },
        {
            "type": "send_internal_email",
            "to": "super_admins",
            "subject": "New gold subscription",
            "body": "{{ subscription.name }} for {{ contact.email }}",
        },
    ]

    # The workflow's page says what it does in words.
    shown = me.client.get(saved.headers["location"])
    assert "Saved the workflow “Welcome gold”." in shown.text
    text = html.unescape(shown.text)
    assert "When a subscription is created" in text
    assert "Tier is equal to Gold" in text
    assert "Email the billing contact: “Welcome, {{ contact.first_name }}”" in text
    assert "Email the account's super admins: “New gold subscription”" in text
    # The API reads what the page saved.
    assert shop.ok(shop.get(f"/workflows/{workflow.id}"))["actions"] == workflow.actions


def test_an_unknown_merge_field_is_shown_next_to_its_field_with_the_values_kept(
    app: FastAPI, session_factory: Any, shop: Api
) -> None:
    me = signed_in(app, session_factory, shop)
    refused = me.client.post(
        "/workflows/new",
        data=_form(me, **welcome_fields(**{"actions.1.body": "Hi {{ contact.nickname }}"})),
    )
    assert refused.status_code == 422
    assert error_of(refused.text, "actions.1.body") == "Unknown merge field {{ contact.nickname }}"
    # Everything typed is still there.
    assert field_value(refused.text, "name") == "Welcome gold"
    assert field_value(refused.text, "actions.0.subject") == "Welcome, {{ contact.first_name }}"
    assert "Hi {{ contact.nickname }}</textarea>" in html.unescape(refused.text)
    assert field_value(refused.text, "filter_groups.0.filters.0.value") == "gold"
    assert workflows_of(session_factory, shop.account_id) == []

    # A filter the criteria cannot hold is named above the filter editor.
    refused = me.client.post(
        "/workflows/new",
        data=_form(me, **welcome_fields(**{"filter_groups.0.filters.0.property": "colour"})),
    )
    assert refused.status_code == 422
    assert "colour" in error_of(refused.text, "criteria")


def test_actions_are_moved_and_removed_on_the_form(
    app: FastAPI, session_factory: Any, shop: Api
) -> None:
    me = signed_in(app, session_factory, shop)
    moved = me.client.post("/workflows/new", data=_form(me, **welcome_fields(op="up.1")))
    assert moved.status_code == 200
    assert field_value(moved.text, "actions.0.subject") == "New gold subscription"
    assert field_value(moved.text, "actions.1.subject") == "Welcome, {{ contact.first_name }}"
    removed = me.client.post("/workflows/new", data=_form(me, **welcome_fields(op="remove.0")))
    assert removed.status_code == 200
    assert field_value(removed.text, "actions.0.subject") == "New gold subscription"
    assert 'name="actions.1.type"' not in removed.text
    assert workflows_of(session_factory, shop.account_id) == []


def test_editing_a_workflow(app: FastAPI, session_factory: Any, shop: Api) -> None:
    # The internal email names a user of the account, so the user exists first.
    me = signed_in(app, session_factory, shop)
    made = create_workflow(
        shop,
        actions=[
            {"type": "delay", "days": 3},
            {"type": "set_property", "property": "tier", "value": "gold"},
            {"type": "send_internal_email", "to": [me.email], "subject": "S", "body": "B"},
        ],
    )
    editor = me.client.get(f"/workflows/{made['id']}/edit")
    assert editor.status_code == 200
    assert field_value(editor.text, "name") == "Welcome"
    assert field_value(editor.text, "actions.0.days") == "3"
    assert field_value(editor.text, "actions.1.value") == "gold"
    assert field_value(editor.text, "actions.2.to_users") == me.email

    fields = {
        "name": "Renewal reminder",
        "trigger.type": "payment_due_in",
        "trigger.days": "soon",
        "re_enroll": "1",
        "actions.0.type": "delay",
        "actions.0.days": "3",
        "actions.1.type": "set_property",
        "actions.1.property": "tier",
        "actions.1.value": "basic",
    }
    refused = me.client.post(f"/workflows/{made['id']}/edit", data=_form(me, **fields))
    assert refused.status_code == 422
    assert error_of(refused.text, "trigger.days") == "Enter a whole number of days from 0 to 365."
    assert shop.ok(shop.get(f"/workflows/{made['id']}"))["name"] == "Welcome"

    # A value the property does not take is named on its field.
    refused = me.client.post(
        f"/workflows/{made['id']}/edit",
        data=_form(me, **{**fields, "trigger.days": "7", "actions.1.value": "platinum"}),
    )
    assert refused.status_code == 422
    assert "must be one of: basic, gold" in error_of(refused.text, "actions.1.value")

    saved = me.client.post(
        f"/workflows/{made['id']}/edit",
        data=_form(me, **{**fields, "trigger.days": "7"}),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    [workflow] = workflows_of(session_factory, shop.account_id)
    assert workflow.name == "Renewal reminder"
    assert workflow.trigger == {"type": "payment_due_in", "days": 7}
    assert workflow.re_enroll is True and workflow.enabled is False
    assert workflow.actions == [
        {"type": "delay", "days": 3},
        {"type": "set_property", "property": "tier", "value": "basic"},
    ]
    shown = html.unescape(me.client.get(f"/workflows/{workflow.id}").text)
    assert "When a payment is due in 7 days" in shown
    assert "Wait 3 days" in shown and "Set Tier to “basic”" in shown


def test_an_owner_set_by_user_id_reads_as_the_users_email(
    app: FastAPI, session_factory: Any, shop: Api
) -> None:
    me = signed_in(app, session_factory, shop)
    made = create_workflow(
        shop, actions=[{"type": "set_property", "property": "owner_id", "value": me.user_id}]
    )
    shown = html.unescape(me.client.get(f"/workflows/{made['id']}").text)
    assert f"Set Owner to “{me.email}”" in shown
    editor = me.client.get(f"/workflows/{made['id']}/edit").text
    assert field_value(editor, "actions.0.value") == me.email
    fields = {
        "name": "Welcome",
        "trigger.type": "subscription.created",
        "enabled": "1",
        "actions.0.type": "set_property",
        "actions.0.property": "owner_id",
        "actions.0.value": me.email,
    }
    saved = me.client.post(
        f"/workflows/{made['id']}/edit", data=_form(me, **fields), follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    [workflow] = workflows_of(session_factory, shop.account_id)
    assert workflow.actions == [{"type": "set_property", "property": "owner_id", "value": me.email}]


def test_disable_enable_and_delete(app: FastAPI, session_factory: Any, shop: Api) -> None:
    made = create_workflow(shop)
    me = signed_in(app, session_factory, shop)
    path = f"/workflows/{made['id']}"

    off = me.client.post(f"{path}/disable", data=_form(me), follow_redirects=False)
    assert off.status_code == 303 and off.headers["location"] == path
    assert workflows_of(session_factory, shop.account_id)[0].enabled is False
    shown = me.client.get(path).text
    assert "The workflow was disabled." in shown and f'action="{path}/enable"' in shown
    on = me.client.post(f"{path}/enable", data=_form(me), follow_redirects=False)
    assert on.status_code == 303
    assert workflows_of(session_factory, shop.account_id)[0].enabled is True
    assert "The workflow was enabled." in me.client.get(path).text

    # Without the form's token nothing changes.
    assert me.client.post(f"{path}/delete", data={}).status_code == 403
    deleted = me.client.post(f"{path}/delete", data=_form(me), follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/workflows"
    assert workflows_of(session_factory, shop.account_id) == []
    listed = me.client.get("/workflows").text
    assert "Deleted the workflow “Welcome”." in listed and "No workflows yet." in listed


def test_only_super_admins_open_workflows(app: FastAPI, session_factory: Any, shop: Api) -> None:
    made = create_workflow(shop)
    editor = signed_in(
        app,
        session_factory,
        shop,
        email="editor@example.com",
        permissions=["subscriptions.view", "subscriptions.edit"],
    )
    assert 'href="/workflows"' not in editor.client.get("/subscriptions").text
    refused = [
        editor.client.get("/workflows"),
        editor.client.get("/workflows/new"),
        editor.client.get(f"/workflows/{made['id']}"),
        editor.client.get(f"/workflows/{made['id']}/edit"),
        editor.client.post("/workflows/new", data=_form(editor, **welcome_fields())),
        editor.client.post(f"/workflows/{made['id']}/disable", data=_form(editor)),
        editor.client.post(f"/workflows/{made['id']}/delete", data=_form(editor)),
    ]
    for response in refused:
        assert response.status_code == 403, response.request.url
        assert "permission" in response.text
    [workflow] = workflows_of(session_factory, shop.account_id)
    assert workflow.enabled is True


def test_another_accounts_workflow_is_not_found(
    app: FastAPI, session_factory: Any, shop: Api, client: TestClient
) -> None:
    made = create_workflow(shop)
    stranger = signed_in(app, session_factory, make_api(client, session_factory, name="Other"))
    path = f"/workflows/{made['id']}"
    assert stranger.client.get(path).status_code == 404
    assert stranger.client.get(f"{path}/edit").status_code == 404
    for action in ("edit", "disable", "delete"):
        assert stranger.client.post(f"{path}/{action}", data=_form(stranger)).status_code == 404
    assert "Welcome" not in stranger.client.get("/workflows").text
    assert workflows_of(session_factory, shop.account_id)[0].enabled is True


def test_a_plan_without_workflows_says_so_and_offers_none(
    app: FastAPI, operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "Free Workflow Shop")
    made = create_workflow(shop, enabled=False)
    subscription_id = shop.ok(shop.get("/account/plan"))["subscription_id"]
    operator.api.ok(
        operator.api.post(f"/subscriptions/{subscription_id}/cancel", {"mode": "immediately"})
    )
    me = signed_in(app, session_factory, shop)

    listed = me.client.get("/workflows")
    assert listed.status_code == 200
    assert "Your plan (Free) does not include workflows." in listed.text
    assert 'href="/workflows/new"' not in listed.text
    assert "Welcome" in listed.text  # what was saved stays readable
    editor = me.client.get("/workflows/new")
    assert 'data-testid="plan-notice"' in editor.text and 'value="save"' not in editor.text
    refused = me.client.post("/workflows/new", data=_form(me, **welcome_fields()))
    assert refused.status_code == 422
    assert "does not include workflows" in refused.text
    shown = me.client.get(f"/workflows/{made['id']}").text
    assert 'data-testid="plan-notice"' in shown and "/enable" not in shown
    assert len(workflows_of(session_factory, shop.account_id)) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"name": BIG},
        {"name": "   "},
        {"trigger.type": BIG},
        {"trigger.type": "subscription.status_changed", "trigger.status": BIG},
        {"trigger.type": "subscription.status_changed", "trigger.status": "happy"},
        {"trigger.type": "property_changed", "trigger.property": BIG},
        {"trigger.type": "payment_due_in", "trigger.days": "1e9"},
        {"trigger.type": "payment_due_in", "trigger.days": "-1"},
        {"trigger.type": "payment_due_in", "trigger.days": "9" * 5000},
        {"trigger.type": "payment_due_in"},
        {"actions.0.type": "explode"},
        {"actions.0.type": BIG},
        {"actions.0.type": "delay", "actions.0.days": "soon"},
        {"actions.0.type": "delay", "actions.0.days": "0"},
        {"actions.0.type": "set_property", "actions.0.property": BIG},
        {"actions.0.type": "set_property", "actions.0.property": "tier", "actions.0.value": BIG},
        {
            "actions.0.type": "set_property",
            "actions.0.property": "owner_id",
            "actions.0.value": "x",
        },
        {"actions.0.subject": BIG},
        {"actions.0.subject": ""},
        {"actions.0.body": BIG},
        {"actions.0.body": "{% include 'base.html' %}"},
        {"actions.0.body": "{{ ''.__class__ }}"},
        {"actions.1.to": BIG},
        {"actions.1.to": "users", "actions.1.to_users": ""},
        {"actions.1.to": "users", "actions.1.to_users": "stranger@example.com"},
        {"actions.1.to": "users", "actions.1.to_users": ", ".join(["a@example.com"] * 30)},
        {"actions.0.type": "webhook", "actions.0.url": "javascript:alert(1)"},
        {"actions.0.type": "webhook", "actions.0.url": "https://" + BIG},
        {"actions.999.type": "delay", "actions.999.days": "1"},
        {f"actions.{i}.type": "delay" for i in range(2, 40)},
        {"filter_groups.0.filters.0.property": BIG},
        {"filter_groups.0.filters.0.operator": BIG},
        {"filter_groups.0.filters.0.value": BIG, "filter_groups.0.filters.0.operator": "in"},
    ],
)
def test_hostile_values_are_refused_on_the_form(
    app: FastAPI, session_factory: Any, api: Api, fields: dict[str, str]
) -> None:
    me = signed_in(app, session_factory, api)
    refused = me.client.post("/workflows/new", data=_form(me, **welcome_fields(**fields)))
    assert refused.status_code == 422, refused.text[:2000]
    assert 'class="field-error"' in refused.text or 'data-testid="form-error"' in refused.text
    assert workflows_of(session_factory, api.account_id) == []


def test_missing_fields_are_asked_for(app: FastAPI, session_factory: Any, api: Api) -> None:
    me = signed_in(app, session_factory, api)
    refused = me.client.post("/workflows/new", data=_form(me, op="save"))
    assert refused.status_code == 422
    assert error_of(refused.text, "name") == "Give the workflow a name."
    assert error_of(refused.text, "actions") == "Add at least one action."
    assert error_of(refused.text, "trigger.type") == "Choose what starts the workflow."
    refused = me.client.post(
        "/workflows/new",
        data=_form(
            me,
            name="Bare",
            **{"trigger.type": "subscription.created", "actions.0.type": "send_email"},
        ),
    )
    assert refused.status_code == 422
    assert error_of(refused.text, "actions.0.subject") == "This field is required."
    assert error_of(refused.text, "actions.0.body") == "This field is required."


def run_workflows(session_factory: Any, api: Api, at: datetime) -> None:
    """What the worker's workflow lane does (the clock advance passes its instant)."""
    runner.run(session_factory, allow_private=True, account_id=api.account_id, now=at)


def test_enrollments_show_their_history_and_the_timeline_its_lines(
    app: FastAPI, session_factory: Any, shop: Api
) -> None:
    me = signed_in(app, session_factory, shop)
    welcome = create_workflow(
        shop,
        actions=[
            {"type": "set_property", "property": "tier", "value": "gold"},
            {"type": "delay", "days": 2},
            {"type": "send_email", "subject": "Welcome", "body": "Hi {{ contact.first_name }}"},
        ],
    )
    # The subscription has no owner: this one's email cannot be sent, and says why.
    owner_note = create_workflow(
        shop,
        name="Owner note",
        actions=[{"type": "send_internal_email", "to": "owner", "subject": "New", "body": "B"}],
    )
    subscription = create_subscription(shop, email="emma@example.com")
    run_workflows(session_factory, shop, NOW)
    run_workflows(session_factory, shop, NOW + timedelta(days=3))
    with session_factory() as session:
        [done] = session.scalars(
            select(WorkflowEnrollment).where(WorkflowEnrollment.workflow_id == welcome["id"])
        )
        assert done.status == "completed"

    page = me.client.get(f"/workflows/{welcome['id']}")
    assert page.status_code == 200
    row = re.search(rf'data-enrollment="{done.id}".*?</tr>', page.text, re.S)
    assert row is not None
    assert f'href="/subscriptions/{subscription["id"]}"' in row.group(0)
    assert ">Completed<" in row.group(0) and "3 of 3" in row.group(0)
    history = [
        " ".join(re.sub(r"<[^>]+>", "", item).split())
        for item in re.findall(r"<li>(.*?)</li>", row.group(0), re.S)
    ]
    assert history == [
        "Enrolled — Jun 1, 2026",
        "1. Property set (tier = gold) — Jun 1, 2026",
        "2. Waiting until Jun 3, 2026 — Jun 1, 2026",
        "3. Email sent to emma@example.com — Jun 4, 2026",
        "Completed — Jun 4, 2026",
    ]
    assert "0 active, 1 completed, 0 failed" in page.text
    failed = me.client.get(f"/workflows/{owner_note['id']}").text
    assert ">Failed<" in failed and "1. Failed: The subscription has no owner" in failed
    listed = me.client.get("/workflows").text
    row = re.search(rf'data-workflow="{welcome["id"]}".*?</tr>', listed, re.S)
    assert row is not None and re.search(r'data-testid="completed-count">1<', row.group(0))

    record = html.unescape(me.client.get(f"/subscriptions/{subscription['id']}").text)
    for line in (
        "Enrolled in workflow “Welcome”.",
        "Workflow “Welcome”: property set (tier = gold).",
        "Workflow “Welcome”: waiting until Jun 3, 2026.",
        "Workflow “Welcome”: email sent to emma@example.com.",
        "Workflow “Welcome”: completed.",
        "Workflow “Owner note”: step 1 failed: The subscription has no owner.",
    ):
        assert line in record, line


def test_a_webhook_action_shows_its_signing_secret(
    app: FastAPI, session_factory: Any, shop: Api, allow_private: None
) -> None:
    made = create_workflow(
        shop, actions=[{"type": "webhook", "url": "http://127.0.0.1:9/workflow"}]
    )
    me = signed_in(app, session_factory, shop)
    page = me.client.get(f"/workflows/{made['id']}")
    assert page.headers["cache-control"] == "no-store"
    secret = re.search(r'value="(whsec_[^"]+)" data-testid="workflow-secret"', page.text)
    assert secret is not None and secret.group(1) == made["webhook_secret"]
    plain = me.client.get(f"/workflows/{create_workflow(shop, name='Plain')['id']}")
    assert "workflow-secret" not in plain.text


def test_the_pages_in_dutch(app: FastAPI, session_factory: Any, shop: Api) -> None:
    made = create_workflow(shop)
    me = signed_in(app, session_factory, shop)
    reads_in(session_factory, me.user_id, "nl")
    subscription = create_subscription(shop)
    run_workflows(session_factory, shop, NOW)

    listed = html.unescape(me.client.get("/workflows").text)
    assert "Automatisering" in listed and "Workflow maken" in listed
    assert "Als er een abonnement wordt gemaakt" in listed
    editor = html.unescape(me.client.get("/workflows/new").text)
    assert "Workflow opslaan" in editor and "Actie toevoegen" in editor
    shown = html.unescape(me.client.get(f"/workflows/{made['id']}").text)
    assert "Inschrijvingen" in shown and "Voltooid" in shown
    record = html.unescape(me.client.get(f"/subscriptions/{subscription['id']}").text)
    assert "Ingeschreven in workflow “Welcome”." in record
    assert "Workflow “Welcome”: e-mail verstuurd naar emma@example.com." in record


def test_create_a_workflow_in_the_editor(staff: Staff, session_factory: Any) -> None:
    pin_clock(session_factory, staff.api.account_id, NOW)
    # The editor's script is a file of its own: nothing the Content-Security-Policy refuses.
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    staff.page.on("console", on_console)
    page = staff.goto("/workflows")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Workflows")
    expect(page.get_by_text("No workflows yet.")).to_be_visible()
    page.get_by_role("link", name="Create workflow").click()

    page.get_by_label("Name").fill("Past due follow-up")
    page.get_by_label("When").select_option(label="A subscription's status changes")
    expect(page.get_by_label("New status")).to_be_visible()
    expect(page.get_by_label("Days before the payment date")).to_be_hidden()
    page.get_by_label("New status").select_option(label="Past due")
    criteria = page.get_by_test_id("criteria")
    criteria.get_by_label("Property").select_option(label="Billing frequency")
    criteria.get_by_label("Value", exact=True).fill("monthly")

    # Actions are added on the server; what was typed comes back with them.
    page.get_by_label("New action").select_option(label="Wait")
    page.get_by_role("button", name="Add action").click()
    first = page.get_by_test_id("action-0")
    expect(page.get_by_label("Name")).to_have_value("Past due follow-up")
    expect(first.get_by_label("Subject")).to_be_hidden()
    first.get_by_label("Days to wait").fill("3")
    page.get_by_label("New action").select_option(label="Email the billing contact")
    page.get_by_role("button", name="Add action").click()
    second = page.get_by_test_id("action-1")
    expect(first.get_by_label("Days to wait")).to_have_value("3")
    second.get_by_label("Subject").fill("Your payment, {{ contact.first_name }}")
    second.get_by_label("Body").fill("Please update your card for {{ subscription.name }}.")
    second.get_by_text("Merge fields").click()
    expect(second.get_by_test_id("merge-fields")).to_contain_text("{{ subscription.mrr }}")
    page.get_by_label("Enabled: the workflow enrolls subscriptions").check()
    screenshot(page, "workflow-editor")
    page.get_by_test_id("save").click()

    expect(page.get_by_test_id("flash")).to_have_text("Saved the workflow “Past due follow-up”.")
    facts = page.get_by_test_id("workflow-facts")
    expect(facts.get_by_test_id("status-badge")).to_have_text("Enabled")
    expect(facts.get_by_test_id("trigger")).to_have_text(
        "When a subscription's status changes to Past due"
    )
    expect(facts.get_by_test_id("criteria")).to_contain_text(
        "Billing frequency is equal to Monthly"
    )
    expect(facts.get_by_test_id("actions")).to_contain_text("Wait 3 days")
    screenshot(page, "workflow-page")
    [workflow] = workflows_of(session_factory, staff.api.account_id)
    assert workflow.trigger == {"type": "subscription.status_changed", "status": "unpaid"}
    assert [a["type"] for a in workflow.actions] == ["delay", "send_email"]
    assert refused == []

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete workflow").click()
    expect(page.get_by_test_id("flash")).to_have_text("Deleted the workflow “Past due follow-up”.")
    with session_factory() as session:
        left = session.scalar(
            select(func.count())
            .select_from(Workflow)
            .where(Workflow.account_id == staff.api.account_id)
        )
    assert left == 0
