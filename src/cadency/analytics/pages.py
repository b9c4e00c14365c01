"""Reports → Analytics: the account's MRR and ARR, the movements that made it, its active
subscriptions, churn and payment recovery, and why subscriptions were canceled, over a range
of months by month or by day, in one of its currencies (never converted). The figures are the
analytics service's, as the API's /analytics endpoints report them; `analytics.view` opens the
page (web/sections.py).

Routes: GET /analytics (the form and the charts, each with its figures as a table beneath it)
and GET /analytics/{chart}.csv (one chart's figures: plain numbers, ISO periods), both with the
query `start` and `end` (YYYY-MM), `interval` (month or day) and `currency`. Without them the
page shows the last 12 months up to the account's current month, by month, in its currency; a
value it cannot use is shown next to its field with a 422, and nothing is reported.

analytics.js draws the charts with the vendored Chart.js from a JSON block beside each canvas:
the Content-Security-Policy allows no inline script. The tables are what a screen reader reads
(the canvases are hidden from it) and what the page shows without JavaScript.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_skeleton
from babel.numbers import format_percent, get_currency_name
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from cadency.analytics import service
from cadency.analytics.labels import MOVEMENT_KINDS, UNKNOWN_REASON
from cadency.kit import labels, money, periods
from cadency.kit.errors import InvalidRequest, NotFound
from cadency.kit.i18n import N_
from cadency.subscriptions.models import Subscription
from cadency.web.auth import PageContext
from cadency.web.forms import FormErrors
from cadency.web.sections import reads
from cadency.web.templating import render

router = APIRouter(include_in_schema=False)
SECTION = "analytics"
DEFAULT_MONTHS = 12
INTERVALS = {"month": N_("By month"), "day": N_("By day")}
# What a query value may be to be shown back on the form; anything longer is not a month.
ECHO_LENGTH = 20
QUERY_FIELDS = ("start", "end", "interval", "currency")
# The months a report may cover (the service's rule, said here before asking it).
EARLIEST_MONTH = date(service.FIRST_YEAR, 1, 1)
LATEST_MONTH = date(service.LAST_YEAR, 12, 1)

MONEY, COUNT, RATE = "money", "count", "rate"


@dataclass(frozen=True)
class Column:
    key: str  # the service's field, and the CSV's header
    label: str
    unit: str
    drawn: bool = True  # a dataset of the chart, not only a column of its table
    # Drawn against a scale of its own on the right: ARR is twelve times MRR, which would
    # flatten MRR's line on a shared scale.
    own_scale: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    kind: str  # Chart.js's type
    columns: tuple[Column, ...]
    stacked: bool = False


# In the order of the page. The movements stack what added MRR above the axis and what took it
# away below it (contraction and churned are negative in the series).
CHARTS = {
    "mrr": Chart(
        N_("MRR and ARR"),
        "line",
        (Column("mrr", N_("MRR"), MONEY), Column("arr", N_("ARR"), MONEY, own_scale=True)),
    ),
    "movements": Chart(
        N_("MRR movements"),
        "bar",
        (
            *(Column(kind, label, MONEY) for kind, label in MOVEMENT_KINDS.items()),
            Column("net_new", N_("Net new MRR"), MONEY, drawn=False),
        ),
        stacked=True,
    ),
    "subscriptions": Chart(
        N_("Active subscriptions"),
        "line",
        (
            Column("active_subscriptions", N_("Active subscriptions"), COUNT),
            Column("new_subscriptions", N_("New subscriptions"), COUNT, drawn=False),
            Column("churned_subscriptions", N_("Churned subscriptions"), COUNT, drawn=False),
        ),
    ),
    "churn": Chart(
        N_("Churn and recovery"),
        "line",
        (
            Column("logo_churn_rate", N_("Logo churn"), RATE),
            Column("revenue_churn_rate", N_("Revenue churn"), RATE),
            Column("net_revenue_retention", N_("Net revenue retention"), RATE),
            Column("failed", N_("Failed payments"), COUNT, drawn=False),
            Column("recovered", N_("Recovered payments"), COUNT, drawn=False),
            Column("recovery_rate", N_("Payment recovery rate"), RATE),
        ),
    ),
    "reasons": Chart(
        N_("Cancellation reasons"),
        "bar",
        (
            Column("count", N_("Subscriptions canceled"), COUNT, drawn=False),
            Column("mrr", N_("MRR lost"), MONEY),
        ),
    ),
}
# Each chart's rows are periods, but for the reasons (the whole range at once).
_ROW_KEY = {"reasons": "reason"}
# Three charts show parts of the MRR series: the page reads it once for them.
_SERIES = {"movements": "mrr", "subscriptions": "mrr"}


@dataclass(frozen=True)
class Query:
    start: date  # the first day of the first month
    end: date  # the first day of the last month
    interval: str
    currency: str

    def params(self) -> str:
        return urlencode(
            {
                "start": self.start.strftime("%Y-%m"),
                "end": self.end.strftime("%Y-%m"),
                "interval": self.interval,
                "currency": self.currency,
            }
        )


def currencies(page: PageContext) -> list[str]:
    """What the account reports in: its own currency, then every other its subscriptions use."""
    used = page.session.scalars(
        select(Subscription.currency).where(Subscription.account_id == page.account.id).distinct()
    )
    return [page.account.currency, *sorted(set(used) - {page.account.currency})]


def _month_or_none(text: str) -> date | None:
    return service.parse_month(text)


def _month_name(page: PageContext, first: date) -> str:
    """A month in words, in full: "January 2026", "januari 2026"."""
    return str(format_skeleton("yMMMM", first, locale=page.fmt.locale))


def _months_from(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def read_query(
    page: PageContext, params: Mapping[str, str], offered: list[str]
) -> tuple[Query | None, dict[str, str], FormErrors]:
    """The query of the form: what to report (None when a value cannot be used), what the form
    shows back, and the message for each field that cannot be used. Missing or blank values
    are the defaults: the last 12 months up to the account's current month, by month, in the
    account's currency."""
    _ = page.gettext
    this_month = page.today.replace(day=1)
    sent = {name: (params.get(name) or "").strip()[:ECHO_LENGTH] for name in QUERY_FIELDS}
    fields = {
        "start": sent["start"]
        or periods.add_months(this_month, 1 - DEFAULT_MONTHS).strftime("%Y-%m"),
        "end": sent["end"] or this_month.strftime("%Y-%m"),
        "interval": sent["interval"] or "month",
        "currency": sent["currency"].upper() or page.account.currency,
    }
    errors: FormErrors = {}
    start, end = _month_or_none(fields["start"]), _month_or_none(fields["end"])
    for name, found in (("start", start), ("end", end)):
        if found is None:
            errors[name] = _("“%(value)s” is not a month: use YYYY-MM, e.g. 2026-01.") % {
                "value": fields[name]
            }
        elif not EARLIEST_MONTH <= found <= LATEST_MONTH:
            errors[name] = _("Choose a month from %(first)s to %(last)s.") % {
                "first": _month_name(page, EARLIEST_MONTH),
                "last": _month_name(page, LATEST_MONTH),
            }
    if errors:  # what is between two months that cannot be used is not asked
        start = end = None
    interval = fields["interval"]
    if interval not in INTERVALS:
        errors["interval"] = _("Choose by month or by day.")
    if start and end:
        if end < start:
            errors["end"] = _("The last month is before the first.")
        elif interval == "month" and _months_from(start, end) > service.MAX_MONTHS:
            errors["end"] = _("Choose at most %(count)s months.") % {
                "count": page.fmt.number(service.MAX_MONTHS)
            }
        elif interval == "day" and (periods.add_months(end, 1) - start).days > service.MAX_DAYS:
            errors["end"] = _("By day, choose at most %(count)s days: fewer months.") % {
                "count": page.fmt.number(service.MAX_DAYS)
            }
    if fields["currency"] not in offered:
        errors["currency"] = _("The account has no subscriptions in “%(value)s”.") % {
            "value": fields["currency"]
        }
    if errors or start is None or end is None:
        return None, fields, errors
    return Query(start, end, interval, fields["currency"]), fields, errors


