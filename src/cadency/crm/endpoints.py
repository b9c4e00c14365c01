from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from cadency.accounts.auth import ApiContext, requires
from cadency.catalog.line_items import CUSTOM_LINE_ITEMS
from cadency.crm import service
from cadency.crm.models import Company, Contact, Deal, Quote
from cadency.crm.schemas import (
    CompanyCreate,
    CompanyOut,
    CompanyUpdate,
    ContactCreate,
    ContactOut,
    ContactUpdate,
    DealCreate,
    DealOut,
    DealStage,
    DealUpdate,
    QuoteCreate,
    QuoteOut,
    QuoteStatus,
)
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.repository import get_owned
from cadency.kit.schemas import ListResponse
from cadency.properties.service import VIEW_SENSITIVE

router = APIRouter(tags=["crm"])
# Reading records needs subscriptions.view, as on the pages: a key scoped to something else
# (billing.edit, say) does not see the account's contacts or catalog.
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"


def _contact_out(ctx: ApiContext, contact: Contact) -> ContactOut:
    values = service.contact_properties(
        ctx.session, ctx.account.id, [contact.id], view_sensitive=ctx.allows(VIEW_SENSITIVE)
    )
    return ContactOut.of(contact, values.get(contact.id, {}))


def _company_out(ctx: ApiContext, company: Company) -> CompanyOut:
    values = service.company_properties(
        ctx.session, ctx.account.id, [company.id], view_sensitive=ctx.allows(VIEW_SENSITIVE)
    )
    return CompanyOut.of(company, values.get(company.id, {}))


def _deal_out(ctx: ApiContext, deal: Deal) -> DealOut:
    return DealOut.of(deal, service.deal_line_items(ctx.session, [deal.id])[deal.id])


def _quote_out(ctx: ApiContext, quote: Quote) -> QuoteOut:
    return QuoteOut.of(quote, service.quote_line_items(ctx.session, [quote.id])[quote.id])


# Contacts


@router.post("/contacts", response_model=ContactOut)
def create_contact(body: ContactCreate, ctx: ApiContext = Depends(requires(EDIT))) -> ContactOut:
    contact = service.create_contact(ctx.session, ctx.account, body)
    ctx.session.commit()
    return _contact_out(ctx, contact)


