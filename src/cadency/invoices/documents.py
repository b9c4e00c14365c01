"""Invoice documents: one HTML template (invoices/invoice.html) renders both the hosted invoice
page and the PDF (WeasyPrint), in the invoice's language and locale.

Documents go to buyers, so they have their own catalog (English, Dutch, Danish, German in
invoices/translations/), apart from the staff web app's: a buyer reads German even though the
merchant's screens have no German."""

from __future__ import annotations

import contextvars
import gettext
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale
from babel.numbers import format_percent
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.catalog.models import TaxRate
from cadency.config import load_settings
from cadency.crm.models import Company, Contact
from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit import i18n, labels, periods
from cadency.kit.i18n import Formatter
from cadency.kit.markup import simple_markdown
from cadency.subscriptions.models import Subscription

LANGUAGES = ("en", "nl", "da", "de")
# The locale of a language when the invoice's own locale speaks another one.
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
TEMPLATES_DIR = Path(__file__).parent / "templates"
# The billing portal's pages and the payment-link page are buyer pages too: same frame, same
# catalog.
BUYER_TEMPLATE_DIRS = (
    TEMPLATES_DIR,
    Path(__file__).parents[1] / "portal" / "templates",
    Path(__file__).parents[1] / "checkout" / "templates",
)
INVOICE_TEMPLATE = "invoices/invoice.html"


def D_(message: str) -> str:
    """Marks buyer-facing text for the document catalog where it is defined; it is translated
    where it is shown. (Not N_: the staff web app's catalog must not collect it.)"""
    return message


# --- language ------------------------------------------------------------------------------


def document_language(language: str | None) -> str:
    """One of the document languages; anything else reads as English."""
    code = (language or "").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else "en"


def document_locale(language: str, locale: str | None) -> Locale:
    """The invoice's locale when it speaks the document's language, else the language's
    usual one: numbers and dates must read naturally next to the words."""
    return i18n.babel_locale(language, locale)


# Where US Letter is the paper in the office printer; everywhere else it is A4.
LETTER_TERRITORIES = frozenset(
    {"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PA", "DO", "PR", "SV", "NI"}
)


def paper_size(locale: str | None) -> str:
    """The paper a printed invoice is laid out on: that of the invoice's locale's country
    ("en-US": Letter), else A4."""
    try:
        territory = Locale.parse((locale or "").replace("-", "_")).territory if locale else None
    except (ValueError, TypeError):
        territory = None
    return "Letter" if territory in LETTER_TERRITORIES else "A4"


def translations(language: str) -> gettext.NullTranslations:
    """The document catalog of one language."""
    return i18n.compile_catalog(TRANSLATIONS_DIR, language)


# The catalog of the document being rendered: two requests rendering at once in two
# languages stay apart.
_current: contextvars.ContextVar[gettext.NullTranslations | None] = contextvars.ContextVar(
    "document_translations", default=None
)
_ENGLISH = gettext.NullTranslations()


def _gettext(message: str, **variables: Any) -> str:
    text = (_current.get() or _ENGLISH).gettext(message)
    return text % variables if variables else text


def _ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = (_current.get() or _ENGLISH).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in BUYER_TEMPLATE_DIRS]),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    return env


environment = _environment()


def render_template(template: str, language: str, context: Mapping[str, Any]) -> str:
    """A buyer-facing template rendered in `language` (one of LANGUAGES)."""
    token = _current.set(translations(language))
    try:
        return environment.get_template(template).render(dict(context))
    finally:
        _current.reset(token)


def gettext_in(language: str, message: str) -> str:
    return translations(language).gettext(message)


# --- addresses -----------------------------------------------------------------------------

# Where the postal code goes, by country: after the city and region (as in the United States),
# on its own line after the city (as in the United Kingdom), or before the city (most of
# continental Europe, the default).
_CITY_REGION_CODE = frozenset({"US", "CA", "AU"})
_CODE_OWN_LINE = frozenset({"GB", "IE"})


