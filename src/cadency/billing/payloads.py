"""The payloads of billing's events, one builder per event type, so that every writer of an
event (the engine, the bulk path, checkout, conversions) gives its readers the same fields."""

from __future__ import annotations

from datetime import date
from typing import Any


def invoice_created_event(
    invoice_id: str, number: str, total: str, start: date | None, end: date | None
) -> dict[str, Any]:
    """The timeline entry of a new invoice."""
    return {
        "invoice_id": invoice_id,
        "number": number,
        "total": total,
        "period_start": start.isoformat() if start else None,
        "period_end": end.isoformat() if end else None,
    }


def invoice_created_message(
    invoice_id: str,
    number: str,
    total: str,
    due_date: date,
    collection_method: str,
    billing_reason: str,
) -> dict[str, Any]:
    """The outbox payload of a new invoice (the "invoice issued" email reads it), besides the
    subscription, contact and currency every subscription event carries."""
    return {
        "invoice_id": invoice_id,
        "number": number,
        "total": total,
        "due_date": due_date.isoformat(),
        "collection_method": collection_method,
        "billing_reason": billing_reason,
    }


def payment_succeeded_event(payment_id: str, invoice_id: str, amount: str) -> dict[str, Any]:
    """The timeline entry of a payment that succeeded (its outbox row adds the receipt's
    invoice number and whether it was the first payment)."""
    return {"payment_id": payment_id, "invoice_id": invoice_id, "amount": amount}
