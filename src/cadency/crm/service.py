"""Contacts, companies, deals and quotes: the CRM records subscriptions are made from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.accounts.service import validate_currency
from cadency.catalog.line_items import build_line_items, copy_line_items, load_line_items
from cadency.crm.models import Company, Contact, Deal, Quote, not_archived
from cadency.crm.schemas import (
    AddressIn,
    CompanyCreate,
    ContactCreate,
    DealCreate,
    QuoteCreate,
)
from cadency.kit import clock, labels
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.kit.i18n import N_
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned, get_referenced
from cadency.kit.text_search import contains_text
from cadency.properties import service as properties
from cadency.subscriptions.models import ENDED_STATUSES, LineItem, Subscription

Page = tuple[Sequence[Any], bool, str | None]


def _address(value: AddressIn | dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, AddressIn):
        return value.stored()
    return AddressIn.model_validate(value).stored()


def _not_null(changes: dict[str, Any], field: str) -> None:
    if field in changes and changes[field] is None:
        raise InvalidRequest("'%(field)s' cannot be null", field=field, param=field)


# Contacts


def find_contact_by_email(session: Session, account_id: int, email: str) -> Contact | None:
    """The account's contact with this email address (compared in lower case), archived or
    not: an address stays its contact's while archived, so a returning buyer (checkout, the
    account's own plan) is the same contact again rather than a refused duplicate."""
    return session.scalars(
        select(Contact)
        .where(Contact.account_id == account_id, Contact.email == email.strip().lower())
        .order_by(Contact.id)
        .limit(1)
    ).first()


def _check_email_free(
    session: Session, account_id: int, email: str, except_id: str | None = None
) -> None:
    existing = find_contact_by_email(session, account_id, email)
    if existing is not None and existing.id != except_id:
        if existing.archived:
            raise Conflict(
                "A contact with this email address exists but is archived: "
                "'%(existing_id)s'; restore it rather than creating another",
                existing_id=existing.id,
                param="email",
            )
        raise Conflict(
            "A contact with this email address already exists: '%(existing_id)s'",
            existing_id=existing.id,
            param="email",
        )


def contact_properties(
    session: Session, account_id: int, contact_ids: Sequence[str], *, view_sensitive: bool
) -> dict[str, dict[str, Any]]:
    """Custom property values of many contacts, by contact ID (sensitive ones masked unless
    `view_sensitive`)."""
    return properties.get_values(
        session, account_id, "contacts", list(contact_ids), view_sensitive=view_sensitive
    )


def company_properties(
    session: Session, account_id: int, company_ids: Sequence[str], *, view_sensitive: bool
) -> dict[str, dict[str, Any]]:
    """Custom property values of many companies, by company ID (sensitive ones masked unless
    `view_sensitive`)."""
    return properties.get_values(
        session, account_id, "companies", list(company_ids), view_sensitive=view_sensitive
    )


