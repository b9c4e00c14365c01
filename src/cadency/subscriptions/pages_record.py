"""The subscription record panel (SPEC §7): everything about one subscription on one page —
status, dates, amounts, line items, invoices, payments, timeline, associated records and custom
properties — and its actions (SPEC §6). Every action is a form post (with the CSRF token) that
calls the same service as the REST endpoint; a refused action shows the service's message on the
panel, with its dialog open again and nothing written."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_percent, get_minus_sign_symbol, get_plus_sign_symbol
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from cadency.analytics.history import Movement, history
from cadency.analytics.labels import MOVEMENT_KINDS
from cadency.billing.state import awaits_payment_method, payment_options
from cadency.catalog.models import Product
from cadency.crm import associations
from cadency.crm.models import Company, Contact
from cadency.invoices import service as invoices
from cadency.invoices.schemas import PayRequest
from cadency.kit import clock, labels, money, periods
from cadency.kit.errors import APIError, Conflict, InvalidRequest, not_found
from cadency.kit.events import EventType
from cadency.kit.i18n import N_
from cadency.kit.repository import get_owned
from cadency.kit.terms import BillingTerms
from cadency.payments import service as payments
from cadency.payments.models import PaymentMethod
from cadency.properties import forms as property_forms
from cadency.properties import service as properties
from cadency.properties.models import PropertyDefinition
from cadency.subscriptions import display, repository, service
from cadency.subscriptions.endpoints import PauseRequest
from cadency.subscriptions.models import (
    ENDED_STATUSES,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    cancellation_reasons,
)
from cadency.subscriptions.schemas import (
    CANCELLATION_REASONS,
    Address,
    CancelRequest,
    ChangeRequest,
    SubscriptionUpdate,
)
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, build, checked, form_data, text
from cadency.web.templating import redirect, render
from cadency.workflows import pages as workflow_pages

router = APIRouter(include_in_schema=False)
VIEW, EDIT, DELETE = "subscriptions.view", "subscriptions.edit", "subscriptions.delete"
CUSTOM_ITEMS = "line_items.create_custom"
# Choices offered in a select; a search field narrows them down (htmx).
CHOICES = 50
# Rows of invoices and payments on the panel, newest first.
LIST_ROWS = 100
EVENTS_PER_QUERY = 1000
# The MRR history's sparkline, in SVG user units (= CSS pixels: it is drawn at that size).
SPARKLINE_WIDTH, SPARKLINE_HEIGHT = 240, 40

# --- what values read as -------------------------------------------------------------------

assert set(labels.CANCELLATION_REASONS) == set(CANCELLATION_REASONS)
ASSOCIATION_SECTIONS = {
    "contact": N_("Contacts"),
    "company": N_("Companies"),
    "deal": N_("Deals"),
    "quote": N_("Quotes"),
}
ASSOCIATED = {
    "contact": N_("The contact was associated with the subscription."),
    "company": N_("The company was associated with the subscription."),
    "deal": N_("The deal was associated with the subscription."),
    "quote": N_("The quote was associated with the subscription."),
}
REPLACED = {
    "contact": N_("The contact was replaced."),
    "company": N_("The company was replaced."),
    "deal": N_("The deal was replaced."),
    "quote": N_("The quote was replaced."),
}
REMOVED = {
    "contact": N_("The contact is no longer associated with the subscription."),
    "company": N_("The company is no longer associated with the subscription."),
    "deal": N_("The deal is no longer associated with the subscription."),
    "quote": N_("The quote is no longer associated with the subscription."),
}
# Fields named in a EventType.SUBSCRIPTION_UPDATED timeline entry.
EDITED_FIELDS = {
    "name": N_("name"),
    "contact_id": N_("billing contact"),
    "company_id": N_("company"),
    "payment_method_id": N_("payment method"),
    "billing_address": N_("billing address"),
    "next_payment_date": N_("next payment date"),
    "payment_options": N_("online payment options"),
    "properties": N_("custom properties"),
    "owner_id": N_("owner"),
}
# Card networks by their own names (not translated).
CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
}
DEFAULT_PROPERTY_GROUP = "subscription_information"
DEFAULT_PROPERTY_GROUP_LABEL = N_("Subscription information")


def _money_text(page: PageContext, amount: Any, currency: str) -> str:
    """A decimal string from a timeline entry ("25.00") as the page shows money."""
    try:
        return page.fmt.money(
            money.parse_amount(str(amount), currency, allow_negative=True), currency
        )
    except money.MoneyError:
        return str(amount)


def _date_text(page: PageContext, value: Any) -> str:
    if not value:
        return "—"
    try:
        return page.fmt.date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _percent(page: PageContext, value: Decimal | None) -> str:
    if value is None:
        return "—"
    return str(format_percent(value / 100, locale=page.fmt.locale, decimal_quantization=False))


def _status_label(page: PageContext, status: Any) -> str:
    label = display.BADGE_LABELS.get(str(status))
    return page.gettext(label) if label else str(status)


def payment_method_text(page: PageContext, method: PaymentMethod | None) -> str:
    if method is None:
        return page.gettext("None")
    if method.type == "bank_debit":
        return page.gettext("Bank account ending in %(last4)s") % {"last4": method.last4}
    brand = CARD_BRANDS.get(method.brand or "", (method.brand or "Card").title())
    return page.gettext("%(brand)s ending in %(last4)s") % {"brand": brand, "last4": method.last4}


def _payment_options(page: PageContext, sub: Subscription) -> dict[str, Any]:
    """The online payment options with the payment types as their labels, in the API's
    order of the types."""
    options = payment_options(sub)
    types = [
        page.gettext(label)
        for value, label in labels.PAYMENT_TYPES.items()
        if value in options["payment_types"]
    ]
    return {**options, "payment_types": ", ".join(types)}


def payment_terms_text(page: PageContext, terms: str | None) -> str:
    if not terms:
        return "—"
    if terms == "due_on_receipt":
        return page.gettext("Due on receipt")
    days = terms.removeprefix("net_")
    return page.gettext("Net %(days)s days") % {"days": days}


def describe_event(page: PageContext, event: SubscriptionEvent, currency: str) -> str:
    """One timeline entry as a sentence in the page's language."""
    data: Mapping[str, Any] = event.data or {}
    _ = page.gettext

    def amount(key: str) -> str:
        return _money_text(page, data.get(key), currency)

    kind = event.type
    if kind == EventType.SUBSCRIPTION_CREATED:
        return _("The subscription was created.")
    if kind == EventType.SUBSCRIPTION_UPDATED:
        changes = data.get("changes") or {}
        if list(changes) == ["next_payment_date"]:
            return _("The next payment date was moved to %(date)s.") % {
                "date": _date_text(page, changes["next_payment_date"].get("to"))
            }
        fields = ", ".join(_(EDITED_FIELDS.get(name, name)) for name in changes)
        return _("The subscription was edited: %(fields)s.") % {"fields": fields}
    if kind == EventType.SUBSCRIPTION_CANCELED:
        refunded = data.get("refunded_amount")
        if refunded and money.parse_amount(str(refunded), currency) > 0:
            return _("The subscription was canceled and %(amount)s was refunded.") % {
                "amount": amount("refunded_amount")
            }
        return _("The subscription was canceled.")
    if kind == EventType.SUBSCRIPTION_CANCELLATION_SCHEDULED:
        return _("The subscription was set to cancel on %(date)s.") % {
            "date": _date_text(page, data.get("cancel_at"))
        }
    if kind == EventType.SUBSCRIPTION_REACTIVATED:
        return _("The scheduled cancellation was withdrawn: the subscription renews again.")
    if kind == EventType.SUBSCRIPTION_PAUSED:
        if data.get("resume_at"):
            return _("The subscription was paused until %(date)s.") % {
                "date": _date_text(page, data["resume_at"])
            }
        return _("The subscription was paused.")
    if kind == EventType.SUBSCRIPTION_RESUMED:
        return _("The subscription was resumed.")
    if kind == EventType.SUBSCRIPTION_PLAN_CHANGED:
        return _("The plan was changed from %(old)s to %(new)s.") % {
            "old": ", ".join(data.get("from") or []),
            "new": ", ".join(data.get("to") or []),
        }
    if kind == EventType.SUBSCRIPTION_PLAN_CHANGE_SCHEDULED:
        return _("A change of plan to %(new)s was scheduled for %(date)s.") % {
            "new": ", ".join(data.get("to") or []),
            "date": _date_text(page, data.get("effective")),
        }
    if kind == EventType.SUBSCRIPTION_STATUS_CHANGED:
        return _("The status changed from %(old)s to %(new)s.") % {
            "old": _status_label(page, data.get("from")),
            "new": _status_label(page, data.get("to")),
        }
    if kind == EventType.SUBSCRIPTION_DOWNGRADED:
        return _("The subscription was downgraded to the free plan %(plan)s.") % {
            "plan": ", ".join(data.get("to") or [])
        }
    if kind == EventType.SUBSCRIPTION_PAYMENT_METHOD_UPDATE_REQUESTED:
        return _("A link to update the payment method was sent to %(email)s.") % {
            "email": data.get("email", "")
        }
    if kind == EventType.INVOICE_CREATED:
        return _("Invoice %(number)s was issued for %(amount)s.") % {
            "number": data.get("number", ""),
            "amount": amount("total"),
        }
    if kind == EventType.PAYMENT_SUCCEEDED:
        return _("A payment of %(amount)s succeeded.") % {"amount": amount("amount")}
    if kind == EventType.PAYMENT_PROCESSING:
        return _("A bank payment was started; it settles on %(date)s.") % {
            "date": _date_text(page, data.get("settles_on"))
        }
    if kind == EventType.PAYMENT_FAILED:
        reason = data.get("failure_reason")
        values = {
            "amount": amount("amount"),
            "reason": _(labels.FAILURE_REASONS.get(str(reason), str(reason))),
        }
        if data.get("next_retry_date"):
            return _(
                "A payment of %(amount)s failed (%(reason)s). The next attempt is on %(date)s."
            ) % {
                **values,
                "date": _date_text(page, data["next_retry_date"]),
            }
        return _("A payment of %(amount)s failed (%(reason)s).") % values
    if kind in (EventType.WORKFLOW_ENROLLED, EventType.WORKFLOW_STEP):
        # The workflow's pages say its outcomes, in one place (workflows/pages.py).
        return workflow_pages.timeline_sentence(page, kind, data)
    if kind == EventType.DUNNING_EXHAUSTED:
        if data.get("reason") == "invoice_overdue":
            return _("The invoice was still unpaid at the end of the dunning schedule.")
        return _("The last retry of the payment failed.")
    return kind


