"""How stored values read on pages, in one place for every page (English; translated where
shown with `page.gettext`). The stored values are the API's; only their labels live here."""

from __future__ import annotations

from collections.abc import Mapping

from cadency.kit.i18n import N_, Label

FREQUENCIES: dict[str, str] = {
    "weekly": N_("Weekly"),
    "biweekly": N_("Every two weeks"),
    "monthly": N_("Monthly"),
    "quarterly": N_("Quarterly"),
    "per_six_months": N_("Every six months"),
    "annually": N_("Annually"),
    "per_two_years": N_("Every two years"),
    "per_three_years": N_("Every three years"),
    "per_four_years": N_("Every four years"),
    "per_five_years": N_("Every five years"),
}
ONE_TIME = N_("One-time")
BILLING_TERMS = {"auto_renew": N_("Renews automatically"), "fixed": N_("Fixed term")}
COLLECTION_METHODS = {
    "charge_automatically": N_("Charge automatically"),
    "send_invoice": N_("Send invoice"),
}
PAYMENT_TYPES = {"card": N_("Card"), "bank_debit": N_("Bank debit")}
PAYMENT_TERMS = {
    "due_on_receipt": N_("Due on receipt"),
    "net_15": N_("Net 15 days"),
    "net_30": N_("Net 30 days"),
    "net_45": N_("Net 45 days"),
    "net_60": N_("Net 60 days"),
    "net_90": N_("Net 90 days"),
}
# A subscription's badge (SPEC §4): "Canceling" while a cancellation is scheduled, "Past due"
# for unpaid (subscriptions.display picks the badge of a subscription).
SUBSCRIPTION_STATUSES = {
    "active": N_("Active"),
    "trialing": N_("Trial"),
    "canceling": N_("Canceling"),
    "unpaid": N_("Past due"),
    "paused": N_("Paused"),
    "scheduled": N_("Scheduled"),
    "canceled": N_("Canceled"),
    "expired": N_("Expired"),
}
INVOICE_STATUSES = {
    "draft": N_("Draft"),
    "open": N_("Open"),
    "paid": N_("Paid"),
    "void": N_("Void"),
    "uncollectible": N_("Uncollectible"),
}
QUOTE_STATUSES = {
    "draft": N_("Draft"),
    "published": N_("Published"),
    "accepted": N_("Accepted"),
}
PAYMENT_STATUSES = {
    "processing": N_("Processing"),
    "requires_action": N_("Awaiting the customer's confirmation"),
    "succeeded": N_("Succeeded"),
    "failed": N_("Failed"),
    "refunded": N_("Refunded"),
    "partially_refunded": N_("Partially refunded"),
}
FAILURE_REASONS = {
    "card_declined": N_("Card declined"),
    "insufficient_funds": N_("Insufficient funds"),
    "bank_account_debit_failed": N_("Bank debit failed"),
    "authentication_required": N_("The customer's bank asks them to confirm the payment"),
    "payment_processor_not_configured": N_("No payment processor configured"),
}
CANCELLATION_REASONS = {
    "too_expensive": N_("Too expensive"),
    "missing_features": N_("Missing features"),
    "switched_service": N_("Switched to another service"),
    "unused": N_("Not using it"),
    "customer_service": N_("Customer service"),
    "too_complex": N_("Too complex"),
    "low_quality": N_("Low quality"),
    "other": N_("Other"),
}


# What a refusal calls a record it cannot find ("No such %(kind)s: …"), in a sentence.
RECORD_KINDS = {
    "subscription": N_("subscription"),
    "contact": N_("contact"),
    "company": N_("company"),
    "deal": N_("deal"),
    "quote": N_("quote"),
    "product": N_("product"),
    "payment": N_("payment"),
    "payment link": N_("payment link"),
    "payment method": N_("payment method"),
    "invoice": N_("invoice"),
    "fee": N_("fee"),
    "tax rate": N_("tax rate"),
    "view": N_("view"),
    "segment": N_("segment"),
    "workflow": N_("workflow"),
    "webhook endpoint": N_("webhook endpoint"),
    "webhook delivery": N_("webhook delivery"),
    "export": N_("export"),
    "event": N_("event"),
    "user": N_("user"),
}


def word(value: str, labels: Mapping[str, str]) -> str:
    """A stored value inside a refusal's sentence: the value itself in the API's English
    ("A canceled subscription …"), its label where a page translates it ("Geannuleerd")."""
    label = labels.get(value)
    return Label(value, label) if label else value


def frequency(value: str | None) -> str:
    """The label of a billing frequency; no frequency is a one-time item."""
    return FREQUENCIES.get(value, value) if value else ONE_TIME


# A plan change's proration lines, as stored on the invoice (English); the invoice document
# shows them in the buyer's language (invoices.documents.line_description).
UNUSED_TIME = "Unused time on %(items)s"
REMAINING_TIME = "Remaining time on %(items)s"
