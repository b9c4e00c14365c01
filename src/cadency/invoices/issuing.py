"""Issuing invoices from a subscription's line items: what the billing engine writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.catalog.models import Fee, TaxRate
from cadency.catalog.service import fee_amount
from cadency.crm.models import Contact
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit import money, periods
from cadency.kit.ids import new_id
from cadency.subscriptions.models import LineItem, Subscription
from cadency.subscriptions.state import awaits_payment_method, checkout_fees

PAYMENT_TERMS_DAYS = {"due_on_receipt": 0}


def terms_days(payment_terms: str | None) -> int:
    """Days from issue to due date: `net_30` → 30; due on receipt (or none) → 0."""
    if not payment_terms or payment_terms == "due_on_receipt":
        return 0
    return int(payment_terms.removeprefix("net_"))


def collection_method(subscription: Subscription) -> str:
    """How a new invoice of the subscription is collected. One that collects its payment
    method on an invoice and has none yet has nothing to charge: the invoice is sent to the
    buyer (emailed with the link to its hosted page, due after the payment terms) instead."""
    if awaits_payment_method(subscription):
        return "send_invoice"
    return subscription.collection_method


def next_number(session: Session, account: Account) -> str:
    """The account's next invoice number. The account row is locked (on PostgreSQL) until the
    transaction ends, so two workers never hand out the same number; numbers have no gaps.
    Within one transaction the lock is taken once and the counter then counts in memory."""
    locked: set[int] = session.info.setdefault("locked_accounts", set())
    if account.id not in locked:
        session.scalar(
            select(Account)
            .where(Account.id == account.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        locked.add(account.id)
    account.invoice_sequence += 1
    prefix = account.invoice_number_prefix
    separator = "" if prefix.endswith("-") else "-"
    return f"{prefix}{separator}{account.invoice_sequence:06d}"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_locks(session: Session) -> None:
    session.info.pop("locked_accounts", None)


def buyer_language(
    account: Account, invoice_settings: Mapping[str, Any] | None, contact_language: str | None
) -> str:
    """The language a subscription's buyer reads its invoices and emails in (SPEC §9): the
    subscription's invoice language, else the billing contact's, else the account's."""
    return str((invoice_settings or {}).get("language") or contact_language or account.language)


def contact_language(session: Session, subscription: Subscription) -> str | None:
    """The billing contact's language, read only when the subscription names none."""
    if (subscription.invoice_settings or {}).get("language") or not subscription.contact_id:
        return None
    contact = session.get(Contact, subscription.contact_id)
    return contact.language if contact else None


def contact_languages(session: Session, subscriptions: Sequence[Subscription]) -> dict[str, str]:
    """`contact_language` for many subscriptions in one query: contact ID → language."""
    ids = {
        s.contact_id
        for s in subscriptions
        if s.contact_id and not (s.invoice_settings or {}).get("language")
    }
    if not ids:
        return {}
    query = select(Contact.id, Contact.language).where(
        Contact.id.in_(ids), Contact.language.is_not(None)
    )
    return {contact_id: str(language) for contact_id, language in session.execute(query)}


@dataclass(frozen=True)
class Period:
    start: date
    end: date


def tax_rates(session: Session, items: Sequence[LineItem]) -> dict[str, Decimal]:
    ids = {item.tax_rate_id for item in items if item.tax_rate_id}
    if not ids:
        return {}
    query = select(TaxRate.id, TaxRate.percentage).where(TaxRate.id.in_(ids))
    return {rate_id: percentage for rate_id, percentage in session.execute(query)}