# --- the panel -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyGroup:
    key: str  # a stable HTML id for the group's section
    name: str
    label: str
    rows: list[tuple[PropertyDefinition, str, Any]]  # definition, shown text, input value


def _group_key(name: str) -> str:
    return "props-" + hashlib.sha1(name.encode()).hexdigest()[:10]


def _property_groups(page: PageContext, subscription_id: str) -> list[PropertyGroup]:
    defined = properties.definitions(page.session, page.account.id, service.OBJECT_TYPE)
    values = properties.get_values(
        page.session,
        page.account.id,
        service.OBJECT_TYPE,
        [subscription_id],
        view_sensitive=page.allows(properties.VIEW_SENSITIVE),
    )[subscription_id]
    grouped: dict[str, list[PropertyDefinition]] = {}
    for definition in sorted(defined.values(), key=lambda d: (d.label.lower(), d.name)):
        grouped.setdefault(definition.group_name, []).append(definition)
    timezone = page.account.timezone
    groups = []
    for name in sorted(grouped, key=lambda g: (g != DEFAULT_PROPERTY_GROUP, g.lower())):
        label = (
            page.gettext(DEFAULT_PROPERTY_GROUP_LABEL)
            if name == DEFAULT_PROPERTY_GROUP
            else name.replace("_", " ").capitalize()
        )
        rows = [
            (
                d,
                property_forms.display_value(d, values.get(d.name)),
                property_forms.input_value(d, values.get(d.name), timezone),
            )
            for d in grouped[name]
        ]
        groups.append(PropertyGroup(_group_key(name), name, label, rows))
    return groups


