"""Which payment processor serves an account, and its Stripe keys (GET/PATCH
/account/processor and Settings → Payment processor).

An account without settings uses the default: the sandbox in test mode, nothing in live mode.
The secret key and the webhook secret are encrypted at rest (`kit.encryption`) and never
answered or logged: the API shows the secret key's mode and last four characters only.

The billing engine asks for the settings on every charge, so they are read once per
transaction and session (`config_of`): thousands of sandbox renewals a second must not pay a
query each."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from cadency.accounts.models import Account
from cadency.kit import clock
from cadency.kit.encryption import SecretBox, box_for
from cadency.kit.errors import InvalidRequest
from cadency.payments import stripe_adapter
from cadency.payments.models import ProcessorSettings
from cadency.payments.schemas import ProcessorSettingsUpdate

SANDBOX = "sandbox"
STRIPE = stripe_adapter.PROCESSOR
_CACHE = "cadency.processor_settings"

_SECRET_KEY = re.compile(r"sk_(test|live)_[A-Za-z0-9]{8,240}", re.ASCII)
_PUBLISHABLE_KEY = re.compile(r"pk_(test|live)_[A-Za-z0-9]{8,240}", re.ASCII)
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,240}", re.ASCII)
_API_BASE = re.compile(
    r"https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", re.ASCII
)
MASKED_WEBHOOK_SECRET = "whsec_…"


@dataclass(frozen=True)
class ProcessorConfig:
    """An account's stored processor settings, secrets still encrypted until asked for."""

    processor: str
    publishable_key: str | None
    secret_key_last4: str | None
    api_base: str | None
    secret_key_encrypted: str | None = field(repr=False)
    webhook_secret_encrypted: str | None = field(repr=False)
    box: SecretBox = field(repr=False)
    # What is made from the settings once per transaction (the Stripe client).
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def secret_key(self) -> str | None:
        if self.secret_key_encrypted is None:
            return None
        return self.box.decrypt(self.secret_key_encrypted)

    def webhook_secret(self) -> str | None:
        if self.webhook_secret_encrypted is None:
            return None
        return self.box.decrypt(self.webhook_secret_encrypted)

    def stripe_keys(self) -> stripe_adapter.StripeKeys | None:
        secret = self.secret_key()
        if secret is None:
            return None
        return stripe_adapter.StripeKeys(
            secret_key=secret, publishable_key=self.publishable_key, api_base=self.api_base
        )


def masked(last4: str | None, mode: str | None) -> str | None:
    """How a secret key is shown: its mode and last four characters ("sk_test_…4242")."""
    if last4 is None:
        return None
    return f"sk_{mode or 'test'}_…{last4}"


def _config(row: ProcessorSettings, box: SecretBox) -> ProcessorConfig:
    return ProcessorConfig(
        processor=row.processor,
        publishable_key=row.stripe_publishable_key,
        secret_key_last4=row.stripe_secret_key_last4,
        api_base=row.stripe_api_base,
        secret_key_encrypted=row.stripe_secret_key_encrypted,
        webhook_secret_encrypted=row.stripe_webhook_secret_encrypted,
        box=box,
    )


def config_of(account: Account) -> ProcessorConfig | None:
    """The account's processor settings (None: the default), read at most once per
    transaction of the account's session."""
    session = object_session(account)
    if session is None:
        return None  # a detached account (built in memory): nothing stored to read
    cache: dict[int, tuple[Any, ProcessorConfig | None]] = session.info.setdefault(_CACHE, {})
    transaction = session.get_transaction()
    hit = cache.get(account.id)
    if hit is not None and transaction is not None and hit[0] is transaction:
        return hit[1]
    row = session.scalar(
        select(ProcessorSettings)
        .where(ProcessorSettings.account_id == account.id)
        .execution_options(populate_existing=True)
    )
    config = _config(row, box_for(session)) if row is not None else None
    cache[account.id] = (session.get_transaction(), config)
    return config


def forget(session: Session, account_id: int) -> None:
    """Drop what `config_of` remembers (after the settings changed)."""
    session.info.get(_CACHE, {}).pop(account_id, None)


def processor_name(account: Account, config: ProcessorConfig | None) -> str | None:
    """The processor serving the account with these settings (see `payments.processor`)."""
    if config is not None and config.processor == STRIPE:
        return STRIPE
    return SANDBOX if account.mode == "test" else None


# --- changing them -----------------------------------------------------------------------------


def _check_key(value: str, pattern: re.Pattern[str], kind: str, mode: str, param: str) -> None:
    prefix = {"secret": "sk", "publishable": "pk"}[kind]
    match = pattern.fullmatch(value)
    if match is None:
        raise InvalidRequest(
            "This is not a Stripe %(kind)s key: it starts with "
            "%(prefix)s_%(mode)s_ and has only letters and digits after that",
            kind=kind,
            prefix=prefix,
            mode=mode,
            param=param,
        )
    if match.group(1) != mode:
        raise InvalidRequest(
            "A %(mode)s-mode account takes %(prefix)s_%(mode)s_ keys only (this is "
            "a %(key_mode)s-mode key)",
            mode=mode,
            prefix=prefix,
            key_mode=match.group(1),
            param=param,
        )


