from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cadency.accounts.auth import ApiContext, requires
from cadency.catalog.line_items import CUSTOM_LINE_ITEMS
from cadency.checkout import conversion, service
from cadency.checkout.schemas import (
    CheckoutOut,
    CheckoutRequest,
    ConversionOut,
    ConvertRequest,
    PaymentLinkCreate,
    PaymentLinkOut,
    PaymentLinkUpdate,
)
from cadency.kit import money
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.schemas import ErrorResponse, ListResponse

router = APIRouter(tags=["checkout"])
# Reading records needs subscriptions.view, as on the pages: a key scoped to something else
# (billing.edit, say) does not see the account's contacts or catalog.
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"
PAYMENT_FAILED: dict[int | str, dict[str, Any]] = {
    402: {"model": ErrorResponse, "description": "The card was declined or the charge failed"}
}


def _base_url(request: Request) -> str:
    return str(request.app.state.settings.base_url)


# Payment links


@router.post("/payment-links", response_model=PaymentLinkOut)
def create_payment_link(
    body: PaymentLinkCreate, request: Request, ctx: ApiContext = Depends(requires(EDIT))
) -> PaymentLinkOut:
    link = service.create_link(
        ctx.session, ctx.account, body, allow_custom=ctx.allows(CUSTOM_LINE_ITEMS)
    )
    ctx.session.commit()
    return PaymentLinkOut.of(link, _base_url(request))


@router.get("/payment-links", response_model=ListResponse[PaymentLinkOut])
def list_payment_links(
    request: Request,
    ctx: ApiContext = Depends(requires(VIEW)),
    active: bool | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[PaymentLinkOut]:
    rows, has_more, next_cursor = service.list_links(
        ctx.session, ctx.account, active=active, limit=limit, cursor=cursor
    )
    base_url = _base_url(request)
    return ListResponse(
        data=[PaymentLinkOut.of(link, base_url) for link in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get("/payment-links/{payment_link_id}", response_model=PaymentLinkOut)
def get_payment_link(
    payment_link_id: str, request: Request, ctx: ApiContext = Depends(requires(VIEW))
) -> PaymentLinkOut:
    link = service.get_link(ctx.session, ctx.account, payment_link_id)
    return PaymentLinkOut.of(link, _base_url(request))


@router.patch("/payment-links/{payment_link_id}", response_model=PaymentLinkOut)
def update_payment_link(
    payment_link_id: str,
    body: PaymentLinkUpdate,
    request: Request,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> PaymentLinkOut:
    link = service.update_link(
        ctx.session, ctx.account, payment_link_id, body.model_dump(exclude_unset=True)
    )
    ctx.session.commit()
    return PaymentLinkOut.of(link, _base_url(request))


@router.post(
    "/payment-links/{payment_link_id}/checkout",
    response_model=CheckoutOut,
    responses=PAYMENT_FAILED,
)
def checkout(
    payment_link_id: str, body: CheckoutRequest, ctx: ApiContext = Depends(requires(EDIT))
) -> CheckoutOut:
    """What the buyer does on the hosted page: match or create the contact, save the payment
    method, create the subscriptions (grouping rule) and pay everything due now in one charge.
    A declined card or failed charge is a 402 and nothing is kept."""
    result = service.checkout(ctx.session, ctx.account, payment_link_id, body)
    ctx.session.commit()
    payment = result.payment
    currency = result.link.currency
    return CheckoutOut(
        payment_link_id=result.link.id,
        contact_id=result.contact.id,
        subscriptions=[s.id for s in result.subscriptions],
        invoice_id=result.invoice.id if result.invoice else None,
        payment_id=payment.id if payment else None,
        payment_status=payment.status if payment else None,
        amount=money.format_amount(payment.amount if payment else 0, currency),
        currency=currency,
        payment_method_id=result.saved_method.id if result.saved_method else None,
    )


# Conversion


@router.post("/quotes/{quote_id}/convert", response_model=ConversionOut)
def convert_quote(
    quote_id: str, body: ConvertRequest | None = None, ctx: ApiContext = Depends(requires(EDIT))
) -> ConversionOut:
    """A published quote → subscriptions (grouping rule) or, without recurring items, one
    invoice; the quote is accepted."""
    result = conversion.convert_quote(ctx.session, ctx.account, quote_id, body or ConvertRequest())
    ctx.session.commit()
    return ConversionOut.of(result)


@router.post("/deals/{deal_id}/convert", response_model=ConversionOut)
def convert_deal(
    deal_id: str, body: ConvertRequest | None = None, ctx: ApiContext = Depends(requires(EDIT))
) -> ConversionOut:
    """A deal → subscriptions (grouping rule) or, without recurring items, one invoice."""
    result = conversion.convert_deal(ctx.session, ctx.account, deal_id, body or ConvertRequest())
    ctx.session.commit()
    return ConversionOut.of(result)