def _actions(page: PageContext, sub: Subscription) -> dict[str, bool]:
    """Which actions the panel offers: possible in the current status, and permitted."""
    ended = sub.status in ENDED_STATUSES
    canceling = not ended and (sub.cancel_at_period_end or sub.cancel_at is not None)
    edit = page.allows(EDIT)
    return {
        "edit": edit,
        "change": edit and not ended and sub.status != SubscriptionStatus.PAUSED,
        "cancel": edit and not ended,
        "reactivate": edit and canceling,
        "pause": edit
        and sub.status
        in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNPAID, SubscriptionStatus.TRIALING),
        "resume": edit and sub.status == SubscriptionStatus.PAUSED,
        "delete": page.allows(DELETE) and ended,
        "send_link": edit and not ended and sub.invoice_creation,
        "portal_link": edit,
        # An open invoice can be settled by a payment received outside the processor, in any
        # status: the money came in either way.
        "record_payment": edit,
    }


def _timeline(page: PageContext, sub: Subscription) -> list[dict[str, Any]]:
    events: list[SubscriptionEvent] = []
    cursor: str | None = None
    while True:
        rows, has_more, cursor = service.events(
            page.session, page.account, sub.id, limit=EVENTS_PER_QUERY, cursor=cursor
        )
        events.extend(rows)
        if not has_more:
            break
    timezone = page.account.timezone
    return [
        {
            "type": event.type,
            "text": describe_event(page, event, sub.currency),
            "date": page.fmt.date(periods.local_date(event.created_at, timezone)),
            "moment": page.fmt.datetime(event.created_at, timezone),
        }
        for event in reversed(events)
    ]


def _line_items(page: PageContext, sub: Subscription) -> list[dict[str, Any]]:
    rate_ids = {item.tax_rate_id for item in sub.line_items if item.tax_rate_id}
    rates = repository.tax_rates_by_id(page.session, rate_ids)
    rows = []
    for item in sub.line_items:
        rate = rates.get(item.tax_rate_id) if item.tax_rate_id else None
        rows.append(
            {
                "item": item,
                "frequency": page.gettext(labels.frequency(item.billing_frequency)),
                "quantity": page.fmt.number(item.quantity),
                "unit_price": page.fmt.money(item.unit_price, item.currency),
                "discount": _percent(page, item.unit_discount_percent),
                "tax_rate": f"{rate.name} ({_percent(page, rate.percentage)})" if rate else "—",
                "amount": page.fmt.money(item.amount, item.currency),
                "unit_price_input": money.format_amount(item.unit_price, item.currency),
                "discount_input": (
                    f"{item.unit_discount_percent.normalize():f}"
                    if item.unit_discount_percent is not None
                    else ""
                ),
            }
        )
    return rows


def _invoices(page: PageContext, sub: Subscription) -> list[dict[str, Any]]:
    rows = repository.latest_invoices(page.session, page.account.id, sub.id, LIST_ROWS)
    fmt = page.fmt
    return [
        {
            "id": i.id,
            "number": i.number,
            "status": i.status,
            "status_label": page.gettext(labels.INVOICE_STATUSES.get(i.status, i.status)),
            "issue_date": fmt.date(i.issue_date),
            "due_date": fmt.date(i.due_date),
            "period": (
                page.gettext("%(start)s to %(end)s")
                % {"start": fmt.date(i.period_start), "end": fmt.date(i.period_end)}
                if i.period_start
                else "—"
            ),
            "total": fmt.money(i.total, i.currency),
            "amount_due": fmt.money(i.amount_due, i.currency),
        }
        for i in rows
    ]


def _payments(page: PageContext, sub: Subscription) -> list[dict[str, Any]]:
    rows = repository.latest_payments(page.session, page.account.id, sub.id, LIST_ROWS)
    fmt, timezone = page.fmt, page.account.timezone
    return [
        {
            "id": p.id,
            "date": fmt.date(periods.local_date(p.created_at, timezone)),
            "amount": fmt.money(p.amount, p.currency),
            "status": p.status,
            "status_label": page.gettext(labels.PAYMENT_STATUSES.get(p.status, p.status)),
            "failure_reason": (
                page.gettext(labels.FAILURE_REASONS.get(p.failure_reason, p.failure_reason))
                if p.failure_reason
                else ""
            ),
            "refunded": fmt.money(p.refunded_amount, p.currency) if p.refunded_amount else "",
        }
        for p in rows
    ]


def _sparkline(movements: Sequence[Movement], today: date) -> str:
    """The points of an SVG polyline of the MRR after each movement, from the first movement to
    today: a step line, as MRR holds between movements; from zero, where the first one began."""
    first = movements[0].effective_on
    days = max((max(today, movements[-1].effective_on) - first).days, 1)
    highest = max(m.mrr_after for m in movements) or 1
    pad = 2  # half the stroke and a little: the line is not cut at the edges

    def x(day: date) -> float:
        return pad + (SPARKLINE_WIDTH - 2 * pad) * (day - first).days / days

    def y(mrr: int) -> float:
        return SPARKLINE_HEIGHT - pad - (SPARKLINE_HEIGHT - 2 * pad) * mrr / highest

    points = [(x(first), y(0))]
    before = 0
    for movement in movements:
        at = x(movement.effective_on)
        points += [(at, y(before)), (at, y(movement.mrr_after))]
        before = movement.mrr_after
    points.append((x(max(today, movements[-1].effective_on)), y(before)))
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)


