"""Running workflows: enrolling records when a trigger fires, then taking their steps in the
account's time (the worker's lane, and `POST /clock/advance` for a test clock).

Enrolling. Event triggers read the outbox: every message is read once by workflows (its
`workflows_read_at` is set in the transaction that reads it). Messages of accounts without an
enabled workflow, or of types no trigger listens to, are marked read in bulk without being
looked at, so a billing day costs workflows little. "Payment due in N days" reads the
subscriptions: one whose next payment date lies within N days of the account's today is
enrolled once per payment date. An enrollment is inserted with its unique key (workflow,
record, trigger occurrence) and `ON CONFLICT DO NOTHING`, so reading a trigger twice (two
workers, a crash between the insert and marking the message read) still enrolls once.

Steps. Each step of an enrollment runs in one transaction that locks the enrollment, checks
it is still at that step and due, does what the action does (a property set, an email written
to the outbox under the key `workflow:{enrollment}:{step}`, the timeline entry) and moves the
enrollment past it; so a step runs exactly once, whatever crashes when. A webhook action is
the exception the network forces: the request is sent outside the transaction (a receiver is
never waited on with the database locked) and its outcome recorded after, so a crash between
the two sends it again with the same `webhook-id` (receivers deduplicate on it; at least once,
like every webhook). A failing request is tried again on the webhooks' schedule.

A step that cannot be taken (a value the property's rules refuse, a contact without an email
address, an owner who is gone) is recorded with its reason and ends the enrollment as failed;
nothing else is touched and other enrollments go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import SUPER_ADMIN, Account, User
from cadency.accounts.service import due_by_own_clock
from cadency.billing.state import record_event
from cadency.crm.models import Contact
from cadency.kit import clock, i18n, outbox, periods
from cadency.kit.db import begin_write
from cadency.kit.errors import APIError
from cadency.kit.events import WORKFLOW_TRIGGER_EVENTS, EventType
from cadency.kit.filters import parse_filter_groups
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.notifications.messages import email_language
from cadency.plans.limits import workflow_allowance
from cadency.properties import service as properties
from cadency.subscriptions import display
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.models import Subscription, SubscriptionStatus
from cadency.subscriptions.schemas import SubscriptionOut
from cadency.views.catalogs import catalog_for
from cadency.webhooks import service as webhooks
from cadency.workflows import service
from cadency.workflows.models import Workflow, WorkflowEnrollment

logger = logging.getLogger("cadency.workflows")

BATCH = 500  # outbox messages looked at per transaction
MARK_BATCH = 5000  # messages marked read without a look, per transaction
STEPS_PER_PASS = 2000  # enrollments whose due steps one pass takes
STEP_BATCH = 200  # enrollments whose steps one transaction takes
LEASE = timedelta(seconds=60)  # a webhook action's request, at most
# How often the lane looks for payments coming due (seconds): the window is counted in days, and
# looking reads every subscription in it, so not every second.
DUE_CHECK_INTERVAL = 60.0
_due_checked_at = float("-inf")  # this process's last look (time.monotonic)
# The outbox types each trigger listens to; the outbox writes every other type already read
# (kit.events.WORKFLOW_TRIGGER_EVENTS), so these must be among those.
TRIGGER_TYPES: dict[str, str] = {
    "subscription.created": EventType.SUBSCRIPTION_CREATED,
    "subscription.status_changed": EventType.SUBSCRIPTION_STATUS_CHANGED,
    "property_changed": EventType.SUBSCRIPTION_UPDATED,
    "payment.failed": EventType.PAYMENT_FAILED,
    "subscription.canceled": EventType.SUBSCRIPTION_CANCELED,
}
assert set(TRIGGER_TYPES.values()) <= WORKFLOW_TRIGGER_EVENTS
# Whose next payment is "due": subscriptions that will be billed on that date.
DUE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.UNPAID)

# Outcomes of a step as the history records them (labels: workflows.pages.OUTCOME_LABELS).
ENROLLED = "enrolled"
WAITED = "waited"
PROPERTY_SET = "property_set"
EMAIL_QUEUED = "email_queued"
INTERNAL_EMAIL_QUEUED = "internal_email_queued"
WEBHOOK_SENT = "webhook_sent"
WEBHOOK_RETRYING = "webhook_retrying"
FAILED = "failed"
COMPLETED = "completed"


class StepFailed(Exception):
    """A step that cannot be taken; the message says why (stored in the history)."""


@dataclass
class Summary:
    enrolled: int = 0
    steps: int = 0
    failed: int = 0


def run(
    session_factory: Callable[[], Session],
    *,
    allow_private: bool,
    account_id: int | None = None,
    now: datetime | None = None,
) -> Summary:
    """A worker's pass: enroll what the triggers name, then take every step that is due (of
    one account, or all). `now`: the instant of one account's clock (a clock advance passes
    where it moved the clock to)."""
    global _due_checked_at
    summary = Summary()
    while _enroll_from_outbox(session_factory, summary):
        pass
    # A clock advance (or a pass for one account) always looks; the lane once a minute.
    if account_id is not None or time.monotonic() - _due_checked_at >= DUE_CHECK_INTERVAL:
        if account_id is None:
            _due_checked_at = time.monotonic()
        _enroll_due_payments(session_factory, summary, account_id, now)
    _take_due_steps(session_factory, summary, allow_private, account_id, now)
    return summary


# --- enrolling ---------------------------------------------------------------------------------


def _enabled(session: Session) -> dict[int, list[Workflow]]:
    """Enabled workflows by account, of accounts whose plan includes workflows."""
    found: dict[int, list[Workflow]] = {}
    for workflow in session.scalars(
        select(Workflow).where(Workflow.enabled.is_(True)).order_by(Workflow.id)
    ):
        found.setdefault(workflow.account_id, []).append(workflow)
    for account in session.scalars(select(Account).where(Account.id.in_(found))):
        if not workflow_allowance(session, account).allowed:
            del found[account.id]
    return found


def _enroll_from_outbox(session_factory: Callable[[], Session], summary: Summary) -> bool:
    """Read one batch of unread outbox messages; returns whether there may be more."""
    with session_factory() as session:
        unread = select(OutboxMessage.id).where(OutboxMessage.workflows_read_at.is_(None))
        if session.scalar(unread.limit(1)) is None:
            return False  # found by reading alone, without SQLite's write lock
        session.rollback()
        begin_write(session)
        read_at = clock.real_now()
        workflows = _enabled(session)
        listened = {
            (owner, TRIGGER_TYPES[w.trigger["type"]])
            for owner, owned in workflows.items()
            for w in owned
            if w.trigger["type"] in TRIGGER_TYPES
        }
        # First what no trigger listens to, in bulk and unseen.
        ignored = unread.where(~_listened_to(listened)).order_by(OutboxMessage.id).limit(MARK_BATCH)
        marked = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ignored.scalar_subquery()))
            .values(workflows_read_at=read_at)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if marked:
            # Those first, all of them: looking for the heard ones reads every unread message.
            session.commit()
            return True
        messages = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.workflows_read_at.is_(None), _listened_to(listened))
                .order_by(OutboxMessage.created_at, OutboxMessage.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        for message in messages:
            message.workflows_read_at = read_at
        _enroll_messages(session, workflows, messages, summary)
        session.commit()
        return bool(messages)


def _listened_to(listened: set[tuple[int, str]]) -> Any:
    if not listened:
        return literal(False)
    pairs = [
        and_(OutboxMessage.account_id == owner, OutboxMessage.type == kind)
        for owner, kind in sorted(listened)
    ]
    return or_(*pairs)


def _fires(workflow: Workflow, message: OutboxMessage) -> bool:
    """Whether an outbox message is the workflow's trigger."""
    trigger = workflow.trigger
    kind = trigger["type"]
    if TRIGGER_TYPES.get(kind) != message.type:
        return False
    if message.created_at < workflow.created_at:
        # A workflow acts on what happens once it exists, as HubSpot enrolls from when one is
        # turned on: a message written before it (not yet read when it was made) is not its
        # trigger. (Both instants are on the account's clock.)
        return False
    payload = message.payload or {}
    if kind == "subscription.status_changed":
        return bool(payload.get("to") == trigger.get("status"))
    if kind == "property_changed":
        if payload.get("source") == f"workflow:{workflow.id}":
            return False  # its own change would trigger it again, and again
        changes = payload.get("changes") or {}
        name = trigger.get("property")
        return name in changes or name in (changes.get("properties") or [])
    return True


