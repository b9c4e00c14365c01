"""Saving payment methods on contacts through the processor that serves the account (the
built-in sandbox for test-mode accounts, or Stripe), and refunding payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.crm.models import Contact
from cadency.kit import clock, labels, money, outbox
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.kit.events import EventType
from cadency.kit.i18n import N_, Message
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.payments import processor
from cadency.payments.adapter import Tokenised
from cadency.payments.models import Payment, PaymentMethod, Refund
from cadency.payments.schemas import PaymentMethodCreate
from cadency.subscriptions.models import Subscription


def tokenise(
    account: Account, data: PaymentMethodCreate, *, contact_id: str | None = None
) -> Tokenised:
    """Hand the details to the processor; only its token and display details come back.

    422 names the bad field (`card.number`, …) without echoing it; a decline is a 402 `payment`
    error; an account no processor serves gets a 409 naming the missing setup. Reusable wherever
    a buyer enters a payment method (payment links, the portal). With Stripe the method is
    attached to the contact's Stripe customer (`contact_id`; a new customer when the buyer is
    not known yet).
    """
    return processor.tokenise(account, data, contact_id=contact_id)


def payment_method_from(
    account: Account, contact_id: str, tokenised: Tokenised, now: datetime
) -> PaymentMethod:
    """The saved form of tokenised details (not yet added to the session)."""
    return PaymentMethod(
        id=new_id("pm"),
        account_id=account.id,
        contact_id=contact_id,
        type=tokenised.type,
        brand=tokenised.brand,
        last4=tokenised.last4,
        exp_month=tokenised.exp_month,
        exp_year=tokenised.exp_year,
        processor=tokenised.processor,
        processor_token=tokenised.token,
        processor_customer=tokenised.customer,
        created_at=now,
    )


def attach_payment_method(
    session: Session,
    account: Account,
    contact_id: str,
    data: PaymentMethodCreate,
    *,
    reusable: bool = True,
) -> PaymentMethod:
    """Tokenise the details and save the payment method on the account's contact (404 for a
    contact of another account). Not `reusable`: the buyer gave it for one payment only."""
    contact = get_owned(session, Contact, account.id, contact_id, "contact")
    method = payment_method_from(
        account,
        contact.id,
        tokenise(account, data, contact_id=contact.id),
        clock.account_now(account),
    )
    method.reusable = reusable
    session.add(method)
    session.flush()
    return method


def get_payment_method(session: Session, account: Account, payment_method_id: str) -> PaymentMethod:
    return get_owned(session, PaymentMethod, account.id, payment_method_id, "payment method")


def list_payment_methods(
    session: Session, account: Account, contact_id: str, *, limit: int, cursor: str | None
) -> tuple[Sequence[PaymentMethod], bool, str | None]:
    """The contact's saved payment methods, newest first (404 for another account's contact)."""
    contact = get_owned(session, Contact, account.id, contact_id, "contact")
    query = select(PaymentMethod).where(
        PaymentMethod.account_id == account.id,
        PaymentMethod.contact_id == contact.id,
        PaymentMethod.reusable.is_(True),
    )
    return paginate(session, query, PaymentMethod.id, limit=limit, cursor=cursor)


def still_processing(payment: Payment) -> Message:
    """Why a processing payment cannot be refunded yet: every refund path says it this way."""
    return Message(
        N_(
            "Payment %(payment_id)s is still processing (a bank debit settles after a few days) "
            "and can be refunded once it has succeeded"
        ),
        payment_id=payment.id,
    )


def refund_payment(
    session: Session,
    account: Account,
    payment: Payment,
    amount: int,
    *,
    reason: str | None,
    made_by_processor: str | None = None,
) -> Refund:
    """Refund `amount` minor units of a succeeded payment (all that is left, at most).

    `made_by_processor`: the processor's reference of a refund it already made (in its own
    dashboard, told by its webhook); it is recorded the same way, without asking for another."""
    if not session.is_modified(payment) and payment in session:
        # One refund of a payment at a time: the processor's webhook telling of this refund
        # waits for this transaction, then finds the refund recorded (PostgreSQL row lock).
        session.refresh(
            payment, attribute_names=["status", "refunded_amount"], with_for_update=True
        )
    if payment.status == "processing":
        raise Conflict(still_processing(payment))
    if payment.status not in ("succeeded", "partially_refunded"):
        raise Conflict(
            "Only a succeeded payment can be refunded; this one is %(status)s",
            status=labels.word(payment.status, labels.PAYMENT_STATUSES),
        )
    refundable = payment.amount - payment.refunded_amount
    if amount <= 0 or amount > refundable:
        raise InvalidRequest(
            "The refund must be more than 0 and at most %(amount)s %(currency)s",
            amount=money.format_amount(refundable, payment.currency),
            currency=payment.currency,
            param="amount",
        )
    now = clock.account_now(account)
    refund = Refund(
        id=new_id("re"),
        account_id=account.id,
        payment_id=payment.id,
        amount=amount,
        reason=reason,
        processor_reference=made_by_processor
        or processor.refund(
            account,
            payment.processor,
            payment.processor_reference or payment.id,
            amount,
            f"{payment.refunded_amount}",
        ),
        created_at=now,
    )
    session.add(refund)
    payment.refunded_amount += amount
    payment.status = (
        "refunded" if payment.refunded_amount == payment.amount else "partially_refunded"
    )
    payment.updated_at = now
    if payment.subscription_id:
        subscription = session.get(Subscription, payment.subscription_id)
        if subscription is not None:
            subscription.total_collected -= amount
    outbox.emit(
        session,
        account_id=account.id,
        type=EventType.PAYMENT_REFUNDED,
        dedup_key=f"payment.refunded:{refund.id}",
        payload={
            "payment_id": payment.id,
            "refund_id": refund.id,
            "invoice_id": payment.invoice_id,
            "contact_id": payment.contact_id,
            "subscription_id": payment.subscription_id,
            "amount": money.format_amount(amount, payment.currency),
            "currency": payment.currency,
        },
        at=now,
        subscription_id=payment.subscription_id,
    )
    session.flush()
    return refund


# The statuses a payment can have: the ones kit.labels names, in its order.
PAYMENT_STATUSES = tuple(labels.PAYMENT_STATUSES)


def list_payments(
    session: Session,
    account: Account,
    *,
    subscription_id: str | None = None,
    invoice_id: str | None = None,
    status: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Payment], bool, str | None]:
    """The account's payments, newest first (GET /payments and the Payments page)."""
    query = select(Payment).where(Payment.account_id == account.id)
    if subscription_id:
        query = query.where(Payment.subscription_id == subscription_id)
    if invoice_id:
        query = query.where(Payment.invoice_id == invoice_id)
    if status:
        if status not in PAYMENT_STATUSES:
            raise InvalidRequest(
                "Invalid value for 'status': one of %(payment_statuses)s",
                payment_statuses=", ".join(PAYMENT_STATUSES),
                param="status",
            )
        query = query.where(Payment.status == status)
    return paginate(session, query, Payment.id, limit=limit, cursor=cursor)


def refunds_of(session: Session, payment: Payment) -> list[Refund]:
    """A payment's refunds, oldest first."""
    return list(
        session.scalars(
            select(Refund)
            .where(Refund.account_id == payment.account_id, Refund.payment_id == payment.id)
            .order_by(Refund.created_at, Refund.id)
        )
    )


def refund(session: Session, account: Account, payment_id: str, amount: str | None) -> Payment:
    """POST /payments/{id}/refund: a partial refund, or everything not yet refunded."""
    payment = get_owned(session, Payment, account.id, payment_id, "payment")
    if amount is None:
        minor = payment.amount - payment.refunded_amount
    else:
        try:
            minor = money.parse_amount(amount, payment.currency)
        except money.MoneyError as exc:
            raise InvalidRequest(
                "Invalid value for 'amount': %(problem)s", problem=exc, param="amount"
            ) from exc
    refund_payment(session, account, payment, minor, reason="requested_by_customer")
    return payment
