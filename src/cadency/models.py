"""Every table, imported in one place so metadata (and Alembic) sees the whole schema."""

from cadency.accounts.models import (
    Account,
    AccountIdCounter,
    ApiKey,
    PasswordReset,
    User,
    UserSession,
)
from cadency.analytics.models import MrrDay, MrrMovement
from cadency.catalog.models import Fee, Product, TaxRate
from cadency.checkout.models import Conversion, PaymentLink, PaymentLinkItem, PaymentLinkPurchase
from cadency.crm.models import Association, Company, Contact, Deal, Quote
from cadency.exports.models import Export
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit.db import Base
from cadency.kit.idempotency import IdempotencyRecord
from cadency.kit.outbox import OutboxMessage
from cadency.kit.signing import InstallationSecret
from cadency.kit.throttle import RateLimitCounter
from cadency.notifications.models import EmailDelivery, MailboxMessage
from cadency.payments.models import (
    Payment,
    PaymentMethod,
    ProcessorSettings,
    Refund,
    StripeEvent,
)
from cadency.plans.models import AccountPlan, Plan, SeatAssignment
from cadency.portal.models import PortalConfiguration
from cadency.properties.models import PropertyDefinition, PropertyValue
from cadency.segments.models import Segment
from cadency.subscriptions.models import LineItem, Subscription, SubscriptionEvent
from cadency.views.models import SavedView
from cadency.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from cadency.workflows.models import Workflow, WorkflowEnrollment

__all__ = [
    "Account",
    "AccountIdCounter",
    "AccountPlan",
    "ApiKey",
    "Association",
    "Base",
    "Company",
    "Contact",
    "Conversion",
    "Deal",
    "EmailDelivery",
    "Event",
    "Export",
    "Fee",
    "IdempotencyRecord",
    "InstallationSecret",
    "Invoice",
    "InvoiceLine",
    "LineItem",
    "MailboxMessage",
    "MrrDay",
    "MrrMovement",
    "OutboxMessage",
    "PasswordReset",
    "Payment",
    "PaymentLink",
    "PaymentLinkItem",
    "PaymentLinkPurchase",
    "PaymentMethod",
    "Plan",
    "PortalConfiguration",
    "ProcessorSettings",
    "Product",
    "PropertyDefinition",
    "PropertyValue",
    "Quote",
    "RateLimitCounter",
    "Refund",
    "SavedView",
    "SeatAssignment",
    "Segment",
    "StripeEvent",
    "Subscription",
    "SubscriptionEvent",
    "TaxRate",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workflow",
    "WorkflowEnrollment",
]