def _enroll_messages(
    session: Session,
    workflows: dict[int, list[Workflow]],
    messages: Sequence[OutboxMessage],
    summary: Summary,
) -> None:
    # Per workflow, the records its trigger names and the occurrence (message) of each.
    candidates: dict[str, list[tuple[str, str, datetime]]] = {}
    by_id: dict[str, Workflow] = {}
    for message in messages:
        record_id = message.subscription_id or (message.payload or {}).get("subscription_id")
        if not record_id:
            continue
        for workflow in workflows.get(message.account_id, []):
            if _fires(workflow, message):
                by_id[workflow.id] = workflow
                candidates.setdefault(workflow.id, []).append(
                    (str(record_id), message.id, message.created_at)
                )
    for workflow_id, found in candidates.items():
        workflow = by_id[workflow_id]
        matching = _meeting_criteria(session, workflow, {record for record, _, _ in found})
        for record_id, occurrence, at in found:
            if record_id in matching:
                _enroll(session, workflow, record_id, occurrence, at, summary)


def _meeting_criteria(session: Session, workflow: Workflow, record_ids: set[str]) -> set[str]:
    """Those of the records that meet the workflow's enrollment criteria now."""
    if not workflow.criteria or not record_ids:
        return set(record_ids)
    catalog = catalog_for(service.OBJECT_TYPE)
    assert catalog is not None
    try:
        condition = catalog.compile_filters(
            session, workflow.account_id, parse_filter_groups(workflow.criteria)
        )
    except APIError as exc:
        # A property the criteria use was deleted since: no one meets them.
        logger.warning("workflow %s: criteria no longer hold: %s", workflow.id, exc.message)
        return set()
    return set(
        session.scalars(
            select(Subscription.id).where(Subscription.id.in_(list(record_ids)), condition)
        )
    )


