from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from cadency.accounts.auth import ApiContext, requires
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.kit.schemas import ListResponse, MoneyStr, StrictModel
from cadency.payments import service
from cadency.payments.models import Payment
from cadency.payments.schemas import PaymentMethodCreate, PaymentMethodOut, PaymentOut

router = APIRouter(tags=["payments"])
# Reading records needs subscriptions.view, as on the pages: a key scoped to something else
# (billing.edit, say) does not see the account's contacts or catalog.
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"


@router.post("/contacts/{contact_id}/payment-methods", response_model=PaymentMethodOut)
def attach_payment_method(
    contact_id: str, body: PaymentMethodCreate, ctx: ApiContext = Depends(requires(EDIT))
) -> PaymentMethodOut:
    method = service.attach_payment_method(ctx.session, ctx.account, contact_id, body)
    ctx.session.commit()
    return PaymentMethodOut.of(method)


@router.get("/contacts/{contact_id}/payment-methods", response_model=ListResponse[PaymentMethodOut])
def list_payment_methods(
    contact_id: str,
    ctx: ApiContext = Depends(requires(VIEW)),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[PaymentMethodOut]:
    rows, has_more, next_cursor = service.list_payment_methods(
        ctx.session, ctx.account, contact_id, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[PaymentMethodOut.of(m) for m in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/payment-methods/{payment_method_id}", response_model=PaymentMethodOut)
def get_payment_method(
    payment_method_id: str, ctx: ApiContext = Depends(requires(VIEW))
) -> PaymentMethodOut:
    return PaymentMethodOut.of(
        service.get_payment_method(ctx.session, ctx.account, payment_method_id)
    )


@router.get("/payments", response_model=ListResponse[PaymentOut])
def list_payments(
    ctx: ApiContext = Depends(requires("subscriptions.view")),
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    invoice_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[PaymentOut]:
    query = select(Payment).where(Payment.account_id == ctx.account.id)
    if subscription_id:
        query = query.where(Payment.subscription_id == subscription_id)
    if invoice_id:
        query = query.where(Payment.invoice_id == invoice_id)
    rows, has_more, next_cursor = paginate(
        ctx.session, query, Payment.id, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[PaymentOut.of(p) for p in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/payments/{payment_id}", response_model=PaymentOut)
def get_payment(
    payment_id: str, ctx: ApiContext = Depends(requires("subscriptions.view"))
) -> PaymentOut:
    return PaymentOut.of(get_owned(ctx.session, Payment, ctx.account.id, payment_id, "payment"))


class RefundRequest(StrictModel):
    amount: MoneyStr | None = None


@router.post("/payments/{payment_id}/refund", response_model=PaymentOut)
def refund_payment(
    payment_id: str,
    body: RefundRequest | None = None,
    ctx: ApiContext = Depends(requires("subscriptions.edit")),
) -> PaymentOut:
    """Refund part of a payment (`amount`) or all that is not refunded yet."""
    payment = service.refund(ctx.session, ctx.account, payment_id, body.amount if body else None)
    ctx.session.commit()
    return PaymentOut.of(payment)
