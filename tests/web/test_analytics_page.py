"""Reports → Analytics, over HTTP and in Chromium, on the MRR story of tests/scenarios/
test_mrr_story.py (a Copenhagen account, January to April 2026; figures worked by hand there):
each chart's table shows the story's figures, formatted for the user's language; each chart's
CSV has them as plain numbers; who may open the page; query values the page cannot use; an
account with nothing to report; and the MRR history on a subscription's record panel."""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from tests.conftest import Api
from tests.scenarios.story import Story
from tests.web.conftest import add_user, screenshot, sign_in
from tests.web.http import SignedIn, reads_in, signed_in

RANGE = "start=2026-01&end=2026-04"
ROW = re.compile(r'<tr data-key="([^"]+)">\s*<th scope="row">([^<]*)</th>(.*?)</tr>', re.S)
CELL = re.compile(r'<td class="num">([^<]*)</td>')
# The story's account lives through the module: each signed-in user gets an address of its own.
_users = itertools.count()


@pytest.fixture(scope="module")
def story(client: TestClient, session_factory: Any) -> dict[str, Any]:
    """The MRR story: four USD subscriptions and one in EUR in January, an upgrade in February,
    a cancellation and a pause in March, the resume in April; and a trial begun on 30 April,
    which has no MRR yet."""
    story = Story(
        client,
        session_factory,
        timezone="Europe/Copenhagen",
        start=datetime(2026, 1, 5, 8, tzinfo=UTC),
        currency="USD",
    )
    story.settings(renewal_reminder_days=None)
    monthly = story.subscribe(price="30.00", email="monthly@example.com")["id"]
    story.subscribe(price="7.00", frequency="weekly", email="weekly@example.com")
    trial = story.subscribe(price="50.00", email="trial@example.com", trial_days=14)["id"]
    story.subscribe(price="10.00", email="euro@example.com", currency="EUR")
    story.advance_to(date(2026, 1, 20))
    annual = story.subscribe(price="240.00", frequency="annually", email="annual@example.com")
    story.advance_to(date(2026, 2, 10))
    change = {
        "line_items": [{"name": "Beans", "unit_price": "45.00", "billing_frequency": "monthly"}],
        "proration": "none",
    }
    story.api.ok(story.api.post(f"/subscriptions/{monthly}/change", change))
    story.advance_to(date(2026, 3, 3))
    story.cancel(annual["id"], "immediately", reason="too_expensive")
    story.advance_to(date(2026, 3, 10))
    story.api.ok(story.api.post(f"/subscriptions/{trial}/pause", {}))
    story.advance_to(date(2026, 4, 1))
    story.api.ok(story.api.post(f"/subscriptions/{trial}/resume"))
    story.advance_to(date(2026, 4, 30))
    waiting = story.subscribe(price="99.00", email="waiting@example.com", trial_days=14)["id"]
    return {"api": story.api, "monthly": monthly, "trial": trial, "waiting": waiting}


def admin(app: FastAPI, session_factory: Any, api: Api, language: str | None = None) -> SignedIn:
    """A super admin of the account, signed in, reading the pages in `language`."""
    email = f"admin-{next(_users)}-{api.account_id}@example.com"
    me = signed_in(app, session_factory, api, email=email)
    if language:
        reads_in(session_factory, me.user_id, language)
    return me


def table(page: str, chart: str) -> dict[str, tuple[str, ...]]:
    """A chart's table: its row keys (periods, reasons) → the row's heading and cells."""
    found = re.search(rf'data-testid="table-{chart}">(.*?)</table>', page, re.S)
    assert found is not None, chart
    return {
        key: (html.unescape(head), *(html.unescape(c) for c in CELL.findall(cells)))
        for key, head, cells in ROW.findall(found.group(1))
    }


