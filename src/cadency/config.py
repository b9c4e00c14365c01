"""Runtime settings, read from the environment (API.md "Operator CLI")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from limits import parse

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    smtp_url: str | None
    # Rate limits in the `limits` notation ("10 per 15 minutes"); see docs/security.
    # Failed logins: 10 per email locks that email out for the rest of a 15-minute window
    # (guessing stays hopeless, a user who mistypes a few times is not bothered); 50 per
    # client address covers one office behind one address trying many emails.
    login_limit_per_email: str = "10 per 15 minutes"
    login_limit_per_address: str = "50 per 15 minutes"
    # Payment forms of the buyer's pages (pay an invoice, update the payment method): a buyer
    # needs a handful of tries; card testing needs hundreds.
    payment_form_limit_per_link: str = "10 per hour"
    payment_form_limit_per_address: str = "30 per hour"
    # Failed checkouts on a payment-link page (declined or mistyped cards): card testers try
    # card after card on a public page; a buyer mistypes a few times.
    checkout_failure_limit_per_link: str = "10 per 10 minutes"
    checkout_failure_limit_per_address: str = "10 per 10 minutes"
    # Password reset emails: a person needs one or two; more is someone filling an inbox.
    password_reset_limit_per_email: str = "3 per hour"
    password_reset_limit_per_address: str = "20 per hour"
    # API requests per key: 6,000 a minute is 100 a second on average, with room for a burst
    # of a whole minute's worth; one fixed window keeps it to one counter write per request.
    api_limit_per_key: str = "6000 per minute"
    # Request bodies: the API takes JSON; the web app takes forms (no file uploads).
    max_api_body_bytes: int = 1 * MIB
    max_form_body_bytes: int = 10 * MIB
    # Files the app makes for download (exports), written atomically; CADENCY_FILES_DIR.
    files_dir: str = "data/files"
    # Webhook receivers on loopback, private or link-local addresses (single-company installs,
    # tests); refused otherwise. CADENCY_WEBHOOK_ALLOW_PRIVATE=1.
    webhook_allow_private: bool = False
    # The key that encrypts secrets kept in the database (a payment processor's API keys), so a
    # copy of the database alone does not reveal them: CADENCY_ENCRYPTION_KEY (a Fernet key;
    # several, comma-separated, to rotate: the first encrypts, any decrypts), else the key file
    # CADENCY_ENCRYPTION_KEY_FILE, by default `encryption.key` next to the SQLite database or in
    # the data folder, made (mode 0600) when first needed. See docs/stripe.md.
    encryption_key: str | None = field(default=None, repr=False)
    encryption_key_file: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "login_limit_per_email",
            "login_limit_per_address",
            "payment_form_limit_per_link",
            "payment_form_limit_per_address",
            "checkout_failure_limit_per_link",
            "checkout_failure_limit_per_address",
            "password_reset_limit_per_email",
            "password_reset_limit_per_address",
            "api_limit_per_key",
        ):
            try:
                parse(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc


def default_database_url() -> str:
    data_dir = Path.cwd() / "data"
    return f"sqlite:///{data_dir / 'cadency.db'}"


def listening_base_url(host: str, port: int) -> str:
    """The base URL of a server listening on host:port (a wildcard address is reached on
    loopback from this machine)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _size(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a number of bytes, not {value!r}")
    return int(value)


def load_settings() -> Settings:
    env = os.environ.get
    defaults = Settings(database_url="", base_url="", smtp_url=None)
    return Settings(
        database_url=env("CADENCY_DATABASE_URL") or default_database_url(),
        base_url=(env("CADENCY_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        smtp_url=env("CADENCY_SMTP_URL") or None,
        login_limit_per_email=env("CADENCY_LOGIN_LIMIT_PER_EMAIL")
        or defaults.login_limit_per_email,
        login_limit_per_address=env("CADENCY_LOGIN_LIMIT_PER_ADDRESS")
        or defaults.login_limit_per_address,
        payment_form_limit_per_link=env("CADENCY_PAYMENT_FORM_LIMIT_PER_LINK")
        or defaults.payment_form_limit_per_link,
        payment_form_limit_per_address=env("CADENCY_PAYMENT_FORM_LIMIT_PER_ADDRESS")
        or defaults.payment_form_limit_per_address,
        checkout_failure_limit_per_link=env("CADENCY_CHECKOUT_FAILURE_LIMIT_PER_LINK")
        or defaults.checkout_failure_limit_per_link,
        checkout_failure_limit_per_address=env("CADENCY_CHECKOUT_FAILURE_LIMIT_PER_ADDRESS")
        or defaults.checkout_failure_limit_per_address,
        password_reset_limit_per_email=env("CADENCY_PASSWORD_RESET_LIMIT_PER_EMAIL")
        or defaults.password_reset_limit_per_email,
        password_reset_limit_per_address=env("CADENCY_PASSWORD_RESET_LIMIT_PER_ADDRESS")
        or defaults.password_reset_limit_per_address,
        api_limit_per_key=env("CADENCY_API_LIMIT_PER_KEY") or defaults.api_limit_per_key,
        max_api_body_bytes=_size("CADENCY_MAX_API_BODY_BYTES", defaults.max_api_body_bytes),
        max_form_body_bytes=_size("CADENCY_MAX_FORM_BODY_BYTES", defaults.max_form_body_bytes),
        files_dir=env("CADENCY_FILES_DIR") or str(Path.cwd() / "data" / "files"),
        webhook_allow_private=env("CADENCY_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true", "yes"),
        encryption_key=env("CADENCY_ENCRYPTION_KEY") or None,
        encryption_key_file=env("CADENCY_ENCRYPTION_KEY_FILE") or None,
    )
