"""Payment links and their checkout; the grouping rule shared with quote and deal conversion.

A checkout is what the buyer does on the hosted page, in one transaction: the contact is matched
by email (or created), the payment method is tokenised (and saved), the recurring items become
subscriptions by the grouping rule (SPEC §4), and ONE invoice with ONE charge covers everything
due now — the first period of each subscription that starts today, plus the one-time items. The
subscriptions count that first period as billed, so the engine bills each of them from its second
period on; a subscription that starts later is created scheduled and billed by the engine.

Decisions:
- The checkout invoice (billing_reason "checkout") carries `subscription_id` only when it bills
  exactly one subscription: it is then that subscription's first invoice in every respect
  (`cycle_period_start` set, refunds on cancel, bank-debit settlement and dunning by the engine).
  When it bills several subscriptions, or none (one-time items only), `subscription_id` is null:
  one subscription's refund or cancellation must not see the other subscriptions' lines. Each
  line carries its own period; each subscription's timeline names the invoice and the payment.
- One-time items are line items of the first subscription that starts today (as with
  `POST /subscriptions`); with no such subscription they are only on the checkout invoice.
- A failed charge is a 402 and nothing is kept. A bank debit (which settles days later, through
  the engine of the subscription it pays) is accepted when the checkout bills exactly one
  subscription.
- The link's `payment_options` decide what the buyer may pay with, which addresses are asked
  (kept on the payment), and whether the method may be kept; the subscriptions take them. A
  method the buyer does not agree to keep is written as not `reusable`: the payment's history
  (and a bank debit's settlement) still finds it, nothing charges it again.
- A purchase made from the hosted page carries the form's key: the purchase row is written
  (and its unique key claimed) before anything is charged, so a reload or a second tab finds
  the first purchase instead of buying twice (`PurchaseExists`).

Services never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cadency.accounts.models import Account
from cadency.accounts.service import validate_currency
from cadency.billing import engine, invoicing, ledger
from cadency.billing.state import options_with_defaults
from cadency.catalog.line_items import LineItemInput, build_line_items
from cadency.catalog.models import Product, TaxRate
from cadency.catalog.schemas import format_percent
from cadency.checkout.models import PaymentLink, PaymentLinkItem, PaymentLinkPurchase
from cadency.checkout.schemas import CheckoutRequest, PaymentLinkCreate
from cadency.crm import associations
from cadency.crm import service as crm
from cadency.crm.models import Contact
from cadency.crm.schemas import AddressIn, ContactCreate
from cadency.invoices.models import Invoice
from cadency.kit import clock, money, outbox, periods
from cadency.kit.errors import Conflict, InvalidRequest, PaymentFailed
from cadency.kit.events import EventType
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.kit.terms import BillingTerms, CollectionMethod
from cadency.payments import service as payments
from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.models import LineItem, Subscription
from cadency.subscriptions.schemas import PaymentOptions, SubscriptionCreate
from cadency.subscriptions.summary import GroupKey, Rate, Summary, SummaryLine, group_key, summarize

# --- line items and the grouping rule -------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A priced line to sell, read from a payment link, quote, deal or subscription."""

    source_id: str
    name: str
    product_id: str | None
    quantity: int
    unit_price: int
    unit_discount_percent: Decimal | None
    tax_rate_id: str | None
    currency: str
    billing_frequency: str | None
    billing_terms: str | None
    number_of_payments: int | None
    billing_start_date: date | None
    amount: int

    @classmethod
    def of(cls, row: LineItem | PaymentLinkItem) -> Item:
        return cls(
            source_id=row.id,
            name=row.name,
            product_id=row.product_id,
            quantity=row.quantity,
            unit_price=row.unit_price,
            unit_discount_percent=row.unit_discount_percent,
            tax_rate_id=row.tax_rate_id,
            currency=row.currency,
            billing_frequency=row.billing_frequency,
            billing_terms=row.billing_terms,
            number_of_payments=row.number_of_payments,
            billing_start_date=row.billing_start_date,
            amount=row.amount,
        )

    def start(self, today: date) -> date:
        """The billing start date; no date means the day of purchase."""
        return self.billing_start_date or today

    def as_input(self, today: date) -> LineItemInput:
        """The item as a subscription's line item input, at the price it was sold at."""
        start = self.start(today)
        return LineItemInput.model_validate(
            {
                "product_id": self.product_id,
                "name": self.name,
                "unit_price": money.format_amount(self.unit_price, self.currency),
                "quantity": self.quantity,
                "unit_discount_percent": (
                    format_percent(self.unit_discount_percent)
                    if self.unit_discount_percent is not None
                    else None
                ),
                "tax_rate_id": self.tax_rate_id,
                "billing_frequency": self.billing_frequency,
                "billing_terms": self.billing_terms,
                "number_of_payments": self.number_of_payments,
                # "Today" and "at purchase" are the same start: one subscription, not two.
                "billing_start_date": start if start > today else None,
            }
        )


