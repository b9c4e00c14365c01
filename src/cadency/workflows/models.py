"""Workflows and their enrollments.

A workflow is a trigger, optional enrollment criteria and an ordered list of actions. An
enrollment is one record going through one workflow: the step it is at, when that step is due
(by the account's clock) and what each step did. The unique key (workflow, record, trigger) is
what makes a trigger enroll a record once, however often the trigger is read again; a step runs
in the same transaction that moves the enrollment past it, so it runs once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class Workflow(Base):
    __tablename__ = "workflows"
    __table_args__ = (Index("ix_workflows_account_enabled", "account_id", "enabled"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # wf_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(24))  # subscriptions
    enabled: Mapped[bool]
    # {type, status?, property?, days?}
    trigger: Mapped[dict[str, Any]]
    # [{filters: [...]}, ...] in the filter language; empty: every record the trigger names.
    criteria: Mapped[list[Any]]
    re_enroll: Mapped[bool]
    actions: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WorkflowEnrollment(Base):
    __tablename__ = "workflow_enrollments"
    __table_args__ = (
        # Once per trigger occurrence: "once" when re-enrollment is off, else the triggering
        # event's ID (or the payment date, for "payment due in N days").
        UniqueConstraint("workflow_id", "record_id", "trigger_key"),
        Index("ix_workflow_enrollments_due", "status", "next_run_at"),
        Index("ix_workflow_enrollments_workflow_created_id", "workflow_id", "created_at", "id"),
        Index("ix_workflow_enrollments_record", "record_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # wfe_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    record_id: Mapped[str] = mapped_column(String(40))
    trigger_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # active | completed | failed
    step: Mapped[int] = mapped_column(default=0)  # the index of the next action
    # When the next action is due (account clock); None once the enrollment has ended.
    next_run_at: Mapped[datetime | None]
    # Attempts made at the current step (a webhook action is tried again on failure).
    attempt: Mapped[int] = mapped_column(default=0)
    # Held by a runner until then, so two workers never run the same step.
    lease_until: Mapped[datetime | None]
    # [{step, at, outcome}]: what each step did, in order.
    history: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