def _enroll(
    session: Session,
    workflow: Workflow,
    record_id: str,
    occurrence: str,
    at: datetime,
    summary: Summary,
) -> bool:
    """Enroll a record unless this occurrence (or, without re-enrollment, any) already did;
    with re-enrollment, not while it is still going through the workflow."""
    if workflow.re_enroll:
        busy = session.scalar(
            select(WorkflowEnrollment.id).where(
                WorkflowEnrollment.workflow_id == workflow.id,
                WorkflowEnrollment.record_id == record_id,
                WorkflowEnrollment.status == "active",
            )
        )
        if busy is not None:
            return False
    key = occurrence if workflow.re_enroll else "once"
    values = {
        "id": new_id("wfe"),
        "account_id": workflow.account_id,
        "workflow_id": workflow.id,
        "record_id": record_id,
        "trigger_key": key,
        "status": "active",
        "step": 0,
        "next_run_at": at,
        "attempt": 0,
        "history": [_entry(0, at, ENROLLED)],
        "created_at": at,
        "updated_at": at,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = session.execute(
        dialect.insert(WorkflowEnrollment)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workflow_id", "record_id", "trigger_key"])
    ).rowcount  # type: ignore[attr-defined]
    if not inserted:
        return False
    subscription = session.get(Subscription, record_id)
    account = session.get(Account, workflow.account_id)
    if subscription is not None and account is not None:
        _timeline(session, account, subscription, workflow, 0, ENROLLED, None, at)
    summary.enrolled += 1
    return True


def _enroll_due_payments(
    session_factory: Callable[[], Session],
    summary: Summary,
    account_id: int | None,
    at: datetime | None,
) -> None:
    """ "Payment due in N days": enroll subscriptions whose next payment date is within N days
    of their account's today, once per payment date."""
    with session_factory() as session:
        due = [
            w
            for owner, owned in _enabled(session).items()
            if account_id is None or owner == account_id
            for w in owned
            if w.trigger["type"] == "payment_due_in"
        ]
        if not due:
            return
        accounts = {
            a.id: a
            for a in session.scalars(
                select(Account).where(Account.id.in_({w.account_id for w in due}))
            )
        }
        found: list[tuple[Workflow, list[tuple[str, Any]], datetime]] = []
        for candidate in due:
            account = accounts[candidate.account_id]
            now = at if at is not None and account_id is not None else clock.account_now(account)
            today = periods.local_date(now, account.timezone)
            key = (
                literal("due:") + cast(Subscription.next_payment_date, String)
                if candidate.re_enroll
                else literal("once")
            )
            enrolled = exists().where(
                WorkflowEnrollment.workflow_id == candidate.id,
                WorkflowEnrollment.record_id == Subscription.id,
                WorkflowEnrollment.trigger_key == key,
            )
            rows: Sequence[Any] = session.execute(
                select(Subscription.id, Subscription.next_payment_date)
                .where(
                    Subscription.account_id == account.id,
                    Subscription.status.in_([s.value for s in DUE_STATUSES]),
                    Subscription.next_payment_date >= today,
                    Subscription.next_payment_date
                    <= today + timedelta(days=candidate.trigger["days"]),
                    ~enrolled,
                )
                .limit(5000)
            ).all()
            if rows:
                found.append((candidate, [(row[0], row[1]) for row in rows], now))
    if not found:
        return
    with session_factory() as session:
        begin_write(session)
        for stale, candidates, now in found:
            workflow = session.get(Workflow, stale.id)
            if workflow is None or not workflow.enabled:
                continue
            matching = _meeting_criteria(session, workflow, {record for record, _ in candidates})
            for record_id, payment_date in candidates:
                if record_id in matching:
                    _enroll(session, workflow, record_id, f"due:{payment_date}", now, summary)
        session.commit()


# --- steps -------------------------------------------------------------------------------------


def _due_accounts(
    session: Session, account_id: int | None, at: datetime | None
) -> dict[int, datetime]:
    """Accounts with steps due by their own clock (or by `at` for the one account asked for)."""
    query = (
        select(WorkflowEnrollment.account_id, func.min(WorkflowEnrollment.next_run_at))
        .where(WorkflowEnrollment.status == "active")
        .group_by(WorkflowEnrollment.account_id)
    )
    if account_id is not None:
        query = query.where(WorkflowEnrollment.account_id == account_id)
    earliest = dict(session.execute(query).all())
    return due_by_own_clock(session, earliest, account_id=account_id, at=at)


def _take_due_steps(
    session_factory: Callable[[], Session],
    summary: Summary,
    allow_private: bool,
    account_id: int | None,
    at: datetime | None,
) -> None:
    with session_factory() as session:
        due = _due_accounts(session, account_id, at)
        work: list[tuple[str, datetime]] = []
        for owner, now in due.items():
            ids = session.scalars(
                select(WorkflowEnrollment.id)
                .join(Workflow, Workflow.id == WorkflowEnrollment.workflow_id)
                .where(
                    WorkflowEnrollment.account_id == owner,
                    WorkflowEnrollment.status == "active",
                    WorkflowEnrollment.next_run_at <= now,
                    Workflow.enabled.is_(True),
                )
                .order_by(WorkflowEnrollment.next_run_at, WorkflowEnrollment.id)
                .limit(STEPS_PER_PASS)
            )
            work.extend((enrollment_id, now) for enrollment_id in ids)
    for start in range(0, len(work), STEP_BATCH):
        chunk = work[start : start + STEP_BATCH]
        with session_factory() as session:
            begin_write(session)
            nows = dict(chunk)
            enrollments = session.scalars(
                select(WorkflowEnrollment)
                .where(WorkflowEnrollment.id.in_(list(nows)))
                .order_by(WorkflowEnrollment.next_run_at, WorkflowEnrollment.id)
                .with_for_update(skip_locked=True)
            ).all()
            # What the steps read, loaded once for the batch and held here: the session's
            # identity map keeps only what something references, so without this each step's
            # look-up of its account, workflow and subscription goes to the database again.
            held = _load_for_steps(session, enrollments)
            online = [e.id for e in enrollments if _steps_in(session, e, nows[e.id], summary)]
            del held
            session.commit()
        for enrollment_id in online:
            _advance(session_factory, enrollment_id, nows[enrollment_id], allow_private, summary)


def _load_for_steps(session: Session, enrollments: Sequence[WorkflowEnrollment]) -> list[Any]:
    """The workflows, accounts, subscriptions (with line items) and contacts of a batch's
    enrollments, in four queries."""
    records = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.id.in_({e.record_id for e in enrollments}))
            .options(selectinload(Subscription.line_items))
        )
    )
    contact_ids = {s.contact_id for s in records if s.contact_id}
    workflow_ids = {e.workflow_id for e in enrollments}
    account_ids = {e.account_id for e in enrollments}
    return [
        *session.scalars(select(Workflow).where(Workflow.id.in_(workflow_ids))),
        *session.scalars(select(Account).where(Account.id.in_(account_ids))),
        *records,
        *session.scalars(select(Contact).where(Contact.id.in_(contact_ids))),
    ]