@dataclass
class Group:
    """Recurring items that share frequency, terms, start date and number of payments: they
    become one subscription (SPEC §4)."""

    frequency: str
    terms: str
    start: date
    number_of_payments: int | None
    order: int
    items: list[Item]


def group_items(items: Sequence[Item], today: date) -> tuple[list[Group], list[Item]]:
    """(groups in the order of their first item, one-time items)."""
    groups: dict[GroupKey, Group] = {}
    one_time: list[Item] = []
    for item in items:
        # The same rule as the create form's summary: one function decides what groups.
        key = group_key(item, today)
        if key is None:
            one_time.append(item)
            continue
        frequency, terms, start, number_of_payments = key
        group = groups.get(key)
        if group is None:
            groups[key] = Group(
                frequency=frequency,
                terms=terms,
                start=start,
                number_of_payments=number_of_payments,
                order=len(groups),
                items=[item],
            )
        else:
            group.items.append(item)
    return list(groups.values()), one_time


def check_items_current(session: Session, items: Sequence[Item], today: date) -> None:
    """What was offered can still be sold: no start date has passed, no product is archived
    (409: the offer, not the request, is out of date)."""
    for index, item in enumerate(items):
        if item.billing_start_date is not None and item.billing_start_date < today:
            raise Conflict(
                "Line item %(index)s ('%(name)s') was to start billing on "
                "%(billing_start_date)s, which has passed",
                index=index,
                name=item.name,
                billing_start_date=item.billing_start_date.isoformat(),
                param=f"line_items.{index}.billing_start_date",
            )
        if item.product_id is not None:
            product = session.get(Product, item.product_id)
            if product is not None and product.archived:
                raise Conflict(
                    "Line item %(index)s is product '%(product_id)s', which has been archived",
                    index=index,
                    product_id=product.id,
                    param=f"line_items.{index}.product_id",
                )


def create_subscription(
    session: Session,
    account: Account,
    group: Group,
    one_time: Sequence[Item],
    *,
    contact_id: str,
    company_id: str | None,
    currency: str,
    collection_method: str,
    payment_method_id: str | None,
    payment_terms: str | None,
    bill_now: bool,
    today: date,
    payment_options: dict[str, Any] | None = None,
) -> Subscription:
    """One subscription for one group (plus one-time items, which its first invoice bills)."""
    data = SubscriptionCreate.model_validate(
        {
            "contact_id": contact_id,
            "company_id": company_id,
            "currency": currency,
            "line_items": [item.as_input(today) for item in [*group.items, *one_time]],
            "collection_method": collection_method,
            "payment_method_id": payment_method_id,
            "payment_terms": payment_terms,
            "payment_options": payment_options,
        }
    )
    # The items were checked when the link, quote or deal was made, with its author's rights.
    return subscriptions.create(session, account, data, allow_custom_items=True, bill_now=bill_now)


# --- payment links ------------------------------------------------------------------------------


def _link_options(options: PaymentOptions, collection_method: str) -> dict[str, Any]:
    """A link's options as stored: the buyer always pays online at checkout, and later
    automatic charges need the method kept."""
    if not options.accept_online_payments:
        raise InvalidRequest(
            "A payment link takes the first payment online: accept_online_payments must be true",
            param="payment_options.accept_online_payments",
        )
    if collection_method == CollectionMethod.CHARGE_AUTOMATICALLY and not (
        options.save_payment_method
    ):
        raise InvalidRequest(
            "Subscriptions charged automatically need the buyer's payment method kept: "
            "save_payment_method must be true, or use collection_method 'send_invoice'",
            param="payment_options.save_payment_method",
        )
    return subscriptions.stored_payment_options(options, collection_method)


