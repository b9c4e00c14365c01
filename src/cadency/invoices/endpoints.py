from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cadency.accounts.auth import ApiContext, requires
from cadency.config import Settings
from cadency.invoices import service
from cadency.invoices.documents import render_invoice_pdf
from cadency.invoices.links import hosted_invoice_url
from cadency.invoices.models import Invoice
from cadency.invoices.schemas import InvoiceOut, InvoiceStatus, PayRequest
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.errors import PaymentFailed
from cadency.kit.pagination import paginate
from cadency.kit.schemas import ListResponse

router = APIRouter(tags=["invoices"])
VIEW, EDIT = "subscriptions.view", "subscriptions.edit"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _out(ctx: ApiContext, request: Request, invoice: Invoice) -> InvoiceOut:
    settings = _settings(request)
    return InvoiceOut.of(
        invoice,
        base_url=settings.base_url,
        hosted_url=hosted_invoice_url(ctx.session, settings, invoice),
    )


@router.get("/invoices", response_model=ListResponse[InvoiceOut])
def list_invoices(
    request: Request,
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
    data = [_out(ctx, request, i) for i in rows]
    return ListResponse(data=data, has_more=has_more, next_cursor=next_cursor)


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(
    invoice_id: str, request: Request, ctx: ApiContext = Depends(requires(VIEW))
) -> InvoiceOut:
    return _out(ctx, request, service.get_invoice(ctx.session, ctx.account, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice as a PDF"}},
)
def get_invoice_pdf(
    invoice_id: str, request: Request, ctx: ApiContext = Depends(requires(VIEW))
) -> Response:
    """The invoice document, in the invoice's language, as the buyer receives it."""
    invoice = service.get_invoice(ctx.session, ctx.account, invoice_id)
    pdf = render_invoice_pdf(
        ctx.session, ctx.account, invoice, base_url=_settings(request).base_url
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@router.post("/invoices/{invoice_id}/pay", response_model=InvoiceOut)
def pay_invoice(
    invoice_id: str,
    request: Request,
    body: PayRequest | None = None,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> InvoiceOut:
    """Charge the invoice now (a declined charge answers 402; the failed attempt is recorded),
    or, with `paid_out_of_band`, record that it was paid outside the processor."""
    if body is not None:
        body.check()
        if body.paid_out_of_band:
            invoice, _payment = service.record_offline_payment(
                ctx.session, ctx.account, invoice_id, reference=body.reference, paid_at=body.paid_at
            )
            ctx.session.commit()
            return _out(ctx, request, invoice)
    try:
        invoice, _payment = service.pay(
            ctx.session, ctx.account, invoice_id, body.payment_method_id if body else None
        )
    except PaymentFailed:
        ctx.session.commit()  # the failed attempt is part of the invoice's history
        raise
    ctx.session.commit()
    return _out(ctx, request, invoice)


@router.post("/invoices/{invoice_id}/void", response_model=InvoiceOut)
def void_invoice(
    invoice_id: str, request: Request, ctx: ApiContext = Depends(requires(EDIT))
) -> InvoiceOut:
    invoice = service.void(ctx.session, ctx.account, invoice_id)
    ctx.session.commit()
    return _out(ctx, request, invoice)


@router.post("/invoices/{invoice_id}/mark-uncollectible", response_model=InvoiceOut)
def mark_uncollectible(
    invoice_id: str, request: Request, ctx: ApiContext = Depends(requires(EDIT))
) -> InvoiceOut:
    invoice = service.mark_uncollectible(ctx.session, ctx.account, invoice_id)
    ctx.session.commit()
    return _out(ctx, request, invoice)
