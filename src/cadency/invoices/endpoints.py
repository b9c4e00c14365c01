from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cadency.accounts.auth import ApiContext, requires
from cadency.invoices.models import Invoice
from cadency.invoices.schemas import InvoiceOut, InvoiceStatus
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.errors import not_found
from cadency.kit.pagination import paginate
from cadency.kit.schemas import ListResponse

router = APIRouter(tags=["invoices"])
VIEW = "subscriptions.view"


@router.get("/invoices", response_model=ListResponse[InvoiceOut])
def list_invoices(
    ctx: ApiContext = Depends(requires(VIEW)),
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    status: InvoiceStatus | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[InvoiceOut]:
    query = (
        select(Invoice)
        .where(Invoice.account_id == ctx.account.id)
        .options(selectinload(Invoice.lines))
    )
    if subscription_id:
        query = query.where(Invoice.subscription_id == subscription_id)
    if status:
        query = query.where(Invoice.status == status)
    rows, has_more, next_cursor = paginate(
        ctx.session, query, Invoice.id, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[InvoiceOut.of(i) for i in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> InvoiceOut:
    invoice = ctx.session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id, Invoice.account_id == ctx.account.id)
        .options(selectinload(Invoice.lines))
    )
    if invoice is None:
        raise not_found("invoice", invoice_id)
    return InvoiceOut.of(invoice)