def create_link(
    session: Session, account: Account, data: PaymentLinkCreate, *, allow_custom: bool
) -> PaymentLink:
    """A payment link; its line items are priced and frozen now, as on a quote."""
    currency = validate_currency(data.currency or account.currency)
    if data.collection_method == "charge_automatically" and data.payment_terms is not None:
        raise InvalidRequest(
            "payment_terms go with collection_method 'send_invoice' (the first payment is always "
            "taken at checkout)",
            param="payment_terms",
        )
    options = (
        _link_options(data.payment_options, data.collection_method)
        if data.payment_options
        else None
    )
    deal_id = crm.deal_to_associate(session, account, data.deal_id).id if data.deal_id else None
    now = clock.account_now(account)
    today = clock.account_today(account)
    link = PaymentLink(
        id=new_id("plink"),
        account_id=account.id,
        name=data.name,
        currency=currency,
        collection_method=data.collection_method,
        payment_terms=(
            data.payment_terms or "due_on_receipt"
            if data.collection_method == "send_invoice"
            else None
        ),
        active=data.active,
        payment_options=options,
        logo_url=data.logo_url,
        button_text=data.button_text,
        confirmation_message=data.confirmation_message,
        deal_id=deal_id,
        created_at=now,
        updated_at=now,
    )
    # The shared builder validates and prices the items as `LineItem` rows; the link keeps
    # copies in its own table, and the rows themselves are never written.
    with session.no_autoflush:
        built = build_line_items(
            session, account, data.line_items, currency, allow_custom=allow_custom, parent={}
        )
        for row in built:
            session.expunge(row)
    rows = []
    for index, row in enumerate(built):
        if row.billing_start_date is not None and row.billing_start_date < today:
            raise InvalidRequest(
                "billing_start_date %(billing_start_date)s is in the past (today is "
                "%(today)s in %(timezone)s)",
                billing_start_date=row.billing_start_date.isoformat(),
                today=today.isoformat(),
                timezone=account.timezone,
                param=f"line_items.{index}.billing_start_date",
            )
        rows.append(
            PaymentLinkItem(
                id=row.id,
                account_id=account.id,
                payment_link_id=link.id,
                position=index,
                name=row.name,
                product_id=row.product_id,
                quantity=row.quantity,
                unit_price=row.unit_price,
                unit_discount_percent=row.unit_discount_percent,
                tax_rate_id=row.tax_rate_id,
                currency=row.currency,
                billing_frequency=row.billing_frequency,
                billing_terms=row.billing_terms,
                number_of_payments=row.number_of_payments,
                billing_start_date=row.billing_start_date,
                amount=row.amount,
                created_at=now,
            )
        )
    link.line_items = rows
    session.add(link)
    session.flush()
    return link


def get_link(session: Session, account: Account, link_id: str) -> PaymentLink:
    link = get_owned(session, PaymentLink, account.id, link_id, "payment link")
    session.refresh(link, attribute_names=["line_items"])
    return link


def list_purchases(
    session: Session, account: Account, link: PaymentLink, *, limit: int, cursor: str | None
) -> tuple[Sequence[PaymentLinkPurchase], bool, str | None]:
    """Checkouts through one link, newest first: (rows, has_more, next_cursor)."""
    query = select(PaymentLinkPurchase).where(
        PaymentLinkPurchase.account_id == account.id,
        PaymentLinkPurchase.payment_link_id == link.id,
    )
    return paginate(session, query, PaymentLinkPurchase.id, limit=limit, cursor=cursor)


def list_links(
    session: Session, account: Account, *, active: bool | None, limit: int, cursor: str | None
) -> tuple[Sequence[PaymentLink], bool, str | None]:
    query = (
        select(PaymentLink)
        .where(PaymentLink.account_id == account.id)
        .options(selectinload(PaymentLink.line_items))
    )
    if active is not None:
        query = query.where(PaymentLink.active == active)
    return paginate(session, query, PaymentLink.id, limit=limit, cursor=cursor)


