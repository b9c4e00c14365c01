"""Shapes of workflows in the API (API.md "Workflows"): what a user saves and what comes back,
and the enrollments of records in them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr
from pydantic.json_schema import SkipJsonSchema

from cadency.kit.filters import FilterGroups
from cadency.kit.schemas import MultiLineText, OutputModel, SingleLineText, StrictModel
from cadency.workflows.models import Workflow, WorkflowEnrollment

MAX_NAME = 100
MAX_ACTIONS = 30
MAX_SUBJECT = 200
MAX_BODY = 10_000
MAX_DAYS = 365
MAX_RECIPIENTS = 20

TriggerType = Literal[
    "subscription.created",
    "subscription.status_changed",
    "property_changed",
    "payment_due_in",
    "payment.failed",
    "subscription.canceled",
]
# Longer than allowed: the service trims spaces first and names the field in its own words.
Name = Annotated[SingleLineText, Field(max_length=MAX_NAME + 50)]
Days = Annotated[StrictInt, Field(ge=0, le=MAX_DAYS)]
Subject = Annotated[SingleLineText, Field(min_length=1, max_length=MAX_SUBJECT)]
Body = Annotated[MultiLineText, Field(min_length=1, max_length=MAX_BODY)]


class Trigger(StrictModel):
    type: TriggerType
    # subscription.status_changed: the status changed to
    status: Annotated[StrictStr, Field(max_length=32)] | None = None
    # property_changed: the property (a custom property or an editable field)
    property: Annotated[StrictStr, Field(max_length=100)] | None = None
    # payment_due_in: the number of days before the next payment date
    days: Days | None = None


class Criteria(StrictModel):
    filter_groups: FilterGroups = []


class DelayAction(StrictModel):
    type: Literal["delay"]
    days: Annotated[StrictInt, Field(ge=1, le=MAX_DAYS)]


class SetPropertyAction(StrictModel):
    type: Literal["set_property"]
    property: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    value: StrictStr | StrictInt | StrictBool | list[StrictStr] | None


Recipients = (
    Literal["super_admins", "owner"]
    | Annotated[
        list[Annotated[StrictStr, Field(max_length=254)]],
        Field(min_length=1, max_length=MAX_RECIPIENTS),
    ]
)


class InternalEmailAction(StrictModel):
    type: Literal["send_internal_email"]
    to: Recipients
    subject: Subject
    body: Body


class EmailAction(StrictModel):
    type: Literal["send_email"]
    subject: Subject
    body: Body


class WebhookAction(StrictModel):
    type: Literal["webhook"]
    url: Annotated[StrictStr, Field(min_length=1, max_length=2048)]


# A plain union (each action's `type` is a literal, so one member matches): schemathesis
# cannot generate a non-empty list of a tagged union next to the criteria's filter groups.
Action = DelayAction | SetPropertyAction | InternalEmailAction | EmailAction | WebhookAction
Actions = Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)]


class WorkflowCreate(StrictModel):
    name: Name
    object_type: Literal["subscriptions"] = "subscriptions"
    enabled: StrictBool = False
    trigger: Trigger
    criteria: Criteria | None = None
    re_enroll: StrictBool = False
    actions: Actions


class WorkflowUpdate(StrictModel):
    """Changes to a workflow; fields left out stay as they are."""

    name: Name | None = None
    enabled: StrictBool | None = None
    trigger: Trigger | None = None
    criteria: Criteria | None = None
    re_enroll: StrictBool | None = None
    # Never null (the service says so); kept out of the schema as null, which test generators
    # cannot combine with a non-empty list of tagged unions.
    actions: Actions | SkipJsonSchema[None] = None


class EnrollmentCounts(OutputModel):
    active: int
    completed: int
    failed: int


class WorkflowOut(OutputModel):
    id: str
    object: Literal["workflow"] = "workflow"
    name: str
    object_type: Literal["subscriptions"]
    enabled: bool
    trigger: dict[str, Any]
    criteria: dict[str, Any] | None
    re_enroll: bool
    actions: list[dict[str, Any]]
    # The secret a webhook action signs with (Standard Webhooks); only when it has one.
    webhook_secret: str | None = None
    enrollments: EnrollmentCounts
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, workflow: Workflow, counts: dict[str, int], webhook_secret: str | None
    ) -> WorkflowOut:
        return cls(
            id=workflow.id,
            name=workflow.name,
            object_type="subscriptions",
            enabled=workflow.enabled,
            trigger=dict(workflow.trigger),
            criteria={"filter_groups": list(workflow.criteria)} if workflow.criteria else None,
            re_enroll=workflow.re_enroll,
            actions=list(workflow.actions),
            webhook_secret=webhook_secret,
            enrollments=EnrollmentCounts(
                active=counts.get("active", 0),
                completed=counts.get("completed", 0),
                failed=counts.get("failed", 0),
            ),
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
        )


class HistoryEntry(OutputModel):
    # 0 for the enrollment itself, then the number of the action (1 for the first).
    step: int
    at: datetime
    # enrolled | waited | property_set | email_queued | internal_email_queued | webhook_sent |
    # webhook_retrying | failed | completed
    outcome: str
    # What it did or why it failed (a recipient, a value, the reason).
    detail: str | None = None


class EnrollmentOut(OutputModel):
    id: str
    object: Literal["workflow_enrollment"] = "workflow_enrollment"
    workflow_id: str
    record_id: str
    status: Literal["active", "completed", "failed"]
    step: int
    next_run_at: datetime | None
    history: list[HistoryEntry]
    created_at: datetime

    @classmethod
    def of(cls, enrollment: WorkflowEnrollment) -> EnrollmentOut:
        status = enrollment.status
        assert status in ("active", "completed", "failed")
        return cls(
            id=enrollment.id,
            workflow_id=enrollment.workflow_id,
            record_id=enrollment.record_id,
            status=status,
            step=enrollment.step,
            next_run_at=enrollment.next_run_at,
            history=[HistoryEntry.model_validate(entry) for entry in enrollment.history or []],
            created_at=enrollment.created_at,
        )
