"""Accounts, users and API keys: creating them and finding who a request speaks for."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from argon2 import PasswordHasher
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cadency.accounts.models import (
    FIRST_ACCOUNT_ID,
    PERMISSIONS,
    Account,
    AccountIdCounter,
    ApiKey,
    User,
    UserSession,
)
from cadency.kit import clock, money
from cadency.kit.errors import Conflict, InvalidRequest, NotFound
from cadency.kit.housekeeping import delete_batch
from cadency.kit.ids import new_id

LANGUAGES = {"en": "en-US", "nl": "nl-NL", "da": "da-DK", "de": "de-DE"}
MODES = ("test", "live")
DUNNING_FINAL_ACTIONS = ("cancel", "leave_unpaid", "pause")
DUNNING_INVOICE_ACTIONS = ("mark_uncollectible", "leave_open")

_password_hasher = PasswordHasher()


def validate_timezone(name: str, param: str = "timezone") -> str:
    try:
        if name not in available_timezones():
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"Unknown time zone: '{name}'", param=param) from exc
    return name


def validate_currency(code: str, param: str = "currency") -> str:
    if not money.is_known_currency(code):
        raise InvalidRequest(f"Unknown currency: '{code}' (use an ISO 4217 code)", param=param)
    return code


def validate_language(language: str, param: str = "language") -> str:
    if language not in LANGUAGES:
        raise InvalidRequest(
            f"Unsupported language: '{language}' (one of {', '.join(LANGUAGES)})", param=param
        )
    return language


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_account(
    session: Session,
    *,
    name: str,
    timezone: str = "UTC",
    currency: str = "USD",
    language: str = "en",
    mode: str = "test",
) -> tuple[Account, str]:
    """Create an account and its first API key (all permissions). Returns (account, secret)."""
    if not name.strip():
        raise InvalidRequest("The account needs a name", param="name")
    validate_timezone(timezone)
    validate_currency(currency)
    validate_language(language)
    if mode not in MODES:
        raise InvalidRequest("mode must be 'test' or 'live'", param="mode")
    now = clock.real_now()
    counter = session.get(AccountIdCounter, 1, with_for_update=True)
    highest = max(
        counter.last_account_id if counter else 0,
        session.scalar(select(func.max(Account.id))) or 0,
    )
    account = Account(
        id=max(FIRST_ACCOUNT_ID, highest + 1),
        name=name.strip(),
        timezone=timezone,
        currency=currency,
        language=language,
        locale=LANGUAGES[language],
        mode=mode,
        clock_now=now.replace(microsecond=0) if mode == "test" else None,
        renewal_reminder_days=14,
        dunning_retry_days=[3, 5, 7],
        dunning_final_action="cancel",
        dunning_invoice_action="mark_uncollectible",
        invoice_number_prefix="INV",
        created_at=now,
    )
    session.add(account)
    if counter is None:
        session.add(AccountIdCounter(id=1, last_account_id=account.id))
    else:
        counter.last_account_id = account.id
    session.flush()
    _key, secret = create_api_key(session, account, name="Default key", scopes=["super_admin"])
    return account, secret


def create_api_key(
    session: Session, account: Account, *, name: str, scopes: Sequence[str]
) -> tuple[ApiKey, str]:
    _check_permissions(scopes, "scopes")
    secret = f"cad_{account.mode}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=new_id("key"),
        account_id=account.id,
        name=name,
        key_hash=hash_api_key(secret),
        key_prefix=secret[:14],
        scopes=list(scopes),
        created_at=clock.real_now(),
    )
    session.add(key)
    session.flush()
    return key, secret


def find_api_key(session: Session, secret: str) -> tuple[ApiKey, Account] | None:
    row = session.execute(
        select(ApiKey, Account)
        .join(Account, Account.id == ApiKey.account_id)
        .where(ApiKey.key_hash == hash_api_key(secret), ApiKey.revoked_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


def _check_permissions(permissions: Sequence[str], param: str) -> None:
    for permission in permissions:
        if permission not in PERMISSIONS:
            raise InvalidRequest(
                f"Unknown permission: '{permission}' (one of {', '.join(PERMISSIONS)})",
                param=param,
            )


def create_user(
    session: Session,
    account: Account,
    *,
    email: str,
    password: str,
    permissions: Sequence[str] = (),
) -> User:
    """Create a user; with no permissions given, the user is a super admin."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidRequest(f"Not an email address: '{email}'", param="email")
    if len(password) < 8:
        raise InvalidRequest("The password needs at least 8 characters", param="password")
    _check_permissions(permissions, "permission")
    exists = session.scalar(
        select(User.id).where(User.account_id == account.id, User.email == email)
    )
    if exists is not None:
        raise Conflict(f"A user with email '{email}' already exists in this account", param="email")
    user = User(
        account_id=account.id,
        email=email,
        password_hash=_password_hasher.hash(password),
        permissions=list(permissions) or ["super_admin"],
        created_at=clock.real_now(),
    )
    session.add(user)
    session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    try:
        return _password_hasher.verify(user.password_hash, password)
    except Exception:  # argon2 raises several error types; all mean "no"
        return False