def csv_rows(me: SignedIn, chart: str, query: str) -> list[list[str]]:
    response = me.client.get(f"/analytics/{chart}.csv?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def test_each_chart_shows_its_figures_in_a_table(
    app: FastAPI, session_factory: Any, story: dict[str, Any]
) -> None:
    me = admin(app, session_factory, story["api"])
    response = me.client.get(f"/analytics?{RANGE}")
    assert response.status_code == 200, response.text
    page = response.text
    assert table(page, "mrr") == {
        "2026-01": ("January 2026", "$130.33", "$1,564.00"),
        "2026-02": ("February 2026", "$145.33", "$1,744.00"),
        "2026-03": ("March 2026", "$75.33", "$904.00"),
        "2026-04": ("April 2026", "$125.33", "$1,504.00"),
    }
    # New, expansion, reactivated, contraction, churned; net new.
    movements = table(page, "movements")
    assert movements["2026-01"] == (
        "January 2026", "$130.33", "$0.00", "$0.00", "$0.00", "$0.00", "$130.33"
    )  # fmt: skip
    assert movements["2026-03"][4:] == ("$0.00", "-$70.00", "-$70.00")
    assert movements["2026-04"][3] == "$50.00"
    assert table(page, "subscriptions") == {
        "2026-01": ("January 2026", "4", "4", "0"),
        "2026-02": ("February 2026", "4", "0", "0"),
        "2026-03": ("March 2026", "2", "0", "2"),
        "2026-04": ("April 2026", "3", "0", "0"),
    }
    # Logo churn, revenue churn, NRR, failed, recovered, recovery rate; blank where nothing had
    # MRR when January began, and where no payment failed.
    assert table(page, "churn") == {
        "2026-01": ("January 2026", "—", "—", "—", "0", "0", "—"),
        "2026-02": ("February 2026", "0.00%", "0.00%", "111.51%", "0", "0", "—"),
        "2026-03": ("March 2026", "50.00%", "48.17%", "51.83%", "0", "0", "—"),
        "2026-04": ("April 2026", "0.00%", "0.00%", "100.00%", "0", "0", "—"),
    }
    assert table(page, "reasons") == {"too_expensive": ("Too expensive", "1", "$20.00")}
    assert "<caption" in page and '<th scope="col">Period</th>' in page
    # The charts' data beside their canvases, and the definitions under the (i).
    assert page.count("<canvas data-chart=") == 5
    assert '<script type="application/json" id="chart-mrr-data">' in page
    assert "Logo churn" in page and "rounded half to even" in page

    # The other currency on its own, never converted.
    euro = me.client.get(f"/analytics?{RANGE}&currency=EUR").text
    assert table(euro, "mrr")["2026-01"] == ("January 2026", "€10.00", "€120.00")
    assert '<option value="EUR" selected>' in euro

    # By day: the trial's conversion on 19 January, in Copenhagen.
    days = table(me.client.get("/analytics?start=2026-01&end=2026-01&interval=day").text, "mrr")
    assert len(days) == 31
    assert days["2026-01-19"] == ("Jan 19, 2026", "$110.33", "$1,324.00")


def test_the_last_twelve_months_by_default(
    app: FastAPI, session_factory: Any, story: dict[str, Any]
) -> None:
    me = admin(app, session_factory, story["api"])
    page = me.client.get("/analytics").text
    assert 'name="start" type="month" value="2025-05" min="1970-01" max="2999-12">' in page
    assert 'name="end" type="month" value="2026-04" min="1970-01" max="2999-12">' in page
    rows = table(page, "mrr")
    assert list(rows) == [f"2025-{month:02}" for month in range(5, 13)] + [
        f"2026-{month:02}" for month in range(1, 5)
    ]
    assert rows["2025-12"][1:] == ("$0.00", "$0.00")
    assert rows["2026-01"][1] == "$130.33"
    assert 'href="/analytics/mrr.csv?start=2025-05&amp;end=2026-04&amp;interval=month' in page


def test_the_page_in_dutch(app: FastAPI, session_factory: Any, story: dict[str, Any]) -> None:
    me = admin(app, session_factory, story["api"], "nl")
    page = me.client.get(f"/analytics?{RANGE}").text
    assert table(page, "mrr")["2026-01"] == ("januari 2026", "US$\xa0130,33", "US$\xa01.564,00")
    assert table(page, "churn")["2026-03"][1:4] == ("50,00%", "48,17%", "51,83%")
    assert table(page, "reasons") == {"too_expensive": ("Te duur", "1", "US$\xa020,00")}
    text = html.unescape(page)
    assert "Analyses" in text and "Uitbreiding" in text and "CSV downloaden" in text

    danish = admin(app, session_factory, story["api"], "da")
    page = danish.client.get(f"/analytics?{RANGE}").text
    assert table(page, "mrr")["2026-02"] == ("februar 2026", "145,33\xa0US$", "1.744,00\xa0US$")