def _advance(
    session_factory: Callable[[], Session],
    enrollment_id: str,
    now: datetime,
    allow_private: bool,
    summary: Summary,
) -> None:
    """Take the due steps of an enrollment that reached a webhook action: the request outside
    any transaction, then the steps after it, until it waits or ends."""
    while True:
        with session_factory() as session:
            begin_write(session)
            enrollment = session.scalar(
                select(WorkflowEnrollment)
                .where(WorkflowEnrollment.id == enrollment_id)
                .with_for_update(skip_locked=True)
            )
            if enrollment is None:
                return
            if not _steps_in(session, enrollment, now, summary):
                session.commit()
                return
            workflow = session.get(Workflow, enrollment.workflow_id)
            assert workflow is not None
            action = workflow.actions[enrollment.step]
            request = _webhook_request(session, enrollment, workflow, action, now)
            session.commit()
        if request is None:
            return  # another runner holds it
        answer = webhooks.send_signed(*request, allow_private=allow_private)
        with session_factory() as later:
            begin_write(later)
            _record_webhook(later, enrollment_id, answer, now, summary)
            later.commit()


def _steps_in(
    session: Session, enrollment: WorkflowEnrollment, now: datetime, summary: Summary
) -> bool:
    """Take the enrollment's due steps in the session's transaction, a savepoint each, until
    it waits or ends (False) or comes to a webhook action, which needs the network (True).

    Whatever commits the transaction commits each step with the enrollment moved past it; a
    crash before that leaves neither."""
    while True:
        if not _due(enrollment, now):
            return False
        workflow = session.get(Workflow, enrollment.workflow_id)
        if workflow is None or not workflow.enabled:
            return False
        actions = workflow.actions or []
        if enrollment.step >= len(actions):
            _finish(session, enrollment, workflow, now, COMPLETED, None, len(actions))
            return False
        action = actions[enrollment.step]
        if action["type"] == "webhook":
            return True
        try:
            with session.begin_nested():
                outcome, detail = _take(session, enrollment, workflow, action, now)
        except StepFailed as exc:
            _fail(session, enrollment, workflow, now, str(exc))
            summary.failed += 1
            return False
        _done(session, enrollment, workflow, now, outcome, detail, action)
        summary.steps += 1
        if enrollment.step >= len(actions) and action["type"] != "delay":
            # The last step done: the enrollment ends with it.
            _finish(session, enrollment, workflow, now, COMPLETED, None, len(actions))
            return False