def period_invoice_values(
    account: Account,
    subscription: Subscription,
    period: Period,
    *,
    first: bool,
    now: datetime,
    number: str,
    rates: dict[str, Decimal],
    fees: Sequence[Fee] = (),
    contact_language: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The column values of one period's regular invoice and of its lines: recurring items,
    plus one-time items on the first invoice. Lines are copies: later edits of the subscription
    do not change them."""
    items = [item for item in subscription.line_items if item.billing_frequency or first]
    today = periods.local_date(now, account.timezone)
    settings = subscription.invoice_settings or {}
    invoice_id = new_id("inv")
    lines: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        rate = rates.get(item.tax_rate_id) if item.tax_rate_id else None
        recurring = item.billing_frequency is not None
        lines.append(
            {
                "id": new_id("il"),
                "invoice_id": invoice_id,
                "account_id": account.id,
                "position": position,
                "description": item.name,
                "line_item_id": item.id,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "discount": item.unit_price * item.quantity - item.amount,
                "tax": money.percent_of(item.amount, rate) if rate else 0,
                "tax_rate_id": item.tax_rate_id,
                "amount": item.amount,
                "period_start": period.start if recurring else None,
                "period_end": period.end if recurring else None,
            }
        )
    subtotal = sum(line["unit_price"] * line["quantity"] for line in lines)
    discount_total = sum(line["discount"] for line in lines)
    tax_total = sum(line["tax"] for line in lines)
    before_fees = subtotal - discount_total + tax_total
    fee_total = 0
    # Fees apply to what is due at checkout only: the first invoice (SPEC §4).
    for fee in fees if first else ():
        amount = fee_amount(fee, before_fees)
        fee_total += amount
        lines.append(
            {
                "id": new_id("il"),
                "invoice_id": invoice_id,
                "account_id": account.id,
                "position": len(lines),
                "description": fee.name,
                "line_item_id": None,
                "quantity": 1,
                "unit_price": amount,
                "discount": 0,
                "tax": 0,
                "tax_rate_id": None,
                "amount": amount,
                "period_start": None,
                "period_end": None,
            }
        )
    total = before_fees + fee_total
    invoice = {
        "id": invoice_id,
        "account_id": account.id,
        "subscription_id": subscription.id,
        "contact_id": subscription.contact_id,
        "number": number,
        "status": "open",
        "billing_reason": "subscription_create" if first else "subscription_cycle",
        "collection_method": collection_method(subscription),
        "currency": subscription.currency,
        "issue_date": today,
        "due_date": periods.add_days(today, terms_days(subscription.payment_terms)),
        "period_start": period.start,
        "period_end": period.end,
        "cycle_period_start": period.start,
        "subtotal": subtotal,
        "discount_total": discount_total,
        "tax_total": tax_total,
        "fee_total": fee_total,
        "total": total,
        "amount_paid": 0,
        "amount_due": total,
        "language": buyer_language(account, settings, contact_language),
        "locale": settings.get("locale") or account.locale,
        "comments": settings.get("comments"),
        "tax_ids": list(settings.get("tax_ids") or []),
        "payment_method_id": subscription.payment_method_id,
        "attempt_count": 0,
        "next_attempt_date": None,
        "paid_at": None,
        "voided_at": None,
        "created_at": now,
        "updated_at": now,
    }
    return invoice, lines


def issue_for_period(
    session: Session,
    account: Account,
    subscription: Subscription,
    period: Period,
    *,
    first: bool,
    now: datetime,
) -> Invoice:
    """Issue (add to the session) the regular invoice of one period."""
    items = [item for item in subscription.line_items if item.billing_frequency or first]
    values, lines = period_invoice_values(
        account,
        subscription,
        period,
        first=first,
        now=now,
        number=next_number(session, account),
        rates=tax_rates(session, items),
        fees=checkout_fees(session, subscription) if first else (),
        contact_language=contact_language(session, subscription),
    )
    invoice = Invoice(**values)
    invoice.lines = [InvoiceLine(**line) for line in lines]
    session.add(invoice)
    return invoice


def mark_paid(invoice: Invoice, amount: int, now: datetime) -> None:
    invoice.amount_paid += amount
    invoice.amount_due = max(0, invoice.total - invoice.amount_paid)
    if invoice.amount_due == 0:
        invoice.status = "paid"
        invoice.paid_at = now
        invoice.next_attempt_date = None
    invoice.updated_at = now


def issue_adjustment(
    session: Session,
    account: Account,
    subscription: Subscription,
    lines: Sequence[tuple[str, int]],
    *,
    period: Period,
    now: datetime,
    reason: str,
) -> Invoice:
    """An invoice outside the regular cycle (a mid-period plan change): `lines` are
    (description, amount) pairs in minor units, tax included, negative for credits."""
    today = periods.local_date(now, account.timezone)
    settings = subscription.invoice_settings or {}
    invoice = Invoice(
        id=new_id("inv"),
        account_id=account.id,
        subscription_id=subscription.id,
        contact_id=subscription.contact_id,
        number=next_number(session, account),
        status="open",
        billing_reason=reason,
        collection_method=collection_method(subscription),
        currency=subscription.currency,
        issue_date=today,
        due_date=periods.add_days(today, terms_days(subscription.payment_terms)),
        period_start=period.start,
        period_end=period.end,
        cycle_period_start=None,
        language=buyer_language(account, settings, contact_language(session, subscription)),
        locale=settings.get("locale") or account.locale,
        comments=settings.get("comments"),
        tax_ids=list(settings.get("tax_ids") or []),
        payment_method_id=subscription.payment_method_id,
        attempt_count=0,
        fee_total=0,
        discount_total=0,
        tax_total=0,
        amount_paid=0,
        created_at=now,
        updated_at=now,
    )
    invoice.lines = [
        InvoiceLine(
            id=new_id("il"),
            invoice_id=invoice.id,
            account_id=account.id,
            position=position,
            description=description,
            line_item_id=None,
            quantity=1,
            unit_price=amount,
            discount=0,
            tax=0,
            tax_rate_id=None,
            amount=amount,
            period_start=period.start,
            period_end=period.end,
        )
        for position, (description, amount) in enumerate(lines)
    ]
    invoice.subtotal = sum(amount for _, amount in lines)
    invoice.total = invoice.subtotal
    invoice.amount_due = invoice.total
    session.add(invoice)
    return invoice
