"""Accounts, users and API keys: creating them and finding who a request speaks for."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from argon2 import PasswordHasher
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from cadency.accounts.models import (
    FIRST_ACCOUNT_ID,
    PERMISSIONS,
    Account,
    AccountIdCounter,
    ApiKey,
    PasswordReset,
    User,
    UserSession,
)
from cadency.kit import clock, money, outbox, signing
from cadency.kit.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from cadency.kit.events import EventType
from cadency.kit.housekeeping import delete_batch
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.kit.schemas import text_problem

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
        raise InvalidRequest("Unknown time zone: '%(name)s'", name=name, param=param) from exc
    return name


def validate_currency(code: str, param: str = "currency") -> str:
    """The one check of a currency an account, product, fee, deal, link or subscription is
    priced in (422 naming `param`)."""
    if not money.is_known_currency(code):
        raise InvalidRequest(
            "Unknown currency: '%(code)s' (use an ISO 4217 code)", code=code, param=param
        )
    if not money.is_transaction_currency(code):
        raise InvalidRequest(
            "'%(code)s' is not a currency payments are made in (a fund, precious "
            "metal, testing or withdrawn code); use a currency such as USD or EUR",
            code=code,
            param=param,
        )
    return code


def validate_language(language: str, param: str = "language") -> str:
    if language not in LANGUAGES:
        raise InvalidRequest(
            "Unsupported language: '%(language)s' (one of %(languages)s)",
            language=language,
            languages=", ".join(LANGUAGES),
            param=param,
        )
    return language


def due_by_own_clock(
    session: Session,
    earliest: dict[int, datetime | None],
    *,
    account_id: int | None = None,
    at: datetime | None = None,
) -> dict[int, datetime]:
    """Of the accounts with work from `earliest` on, those for which it is due by their own
    clock (a test clock or real time), each with that now; `at` is the now of the one account
    asked for (a clock advance passes where it moved the clock to)."""
    due: dict[int, datetime] = {}
    for account in session.scalars(select(Account).where(Account.id.in_(earliest))):
        now = at if at is not None and account_id is not None else clock.account_now(account)
        first = earliest[account.id]
        if first is not None and first <= now:
            due[account.id] = now
    return due


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
    created_by: str | None = None,
) -> tuple[Account, str]:
    """Create an account and its first API key (all permissions). Returns (account, secret)."""
    if not name.strip():
        raise InvalidRequest("The account needs a name", param="name")
    if problem := text_problem(name):  # it is the display name in the From of its emails
        raise InvalidRequest("Invalid value for 'name': %(problem)s", problem=problem, param="name")
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
        clock_set_at=now.replace(microsecond=0) if mode == "test" else None,
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
    _key, secret = create_api_key(
        session, account, name="Default key", scopes=["super_admin"], created_by=created_by
    )
    return account, secret


# --- API keys ----------------------------------------------------------------------------------

API_KEY_NAME_MAX = 255  # as every other name (kit.schemas.Name)
# Enough for every integration an account runs; a runaway script stops here, not at the disk.
MAX_ACTIVE_API_KEYS = 100
# "Last used" is written at most this often per key, so reading through the API stays a read.
LAST_USED_PRECISION = timedelta(minutes=1)
# Who made a key when no user or key did: the operator's command line.
CREATED_BY_CLI = "cli"


def create_api_key(
    session: Session,
    account: Account,
    *,
    name: str,
    scopes: Sequence[str],
    created_by: str | None = None,
    creator_permissions: Sequence[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Make an API key; returns (key, secret). Only the secret's SHA-256 is kept, so the
    secret is shown to its maker once. A creator (user or key, by its `creator_permissions`)
    cannot hand out a permission it lacks."""
    name = name.strip()
    if not name:
        raise InvalidRequest("The API key needs a name", param="name")
    if len(name) > API_KEY_NAME_MAX:
        raise InvalidRequest(
            "The name is longer than %(api_key_name_max)s characters",
            api_key_name_max=API_KEY_NAME_MAX,
            param="name",
        )
    wanted = _normalised_permissions(scopes, "scopes")
    if not wanted:
        raise InvalidRequest("Choose at least one scope", param="scopes")
    if "super_admin" in wanted:
        wanted = ["super_admin"]  # it already holds every other permission
    if creator_permissions is not None and "super_admin" not in creator_permissions:
        for scope in wanted:
            if scope not in creator_permissions:
                raise PermissionDenied(
                    "You cannot grant the '%(scope)s' permission: you do not have it",
                    scope=scope,
                    param="scopes",
                )
    now = clock.real_now()
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("expires_at must be in the future", param="expires_at")
    active = session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.account_id == account.id, ApiKey.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_ACTIVE_API_KEYS:
        raise Conflict(
            "The account already has %(max_active_api_keys)s active API keys; revoke one first",
            max_active_api_keys=MAX_ACTIVE_API_KEYS,
        )
    secret = f"cad_{account.mode}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=new_id("key"),
        account_id=account.id,
        name=name,
        key_hash=hash_api_key(secret),
        key_prefix=secret[:14],
        scopes=wanted,
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, secret


