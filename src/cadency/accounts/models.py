"""Accounts (tenants), their users and API keys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column

from cadency.kit.db import Base

# The operator's installation hands out account IDs ("Hub IDs") from here, so they look like IDs.
FIRST_ACCOUNT_ID = 10_000_001

PERMISSIONS = (
    "subscriptions.view",
    "subscriptions.edit",
    "subscriptions.delete",
    "subscriptions.export",
    "line_items.create_custom",
    "properties.edit",
    "properties.view_sensitive",
    "billing.edit",
    "analytics.view",
    "super_admin",
)
SUPER_ADMIN = "super_admin"


def grants(permissions: Iterable[str] | None, permission: str) -> bool:
    """Whether a user's permissions (or a key's scopes) include `permission`: a super admin
    holds every permission."""
    granted = set(permissions or ())
    return SUPER_ADMIN in granted or permission in granted


class Account(Base):
    __tablename__ = "accounts"

    # Assigned by the service (max + 1, from FIRST_ACCOUNT_ID) so both databases agree.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(8))
    locale: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))  # "test" | "live"
    # A test-mode account's clock: the simulated instant it was last set to, and the real
    # instant it was set at. Between moves it runs on with real time (SPEC "Clock"), so a test
    # account left alone renews like a live one. Live accounts leave both empty.
    clock_now: Mapped[datetime | None]
    clock_set_at: Mapped[datetime | None]
    renewal_reminder_days: Mapped[int | None] = mapped_column(default=14)
    dunning_retry_days: Mapped[list[Any]] = mapped_column(default=lambda: [3, 5, 7])
    dunning_final_action: Mapped[str] = mapped_column(String(16), default="cancel")
    dunning_invoice_action: Mapped[str] = mapped_column(String(24), default="mark_uncollectible")
    invoice_number_prefix: Mapped[str] = mapped_column(String(16))
    # The last invoice number handed out; incremented under a row lock.
    invoice_sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    # The account that bills the others for their plans (SPEC §9); there is at most one.
    operator: Mapped[bool] = mapped_column(default=False, server_default=false())
    # standard | partner | developer: the last two arrange their plan with a person.
    kind: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    # The operator's: how long a new account's trial of a paid plan lasts.
    trial_days: Mapped[int] = mapped_column(default=30, server_default="30")
    # How buyers pay by bank transfer (account holder, IBAN, reference): shown where online
    # payment is off, so the buyer still knows how to pay.
    bank_transfer_details: Mapped[str | None] = mapped_column(String(1000))
    # What a new invoice or subscription carries when it is made without its own comment or
    # tax IDs (seed 004): Markdown like every invoice comment; the tax IDs as the invoice
    # shows them (e.g. "NL123456789B01"). Empty: none.
    default_invoice_comment: Mapped[str | None] = mapped_column(Text)
    tax_ids: Mapped[list[Any] | None]
    created_at: Mapped[datetime]


class AccountIdCounter(Base):
    """The last account ID handed out. Kept apart from the accounts table so that the ID of a
    deleted account is never given to a new one (the operator's records still name it)."""

    __tablename__ = "account_id_counter"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1: one row
    last_account_id: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    permissions: Mapped[list[Any]]
    is_active: Mapped[bool] = mapped_column(default=True)
    # The web app's language for this user; empty = the browser's, else the account's.
    language: Mapped[str | None] = mapped_column(String(8))
    # Emails of the account's payments (first, succeeded, failed) to super admins; each can
    # turn them off on their profile (SPEC §5 "Receipts").
    notify_payments: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime]


class UserSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    copy of the database cannot be used to sign in."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # Forms and htmx requests must echo this token (double submit is not enough when a
    # sibling subdomain can set cookies; a server-side token is).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PasswordReset(Base):
    """A "forgot password" request: the emailed link's token is never stored, only its
    SHA-256. Valid for an hour and once (`used_at`)."""

    __tablename__ = "password_resets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # Only a SHA-256 of the secret is stored; the secret is shown once, when the key is made.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(24))
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Who made it: a user's email, the ID of the API key that made it, or "cli"; empty for keys
    # made before this was recorded.
    created_by: Mapped[str | None] = mapped_column(String(320))
    # Refreshed at most once a minute per key (accounts.auth), so reads stay reads.
    last_used_at: Mapped[datetime | None]
    # Real time, not the test clock: expiry is about security, not billing.
    expires_at: Mapped[datetime | None]