def _due(enrollment: WorkflowEnrollment, now: datetime) -> bool:
    return (
        enrollment.status == "active"
        and enrollment.next_run_at is not None
        and enrollment.next_run_at <= now
        and (enrollment.lease_until is None or enrollment.lease_until < clock.real_now())
    )


def _entry(step: int, at: datetime, outcome: str, detail: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"step": step, "at": at.isoformat(), "outcome": outcome}
    if detail:
        entry["detail"] = detail[:500]
    return entry


def _record(
    session: Session,
    enrollment: WorkflowEnrollment,
    workflow: Workflow,
    step: int,
    at: datetime,
    outcome: str,
    detail: str | None,
) -> None:
    enrollment.history = [*(enrollment.history or []), _entry(step, at, outcome, detail)]
    enrollment.updated_at = at
    account = session.get(Account, enrollment.account_id)
    subscription = session.get(Subscription, enrollment.record_id)
    if account is not None and subscription is not None:
        _timeline(session, account, subscription, workflow, step, outcome, detail, at)


def _timeline(
    session: Session,
    account: Account,
    subscription: Subscription,
    workflow: Workflow,
    step: int,
    outcome: str,
    detail: str | None,
    at: datetime,
) -> None:
    data: dict[str, Any] = {
        "workflow_id": workflow.id,
        "workflow_name": workflow.name,
        "step": step,
        "outcome": outcome,
    }
    if detail:
        data["detail"] = detail[:500]
    kind = EventType.WORKFLOW_ENROLLED if outcome == ENROLLED else EventType.WORKFLOW_STEP
    event = record_event(session, subscription, kind, data, account)
    event.created_at = at


