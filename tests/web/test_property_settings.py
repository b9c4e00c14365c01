"""The custom property settings pages: list per object type, create every field type, edit,
delete with a confirmation dialog, the plan limit, and permissions on the server."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from cadency.accounts.models import Account
from cadency.plans import service as plans
from cadency.properties.models import PropertyDefinition
from tests.conftest import Api, Operator
from tests.web.conftest import Staff, add_user, screenshot, sign_in

NO_RULES = {"required": False, "unique": False, "min": None, "max": None, "pattern": None}
TIERS = [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}]


def forger(page: Page, base_url: str) -> tuple[httpx.Client, str]:
    """An HTTP client with the browser's session cookie and its CSRF token: what a forged
    request (a hand-made POST, not the page's own form) would carry at best."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    return httpx.Client(base_url=base_url, cookies=cookies), token


def open_new_form(staff: Staff, object_type: str = "subscriptions") -> Page:
    page = staff.goto(f"/settings/properties/{object_type}")
    page.get_by_role("link", name="Create property").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Create a")
    return page


def fill_options(page: Page, rows: list[tuple[str, str | None]]) -> None:
    """Type option rows (label, internal value or None to keep the one made from the label)."""
    editor = page.get_by_test_id("options-editor")
    for index, (label, value) in enumerate(rows):
        if index > 0:
            editor.get_by_role("button", name="Add an option").click()
        row = editor.locator("tr[data-option-row]").nth(index)
        row.get_by_label("Option label").fill(label)
        if value is not None:
            row.get_by_label("Option internal value").fill(value)


def test_create_a_property_of_each_field_type(staff: Staff) -> None:
    page = staff.goto("/settings/properties")
    expect(page.get_by_test_id("property-usage")).to_have_text("0 of 1,000 custom properties used")
    expect(page.get_by_test_id("no-properties")).to_be_visible()

    # text: every rule that applies to text
    page = open_new_form(staff)
    # Sections the chosen type does not use are hidden (and not submitted).
    expect(page.get_by_test_id("options-editor")).to_be_hidden()
    page.get_by_role("textbox", name="Label", exact=True).fill("Customer code")
    page.get_by_label("Internal name").fill("customer_code")
    page.get_by_label("Field type").select_option(label="Single-line text")
    page.get_by_label("Required:").check()
    page.get_by_label("Unique:").check()
    page.get_by_label("Minimum").fill("2")
    page.get_by_label("Maximum").fill("10")
    page.get_by_label("Pattern").fill("[A-Z]+")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("flash")).to_have_text("Property “Customer code” created.")
    row = page.locator("tr[data-property=customer_code]")
    expect(row).to_contain_text("Single-line text")
    expect(row).to_contain_text(
        "Required, Unique, At least 2 characters, At most 10 characters, Matches [A-Z]+"
    )

    # textarea with a description and a group
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Notes")
    page.get_by_label("Internal name").fill("notes")
    page.get_by_label("Group").fill("support")
    page.get_by_label("Description").fill("Anything the support team should know")
    page.get_by_label("Field type").select_option("textarea")
    page.get_by_label("Maximum").fill("500")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("flash")).to_be_visible()

    # number: decimal bounds, unique
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Seats")
    page.get_by_label("Internal name").fill("seats")
    page.get_by_label("Field type").select_option("number")
    expect(page.get_by_label("Pattern")).to_be_hidden()
    page.get_by_label("Minimum").fill("0.5")
    page.get_by_label("Maximum").fill("100")
    page.get_by_label("Unique:").check()
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("tr[data-property=seats]")).to_contain_text("Minimum 0.5, Maximum 100")

    # date and datetime
    for name, label, field_type in (
        ("renewal_review", "Renewal review", "date"),
        ("last_call", "Last call", "datetime"),
    ):
        page = open_new_form(staff)
        page.get_by_role("textbox", name="Label", exact=True).fill(label)
        page.get_by_label("Internal name").fill(name)
        page.get_by_label("Field type").select_option(field_type)
        expect(page.get_by_label("Minimum")).to_be_hidden()
        if field_type == "datetime":
            page.get_by_label("Unique:").check()
        page.get_by_role("button", name="Create", exact=True).click()
        expect(page.locator(f"tr[data-property={name}]")).to_be_visible()

    # select: values made from the labels
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Tier")
    page.get_by_label("Internal name").fill("tier")
    page.get_by_label("Field type").select_option("select")
    expect(page.get_by_test_id("options-editor")).to_be_visible()
    expect(page.get_by_label("Unique:")).to_be_hidden()
    fill_options(page, [("Basic", None), ("Pro plan", None)])
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("tr[data-property=tier]")).to_contain_text("Basic, Pro plan")

    # radio: values typed by hand
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Channel")
    page.get_by_label("Internal name").fill("channel")
    page.get_by_label("Field type").select_option("radio")
    fill_options(page, [("Web shop", "web"), ("Sales team", "sales")])
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("tr[data-property=channel]")).to_be_visible()

    # checkboxes: add four rows, remove one, move the last one to the top
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Interests")
    page.get_by_label("Internal name").fill("interests")
    page.get_by_label("Field type").select_option("checkboxes")
    fill_options(
        page, [("News", "news"), ("Events", "events"), ("Spam", "spam"), ("Deals", "deals")]
    )
    rows = page.locator("tr[data-option-row]")
    rows.nth(2).get_by_role("button", name="Remove option").click()
    expect(rows).to_have_count(3)
    rows.nth(2).get_by_role("button", name="Move up").click()
    rows.nth(1).get_by_role("button", name="Move up").click()
    screenshot(page, "settings-property-form")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("tr[data-property=interests]")).to_contain_text("Deals, News, Events")

    # boolean: required and sensitive
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Consent given")
    page.get_by_label("Internal name").fill("consent")
    page.get_by_label("Field type").select_option("boolean")
    page.get_by_label("Required:").check()
    page.get_by_label("This property holds sensitive data").check()
    page.get_by_role("button", name="Create", exact=True).click()
    row = page.locator("tr[data-property=consent]")
    expect(row).to_contain_text("Single checkbox")
    expect(row.locator(".badge-sensitive")).to_have_text("Sensitive")
    expect(page.get_by_test_id("property-usage")).to_have_text("9 of 1,000 custom properties used")
    screenshot(page, "settings-properties")

    api = staff.api
    expected: dict[str, dict[str, Any]] = {
        "customer_code": {
            "field_type": "text",
            "options": [],
            "rules": {"required": True, "unique": True, "min": 2, "max": 10, "pattern": "[A-Z]+"},
        },
        "notes": {
            "field_type": "textarea",
            "group": "support",
            "description": "Anything the support team should know",
            "rules": {**NO_RULES, "max": 500},
        },
        "seats": {
            "field_type": "number",
            "rules": {**NO_RULES, "min": 0.5, "max": 100, "unique": True},
        },
        "renewal_review": {"field_type": "date", "rules": NO_RULES},
        "last_call": {"field_type": "datetime", "rules": {**NO_RULES, "unique": True}},
        "tier": {
            "field_type": "select",
            "options": [
                {"value": "basic", "label": "Basic"},
                {"value": "pro_plan", "label": "Pro plan"},
            ],
        },
        "channel": {
            "field_type": "radio",
            "options": [
                {"value": "web", "label": "Web shop"},
                {"value": "sales", "label": "Sales team"},
            ],
        },
        "interests": {
            "field_type": "checkboxes",
            "options": [
                {"value": "deals", "label": "Deals"},
                {"value": "news", "label": "News"},
                {"value": "events", "label": "Events"},
            ],
            "rules": NO_RULES,
        },
    }
    for name, fields in expected.items():
        got = api.ok(api.get(f"/properties/subscriptions/{name}"))
        for key, value in fields.items():
            assert got[key] == value, (name, key, got[key])
        if "group" not in fields:
            assert got["group"] == "subscription_information"
    consent = api.ok(api.get("/properties/subscriptions/consent"))
    assert consent["field_type"] == "boolean"
    assert consent["sensitive"] is True
    assert consent["rules"] == {**NO_RULES, "required": True}
    listed = api.ok(api.get("/properties/subscriptions", {"limit": 100}))["data"]
    assert len(listed) == 9


