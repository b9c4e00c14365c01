"""What each outbox event tells whom: the emails of one event, rendered from Jinja templates
(one template per kind of email, rendered twice: HTML and plain text) in the reader's language.

Buyers read their subscription's invoice language, else their own (the contact's), else the
account's; merchant users read their own web-app language, else the account's. Dates and
money follow that language and the subscription's (or account's) locale, through the web
app's Babel Formatter.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cadency.accounts import service as accounts
from cadency.accounts.models import SUPER_ADMIN, Account, PasswordReset, User, grants
from cadency.billing.invoicing import buyer_language
from cadency.config import Settings
from cadency.crm.models import Contact
from cadency.exports.models import Export
from cadency.invoices.models import Invoice
from cadency.kit import clock, i18n, labels, money, periods
from cadency.kit.events import EventType
from cadency.kit.i18n import Formatter, babel_locale
from cadency.kit.outbox import OutboxMessage
from cadency.kit.terms import CollectionMethod
from cadency.payments.models import Payment
from cadency.portal import links as portal_links
from cadency.subscriptions.models import ENDED_STATUSES, Subscription
from cadency.subscriptions.service import payment_method_link_path
from cadency.workflows.models import Workflow

EMAIL_LANGUAGES = ("en", "nl", "da", "de")
TEMPLATES_DIR = Path(__file__).parent / "templates"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
# Mirrors subscriptions.service's link (same purpose, lifetime and page), which the hosted
# update-payment-method page accepts.


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Email:
    kind: str
    to: str
    language: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = field(default=())
    event_id: str = ""  # the outbox event it tells of
    # When that event happened, on the account's clock (a test clock's time in test mode).
    dated_at: datetime | None = None


# --- languages -------------------------------------------------------------------------------


def translations(language: str) -> gettext.NullTranslations:
    """The emails' catalog of one language."""
    return i18n.compile_catalog(TRANSLATIONS_DIR, language)


@cache
def _environment(language: str, format: str) -> jinja2.Environment:
    """One environment per language and part: HTML escapes, plain text does not."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=format == "html",
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return env


def email_language(
    account: Account, subscription: Subscription | None, contact: Contact | None
) -> str:
    """The buyer's language (`issuing.buyer_language`), English when emails lack it."""
    language = buyer_language(
        account,
        subscription.invoice_settings if subscription else None,
        contact.language if contact else None,
    )
    return language if language in EMAIL_LANGUAGES else "en"


def _locale_name(account: Account, subscription: Subscription | None) -> str:
    settings = (subscription.invoice_settings or {}) if subscription else {}
    return str(settings.get("locale") or account.locale)