def _done(
    session: Session,
    enrollment: WorkflowEnrollment,
    workflow: Workflow,
    now: datetime,
    outcome: str,
    detail: str | None,
    action: dict[str, Any],
) -> None:
    """The step is taken: record it and move on (a delay moves the next step later)."""
    scheduled = enrollment.next_run_at or now
    enrollment.step += 1
    enrollment.attempt = 0
    enrollment.lease_until = None
    if action["type"] == "delay":
        # From when the step was due, so a clock moved on by a month runs a week's delay at
        # once, as if the worker had been there every day.
        enrollment.next_run_at = scheduled + timedelta(days=int(action["days"]))
    _record(session, enrollment, workflow, enrollment.step, now, outcome, detail)


def _finish(
    session: Session,
    enrollment: WorkflowEnrollment,
    workflow: Workflow,
    now: datetime,
    outcome: str,
    detail: str | None,
    step: int,
) -> None:
    enrollment.status = "completed" if outcome == COMPLETED else "failed"
    enrollment.next_run_at = None
    enrollment.lease_until = None
    _record(session, enrollment, workflow, step, now, outcome, detail)


def _fail(
    session: Session, enrollment: WorkflowEnrollment, workflow: Workflow, now: datetime, why: str
) -> None:
    """The current step failed: the enrollment ends there (`step` stays at it)."""
    logger.info("workflow %s, enrollment %s failed: %s", workflow.id, enrollment.id, why)
    _finish(session, enrollment, workflow, now, FAILED, why, enrollment.step + 1)


# --- actions -----------------------------------------------------------------------------------


def _take(
    session: Session,
    enrollment: WorkflowEnrollment,
    workflow: Workflow,
    action: dict[str, Any],
    now: datetime,
) -> tuple[str, str | None]:
    """Do what one action does; (outcome, detail). Raises StepFailed."""
    account = session.get(Account, enrollment.account_id)
    assert account is not None
    subscription = session.get(
        Subscription, enrollment.record_id, options=[selectinload(Subscription.line_items)]
    )
    if subscription is None:
        raise StepFailed("The subscription was deleted")
    kind = action["type"]
    if kind == "delay":
        until = (enrollment.next_run_at or now) + timedelta(days=int(action["days"]))
        return WAITED, periods.local_date(until, account.timezone).isoformat()
    if kind == "set_property":
        return PROPERTY_SET, _set_property(session, account, subscription, workflow, action)
    if kind == "send_email":
        return EMAIL_QUEUED, _send_email(session, account, subscription, enrollment, action, now)
    if kind == "send_internal_email":
        detail = _send_internal_email(session, account, subscription, enrollment, action, now)
        return INTERNAL_EMAIL_QUEUED, detail
    raise StepFailed(f"Unknown action '{kind}'")


