"""Invoice actions: pay, record an offline payment, void, mark uncollectible. Services never
commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.billing import engine
from cadency.billing.state import adopt_payment_method, options_with_defaults, payment_options
from cadency.invoices.models import Invoice
from cadency.kit import clock, labels
from cadency.kit.errors import Conflict, InvalidRequest, PaymentFailed, not_found
from cadency.kit.repository import get_referenced
from cadency.payments import processor
from cadency.payments.models import NOT_KEPT, Payment, PaymentMethod
from cadency.subscriptions.models import Subscription


def get_invoice(session: Session, account: Account, invoice_id: str) -> Invoice:
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id, Invoice.account_id == account.id)
        .options(selectinload(Invoice.lines))
    )
    if invoice is None:
        raise not_found("invoice", invoice_id)
    return invoice


def _require_open(invoice: Invoice, action: str) -> None:
    if invoice.status != "open":
        raise Conflict(
            "Only an open invoice can be %(action)s; this one is %(status)s",
            action=action,
            status=labels.word(invoice.status, labels.INVOICE_STATUSES),
        )


def _require_nothing_processing(session: Session, invoice: Invoice) -> None:
    if session.scalar(
        select(Payment.id).where(Payment.invoice_id == invoice.id, Payment.status == "processing")
    ):
        raise Conflict("A bank payment for this invoice is still processing")


def pay(
    session: Session, account: Account, invoice_id: str, payment_method_id: str | None
) -> tuple[Invoice, Payment]:
    """Charge an open invoice now, with the given payment method or the one it was billed to."""
    invoice = get_invoice(session, account, invoice_id)
    _require_open(invoice, "paid")
    processor.require_processor(account)
    method_id = payment_method_id or invoice.payment_method_id
    if method_id is None:
        raise InvalidRequest(
            "The invoice has no payment method; send payment_method_id", param="payment_method_id"
        )
    method = get_referenced(
        session, PaymentMethod, account.id, method_id, "payment method", "payment_method_id"
    )
    if invoice.contact_id and method.contact_id != invoice.contact_id:
        raise InvalidRequest(
            "The payment method belongs to another contact than the invoice's",
            param="payment_method_id",
        )
    if not method.reusable:
        raise InvalidRequest(NOT_KEPT, param="payment_method_id")
    return invoice, charge_invoice(session, account, invoice, method)


def charge_invoice(
    session: Session,
    account: Account,
    invoice: Invoice,
    method: PaymentMethod,
    *,
    billing_address: dict[str, Any] | None = None,
    shipping_address: dict[str, Any] | None = None,
) -> Payment:
    """Charge an open invoice with `method` (one the buyer just gave on the hosted page, kept
    or used once); the addresses the page asked are kept on the payment. A failed charge is a
    402 after the attempt is recorded."""
    _require_open(invoice, "paid")
    _require_nothing_processing(session, invoice)
    payment = engine.pay_invoice(session, account, invoice, method, clock.account_now(account))
    payment.billing_address = billing_address
    payment.shipping_address = shipping_address
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    if subscription is not None and payment.status != "failed" and method.reusable:
        # A subscription collecting its payment method on an invoice keeps the one the buyer
        # paid with (a bank debit still processing counts: it was authorised).
        adopt_payment_method(session, account, subscription, method.id)
    if payment.status == "failed":
        raise PaymentFailed(
            "The payment failed: %(failure_reason)s",
            failure_reason=payment.failure_reason,
            param="payment_method_id",
            reason=payment.failure_reason,
        )
    return payment


def payment_options_of(session: Session, invoice: Invoice) -> dict[str, Any]:
    """How the buyer may pay this invoice online: its subscription's options, or the
    defaults for an invoice of no subscription (one-time items, several subscriptions)."""
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    return payment_options(subscription) if subscription else options_with_defaults(None)


def record_offline_payment(
    session: Session,
    account: Account,
    invoice_id: str,
    *,
    reference: str | None,
    paid_at: datetime | None,
) -> tuple[Invoice, Payment]:
    """Record that an open invoice was paid outside the processor (bank transfer, cash,
    cheque) on `paid_at` (default now). No processor is needed: this is how an account
    without one, or a buyer who pays by hand, settles an invoice."""
    invoice = get_invoice(session, account, invoice_id)
    # Held until the commit: a second recording of the same transfer (a double click) waits,
    # then finds the invoice paid (409) instead of failing on the payment's unique key.
    session.refresh(invoice, with_for_update=True)
    _require_open(invoice, "paid")
    now = clock.account_now(account)
    if paid_at is None:
        paid_at = now
    elif paid_at.astimezone(UTC) > now:
        raise InvalidRequest(
            "paid_at must not be in the future (it is %(now)s on the account's clock)",
            now=now.isoformat(),
            param="paid_at",
        )
    _require_nothing_processing(session, invoice)
    payment = engine.record_offline_payment(
        session, account, invoice, reference=reference, paid_at=paid_at.astimezone(UTC), now=now
    )
    return invoice, payment


def void(session: Session, account: Account, invoice_id: str) -> Invoice:
    """Void an open invoice: nothing is owed any more."""
    invoice = get_invoice(session, account, invoice_id)
    _require_open(invoice, "voided")
    now = clock.account_now(account)
    invoice.status = "void"
    invoice.voided_at = now
    invoice.amount_due = 0
    invoice.next_attempt_date = None
    invoice.updated_at = now
    engine.invoice_settled(session, account, invoice, now)
    return invoice


def mark_uncollectible(session: Session, account: Account, invoice_id: str) -> Invoice:
    """Give up collecting an open invoice; it stays owed on paper but is not retried."""
    invoice = get_invoice(session, account, invoice_id)
    _require_open(invoice, "marked uncollectible")
    now = clock.account_now(account)
    invoice.status = "uncollectible"
    invoice.next_attempt_date = None
    invoice.updated_at = now
    engine.invoice_settled(session, account, invoice, now)
    return invoice