def _mrr_history(page: PageContext, sub: Subscription) -> dict[str, Any]:
    """The subscription's MRR movements, newest first, and the sparkline of its MRR."""
    movements = history(page.session, sub.id)
    locale = page.fmt.locale

    def signed(amount: int, currency: str) -> str:
        # A rise reads as the locale writes a fall, with its plus sign: "+$15.00", "US$ +15,00".
        if amount <= 0:
            return page.fmt.money(amount, currency)
        fall = page.fmt.money(-amount, currency)
        return fall.replace(get_minus_sign_symbol(locale), get_plus_sign_symbol(locale), 1)

    return {
        "sparkline": _sparkline(movements, page.today) if movements else None,
        "width": SPARKLINE_WIDTH,
        "height": SPARKLINE_HEIGHT,
        "now": page.fmt.money(movements[-1].mrr_after, movements[-1].currency)
        if movements
        else None,
        "movements": [
            {
                "iso": m.effective_on.isoformat(),
                "date": page.fmt.date(m.effective_on),
                "kind": m.kind,
                "label": page.gettext(MOVEMENT_KINDS.get(m.kind, m.kind)),
                "direction": "up" if m.amount > 0 else "down" if m.amount < 0 else "",
                "amount": signed(m.amount, m.currency),
                "mrr_after": page.fmt.money(m.mrr_after, m.currency),
            }
            for m in reversed(movements)
        ],
    }


def _associated(
    page: PageContext, sub: Subscription, contact: Contact, company: Company | None
) -> dict[str, list[dict[str, Any]]]:
    """Each section's records; the billing contact and company come first, from the
    subscription itself."""
    linked = associations.linked_records(page.session, page.account.id, sub.id)
    sections: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ASSOCIATION_SECTIONS}
    sections["contact"].append(
        {"id": contact.id, "name": contact.display_name, "detail": contact.email, "billing": True}
    )
    if company is not None:
        sections["company"].append(
            {"id": company.id, "name": company.name, "detail": company.domain, "billing": True}
        )
    for kind in ASSOCIATION_SECTIONS:
        shown = {row["id"] for row in sections[kind]}
        for record in linked.get(kind, []):
            if record.id not in shown:
                sections[kind].append(
                    {"id": record.id, "name": record.name, "detail": None, "billing": False}
                )
    return sections


def _choices(
    page: PageContext, kind: str, exclude: Iterable[str], query: str | None = None
) -> Sequence[tuple[str, str]]:
    return associations.search_records(
        page.session, page.account.id, kind, query, exclude=list(exclude), limit=CHOICES
    )


def _edit_choices(page: PageContext, sub: Subscription, contact: Contact) -> dict[str, Any]:
    """What the edit and change-plan dialogs offer to choose from."""
    session, account = page.session, page.account
    contacts = [(contact.id, f"{contact.display_name} <{contact.email}>")] + [
        (record_id, name) for record_id, name in _choices(page, "contact", [contact.id])
    ]
    methods, _more, _cursor = payments.list_payment_methods(
        session, account, contact.id, limit=100, cursor=None
    )
    products = repository.products_to_add(session, account.id, sub.currency, limit=200)
    tax_rates = repository.tax_rates(session, account.id, limit=200)
    return {
        "contact_choices": contacts,
        "payment_methods": [(m.id, payment_method_text(page, m)) for m in methods],
        "products": [
            (
                p.id,
                f"{p.name} · {page.fmt.money(p.unit_price, p.currency)} · "
                + page.gettext(labels.frequency(p.billing_frequency)),
            )
            for p in products
        ],
        "tax_rates": [(r.id, f"{r.name} ({_percent(page, r.percentage)})") for r in tax_rates],
    }


def _panel_context(
    page: PageContext, subscription_id: str, *, edit_group: str | None = None
) -> dict[str, Any]:
    session, account = page.session, page.account
    sub = service.get(session, account, subscription_id)
    contact = session.get(Contact, sub.contact_id)
    assert contact is not None  # required, and kept by a foreign key
    company = session.get(Company, sub.company_id) if sub.company_id else None
    method = session.get(PaymentMethod, sub.payment_method_id) if sub.payment_method_id else None
    badge_key, badge_label = display.badge(sub)
    actions = _actions(page, sub)
    sections = _associated(page, sub, contact, company)
    context: dict[str, Any] = {
        "sub": sub,
        "badge_key": badge_key,
        "badge_label": page.gettext(badge_label),
        "contact": contact,
        "company": company,
        "payment_method": payment_method_text(page, method) if method else None,
        # No method yet, but none is missing: the buyer gives it by paying an invoice.
        "awaits_payment_method": awaits_payment_method(sub),
        "frequency": page.gettext(
            labels.FREQUENCIES.get(sub.billing_frequency, sub.billing_frequency)
        ),
        "collection_method": page.gettext(
            labels.COLLECTION_METHODS.get(sub.collection_method, sub.collection_method)
        ),
        "payment_terms": payment_terms_text(page, sub.payment_terms),
        "payment_options": _payment_options(page, sub),
        "cancellation_reasons": [
            page.gettext(labels.CANCELLATION_REASONS[reason])
            for reason in cancellation_reasons(sub.cancellation_reason, sub.cancellation_reasons)
            if reason in labels.CANCELLATION_REASONS
        ],
        "line_items": _line_items(page, sub),
        "invoices": _invoices(page, sub),
        "payments": _payments(page, sub),
        "timeline": _timeline(page, sub),
        "mrr_history": _mrr_history(page, sub),
        "sections": sections,
        "section_labels": {k: page.gettext(v) for k, v in ASSOCIATION_SECTIONS.items()},
        "property_groups": _property_groups(page, sub.id),
        "edit_group": edit_group,
        "actions": actions,
        "pending_bank_payment": service.has_pending_bank_payment(session, sub),
        # Set while a commitment runs: the cancel dialog then asks to end it early.
        "commitment_end": (
            sub.commitment_end if service.commitment_runs(sub, page.today) else None
        ),
        "reasons": [(k, page.gettext(v)) for k, v in labels.CANCELLATION_REASONS.items()],
        "link_days": service.PAYMENT_METHOD_LINK_LIFETIME.days,
        "money": page.fmt.money,
        "date": page.fmt.date,
        "today_iso": periods.local_date(clock.account_now(account), account.timezone).isoformat(),
    }
    if actions["edit"]:
        context.update(_edit_choices(page, sub, contact))
        context["add_choices"] = {
            kind: _choices(page, kind, [row["id"] for row in rows])
            for kind, rows in sections.items()
        }
    return context


