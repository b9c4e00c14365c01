"""The seeds' three workflows over two months of a fixed-term subscription's account clock:
a welcome email when it is created (in the buyer's language), the team notified 7 days before
each payment is due, and an owner set (and told) when it expires. After every step of the clock,
running the engine and its workflow pass again writes nothing (Story.assert_quiet counts the
timeline, where every enrollment and step is written)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_date
from sqlalchemy import select

from cadency.accounts.models import User
from cadency.subscriptions.models import SubscriptionEvent
from tests.notifications.conftest import SmtpServer, add_user, deliver, smtp_server
from tests.scenarios.story import Story

__all__ = ["smtp_server"]  # fixture


def workflows(story: Story) -> dict[str, dict[str, Any]]:
    api = story.api
    made = {}
    made["welcome"] = api.ok(
        api.post(
            "/workflows",
            {
                "name": "Welcome",
                "enabled": True,
                "trigger": {"type": "subscription.created"},
                "actions": [
                    {
                        "type": "send_email",
                        "subject": "Welkom, {{ contact.first_name }}",
                        "body": "Je abonnement {{ subscription.name }} loopt.\n\n"
                        "De volgende betaling is op {{ subscription.next_payment_date }}.",
                    }
                ],
            },
        )
    )
    made["due"] = api.ok(
        api.post(
            "/workflows",
            {
                "name": "Payment due in 7 days",
                "enabled": True,
                "re_enroll": True,
                "trigger": {"type": "payment_due_in", "days": 7},
                "actions": [
                    {
                        "type": "send_internal_email",
                        "to": "super_admins",
                        "subject": "{{ subscription.name }}: payment due "
                        "{{ subscription.next_payment_date }}",
                        "body": "{{ contact.email }} pays {{ subscription.next_payment_amount }}.",
                    }
                ],
            },
        )
    )
    made["expired"] = api.ok(
        api.post(
            "/workflows",
            {
                "name": "Owner for expired subscriptions",
                "enabled": True,
                "trigger": {"type": "subscription.status_changed", "status": "expired"},
                "actions": [
                    {"type": "set_property", "property": "owner_id", "value": "anna@shop.example"},
                    {
                        "type": "send_internal_email",
                        "to": "owner",
                        "subject": "{{ subscription.name }} expired: it is yours now",
                        "body": "Win {{ contact.name }} back.",
                    },
                ],
            },
        )
    )
    return made


def enrollments(story: Story, workflow: dict[str, Any]) -> list[dict[str, Any]]:
    found = story.api.ok(story.api.get(f"/workflows/{workflow['id']}/enrollments"))["data"]
    return list(found)


def history(enrollment: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(h["step"], h["at"], h["outcome"]) for h in enrollment["history"]]


def test_the_seed_workflows_over_two_months(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(
        client,
        session_factory,
        timezone="Europe/Amsterdam",
        start=datetime(2026, 1, 10, 8, tzinfo=UTC),
    )
    story.settings(renewal_reminder_days=None)
    account_id = story.api.account_id
    add_user(session_factory, account_id, "team@shop.example", ("super_admin",))
    anna = add_user(session_factory, account_id, "anna@shop.example", ("subscriptions.view",))
    made = workflows(story)

    # 10 January: subscribed (two monthly payments, a Dutch buyer): welcomed at once.
    sub = story.subscribe(
        price="30.00",
        contact_language="nl",
        item={"billing_terms": "fixed", "number_of_payments": 2},
    )
    sid = sub["id"]
    story.expect(
        sid,
        status="active",
        invoices=[("2026-01-10", "2026-02-10", "30.00", "paid", "2026-01-10")],
        payments=[("30.00", "succeeded", None)],
        outbox=["invoice.created", "payment.succeeded", "workflow.email"],
    )
    [welcomed] = enrollments(story, made["welcome"])
    assert welcomed["record_id"] == sid and welcomed["status"] == "completed"
    assert history(welcomed) == [
        (0, "2026-01-10T08:00:00Z", "enrolled"),
        (1, "2026-01-10T08:00:00Z", "email_queued"),
        (1, "2026-01-10T08:00:00Z", "completed"),
    ]
    assert welcomed["history"][1]["detail"] == "buyer@example.com"

    # 2 February: the payment of 10 February is 8 days away: nothing yet.
    story.advance_to(date(2026, 2, 2))
    story.expect(sid, status="active", invoices=story.invoices(sid), payments=story.payments(sid))
    assert enrollments(story, made["due"]) == []

    # 3 February: 7 days before it, the team is told.
    story.advance_to(date(2026, 2, 3))
    story.expect(
        sid,
        status="active",
        invoices=story.invoices(sid),
        payments=story.payments(sid),
        outbox=["workflow.internal_email"],
    )
    [reminded] = enrollments(story, made["due"])
    assert reminded["status"] == "completed"
    assert history(reminded)[:2] == [
        (0, "2026-02-03T08:00:00Z", "enrolled"),
        (1, "2026-02-03T08:00:00Z", "internal_email_queued"),
    ]

    # 10 February: the second and last payment; no payment is due after it, so no reminder.
    story.advance_to(date(2026, 2, 10))
    story.advance_to(date(2026, 3, 3))
    story.expect(
        sid,
        status="active",
        invoices=story.invoices(sid),
        payments=[("30.00", "succeeded", None)] * 2,
        outbox=["invoice.created", "payment.succeeded"],
    )
    assert len(enrollments(story, made["due"])) == 1

    # 10 March: the term ends. The subscription expires, gets Anna as its owner, and she is told.
    story.advance_to(date(2026, 3, 10))
    story.expect(
        sid,
        status="expired",
        invoices=story.invoices(sid),
        payments=story.payments(sid),
        outbox=["subscription.status_changed", "subscription.expired", "workflow.internal_email"],
        owner_id=anna,
    )
    [owned] = enrollments(story, made["expired"])
    assert [h[2] for h in history(owned)] == [
        "enrolled",
        "property_set",
        "internal_email_queued",
        "completed",
    ]
    assert owned["history"][2]["detail"] == "anna@shop.example"

    # Every enrollment and step is on the subscription's timeline, once.
    with session_factory() as session:
        timeline = session.execute(
            select(SubscriptionEvent.type, SubscriptionEvent.data)
            .where(SubscriptionEvent.subscription_id == sid)
            .order_by(SubscriptionEvent.created_at, SubscriptionEvent.id)
        ).all()
        assert session.get(User, anna) is not None
    steps = [
        (data["workflow_name"], data["outcome"])
        for kind, data in timeline
        if kind.startswith("workflow.")
    ]
    assert steps == [
        ("Welcome", "enrolled"),
        ("Welcome", "email_queued"),
        ("Welcome", "completed"),
        ("Payment due in 7 days", "enrolled"),
        ("Payment due in 7 days", "internal_email_queued"),
        ("Payment due in 7 days", "completed"),
        ("Owner for expired subscriptions", "enrolled"),
        ("Owner for expired subscriptions", "property_set"),
        ("Owner for expired subscriptions", "internal_email_queued"),
        ("Owner for expired subscriptions", "completed"),
    ]

    # The emails, as the dispatcher sends them: the buyer's in Dutch formats.
    deliver(session_factory, account_id, smtp_server.url)
    inbox = smtp_server.inbox.take()
    sent = {(r.to[0], r.subject): r for r in inbox}
    next_payment = format_date(date(2026, 2, 10), "medium", locale="nl_NL")
    welcome = sent[("buyer@example.com", "Welkom, Ann")]
    assert welcome.language == "nl"
    assert f"De volgende betaling is op {next_payment}." in welcome.text
    assert "Je abonnement Beans loopt." in welcome.text
    assert "<p" in welcome.html and next_payment in welcome.html
    due = sent[("team@shop.example", "Beans: payment due Feb 10, 2026")]
    assert "buyer@example.com pays $30.00." in due.text
    assert "Sent by the workflow “Payment due in 7 days” of Test shop." in due.text
    assert ("anna@shop.example", "Beans expired: it is yours now") in sent
    # Each once (besides the receipts and notices the billing itself sends).
    workflow_subjects = {"Welkom, Ann", due.subject, "Beans expired: it is yours now"}
    assert sorted(r.subject for r in inbox if r.subject in workflow_subjects) == sorted(
        workflow_subjects
    )
