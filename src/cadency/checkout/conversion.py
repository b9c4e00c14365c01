"""Converting a published quote or a deal (SPEC §6 "Convert"). Services never commit.

- Recurring items become subscriptions by the grouping rule, for the quote's or deal's contact
  (and company). Each is created as `POST /subscriptions` creates one: one starting today has its
  first invoice issued (and charged, when charged automatically) at once; one starting later is
  scheduled. One-time items go on the first subscription — the one that starts billing first —
  so they are charged once, on its first invoice.
- Without recurring items the conversion issues one invoice for the one-time items: open,
  billing_reason "manual", sent to be paid (send_invoice), due per `payment_terms`
  (due_on_receipt by default); nothing is charged.
- Collection: charge_automatically with the contact's newest saved payment method when it has
  one, else send_invoice (due_on_receipt). The optional body overrides this.
- A quote is marked accepted. Every source converts once (409 after that): a deal also counts as
  converted once one of its quotes has been accepted, and a quote once its deal was converted.
  Subscriptions (or the invoice) are associated with the quote and deal, label "converted_from".
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import invoicing
from cadency.checkout.models import Conversion
from cadency.checkout.schemas import ConvertRequest
from cadency.checkout.service import (
    Item,
    check_items_current,
    create_subscription,
    group_items,
)
from cadency.crm import service as crm
from cadency.crm.models import Association, Deal, Quote
from cadency.invoices.models import Invoice
from cadency.kit import clock, labels, periods
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.kit.ids import new_id
from cadency.kit.repository import get_owned
from cadency.kit.terms import CollectionMethod
from cadency.payments import processor
from cadency.payments.models import PaymentMethod
from cadency.subscriptions.models import LineItem, Subscription

ASSOCIATION_LABEL = "converted_from"


def convert_quote(
    session: Session, account: Account, quote_id: str, data: ConvertRequest
) -> Conversion:
    """A published quote → subscriptions or an invoice; the quote is then accepted."""
    quote = get_owned(session, Quote, account.id, quote_id, "quote")
    if quote.status != "published":
        raise Conflict(
            "Quote '%(quote_id)s' is %(status)s; only a published quote can be converted",
            quote_id=quote.id,
            status=labels.word(quote.status, labels.QUOTE_STATUSES),
        )
    today = clock.account_today(account)
    if quote.expires_on is not None and quote.expires_on < today:
        raise Conflict(
            "Quote '%(quote_id)s' expired on %(expires_on)s",
            quote_id=quote.id,
            expires_on=quote.expires_on.isoformat(),
        )
    if quote.deal_id is not None:
        _refuse_if_converted(session, account, quote.deal_id, "deal")
    conversion = _convert(
        session,
        account,
        source_type="quote",
        source_id=quote.id,
        rows=crm.quote_line_items(session, [quote.id])[quote.id],
        contact_id=quote.contact_id,
        company_id=quote.company_id,
        currency=quote.currency,
        data=data,
        also_associate=[("deal", quote.deal_id)] if quote.deal_id else [],
    )
    quote.status = "accepted"
    quote.updated_at = clock.account_now(account)
    session.flush()
    return conversion


def convert_deal(
    session: Session, account: Account, deal_id: str, data: ConvertRequest
) -> Conversion:
    """A deal → subscriptions or an invoice, for the deal's contact (required: 409 without)."""
    deal = get_owned(session, Deal, account.id, deal_id, "deal")
    if deal.contact_id is None:
        raise Conflict(
            "Deal '%(deal_id)s' has no contact to bill; create a quote for it with "
            "a contact_id and convert the quote",
            deal_id=deal.id,
        )
    if deal.stage == "closed_lost":
        raise Conflict("Deal '%(deal_id)s' is closed lost", deal_id=deal.id)
    accepted = session.scalar(
        select(Quote.id)
        .where(Quote.account_id == account.id, Quote.deal_id == deal.id, Quote.status == "accepted")
        .limit(1)
    )
    if accepted is not None:
        raise Conflict(
            "Deal '%(deal_id)s' was converted already, through its quote '%(accepted)s'",
            deal_id=deal.id,
            accepted=accepted,
        )
    return _convert(
        session,
        account,
        source_type="deal",
        source_id=deal.id,
        rows=crm.deal_line_items(session, [deal.id])[deal.id],
        contact_id=deal.contact_id,
        company_id=deal.company_id,
        currency=deal.currency,
        data=data,
        also_associate=[],
    )


def _refuse_if_converted(session: Session, account: Account, source_id: str, kind: str) -> None:
    done = session.scalar(
        select(Conversion).where(
            Conversion.account_id == account.id, Conversion.source_id == source_id
        )
    )
    if done is not None:
        made = ", ".join(done.subscription_ids or done.invoice_ids) or "nothing"
        raise Conflict(
            "The %(kind)s '%(source_id)s' was converted already, on %(created_at)s (into %(made)s)",
            kind=labels.word(kind, labels.RECORD_KINDS),
            source_id=source_id,
            created_at=done.created_at.date().isoformat(),
            made=made,
        )