@router.get("/contacts", response_model=ListResponse[ContactOut])
def list_contacts(
    ctx: ApiContext = Depends(requires(VIEW)),
    email: str | None = Query(None, max_length=320, description="Exact, case-insensitive"),
    archived: bool = Query(False, description="Only the archived ones (else those not archived)"),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[ContactOut]:
    rows, has_more, next_cursor = service.list_contacts(
        ctx.session, ctx.account, email=email, limit=limit, cursor=cursor, archived=archived
    )
    values = service.contact_properties(
        ctx.session, ctx.account.id, [c.id for c in rows], view_sensitive=ctx.allows(VIEW_SENSITIVE)
    )
    return ListResponse(
        data=[ContactOut.of(c, values.get(c.id, {})) for c in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get("/contacts/{contact_id}", response_model=ContactOut)
def get_contact(contact_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> ContactOut:
    return _contact_out(ctx, get_owned(ctx.session, Contact, ctx.account.id, contact_id, "contact"))


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
def update_contact(
    contact_id: str, body: ContactUpdate, ctx: ApiContext = Depends(requires(EDIT))
) -> ContactOut:
    changes = body.model_dump(exclude_unset=True)
    if "address" in body.model_fields_set:
        changes["address"] = body.address  # keep the model: it knows how it is stored
    contact = service.update_contact(ctx.session, ctx.account, contact_id, changes)
    ctx.session.commit()
    return _contact_out(ctx, contact)


# Companies


@router.post("/companies", response_model=CompanyOut)
def create_company(body: CompanyCreate, ctx: ApiContext = Depends(requires(EDIT))) -> CompanyOut:
    company = service.create_company(ctx.session, ctx.account, body)
    ctx.session.commit()
    return _company_out(ctx, company)


@router.get("/companies", response_model=ListResponse[CompanyOut])
def list_companies(
    ctx: ApiContext = Depends(requires(VIEW)),
    domain: str | None = Query(None, max_length=253),
    archived: bool = Query(False, description="Only the archived ones (else those not archived)"),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[CompanyOut]:
    rows, has_more, next_cursor = service.list_companies(
        ctx.session, ctx.account, domain=domain, limit=limit, cursor=cursor, archived=archived
    )
    values = service.company_properties(
        ctx.session, ctx.account.id, [c.id for c in rows], view_sensitive=ctx.allows(VIEW_SENSITIVE)
    )
    return ListResponse(
        data=[CompanyOut.of(c, values.get(c.id, {})) for c in rows],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get("/companies/{company_id}", response_model=CompanyOut)
def get_company(company_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> CompanyOut:
    return _company_out(ctx, get_owned(ctx.session, Company, ctx.account.id, company_id, "company"))


@router.patch("/companies/{company_id}", response_model=CompanyOut)
def update_company(
    company_id: str, body: CompanyUpdate, ctx: ApiContext = Depends(requires(EDIT))
) -> CompanyOut:
    changes = body.model_dump(exclude_unset=True)
    if "address" in body.model_fields_set:
        changes["address"] = body.address
    company = service.update_company(ctx.session, ctx.account, company_id, changes)
    ctx.session.commit()
    return _company_out(ctx, company)


# Deals


@router.post("/deals", response_model=DealOut)
def create_deal(body: DealCreate, ctx: ApiContext = Depends(requires(EDIT))) -> DealOut:
    deal = service.create_deal(
        ctx.session, ctx.account, body, allow_custom=ctx.allows(CUSTOM_LINE_ITEMS)
    )
    ctx.session.commit()
    return _deal_out(ctx, deal)


@router.get("/deals", response_model=ListResponse[DealOut])
def list_deals(
    ctx: ApiContext = Depends(requires(VIEW)),
    contact_id: str | None = Query(None, max_length=40),
    company_id: str | None = Query(None, max_length=40),
    stage: DealStage | None = None,
    archived: bool = Query(False, description="Only the archived ones (else those not archived)"),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[DealOut]:
    rows, has_more, next_cursor = service.list_deals(
        ctx.session,
        ctx.account,
        contact_id=contact_id,
        company_id=company_id,
        stage=stage,
        limit=limit,
        cursor=cursor,
        archived=archived,
    )
    items = service.deal_line_items(ctx.session, [d.id for d in rows])
    return ListResponse(
        data=[DealOut.of(d, items[d.id]) for d in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/deals/{deal_id}", response_model=DealOut)
def get_deal(deal_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> DealOut:
    return _deal_out(ctx, get_owned(ctx.session, Deal, ctx.account.id, deal_id, "deal"))


@router.patch("/deals/{deal_id}", response_model=DealOut)
def update_deal(
    deal_id: str, body: DealUpdate, ctx: ApiContext = Depends(requires(EDIT))
) -> DealOut:
    deal = service.update_deal(
        ctx.session, ctx.account, deal_id, body.model_dump(exclude_unset=True)
    )
    ctx.session.commit()
    return _deal_out(ctx, deal)


# Quotes


@router.post("/quotes", response_model=QuoteOut)
def create_quote(body: QuoteCreate, ctx: ApiContext = Depends(requires(EDIT))) -> QuoteOut:
    quote = service.create_quote(
        ctx.session, ctx.account, body, allow_custom=ctx.allows(CUSTOM_LINE_ITEMS)
    )
    ctx.session.commit()
    return _quote_out(ctx, quote)


@router.get("/quotes", response_model=ListResponse[QuoteOut])
def list_quotes(
    ctx: ApiContext = Depends(requires(VIEW)),
    status: QuoteStatus | None = None,
    deal_id: str | None = Query(None, max_length=40),
    contact_id: str | None = Query(None, max_length=40),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[QuoteOut]:
    rows, has_more, next_cursor = service.list_quotes(
        ctx.session,
        ctx.account,
        status=status,
        deal_id=deal_id,
        contact_id=contact_id,
        limit=limit,
        cursor=cursor,
    )
    items = service.quote_line_items(ctx.session, [q.id for q in rows])
    return ListResponse(
        data=[QuoteOut.of(q, items[q.id]) for q in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.get("/quotes/{quote_id}", response_model=QuoteOut)
def get_quote(quote_id: str, ctx: ApiContext = Depends(requires(VIEW))) -> QuoteOut:
    return _quote_out(ctx, get_owned(ctx.session, Quote, ctx.account.id, quote_id, "quote"))


@router.post("/quotes/{quote_id}/publish", response_model=QuoteOut)
def publish_quote(quote_id: str, ctx: ApiContext = Depends(requires(EDIT))) -> QuoteOut:
    quote = service.publish_quote(ctx.session, ctx.account, quote_id)
    ctx.session.commit()
    return _quote_out(ctx, quote)
