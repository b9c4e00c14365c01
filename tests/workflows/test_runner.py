"""Running workflows on the account's clock: each trigger and action, enrollment criteria,
re-enrollment, a step that fails, a webhook action verified with `standardwebhooks` and retried
on the clock, a workflow turned off or a plan without workflows, and exactly once after a
worker crashes mid-workflow or reads its triggers twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from standardwebhooks import Webhook

from cadency.kit.outbox import OutboxMessage
from cadency.subscriptions.models import SubscriptionEvent
from cadency.webhooks.service import RETRY_DELAYS
from cadency.workflows import runner
from cadency.workflows.models import WorkflowEnrollment
from tests.conftest import Operator, enrolled_account, pin_clock
from tests.notifications.conftest import add_user
from tests.scenarios.story import Story
from tests.webhooks.receiver import Receiver, allow_private, receiver

__all__ = ["allow_private", "receiver"]  # fixtures

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
DECLINING = "4000000000000341"


def new_story(client: Any, session_factory: Any) -> Story:
    story = Story(client, session_factory, start=START)
    story.settings(renewal_reminder_days=None)
    add_user(session_factory, story.api.account_id, "team@shop.example", ("super_admin",))
    return story


def workflow(story: Story, trigger: dict[str, Any], actions: list[Any], **extra: Any) -> str:
    body = {"name": extra.pop("name", "Flow"), "enabled": True, "trigger": trigger}
    made = story.api.ok(story.api.post("/workflows", {**body, "actions": actions, **extra}))
    return str(made["id"])


def enrollments(story: Story, workflow_id: str) -> list[dict[str, Any]]:
    found = story.api.ok(
        story.api.get(f"/workflows/{workflow_id}/enrollments", params={"limit": 100})
    )["data"]
    return sorted(found, key=lambda e: e["created_at"])


def outcomes(enrollment: dict[str, Any]) -> list[str]:
    return [h["outcome"] for h in enrollment["history"]]


def note(subject: str = "{{ subscription.name }}") -> dict[str, Any]:
    return {"type": "send_internal_email", "to": "super_admins", "subject": subject, "body": "-"}


def emails(story: Story, sub_id: str) -> list[str]:
    """Subjects of the workflow emails written for the subscription, oldest first."""
    with story.session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage.payload)
            .where(
                OutboxMessage.subscription_id == sub_id,
                OutboxMessage.type.in_(["workflow.email", "workflow.internal_email"]),
            )
            .order_by(OutboxMessage.id)
        ).all()
    return [str(payload["subject"]) for payload in rows]


def test_a_declined_renewal_triggers_payment_failed_and_status_changed_to_past_due(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    failed = workflow(story, {"type": "payment.failed"}, [note("Failed: {{ subscription.name }}")])
    past_due = workflow(
        story,
        {"type": "subscription.status_changed", "status": "unpaid"},
        [note("Past due: {{ subscription.status }}")],
    )
    sub = story.subscribe()
    sid = sub["id"]
    assert enrollments(story, failed) == [] and enrollments(story, past_due) == []

    contact_id = sub["contact_id"]
    story.patch(sid, payment_method_id=story.add_payment_method(contact_id, DECLINING))
    story.advance_to(date(2026, 4, 1))
    assert story.status(sid) == "unpaid"
    [enrolled] = enrollments(story, failed)
    assert enrolled["record_id"] == sid and enrolled["status"] == "completed"
    assert emails(story, sid) == ["Failed: Beans", "Past due: Past due"]
    # The retries that fail later enroll again only with re-enrollment (off here).
    story.advance_to(date(2026, 4, 10))
    assert len(enrollments(story, failed)) == 1
    assert emails(story, sid) == ["Failed: Beans", "Past due: Past due"]


def test_criteria_choose_who_enrolls_and_canceled_sets_a_property(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.api.ok(
        story.api.post(
            "/properties/subscriptions",
            {"name": "segment", "label": "Segment", "field_type": "text"},
        )
    )
    flow = workflow(
        story,
        {"type": "subscription.canceled"},
        [{"type": "set_property", "property": "segment", "value": "win-back"}],
        criteria={
            "filter_groups": [
                {"filters": [{"property": "segment", "operator": "eq", "value": "vip"}]}
            ]
        },
    )
    big = story.subscribe(email="big@example.com", properties={"segment": "vip"})["id"]
    small = story.subscribe(email="small@example.com")["id"]
    story.cancel(big, "immediately")
    story.cancel(small, "immediately")
    story.advance_to(date(2026, 3, 2))
    [enrolled] = enrollments(story, flow)
    assert enrolled["record_id"] == big
    assert outcomes(enrolled) == ["enrolled", "property_set", "completed"]
    assert story.subscription(big)["properties"] == {"segment": "win-back"}
    assert story.subscription(small)["properties"] == {}
    assert story.subscription(big)["owner_id"] is None


def test_delays_follow_the_clock_and_re_enrollment_waits_for_the_last_to_end(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.api.ok(
        story.api.post(
            "/properties/subscriptions",
            {"name": "plan_tier", "label": "Tier", "field_type": "text"},
        )
    )
    flow = workflow(
        story,
        {"type": "property_changed", "property": "plan_tier"},
        [
            {"type": "delay", "days": 3},
            note("Tier is {{ subscription.properties.plan_tier }}"),
            # Its own change does not trigger it again (and again).
            {"type": "set_property", "property": "plan_tier", "value": "checked"},
        ],
        re_enroll=True,
    )
    sid = story.subscribe()["id"]
    story.advance(START)  # held there, so the change has an exact instant
    story.patch(sid, properties={"plan_tier": "gold"})
    story.advance_to(date(2026, 3, 2))
    [first] = enrollments(story, flow)
    assert first["status"] == "active" and first["step"] == 1
    assert first["next_run_at"] == "2026-03-04T08:00:00Z"  # three days after the change
    # Changed again while enrolled: no second enrollment.
    story.patch(sid, properties={"plan_tier": "silver"})
    story.advance_to(date(2026, 3, 3))
    assert len(enrollments(story, flow)) == 1 and emails(story, sid) == []

    story.advance_to(date(2026, 3, 4))
    [first] = enrollments(story, flow)
    assert first["status"] == "completed"
    assert outcomes(first) == [
        "enrolled",
        "waited",
        "internal_email_queued",
        "property_set",
        "completed",
    ]
    assert emails(story, sid) == ["Tier is silver"]
    assert story.subscription(sid)["properties"] == {"plan_tier": "checked"}
    story.advance_to(date(2026, 3, 10))
    assert len(enrollments(story, flow)) == 1

    # Changed after it completed: enrolled again.
    story.patch(sid, properties={"plan_tier": "bronze"})
    story.advance_to(date(2026, 3, 20))
    assert [e["status"] for e in enrollments(story, flow)] == ["completed", "completed"]
    assert emails(story, sid) == ["Tier is silver", "Tier is bronze"]


def test_a_step_that_cannot_be_taken_fails_that_enrollment_only(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.api.ok(
        story.api.post(
            "/properties/subscriptions",
            {
                "name": "slot",
                "label": "Slot",
                "field_type": "text",
                "rules": {"unique": True},
            },
        )
    )
    flow = workflow(
        story,
        {"type": "subscription.created"},
        [
            {"type": "set_property", "property": "slot", "value": "A1"},
            note("Slot {{ subscription.properties.slot }}"),
        ],
    )
    first = story.subscribe(email="one@example.com")["id"]
    second = story.subscribe(email="two@example.com")["id"]
    by_record = {e["record_id"]: e for e in enrollments(story, flow)}
    done, failed = by_record[first], by_record[second]
    assert (done["status"], failed["status"]) == ("completed", "failed")
    assert outcomes(failed) == ["enrolled", "failed"]
    assert failed["step"] == 0 and failed["next_run_at"] is None
    assert failed["history"][1]["step"] == 1
    assert "already has this value of property 'slot'" in failed["history"][1]["detail"]
    # Nothing of the failed step was written; the other subscription has its slot and email.
    assert story.subscription(second)["properties"] == {}
    assert story.subscription(first)["properties"] == {"slot": "A1"}
    assert emails(story, first) == ["Slot A1"] and emails(story, second) == []
    with session_factory() as session:
        lines = session.scalars(
            select(SubscriptionEvent.data).where(
                SubscriptionEvent.subscription_id == second,
                SubscriptionEvent.type == "workflow.step",
            )
        ).all()
    assert [(d["outcome"], d["step"]) for d in lines] == [("failed", 1)]


def test_an_email_whose_merge_field_was_deleted_since_fails_the_step(
    client: Any, session_factory: Any
) -> None:
    story = new_story(client, session_factory)
    story.api.ok(
        story.api.post(
            "/properties/subscriptions", {"name": "coupon", "label": "Coupon", "field_type": "text"}
        )
    )
    flow = workflow(
        story,
        {"type": "subscription.created"},
        [{"type": "send_email", "subject": "Hi", "body": "{{ subscription.properties.coupon }}"}],
    )
    first = story.subscribe(email="one@example.com")["id"]
    story.api.ok(story.api.delete("/properties/subscriptions/coupon"))
    second = story.subscribe(email="two@example.com")["id"]
    by_record = {e["record_id"]: e for e in enrollments(story, flow)}
    done, failed = by_record[first], by_record[second]
    assert (done["status"], failed["status"]) == ("completed", "failed")
    assert failed["history"][-1]["detail"].startswith("The text could not be filled in")
    assert emails(story, first) == ["Hi"] and emails(story, second) == []


def test_a_webhook_action_is_signed_and_retried_on_the_clock(
    client: Any, session_factory: Any, receiver: Receiver, allow_private: None
) -> None:
    story = new_story(client, session_factory)
    made = story.api.ok(
        story.api.post(
            "/workflows",
            {
                "name": "Tell the CRM",
                "enabled": True,
                "trigger": {"type": "subscription.created"},
                "actions": [
                    {"type": "webhook", "url": receiver.url + "/crm"},
                    note("Told the CRM about {{ subscription.name }}"),
                ],
            },
        )
    )
    receiver.answers = [503, 200]
    sid = story.subscribe()["id"]
    [enrolled] = enrollments(story, made["id"])
    assert enrolled["status"] == "active" and enrolled["step"] == 0
    assert enrolled["next_run_at"] == "2026-03-01T08:00:05Z"  # 5 s later, by the clock
    assert enrolled["history"][-1] == {
        "step": 1,
        "at": "2026-03-01T08:00:00Z",
        "outcome": "webhook_retrying",
        "detail": "The receiver answered 503",
    }
    assert emails(story, sid) == []

    story.advance(datetime(2026, 3, 1, 8, 0, 5, tzinfo=UTC))
    [enrolled] = enrollments(story, made["id"])
    assert enrolled["status"] == "completed"
    assert emails(story, sid) == ["Told the CRM about Beans"]
    # Both attempts were the same message, signed with the workflow's secret.
    assert len(receiver.requests) == 2
    verify = Webhook(made["webhook_secret"])
    bodies = [verify.verify(r.body, r.headers) for r in receiver.requests]
    assert bodies[0] == bodies[1]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"{enrolled['id']}_1"}
    assert bodies[0]["type"] == "workflow.webhook"
    assert bodies[0]["data"]["object"]["id"] == sid
    assert bodies[0]["data"]["workflow_id"] == made["id"]


def test_a_workflow_turned_off_or_a_plan_without_workflows_runs_nothing(
    client: Any, session_factory: Any, operator: Operator
) -> None:
    story = new_story(client, session_factory)
    flow = workflow(story, {"type": "subscription.created"}, [{"type": "delay", "days": 2}, note()])
    first = story.subscribe(email="one@example.com")["id"]
    story.api.ok(story.api.patch(f"/workflows/{flow}", {"enabled": False}))
    story.subscribe(email="two@example.com")
    story.advance_to(date(2026, 3, 5))
    # The first waits where it was; the second was never enrolled.
    [waiting] = enrollments(story, flow)
    assert (waiting["record_id"], waiting["status"], waiting["step"]) == (first, "active", 1)
    story.api.ok(story.api.patch(f"/workflows/{flow}", {"enabled": True}))
    story.advance_to(date(2026, 3, 6))
    [done] = enrollments(story, flow)
    assert done["status"] == "completed" and emails(story, first) == ["Beans"]

    # An account whose plan ends keeps its workflows, but they stop.
    shop = enrolled_account(client, session_factory, "Lapsing Shop")
    made = shop.ok(
        shop.post(
            "/workflows",
            {
                "name": "Welcome",
                "enabled": True,
                "trigger": {"type": "subscription.created"},
                "actions": [note()],
            },
        )
    )
    plan = shop.ok(shop.get("/account/plan"))
    operator.api.ok(
        operator.api.post(
            f"/subscriptions/{plan['subscription_id']}/cancel", {"mode": "immediately"}
        )
    )
    from tests.subscriptions.helpers import create_subscription

    create_subscription(shop)
    runner.run(session_factory, allow_private=True)
    assert shop.ok(shop.get(f"/workflows/{made['id']}/enrollments"))["data"] == []


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_crash_mid_workflow_takes_each_step_exactly_once(
    client: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    story = new_story(client, session_factory)
    story.api.ok(
        story.api.post(
            "/properties/subscriptions", {"name": "stage", "label": "Stage", "field_type": "text"}
        )
    )
    flow = workflow(
        story,
        {"type": "subscription.created"},
        [
            note("First"),
            {"type": "set_property", "property": "stage", "value": "welcomed"},
            note("Third"),
        ],
    )
    # The worker dies in the middle of step `crash_at + 1`, after its email or property was
    # written but before the transaction that moves the enrollment on commits.
    real_done = runner._done
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == crash_at + 1:
            raise SystemExit("the worker was killed")
        real_done(*args, **kwargs)

    monkeypatch.setattr(runner, "_done", dying)
    contact_id, method = story.customer()
    sid = story.api.ok(
        story.api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [
                    {"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": method,
            },
        )
    )["id"]
    with pytest.raises(SystemExit):
        story.run_workflows()
    # The steps before the crash were in its transaction too: none of them is left half done,
    # and none was done (a batch of steps commits whole).
    [enrolled] = enrollments(story, flow)
    assert enrolled["step"] == 0 and enrolled["status"] == "active"
    assert emails(story, sid) == []
    assert story.subscription(sid)["properties"] == {}
    monkeypatch.setattr(runner, "_done", real_done)

    # A new worker, and one that reads every trigger again (as after a crash between enrolling
    # and marking a message read): each step once, one enrollment.
    with session_factory() as session:
        session.execute(update(OutboxMessage).values(workflows_read_at=None))
        session.commit()
    story.assert_quiet()
    story.run_workflows()
    [enrolled] = enrollments(story, flow)
    assert enrolled["status"] == "completed"
    assert outcomes(enrolled) == [
        "enrolled",
        "internal_email_queued",
        "property_set",
        "internal_email_queued",
        "completed",
    ]
    assert emails(story, sid) == ["First", "Third"]
    assert story.subscription(sid)["properties"] == {"stage": "welcomed"}
    with session_factory() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(WorkflowEnrollment)
                .where(WorkflowEnrollment.record_id == sid)
            )
            == 1
        )
        updates = session.scalar(
            select(func.count())
            .select_from(SubscriptionEvent)
            .where(
                SubscriptionEvent.subscription_id == sid,
                SubscriptionEvent.type == "subscription.updated",
            )
        )
    assert updates == 1


def test_a_webhook_action_answered_with_a_redirect_is_not_followed_and_retried(
    client: Any, session_factory: Any, receiver: Receiver, allow_private: None
) -> None:
    story = new_story(client, session_factory)
    flow = workflow(
        story, {"type": "subscription.created"}, [{"type": "webhook", "url": receiver.url}]
    )
    receiver.answers = [302]
    story.subscribe()
    [enrolled] = enrollments(story, flow)
    assert enrolled["status"] == "active"
    assert enrolled["history"][-1]["detail"] == "The receiver answered 302"
    assert len(receiver.requests) == 1  # the redirect was not followed
    # Every attempt answered the same: after the last (about a day and a half on), it fails.
    at = START
    for delay in RETRY_DELAYS:
        at += delay
        story.advance(at)
    [enrolled] = enrollments(story, flow)
    assert enrolled["status"] == "failed"
    assert [h["outcome"] for h in enrolled["history"]].count("webhook_retrying") == 7
    assert len(receiver.requests) == 8


def test_a_workflow_acts_on_what_happens_once_it_exists(client: Any, session_factory: Any) -> None:
    """A subscription made before the workflow, whose message no worker had read yet when the
    workflow was made, does not enroll (HubSpot enrolls from when a workflow is turned on)."""
    story = new_story(client, session_factory)
    contact_id, card = story.customer("before@example.com")
    # Made through the API alone: no worker pass reads its message (story.subscribe would).
    before = story.api.ok(
        story.api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [
                    {"name": "Beans", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": card,
            },
        )
    )["id"]
    # An hour on, with no worker pass in between: the message is still unread.
    pin_clock(session_factory, story.api.account_id, START + timedelta(hours=1))
    flow = workflow(story, {"type": "subscription.created"}, [note()])
    after = story.subscribe(email="after@example.com")["id"]
    story.advance_to(date(2026, 3, 4))
    assert [e["record_id"] for e in enrollments(story, flow)] == [after]
    assert emails(story, before) == [] and emails(story, after) == ["Beans"]