def deal_links(
    session: Session, account: Account, deal_id: str, *, limit: int, cursor: str | None
) -> tuple[Sequence[PaymentLink], bool, str | None]:
    """The payment links associated with a deal, newest first (the deal's page)."""
    query = (
        select(PaymentLink)
        .where(PaymentLink.account_id == account.id, PaymentLink.deal_id == deal_id)
        .options(selectinload(PaymentLink.line_items))
    )
    return paginate(session, query, PaymentLink.id, limit=limit, cursor=cursor)


def update_link(
    session: Session, account: Account, link_id: str, changes: dict[str, Any]
) -> PaymentLink:
    """Rename or (de)activate a link, change its options, its look or its deal (null removes
    it); what it sells stays as it was made."""
    link = get_link(session, account, link_id)
    for field in ("name", "active", "payment_options"):
        if field in changes and changes[field] is None:
            raise InvalidRequest("'%(field)s' cannot be null", field=field, param=field)
    for field in ("name", "active", "logo_url", "button_text", "confirmation_message"):
        if field in changes:
            setattr(link, field, changes[field])
    if "payment_options" in changes:
        # Only the options given change (PATCH), as on a subscription.
        merged = PaymentOptions.model_validate(
            {**options_with_defaults(link.payment_options), **changes["payment_options"]}
        )
        link.payment_options = _link_options(merged, link.collection_method)
    if "deal_id" in changes:
        deal_id = changes["deal_id"]
        if deal_id is not None and deal_id != link.deal_id:
            deal_id = crm.deal_to_associate(session, account, deal_id).id
        link.deal_id = deal_id
    link.updated_at = clock.account_now(account)
    session.flush()
    return link


@dataclass(frozen=True)
class Recurring:
    """One subscription a purchase makes, as the buyer reads it before paying: what it
    charges per payment, how often, when the next payment after today falls, and how many
    payments it has in all (None: until canceled)."""

    names: tuple[str, ...]
    amount: int
    frequency: str
    next_payment: date
    payments: int | None


@dataclass(frozen=True)
class LinkSummary:
    """What the hosted page says before the buyer pays (SPEC §4 "Summary"): the lines, what is
    due today (with its taxes), and each subscription's later payments."""

    lines: tuple[SummaryLine, ...]
    summary: Summary
    recurring: tuple[Recurring, ...]


def link_summary(session: Session, account: Account, link: PaymentLink) -> LinkSummary:
    """The grouping rule's summary of a link's items, priced as the link froze them."""
    today = clock.account_today(account)
    rates = {
        rate.id: Rate(rate.name, rate.percentage)
        for rate in session.scalars(
            select(TaxRate).where(
                TaxRate.id.in_({i.tax_rate_id for i in link.line_items if i.tax_rate_id})
            )
        )
    }
    lines = tuple(
        SummaryLine(
            name=item.name,
            quantity=item.quantity,
            unit_price=item.unit_price,
            unit_discount_percent=item.unit_discount_percent,
            tax_rate=rates.get(item.tax_rate_id) if item.tax_rate_id else None,
            billing_frequency=item.billing_frequency,
            billing_terms=item.billing_terms if item.billing_frequency else None,
            number_of_payments=item.number_of_payments if item.billing_frequency else None,
            billing_start_date=item.billing_start_date,
        )
        for item in link.line_items
    )
    groups, _one_time = group_items([Item.of(row) for row in link.line_items], today)
    recurring = []
    for group in groups:
        grouped = [
            line
            for line, row in zip(lines, link.line_items, strict=True)
            if any(item.source_id == row.id for item in group.items)
        ]
        fixed = group.terms == BillingTerms.FIXED
        recurring.append(
            Recurring(
                names=tuple(line.name for line in grouped),
                amount=sum(line.payment for line in grouped),
                frequency=group.frequency,
                # Paid today, the next payment is a period on; starting later, it is the start.
                next_payment=(
                    periods.period_start(group.start, group.frequency, 1)
                    if group.start == today
                    else group.start
                ),
                payments=group.number_of_payments if fixed else None,
            )
        )
    return LinkSummary(lines, summarize(lines, today), tuple(recurring))


