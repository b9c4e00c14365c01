"""The product library, tax rates and fees."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.accounts.service import validate_currency
from cadency.catalog.models import Fee, Product, TaxRate
from cadency.catalog.schemas import FeeCreate, ProductCreate, TaxRateCreate
from cadency.kit import clock, money
from cadency.kit.errors import InvalidRequest
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned, get_referenced
from cadency.kit.text_search import contains_text


def parse_money(text: str, currency: str, param: str) -> int:
    try:
        return money.parse_amount(text, currency)
    except money.MoneyError as exc:
        raise InvalidRequest(
            "Invalid value for '%(field_name)s': %(problem)s",
            field_name=param,
            problem=exc,
            param=param,
        ) from exc


def create_product(session: Session, account: Account, data: ProductCreate) -> Product:
    currency = validate_currency(data.currency or account.currency)
    now = clock.account_now(account)
    product = Product(
        id=new_id("prod"),
        account_id=account.id,
        name=data.name,
        description=data.description,
        sku=data.sku,
        unit_price=parse_money(data.unit_price, currency, "unit_price"),
        currency=currency,
        billing_frequency=data.billing_frequency.value if data.billing_frequency else None,
        tax_category=data.tax_category,
        archived=data.archived,
        created_at=now,
        updated_at=now,
    )
    if data.fallback_product_id is not None:
        product.fallback_product_id = _fallback(session, account, product, data.fallback_product_id)
    session.add(product)
    session.flush()
    return product


def update_product(
    session: Session, account: Account, product_id: str, changes: dict[str, Any]
) -> Product:
    product = get_owned(session, Product, account.id, product_id, "product")
    for field in ("name", "description", "sku", "tax_category", "archived"):
        if field in changes:
            if changes[field] is None and field in ("name", "archived"):
                raise InvalidRequest("'%(field)s' cannot be null", field=field, param=field)
            setattr(product, field, changes[field])
    if "unit_price" in changes:
        if changes["unit_price"] is None:
            raise InvalidRequest("'unit_price' cannot be null", param="unit_price")
        product.unit_price = parse_money(changes["unit_price"], product.currency, "unit_price")
    if "billing_frequency" in changes:
        frequency = changes["billing_frequency"]
        product.billing_frequency = frequency.value if frequency else None
    if "fallback_product_id" in changes:
        fallback_id = changes["fallback_product_id"]
        product.fallback_product_id = (
            _fallback(session, account, product, fallback_id) if fallback_id else None
        )
    product.updated_at = clock.account_now(account)
    session.flush()
    return product


def _fallback(session: Session, account: Account, product: Product, fallback_id: str) -> str:
    """A fallback plan is another recurring product of the same currency."""
    fallback = get_referenced(
        session, Product, account.id, fallback_id, "product", "fallback_product_id"
    )
    if fallback.id == product.id or not fallback.billing_frequency:
        raise InvalidRequest(
            "The fallback plan must be another, recurring product", param="fallback_product_id"
        )
    if fallback.currency != product.currency:
        raise InvalidRequest(
            "The fallback plan must be priced in the same currency", param="fallback_product_id"
        )
    return fallback.id


def list_products(
    session: Session,
    account: Account,
    *,
    archived: bool | None,
    limit: int,
    cursor: str | None,
    currency: str | None = None,
    query: str | None = None,
) -> tuple[Sequence[Product], bool, str | None]:
    """Products, newest first. `currency`: only those priced in it. `query`: text the name,
    SKU or description contains, ignoring case (blank: every product)."""
    statement = select(Product).where(Product.account_id == account.id)
    if archived is not None:
        statement = statement.where(Product.archived == archived)
    if currency is not None:
        statement = statement.where(Product.currency == currency)
    if query and query.strip():
        statement = statement.where(
            contains_text([Product.name, Product.sku, Product.description], query)
        )
    return paginate(session, statement, Product.id, limit=limit, cursor=cursor)


def create_tax_rate(session: Session, account: Account, data: TaxRateCreate) -> TaxRate:
    rate = TaxRate(
        id=new_id("txr"),
        account_id=account.id,
        name=data.name,
        percentage=Decimal(data.percentage),
        jurisdiction=data.jurisdiction,
        created_at=clock.account_now(account),
    )
    session.add(rate)
    session.flush()
    return rate


def list_tax_rates(
    session: Session, account: Account, *, limit: int, cursor: str | None
) -> tuple[Sequence[TaxRate], bool, str | None]:
    query = select(TaxRate).where(TaxRate.account_id == account.id)
    return paginate(session, query, TaxRate.id, limit=limit, cursor=cursor)


def create_fee(session: Session, account: Account, data: FeeCreate) -> Fee:
    fee = Fee(
        id=new_id("fee"),
        account_id=account.id,
        name=data.name,
        fee_type=data.fee_type,
        created_at=clock.account_now(account),
    )
    if data.fee_type == "fixed":
        if data.amount is None or data.percentage is not None:
            raise InvalidRequest("A fixed fee has an 'amount' and no 'percentage'", param="amount")
        fee.currency = validate_currency(data.currency or account.currency)
        fee.amount = parse_money(data.amount, fee.currency, "amount")
    else:
        if data.percentage is None or data.amount is not None or data.currency is not None:
            raise InvalidRequest(
                "A percentage fee has a 'percentage' and no 'amount' or 'currency'",
                param="percentage",
            )
        fee.percentage = Decimal(data.percentage)
    session.add(fee)
    session.flush()
    return fee


def list_fees(
    session: Session, account: Account, *, limit: int, cursor: str | None
) -> tuple[Sequence[Fee], bool, str | None]:
    query = select(Fee).where(Fee.account_id == account.id)
    return paginate(session, query, Fee.id, limit=limit, cursor=cursor)


def fee_amount(fee: Fee, base: int) -> int:
    """What a fee adds to an invoice whose amount so far is `base` (minor units)."""
    if fee.fee_type == "fixed":
        return fee.amount or 0
    return money.percent_of(base, fee.percentage or Decimal(0))