def update(session: Session, account: Account, body: ProcessorSettingsUpdate) -> ProcessorConfig:
    """Apply a PATCH: check each key's form and mode, that Stripe has every key it needs, and
    that Stripe accepts a new secret key (a 422 naming the field otherwise); then store."""
    row = session.get(ProcessorSettings, account.id)
    mode = "live" if account.mode == "live" else "test"
    given = body.stripe.model_dump(exclude_unset=True) if body.stripe is not None else {}
    current = _config(row, box_for(session)) if row is not None else None

    processor = body.processor or (current.processor if current else None)
    if processor is None:
        processor = SANDBOX if mode == "test" else None
    if processor == SANDBOX and mode == "live":
        raise InvalidRequest(
            "The sandbox moves no money and serves test-mode accounts only; a live account "
            "uses Stripe",
            param="processor",
        )

    publishable = current.publishable_key if current else None
    secret_last4 = current.secret_key_last4 if current else None
    secret: str | None = None  # a new secret key, in plain text until stored
    secret_encrypted = current.secret_key_encrypted if current else None
    webhook_encrypted = current.webhook_secret_encrypted if current else None
    webhook: str | None = None
    api_base = current.api_base if current else None

    for name, value in given.items():
        if value is None and name != "api_base" and processor == STRIPE:
            raise InvalidRequest(
                "'stripe.%(name)s' cannot be null while the account uses Stripe",
                name=name,
                param=f"stripe.{name}",
            )

    if "publishable_key" in given:
        publishable = given["publishable_key"]
        if publishable is not None:
            _check_key(publishable, _PUBLISHABLE_KEY, "publishable", mode, "stripe.publishable_key")
    if "secret_key" in given:
        value = given["secret_key"]
        if value is None:
            secret_last4 = secret_encrypted = None
        elif value != masked(secret_last4, mode):
            _check_key(value, _SECRET_KEY, "secret", mode, "stripe.secret_key")
            secret = value
    if "webhook_secret" in given:
        value = given["webhook_secret"]
        if value is None:
            webhook_encrypted = None
        elif value != MASKED_WEBHOOK_SECRET or webhook_encrypted is None:
            if _WEBHOOK_SECRET.fullmatch(value) is None:
                raise InvalidRequest(
                    "This is not a Stripe webhook signing secret: it starts with whsec_",
                    param="stripe.webhook_secret",
                )
            webhook = value
    if "api_base" in given:
        new_base = given["api_base"]
        if new_base is not None:
            if mode == "live":
                raise InvalidRequest(
                    "A live account talks to Stripe itself: api_base (a Stripe-compatible "
                    "server for tests) is for test-mode accounts only",
                    param="stripe.api_base",
                )
            if _API_BASE.fullmatch(new_base) is None:
                raise InvalidRequest(
                    "api_base is an http(s) URL such as http://127.0.0.1:8420",
                    param="stripe.api_base",
                )
            new_base = new_base.rstrip("/")
        if new_base != api_base and secret is None and secret_encrypted is not None:
            # The stored key goes only to the server it was given for.
            raise InvalidRequest(
                "Give the secret key again when changing api_base: a stored secret key is only "
                "ever sent to the server it was saved for",
                param="stripe.secret_key",
            )
        api_base = new_base

    if publishable and secret and publishable.split("_")[1] != secret.split("_")[1]:
        raise InvalidRequest(
            "The publishable key and the secret key are of different modes",
            param="stripe.publishable_key",
        )

    if processor == STRIPE:
        needed = {
            "secret_key": secret or secret_encrypted,
            "publishable_key": publishable,
            "webhook_secret": webhook or webhook_encrypted,
        }
        for name, value in needed.items():
            if not value:
                raise InvalidRequest(
                    "Missing required field: 'stripe.%(name)s' (Stripe needs it)",
                    name=name,
                    param=f"stripe.{name}",
                )

    if secret is not None:
        stripe_adapter.verify_secret_key(
            stripe_adapter.StripeKeys(
                secret_key=secret, publishable_key=publishable, api_base=api_base
            )
        )

    box = box_for(session)
    if row is None:
        row = ProcessorSettings(account_id=account.id, processor=processor or SANDBOX)
        session.add(row)
    row.processor = processor or SANDBOX
    row.stripe_publishable_key = publishable
    if secret is not None:
        row.stripe_secret_key_encrypted = box.encrypt(secret)
        row.stripe_secret_key_last4 = secret[-4:]
    else:
        row.stripe_secret_key_encrypted = secret_encrypted
        row.stripe_secret_key_last4 = secret_last4
    row.stripe_webhook_secret_encrypted = (
        box.encrypt(webhook) if webhook is not None else webhook_encrypted
    )
    row.stripe_api_base = api_base
    row.updated_at = clock.real_now()
    session.flush()
    forget(session, account.id)
    return _config(row, box)


def stored(session: Session, account_id: int) -> ProcessorConfig | None:
    """The settings of an account by ID (the webhook receiver has no account loaded yet)."""
    row = session.get(ProcessorSettings, account_id)
    return _config(row, box_for(session)) if row is not None else None
