"""Plans the operator sells, each merchant account's place at the operator, and paid seats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base


class Plan(Base):
    """A plan of the operator's: its monthly and yearly products (subscriptions bill those) and
    what an account on it may do."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("operator_account_id", "code"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    code: Mapped[str] = mapped_column(String(32))  # free | starter | pro | business
    name: Mapped[str] = mapped_column(String(255))
    position: Mapped[int]
    monthly_product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    yearly_product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    included_seats: Mapped[int]
    # None: as many as the installation allows.
    custom_property_limit: Mapped[int | None]
    workflows: Mapped[bool]
    # How many workflows an account on the plan may have; None: as many as the installation allows.
    workflow_limit: Mapped[int | None]


class AccountPlan(Base):
    """A merchant account as the operator's customer: its billing contact in the operator
    account and the subscription that is its plan."""

    __tablename__ = "account_plans"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    operator_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    created_at: Mapped[datetime]


class SeatAssignment(Base):
    """A paid seat of the account's plan, held by one of its users."""

    __tablename__ = "seat_assignments"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    assigned_at: Mapped[datetime]