def test_a_duplicate_name_and_bad_rules_get_messages(staff: Staff) -> None:
    api = staff.api
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "tier", "label": "Tier", "field_type": "text"}
        )
    )
    # The REST API answers a duplicate with 409 ...
    duplicate = api.post(
        "/properties/subscriptions", {"name": "tier", "label": "Again", "field_type": "text"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["param"] == "name"

    # ... and the page with a message next to the name, keeping what was typed.
    page = open_new_form(staff)
    page.get_by_role("textbox", name="Label", exact=True).fill("Plan tier")
    page.get_by_label("Internal name").fill("tier")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-name")).to_have_text("A property named 'tier' already exists")
    expect(page.get_by_role("textbox", name="Label", exact=True)).to_have_value("Plan tier")

    page.get_by_label("Internal name").fill("plan_tier")
    page.get_by_label("Pattern").fill("[A-Z")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-rules.pattern")).to_contain_text(
        "'pattern' is not a valid regular expression"
    )

    page.get_by_label("Pattern").fill("")
    page.get_by_label("Minimum").fill("10")
    page.get_by_label("Maximum").fill("2")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-rules.max")).to_have_text("'max' must not be less than 'min'")

    page.get_by_label("Maximum").fill("lots")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-rules.max")).to_contain_text("must be a number")

    page.get_by_label("Internal name").fill("Plan Tier")
    page.get_by_label("Maximum").fill("")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-name")).to_contain_text(
        "This value does not have the expected form."
    )

    page.get_by_label("Internal name").fill("status")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-name")).to_have_text(
        "'status' is a built-in property of subscriptions; choose another name"
    )

    # A choice field without options.
    page.get_by_label("Internal name").fill("plan_tier")
    page.get_by_label("Field type").select_option("select")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("error-options")).to_have_text(
        "A select property needs at least one option"
    )
    names = [p["name"] for p in api.ok(api.get("/properties/subscriptions"))["data"]]
    assert names == ["tier"]