# --- checkout ---------------------------------------------------------------------------------


@dataclass
class CheckoutResult:
    link: PaymentLink
    contact: Contact
    subscriptions: list[Subscription]
    invoice: Invoice | None
    payment: Payment | None
    saved_method: PaymentMethod | None
    purchase: PaymentLinkPurchase | None = None


class PurchaseExists(Exception):
    """The hosted page's form was posted again (a reload, a second tab): the first purchase
    stands, and nothing more is bought."""

    def __init__(self, purchase: PaymentLinkPurchase) -> None:
        super().__init__(purchase.id)
        self.purchase = purchase


ADDRESS_PARTS = ("line1", "city", "postal_code", "country")
"""What an address asked at checkout must have to ship or invoice to."""


def purchase_with_key(
    session: Session, account: Account, link_id: str, key: str
) -> PaymentLinkPurchase | None:
    return session.scalar(
        select(PaymentLinkPurchase).where(
            PaymentLinkPurchase.account_id == account.id,
            PaymentLinkPurchase.payment_link_id == link_id,
            PaymentLinkPurchase.idempotency_key == key,
        )
    )


def _asked_address(data: CheckoutRequest, field: str, asked: bool) -> dict[str, Any] | None:
    """The address the link asks for, complete; None when it does not ask."""
    if not asked:
        return None
    given: AddressIn | None = getattr(data, field)
    stored = given.stored() if given else None
    for part in ADDRESS_PARTS:
        if not stored or not stored.get(part):
            raise InvalidRequest(
                "This payment link asks for the buyer's %(field)s: "
                "'%(field_name)s.%(part)s' is required",
                field=field.replace("_", " "),
                field_name=field,
                part=part,
                param=f"{field}.{part}",
            )
    return stored