def get_account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def update_settings(session: Session, account: Account, changes: dict[str, Any]) -> Account:
    """Apply a partial update of the account settings (API.md "Account settings")."""
    if "timezone" in changes:
        account.timezone = validate_timezone(changes["timezone"])
    if "currency" in changes:
        account.currency = validate_currency(changes["currency"])
    if "language" in changes:
        account.language = validate_language(changes["language"])
        if "locale" not in changes:
            account.locale = LANGUAGES[account.language]
    if "locale" in changes:
        account.locale = changes["locale"]
    if "renewal_reminder_days" in changes:
        account.renewal_reminder_days = changes["renewal_reminder_days"]
    if "dunning_retry_days" in changes:
        days = list(changes["dunning_retry_days"])
        if days != sorted(set(days)):
            raise InvalidRequest(
                "dunning_retry_days must be increasing whole days, e.g. [3, 5, 7]",
                param="dunning_retry_days",
            )
        account.dunning_retry_days = days
    for field in ("dunning_final_action", "dunning_invoice_action", "invoice_number_prefix"):
        if field in changes:
            setattr(account, field, changes[field])
    session.flush()
    return account


# --- Web sessions -------------------------------------------------------------------------

SESSION_LIFETIME = timedelta(days=14)


def _session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password. An email may belong to users of several
    accounts; the password decides which (the oldest account first when several match)."""
    candidates = session.scalars(
        select(User)
        .where(User.email == email.strip().lower(), User.is_active.is_(True))
        .order_by(User.account_id)
    ).all()
    for user in candidates:
        if verify_password(user, password):
            return user
    if not candidates:
        # Spend the same time as a real check, so response times do not reveal who has a login.
        _password_hasher.hash(password)
    return None


def start_session(session: Session, user: User) -> tuple[str, UserSession]:
    """A new signed-in session; the returned token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    now = clock.real_now()
    # Expired sessions of this user go as a new one starts, so the table does not grow forever.
    session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now)
    )
    row = UserSession(
        token_hash=_session_hash(token),
        user_id=user.id,
        account_id=user.account_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    session.flush()
    return token, row


def find_session(session: Session, token: str) -> tuple[UserSession, User, Account] | None:
    row = session.get(UserSession, _session_hash(token))
    if row is None or row.expires_at <= clock.real_now():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    account = session.get(Account, user.account_id)
    if account is None:
        return None
    return row, user, account


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == _session_hash(token)))


def purge_expired_sessions(session: Session, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` web sessions past their expiry (of users who never sign in again;
    `start_session` clears a returning user's own). Returns how many went."""
    return delete_batch(session, UserSession, UserSession.expires_at <= now, limit=limit)


# --- Users of an account (the users page) ---------------------------------------------------


def list_users(session: Session, account_id: int) -> Sequence[User]:
    """Every user of the account, active or not, by email."""
    return session.scalars(
        select(User).where(User.account_id == account_id).order_by(User.email)
    ).all()


def get_user(session: Session, account_id: int, user_id: int) -> User:
    """One user of this account, or 404 (another account's user is simply not found)."""
    user = session.scalar(select(User).where(User.account_id == account_id, User.id == user_id))
    if user is None:
        raise NotFound(f"No such user: '{user_id}'")
    return user


def _normalised_permissions(permissions: Sequence[str]) -> list[str]:
    """Known permissions, each once, in the order of PERMISSIONS (so lists compare and read
    the same everywhere)."""
    _check_permissions(permissions, "permissions")
    return [permission for permission in PERMISSIONS if permission in permissions]


def set_permissions(
    session: Session, user: User, permissions: Sequence[str], *, acting_user_id: int
) -> User:
    """Replace a user's permissions. A user needs at least one (an empty list would read as a
    super admin to `create_user`), and nobody removes their own super admin permission: the
    account must never lose the last person who can manage users by accident."""
    wanted = _normalised_permissions(permissions)
    if not wanted:
        raise InvalidRequest("Choose at least one permission", param="permissions")
    removes_own_super_admin = "super_admin" in user.permissions and "super_admin" not in wanted
    if user.id == acting_user_id and removes_own_super_admin:
        raise Conflict(
            "You cannot remove your own super admin permission; ask another super admin",
            param="permissions",
        )
    user.permissions = wanted
    session.flush()
    return user


def set_active(session: Session, user: User, active: bool, *, acting_user_id: int) -> User:
    """Deactivate (or reactivate) a user. Deactivation ends every session of the user at once,
    so an open browser stops working on its next request; nobody deactivates themselves."""
    if not active and user.id == acting_user_id:
        raise Conflict("You cannot deactivate yourself; ask another super admin", param="active")
    user.is_active = active
    if not active:
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.flush()
    return user


def set_user_language(session: Session, user: User, language: str | None) -> User:
    """The user's own language for the web app; None follows the browser."""
    if language is not None:
        validate_language(language)
    user.language = language
    session.flush()
    return user


def set_payment_notifications(session: Session, user: User, enabled: bool) -> User:
    """Whether the user, as a super admin, gets an email of each payment (SPEC §5)."""
    user.notify_payments = enabled
    session.flush()
    return user