def create_contact(session: Session, account: Account, data: ContactCreate) -> Contact:
    """A new contact; its email address (stored lower case) must be new in the account (409)."""
    _check_email_free(session, account.id, data.email)
    now = clock.account_now(account)
    contact = Contact(
        id=new_id("cont"),
        account_id=account.id,
        email=data.email,
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
        address=_address(data.address),
        language=data.language,
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    session.flush()
    properties.set_values(
        session, account, "contacts", contact.id, data.properties or {}, creating=True
    )
    return contact


def update_contact(
    session: Session, account: Account, contact_id: str, changes: dict[str, Any]
) -> Contact:
    """Apply the fields present in `changes` (PATCH semantics; `address` is replaced whole)."""
    contact = get_owned(session, Contact, account.id, contact_id, "contact")
    _not_null(changes, "email")
    if "email" in changes and changes["email"] != contact.email:
        _check_email_free(session, account.id, changes["email"], except_id=contact.id)
        contact.email = changes["email"]
    for field in ("first_name", "last_name", "phone", "language"):
        if field in changes:
            setattr(contact, field, changes[field])
    if "address" in changes:
        contact.address = _address(changes["address"])
    if changes.get("properties"):
        properties.set_values(
            session, account, "contacts", contact.id, changes["properties"], creating=False
        )
    contact.updated_at = clock.account_now(account)
    session.flush()
    return contact


def list_contacts(
    session: Session,
    account: Account,
    *,
    email: str | None,
    limit: int,
    cursor: str | None,
    query: str | None = None,
    archived: bool = False,
) -> Page:
    """Contacts, newest first: those not archived, or (`archived`) only the archived ones.
    `query`: text the email address or the first or last name contains, ignoring case (blank:
    every contact)."""
    statement = select(Contact).where(
        Contact.account_id == account.id, _archived(Contact, archived)
    )
    if email is not None:
        statement = statement.where(Contact.email == email.strip().lower())
    if query and query.strip():
        statement = statement.where(
            contains_text([Contact.email, Contact.first_name, Contact.last_name], query)
        )
    return paginate(
        session,
        statement,
        Contact.id,
        limit=limit,
        cursor=cursor,
        few=bool(query and query.strip()),
    )


# Companies


def create_company(session: Session, account: Account, data: CompanyCreate) -> Company:
    now = clock.account_now(account)
    company = Company(
        id=new_id("comp"),
        account_id=account.id,
        name=data.name,
        domain=data.domain,
        address=_address(data.address),
        created_at=now,
        updated_at=now,
    )
    session.add(company)
    session.flush()
    properties.set_values(
        session, account, "companies", company.id, data.properties or {}, creating=True
    )
    return company


def update_company(
    session: Session, account: Account, company_id: str, changes: dict[str, Any]
) -> Company:
    """Apply the fields present in `changes` (PATCH semantics; `address` is replaced whole)."""
    company = get_owned(session, Company, account.id, company_id, "company")
    _not_null(changes, "name")
    for field in ("name", "domain"):
        if field in changes:
            setattr(company, field, changes[field])
    if "address" in changes:
        company.address = _address(changes["address"])
    if changes.get("properties"):
        properties.set_values(
            session, account, "companies", company.id, changes["properties"], creating=False
        )
    company.updated_at = clock.account_now(account)
    session.flush()
    return company


def list_companies(
    session: Session,
    account: Account,
    *,
    domain: str | None,
    limit: int,
    cursor: str | None,
    query: str | None = None,
    archived: bool = False,
) -> Page:
    """Companies, newest first: those not archived, or (`archived`) only the archived ones.
    `query`: text the name or domain contains, ignoring case (blank: every company)."""
    statement = select(Company).where(
        Company.account_id == account.id, _archived(Company, archived)
    )
    if domain is not None:
        statement = statement.where(Company.domain == domain.strip().lower())
    if query and query.strip():
        statement = statement.where(contains_text([Company.name, Company.domain], query))
    return paginate(
        session,
        statement,
        Company.id,
        limit=limit,
        cursor=cursor,
        few=bool(query and query.strip()),
    )


# Deals


def create_deal(
    session: Session, account: Account, data: DealCreate, *, allow_custom: bool
) -> Deal:
    """A deal with its line items; its amount is the sum of theirs.

    `allow_custom`: whether the caller may add line items that are not from the product library.
    """
    currency = validate_currency(data.currency or account.currency)
    if data.contact_id is not None:
        get_referenced(session, Contact, account.id, data.contact_id, "contact", "contact_id")
    if data.company_id is not None:
        get_referenced(session, Company, account.id, data.company_id, "company", "company_id")
    now = clock.account_now(account)
    deal = Deal(
        id=new_id("deal"),
        account_id=account.id,
        name=data.name,
        stage=data.stage,
        currency=currency,
        amount=0,
        contact_id=data.contact_id,
        company_id=data.company_id,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    items = build_line_items(
        session,
        account,
        data.line_items,
        currency,
        allow_custom=allow_custom,
        parent={"deal_id": deal.id},
    )
    deal.amount = sum(item.amount for item in items)
    session.flush()
    return deal


def update_deal(session: Session, account: Account, deal_id: str, changes: dict[str, Any]) -> Deal:
    """Apply the fields present in `changes` (PATCH semantics: a null `contact_id` or
    `company_id` unlinks it). The currency changes only while the deal has no line items, whose
    prices are in it (409 otherwise); its amount stays the sum of its line items."""
    deal = get_owned(session, Deal, account.id, deal_id, "deal")
    for field in ("name", "stage", "currency"):
        _not_null(changes, field)
    if "currency" in changes and changes["currency"] != deal.currency:
        currency = validate_currency(changes["currency"])
        items = session.scalar(
            select(func.count()).select_from(LineItem).where(LineItem.deal_id == deal.id)
        )
        if items:
            raise Conflict(
                "Deal '%(deal_id)s' has line items priced in %(currency)s; its "
                "currency cannot change (create a new deal in the other currency)",
                deal_id=deal.id,
                currency=deal.currency,
                param="currency",
            )
        deal.currency = currency
    if changes.get("contact_id") is not None:
        get_referenced(session, Contact, account.id, changes["contact_id"], "contact", "contact_id")
    if changes.get("company_id") is not None:
        get_referenced(session, Company, account.id, changes["company_id"], "company", "company_id")
    for field in ("name", "stage", "contact_id", "company_id"):
        if field in changes:
            setattr(deal, field, changes[field])
    deal.updated_at = clock.account_now(account)
    session.flush()
    return deal


def deal_line_items(session: Session, deal_ids: Sequence[str]) -> dict[str, list[LineItem]]:
    """Line items of many deals, by deal ID, in position order."""
    return load_line_items(session, LineItem.deal_id, deal_ids)


def list_deals(
    session: Session,
    account: Account,
    *,
    contact_id: str | None,
    company_id: str | None,
    stage: str | None,
    limit: int,
    cursor: str | None,
    archived: bool = False,
) -> Page:
    """Deals, newest first: those not archived, or (`archived`) only the archived ones."""
    query = select(Deal).where(Deal.account_id == account.id, _archived(Deal, archived))
    if contact_id is not None:
        query = query.where(Deal.contact_id == contact_id)
    if company_id is not None:
        query = query.where(Deal.company_id == company_id)
    if stage is not None:
        query = query.where(Deal.stage == stage)
    return paginate(session, query, Deal.id, limit=limit, cursor=cursor)


def deal_to_associate(session: Session, account: Account, deal_id: str) -> Deal:
    """A deal a record (a payment link) is to be associated with: one of the account's (else
    a 422 naming `deal_id`), and not archived (an archived deal is out of every list, so
    nothing new is tied to it until it is restored)."""
    deal = get_referenced(session, Deal, account.id, deal_id, "deal", "deal_id")
    if deal.archived:
        raise InvalidRequest(
            "The deal '%(deal_id)s' is archived; restore it before associating it",
            deal_id=deal.id,
            param="deal_id",
        )
    return deal


# Archiving: HubSpot's soft delete. An archived record leaves lists and searches but stays,
# read by its ID, because subscriptions, invoices and quotes keep referring to it.

ArchivableRecord = TypeVar("ArchivableRecord", bound=Contact | Company | Deal)
_RECORD_KINDS: dict[type[Any], str] = {Contact: "contact", Company: "company", Deal: "deal"}


def _archived(model: type[Contact | Company | Deal], archived: bool) -> Any:
    return model.archived_at.is_not(None) if archived else not_archived(model)


def _billing_subscription(session: Session, record: Contact | Company) -> Subscription | None:
    """A subscription still billing the contact, or belonging to the company: one that has not
    ended (canceled or expired)."""
    column = Subscription.contact_id if isinstance(record, Contact) else Subscription.company_id
    return session.scalars(
        select(Subscription)
        .where(
            Subscription.account_id == record.account_id,
            column == record.id,
            Subscription.status.not_in(ENDED_STATUSES),
        )
        .order_by(Subscription.id)
        .limit(1)
    ).first()


def archive(
    session: Session, account: Account, model: type[ArchivableRecord], record_id: str
) -> ArchivableRecord:
    """Archive a contact, company or deal: lists and searches leave it out; read by its ID it
    stays (its quotes, subscriptions and invoices keep referring to it). Archiving again
    changes nothing, as in HubSpot. A contact or company that a subscription which has not
    ended still bills is refused (409): that customer is still being billed."""
    kind = _RECORD_KINDS[model]
    record = get_owned(session, model, account.id, record_id, kind)
    if record.archived:
        return record
    if isinstance(record, Contact | Company):
        subscription = _billing_subscription(session, record)
        if subscription is not None:
            refusal = (
                N_(
                    "The contact '%(record_id)s' cannot be archived: subscription "
                    "'%(subscription_id)s' (%(status)s) still bills it; cancel the subscription "
                    "first"
                )
                if kind == "contact"
                else N_(
                    "The company '%(record_id)s' cannot be archived: subscription "
                    "'%(subscription_id)s' (%(status)s) still belongs to it; cancel the "
                    "subscription first"
                )
            )
            raise Conflict(
                refusal,
                record_id=record.id,
                subscription_id=subscription.id,
                status=labels.word(subscription.status, labels.SUBSCRIPTION_STATUSES),
            )
    now = clock.account_now(account)
    record.archived_at = now
    record.updated_at = now
    session.flush()
    return record


def restore(
    session: Session, account: Account, model: type[ArchivableRecord], record_id: str
) -> ArchivableRecord:
    """Bring an archived contact, company or deal back into lists and searches (no change if
    it is not archived). A contact's email address stayed its own while archived, so it is
    still free."""
    record = get_owned(session, model, account.id, record_id, _RECORD_KINDS[model])
    restore_record(session, account, record)
    return record


def restore_record(
    session: Session, account: Account, record: Contact | Company | Deal
) -> Contact | Company | Deal:
    """The record back in lists and searches (unchanged if it is not archived)."""
    if not record.archived:
        return record
    record.archived_at = None
    record.updated_at = clock.account_now(account)
    session.flush()
    return record


# Quotes


def create_quote(
    session: Session, account: Account, data: QuoteCreate, *, allow_custom: bool
) -> Quote:
    """A draft quote. With a `deal_id`, the contact, company and currency default from the deal,
    and without `line_items` the deal's line items are copied onto the quote."""
    deal = (
        get_referenced(session, Deal, account.id, data.deal_id, "deal", "deal_id")
        if data.deal_id is not None
        else None
    )
    if deal is not None and data.currency is not None and data.currency != deal.currency:
        raise InvalidRequest(
            "A quote for deal '%(deal_id)s' is in the deal's currency, %(currency)s",
            deal_id=deal.id,
            currency=deal.currency,
            param="currency",
        )
    currency = validate_currency(data.currency or (deal.currency if deal else account.currency))

    contact_id = data.contact_id or (deal.contact_id if deal else None)
    if contact_id is None:
        raise InvalidRequest(
            "A quote needs a 'contact_id' (the buyer), or a deal that has a contact",
            param="contact_id",
        )
    get_referenced(session, Contact, account.id, contact_id, "contact", "contact_id")
    company_id = data.company_id or (deal.company_id if deal else None)
    if data.company_id is not None:
        get_referenced(session, Company, account.id, data.company_id, "company", "company_id")

    if data.expires_on is not None and data.expires_on < clock.account_today(account):
        raise InvalidRequest("'expires_on' is in the past", param="expires_on")

    now = clock.account_now(account)
    quote = Quote(
        id=new_id("quote"),
        account_id=account.id,
        name=data.name,
        status="draft",
        currency=currency,
        contact_id=contact_id,
        company_id=company_id,
        deal_id=deal.id if deal else None,
        expires_on=data.expires_on,
        published_at=None,
        created_at=now,
        updated_at=now,
    )
    session.add(quote)
    if data.line_items is not None:
        build_line_items(
            session,
            account,
            data.line_items,
            currency,
            allow_custom=allow_custom,
            parent={"quote_id": quote.id},
        )
    elif deal is not None:
        copy_line_items(
            session,
            account,
            deal_line_items(session, [deal.id])[deal.id],
            parent={"quote_id": quote.id},
        )
    session.flush()
    return quote


def quote_line_items(session: Session, quote_ids: Sequence[str]) -> dict[str, list[LineItem]]:
    """Line items of many quotes, by quote ID, in position order."""
    return load_line_items(session, LineItem.quote_id, quote_ids)


def publish_quote(session: Session, account: Account, quote_id: str) -> Quote:
    """Draft → published, so the buyer can accept it. Only a draft with line items that has not
    expired can be published (409 otherwise)."""
    quote = get_owned(session, Quote, account.id, quote_id, "quote")
    if quote.status != "draft":
        raise Conflict(
            "Quote '%(quote_id)s' is %(status)s; only a draft can be published",
            quote_id=quote.id,
            status=labels.word(quote.status, labels.QUOTE_STATUSES),
        )
    count = session.scalar(
        select(func.count()).select_from(LineItem).where(LineItem.quote_id == quote.id)
    )
    if not count:
        raise Conflict(
            "Quote '%(quote_id)s' has no line items; add some before publishing it",
            quote_id=quote.id,
        )
    if quote.expires_on is not None and quote.expires_on < clock.account_today(account):
        raise Conflict(
            "Quote '%(quote_id)s' expired on %(expires_on)s",
            quote_id=quote.id,
            expires_on=quote.expires_on.isoformat(),
        )
    now = clock.account_now(account)
    quote.status = "published"
    quote.published_at = now
    quote.updated_at = now
    session.flush()
    return quote


def list_quotes(
    session: Session,
    account: Account,
    *,
    status: str | None,
    deal_id: str | None,
    contact_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    query = select(Quote).where(Quote.account_id == account.id)
    if status is not None:
        query = query.where(Quote.status == status)
    if deal_id is not None:
        query = query.where(Quote.deal_id == deal_id)
    if contact_id is not None:
        query = query.where(Quote.contact_id == contact_id)
    return paginate(session, query, Quote.id, limit=limit, cursor=cursor)