# --- the figures -----------------------------------------------------------------------------


def figures(page: PageContext, query: Query, chart: str) -> list[dict[str, Any]]:
    """One chart's rows as the service reports them (money and rates as decimal strings)."""
    session, account = page.session, page.account
    start, end, interval, currency = query.start, query.end, query.interval, query.currency
    chart = _SERIES.get(chart, chart)
    if chart == "reasons":
        return service.cancellation_reasons(
            session, account, start=start, end=end, currency=currency
        )
    if chart == "churn":
        rates = service.churn_series(
            session, account, start=start, end=end, interval=interval, currency=currency
        )
        payments = service.payments_series(
            session, account, start=start, end=end, interval=interval, currency=currency
        )
        # The same periods in the same order: one row of each per period.
        return [{**rate, **paid} for rate, paid in zip(rates, payments, strict=True)]
    return service.mrr_series(
        session, account, start=start, end=end, interval=interval, currency=currency
    )


def _period_day(period: str) -> date:
    # A month's label is "2026-03", a day's "2026-03-14" (service.periods).
    return date.fromisoformat(period if len(period) > 7 else f"{period}-01")


def _period_texts(page: PageContext, period: str, interval: str) -> tuple[str, str]:
    """A period in words, in full (tables, tooltips) and short (the chart's axis)."""
    day, locale = _period_day(period), page.fmt.locale
    if interval == "month":
        return _month_name(page, day), str(format_skeleton("yMMM", day, locale=locale))
    return page.fmt.date(day), str(format_skeleton("MMMd", day, locale=locale))


def _rate_pattern(page: PageContext) -> str:
    """The locale's percent pattern with two decimals: a rate has four places (0.4817)."""
    pattern = str(page.fmt.locale.percent_formats[None].pattern)
    return re.sub(r"0(\s*%)", r"0.00\1", pattern, count=1)


