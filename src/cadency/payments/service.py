"""Saving payment methods on contacts through the processor (the built-in sandbox)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.crm.models import Contact
from cadency.kit import clock
from cadency.kit.errors import InvalidRequest, PaymentFailed
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.payments import sandbox
from cadency.payments.models import PaymentMethod
from cadency.payments.schemas import PaymentMethodCreate


def tokenise(account: Account, data: PaymentMethodCreate) -> sandbox.Tokenised:
    """Hand the details to the processor; only its token and display details come back.

    422 names the bad field (`card.number`, …) without echoing it; a decline is a 402 `payment`
    error. Reusable wherever a buyer enters a payment method (payment links, the portal).
    """
    other = "bank_debit" if data.type == "card" else "card"
    if getattr(data, other) is not None:
        raise InvalidRequest(f"A '{data.type}' payment method has no '{other}'", param=other)
    try:
        if data.type == "card":
            if data.card is None:
                raise InvalidRequest("A card payment method needs 'card'", param="card")
            return sandbox.tokenise_card(
                data.card.number,
                data.card.exp_month,
                data.card.exp_year,
                data.card.cvc,
                today=clock.account_today(account),
            )
        if data.bank_debit is None:
            raise InvalidRequest(
                "A bank debit payment method needs 'bank_debit'", param="bank_debit"
            )
        return sandbox.tokenise_bank_account(
            data.bank_debit.routing_number, data.bank_debit.account_number
        )
    except sandbox.InvalidDetails as exc:
        raise InvalidRequest(exc.message, param=f"{data.type}.{exc.field}") from None
    except sandbox.Declined as exc:
        raise PaymentFailed(exc.message, param=data.type) from None


def attach_payment_method(
    session: Session, account: Account, contact_id: str, data: PaymentMethodCreate
) -> PaymentMethod:
    """Tokenise the details and save the payment method on the account's contact (404 for a
    contact of another account)."""
    contact = get_owned(session, Contact, account.id, contact_id, "contact")
    tokenised = tokenise(account, data)
    method = PaymentMethod(
        id=new_id("pm"),
        account_id=account.id,
        contact_id=contact.id,
        type=tokenised.type,
        brand=tokenised.brand,
        last4=tokenised.last4,
        exp_month=tokenised.exp_month,
        exp_year=tokenised.exp_year,
        processor=sandbox.PROCESSOR,
        processor_token=tokenised.token,
        created_at=clock.account_now(account),
    )
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
        PaymentMethod.account_id == account.id, PaymentMethod.contact_id == contact.id
    )
    return paginate(session, query, PaymentMethod.id, limit=limit, cursor=cursor)