def test_edit_label_rules_and_options(staff: Staff) -> None:
    api = staff.api
    api.ok(
        api.post(
            "/properties/contacts",
            {
                "name": "segment",
                "label": "Segment",
                "field_type": "select",
                "description": "Market segment",
                "options": [
                    {"value": "smb", "label": "Small business"},
                    {"value": "mid", "label": "Mid-market"},
                ],
            },
        )
    )
    api.ok(api.post("/contacts", {"email": "buyer@example.com", "properties": {"segment": "smb"}}))

    page = staff.goto("/settings/properties/contacts")
    expect(page.locator(".tabs a.current")).to_have_text("Contacts")
    page.locator("tr[data-property=segment]").get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Internal name")).to_have_value("segment")
    expect(page.get_by_label("Field type")).to_have_value("Dropdown select")
    page.get_by_role("textbox", name="Label", exact=True).fill("Market segment")
    page.get_by_label("Description").fill("")
    page.get_by_label("This property holds sensitive data").check()
    editor = page.get_by_test_id("options-editor")
    editor.get_by_role("button", name="Add an option").click()
    new_row = editor.locator("tr[data-option-row]").nth(2)
    new_row.get_by_label("Option label").fill("Enterprise")
    new_row.get_by_role("button", name="Move up").click()
    editor.locator("tr[data-option-row]").nth(0).get_by_label("Option label").fill("SMB")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("flash")).to_have_text("Property “Market segment” saved.")

    got = api.ok(api.get("/properties/contacts/segment"))
    assert got["label"] == "Market segment"
    assert got["description"] is None
    assert got["sensitive"] is True
    assert got["options"] == [
        {"value": "smb", "label": "SMB"},
        {"value": "enterprise", "label": "Enterprise"},
        {"value": "mid", "label": "Mid-market"},
    ]

    # An option a contact uses cannot be removed: the message says why, nothing changes.
    page.locator("tr[data-property=segment]").get_by_role("link", name="Edit", exact=True).click()
    page.locator("tr[data-option-row]").nth(0).get_by_role("button", name="Remove option").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("error-options")).to_have_text(
        "Option 'smb' of property 'segment' is in use by 1 record; change those values first"
    )
    assert len(api.ok(api.get("/properties/contacts/segment"))["options"]) == 3

    # Emptying the label is refused on the page.
    page.get_by_role("textbox", name="Label", exact=True).fill("")
    page.evaluate("document.getElementById('f-label').removeAttribute('required')")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("error-label")).to_have_text("Enter a label.")
    assert api.ok(api.get("/properties/contacts/segment"))["label"] == "Market segment"