def address_lines(address: Mapping[str, Any] | None, locale: Locale) -> list[str]:
    """A postal address laid out as its country writes it, the country named in the locale's
    language."""
    if not address:
        return []

    def part(name: str) -> str:
        value = address.get(name)
        return str(value).strip() if value else ""

    country = part("country").upper()
    city, code, region = part("city"), part("postal_code"), part("region")
    lines = [part("line1"), part("line2")]
    if country in _CITY_REGION_CODE:
        town = f"{city}," if city and region else city
        lines.append(" ".join(p for p in (town, region, code) if p))
    elif country in _CODE_OWN_LINE:
        lines += [city, region, code]
    else:
        lines += [" ".join(p for p in (code, city) if p), region]
    if country:
        lines.append(str(locale.territories.get(country, country)))
    return [line for line in lines if line]


# --- the document --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxSummary:
    """The tax of one rate: what it was charged on, and how much."""

    name: str
    rate: str
    taxable: str
    tax: str


@dataclass(frozen=True)
class DocumentLine:
    description: str
    period: str | None
    quantity: str
    unit_price: str
    discount: str | None
    tax: str | None
    amount: str


def invoice_lines(session: Session, invoice: Invoice) -> list[InvoiceLine]:
    """The invoice's lines in order, whether or not the caller loaded them."""
    if "lines" not in inspect(invoice).unloaded:
        return list(invoice.lines)
    return list(
        session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position)
        )
    )


def _fee_lines(invoice: Invoice, all_lines: list[InvoiceLine]) -> list[InvoiceLine]:
    """The trailing lines that carry the invoice's fees: issuing appends one line per fee,
    with no line item behind it, after the items (billing/invoicing.py)."""
    if not invoice.fee_total:
        return []
    fees: list[InvoiceLine] = []
    total = 0
    for line in reversed(all_lines):
        if line.line_item_id is not None or line.tax_rate_id is not None:
            break
        fees.insert(0, line)
        total += line.amount
        if total == invoice.fee_total:
            return fees
    return []  # not the shape issuing writes: show every line as an item


def _period(fmt: Formatter, start: Any, end: Any) -> str | None:
    if start is None or end is None:
        return None
    return f"{fmt.date(start)} \N{EN DASH} {fmt.date(end)}"


def _billing_details(
    session: Session, invoice: Invoice
) -> tuple[Contact | None, Company | None, dict[str, Any] | None]:
    """The buyer: the contact billed, the subscription's company, and the billing address
    (the subscription's, else the company's, else the contact's)."""
    contact = session.get(Contact, invoice.contact_id) if invoice.contact_id else None
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    company = (
        session.get(Company, subscription.company_id)
        if subscription is not None and subscription.company_id
        else None
    )
    address = (
        (subscription.billing_address if subscription else None)
        or (company.address if company else None)
        or (contact.address if contact else None)
    )
    return contact, company, address


# The proration lines' stored English, and the same text marked for the document catalog.
_PRORATION = (
    (labels.UNUSED_TIME, D_("Unused time on %(items)s")),
    (labels.REMAINING_TIME, D_("Remaining time on %(items)s")),
)
_PRORATION_PATTERNS = [
    (
        re.compile(
            "^" + re.escape(stored).replace(re.escape("%(items)s"), "(?P<items>.*)") + "$", re.S
        ),
        shown,
    )
    for stored, shown in _PRORATION
]


def line_description(language: str, description: str) -> str:
    """A line's description in the document's language: the lines Cadency writes itself (a
    plan change's proration) are translated; the merchant's own item names are not."""
    for pattern, shown in _PRORATION_PATTERNS:
        found = pattern.match(description)
        if found:
            return gettext_in(language, shown) % {"items": found.group("items")}
    return description