def _set_property(
    session: Session,
    account: Account,
    subscription: Subscription,
    workflow: Workflow,
    action: dict[str, Any],
) -> str:
    name, value = action["property"], action["value"]
    if name == "owner_id":
        user = None if value is None else service.owner_user(session, account.id, value)
        if value is not None and user is None:
            raise StepFailed(f"No active user '{value}' in this account to own the subscription")
        changes: dict[str, Any] = {"owner_id": user.id if user else None}
    elif name == "name":
        changes = {"name": value}
    else:
        changes = {"properties": {name: value}}
    try:
        subscriptions.update(
            session, account, subscription.id, changes, source=f"workflow:{workflow.id}"
        )
    except APIError as exc:
        raise StepFailed(exc.message) from None
    return f"{name} = {value}"


def _render(
    session: Session,
    account: Account,
    subscription: Subscription,
    action: dict[str, Any],
    language: str,
) -> tuple[str, str]:
    contact = session.get(Contact, subscription.contact_id)
    # Every property the account defines, blank where this subscription has no value.
    values = dict.fromkeys(properties.definitions(session, account.id, service.OBJECT_TYPE))
    values.update(
        properties.get_values(
            session, account.id, service.OBJECT_TYPE, [subscription.id], view_sensitive=False
        )[subscription.id]
    )
    catalog = i18n.translations(language if language in i18n.LANGUAGES else "en")
    status = display.BADGE_LABELS.get(subscription.status, subscription.status)
    context = service.merge_context(
        account,
        subscription,
        contact,
        values,
        language=language,
        status_label=catalog.gettext(status),
    )
    try:
        subject = " ".join(service.render(action["subject"], context).split())
        body = service.render(action["body"], context)
    except ValueError as exc:
        raise StepFailed(str(exc)) from None
    return subject, body


def _send_email(
    session: Session,
    account: Account,
    subscription: Subscription,
    enrollment: WorkflowEnrollment,
    action: dict[str, Any],
    now: datetime,
) -> str:
    contact = session.get(Contact, subscription.contact_id)
    if contact is None or not contact.email:
        raise StepFailed("The billing contact has no email address")
    language = email_language(account, subscription, contact)
    subject, body = _render(session, account, subscription, action, language)
    outbox.emit(
        session,
        account_id=account.id,
        type=EventType.WORKFLOW_EMAIL,
        dedup_key=f"workflow:{enrollment.id}:{enrollment.step}",
        payload={
            "subscription_id": subscription.id,
            "contact_id": contact.id,
            "workflow_id": enrollment.workflow_id,
            "subject": subject,
            "body": body,
        },
        at=now,
        subscription_id=subscription.id,
    )
    return contact.email


def _recipients(
    session: Session, account: Account, subscription: Subscription, to: Any
) -> list[User]:
    users = list(
        session.scalars(
            select(User)
            .where(User.account_id == account.id, User.is_active.is_(True))
            .order_by(User.id)
        )
    )
    if to == "super_admins":
        return [u for u in users if SUPER_ADMIN in (u.permissions or [])]
    if to == "owner":
        if subscription.owner_id is None:
            raise StepFailed("The subscription has no owner")
        return [u for u in users if u.id == subscription.owner_id]
    wanted = {str(email).lower() for email in to or []}
    return [u for u in users if u.email.lower() in wanted]


