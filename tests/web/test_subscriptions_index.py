"""The subscriptions index: default tabs, quick filters, advanced filters (built-in and custom
properties), the search box, sorting, choosing and ordering columns, saved views (private,
shared, never across accounts) and keyset pagination."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select, update

from cadency.subscriptions.models import Subscription
from cadency.views.models import SavedView
from tests.conftest import Api, make_api, pin_clock
from tests.web.conftest import Staff, add_user, screenshot, sign_in

CARD = "4242424242424242"
CHARGES_FAIL = "4000000000000341"
# The account's clock: Tuesday 10 March 2026, 08:00 UTC (the account's zone is UTC).
NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)
TODAY = NOW.date()


# --- builders, through the API -----------------------------------------------------------------


def set_clock(session_factory: Any, api: Api, moment: datetime = NOW) -> None:
    pin_clock(session_factory, api.account_id, moment)


def customer(
    api: Api, email: str, first: str = "Ann", last: str = "Smith", number: str = CARD
) -> tuple[str, str]:
    """A contact with a saved card: (contact_id, payment_method_id)."""
    contact = api.ok(
        api.post("/contacts", {"email": email, "first_name": first, "last_name": last})
    )
    card = {"number": number, "exp_month": 12, "exp_year": 2045, "cvc": "123"}
    method = api.ok(
        api.post(f"/contacts/{contact['id']}/payment-methods", {"type": "card", "card": card})
    )
    return contact["id"], method["id"]


def subscribe(
    api: Api,
    who: tuple[str, str],
    name: str,
    price: str = "25.00",
    frequency: str = "monthly",
    start: date | None = None,
    **extra: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "unit_price": price, "billing_frequency": frequency}
    if start is not None:
        item["billing_start_date"] = start.isoformat()
    body = {
        "contact_id": who[0],
        "name": name,
        "currency": "USD",
        "line_items": [item],
        "collection_method": "charge_automatically",
        "payment_method_id": who[1],
        **extra,
    }
    created: dict[str, Any] = api.ok(api.post("/subscriptions", body))
    return created


def status_of(api: Api, sub: dict[str, Any]) -> str:
    return str(api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"])


def tier_property(api: Api) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [
                    {"value": "basic", "label": "Basic"},
                    {"value": "pro", "label": "Pro"},
                ],
            },
        )
    )


# --- reading the page ------------------------------------------------------------------------


def shown_ids(page: Page) -> list[str]:
    """Subscription IDs of the table's rows, top to bottom."""
    rows = page.locator("tbody tr[data-testid^='row-']")
    ids: list[str] = rows.evaluate_all("rows => rows.map(r => r.dataset.testid.slice(4))")
    return ids


def expect_rows(page: Page, *subs: dict[str, Any]) -> None:
    """Exactly these subscriptions are listed (in any order)."""
    expect(page.locator("tbody tr[data-testid^='row-']")).to_have_count(len(subs))
    assert sorted(shown_ids(page)) == sorted(s["id"] for s in subs)


def headers(page: Page) -> list[str]:
    texts: list[str] = page.locator("thead th").evaluate_all(
        "cells => cells.map(c => c.dataset.column)"
    )
    return texts


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def views_of(session_factory: Any, account_id: int) -> list[SavedView]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(SavedView)
                .where(SavedView.account_id == account_id)
                .order_by(SavedView.created_at)
            )
        )


# --- tabs ------------------------------------------------------------------------------------


