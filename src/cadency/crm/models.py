"""Contacts, companies, deals, quotes and the typed, labelled associations between records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    case,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base
from cadency.kit.text_search import text_index


class Archivable:
    """A record HubSpot's way of deleting archives (contacts, companies, deals): set while
    archived, out of lists and searches, still read by ID."""

    archived_at: Mapped[datetime | None]

    @hybrid_property
    def archived(self) -> bool:
        return self.archived_at is not None

    @archived.inplace.expression
    @classmethod
    def _archived_sql(cls) -> ColumnElement[bool]:
        return cls.archived_at.is_not(None)


class Contact(Archivable, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_account_id_id", "account_id", "id"),
        Index("ix_contacts_account_id_email", "account_id", "email"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[dict[str, Any] | None]
    # The language the contact reads emails and invoices in, unless the subscription names one.
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def display_name(self) -> str:
        # The same rule in SQL: display_name_sql.
        full = " ".join(p for p in (self.first_name, self.last_name) if p)
        return full or self.email


# The contacts list's search box and the filter language's `contains_token` on these columns
# read a trigram index instead of every contact (kit/text_search.py).
CONTACT_TEXT = text_index("contacts", "email", "first_name", "last_name")


def display_name_sql(contact: Any) -> ColumnElement[str]:
    """Contact.display_name as SQL, over `contact` (the Contact entity or an alias of it):
    first and last name joined by a space, or the email when both are empty."""
    first = func.coalesce(contact.first_name, "")
    last = func.coalesce(contact.last_name, "")
    full = case(
        (first == "", last),
        (last == "", first),
        else_=first + " " + last,
    )
    return func.coalesce(func.nullif(full, ""), contact.email)


class Company(Archivable, Base):
    __tablename__ = "companies"
    __table_args__ = (Index("ix_companies_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


COMPANY_TEXT = text_index("companies", "name", "domain")


class Deal(Archivable, Base):
    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    stage: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # sum of the line items, minor units
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def not_archived(model: Any) -> ColumnElement[bool]:
    """The records of `model` (Contact, Company or Deal) that are not archived, as SQL: the
    condition every list and search of them adds."""
    condition: ColumnElement[bool] = model.archived_at.is_(None)
    return condition


class Quote(Base):
    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # draft | published | accepted
    currency: Mapped[str] = mapped_column(String(3))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"), index=True)
    deal_id: Mapped[str | None] = mapped_column(ForeignKey("deals.id"), index=True)
    expires_on: Mapped[date | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Association(Base):
    """A typed, labelled link between two records (subscription ↔ contact, deal, quote, …)."""

    __tablename__ = "associations"
    __table_args__ = (
        UniqueConstraint("account_id", "from_id", "to_id", "label"),
        Index("ix_associations_to_id", "to_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    from_type: Mapped[str] = mapped_column(String(24))
    from_id: Mapped[str] = mapped_column(String(40))
    to_type: Mapped[str] = mapped_column(String(24))
    to_id: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