# Built once: every API request runs it (the statement's construction cost as much as its
# execution on a warm connection).
_FIND_API_KEY = (
    select(ApiKey, Account)
    .join(Account, Account.id == ApiKey.account_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


def find_api_key(session: Session, secret: str) -> tuple[ApiKey, Account] | None:
    """The key with this secret and its account, unless revoked (expired keys are found, so
    the caller can say that they expired). Read from the database on every call: a revoked
    key is refused from the next request on."""
    row = session.execute(_FIND_API_KEY, {"key_hash": hash_api_key(secret)}).first()
    return (row[0], row[1]) if row else None


def api_key_expired(key: ApiKey, now: datetime) -> bool:
    return key.expires_at is not None and key.expires_at <= now


def note_api_key_use(key: ApiKey, now: datetime) -> bool:
    """Record that the key was used; True when that changed the row (at most once a minute)."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_PRECISION:
        return False
    key.last_used_at = now
    return True


def list_api_keys(
    session: Session, account: Account, *, limit: int, cursor: str | None
) -> tuple[Sequence[ApiKey], bool, str | None]:
    """The account's keys, revoked ones included, newest first."""
    query = select(ApiKey).where(ApiKey.account_id == account.id)
    return paginate(session, query, ApiKey.id, limit=limit, cursor=cursor)


def get_api_key(session: Session, account: Account, key_id: str) -> ApiKey:
    return get_owned(session, ApiKey, account.id, key_id, "API key")


def revoke_api_key(session: Session, key: ApiKey) -> ApiKey:
    """Revoke a key; the next request with it is refused. Revoking twice changes nothing."""
    if key.revoked_at is None:
        key.revoked_at = clock.real_now()
        session.flush()
    return key


def _check_permissions(permissions: Sequence[str], param: str) -> None:
    for permission in permissions:
        if permission not in PERMISSIONS:
            raise InvalidRequest(
                "Unknown permission: '%(permission)s' (one of %(permissions)s)",
                permission=permission,
                permissions=", ".join(PERMISSIONS),
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
    if problem := text_problem(email):
        raise InvalidRequest(
            "Invalid value for 'email': %(problem)s", problem=problem, param="email"
        )
    if "@" not in email or len(email) > 320:
        raise InvalidRequest("Not an email address: '%(email)s'", email=email, param="email")
    if len(password) < 8:
        raise InvalidRequest("The password needs at least 8 characters", param="password")
    _check_permissions(permissions, "permission")
    exists = session.scalar(
        select(User.id).where(User.account_id == account.id, User.email == email)
    )
    if exists is not None:
        raise Conflict(
            "A user with email '%(email)s' already exists in this account",
            email=email,
            param="email",
        )
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
    if "bank_transfer_details" in changes:
        details = (changes["bank_transfer_details"] or "").strip()
        account.bank_transfer_details = details or None
    if "default_invoice_comment" in changes:
        comment = (changes["default_invoice_comment"] or "").strip()
        account.default_invoice_comment = comment or None
    if "tax_ids" in changes:
        tax_ids = [tax_id.strip() for tax_id in changes["tax_ids"] or []]
        if not all(tax_ids):
            raise InvalidRequest("tax_ids cannot hold a blank tax ID", param="tax_ids")
        if len(set(tax_ids)) != len(tax_ids):
            raise InvalidRequest("tax_ids must not name a tax ID twice", param="tax_ids")
        account.tax_ids = tax_ids or None
    session.flush()
    return account


@dataclass(frozen=True)
class InvoiceDefaults:
    comment: str | None
    tax_ids: list[str]


def invoice_defaults(account: Account) -> InvoiceDefaults:
    """What a new invoice or subscription carries when made without its own comment or tax
    IDs (`billing.invoicing.invoice_texts` applies them; forms prefill their fields with them)."""
    return InvoiceDefaults(account.default_invoice_comment, list(account.tax_ids or []))


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
        raise NotFound("No such user: '%(user_id)s'", user_id=user_id)
    return user


def _normalised_permissions(permissions: Sequence[str], param: str = "permissions") -> list[str]:
    """Known permissions, each once, in the order of PERMISSIONS (so lists compare and read
    the same everywhere)."""
    _check_permissions(permissions, param)
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


# --- Passwords: changing one, and resetting a forgotten one by email ----------------------

MIN_PASSWORD_LENGTH = 10
# Beyond this a password is no stronger, only slower to hash: a cap keeps argon2 cheap.
MAX_PASSWORD_LENGTH = 1000
PASSWORD_RESET_LIFETIME = timedelta(hours=1)
_RESET_PURPOSE = "password_reset"


def check_new_password(user: User, password: str, param: str = "new_password") -> None:
    """The rules a new password of a user meets (a user's first password keeps the older,
    shorter minimum of `create_user`)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            "The new password needs at least %(min_password_length)s characters",
            min_password_length=MIN_PASSWORD_LENGTH,
            param=param,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            "The new password can have at most %(max_password_length)s characters",
            max_password_length=MAX_PASSWORD_LENGTH,
            param=param,
        )
    if password.strip().lower() == user.email.lower():
        raise InvalidRequest("The new password must not be your email address", param=param)


def _set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = _password_hasher.hash(password)
    # Every reset link asked for earlier is spent: the password it was for has gone.
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=clock.real_now())
    )


def change_password(
    session: Session, user: User, *, current_password: str, new_password: str, keep_session: str
) -> User:
    """Change the signed-in user's password. Every other session of the user ends (a browser
    someone else signed in on is signed out); `keep_session` (the current cookie) stays."""
    if not verify_password(user, current_password):
        raise InvalidRequest("The current password is not right", param="current_password")
    check_new_password(user, new_password)
    _set_password(session, user, new_password)
    session.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id, UserSession.token_hash != _session_hash(keep_session)
        )
    )
    session.flush()
    return user


def request_password_reset(session: Session, email: str) -> int:
    """Mail a reset link to each active user with this email, one per account (users belong
    to one account each; the email names the account and its link resets that user only).
    Returns how many were mailed, which the caller must not reveal. Old requests of a user
    that can no longer be used are removed as a new one is made."""
    now = clock.real_now()
    users = session.scalars(
        select(User)
        .where(User.email == email.strip().lower(), User.is_active.is_(True))
        .order_by(User.account_id)
    ).all()
    for user in users:
        session.execute(
            delete(PasswordReset).where(
                PasswordReset.user_id == user.id,
                (PasswordReset.expires_at <= now) | PasswordReset.used_at.is_not(None),
            )
        )
        reset_id = new_id("pwr")
        session.add(
            PasswordReset(
                id=reset_id,
                user_id=user.id,
                account_id=user.account_id,
                token_hash=_session_hash(password_reset_token(session, reset_id)),
                created_at=now,
                expires_at=now + PASSWORD_RESET_LIFETIME,
            )
        )
        outbox.emit(
            session,
            account_id=user.account_id,
            type=EventType.USER_PASSWORD_RESET_REQUESTED,
            dedup_key=f"password_reset:{reset_id}",
            payload={"password_reset_id": reset_id, "user_id": user.id},
            at=now,
            fresh=True,
        )
    session.flush()
    return len(users)


def password_reset_token(session: Session, reset_id: str) -> str:
    """The token of a reset's link: made from the reset's ID with the installation's secret,
    so the email can be rendered (again) without a copy of the token in the outbox."""
    return signing.keyed_token(session, _RESET_PURPOSE, reset_id)


def password_reset_path(session: Session, reset_id: str) -> str:
    return f"/password-reset/{password_reset_token(session, reset_id)}"


def find_password_reset(
    session: Session, token: str, *, lock: bool = False
) -> tuple[PasswordReset, User] | None:
    """The unused, unexpired reset this link's token stands for, and its (active) user;
    `lock` holds its row, so two uses of one link at once cannot both succeed."""
    query = select(PasswordReset).where(PasswordReset.token_hash == _session_hash(token))
    reset = session.scalar(query.with_for_update() if lock else query)
    if reset is None or reset.used_at is not None or reset.expires_at <= clock.real_now():
        return None
    user = session.get(User, reset.user_id)
    if user is None or not user.is_active:
        return None
    return reset, user


def reset_password(session: Session, token: str, new_password: str) -> User:
    """Set a new password through a reset link: the link is spent and every session of the
    user ends. NotFound when the link is unknown, used or expired."""
    found = find_password_reset(session, token, lock=True)
    if found is None:
        raise NotFound("This password reset link is not valid any more; ask for a new one")
    _reset, user = found
    check_new_password(user, new_password)
    _set_password(session, user, new_password)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.flush()
    return user