def checkout(
    session: Session,
    account: Account,
    link_id: str,
    data: CheckoutRequest,
    *,
    form_key: str | None = None,
) -> CheckoutResult:
    """What the buyer does on the hosted page (see the module docstring). `form_key` is the
    hosted form's key: a purchase already made with it raises `PurchaseExists`."""
    link = get_link(session, account, link_id)
    if not link.active:
        raise Conflict("Payment link '%(link_id)s' is not active", link_id=link.id)
    if form_key is not None:
        existing = purchase_with_key(session, account, link.id, form_key)
        if existing is not None:
            raise PurchaseExists(existing)
    now = clock.account_now(account)
    today = clock.account_today(account)
    options = options_with_defaults(link.payment_options)
    items = [Item.of(row) for row in link.line_items]
    check_items_current(session, items, today)
    groups, one_time = group_items(items, today)
    due_now = [group for group in groups if group.start == today]

    if (
        not options["save_payment_method"]
        and "save_payment_method" in data.model_fields_set
        and data.save_payment_method
    ):
        raise InvalidRequest(
            "This payment link does not keep payment methods for later charges: "
            "save_payment_method cannot be true",
            param="save_payment_method",
        )
    keep = data.save_payment_method and options["save_payment_method"]
    if groups and link.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY and not keep:
        raise InvalidRequest(
            "This purchase includes subscriptions that are charged automatically: "
            "save_payment_method must be true (the buyer agrees to later charges)",
            param="save_payment_method",
        )
    if data.payment_method.type in ("card", "bank_debit") and (
        data.payment_method.type not in options["payment_types"]
    ):
        raise InvalidRequest(
            "This payment link does not take '%(type)s' payments; it takes %(types)s",
            type=data.payment_method.type,
            types=", ".join(options["payment_types"]),
            param="payment_method.type",
        )
    if data.payment_method.type == "bank_debit" and len(due_now) != 1:
        raise InvalidRequest(
            "A bank debit can pay a checkout that starts exactly one subscription today; pay "
            "this purchase by card",
            param="payment_method.type",
        )
    billing_address = _asked_address(data, "billing_address", options["collect_billing_address"])
    shipping_address = _asked_address(data, "shipping_address", options["collect_shipping_address"])

    # A declined card is a 402 here, before anything is written.
    tokenised = payments.tokenise(account, data.payment_method)
    if tokenised.type not in options["payment_types"]:
        raise InvalidRequest(
            "This payment link does not take '%(type)s' payments",
            type=tokenised.type,
            param="payment_method.type",
        )
    contact = _buyer(session, account, data)
    purchase = PaymentLinkPurchase(
        id=new_id("lpur"),
        account_id=account.id,
        payment_link_id=link.id,
        contact_id=contact.id,
        subscription_ids=[],
        invoice_id=None,
        payment_id=None,
        idempotency_key=form_key,
        created_at=now,
    )
    session.add(purchase)
    if form_key is not None:
        # Claimed before anything is charged: a second post of the same form waits here for
        # the first to commit and then finds its purchase.
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            existing = purchase_with_key(session, account, link.id, form_key)
            if existing is None:
                raise
            raise PurchaseExists(existing) from None
    method = payments.payment_method_from(account, contact.id, tokenised, now)
    method.reusable = keep
    session.add(method)
    session.flush()
    saved = method if keep else None

    created: list[Subscription] = []
    billed: list[Subscription] = []
    for group in groups:
        extra = one_time if due_now and group is due_now[0] else []
        subscription = create_subscription(
            session,
            account,
            group,
            extra,
            contact_id=contact.id,
            company_id=None,
            currency=link.currency,
            collection_method=link.collection_method,
            payment_method_id=saved.id if saved else None,
            payment_terms=link.payment_terms,
            bill_now=False,
            today=today,
            payment_options=link.payment_options,
        )
        created.append(subscription)
        if group.start == today:
            billed.append(subscription)
        if link.deal_id is not None:
            # As in HubSpot: a subscription bought through a link is associated with its deal.
            associations.associate(
                session, account, "subscription", subscription.id, "deal", link.deal_id
            )

    charges: list[invoicing.Charge] = []
    for subscription in billed:
        assert subscription.current_period_start and subscription.current_period_end
        period = (subscription.current_period_start, subscription.current_period_end)
        for row in subscription.line_items:
            charges.append(
                invoicing.Charge(
                    Item.of(row), period if row.billing_frequency else None, subscription.id
                )
            )
    if not billed:
        charges += [invoicing.Charge(item, None, None) for item in one_time]

    invoice: Invoice | None = None
    payment: Payment | None = None
    if charges:
        invoice, payment = _charge_once(
            session, account, link, contact, billed, charges, method, saved, now
        )
        if payment is not None:
            payment.billing_address = billing_address
            payment.shipping_address = shipping_address
    purchase.subscription_ids = [subscription.id for subscription in created]
    purchase.invoice_id = invoice.id if invoice else None
    purchase.payment_id = payment.id if payment else None
    session.flush()
    for subscription in created:
        engine.process(session, account, subscription, now)
    session.flush()
    return CheckoutResult(link, contact, created, invoice, payment, saved, purchase)


def purchase_result(
    session: Session, account: Account, purchase: PaymentLinkPurchase
) -> CheckoutResult:
    """What a purchase made, read back (the confirmation page, a repeated form)."""
    link = get_link(session, account, purchase.payment_link_id)
    contact = session.get(Contact, purchase.contact_id)
    assert contact is not None
    created = [
        subscription
        for subscription_id in purchase.subscription_ids
        if (subscription := session.get(Subscription, subscription_id)) is not None
    ]
    invoice = session.get(Invoice, purchase.invoice_id) if purchase.invoice_id else None
    payment = session.get(Payment, purchase.payment_id) if purchase.payment_id else None
    method = (
        session.get(PaymentMethod, payment.payment_method_id)
        if payment is not None and payment.payment_method_id
        else None
    )
    saved = method if method is not None and method.reusable else None
    return CheckoutResult(link, contact, created, invoice, payment, saved, purchase)