def document_context(
    session: Session,
    account: Account,
    invoice: Invoice,
    *,
    pay_url: str | None,
    pdf_url: str | None = None,
) -> dict[str, Any]:
    """Everything invoice.html shows, already formatted in the invoice's locale."""
    language = document_language(invoice.language)
    locale = document_locale(language, invoice.locale)
    fmt = Formatter(locale)
    currency = invoice.currency

    def money(minor: int) -> str:
        return fmt.money(minor, currency)

    all_lines = invoice_lines(session, invoice)
    fees = _fee_lines(invoice, all_lines)
    fee_ids = {line.id for line in fees}
    lines = [
        DocumentLine(
            description=line_description(language, line.description),
            period=_period(fmt, line.period_start, line.period_end),
            quantity=fmt.number(line.quantity),
            unit_price=money(line.unit_price),
            discount=money(-line.discount) if line.discount else None,
            tax=money(line.tax) if line.tax else None,
            amount=money(line.amount),
        )
        for line in all_lines
        if line.id not in fee_ids
    ]

    rate_ids = {line.tax_rate_id for line in all_lines if line.tax_rate_id}
    rates = {
        rate.id: rate
        for rate in (
            session.scalars(select(TaxRate).where(TaxRate.id.in_(rate_ids))) if rate_ids else ()
        )
    }
    taxes: list[TaxSummary] = []
    for rate_id in sorted(rate_ids, key=lambda r: rates[r].name if r in rates else r):
        taxed = [line for line in all_lines if line.tax_rate_id == rate_id]
        rate = rates.get(rate_id)
        percentage = rate.percentage if rate else Decimal(0)
        taxes.append(
            TaxSummary(
                name=rate.name if rate else rate_id,
                rate=str(
                    format_percent(percentage / 100, locale=locale, decimal_quantization=False)
                ),
                taxable=money(sum(line.amount for line in taxed)),
                tax=money(sum(line.tax for line in taxed)),
            )
        )

    contact, company, address = _billing_details(session, invoice)
    is_open = invoice.status == "open"
    return {
        "language": language,
        "page_size": paper_size(invoice.locale),
        "invoice": invoice,
        "merchant": account.name,
        "contact": contact,
        "buyer_name": contact.display_name if contact else None,
        "buyer_email": contact.email if contact else None,
        "company": company.name if company else None,
        "address": address_lines(address, locale),
        "number": invoice.number,
        "status": invoice.status,
        "issue_date": fmt.date(invoice.issue_date),
        "due_date": fmt.date(invoice.due_date),
        "period_dates": (fmt.date(invoice.period_start), fmt.date(invoice.period_end))
        if invoice.period_start and invoice.period_end
        else None,
        # The day it was paid where the account is, like the issue and due dates (a payment
        # late in the evening in New York is the next day in UTC).
        "paid_on": fmt.date(periods.local_date(invoice.paid_at, account.timezone))
        if invoice.paid_at
        else None,
        "lines": lines,
        "has_discounts": bool(invoice.discount_total),
        "fees": [(line.description, money(line.amount)) for line in fees],
        "taxes": taxes,
        "subtotal": money(invoice.subtotal),
        "discount_total": money(-invoice.discount_total),
        "tax_total": money(invoice.tax_total),
        "fee_total": money(invoice.fee_total),
        "total": money(invoice.total),
        "amount_paid": money(invoice.amount_paid),
        "amount_due": money(invoice.amount_due),
        # Bold, italic, links and line breaks, rendered safely (kit.markup).
        "comments": simple_markdown(invoice.comments),
        "tax_ids": list(invoice.tax_ids or []),
        "is_open": is_open,
        "pay_url": pay_url if is_open else None,
        "pdf_url": pdf_url,
    }


def render_invoice_html(
    session: Session,
    account: Account,
    invoice: Invoice,
    *,
    pay_url: str | None,
    template: str = INVOICE_TEMPLATE,
    extra: Mapping[str, Any] | None = None,
) -> str:
    context = document_context(session, account, invoice, pay_url=pay_url)
    context.update(extra or {})
    return render_template(template, context["language"], context)


def render_invoice_pdf(
    session: Session, account: Account, invoice: Invoice, *, base_url: str | None = None
) -> bytes:
    """The invoice as a PDF document, in the invoice's language and locale. An open invoice
    carries the signed link to its hosted page, where the buyer pays online."""
    # Imported here: WeasyPrint loads Pango at import, which only PDF rendering needs.
    import weasyprint

    from cadency.invoices.links import hosted_invoice_path

    base = (base_url or load_settings().base_url).rstrip("/")
    pay_url = base + hosted_invoice_path(session, invoice) if invoice.status == "open" else None
    html = render_invoice_html(session, account, invoice, pay_url=pay_url)
    pdf: bytes = weasyprint.HTML(string=html, base_url=base).write_pdf()
    return pdf