def _cell(page: PageContext, unit: str, value: Any, currency: str) -> str:
    if value is None:
        return "—"  # a rate of a period in which nothing had MRR, or nothing failed
    if unit == MONEY:
        return page.fmt.money(money.parse_amount(value, currency, allow_negative=True), currency)
    if unit == RATE:
        return str(format_percent(Decimal(value), _rate_pattern(page), locale=page.fmt.locale))
    return page.fmt.number(int(value))


def _plotted(unit: str, value: Any) -> float | int | None:
    if value is None:
        return None
    return int(value) if unit == COUNT else float(Decimal(value))


def _reason_label(page: PageContext, reason: str) -> str:
    label = labels.CANCELLATION_REASONS.get(reason)
    return page.gettext(label if label else UNKNOWN_REASON)


def chart_view(
    page: PageContext, query: Query, name: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the page shows of one chart, from its `figures`: its table's rows, formatted, and
    the data its script draws (with the same texts, for the tooltips)."""
    _ = page.gettext
    chart = CHARTS[name]
    row_key = _ROW_KEY.get(name, "period")
    heads: list[tuple[str, str]] = []
    for row in rows:
        if row_key == "reason":
            label = _reason_label(page, row["reason"])
            heads.append((label, label))
        else:
            heads.append(_period_texts(page, row["period"], query.interval))
    table = [
        {
            "key": row[row_key],
            "head": full,
            "cells": [_cell(page, c.unit, row[c.key], query.currency) for c in chart.columns],
        }
        for row, (full, _short) in zip(rows, heads, strict=True)
    ]
    drawn = [c for c in chart.columns if c.drawn]
    spec = {
        "type": chart.kind,
        "stacked": chart.stacked,
        "horizontal": row_key == "reason",
        "unit": drawn[0].unit,
        "locale": str(page.fmt.locale).replace("_", "-"),
        "currency": query.currency,
        "labels": [short for _full, short in heads],
        "titles": [full for full, _short in heads],
        "datasets": [
            {
                "key": column.key,
                "label": _(column.label),
                "own_scale": column.own_scale,
                "data": [_plotted(column.unit, row[column.key]) for row in rows],
                "texts": [
                    _cell(page, column.unit, row[column.key], query.currency) for row in rows
                ],
            }
            for column in drawn
        ],
    }
    first, last = _month_name(page, query.start), _month_name(page, query.end)
    return {
        "name": name,
        "title": _(chart.title),
        "caption": _("%(chart)s, %(first)s to %(last)s, in %(currency)s")
        % {"chart": _(chart.title), "first": first, "last": last, "currency": query.currency},
        "head": _("Cancellation reason") if row_key == "reason" else _("Period"),
        "columns": [_(c.label) for c in chart.columns],
        "rows": table,
        "spec": spec,
        "csv_url": f"/analytics/{name}.csv?{query.params()}",
    }


# --- routes --------------------------------------------------------------------------------


def _chart_views(page: PageContext, query: Query) -> list[dict[str, Any]]:
    read: dict[str, list[dict[str, Any]]] = {}
    views = []
    for name in CHARTS:
        series = _SERIES.get(name, name)
        if series not in read:
            read[series] = figures(page, query, series)
        views.append(chart_view(page, query, name, read[series]))
    return views


@router.get("/analytics")
def analytics_page(request: Request, page: PageContext = Depends(reads(SECTION))) -> Response:
    """The form and the charts of what it asks for (or its errors, with a 422)."""
    _ = page.gettext
    offered = currencies(page)
    query, fields, errors = read_query(page, request.query_params, offered)
    context = {
        "fields": fields,
        "errors": errors,
        "intervals": [(key, _(label)) for key, label in INTERVALS.items()],
        "currencies": [
            (code, f"{code} · {get_currency_name(code, locale=page.fmt.locale)}")
            for code in offered
        ],
        "charts": _chart_views(page, query) if query else [],
        "earliest": EARLIEST_MONTH.strftime("%Y-%m"),
        "latest": LATEST_MONTH.strftime("%Y-%m"),
    }
    return render(request, "analytics/analytics.html", context, status_code=422 if errors else 200)


@router.get("/analytics/{chart}.csv")
def download_csv(
    chart: str, request: Request, page: PageContext = Depends(reads(SECTION))
) -> Response:
    """One chart's figures as the page's query asks for them: a header of the service's field
    names, then a row per period (or reason), money and rates as plain decimals."""
    if chart not in CHARTS:
        raise NotFound(N_("No such chart."))
    query, _fields, errors = read_query(page, request.query_params, currencies(page))
    if query is None:
        # Shown as the error page, in the user's language already.
        said = " ".join(errors.values())
        raise InvalidRequest(said)
    rows = figures(page, query, chart)
    header = [_ROW_KEY.get(chart, "period"), *(c.key for c in CHARTS[chart].columns)]

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for values in [header, *([row[key] for key in header] for row in rows)]:
            writer.writerow(["" if value is None else value for value in values])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    last = periods.add_months(query.end, 1) - timedelta(days=1)
    name = f"{chart}-{query.currency}-{query.start.isoformat()}-{last.isoformat()}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