def _send_internal_email(
    session: Session,
    account: Account,
    subscription: Subscription,
    enrollment: WorkflowEnrollment,
    action: dict[str, Any],
    now: datetime,
) -> str:
    users = _recipients(session, account, subscription, action["to"])
    if not users:
        raise StepFailed("No active user of the account to send the email to")
    language = email_language(account, None, None)
    subject, body = _render(session, account, subscription, action, language)
    outbox.emit(
        session,
        account_id=account.id,
        type=EventType.WORKFLOW_INTERNAL_EMAIL,
        dedup_key=f"workflow:{enrollment.id}:{enrollment.step}",
        payload={
            "subscription_id": subscription.id,
            "workflow_id": enrollment.workflow_id,
            "to": [u.email for u in users],
            "subject": subject,
            "body": body,
        },
        at=now,
        subscription_id=subscription.id,
    )
    return ", ".join(u.email for u in users)


# --- the webhook action ------------------------------------------------------------------------


def _webhook_request(
    session: Session,
    enrollment: WorkflowEnrollment,
    workflow: Workflow,
    action: dict[str, Any],
    now: datetime,
) -> tuple[str, str, dict[str, Any], str] | None:
    """Lease the enrollment for its webhook step and make the request: (url, message ID,
    body, secret)."""
    real = clock.real_now()
    if enrollment.lease_until is not None and enrollment.lease_until >= real:
        return None
    enrollment.lease_until = real + LEASE
    subscription = session.scalar(
        select(Subscription)
        .where(Subscription.id == enrollment.record_id)
        .options(selectinload(Subscription.line_items))
    )
    obj: dict[str, Any] | None = None
    if subscription is not None:
        values = properties.get_values(
            session,
            enrollment.account_id,
            service.OBJECT_TYPE,
            [subscription.id],
            view_sensitive=False,
        )
        obj = SubscriptionOut.of(subscription, values[subscription.id]).model_dump(mode="json")
    # The same ID and body for every attempt of this step (receivers deduplicate on
    # webhook-id): its time is when the step became due, before any failed attempt.
    message_id = f"{enrollment.id}_{enrollment.step + 1}"
    due = next(
        (
            entry["at"]
            for entry in reversed(enrollment.history or [])
            if entry["outcome"] != WEBHOOK_RETRYING
        ),
        None,
    )
    created = datetime.fromisoformat(due) if due else now
    body = {
        "id": message_id,
        "object": "event",
        "type": "workflow.webhook",
        "created_at": properties.format_timestamp(created),
        "data": {
            "workflow_id": workflow.id,
            "workflow_name": workflow.name,
            "enrollment_id": enrollment.id,
            "step": enrollment.step + 1,
            "object": obj,
        },
    }
    session.flush()
    return action["url"], message_id, body, service.webhook_secret(session, workflow)


def _record_webhook(
    session: Session,
    enrollment_id: str,
    outcome: tuple[int | None, str | None, str | None],
    now: datetime,
    summary: Summary,
) -> None:
    enrollment = session.get(WorkflowEnrollment, enrollment_id)
    if enrollment is None or enrollment.status != "active":
        return
    workflow = session.get(Workflow, enrollment.workflow_id)
    assert workflow is not None
    status, _body, error = outcome
    if status is not None and 200 <= status < 300:
        _done(session, enrollment, workflow, now, WEBHOOK_SENT, str(status), {"type": "webhook"})
        summary.steps += 1
        return
    why = error or f"The receiver answered {status}"
    enrollment.attempt += 1
    enrollment.lease_until = None
    if enrollment.attempt < webhooks.MAX_ATTEMPTS:
        delay = webhooks.RETRY_DELAYS[enrollment.attempt - 1]
        scheduled = enrollment.next_run_at or now
        enrollment.next_run_at = scheduled + delay if scheduled + delay > now else now + delay
        _record(session, enrollment, workflow, enrollment.step + 1, now, WEBHOOK_RETRYING, why)
        return
    _fail(session, enrollment, workflow, now, why)
    summary.failed += 1
