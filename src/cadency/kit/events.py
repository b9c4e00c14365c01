"""The one catalogue of event types: what a subscription's timeline records and what the outbox
carries to emails (and later webhooks and workflows). A type is used as `EventType.X`, never as a
bare string, so mypy catches a misspelled one; being a `str`, a member is stored and compared as
its value."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # A subscription's life.
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    # Every change of status, whoever caused it (billing.ledger.transition): from, to, reason.
    SUBSCRIPTION_STATUS_CHANGED = "subscription.status_changed"
    SUBSCRIPTION_PAUSED = "subscription.paused"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    SUBSCRIPTION_CANCELLATION_SCHEDULED = "subscription.cancellation_scheduled"
    SUBSCRIPTION_REACTIVATED = "subscription.reactivated"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    SUBSCRIPTION_EXPIRED = "subscription.expired"
    SUBSCRIPTION_PLAN_CHANGED = "subscription.plan_changed"
    SUBSCRIPTION_PLAN_CHANGE_SCHEDULED = "subscription.plan_change_scheduled"
    SUBSCRIPTION_DOWNGRADED = "subscription.downgraded"
    # Notices to the buyer.
    SUBSCRIPTION_RENEWAL_REMINDER = "subscription.renewal_reminder"
    SUBSCRIPTION_TRIAL_WILL_END = "subscription.trial_will_end"
    SUBSCRIPTION_NON_RENEWAL_NOTICE = "subscription.non_renewal_notice"
    SUBSCRIPTION_PAYMENT_METHOD_UPDATE_REQUESTED = "subscription.payment_method_update_requested"
    # Money.
    INVOICE_CREATED = "invoice.created"
    INVOICE_OVERDUE = "invoice.overdue"
    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    # The buyer must authenticate a charge (3-D Secure) on the hosted invoice page.
    PAYMENT_ACTION_REQUIRED = "payment.action_required"
    PAYMENT_REFUNDED = "payment.refunded"
    DUNNING_EXHAUSTED = "dunning.exhausted"
    # The account's users.
    USER_PASSWORD_RESET_REQUESTED = "user.password_reset_requested"
    # An export's file is built; its requester is emailed the download link.
    EXPORT_SUCCEEDED = "export.succeeded"
    # Sent to a webhook endpoint on request, to try it; never written to the outbox.
    PING = "ping"
    # Every delivery to an endpoint failed for three days, so it was disabled; the account's
    # super admins are emailed.
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    # Workflows: a record enrolled in one, and each step it took (on the subscription's
    # timeline); the emails of their actions (through the outbox, sent by notifications).
    WORKFLOW_ENROLLED = "workflow.enrolled"
    WORKFLOW_STEP = "workflow.step"
    WORKFLOW_EMAIL = "workflow.email"
    WORKFLOW_INTERNAL_EMAIL = "workflow.internal_email"


# A subscription's own changes, recorded on its timeline (billing.state.record_event), which
# also puts them in the outbox so webhooks and workflows hear of them. The other types are
# emitted to the outbox where they happen, with payloads of their own.
SUBSCRIPTION_CHANGES: frozenset[str] = frozenset(
    {
        EventType.SUBSCRIPTION_CREATED,
        EventType.SUBSCRIPTION_UPDATED,
        EventType.SUBSCRIPTION_PAUSED,
        EventType.SUBSCRIPTION_RESUMED,
        EventType.SUBSCRIPTION_CANCELLATION_SCHEDULED,
        EventType.SUBSCRIPTION_REACTIVATED,
        EventType.SUBSCRIPTION_PLAN_CHANGED,
        EventType.SUBSCRIPTION_PLAN_CHANGE_SCHEDULED,
    }
)

# What workflow triggers hear (workflows.runner.TRIGGER_TYPES). Every other message is written
# already read by workflows (kit.outbox.emit, billing.bulk), so a billing day's invoices and
# receipts cost the workflow lane nothing to pass over.
WORKFLOW_TRIGGER_EVENTS: frozenset[str] = frozenset(
    {
        EventType.SUBSCRIPTION_CREATED,
        EventType.SUBSCRIPTION_STATUS_CHANGED,
        EventType.SUBSCRIPTION_UPDATED,
        EventType.PAYMENT_FAILED,
        EventType.SUBSCRIPTION_CANCELED,
    }
)

# What integrations may see: these types become public events (`GET /events`, webhooks). The
# rest stay internal (a password reset carries its link).
PUBLIC_EVENT_TYPES: frozenset[str] = frozenset(EventType) - {
    EventType.USER_PASSWORD_RESET_REQUESTED,
    EventType.WEBHOOK_ENDPOINT_DISABLED,
    EventType.WORKFLOW_ENROLLED,
    EventType.WORKFLOW_STEP,
    EventType.WORKFLOW_EMAIL,
    EventType.WORKFLOW_INTERNAL_EMAIL,
}