def _render_panel(
    request: Request,
    page: PageContext,
    subscription_id: str,
    *,
    errors: FormErrors | None = None,
    dialog: str | None = None,
    submitted: FormData | None = None,
    edit_group: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = _panel_context(page, subscription_id, edit_group=edit_group)
    sent: Mapping[str, Any] = submitted or {}

    def value_of(name: str, default: Any = "", dialog_name: str | None = None) -> Any:
        """What a dialog's field shows: what was just sent when that dialog failed, else the
        current value."""
        if dialog is not None and dialog == dialog_name and name in sent:
            return sent.get(name)
        return default

    def values_of(name: str, dialog_name: str) -> list[str]:
        """What a dialog's boxes of one name show ticked: those just sent when it failed."""
        if dialog is not None and dialog == dialog_name and isinstance(sent, FormData):
            return [str(v) for v in sent.getlist(name)]
        return []

    context.update(
        {
            "errors": errors or {},
            "open_dialog": dialog,
            "value_of": value_of,
            "values_of": values_of,
            "error_messages": list(dict.fromkeys((errors or {}).values())),
        }
    )
    return render(request, "subscriptions/record.html", context, status_code=status_code)


@router.get("/subscriptions/{subscription_id}")
def record_panel(
    request: Request,
    subscription_id: str,
    edit: str | None = None,
    page: PageContext = Depends(page_requires(VIEW)),
) -> HTMLResponse:
    """The panel; `?edit=<property group>` opens that group's inline form (without htmx)."""
    return _render_panel(
        request, page, subscription_id, edit_group=edit if page.allows(EDIT) else None
    )


# --- actions -------------------------------------------------------------------------------


def _act(
    request: Request,
    page: PageContext,
    subscription_id: str,
    dialog: str | None,
    form: FormData,
    run: Callable[[], str],
    *,
    done_url: str | None = None,
) -> Response:
    """Run one action: on success commit once and show the panel again with `run`'s message;
    when the form or the service refuses, write nothing and show why, with the dialog open."""
    # An unknown (or another account's) subscription is a 404 page, before anything runs: a
    # refusal below shows the panel again, and there is no panel to show.
    get_owned(page.session, Subscription, page.account.id, subscription_id, "subscription")
    try:
        flash = run()
    except FormInvalid as exc:
        page.session.rollback()
        return _render_panel(
            request,
            page,
            subscription_id,
            errors=exc.errors,
            dialog=dialog,
            submitted=form,
            status_code=422,
        )
    except APIError as exc:
        page.session.rollback()
        return _render_panel(
            request,
            page,
            subscription_id,
            errors={exc.param or "__all__": _refusal(page, exc)},
            dialog=dialog,
            submitted=form,
            status_code=exc.status_code,
        )
    page.session.commit()
    return redirect(done_url or f"/subscriptions/{subscription_id}", flash=flash)


# The service refuses a date in the API's words (the field's name, ISO dates). A date chosen in
# a dialog is refused in the reader's words instead, by the field the refusal names.
DATE_REFUSALS = {
    "cancel_at": N_(
        "Choose a cancellation date after today (%(today)s) and before the subscription's end date."
    ),
    "resume_at": N_("Choose a date after today (%(today)s) to resume on, or leave it empty."),
    "next_payment_date": N_(
        "Choose a next payment date after today (%(today)s) and within the subscription's term."
    ),
}


def _refusal(page: PageContext, exc: APIError) -> str:
    template = DATE_REFUSALS.get(exc.param or "") if isinstance(exc, InvalidRequest) else None
    if template is None:
        return exc.message
    return page.gettext(template) % {"today": page.fmt.date(page.today)}


def _int_or_text(value: str | None) -> int | str | None:
    """A whole number from a form field; anything else goes on for the schema to refuse."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _address(form: FormData) -> dict[str, Any] | None:
    fields = {
        name: text(form, f"billing_address.{name}")
        for name in ("line1", "line2", "city", "postal_code", "region", "country")
    }
    if fields["country"]:
        fields["country"] = fields["country"].upper()
    if not any(fields.values()):
        return None
    try:
        return build(Address, fields).model_dump()
    except FormInvalid as exc:
        raise FormInvalid({f"billing_address.{k}": v for k, v in exc.errors.items()}) from exc


def _same_address(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    def cleaned(x: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (x or {}).items() if v}

    return cleaned(a) == cleaned(b)


def edit_changes(sub: Subscription, form: FormData) -> dict[str, Any]:
    """The PATCH body of the edit form: only the fields the user changed (an unchanged field
    must not be sent: e.g. a billing field of a record-only subscription is refused)."""
    data: dict[str, Any] = {}
    name = text(form, "name")
    if name is not None and name != sub.name:
        data["name"] = name
    contact_id = text(form, "contact_id")
    if contact_id is not None and contact_id != sub.contact_id:
        data["contact_id"] = contact_id
    if sub.invoice_creation:
        method_id = text(form, "payment_method_id")
        if method_id is not None and method_id != sub.payment_method_id:
            data["payment_method_id"] = method_id
        next_date = text(form, "next_payment_date")
        current = sub.next_payment_date.isoformat() if sub.next_payment_date else None
        if next_date is not None and next_date != current:
            data["next_payment_date"] = next_date
    changes = build(SubscriptionUpdate, data).model_dump(exclude_unset=True)
    address = _address(form)
    if not _same_address(address, sub.billing_address):
        changes["billing_address"] = address
    return changes


@router.post("/subscriptions/{subscription_id}/edit")
def edit_subscription(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        sub = service.get(page.session, page.account, subscription_id)
        changes = edit_changes(sub, form)
        if not changes:
            return page.gettext("Nothing was changed.")
        service.update(page.session, page.account, subscription_id, changes)
        return page.gettext("The subscription was saved.")

    return _act(request, page, subscription_id, "edit-dialog", form, run)


TIMINGS = {
    "now_prorated": ("now", "prorate"),
    "now": ("now", "none"),
    "period_end": ("period_end", "none"),
}


def change_request(page: PageContext, sub: Subscription, form: FormData) -> ChangeRequest:
    """The plan-change body from the form: the kept rows (quantities, prices, discounts, tax
    rates edited), plus an optional product from the library on the subscription's terms."""
    items: list[dict[str, Any]] = []
    index = 0
    while f"items.{index}.name" in form or f"items.{index}.product_id" in form:
        prefix = f"items.{index}."
        index += 1
        if checked(form, prefix + "remove"):
            continue
        item = {
            "product_id": text(form, prefix + "product_id"),
            "name": text(form, prefix + "name"),
            "unit_price": text(form, prefix + "unit_price"),
            "quantity": _int_or_text(text(form, prefix + "quantity")),
            "unit_discount_percent": text(form, prefix + "unit_discount_percent"),
            "tax_rate_id": text(form, prefix + "tax_rate_id"),
            "billing_frequency": text(form, prefix + "billing_frequency"),
            "billing_terms": text(form, prefix + "billing_terms"),
            "number_of_payments": _int_or_text(text(form, prefix + "number_of_payments")),
            "billing_start_date": text(form, prefix + "billing_start_date"),
        }
        items.append({k: v for k, v in item.items() if v is not None})
    product_id = text(form, "new.product_id")
    if product_id is not None:
        added: dict[str, Any] = {
            "product_id": product_id,
            "quantity": _int_or_text(text(form, "new.quantity")) or 1,
        }
        product = page.session.get(Product, product_id)
        if product is not None and product.billing_frequency:
            # A recurring item joins on the terms all recurring items share (SPEC §4).
            kept = next((i for i in items if i.get("billing_frequency")), None)
            added["billing_terms"] = sub.billing_terms
            if sub.billing_terms == BillingTerms.FIXED:
                added["number_of_payments"] = sub.number_of_payments
            if kept and kept.get("billing_start_date"):
                added["billing_start_date"] = kept["billing_start_date"]
        items.append(added)
    if not items:
        raise FormInvalid({"line_items": page.gettext("Keep or add at least one line item.")})
    effective, proration = TIMINGS.get(text(form, "timing") or "", ("", ""))
    return build(
        ChangeRequest, {"line_items": items, "effective": effective, "proration": proration}
    )


@router.post("/subscriptions/{subscription_id}/change")
def change_plan(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        sub = service.get(page.session, page.account, subscription_id)
        body = change_request(page, sub, form)
        changed = service.change(
            page.session,
            page.account,
            subscription_id,
            body,
            allow_custom_items=page.allows(CUSTOM_ITEMS),
        )
        if body.effective == "period_end":
            return page.gettext("The new plan starts with the next period, on %(date)s.") % {
                "date": page.fmt.date(changed.next_payment_date)
            }
        return page.gettext("The plan was changed.")

    return _act(request, page, subscription_id, "change-dialog", form, run)


def cancel_request(page: PageContext, form: FormData) -> CancelRequest:
    """The cancel body from the dialog. The confirmation box is checked here, on the server,
    not only by the disabled button: nothing is canceled without it."""
    if not checked(form, "understood"):
        raise FormInvalid(
            {
                "understood": page.gettext(
                    "Tick the box to confirm that you understand the customer will not be "
                    "charged again."
                )
            }
        )
    mode = text(form, "mode")
    return build(
        CancelRequest,
        {
            "mode": mode,
            # The date field belongs to "at a date"; the browser may send it for other modes.
            "cancel_at": text(form, "cancel_at") if mode == "at_date" else None,
            # At the period end a commitment runs to its end: the box only ends it sooner.
            "override_commitment": mode != "at_period_end" and checked(form, "override_commitment"),
            "refund": text(form, "refund"),
            # The ticked boxes; a single `reason` (the older form) comes first.
            "reason": text(form, "reason"),
            "reasons": [str(v) for v in form.getlist("reasons")],
            "comment": text(form, "comment"),
        },
    )


def _refunded_on_cancel(page: PageContext, sub: Subscription) -> int:
    """What the cancellation just refunded, as its timeline entry records it."""
    data = repository.last_cancellation_data(page.session, sub.id)
    refunded = (data or {}).get("refunded_amount")
    return money.parse_amount(str(refunded), sub.currency) if refunded else 0


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel_subscription(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        body = cancel_request(page, form)
        try:
            sub = service.cancel(page.session, page.account, subscription_id, body)
        except Conflict as exc:
            if exc.param != "override_commitment":
                raise
            # The service's refusal, in the page's language and naming the dialog's box.
            committed = service.get(page.session, page.account, subscription_id)
            message = page.gettext(
                "The subscription is committed until %(date)s. Tick “End the commitment "
                "early” to cancel sooner, or cancel at the end of the commitment."
            ) % {"date": page.fmt.date(committed.commitment_end)}
            raise Conflict(message, param=exc.param) from exc
        if sub.status == SubscriptionStatus.CANCELED:
            refunded = _refunded_on_cancel(page, sub)
            message = (
                page.gettext("The subscription was canceled and %(amount)s was refunded.")
                % {"amount": page.fmt.money(refunded, sub.currency)}
                if refunded
                else page.gettext("The subscription was canceled.")
            )
        elif sub.cancel_refund == "prorated":
            message = page.gettext(
                "The subscription will be canceled on %(date)s, and the unused days of its "
                "period refunded then."
            ) % {"date": page.fmt.date(sub.cancel_at)}
        else:
            message = page.gettext("The subscription will be canceled on %(date)s.") % {
                "date": page.fmt.date(sub.cancel_at)
            }
        if service.has_pending_bank_payment(page.session, sub):
            message += " " + page.gettext(
                "A bank payment is still pending: it is not cancelled or refunded "
                "automatically. Refund it once it has settled if the customer should not pay it."
            )
        return message

    return _act(request, page, subscription_id, "cancel-dialog", form, run)


@router.post("/subscriptions/{subscription_id}/reactivate")
def reactivate_subscription(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        service.reactivate(page.session, page.account, subscription_id)
        return page.gettext("The subscription was reactivated: it renews as usual.")

    return _act(request, page, subscription_id, None, form, run)


@router.post("/subscriptions/{subscription_id}/pause")
def pause_subscription(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        body = build(PauseRequest, {"resume_at": text(form, "resume_at")})
        sub = service.pause(page.session, page.account, subscription_id, body.resume_at)
        if sub.resume_at:
            return page.gettext("The subscription was paused. It resumes on %(date)s.") % {
                "date": page.fmt.date(sub.resume_at)
            }
        return page.gettext("The subscription was paused until you resume it.")

    return _act(request, page, subscription_id, "pause-dialog", form, run)


@router.post("/subscriptions/{subscription_id}/resume")
def resume_subscription(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        service.resume(page.session, page.account, subscription_id)
        return page.gettext("The subscription was resumed: a new period starts today.")

    return _act(request, page, subscription_id, None, form, run)


def _paid_at(page: PageContext, value: str | None) -> datetime | None:
    """The moment of an offline payment from the dialog's date: today means now; an earlier
    day its start in the account's timezone. A later day stays in the future, for the service
    to refuse."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FormInvalid(
            {"paid_at": page.gettext("Enter the date the payment was received.")}
        ) from None
    timezone = page.account.timezone
    if day == periods.local_date(clock.account_now(page.account), timezone):
        return None
    return periods.start_of_day_utc(day, timezone)


@router.post("/subscriptions/{subscription_id}/invoices/{invoice_id}/record-payment")
def record_offline_payment(
    request: Request,
    subscription_id: str,
    invoice_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    """Record an invoice of this subscription as paid outside the processor (as POST
    /invoices/{id}/pay with paid_out_of_band)."""

    def run() -> str:
        invoice = invoices.get_invoice(page.session, page.account, invoice_id)
        if invoice.subscription_id != subscription_id:
            raise not_found("invoice", invoice_id)
        body = build(PayRequest, {"paid_out_of_band": True, "reference": text(form, "reference")})
        invoice, payment = invoices.record_offline_payment(
            page.session,
            page.account,
            invoice.id,
            reference=body.reference,
            paid_at=_paid_at(page, text(form, "paid_at")),
        )
        return page.gettext("A payment of %(amount)s was recorded: %(number)s is paid.") % {
            "amount": page.fmt.money(payment.amount, payment.currency),
            "number": invoice.number,
        }

    return _act(request, page, subscription_id, f"record-payment-{invoice_id}", form, run)


@router.post("/subscriptions/{subscription_id}/delete")
def delete_subscription(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(DELETE)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        name = service.get(page.session, page.account, subscription_id).name
        service.delete_subscription(page.session, page.account, subscription_id)
        return page.gettext("The subscription “%(name)s” was deleted.") % {"name": name}

    return _act(
        request, page, subscription_id, "delete-dialog", form, run, done_url="/subscriptions"
    )


@router.post("/subscriptions/{subscription_id}/payment-method-link")
def send_payment_method_link(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        link = service.request_payment_method_update(
            page.session, page.account, subscription_id, request.app.state.settings.base_url
        )
        return page.gettext("A link to update the payment method was sent to %(email)s.") % {
            "email": link.email
        }

    return _act(request, page, subscription_id, "link-dialog", form, run)


# --- custom properties, edited inline ------------------------------------------------------


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _group_response(
    request: Request,
    page: PageContext,
    subscription_id: str,
    group_name: str,
    *,
    editing: bool,
    errors: FormErrors | None = None,
    submitted: FormData | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """One property group's section, shown or in its form (the htmx swap target)."""
    sub = service.get(page.session, page.account, subscription_id)
    groups = {g.name: g for g in _property_groups(page, sub.id)}
    group = groups.get(group_name)
    if group is None:
        raise InvalidRequest(page.gettext("There is no such group of properties."))
    if submitted is not None:
        # Show what was typed, not what is stored, next to the error.
        timezone = page.account.timezone
        sent = property_forms.values_from_form([d for d, _, _ in group.rows], submitted, timezone)
        group = PropertyGroup(
            group.key,
            group.name,
            group.label,
            [
                (d, shown, property_forms.input_value(d, sent[d.name], timezone))
                if d.name in sent
                else (d, shown, value)
                for d, shown, value in group.rows
            ],
        )
    context = {
        "sub": sub,
        "group": group,
        "editing": editing,
        "errors": errors or {},
        "can_edit": page.allows(EDIT),
    }
    return render(request, "subscriptions/record_properties.html", context, status_code=status_code)


@router.get("/subscriptions/{subscription_id}/properties")
def property_group(
    request: Request,
    subscription_id: str,
    group: str,
    mode: str = "show",
    page: PageContext = Depends(page_requires(VIEW)),
) -> HTMLResponse:
    editing = mode == "edit"
    if editing:
        page.require(EDIT)
    return _group_response(request, page, subscription_id, group, editing=editing)


@router.post("/subscriptions/{subscription_id}/properties")
def save_properties(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    """Save one group's values through the same update as PATCH (checks and timeline)."""
    # An unknown subscription: 404, as for the actions.
    get_owned(page.session, Subscription, page.account.id, subscription_id, "subscription")
    group = text(form, "group") or ""
    defined = properties.definitions(page.session, page.account.id, service.OBJECT_TYPE)
    values = property_forms.values_from_form(
        [d for d in defined.values() if d.group_name == group], form, page.account.timezone
    )
    try:
        service.update(page.session, page.account, subscription_id, {"properties": values})
    except APIError as exc:
        page.session.rollback()
        errors = {exc.param or "__all__": exc.message}
        if _is_htmx(request):
            return _group_response(
                request,
                page,
                subscription_id,
                group,
                editing=True,
                errors=errors,
                submitted=form,
                status_code=422,
            )
        return _render_panel(
            request, page, subscription_id, errors=errors, edit_group=group, status_code=422
        )
    page.session.commit()
    if _is_htmx(request):
        return _group_response(request, page, subscription_id, group, editing=False)
    return redirect(
        f"/subscriptions/{subscription_id}", flash=page.gettext("The properties were saved.")
    )


# --- associated records --------------------------------------------------------------------


def _kind(page: PageContext, form: FormData) -> str:
    kind = text(form, "type") or ""
    if kind not in ASSOCIATION_SECTIONS:
        raise FormInvalid({"type": page.gettext("There is no such type of record.")})
    return kind


def _record_id(page: PageContext, form: FormData, name: str = "record_id") -> str:
    record_id = text(form, name)
    if record_id is None:
        raise FormInvalid({name: page.gettext("Choose a record.")})
    return record_id


@router.post("/subscriptions/{subscription_id}/associations")
def add_association(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        kind = _kind(page, form)
        record_id = _record_id(page, form)
        associations.associate(
            page.session, page.account, "subscription", subscription_id, kind, record_id
        )
        return page.gettext(ASSOCIATED[kind])

    return _act(request, page, subscription_id, None, form, run)


@router.post("/subscriptions/{subscription_id}/associations/replace")
def replace_association(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    """Replace one associated record by another. The billing contact and billing company are
    fields of the subscription: replacing them is an edit (PATCH contact_id / company_id)."""

    def run() -> str:
        kind = _kind(page, form)
        old_id = _record_id(page, form, "old_id")
        new_id = _record_id(page, form)
        sub = service.get(page.session, page.account, subscription_id)
        if kind == "contact" and old_id == sub.contact_id:
            changes: dict[str, Any] = {"contact_id": new_id}
            method_id = text(form, "payment_method_id")
            if method_id:
                changes["payment_method_id"] = method_id
            service.update(page.session, page.account, subscription_id, changes)
        elif kind == "company" and old_id == sub.company_id:
            service.update(page.session, page.account, subscription_id, {"company_id": new_id})
        else:
            associations.replace(
                page.session, page.account, "subscription", subscription_id, kind, old_id, new_id
            )
        return page.gettext(REPLACED[kind])

    return _act(request, page, subscription_id, None, form, run)


@router.post("/subscriptions/{subscription_id}/associations/remove")
def remove_association(
    request: Request,
    subscription_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    def run() -> str:
        kind = _kind(page, form)
        record_id = _record_id(page, form)
        sub = service.get(page.session, page.account, subscription_id)
        if kind == "contact" and record_id == sub.contact_id:
            raise FormInvalid(
                {
                    "__all__": page.gettext(
                        "The billing contact cannot be removed. Replace it with another contact "
                        "instead."
                    )
                }
            )
        if kind == "company" and record_id == sub.company_id:
            service.update(page.session, page.account, subscription_id, {"company_id": None})
        else:
            associations.dissociate(page.session, page.account, subscription_id, record_id)
        return page.gettext(REMOVED[kind])

    return _act(request, page, subscription_id, None, form, run)


@router.get("/subscriptions/{subscription_id}/record-options")
def record_options(
    request: Request,
    subscription_id: str,
    type: str,
    q: str | None = None,
    billing: bool = False,
    page: PageContext = Depends(page_requires(EDIT)),
) -> HTMLResponse:
    """The <option>s of a record select, narrowed by a search (htmx): records not associated
    yet, or (`billing`) any contact, to choose the billing contact from."""
    sub = service.get(page.session, page.account, subscription_id)
    if type not in ASSOCIATION_SECTIONS:
        raise InvalidRequest(page.gettext("There is no such type of record."))
    linked = associations.linked_records(page.session, page.account.id, sub.id)
    shown = [record.id for record in linked.get(type, [])] + [sub.contact_id, sub.company_id or ""]
    choices = _choices(page, type, [] if billing else shown, (q or "")[:200])
    return render(request, "subscriptions/record_options.html", {"choices": choices})


@router.get("/subscriptions/{subscription_id}/payment-method-options")
def payment_method_options(
    request: Request,
    subscription_id: str,
    contact_id: str,
    page: PageContext = Depends(page_requires(EDIT)),
) -> HTMLResponse:
    """The saved payment methods of the contact chosen as billing contact (htmx)."""
    service.get(page.session, page.account, subscription_id)
    methods, _more, _cursor = payments.list_payment_methods(
        page.session, page.account, contact_id[:40], limit=100, cursor=None
    )
    choices = [(m.id, payment_method_text(page, m)) for m in methods]
    return render(request, "subscriptions/record_options.html", {"choices": choices, "blank": True})