def test_default_tabs_show_all_unpaid_and_scheduled(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    active = subscribe(api, customer(api, "ann@example.com"), "Gold coffee", "25.00")
    unpaid = subscribe(
        api,
        customer(api, "bob@example.com", "Bob", "Declined", number=CHARGES_FAIL),
        "Silver coffee",
        "12.50",
    )
    scheduled = subscribe(
        api,
        customer(api, "cy@example.com", "Cy", "Later"),
        "Bronze tea",
        "9.00",
        frequency="annually",
        start=TODAY + timedelta(days=10),
    )
    assert [status_of(api, s) for s in (active, unpaid, scheduled)] == [
        "active",
        "unpaid",
        "scheduled",
    ]

    page = staff.goto("/subscriptions")
    expect(page.get_by_test_id("tab-all")).to_have_attribute("aria-current", "page")
    expect_rows(page, active, unpaid, scheduled)
    row = page.get_by_test_id(f"row-{active['id']}")
    expect(row.get_by_role("link", name="Gold coffee")).to_have_attribute(
        "href", f"/subscriptions/{active['id']}"
    )
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    expect(row).to_contain_text("Ann Smith")
    expect(row).to_contain_text("ann@example.com")
    expect(row).to_contain_text("$25.00")
    expect(row).to_contain_text("Monthly")
    expect(row).to_contain_text("Apr 10, 2026")  # next billing date
    expect(row).to_contain_text("Mar 10, 2026")  # created (the account's clock)
    expect(page.get_by_test_id(f"row-{unpaid['id']}").get_by_test_id("status-badge")).to_have_text(
        "Past due"
    )
    scheduled_row = page.get_by_test_id(f"row-{scheduled['id']}")
    expect(scheduled_row.get_by_test_id("status-badge")).to_have_text("Scheduled")
    expect(scheduled_row).to_contain_text("Mar 20, 2026")
    expect(scheduled_row).to_contain_text("Annually")
    expect(page.get_by_test_id("page-range")).to_have_text("1\u20133 of 3")
    expect(page.get_by_role("link", name="Create subscription")).to_have_attribute(
        "href", "/subscriptions/new"
    )
    screenshot(page, "subscriptions-index")

    page.get_by_test_id("tab-unpaid").click()
    expect(page).to_have_url(re.compile(r"view=unpaid"))
    expect_rows(page, unpaid)
    page.get_by_test_id("tab-scheduled").click()
    expect_rows(page, scheduled)
    page.go_back()
    expect(page).to_have_url(re.compile(r"view=unpaid"))
    expect_rows(page, unpaid)


def test_a_user_without_the_view_permission_is_refused(
    api: Api, session_factory: Any, page: Page, context: BrowserContext, base_url: str
) -> None:
    user_id = add_user(
        api, session_factory, f"clerk-{api.account_id}@example.com", ["billing.edit"]
    )
    sign_in(context, session_factory, user_id, base_url)
    response = page.goto(base_url + "/subscriptions")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


# --- quick filters ---------------------------------------------------------------------------


def test_status_quick_filter(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    active = subscribe(api, customer(api, "ann@example.com"), "Gold coffee")
    unpaid = subscribe(api, customer(api, "bob@example.com", number=CHARGES_FAIL), "Silver coffee")
    subscribe(api, customer(api, "cy@example.com"), "Bronze tea", start=TODAY + timedelta(days=3))

    page = staff.goto("/subscriptions")
    status_filter = page.get_by_test_id("status-filter")
    status_filter.locator("summary").click()
    status_filter.get_by_label("Active").check()
    status_filter.get_by_label("Past due").check()
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page).to_have_url(re.compile(r"status=active&status=unpaid"))
    expect_rows(page, active, unpaid)
    expect(status_filter.locator("summary")).to_have_text("Status (2)")

    status_filter.locator("summary").click()
    status_filter.get_by_label("Active").uncheck()
    page.get_by_role("button", name="Apply", exact=True).click()
    expect_rows(page, unpaid)
    assert query_of(page)["status"] == ["unpaid"]


def test_next_billing_date_options(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    who = customer(api, "ann@example.com")
    by_offset = {days: subscribe(api, who, f"Plan in {days} days") for days in (1, 5, 20, 45)}
    for days, sub in by_offset.items():
        api.ok(
            api.patch(
                f"/subscriptions/{sub['id']}",
                {"next_payment_date": (TODAY + timedelta(days=days)).isoformat()},
            )
        )
    due_today = subscribe(api, who, "Plan due today")
    # A renewal due today is billed as the day begins, so no API call leaves a subscription
    # waiting for today's payment; the row is put in that state directly.
    with session_factory() as session:
        session.execute(
            update(Subscription)
            .where(Subscription.id == due_today["id"])
            .values(next_payment_date=TODAY)
        )
        session.commit()
    subs = {0: due_today, **by_offset}

    page = staff.goto("/subscriptions")
    select_option = page.get_by_role("combobox", name="Next billing date")
    expected = {
        "today": [0],
        "next_7_days": [0, 1, 5],
        "next_30_days": [0, 1, 5, 20],
        # March 2026: the 10th (today) to the 31st.
        "this_month": [0, 1, 5, 20],
    }
    ranges = {
        "today": "Mar 10, 2026 \u2013 Mar 10, 2026",
        "next_7_days": "Mar 10, 2026 \u2013 Mar 16, 2026",
        "next_30_days": "Mar 10, 2026 \u2013 Apr 8, 2026",
        "this_month": "Mar 1, 2026 \u2013 Mar 31, 2026",
    }
    for option, offsets in expected.items():
        select_option.select_option(option)
        page.get_by_role("button", name="Apply", exact=True).click()
        expect(page).to_have_url(re.compile(f"next_billing={option}"))
        expect_rows(page, *(subs[d] for d in offsets))
        expect(page.get_by_test_id("billing-range")).to_have_text(ranges[option])

    select_option.select_option("custom")
    page.get_by_role("textbox", name="From", exact=True).fill(
        (TODAY + timedelta(days=4)).isoformat()
    )
    page.get_by_role("textbox", name="To", exact=True).fill(
        (TODAY + timedelta(days=45)).isoformat()
    )
    page.get_by_role("button", name="Apply", exact=True).click()
    expect_rows(page, subs[5], subs[20], subs[45])
    assert query_of(page)["next_billing_from"] == ["2026-03-14"]

    # Only a start: everything from then on.
    page.get_by_role("textbox", name="To", exact=True).fill("")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect_rows(page, subs[5], subs[20], subs[45])

    # A range that ends before it starts is explained, not a server error.
    page.get_by_role("textbox", name="To", exact=True).fill((TODAY + timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_test_id("filter-error")).to_contain_text(
        "The end of the date range is before its start."
    )


# --- advanced filters and search ---------------------------------------------------------------


def choose_filter(page: Page, row: int, prop: str, operator: str, value: str = "") -> None:
    filter_row = page.locator("[data-filter-row]").nth(row)
    filter_row.get_by_label("Property").select_option(label=prop)
    filter_row.get_by_label("Operator").select_option(label=operator)
    if value:
        filter_row.get_by_label("Value", exact=True).fill(value)


def test_advanced_filters_on_built_in_and_custom_properties(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    tier_property(api)
    who = customer(api, "ann@example.com")
    gold_pro = subscribe(api, who, "Gold coffee", properties={"tier": "pro"})
    silver_basic = subscribe(api, who, "Silver tea", properties={"tier": "basic"})
    gold_none = subscribe(api, who, "Gold tea", "40.00")
    assert api.ok(api.get(f"/subscriptions/{gold_pro['id']}"))["properties"] == {"tier": "pro"}

    page = staff.goto("/subscriptions")
    page.get_by_text("Advanced filters").click()
    choose_filter(page, 0, "Tier", "is equal to", "pro")
    page.get_by_role("button", name="Apply filters").click()
    expect_rows(page, gold_pro)
    params = query_of(page)
    assert params["filter_groups.0.filters.0.property"] == ["properties.tier"]
    assert params["filter_groups.0.filters.0.value"] == ["pro"]

    # A built-in property, and a second group: (name has "gold" AND tier is pro) OR tier is basic.
    choose_filter(page, 0, "Name", "contains the word", "gold")
    page.get_by_role("button", name="Apply filters").click()
    expect_rows(page, gold_pro, gold_none)
    page.get_by_role("button", name="Add filter (and)").click()
    choose_filter(page, 1, "Tier", "is any of", "pro")
    page.get_by_role("button", name="Add group (or)").click()
    choose_filter(page, 2, "Tier", "is equal to", "basic")
    page.get_by_role("button", name="Apply filters").click()
    expect_rows(page, gold_pro, silver_basic)
    screenshot(page, "subscriptions-index-advanced-filters")
    params = query_of(page)
    assert params["filter_groups.0.filters.1.operator"] == ["in"]
    assert params["filter_groups.0.filters.1.value"] == ["pro"]
    assert params["filter_groups.1.filters.0.value"] == ["basic"]

    # A money comparison in major units.
    page.goto(
        staff.base_url
        + "/subscriptions?advanced=1&filter_groups.0.filters.0.property=recurring_amount"
    )
    expect(page.get_by_test_id("filter-error")).to_contain_text("Unknown property")
    page.goto(
        staff.base_url + "/subscriptions?advanced=1"
        "&filter_groups.0.filters.0.property=next_payment_amount"
        "&filter_groups.0.filters.0.operator=gt&filter_groups.0.filters.0.value=30"
    )
    expect_rows(page, gold_none)

    # Bad input is explained on the page (422), with the filters left to fix.
    response = page.goto(
        staff.base_url + "/subscriptions?advanced=1"
        "&filter_groups.0.filters.0.property=next_payment_date"
        "&filter_groups.0.filters.0.operator=lt&filter_groups.0.filters.0.value=soon"
    )
    assert response is not None and response.status == 422
    expect(page.get_by_test_id("filter-error")).to_contain_text(
        "Invalid value for 'next_payment_date': expected a date in the form YYYY-MM-DD"
    )
    expect(page.locator("[data-filter-row]").first.get_by_label("Value", exact=True)).to_have_value(
        "soon"
    )
    expect(page.get_by_test_id("subscriptions-table").locator("tbody tr")).to_have_count(0)


def test_search_box_finds_by_name_and_contact(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    coffee = subscribe(api, customer(api, "emma@example.com", "Emma", "Jansen"), "Coffee club")
    tea = subscribe(api, customer(api, "lars@example.org", "Lars", "Holm"), "Tea club")

    page = staff.goto("/subscriptions")
    search = page.get_by_label("Search")
    for text, expected in (
        ("lars", [tea]),
        ("EMMA@example", [coffee]),
        ("coff", [coffee]),
        ("Emma Jansen", [coffee]),
        ("club", [coffee, tea]),
        (tea["id"], [tea]),
    ):
        search.fill(text)
        search.press("Enter")
        expect(page).to_have_url(re.compile(r"q="))
        expect_rows(page, *expected)
    search.fill("nobody")
    search.press("Enter")
    expect(page.get_by_test_id("no-results")).to_have_text("No subscriptions match these filters.")


# --- sorting and columns ---------------------------------------------------------------------


def test_sorting_by_clicking_column_headers(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    who = customer(api, "ann@example.com")
    alpha = subscribe(api, who, "alpha", "30.00")
    charlie = subscribe(api, who, "Charlie", "10.00")
    bravo = subscribe(api, who, "Bravo", "20.00")

    page = staff.goto("/subscriptions")
    # Newest first by default.
    assert shown_ids(page) == [bravo["id"], charlie["id"], alpha["id"]]
    expect(page.locator("th[data-column=created_at]")).to_have_attribute("aria-sort", "descending")

    page.locator("th[data-column=name] a").click()
    expect(page.locator("th[data-column=name]")).to_have_attribute("aria-sort", "ascending")
    assert shown_ids(page) == [alpha["id"], bravo["id"], charlie["id"]]  # case ignored
    page.locator("th[data-column=name] a").click()
    expect(page.locator("th[data-column=name]")).to_have_attribute("aria-sort", "descending")
    assert shown_ids(page) == [charlie["id"], bravo["id"], alpha["id"]]

    page.locator("th[data-column=amount] a").click()
    expect(page.locator("th[data-column=amount]")).to_have_attribute("aria-sort", "ascending")
    assert shown_ids(page) == [charlie["id"], bravo["id"], alpha["id"]]
    assert query_of(page)["sort"] == ["recurring_amount"]
    page.go_back()
    expect(page.locator("th[data-column=name]")).to_have_attribute("aria-sort", "descending")


def test_choose_and_order_columns_then_save_them_in_a_view(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    tier_property(api)
    sub = subscribe(
        api, customer(api, "ann@example.com"), "Gold coffee", properties={"tier": "pro"}
    )

    page = staff.goto("/subscriptions")
    assert headers(page) == [
        "name",
        "status",
        "contact",
        "next_payment_date",
        "amount",
        "billing_frequency",
        "created_at",
    ]
    page.get_by_role("button", name="Edit columns").click()
    dialog = page.locator("#columns-dialog")
    dialog.get_by_role("checkbox", name="Billing frequency").uncheck()
    dialog.get_by_role("checkbox", name="Tier").check()
    dialog.get_by_role("checkbox", name="Record ID").check()
    move_up = dialog.get_by_role("button", name="Move Tier up")
    for _ in range(40):  # to the top; the record's name always stays first
        move_up.click()
    dialog.get_by_role("button", name="Move Status down").click()
    dialog.get_by_role("button", name="Apply columns").click()

    expected = [
        "name",
        "properties.tier",
        "contact",
        "status",
        "next_payment_date",
        "amount",
        "created_at",
        "id",
    ]
    expect(page.locator("thead th").first).to_have_attribute("data-column", "name")
    assert headers(page) == expected
    row = page.get_by_test_id(f"row-{sub['id']}")
    expect(row.locator("td").nth(1)).to_have_text("Pro")
    expect(row.locator("td").nth(7)).to_have_text(sub["id"])

    # A custom property sorts too.
    page.locator("th[data-column='properties.tier'] a").click()
    expect(page.locator("th[data-column='properties.tier']")).to_have_attribute(
        "aria-sort", "ascending"
    )

    page.get_by_role("button", name="Save view").click()
    page.get_by_label("View name").fill("By tier")
    page.get_by_test_id("save-view-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("Saved the view “By tier”.")
    (view,) = views_of(session_factory, api.account_id)
    assert view.columns == expected
    assert (view.sort_property, view.sort_direction) == ("properties.tier", "asc")
    assert headers(page) == expected


# --- saved views -----------------------------------------------------------------------------


def test_saved_views_private_then_shared_never_across_accounts(
    staff: Staff, session_factory: Any, browser: Any, client: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    active = subscribe(api, customer(api, "ann@example.com"), "Gold coffee")
    unpaid = subscribe(api, customer(api, "bob@example.com", number=CHARGES_FAIL), "Silver tea")

    page = staff.goto("/subscriptions")
    status_filter = page.get_by_test_id("status-filter")
    status_filter.locator("summary").click()
    status_filter.get_by_label("Active").check()
    page.get_by_label("Search").fill("coffee")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.locator("th[data-column=name] a").click()
    expect_rows(page, active)
    expect(page.get_by_test_id("unsaved")).to_be_visible()

    # A blank name is explained in the dialog; nothing is saved.
    page.get_by_role("button", name="Save view").click()
    page.get_by_label("View name").fill("   ")
    page.get_by_test_id("save-view-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error-name")).to_have_text("Give the view a name.")
    assert views_of(session_factory, api.account_id) == []

    page.get_by_label("View name").fill("Active coffee")
    page.get_by_test_id("save-view-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("Saved the view “Active coffee”.")
    (view,) = views_of(session_factory, api.account_id)
    assert view.shared is False
    assert view.filter_groups == [
        {"filters": [{"property": "status", "operator": "in", "values": ["active"]}]}
    ]
    assert view.query == "coffee"
    assert (view.sort_property, view.sort_direction) == ("name", "asc")
    assert view.columns[0] == "name"
    expect(page.get_by_test_id(f"tab-{view.id}")).to_have_attribute("aria-current", "page")
    expect_rows(page, active)
    expect(page.get_by_test_id("unsaved")).to_have_count(0)

    # Another user of the same account sees neither the tab nor the view by its link.
    colleague_id = add_user(
        api, session_factory, f"colleague-{api.account_id}@example.com", ["subscriptions.view"]
    )
    other = browser.new_context(locale="en-US")
    sign_in(other, session_factory, colleague_id, staff.base_url)
    colleague = other.new_page()
    colleague.goto(staff.base_url + "/subscriptions")
    expect(colleague.get_by_test_id("tab-all")).to_be_visible()
    expect(colleague.get_by_test_id(f"tab-{view.id}")).to_have_count(0)
    response = colleague.goto(staff.base_url + f"/subscriptions?view={view.id}")
    assert response is not None and response.status == 404

    # Shared, everyone in the account sees it, and it shows the same subscriptions.
    page.get_by_role("button", name="Share with everyone").click()
    expect(page.get_by_test_id("flash")).to_contain_text("is now shared with everyone")
    assert views_of(session_factory, api.account_id)[0].shared is True
    colleague.goto(staff.base_url + "/subscriptions")
    colleague.get_by_test_id(f"tab-{view.id}").click()
    expect_rows(colleague, active)
    # The colleague may use it but not change it: no buttons, and a forged post is refused.
    expect(colleague.get_by_role("button", name="Delete view")).to_have_count(0)
    token = colleague.locator("input[name=csrf_token]").first.input_value()
    forged = colleague.request.post(
        staff.base_url + f"/views/{view.id}/delete", form={"csrf_token": token}
    )
    assert forged.status == 403
    assert len(views_of(session_factory, api.account_id)) == 1

    # A user of another account never sees it, shared or not.
    stranger_api = make_api(client, session_factory, name="Another shop")
    stranger_id = add_user(stranger_api, session_factory, "stranger@example.com")
    third = browser.new_context(locale="en-US")
    sign_in(third, session_factory, stranger_id, staff.base_url)
    stranger = third.new_page()
    stranger.goto(staff.base_url + "/subscriptions")
    expect(stranger.get_by_test_id("tab-all")).to_be_visible()
    expect(stranger.get_by_test_id(f"tab-{view.id}")).to_have_count(0)
    expect(stranger.locator("tbody tr[data-testid^='row-']")).to_have_count(0)
    response = stranger.goto(staff.base_url + f"/subscriptions?view={view.id}")
    assert response is not None and response.status == 404
    other.close()
    third.close()

    # The owner renames, then deletes it.
    page.get_by_role("button", name="Rename view").click()
    page.get_by_test_id("rename-view-form").get_by_label("View name").fill("Coffee drinkers")
    page.get_by_test_id("rename-view-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("Renamed the view to “Coffee drinkers”.")
    expect(page.get_by_test_id(f"tab-{view.id}")).to_contain_text("Coffee drinkers")
    assert views_of(session_factory, api.account_id)[0].name == "Coffee drinkers"
    page.get_by_role("button", name="Delete view").click()
    page.locator("#delete-view-dialog").get_by_role("button", name="Delete view").click()
    expect(page.get_by_test_id("flash")).to_have_text("Deleted the view “Coffee drinkers”.")
    assert views_of(session_factory, api.account_id) == []
    expect(page.get_by_test_id(f"tab-{view.id}")).to_have_count(0)
    expect_rows(page, active, unpaid)


def test_save_changes_into_a_view_and_a_tab_built_on_unpaid(
    staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    set_clock(session_factory, api)
    tier_property(api)
    who = customer(api, "bob@example.com", number=CHARGES_FAIL)
    pro = subscribe(api, who, "Pro plan", properties={"tier": "pro"})
    basic = subscribe(api, who, "Basic plan", properties={"tier": "basic"})
    subscribe(api, customer(api, "ann@example.com"), "Paid plan", properties={"tier": "pro"})

    # Start from the Unpaid tab, add a filter, and save it as a shared view.
    page = staff.goto("/subscriptions?view=unpaid")
    expect_rows(page, pro, basic)
    page.get_by_text("Advanced filters").click()
    page.get_by_role("button", name="Add filter (and)").click()
    choose_filter(page, 1, "Tier", "is equal to", "pro")
    page.get_by_role("button", name="Apply filters").click()
    expect_rows(page, pro)
    page.get_by_role("button", name="Save view").click()
    page.get_by_label("View name").fill("Unpaid pro")
    page.get_by_label("Everyone in the account").check()
    page.get_by_test_id("save-view-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("flash")).to_have_text("Saved the view “Unpaid pro”.")
    (view,) = views_of(session_factory, api.account_id)
    assert view.shared is True
    assert view.filter_groups == [
        {
            "filters": [
                {"property": "status", "operator": "eq", "value": "unpaid"},
                {"property": "properties.tier", "operator": "eq", "value": "pro"},
            ]
        }
    ]

    # Change the tier in the view's filter and save the change into the view.
    page.get_by_text("Advanced filters").click()
    page.locator("[data-filter-row]").nth(1).get_by_label("Value", exact=True).fill("basic")
    page.get_by_role("button", name="Apply filters").click()
    expect_rows(page, basic)
    page.get_by_role("button", name="Save changes to view").click()
    expect(page.get_by_test_id("flash")).to_have_text("Saved the changes to the view “Unpaid pro”.")
    (view,) = views_of(session_factory, api.account_id)
    assert view.filter_groups[0]["filters"][1] == {
        "property": "properties.tier",
        "operator": "eq",
        "value": "basic",
    }
    expect_rows(page, basic)


# --- pagination ------------------------------------------------------------------------------


def test_pagination_next_previous_and_page_size(staff: Staff, session_factory: Any) -> None:
    api = staff.api
    set_clock(session_factory, api)
    who = customer(api, "ann@example.com")
    subs = [subscribe(api, who, f"Plan {n:02d}") for n in range(27)]

    page = staff.goto("/subscriptions?sort=name&direction=asc")
    expect(page.get_by_test_id("page-range")).to_have_text("1\u201325 of 27")
    first_page = shown_ids(page)
    assert first_page == [s["id"] for s in subs[:25]]
    page.get_by_role("link", name="Next", exact=True).click()
    expect(page.get_by_test_id("page-range")).to_have_text("26\u201327 of 27")
    assert shown_ids(page) == [subs[25]["id"], subs[26]["id"]]
    expect(page.get_by_text("Next", exact=True)).to_have_attribute("aria-disabled", "true")
    page.get_by_role("link", name="Previous", exact=True).click()
    expect(page.get_by_test_id("page-range")).to_have_text("1\u201325 of 27")
    assert shown_ids(page) == first_page

    page.get_by_label("Per page").select_option("50")
    expect(page.get_by_test_id("page-range")).to_have_text("1\u201327 of 27")
    assert len(shown_ids(page)) == 27
    assert query_of(page)["limit"] == ["50"]

    # A page link that was tampered with is explained, not a server error.
    response = page.goto(staff.base_url + "/subscriptions?after=not-a-cursor")
    assert response is not None and response.status == 422
    expect(page.get_by_test_id("filter-error")).to_contain_text("The page link is not valid.")
