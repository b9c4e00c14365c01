"""Line items from API input: the one place that turns `line_items: [...]` of a deal, quote,
subscription or payment link into priced `LineItem` rows.

An item either comes from the product library (`product_id`; name, unit price and billing
frequency default from the product and may be overridden on the line, which never edits the
product) or is custom (`name` + `unit_price`, which needs the `line_items.create_custom`
permission). Overriding a library product's name or price also needs that permission: it makes
the line as custom as one typed from scratch. Recurring items carry billing terms: `auto_renew`
(no number of payments) or `fixed` (with `number_of_payments` >= 1); one-time items have
neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from cadency.accounts.models import Account
from cadency.catalog.models import Product, TaxRate
from cadency.catalog.schemas import format_percent
from cadency.catalog.service import parse_money
from cadency.kit import clock, money
from cadency.kit.errors import InvalidRequest, PermissionDenied
from cadency.kit.i18n import N_
from cadency.kit.ids import new_id
from cadency.kit.periods import BillingFrequency
from cadency.kit.repository import get_referenced
from cadency.kit.schemas import DateStr, MoneyStr, Name, OutputModel, PercentStr, StrictModel
from cadency.subscriptions.models import LineItem

CUSTOM_LINE_ITEMS = "line_items.create_custom"
MAX_QUANTITY = 1_000_000
MAX_LINE_ITEMS = 100

BillingTerms = Literal["auto_renew", "fixed"]


class LineItemInput(StrictModel):
    """One line item in a request body (deals, quotes, subscriptions, payment links)."""

    product_id: Annotated[StrictStr, Field(max_length=40)] | None = Field(
        None, description="From the product library; omit for a custom item"
    )
    name: Name | None = Field(None, description="Required for custom items; default: product's")
    unit_price: MoneyStr | None = Field(
        None, description="Required for custom items; default: the product's price"
    )
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    unit_discount_percent: PercentStr | None = None
    tax_rate_id: Annotated[StrictStr, Field(max_length=40)] | None = None
    billing_frequency: BillingFrequency | None = Field(
        None, description="Default: the product's; null on a custom item: one-time"
    )
    billing_terms: BillingTerms | None = Field(
        None, description="Recurring items only; default auto_renew"
    )
    number_of_payments: Annotated[StrictInt, Field(ge=1, le=1000)] | None = Field(
        None, description="Required with fixed terms, not allowed with auto_renew"
    )
    billing_start_date: DateStr | None = None


LineItemList = Annotated[list[LineItemInput], Field(max_length=MAX_LINE_ITEMS)]


class LineItemOut(OutputModel):
    id: str
    object: Literal["line_item"] = "line_item"
    name: str
    product_id: str | None
    quantity: int
    unit_price: str
    unit_discount_percent: str | None
    tax_rate_id: str | None
    currency: str
    billing_frequency: BillingFrequency | None
    billing_terms: BillingTerms | None
    number_of_payments: int | None
    billing_start_date: date | None
    amount: str

    @classmethod
    def of(cls, item: LineItem) -> LineItemOut:
        return cls(
            id=item.id,
            name=item.name,
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price=money.format_amount(item.unit_price, item.currency),
            unit_discount_percent=(
                format_percent(item.unit_discount_percent)
                if item.unit_discount_percent is not None
                else None
            ),
            tax_rate_id=item.tax_rate_id,
            currency=item.currency,
            billing_frequency=(
                BillingFrequency(item.billing_frequency) if item.billing_frequency else None
            ),
            billing_terms=item.billing_terms,
            number_of_payments=item.number_of_payments,
            billing_start_date=item.billing_start_date,
            amount=money.format_amount(item.amount, item.currency),
        )


def build_line_item(
    session: Session,
    account: Account,
    item: LineItemInput,
    currency: str,
    *,
    allow_custom: bool,
    parent: Mapping[str, str],
    position: int = 0,
    param: str = "line_items.0",
) -> LineItem:
    """One `LineItem` row (added to the session, not flushed) from one input item.

    `parent` names the owning record's foreign key, e.g. `{"deal_id": deal.id}`. Errors name the
    field as `{param}.{field}`: 422 for bad values, 403 for a custom item without permission.
    """
    product: Product | None = None
    if item.product_id is not None:
        product = get_referenced(
            session, Product, account.id, item.product_id, "product", f"{param}.product_id"
        )
        if product.archived:
            raise InvalidRequest(
                "Product '%(product_id)s' is archived and cannot be added",
                product_id=product.id,
                param=f"{param}.product_id",
            )
        if product.currency != currency:
            raise InvalidRequest(
                "Product '%(product_id)s' is priced in %(currency)s, not %(expected)s",
                product_id=product.id,
                currency=product.currency,
                expected=currency,
                param=f"{param}.product_id",
            )
    else:
        if not allow_custom:
            raise PermissionDenied(
                "Line items that are not from the product library need the '%(needed)s' permission",
                needed=CUSTOM_LINE_ITEMS,
            )
        for field in ("name", "unit_price"):
            if getattr(item, field) is None:
                raise InvalidRequest(
                    "A custom line item (no 'product_id') needs '%(field)s'",
                    field=field,
                    param=f"{param}.{field}",
                )

    name = item.name if item.name is not None else (product.name if product else "")
    if item.unit_price is not None:
        unit_price = parse_money(item.unit_price, currency, f"{param}.unit_price")
    else:
        assert product is not None
        unit_price = product.unit_price
    if product is not None and not allow_custom:
        # The product's own name and price may be repeated (forms send them back), not changed.
        for field, value, own, refusal in (
            (
                "name",
                name,
                product.name,
                N_(
                    "Changing a library product's name on a line item needs the "
                    "'%(needed)s' permission"
                ),
            ),
            (
                "unit_price",
                unit_price,
                product.unit_price,
                N_(
                    "Changing a library product's unit price on a line item needs the "
                    "'%(needed)s' permission"
                ),
            ),
        ):
            if value != own:
                raise PermissionDenied(refusal, needed=CUSTOM_LINE_ITEMS, param=f"{param}.{field}")
    if item.billing_frequency is not None:
        frequency: str | None = item.billing_frequency.value
    else:
        frequency = product.billing_frequency if product else None

    terms = item.billing_terms
    if frequency is None:
        for field in ("billing_terms", "number_of_payments"):
            if getattr(item, field) is not None:
                raise InvalidRequest(
                    "A one-time line item has no '%(field)s' (set 'billing_frequency' to "
                    "make it recurring)",
                    field=field,
                    param=f"{param}.{field}",
                )
    else:
        terms = terms or "auto_renew"
        if terms == "fixed" and item.number_of_payments is None:
            raise InvalidRequest(
                "Fixed billing terms need 'number_of_payments' (1 or more)",
                param=f"{param}.number_of_payments",
            )
        if terms == "auto_renew" and item.number_of_payments is not None:
            raise InvalidRequest(
                "An auto-renewing line item renews until canceled and has no "
                "'number_of_payments' (use billing_terms 'fixed')",
                param=f"{param}.number_of_payments",
            )

    tax_rate_id = None
    if item.tax_rate_id is not None:
        tax_rate_id = get_referenced(
            session, TaxRate, account.id, item.tax_rate_id, "tax rate", f"{param}.tax_rate_id"
        ).id

    discount = Decimal(item.unit_discount_percent) if item.unit_discount_percent else None
    amount = money.line_amount(unit_price, item.quantity, discount)
    if abs(amount) > money.MAX_MINOR_UNITS:
        raise InvalidRequest("The line item's amount is too large", param=f"{param}.quantity")

    row = LineItem(
        id=new_id("li"),
        account_id=account.id,
        position=position,
        name=name,
        product_id=product.id if product else None,
        quantity=item.quantity,
        unit_price=unit_price,
        unit_discount_percent=discount,
        tax_rate_id=tax_rate_id,
        currency=currency,
        billing_frequency=frequency,
        billing_terms=terms if frequency else None,
        number_of_payments=item.number_of_payments if frequency else None,
        billing_start_date=item.billing_start_date,
        amount=amount,
        created_at=clock.account_now(account),
        **parent,
    )
    session.add(row)
    return row


def build_line_items(
    session: Session,
    account: Account,
    items: Sequence[LineItemInput],
    currency: str,
    *,
    allow_custom: bool,
    parent: Mapping[str, str],
    param: str = "line_items",
) -> list[LineItem]:
    """`LineItem` rows (added to the session, not flushed) for `items`, in order.

    `currency` is the owning record's; products in another currency are refused (422).
    `allow_custom` is whether the caller holds `line_items.create_custom`
    (`ctx.allows(CUSTOM_LINE_ITEMS)`). `parent` is the owner's foreign key, e.g.
    `{"quote_id": quote.id}` or `{"subscription_id": sub.id}`.
    """
    return [
        build_line_item(
            session,
            account,
            item,
            currency,
            allow_custom=allow_custom,
            parent=parent,
            position=index,
            param=f"{param}.{index}",
        )
        for index, item in enumerate(items)
    ]


def copy_line_items(
    session: Session, account: Account, items: Iterable[LineItem], *, parent: Mapping[str, str]
) -> list[LineItem]:
    """Copies of existing rows under a new owner (e.g. a deal's items onto its quote)."""
    copies = []
    now = clock.account_now(account)
    for position, item in enumerate(items):
        copy = LineItem(
            id=new_id("li"),
            account_id=account.id,
            position=position,
            name=item.name,
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price=item.unit_price,
            unit_discount_percent=item.unit_discount_percent,
            tax_rate_id=item.tax_rate_id,
            currency=item.currency,
            billing_frequency=item.billing_frequency,
            billing_terms=item.billing_terms,
            number_of_payments=item.number_of_payments,
            billing_start_date=item.billing_start_date,
            amount=item.amount,
            created_at=now,
            **parent,
        )
        session.add(copy)
        copies.append(copy)
    return copies


def load_line_items(
    session: Session, owner_column: InstrumentedAttribute[str | None], owner_ids: Sequence[str]
) -> dict[str, list[LineItem]]:
    """Line items of many owners in one query, by owner ID, each list in position order.

    `owner_column` is e.g. `LineItem.deal_id`; every ID in `owner_ids` gets a (maybe empty) list.
    """
    found: dict[str, list[LineItem]] = {owner_id: [] for owner_id in owner_ids}
    if not owner_ids:
        return found
    rows = session.scalars(
        select(LineItem)
        .where(owner_column.in_(list(owner_ids)))
        .order_by(LineItem.position, LineItem.id)
    )
    for row in rows:
        owner = getattr(row, owner_column.key)
        found.setdefault(owner, []).append(row)
    return found