def test_edit_rules_of_a_number(staff: Staff) -> None:
    api = staff.api
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "seats",
                "label": "Seats",
                "field_type": "number",
                "rules": {"min": "0.00001", "max": 5},
            },
        )
    )
    page = staff.goto("/settings/properties/subscriptions")
    expect(page.locator("tr[data-property=seats]")).to_contain_text("Minimum 0.00001, Maximum 5")
    page = staff.goto("/settings/properties/subscriptions/seats/edit")
    # Exact decimal text, which saves back unchanged (not "1e-05").
    expect(page.get_by_label("Minimum")).to_have_value("0.00001")
    page.get_by_role("textbox", name="Label", exact=True).fill("Licensed seats")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("flash")).to_have_text("Property “Licensed seats” saved.")
    assert api.ok(api.get("/properties/subscriptions/seats"))["rules"] == {
        **NO_RULES,
        "min": 0.00001,
        "max": 5,
    }
    page = staff.goto("/settings/properties/subscriptions/seats/edit")
    page.get_by_label("Minimum").fill("")
    page.get_by_label("Maximum").fill("250")
    page.get_by_label("Required:").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    rules = api.ok(api.get("/properties/subscriptions/seats"))["rules"]
    assert rules == {**NO_RULES, "required": True, "max": 250}


def test_delete_asks_first(staff: Staff) -> None:
    api = staff.api
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "tier", "label": "Tier", "field_type": "text"}
        )
    )
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "region", "label": "Region", "field_type": "text"}
        )
    )
    page = staff.goto("/settings/properties/subscriptions")
    dialog = page.locator("dialog#delete-tier")
    page.locator("tr[data-property=tier]").get_by_role("button", name="Delete", exact=True).click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete property “Tier”?")
    expect(dialog).to_contain_text("every value stored in it")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api.get("/properties/subscriptions/tier").status_code == 200

    page.locator("tr[data-property=tier]").get_by_role("button", name="Delete", exact=True).click()
    dialog.get_by_role("button", name="Delete property").click()
    expect(page.get_by_test_id("flash")).to_have_text("Property “Tier” deleted.")
    expect(page.locator("tr[data-property=tier]")).to_have_count(0)
    expect(page.locator("tr[data-property=region]")).to_be_visible()
    assert api.get("/properties/subscriptions/tier").status_code == 404


def test_each_tab_lists_its_own_object_type(staff: Staff) -> None:
    api = staff.api
    body = {"name": "segment", "label": "Segment", "field_type": "text"}
    api.ok(api.post("/properties/companies", {**body, "label": "Company segment"}))
    page = staff.goto("/settings/properties/subscriptions")
    expect(page.get_by_test_id("no-properties")).to_be_visible()
    page.get_by_role("navigation", name="Object").get_by_role("link", name="Companies").click()
    expect(page.locator("tr[data-property=segment]")).to_contain_text("Company segment")
    expect(page.locator("tr[data-property=segment]")).to_contain_text("company_information")
    expect(page.get_by_test_id("property-usage")).to_have_text("1 of 1,000 custom properties used")
    response = page.goto(staff.base_url + "/settings/properties/invoices")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-message")).to_contain_text("No such object type")