def render(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(plain text, HTML) of one email."""
    parts = []
    for format in ("txt", "html"):
        template = _environment(language, format).get_template(f"notifications/email/{kind}.jinja")
        parts.append(template.render(format=format, language=language, **context))
    # Templates leave blank lines between blocks; a reader wants at most one.
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in parts[0].splitlines()))
    return text.strip() + "\n", parts[1]


# --- composing -------------------------------------------------------------------------------


@dataclass
class Reader:
    """Who reads an email, and so its language and formats."""

    email: str
    name: str | None
    language: str
    fmt: Formatter
    gettext: Callable[[str], str]


_Record = TypeVar("_Record", Subscription, Invoice, Payment, Contact)
# The payload keys naming the records an event's emails show.
_PRELOADED: dict[type[Any], str] = {
    Subscription: "subscription_id",
    Invoice: "invoice_id",
    Payment: "payment_id",
    Contact: "contact_id",
}

InvoicePdf = Callable[[Session, Account, Invoice], bytes]
InvoiceUrl = Callable[[Session, Settings, Invoice], str]


def _invoice_pdf_renderer() -> InvoicePdf | None:
    """The invoice document (the invoices package's), when it is installed."""
    try:
        from cadency.invoices.documents import render_invoice_pdf
    except ImportError:  # pragma: no cover - the invoice documents are part of the product
        return None
    return render_invoice_pdf


def _invoice_url_maker() -> InvoiceUrl | None:
    try:
        from cadency.invoices.links import hosted_invoice_url
    except ImportError:  # pragma: no cover
        return None
    return hosted_invoice_url


class Composer:
    """Turns outbox events into emails. Made once per dispatch pass: it keeps the accounts and
    their users it has looked up, as a batch mostly holds events of a few accounts."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self._accounts: dict[int, Account] = {}
        self._users: dict[int, list[User]] = {}
        # Records the batch's events name, by (model, id); strong references, so the session's
        # weak identity map does not forget them between two events.
        self._records: dict[tuple[type[Any], str], Any] = {}
        self.invoice_pdf = _invoice_pdf_renderer()
        self.invoice_url = _invoice_url_maker()

    # --- lookups ---------------------------------------------------------------------------

    def account(self, account_id: int) -> Account:
        if account_id not in self._accounts:
            account = self.session.get(Account, account_id)
            assert account is not None
            self._accounts[account_id] = account
        return self._accounts[account_id]

    def preload(self, messages: Sequence[OutboxMessage]) -> None:
        """Load the records a batch of events names with one query per table, instead of
        several per event (the dispatcher's throughput is mostly these reads)."""
        wanted: dict[type[Any], set[str]] = {model: set() for model in _PRELOADED}
        for message in messages:
            payload = message.payload
            for model, key in _PRELOADED.items():
                value = payload.get(key) or (
                    message.subscription_id if model is Subscription else None
                )
                if value:
                    wanted[model].add(str(value))
        for model, ids in wanted.items():
            ids -= {key for (known, key) in self._records if known is model}
            if not ids:
                continue
            query = select(model).where(model.id.in_(ids))
            if model is Subscription:
                query = query.options(selectinload(Subscription.line_items))
            elif model is Invoice:
                query = query.options(selectinload(Invoice.lines))
            for record in self.session.scalars(query):
                self._records[(model, record.id)] = record
        contact_ids = {
            str(sub.contact_id)
            for (model, _id), sub in self._records.items()
            if model is Subscription and sub.contact_id
        } - {key for (model, key) in self._records if model is Contact}
        if contact_ids:
            for contact in self.session.scalars(select(Contact).where(Contact.id.in_(contact_ids))):
                self._records[(Contact, contact.id)] = contact

    def record(self, model: type[_Record], record_id: Any) -> _Record | None:
        """One record by ID: from the preloaded ones, else the database."""
        if not record_id:
            return None
        key = (model, str(record_id))
        if key not in self._records:
            if model is Subscription:
                found: Any = self.session.get(
                    model, record_id, options=[selectinload(Subscription.line_items)]
                )
            elif model is Invoice:
                found = self.session.get(model, record_id, options=[selectinload(Invoice.lines)])
            else:
                found = self.session.get(model, record_id)
            self._records[key] = found
        record: _Record | None = self._records[key]
        return record

    def users(self, account_id: int) -> list[User]:
        if account_id not in self._users:
            self._users[account_id] = list(
                self.session.scalars(
                    select(User)
                    .where(User.account_id == account_id, User.is_active.is_(True))
                    .order_by(User.id)
                )
            )
        return self._users[account_id]

    def _reader(
        self, email: str, name: str | None, language: str, locale_name: str | None
    ) -> Reader:
        catalog = translations(language)
        return Reader(
            email=email,
            name=name,
            language=language,
            fmt=Formatter(babel_locale(language, locale_name)),
            gettext=catalog.gettext,
        )

    def buyer(
        self, account: Account, subscription: Subscription | None, contact: Contact | None
    ) -> Reader | None:
        if contact is None or not contact.email:
            return None
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
        return self._reader(
            contact.email,
            name or None,
            email_language(account, subscription, contact),
            _locale_name(account, subscription),
        )

    def merchant_users(self, account: Account, wanted: Callable[[User], bool]) -> list[Reader]:
        users = self.users(account.id)
        return [self.merchant_user(account, user) for user in users if wanted(user)]

    def merchant_user(self, account: Account, user: User) -> Reader:
        """A user of the account: their own web-app language, else the account's."""
        language = user.language if user.language in EMAIL_LANGUAGES else None
        return self._reader(
            user.email, None, language or email_language(account, None, None), account.locale
        )

    # --- events ----------------------------------------------------------------------------

    def emails(self, message: OutboxMessage) -> list[Email]:
        """Every email of one event; none for an event no one is told of by email."""
        handler = _HANDLERS.get(message.type)
        if handler is None:
            return []
        event = Event(self, message)
        emails: list[Email] = []
        seen: set[tuple[str, str]] = set()
        for email in handler(event):
            key = (email.kind, email.to.lower())
            if key not in seen:  # one person holding two roles reads each kind once
                seen.add(key)
                emails.append(email)
        return emails


class Event:
    """One outbox event with the records it names, loaded as the handlers need them."""

    def __init__(self, composer: Composer, message: OutboxMessage) -> None:
        self.composer = composer
        self.session = composer.session
        self.message = message
        self.payload: dict[str, Any] = dict(message.payload)
        self.account = composer.account(message.account_id)
        sub_id = self.payload.get("subscription_id") or message.subscription_id
        self.subscription = composer.record(Subscription, sub_id)
        self.invoice = composer.record(Invoice, self.payload.get("invoice_id"))
        self.payment = composer.record(Payment, self.payload.get("payment_id"))
        contact_id = self.payload.get("contact_id") or (
            self.subscription.contact_id if self.subscription else None
        )
        self.contact = composer.record(Contact, contact_id)
        self.currency = str(
            self.payload.get("currency")
            or (self.subscription.currency if self.subscription else self.account.currency)
        )

    @property
    def merchant(self) -> str:
        return self.account.name

    def buyer(self) -> Reader | None:
        return self.composer.buyer(self.account, self.subscription, self.contact)

    def customer_name(self) -> str:
        if self.contact is None:
            return str(self.payload.get("email") or "—")
        return self.contact.display_name

    def amount(self, key: str) -> int | None:
        """An amount of the payload (a decimal string in major units) in minor units."""
        value = self.payload.get(key)
        if value is None:
            return None
        return money.parse_amount(str(value), self.currency, allow_negative=True)

    def day(self, key: str) -> date | None:
        value = self.payload.get(key)
        return date.fromisoformat(str(value)) if value else None

    def plan_lines(self, reader: Reader) -> list[tuple[str, int, str]]:
        if self.subscription is None:
            return []
        return [
            (item.name, item.quantity, reader.fmt.money(item.amount, item.currency))
            for item in self.subscription.line_items
        ]

    def invoice_lines(self, reader: Reader) -> list[tuple[str, int, str]]:
        if self.invoice is None:
            return []
        return [
            (line.description, line.quantity, reader.fmt.money(line.amount, self.invoice.currency))
            for line in self.invoice.lines
        ]

    def invoice_totals(self, reader: Reader) -> list[tuple[str, str]]:
        invoice = self.invoice
        if invoice is None:
            return []
        _ = reader.gettext

        def fmt(amount: int) -> str:
            return reader.fmt.money(amount, invoice.currency)

        rows = [(_("Subtotal"), fmt(invoice.subtotal))]
        if invoice.discount_total:
            rows.append((_("Discount"), fmt(-invoice.discount_total)))
        if invoice.tax_total:
            rows.append((_("Tax"), fmt(invoice.tax_total)))
        if invoice.fee_total:
            rows.append((_("Fees"), fmt(invoice.fee_total)))
        rows.append((_("Total"), fmt(invoice.total)))
        return rows

    def invoice_url(self) -> str | None:
        make = self.composer.invoice_url
        if self.invoice is None or make is None:
            return None
        return make(self.session, self.composer.settings, self.invoice)

    def payment_method_url(self) -> str | None:
        """A fresh signed link to the update-payment-method page, while there is something
        left to pay (a subscription the failure canceled has none)."""
        sub = self.subscription
        if sub is None or sub.status in ENDED_STATUSES:
            return None
        path, _ = payment_method_link_path(self.session, sub)
        return f"{self.composer.settings.base_url}{path}"

    def portal_url(self) -> str | None:
        """A fresh signed link to the buyer's billing settings and portal (SPEC §9)."""
        sub = self.subscription
        if sub is None or sub.status in ENDED_STATUSES:
            return None
        return portal_links.portal_url(self.session, self.composer.settings.base_url, sub)

    def email(
        self,
        kind: str,
        reader: Reader,
        subject: str,
        context: dict[str, Any],
        attachments: Sequence[Attachment] = (),
    ) -> Email:
        text, html = render(
            kind,
            reader.language,
            {
                "merchant": self.merchant,
                "greeting_name": reader.name,
                "subject": subject,
                **context,
            },
        )
        return Email(
            kind,
            reader.email,
            reader.language,
            subject,
            text,
            html,
            tuple(attachments),
            self.message.id,
            self.message.created_at,
        )


Handler = Callable[[Event], Iterable[Email]]


def _local_day(event: Event, at: datetime) -> date:
    from cadency.kit.periods import local_date

    return local_date(at, event.account.timezone)


# --- payments --------------------------------------------------------------------------------


def _payment_succeeded(event: Event) -> Iterable[Email]:
    amount = event.amount("amount") or 0
    paid_at = event.payment.updated_at if event.payment else event.message.created_at
    paid_on = _local_day(event, paid_at)
    buyer = event.buyer()
    if buyer is not None:
        _ = buyer.gettext
        invoice = event.invoice
        period = (
            (buyer.fmt.date(invoice.period_start), buyer.fmt.date(invoice.period_end))
            if invoice and invoice.period_start and invoice.period_end
            else None
        )
        yield event.email(
            "receipt",
            buyer,
            _("Your receipt from %(merchant)s") % {"merchant": event.merchant},
            {
                "amount": buyer.fmt.money(amount, event.currency),
                "paid_on": buyer.fmt.date(paid_on),
                "invoice_number": event.payload.get("invoice_number") or "—",
                "lines": event.invoice_lines(buyer),
                "totals": event.invoice_totals(buyer),
                "period": period,
                "portal_url": event.portal_url(),
            },
        )
    outcome = "first" if event.payload.get("first_payment") else "succeeded"
    yield from _admin_notices(event, outcome, amount, paid_on)


def _payment_failed(event: Event) -> Iterable[Email]:
    amount = event.amount("amount") or 0
    failed_on = _local_day(event, event.message.created_at)
    buyer = event.buyer()
    if buyer is not None:
        _ = buyer.gettext
        next_retry = event.day("next_retry_date")
        yield event.email(
            "payment_failed",
            buyer,
            _("Your payment to %(merchant)s failed") % {"merchant": event.merchant},
            {
                "amount": buyer.fmt.money(amount, event.currency),
                "invoice_number": event.payload.get("invoice_number") or "—",
                "next_retry": buyer.fmt.date(next_retry) if next_retry else None,
                "url": event.payment_method_url(),
            },
        )
    yield from _admin_notices(event, "failed", amount, failed_on)


def _payment_action_required(event: Event) -> Iterable[Email]:
    """The buyer's bank wants the payment confirmed (3-D Secure): the hosted invoice page,
    where they authenticate it."""
    buyer = event.buyer()
    if buyer is None:
        return
    _ = buyer.gettext
    yield event.email(
        "payment_action_required",
        buyer,
        _("Confirm your payment to %(merchant)s") % {"merchant": event.merchant},
        {
            "amount": buyer.fmt.money(event.amount("amount") or 0, event.currency),
            "invoice_number": event.payload.get("invoice_number") or "—",
            "url": event.invoice_url(),
        },
    )


def _admin_notices(event: Event, outcome: str, amount: int, on: date) -> Iterable[Email]:
    """Super admins who keep payment notifications on hear of each payment (SPEC §5)."""
    admins = event.composer.merchant_users(
        event.account, lambda user: user.notify_payments and SUPER_ADMIN in user.permissions
    )
    sub = event.subscription
    url = f"{event.composer.settings.base_url}/subscriptions/{sub.id}" if sub else None
    for admin in admins:
        _ = admin.gettext
        values = {
            "amount": admin.fmt.money(amount, event.currency),
            "customer": event.customer_name(),
        }
        subject = {
            "first": _("First payment: %(customer)s paid %(amount)s"),
            "succeeded": _("Payment received: %(customer)s paid %(amount)s"),
            "failed": _("Payment failed: %(amount)s from %(customer)s"),
        }[outcome] % values
        facts = [
            (_("Customer"), values["customer"]),
            (_("Amount"), values["amount"]),
            (_("Date"), admin.fmt.date(on)),
            (_("Invoice number"), str(event.payload.get("invoice_number") or "—")),
        ]
        if outcome == "failed" and event.payload.get("failure_reason"):
            reason = str(event.payload["failure_reason"])
            facts.append((_("Reason"), _(labels.FAILURE_REASONS.get(reason, reason))))
        yield event.email(
            "admin_payment",
            admin,
            subject,
            {"outcome": outcome, "facts": facts, "url": url, **values},
        )


# --- subscriptions ---------------------------------------------------------------------------


def _renewal_reminder(event: Event) -> Iterable[Email]:
    buyer = event.buyer()
    if buyer is None:
        return
    _ = buyer.gettext
    renews_on = buyer.fmt.date(event.day("next_payment_date"))
    yield event.email(
        "renewal_reminder",
        buyer,
        _("Your subscription with %(merchant)s renews on %(date)s")
        % {"merchant": event.merchant, "date": renews_on},
        {
            "renews_on": renews_on,
            "amount": buyer.fmt.money(event.amount("amount") or 0, event.currency),
            "lines": event.plan_lines(buyer),
            "portal_url": event.portal_url(),
        },
    )


def _trial_will_end(event: Event) -> Iterable[Email]:
    buyer = event.buyer()
    if buyer is None:
        return
    _ = buyer.gettext
    trial_end = buyer.fmt.date(event.day("trial_end"))
    sub = event.subscription
    amount = sub.recurring_amount if sub else 0
    yield event.email(
        "trial_ending",
        buyer,
        _("Your free trial with %(merchant)s ends on %(date)s")
        % {"merchant": event.merchant, "date": trial_end},
        {
            "trial_end": trial_end,
            "amount": buyer.fmt.money(amount, event.currency) if amount else None,
            "lines": event.plan_lines(buyer),
            "portal_url": event.portal_url(),
        },
    )


def _canceled(event: Event) -> Iterable[Email]:
    buyer = event.buyer()
    if buyer is None:
        return
    _ = buyer.gettext
    refunded = event.amount("refunded_amount")
    yield event.email(
        "canceled",
        buyer,
        _("Your subscription with %(merchant)s is canceled") % {"merchant": event.merchant},
        {
            "canceled_on": buyer.fmt.date(event.day("canceled_on")),
            "refunded": buyer.fmt.money(refunded, event.currency) if refunded else None,
            "for_failed_payment": event.payload.get("reason") == "payment_failed",
            # A manual invoice left unpaid past the account's dunning schedule.
            "for_unpaid_invoice": event.payload.get("reason") == "invoice_overdue",
            "lines": event.plan_lines(buyer),
        },
    )


def _non_renewal(event: Event) -> Iterable[Email]:
    """To the billing contact and the account's billing admins (SPEC §6)."""
    readers = []
    buyer = event.buyer()
    if buyer is not None:
        readers.append(buyer)
    readers += event.composer.merchant_users(
        event.account,
        lambda user: grants(user.permissions, "billing.edit"),
    )
    commitment_end = event.day("commitment_end")
    effective = event.day("effective_date") or commitment_end
    months = event.payload.get("commitment_months")
    sub = event.subscription
    for reader in readers:
        _ = reader.gettext
        customer = event.customer_name()
        facts = [(_("Customer"), customer)]
        if sub is not None:
            facts.append((_("Subscription"), ", ".join(i.name for i in sub.line_items) or sub.id))
        if months:
            facts.append((_("Commitment period"), _("%(months)s months") % {"months": months}))
        facts += [
            (_("Commitment ends"), reader.fmt.date(commitment_end)),
            (_("Effective date"), reader.fmt.date(effective)),
        ]
        yield event.email(
            "non_renewal",
            reader,
            _("Notice of non-renewal: the subscription ends on %(date)s")
            % {"date": reader.fmt.date(effective)},
            {"facts": facts, "effective_on": reader.fmt.date(effective)},
        )


def _expired(event: Event) -> Iterable[Email]:
    buyer = event.buyer()
    if buyer is None:
        return
    _ = buyer.gettext
    yield event.email(
        "expired",
        buyer,
        _("Your subscription with %(merchant)s has ended") % {"merchant": event.merchant},
        {"end_date": buyer.fmt.date(event.day("end_date")), "lines": event.plan_lines(buyer)},
    )


def _payment_method_link(event: Event) -> Iterable[Email]:
    buyer = event.buyer()
    if buyer is None or not event.payload.get("url"):
        return
    buyer.email = str(event.payload.get("email") or buyer.email)
    _ = buyer.gettext
    expires = datetime.fromisoformat(str(event.payload["expires_at"]))
    yield event.email(
        "payment_method_link",
        buyer,
        _("Update your payment method for %(merchant)s") % {"merchant": event.merchant},
        {"url": event.payload["url"], "expires_on": buyer.fmt.date(expires)},
    )


# --- users ----------------------------------------------------------------------------------


def _password_reset(event: Event) -> Iterable[Email]:
    """The link of a "forgot password" request, to the one user it resets. Nothing once the
    link is spent or expired (a late retry must not mail a dead link)."""
    reset = event.session.get(PasswordReset, event.payload.get("password_reset_id"))
    if reset is None or reset.used_at is not None or reset.expires_at <= clock.real_now():
        return
    user = event.session.get(User, reset.user_id)
    if user is None or not user.is_active or user.account_id != event.account.id:
        return
    reader = event.composer.merchant_user(event.account, user)
    _ = reader.gettext
    path = accounts.password_reset_path(event.session, reset.id)
    yield event.email(
        "password_reset",
        reader,
        _("Reset your Cadency password for %(account)s") % {"account": event.account.name},
        {
            "url": f"{event.composer.settings.base_url}{path}",
            "user_email": user.email,
            "account_name": event.account.name,
            "account_id": event.account.id,
            "valid_minutes": int(accounts.PASSWORD_RESET_LIFETIME.total_seconds() // 60),
        },
    )


def _export_ready(event: Event) -> Iterable[Email]:
    """The download link of a finished export, to the user who asked for it (an export asked
    for with an API key has no one to mail). Nothing once its file is gone."""
    export = event.session.get(Export, event.payload.get("export_id"))
    if (
        export is None
        or export.account_id != event.account.id
        or export.requested_by_user_id is None
        or export.file_path is None
        or export.expires_at is None
    ):
        return
    user = event.session.get(User, export.requested_by_user_id)
    if user is None or not user.is_active or user.account_id != event.account.id:
        return
    reader = event.composer.merchant_user(event.account, user)
    _ = reader.gettext
    object_names = {
        "subscriptions": _("subscriptions"),
        "contacts": _("contacts"),
        "companies": _("companies"),
    }
    yield event.email(
        "export_ready",
        reader,
        _("Your export is ready"),
        {
            "url": f"{event.composer.settings.base_url}/exports/{export.id}/download",
            "row_count": reader.fmt.number(export.row_count),
            "object_name": object_names.get(export.object_type, export.object_type),
            "account_name": event.account.name,
            "expires_on": reader.fmt.date(
                periods.local_date(export.expires_at, event.account.timezone)
            ),
        },
    )


def _webhook_disabled(event: Event) -> Iterable[Email]:
    """To every super admin of the account: an endpoint was disabled after 3 failing days."""
    admins = event.composer.merchant_users(
        event.account, lambda user: SUPER_ADMIN in user.permissions
    )
    for admin in admins:
        _ = admin.gettext
        yield event.email(
            "webhook_disabled",
            admin,
            _("A webhook endpoint of %(account)s was disabled") % {"account": event.account.name},
            {
                "endpoint_url": str(event.payload.get("url") or ""),
                "account_name": event.account.name,
                "facts": [
                    (_("Endpoint"), str(event.payload.get("endpoint_id") or "")),
                    (_("Disabled on"), admin.fmt.date(event.day("disabled_on"))),
                ],
            },
        )


# --- workflows -------------------------------------------------------------------------------


def _paragraphs(body: str) -> list[list[str]]:
    """A workflow's plain-text body as paragraphs of lines (blank lines part them)."""
    blocks = re.split(r"\n\s*\n", body.strip())
    return [block.splitlines() for block in blocks if block.strip()]


def _workflow_email(event: Event) -> Iterable[Email]:
    """A workflow's email to the billing contact, its subject and body already filled in, in
    the buyer's language, when the step ran."""
    reader = event.buyer()
    if reader is None:
        return
    yield event.email(
        "workflow_message",
        reader,
        str(event.payload.get("subject") or ""),
        {
            "greeting_name": None,  # the merchant's text greets the buyer as it wants
            "paragraphs": _paragraphs(str(event.payload.get("body") or "")),
            "facts": [],
            "workflow_name": None,
        },
    )


def _workflow_internal_email(event: Event) -> Iterable[Email]:
    """A workflow's notice to users of the account (those named when the step ran and still
    active), with the subscription it is about."""
    wanted = {str(email).lower() for email in event.payload.get("to") or []}
    readers = event.composer.merchant_users(
        event.account, lambda user: user.email.lower() in wanted
    )
    workflow = event.session.get(Workflow, event.payload.get("workflow_id") or "")
    for reader in readers:
        _ = reader.gettext
        subscription = event.subscription
        yield event.email(
            "workflow_message",
            reader,
            str(event.payload.get("subject") or ""),
            {
                "paragraphs": _paragraphs(str(event.payload.get("body") or "")),
                "facts": [(_("Subscription"), subscription.name)] if subscription else [],
                "workflow_name": workflow.name if workflow else None,
                "account_name": event.account.name,
            },
        )


# --- invoices --------------------------------------------------------------------------------


def _invoice_created(event: Event) -> Iterable[Email]:
    """Only invoices the buyer pays by hand are sent; charged ones get a receipt instead."""
    invoice = event.invoice
    if (
        invoice is None
        or invoice.collection_method != CollectionMethod.SEND_INVOICE
        or invoice.total == 0
    ):
        return
    buyer = event.buyer()
    if buyer is None:
        return
    _ = buyer.gettext
    attachments = []
    make_pdf = event.composer.invoice_pdf
    if make_pdf is not None:
        attachments.append(
            Attachment(
                f"{invoice.number}.pdf",
                "application/pdf",
                make_pdf(event.session, event.account, invoice),
            )
        )
    amount = buyer.fmt.money(invoice.total, invoice.currency)
    yield event.email(
        "invoice_issued",
        buyer,
        _("Invoice %(number)s from %(merchant)s")
        % {"number": invoice.number, "merchant": event.merchant},
        {
            "invoice_number": invoice.number,
            "amount": amount,
            "due_on": buyer.fmt.date(invoice.due_date),
            "lines": event.invoice_lines(buyer),
            "totals": event.invoice_totals(buyer),
            "attached": bool(attachments),
            "url": event.invoice_url(),
        },
        attachments,
    )


def _invoice_overdue(event: Event) -> Iterable[Email]:
    invoice = event.invoice
    buyer = event.buyer()
    if invoice is None or buyer is None or invoice.status != "open":
        return
    _ = buyer.gettext
    yield event.email(
        "invoice_overdue",
        buyer,
        _("Invoice %(number)s from %(merchant)s is overdue")
        % {"number": invoice.number, "merchant": event.merchant},
        {
            "invoice_number": invoice.number,
            "amount": buyer.fmt.money(invoice.amount_due, invoice.currency),
            "due_on": buyer.fmt.date(invoice.due_date),
            "url": event.invoice_url(),
        },
    )


_HANDLERS: dict[str, Handler] = {
    EventType.PAYMENT_SUCCEEDED: _payment_succeeded,
    EventType.PAYMENT_FAILED: _payment_failed,
    EventType.PAYMENT_ACTION_REQUIRED: _payment_action_required,
    EventType.SUBSCRIPTION_RENEWAL_REMINDER: _renewal_reminder,
    EventType.SUBSCRIPTION_TRIAL_WILL_END: _trial_will_end,
    EventType.SUBSCRIPTION_CANCELED: _canceled,
    EventType.SUBSCRIPTION_NON_RENEWAL_NOTICE: _non_renewal,
    EventType.SUBSCRIPTION_EXPIRED: _expired,
    EventType.SUBSCRIPTION_PAYMENT_METHOD_UPDATE_REQUESTED: _payment_method_link,
    EventType.INVOICE_CREATED: _invoice_created,
    EventType.INVOICE_OVERDUE: _invoice_overdue,
    EventType.USER_PASSWORD_RESET_REQUESTED: _password_reset,
    EventType.EXPORT_SUCCEEDED: _export_ready,
    EventType.WEBHOOK_ENDPOINT_DISABLED: _webhook_disabled,
    EventType.WORKFLOW_EMAIL: _workflow_email,
    EventType.WORKFLOW_INTERNAL_EMAIL: _workflow_internal_email,
}
# The kinds of email, for tests and the mailbox (every template).
KINDS = (
    "receipt",
    "admin_payment",
    "payment_failed",
    "payment_action_required",
    "renewal_reminder",
    "trial_ending",
    "canceled",
    "non_renewal",
    "expired",
    "payment_method_link",
    "invoice_issued",
    "invoice_overdue",
    "password_reset",
    "export_ready",
    "webhook_disabled",
)