def _buyer(session: Session, account: Account, data: CheckoutRequest) -> Contact:
    """The contact with the buyer's email address, or a new one. A matched contact keeps its
    details; only the ones it lacks are filled in."""
    given = data.contact
    contact = crm.find_contact_by_email(session, account.id, given.email)
    if contact is None:
        return crm.create_contact(
            session,
            account,
            ContactCreate(
                email=given.email,
                first_name=given.first_name,
                last_name=given.last_name,
                phone=given.phone,
            ),
        )
    filled = False
    for field in ("first_name", "last_name", "phone"):
        if getattr(contact, field) is None and getattr(given, field) is not None:
            setattr(contact, field, getattr(given, field))
            filled = True
    if filled:
        contact.updated_at = clock.account_now(account)
    return contact


def _charge_once(
    session: Session,
    account: Account,
    link: PaymentLink,
    contact: Contact,
    billed: Sequence[Subscription],
    charges: Sequence[invoicing.Charge],
    method: PaymentMethod,
    saved: PaymentMethod | None,
    now: datetime,
) -> tuple[Invoice, Payment | None]:
    """Issue the checkout invoice, charge it once, and count each subscription's first period
    as billed (and paid, when the charge succeeded)."""
    single = billed[0] if len(billed) == 1 else None
    invoice, shares = invoicing.issue_invoice(
        session,
        account,
        contact_id=contact.id,
        currency=link.currency,
        charges=charges,
        billing_reason="checkout",
        collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
        due_date=clock.account_today(account),
        subscription_id=single.id if single else None,
        period=(
            (single.current_period_start, single.current_period_end)
            if single and single.current_period_start and single.current_period_end
            else None
        ),
        payment_method_id=saved.id if saved else None,
        now=now,
    )
    payment: Payment | None = None
    if invoice.total == 0:
        invoicing.mark_paid(invoice, 0, now)
    else:
        payment = engine.create_charge(session, account, invoice, method, now)
        if payment.status == "failed":
            # Nothing of this checkout is kept: the endpoint does not commit.
            raise PaymentFailed(
                "The payment failed: %(failure_reason)s",
                failure_reason=payment.failure_reason,
                param="payment_method",
                reason=payment.failure_reason,
            )
        if payment.status == "succeeded":
            invoicing.mark_paid(invoice, payment.amount, now)
    for subscription in billed:
        ledger.first_period_billed(
            session, account, subscription, invoice, payment, shares.get(subscription.id, 0), now
        )
    invoicing.emit_invoice_created(session, account, invoice)
    if payment is not None and payment.status == "succeeded":
        _emit_receipt(session, account, link, contact, billed, invoice, payment, method, now)
    return invoice, payment


def _emit_receipt(
    session: Session,
    account: Account,
    link: PaymentLink,
    contact: Contact,
    billed: Sequence[Subscription],
    invoice: Invoice,
    payment: Payment,
    method: PaymentMethod,
    now: datetime,
) -> None:
    """payment.succeeded, with what the buyer's receipt and the admins' first-payment notice
    show. The dedup key is the engine's, so a payment is announced once whoever charged it."""
    currency = invoice.currency

    def fmt(amount: int) -> str:
        return money.format_amount(amount, currency)

    outbox.emit(
        session,
        account_id=account.id,
        type=EventType.PAYMENT_SUCCEEDED,
        dedup_key=f"payment.succeeded:{payment.id}",
        payload={
            "payment_id": payment.id,
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "subscription_id": invoice.subscription_id,
            "subscription_ids": [s.id for s in billed],
            "contact_id": contact.id,
            "email": contact.email,
            "name": contact.display_name,
            "currency": currency,
            "amount": fmt(payment.amount),
            "subtotal": fmt(invoice.subtotal),
            "discount_total": fmt(invoice.discount_total),
            "tax_total": fmt(invoice.tax_total),
            "total": fmt(invoice.total),
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": fmt(line.unit_price),
                    "amount": fmt(line.amount),
                    "tax": fmt(line.tax),
                    "period_start": line.period_start.isoformat() if line.period_start else None,
                    "period_end": line.period_end.isoformat() if line.period_end else None,
                }
                for line in invoice.lines
            ],
            "payment_method": {"type": method.type, "brand": method.brand, "last4": method.last4},
            "payment_link_id": link.id,
            "payment_link_name": link.name,
            "paid_at": now.isoformat(),
            "first_payment": True,
            "language": invoice.language,
        },
        at=now,
        subscription_id=invoice.subscription_id,
    )