def test_at_the_plan_limit_no_new_property_can_be_created(
    operator: Operator, staff: Staff, session_factory: Any
) -> None:
    api = staff.api
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        plans.enroll(session, account, staff.email)
        session.commit()
    for n in range(11):
        body = {"name": f"field_{n}", "label": f"Field {n}", "field_type": "text"}
        api.ok(api.post("/properties/subscriptions", body))
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "tier", "label": "Tier", "field_type": "text"}
        )
    )
    # The trial ends with no card: the Free plan allows 10. All twelve stay, and stay
    # editable; no new one can be made.
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        plans.end_trial(session, account)
        session.commit()
    page = staff.goto("/settings/properties/subscriptions")
    expect(page.get_by_test_id("property-usage")).to_have_text("12 of 10 custom properties used")
    expect(page.get_by_role("button", name="Create property")).to_be_disabled()
    expect(page.locator(".alert-warning")).to_contain_text("reached its plan's limit")
    page.locator("tr[data-property=tier]").get_by_role("link", name="Edit", exact=True).click()
    page.get_by_role("textbox", name="Label", exact=True).fill("Plan tier")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    assert api.ok(api.get("/properties/subscriptions/tier"))["label"] == "Plan tier"

    page = staff.goto("/settings/properties/subscriptions/new")
    page.get_by_role("textbox", name="Label", exact=True).fill("Channel")
    page.get_by_label("Internal name").fill("channel")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("form-error")).to_contain_text("the most its plan allows (10)")
    assert api.get("/properties/subscriptions/channel").status_code == 404


def test_without_properties_edit_the_pages_are_read_only(
    api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "tier", "label": "Tier", "field_type": "select", "options": TIERS},
        )
    )
    viewer = add_user(
        api, session_factory, f"viewer-{api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, viewer, base_url)
    page = context.new_page()
    page.set_default_timeout(7_000)
    page.goto(base_url + "/settings/properties")
    row = page.locator("tr[data-property=tier]")
    expect(row).to_contain_text("Dropdown select")
    expect(page.get_by_role("link", name="Create property")).to_have_count(0)
    expect(row.get_by_role("button", name="Delete", exact=True)).to_have_count(0)
    row.get_by_role("link", name="View").click()
    expect(page.get_by_role("textbox", name="Label", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    expect(page.locator("tr[data-option-row]")).to_have_count(2)

    client, token = forger(page, base_url)
    with client:
        assert client.get("/settings/properties/subscriptions/new").status_code == 403
        created = client.post(
            "/settings/properties/subscriptions",
            data={"csrf_token": token, "name": "region", "label": "Region", "field_type": "text"},
        )
        assert created.status_code == 403
        assert "properties.edit" in created.text
        edited = client.post(
            "/settings/properties/subscriptions/tier/edit",
            data={"csrf_token": token, "label": "Hacked", "group": "x"},
        )
        assert edited.status_code == 403
        deleted = client.post(
            "/settings/properties/subscriptions/tier/delete", data={"csrf_token": token}
        )
        assert deleted.status_code == 403
    assert api.ok(api.get("/properties/subscriptions/tier"))["label"] == "Tier"
    assert api.get("/properties/subscriptions/region").status_code == 404

    # Without subscriptions.view the settings cannot be seen at all.
    editor_only = add_user(
        api, session_factory, f"ed-{api.account_id}@example.com", ["billing.edit"]
    )
    other = browser.new_context()
    sign_in(other, session_factory, editor_only, base_url)
    other_page = other.new_page()
    response = other_page.goto(base_url + "/settings/properties")
    assert response is not None and response.status == 403
    context.close()
    other.close()


def test_the_database_holds_what_the_page_made(staff: Staff, session_factory: Any) -> None:
    page = open_new_form(staff, "companies")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a company property")
    page.get_by_role("textbox", name="Label", exact=True).fill("Size")
    page.get_by_label("Internal name").fill("size")
    page.get_by_label("Field type").select_option("radio")
    fill_options(page, [("Small", "s"), ("Large", "l")])
    # The hidden rule inputs of a text field are not sent for a radio.
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    with session_factory() as session:
        row = (
            session.query(PropertyDefinition)
            .filter_by(account_id=staff.api.account_id, object_type="companies", name="size")
            .one()
        )
        assert row.field_type == "radio"
        assert row.group_name == "company_information"
        assert row.options == [{"value": "s", "label": "Small"}, {"value": "l", "label": "Large"}]
        assert row.rules == {**NO_RULES}