def test_each_chart_downloads_as_csv(
    app: FastAPI, session_factory: Any, story: dict[str, Any]
) -> None:
    me = admin(app, session_factory, story["api"], "nl")
    query = f"{RANGE}&interval=month&currency=USD"
    assert csv_rows(me, "mrr", query) == [
        ["period", "mrr", "arr"],
        ["2026-01", "130.33", "1564.00"],
        ["2026-02", "145.33", "1744.00"],
        ["2026-03", "75.33", "904.00"],
        ["2026-04", "125.33", "1504.00"],
    ]
    movements = csv_rows(me, "movements", query)
    assert movements[0] == [
        "period", "new", "expansion", "reactivated", "contraction", "churned", "net_new"
    ]  # fmt: skip
    assert movements[3] == ["2026-03", "0.00", "0.00", "0.00", "0.00", "-70.00", "-70.00"]
    assert csv_rows(me, "subscriptions", query)[1:] == [
        ["2026-01", "4", "4", "0"],
        ["2026-02", "4", "0", "0"],
        ["2026-03", "2", "0", "2"],
        ["2026-04", "3", "0", "0"],
    ]
    churn = csv_rows(me, "churn", query)
    assert churn[0] == [
        "period",
        "logo_churn_rate",
        "revenue_churn_rate",
        "net_revenue_retention",
        "failed",
        "recovered",
        "recovery_rate",
    ]
    assert churn[1] == ["2026-01", "", "", "", "0", "0", ""]
    assert churn[3][:4] == ["2026-03", "0.5000", "0.4817", "0.5183"]
    assert csv_rows(me, "reasons", query) == [
        ["reason", "count", "mrr"],
        ["too_expensive", "1", "20.00"],
    ]
    response = me.client.get(f"/analytics/mrr.csv?{query}")
    assert 'filename="mrr-USD-2026-01-01-2026-04-30.csv"' in response.headers["content-disposition"]
    days = csv_rows(me, "mrr", "start=2026-01&end=2026-01&interval=day&currency=USD")
    assert len(days) == 32 and days[19] == ["2026-01-19", "110.33", "1324.00"]


def test_only_users_with_the_analytics_permission_open_it(
    client: TestClient, app: FastAPI, session_factory: Any, story: dict[str, Any]
) -> None:
    api = story["api"]
    viewer = signed_in(
        app,
        session_factory,
        api,
        email=f"viewer-{api.account_id}@example.com",
        permissions=["subscriptions.view"],
    )
    for path in ("/analytics", f"/analytics/mrr.csv?{RANGE}"):
        refused = viewer.client.get(path)
        assert refused.status_code == 403
        assert "analytics.view" in html.unescape(refused.text)
    assert 'href="/analytics"' not in viewer.client.get("/subscriptions").text

    analyst = signed_in(
        app,
        session_factory,
        api,
        email=f"analyst-{api.account_id}@example.com",
        permissions=["analytics.view"],
    )
    shown = analyst.client.get(f"/analytics?{RANGE}")
    assert shown.status_code == 200
    assert table(shown.text, "mrr")["2026-01"][1] == "$130.33"
    assert 'href="/analytics" class="current" aria-current="page">Analytics</a>' in shown.text
    assert analyst.client.get("/subscriptions").status_code == 403


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-13&end=2026-04", "start", "“2026-13” is not a month: use YYYY-MM"),
        ("start=2026-01&end=April", "end", "“April” is not a month: use YYYY-MM"),
        ("start=0001-01&end=2026-01", "start", "from January 1970 to December 2999."),
        ("start=2026-01&end=9999-12", "end", "from January 1970 to December 2999."),
        ("start=2026-04&end=2026-01", "end", "The last month is before the first."),
        ("start=2016-01&end=2026-12", "end", "Choose at most 120 months."),
        ("start=2025-01&end=2026-04&interval=day", "end", "By day, choose at most 400 days"),
        ("start=2026-01&end=2026-04&interval=week", "interval", "Choose by month or by day."),
        ("start=2026-01&end=2026-04&currency=XYZ", "currency", "no subscriptions in “XYZ”"),
        ("start=2026-01&end=2026-04&currency=GBP", "currency", "no subscriptions in “GBP”"),
    ],
)
def test_a_query_it_cannot_use_is_shown_next_to_its_field(
    app: FastAPI,
    session_factory: Any,
    story: dict[str, Any],
    query: str,
    field: str,
    message: str,
) -> None:
    me = admin(app, session_factory, story["api"])
    response = me.client.get(f"/analytics?{query}")
    assert response.status_code == 422
    error = re.search(rf'data-testid="error-{field}">([^<]*)<', response.text)
    assert error is not None and message in html.unescape(error.group(1))
    assert "<canvas" not in response.text
    refused = me.client.get(f"/analytics/mrr.csv?{query}")
    assert refused.status_code == 422 and message in html.unescape(refused.text)


def test_an_unknown_chart_is_not_found(
    app: FastAPI, session_factory: Any, story: dict[str, Any]
) -> None:
    me = admin(app, session_factory, story["api"])
    assert me.client.get(f"/analytics/forecast.csv?{RANGE}").status_code == 404


