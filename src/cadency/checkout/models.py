"""Payment links with their line items, and the record of each quote or deal conversion."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cadency.kit.db import Base


class PaymentLink(Base):
    """A hosted checkout for chosen line items; every checkout through it is a new purchase."""

    __tablename__ = "payment_links"
    __table_args__ = (Index("ix_payment_links_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    # How the subscriptions a checkout creates collect their later payments.
    collection_method: Mapped[str] = mapped_column(String(24))
    payment_terms: Mapped[str | None] = mapped_column(String(24))  # send_invoice renewals
    active: Mapped[bool] = mapped_column(default=True)
    # How the buyer may pay on the hosted page (the subscriptions' `payment_options` shape);
    # None reads as the defaults. The subscriptions a checkout makes take these options.
    payment_options: Mapped[dict[str, Any] | None]
    # What the hosted page shows of the merchant: a logo (an https URL), the pay button's
    # words and the message after a purchase; None shows the page's own.
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    button_text: Mapped[str | None] = mapped_column(String(40))
    confirmation_message: Mapped[str | None] = mapped_column(String(1000))
    # The deal the link sells for (optional): the deal's page lists its links, and the
    # subscriptions a checkout through it makes are associated with the deal (as in HubSpot).
    deal_id: Mapped[str | None] = mapped_column(ForeignKey("deals.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    line_items: Mapped[list[PaymentLinkItem]] = relationship(
        order_by="PaymentLinkItem.position", lazy="raise", cascade="all, delete-orphan"
    )


class PaymentLinkItem(Base):
    """A priced line of a payment link, frozen when the link is made (as `LineItem` is for
    subscriptions, deals and quotes): later product edits do not change what the link sells."""

    __tablename__ = "payment_link_items"
    __table_args__ = (Index("ix_payment_link_items_payment_link_id", "payment_link_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payment_link_id: Mapped[str] = mapped_column(ForeignKey("payment_links.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(255))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    unit_discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    tax_rate_id: Mapped[str | None] = mapped_column(ForeignKey("tax_rates.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    billing_frequency: Mapped[str | None] = mapped_column(String(20))  # None: one-time
    billing_terms: Mapped[str | None] = mapped_column(String(12))
    number_of_payments: Mapped[int | None]
    billing_start_date: Mapped[date | None]
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class Conversion(Base):
    """A quote or deal converted into subscriptions or an invoice. One per source record: the
    unique constraint refuses a second conversion, also when two requests race."""

    __tablename__ = "conversions"
    __table_args__ = (UniqueConstraint("account_id", "source_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    source_type: Mapped[str] = mapped_column(String(16))  # "quote" | "deal"
    source_id: Mapped[str] = mapped_column(String(40))
    subscription_ids: Mapped[list[Any]]
    invoice_ids: Mapped[list[Any]]
    # The first invoice: of the first subscription, or the one invoice of one-time items.
    invoice_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class PaymentLinkPurchase(Base):
    """One checkout through a payment link: who bought, and what it made. The link's page lists
    these; nothing else records which link a purchase came through."""

    __tablename__ = "payment_link_purchases"
    __table_args__ = (
        Index("ix_payment_link_purchases_link", "account_id", "payment_link_id", "id"),
        UniqueConstraint(
            "account_id",
            "payment_link_id",
            "idempotency_key",
            name="uq_payment_link_purchases_form_key",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # lpur_…
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payment_link_id: Mapped[str] = mapped_column(ForeignKey("payment_links.id"), index=True)
    contact_id: Mapped[str] = mapped_column(String(40))
    subscription_ids: Mapped[list[Any]]
    invoice_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    # The hosted page's form key: a reload or a second tab posting the same form finds this
    # purchase instead of buying again.
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