def _convert(
    session: Session,
    account: Account,
    *,
    source_type: str,
    source_id: str,
    rows: Sequence[LineItem],
    contact_id: str,
    company_id: str | None,
    currency: str,
    data: ConvertRequest,
    also_associate: Sequence[tuple[str, str]],
) -> Conversion:
    _refuse_if_converted(session, account, source_id, source_type)
    if not rows:
        raise Conflict(
            "The %(source_type)s '%(source_id)s' has no line items to convert",
            source_type=labels.word(source_type, labels.RECORD_KINDS),
            source_id=source_id,
        )
    now = clock.account_now(account)
    today = clock.account_today(account)
    items = [Item.of(row) for row in rows]
    check_items_current(session, items, today)
    groups, one_time = group_items(items, today)

    conversion = Conversion(
        id=new_id("conv"),
        account_id=account.id,
        source_type=source_type,
        source_id=source_id,
        subscription_ids=[],
        invoice_ids=[],
        invoice_id=None,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(conversion)
            session.flush()
    except IntegrityError:
        raise Conflict(
            "The %(source_type)s '%(source_id)s' is being converted already",
            source_type=labels.word(source_type, labels.RECORD_KINDS),
            source_id=source_id,
        ) from None

    created_ids: list[str]
    if groups:
        collection_method, method_id, terms = _collection(session, account, contact_id, data)
        first = min(groups, key=lambda group: (group.start, group.order))
        created: list[Subscription] = []
        first_subscription: Subscription | None = None
        for group in groups:
            subscription = create_subscription(
                session,
                account,
                group,
                one_time if group is first else [],
                contact_id=contact_id,
                company_id=company_id,
                currency=currency,
                collection_method=collection_method,
                payment_method_id=method_id,
                payment_terms=terms,
                bill_now=True,
                today=today,
            )
            created.append(subscription)
            if group is first:
                first_subscription = subscription
        assert first_subscription is not None
        created_ids = [s.id for s in created]
        conversion.subscription_ids = created_ids
        conversion.invoice_ids = list(
            session.scalars(
                select(Invoice.id)
                .where(Invoice.subscription_id.in_(created_ids))
                .order_by(Invoice.id)
            )
        )
        conversion.invoice_id = session.scalar(
            select(Invoice.id)
            .where(Invoice.subscription_id == first_subscription.id)
            .order_by(Invoice.id)
            .limit(1)
        )
        from_type = "subscription"
    else:
        invoice = _one_time_invoice(session, account, one_time, contact_id, currency, data)
        created_ids = [invoice.id]
        conversion.invoice_ids = [invoice.id]
        conversion.invoice_id = invoice.id
        from_type = "invoice"

    targets = [(source_type, source_id), *also_associate]
    for from_id in created_ids:
        for to_type, to_id in targets:
            session.add(
                Association(
                    account_id=account.id,
                    from_type=from_type,
                    from_id=from_id,
                    to_type=to_type,
                    to_id=to_id,
                    label=ASSOCIATION_LABEL,
                    created_at=now,
                )
            )
    session.flush()
    return conversion


def _collection(
    session: Session, account: Account, contact_id: str, data: ConvertRequest
) -> tuple[str, str | None, str | None]:
    """(collection_method, payment_method_id, payment_terms) of the new subscriptions."""
    method_id = data.payment_method_id
    wants_invoice = data.collection_method == "send_invoice" or (
        data.collection_method is None and data.payment_terms is not None and method_id is None
    )
    if wants_invoice:
        return "send_invoice", method_id, data.payment_terms or "due_on_receipt"
    if processor.processor_for(account) is None:
        # Nothing can be charged: asked for, that is a 409; by default the buyer gets invoices.
        if data.collection_method == "charge_automatically" or method_id is not None:
            processor.require_processor(
                account, param="payment_method_id" if method_id else "collection_method"
            )
        return "send_invoice", None, data.payment_terms or "due_on_receipt"
    if method_id is None:
        method_id = session.scalar(
            select(PaymentMethod.id)
            .where(
                PaymentMethod.account_id == account.id,
                PaymentMethod.contact_id == contact_id,
                PaymentMethod.reusable.is_(True),
            )
            .order_by(PaymentMethod.id.desc())
            .limit(1)
        )
    if method_id is None:
        if data.collection_method == "charge_automatically":
            raise InvalidRequest(
                "The contact has no saved payment method: send payment_method_id, or use "
                "collection_method 'send_invoice'",
                param="payment_method_id",
            )
        return "send_invoice", None, data.payment_terms or "due_on_receipt"
    # payment_terms with charge_automatically: subscriptions.create answers 422 naming it.
    return "charge_automatically", method_id, data.payment_terms


def _one_time_invoice(
    session: Session,
    account: Account,
    items: Sequence[Item],
    contact_id: str,
    currency: str,
    data: ConvertRequest,
) -> Invoice:
    if data.collection_method == "charge_automatically" or data.payment_method_id is not None:
        raise InvalidRequest(
            "Without recurring items the conversion issues one invoice for the buyer to pay "
            "(send_invoice); collect it with POST /invoices/{id}/pay",
            param="collection_method"
            if data.collection_method == "charge_automatically"
            else "payment_method_id",
        )
    now = clock.account_now(account)
    terms = data.payment_terms or "due_on_receipt"
    invoice, _ = invoicing.issue_invoice(
        session,
        account,
        contact_id=contact_id,
        currency=currency,
        charges=[invoicing.Charge(item, None, None) for item in items],
        billing_reason="manual",
        collection_method=CollectionMethod.SEND_INVOICE,
        due_date=periods.add_days(clock.account_today(account), invoicing.terms_days(terms)),
        subscription_id=None,
        period=None,
        payment_method_id=None,
        now=now,
    )
    if invoice.total == 0:
        invoicing.mark_paid(invoice, 0, now)
    invoicing.emit_invoice_created(session, account, invoice)
    return invoice
