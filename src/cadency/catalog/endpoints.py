from __future__ import annotations

from fastapi import APIRouter, Depends

from cadency.accounts.auth import ApiContext, requires
from cadency.catalog import service
from cadency.catalog.models import Fee, Product, TaxRate
from cadency.catalog.schemas import (
    FeeCreate,
    FeeOut,
    ProductCreate,
    ProductOut,
    ProductUpdate,
    TaxRateCreate,
    TaxRateOut,
)
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.repository import get_owned
from cadency.kit.schemas import ListResponse

router = APIRouter(tags=["catalog"])
# Reading records needs subscriptions.view, as on the pages: a key scoped to something else
# (billing.edit, say) does not see the account's contacts or catalog.
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"


@router.post("/products", response_model=ProductOut)
def create_product(body: ProductCreate, ctx: ApiContext = Depends(requires(EDIT))) -> ProductOut:
    product = service.create_product(ctx.session, ctx.account, body)
    ctx.session.commit()
    return ProductOut.of(product)


@router.get("/products", response_model=ListResponse[ProductOut])
def list_products(
    ctx: ApiContext = Depends(requires(VIEW)),
    archived: bool | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[ProductOut]:
    rows, has_more, next_cursor = service.list_products(
        ctx.session, ctx.account, archived=archived, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[ProductOut.of(p) for p in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> ProductOut:
    return ProductOut.of(get_owned(ctx.session, Product, ctx.account.id, product_id, "product"))


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(
    product_id: str, body: ProductUpdate, ctx: ApiContext = Depends(requires(EDIT))
) -> ProductOut:
    product = service.update_product(
        ctx.session, ctx.account, product_id, body.model_dump(exclude_unset=True)
    )
    ctx.session.commit()
    return ProductOut.of(product)


@router.post("/tax-rates", response_model=TaxRateOut)
def create_tax_rate(body: TaxRateCreate, ctx: ApiContext = Depends(requires(EDIT))) -> TaxRateOut:
    rate = service.create_tax_rate(ctx.session, ctx.account, body)
    ctx.session.commit()
    return TaxRateOut.of(rate)


@router.get("/tax-rates", response_model=ListResponse[TaxRateOut])
def list_tax_rates(
    ctx: ApiContext = Depends(requires(VIEW)), limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> ListResponse[TaxRateOut]:
    rows, has_more, next_cursor = service.list_tax_rates(
        ctx.session, ctx.account, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[TaxRateOut.of(r) for r in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/tax-rates/{tax_rate_id}", response_model=TaxRateOut)
def get_tax_rate(tax_rate_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> TaxRateOut:
    return TaxRateOut.of(get_owned(ctx.session, TaxRate, ctx.account.id, tax_rate_id, "tax rate"))


@router.post("/fees", response_model=FeeOut)
def create_fee(body: FeeCreate, ctx: ApiContext = Depends(requires(EDIT))) -> FeeOut:
    fee = service.create_fee(ctx.session, ctx.account, body)
    ctx.session.commit()
    return FeeOut.of(fee)


@router.get("/fees", response_model=ListResponse[FeeOut])
def list_fees(
    ctx: ApiContext = Depends(requires(VIEW)), limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> ListResponse[FeeOut]:
    rows, has_more, next_cursor = service.list_fees(
        ctx.session, ctx.account, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[FeeOut.of(f) for f in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/fees/{fee_id}", response_model=FeeOut)
def get_fee(fee_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> FeeOut:
    return FeeOut.of(get_owned(ctx.session, Fee, ctx.account.id, fee_id, "fee"))