def test_an_account_with_nothing_to_report_shows_zeros(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    response = me.client.get(f"/analytics?{RANGE}")
    assert response.status_code == 200
    assert table(response.text, "mrr")["2026-02"] == ("February 2026", "$0.00", "$0.00")
    assert table(response.text, "subscriptions")["2026-04"] == ("April 2026", "0", "0", "0")
    assert table(response.text, "reasons") == {}
    assert "No cancellations in these months." in response.text
    assert csv_rows(me, "reasons", RANGE) == [["reason", "count", "mrr"]]


def mrr_history(me: SignedIn, subscription_id: str) -> tuple[str, list[tuple[str, str]]]:
    """The MRR history block of a record panel, and its movements: (kind, text), as listed."""
    panel = html.unescape(me.client.get(f"/subscriptions/{subscription_id}").text)
    found = re.search(r'data-testid="mrr-history".*?</section>', panel, re.S)
    assert found is not None
    entries = [
        (kind, " ".join(re.sub(r"<[^>]+>", " ", text).split()))
        for kind, text in re.findall(
            r'data-testid="mrr-movement" data-kind="(\w+)">(.*?)</li>', found.group(0), re.S
        )
    ]
    return found.group(0), entries


def test_the_record_panel_shows_the_mrr_history(
    app: FastAPI, session_factory: Any, story: dict[str, Any]
) -> None:
    me = admin(app, session_factory, story["api"])
    block, entries = mrr_history(me, story["trial"])
    assert 'data-testid="mrr-sparkline"' in block and "<polyline points=" in block
    assert "MRR after each movement, now $50.00" in block
    # Newest first: converted from its trial, paused, resumed.
    assert entries == [
        ("reactivated", "Apr 1, 2026 · Reactivated +$50.00 MRR after: $50.00"),
        ("churned", "Mar 10, 2026 · Churned -$50.00 MRR after: $0.00"),
        ("new", "Jan 19, 2026 · New +$50.00 MRR after: $50.00"),
    ]
    assert mrr_history(me, story["monthly"])[1] == [
        ("expansion", "Feb 10, 2026 · Expansion +$15.00 MRR after: $45.00"),
        ("new", "Jan 5, 2026 · New +$30.00 MRR after: $30.00"),
    ]
    block, entries = mrr_history(me, story["waiting"])
    assert entries == [] and "No MRR so far" in block and "mrr-sparkline" not in block

    dutch = admin(app, session_factory, story["api"], "nl")
    block, entries = mrr_history(dutch, story["trial"])
    assert "MRR-geschiedenis" in block
    assert entries[0] == (
        "reactivated",
        "1 apr 2026 · Opnieuw geactiveerd US$ +50,00 MRR daarna: US$ 50,00",
    )


def test_the_charts_draw_in_the_browser(
    page: Page,
    context: BrowserContext,
    base_url: str,
    session_factory: Any,
    story: dict[str, Any],
) -> None:
    api = story["api"]
    user_id = add_user(api, session_factory, f"browser-{api.account_id}@example.com")
    sign_in(context, session_factory, user_id, base_url)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico by itself; the app has none.
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    drawn = """() => {
        const canvases = [...document.querySelectorAll("canvas[data-chart]")];
        return canvases.length === 5 && canvases.every(
            (canvas) => window.Chart && Chart.getChart(canvas) && canvas.width > 0
        );
    }"""

    page.goto(f"{base_url}/subscriptions")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    page.wait_for_function(drawn)
    expect(page.get_by_test_id("table-mrr").locator("caption")).to_contain_text(
        "MRR and ARR, May 2025 to April 2026, in USD"
    )
    page.get_by_text("How these figures are calculated").click()
    expect(page.get_by_test_id("definitions")).to_contain_text("Net revenue retention")
    points = page.evaluate(
        """() => Chart.getChart(document.querySelector("canvas[data-chart=mrr]"))
            .data.datasets[0].data"""
    )
    assert points[-4:] == [130.33, 145.33, 75.33, 125.33]
    screenshot(page, "analytics")

    # The interval submits the form by itself: the same months, by day.
    page.get_by_label("Interval").select_option(label="By day")
    page.wait_for_url(re.compile(r"interval=day"))
    page.wait_for_function(drawn)
    expect(page.get_by_test_id("table-mrr").locator("tbody tr")).to_have_count(365)
    labels = page.evaluate(
        """() => Chart.getChart(document.querySelector("canvas[data-chart=movements]"))
            .data.labels.length"""
    )
    assert labels == 365

    # The record panel's sparkline is drawn by the server: no script needed.
    page.goto(f"{base_url}/subscriptions/{story['trial']}")
    history = page.get_by_test_id("mrr-history")
    expect(history.get_by_test_id("mrr-sparkline")).to_be_visible()
    expect(history.get_by_test_id("mrr-movement")).to_have_count(3)
    screenshot(page, "subscription-mrr-history")
    assert problems == []
