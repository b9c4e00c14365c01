"""Issuing invoices from a subscription's line items: what the billing engine writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.accounts.service import invoice_defaults
from cadency.billing import payloads
from cadency.billing.state import awaits_payment_method, checkout_fees
from cadency.catalog import taxes
from cadency.catalog.models import Fee
from cadency.catalog.service import fee_amount
from cadency.crm.models import Contact
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit import money, outbox, periods
from cadency.kit.events import EventType
from cadency.kit.ids import new_id
from cadency.subscriptions.models import LineItem, Subscription

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
    """The account's next invoice number (`take_numbers` of one)."""
    return take_numbers(session, account, 1)[0]


def take_numbers(session: Session, account: Account, count: int) -> list[str]:
    """The account's next `count` invoice numbers, consecutive. The account row is locked (on
    PostgreSQL) until the transaction ends, so two workers never hand out the same number and
    numbers have no gaps (a rollback takes the counter back with the invoices). Within one
    transaction the lock is taken once and the counter then counts in memory.

    The lock is FOR NO KEY UPDATE: it excludes another worker's number lock, but not the
    key-share locks PostgreSQL takes on the account for every row inserted (or updated twice)
    that references it. With FOR UPDATE, two workers that both held such a key-share lock
    deadlocked when both asked for the number lock, and every insert of another worker for
    the account waited for the holder's commit.

    Because the lock is held to the commit, a caller that does slow work (charges) takes its
    numbers as late as it can: another worker on the same account waits only from here on."""
    if count <= 0:
        return []
    locked: set[int] = session.info.setdefault("locked_accounts", set())
    if account.id not in locked:
        session.scalar(
            select(Account)
            .where(Account.id == account.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        locked.add(account.id)
    first = account.invoice_sequence + 1
    account.invoice_sequence += count
    prefix = account.invoice_number_prefix
    separator = "" if prefix.endswith("-") else "-"
    return [f"{prefix}{separator}{sequence:06d}" for sequence in range(first, first + count)]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_locks(session: Session) -> None:
    session.info.pop("locked_accounts", None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_locks_of_savepoint(session: Session, previous_transaction: Any) -> None:
    # PostgreSQL releases a row lock taken inside a savepoint that is rolled back to, and the
    # ORM expires what the savepoint changed: forget every lock, so the next number locks and
    # reads the counter again (locking a row this transaction still holds costs one query).
    if previous_transaction.nested:
        session.info.pop("locked_accounts", None)


def buyer_language(
    account: Account, invoice_settings: Mapping[str, Any] | None, contact_language: str | None
) -> str:
    """The language a subscription's buyer reads its invoices and emails in (SPEC §9): the
    subscription's invoice language, else the billing contact's, else the account's."""
    return str((invoice_settings or {}).get("language") or contact_language or account.language)


def invoice_texts(account: Account, given: Mapping[str, Any]) -> dict[str, Any]:
    """The comment and tax IDs of a new invoice or subscription: those `given`, else the
    account's defaults (seed 004: a default comment on every invoice). Only a field left out
    takes the default; one given empty ("", null, []) means none."""
    defaults = invoice_defaults(account)
    comment = given.get("comments", defaults.comment)
    tax_ids = given.get("tax_ids", defaults.tax_ids)
    return {"comments": comment or None, "tax_ids": list(tax_ids or [])}


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
    return taxes.rates(session, (item.tax_rate_id for item in items))


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
                "tax": taxes.line_tax(item.amount, rate),
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


class Sellable(Protocol):
    """What an invoice line is made of: a line item of a subscription, a payment link, a quote
    or a deal, priced in minor units (`amount` after line discounts, before tax)."""

    @property
    def source_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> int: ...
    @property
    def tax_rate_id(self) -> str | None: ...
    @property
    def amount(self) -> int: ...


@dataclass(frozen=True)
class Charge:
    """One invoice line: an item, its period when recurring, the subscription it bills."""

    item: Sellable
    period: tuple[date, date] | None
    subscription_id: str | None


def issue_invoice(
    session: Session,
    account: Account,
    *,
    contact_id: str,
    currency: str,
    charges: Sequence[Charge],
    billing_reason: str,
    collection_method: str,
    due_date: date,
    subscription_id: str | None,
    period: tuple[date, date] | None,
    payment_method_id: str | None,
    now: datetime,
) -> tuple[Invoice, dict[str, int]]:
    """An open invoice of `charges`, and what each subscription's lines add up to (with tax).

    Lines are computed as a period's invoice computes them (`period_invoice_values`)."""
    rates = taxes.rates(session, (c.item.tax_rate_id for c in charges))
    today = periods.local_date(now, account.timezone)
    contact = session.get(Contact, contact_id)
    invoice = Invoice(
        id=new_id("inv"),
        account_id=account.id,
        subscription_id=subscription_id,
        contact_id=contact_id,
        number=next_number(session, account),
        status="open",
        billing_reason=billing_reason,
        collection_method=collection_method,
        currency=currency,
        issue_date=today,
        due_date=due_date,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        # The engine's exactly-once backstop, for the one subscription this invoice belongs to.
        cycle_period_start=period[0] if period and subscription_id else None,
        language=buyer_language(account, None, contact.language if contact else None),
        locale=account.locale,
        # Made by a payment link or a quote, which carry no comment of their own.
        **invoice_texts(account, {}),
        payment_method_id=payment_method_id,
        attempt_count=0,
        fee_total=0,
        amount_paid=0,
        created_at=now,
        updated_at=now,
    )
    lines: list[InvoiceLine] = []
    shares: dict[str, int] = {}
    for position, charge in enumerate(charges):
        item = charge.item
        rate = rates.get(item.tax_rate_id) if item.tax_rate_id else None
        tax = taxes.line_tax(item.amount, rate)
        lines.append(
            InvoiceLine(
                id=new_id("il"),
                invoice_id=invoice.id,
                account_id=account.id,
                position=position,
                description=item.name,
                line_item_id=item.source_id,
                quantity=item.quantity,
                unit_price=item.unit_price,
                discount=item.unit_price * item.quantity - item.amount,
                tax=tax,
                tax_rate_id=item.tax_rate_id,
                amount=item.amount,
                period_start=charge.period[0] if charge.period else None,
                period_end=charge.period[1] if charge.period else None,
            )
        )
        if charge.subscription_id is not None:
            shares[charge.subscription_id] = (
                shares.get(charge.subscription_id, 0) + item.amount + tax
            )
    invoice.lines = lines
    invoice.subtotal = sum(line.unit_price * line.quantity for line in lines)
    invoice.discount_total = sum(line.discount for line in lines)
    invoice.tax_total = sum(line.tax for line in lines)
    invoice.total = (
        invoice.subtotal - invoice.discount_total + invoice.tax_total + invoice.fee_total
    )
    invoice.amount_due = invoice.total
    session.add(invoice)
    return invoice, shares


def emit_invoice_created(session: Session, account: Account, invoice: Invoice) -> None:
    outbox.emit(
        session,
        account_id=account.id,
        type=EventType.INVOICE_CREATED,
        dedup_key=f"invoice.created:{invoice.id}",
        payload={
            "subscription_id": invoice.subscription_id,
            "contact_id": invoice.contact_id,
            "currency": invoice.currency,
            **payloads.invoice_created_message(
                invoice.id,
                invoice.number,
                money.format_amount(invoice.total, invoice.currency),
                invoice.due_date,
                invoice.collection_method,
                invoice.billing_reason,
            ),
        },
        at=invoice.created_at,
        subscription_id=invoice.subscription_id,
    )
