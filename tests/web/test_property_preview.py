"""The property form's Preview tab (issue 19, seed 002): the field as a record form draws it,
from the form's unsaved values; a value tried in it is checked and never saved."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Api
from tests.web.conftest import Staff, add_user, screenshot, sign_in
from tests.web.test_property_settings import fill_options, open_new_form


def preview(page: Page) -> Any:
    page.get_by_role("tab", name="Preview").click()
    return page.get_by_test_id("property-preview")


def definitions(api: Api, object_type: str = "subscriptions") -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = api.ok(api.get(f"/properties/{object_type}"))["data"]
    return body


def test_preview_a_new_text_property_and_try_values(staff: Staff) -> None:
    page = open_new_form(staff)
    page.locator("#f-label").fill("Customer code")
    page.get_by_label("Internal name").fill("customer_code")
    page.get_by_label("Description").fill("The code on the customer's card")
    page.get_by_label("Required:").check()
    page.get_by_label("Minimum").fill("2")
    page.get_by_label("Maximum").fill("6")
    page.get_by_label("Pattern").fill("[A-Z]+")
    shown = preview(page)
    expect(page.locator("#property-form")).to_be_hidden()
    field = shown.get_by_label("Customer code")
    expect(field).to_be_visible()
    expect(shown).to_contain_text("The code on the customer's card")
    # The rules on the input, as the browser knows them, and in words.
    assert field.evaluate("e => [e.type, e.required, e.minLength, e.maxLength, e.pattern]") == [
        "text",
        True,
        2,
        6,
        "[A-Z]+",
    ]
    expect(shown.get_by_test_id("preview-rules")).to_contain_text("Required")
    expect(shown.get_by_test_id("preview-rules")).to_contain_text("At most 6 characters")
    screenshot(page, "property-preview-en")

    # A value is checked as a record's form would check it (the service's message at the field).
    shown.get_by_test_id("try-value").click()
    expect(shown.locator(".field-error")).to_have_text("Property 'customer_code' is required")
    shown.get_by_label("Customer code").fill("ab1")
    shown.get_by_test_id("try-value").click()
    expect(shown.locator(".field-error")).to_contain_text("does not match the property's pattern")
    expect(shown.get_by_label("Customer code")).to_have_value("ab1")
    shown.get_by_label("Customer code").fill("ABC")
    shown.get_by_test_id("try-value").click()
    expect(shown.get_by_test_id("preview-accepted")).to_be_visible()
    expect(shown.locator(".field-error")).to_have_count(0)
    assert definitions(staff.api) == []  # trying never saves the property

    # Back on the form, a change shows in the next preview; the property is then created
    # without the tried value going with it.
    page.get_by_role("tab", name="Edit").click()
    page.get_by_label("Field type").select_option("textarea")
    shown = preview(page)
    expect(shown.locator("textarea#prop-customer_code")).to_be_visible()
    page.get_by_role("tab", name="Edit").click()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Customer code")
    [made] = definitions(staff.api)
    assert (made["name"], made["field_type"]) == ("customer_code", "textarea")


def test_preview_each_kind_of_field(staff: Staff) -> None:
    page = open_new_form(staff)
    page.get_by_label("Field type").select_option("select")
    shown = preview(page)
    # No option yet: the preview says what is missing instead of drawing a broken field.
    expect(shown.get_by_test_id("preview-problem")).to_contain_text("option")
    page.get_by_role("tab", name="Edit").click()
    fill_options(page, [("Basic", None), ("Pro", None)])
    shown = preview(page)
    # Not named yet: the field type's name stands in for the label.
    select = shown.get_by_label("Dropdown select")
    expect(select.locator("option")).to_have_text(["", "Basic", "Pro"])
    select.select_option("pro")
    shown.get_by_test_id("try-value").click()
    expect(shown.get_by_test_id("preview-accepted")).to_be_visible()
    expect(shown.get_by_label("Dropdown select")).to_have_value("pro")

    page.get_by_role("tab", name="Edit").click()
    page.locator("#f-label").fill("Channels")
    page.get_by_label("Field type").select_option("checkboxes")
    shown = preview(page)
    expect(shown.get_by_role("checkbox")).to_have_count(2)
    expect(shown.get_by_label("Pro")).to_have_attribute("type", "checkbox")

    page.get_by_role("tab", name="Edit").click()
    page.get_by_label("Field type").select_option("radio")
    page.get_by_label("Required:").check()
    shown = preview(page)
    expect(shown.get_by_label("Basic")).to_have_attribute("type", "radio")
    expect(shown.get_by_label("Basic")).to_have_attribute("required", "")

    page.get_by_role("tab", name="Edit").click()
    page.locator("#f-label").fill("Seats")
    page.get_by_label("Field type").select_option("number")
    page.get_by_label("Minimum").fill("1")
    page.get_by_label("Maximum").fill("50")
    shown = preview(page)
    shown.get_by_label("Seats").fill("51")
    shown.get_by_test_id("try-value").click()
    expect(shown.locator(".field-error")).to_contain_text("must be at most 50")

    for field_type, input_type in (("date", "date"), ("datetime", "datetime-local")):
        page.get_by_role("tab", name="Edit").click()
        page.get_by_label("Field type").select_option(field_type)
        shown = preview(page)
        expect(shown.get_by_label("Seats")).to_have_attribute("type", input_type)

    page.get_by_role("tab", name="Edit").click()
    page.locator("#f-label").fill("Consent")
    page.get_by_label("Field type").select_option("boolean")
    shown = preview(page)
    expect(shown.get_by_label("Consent")).to_have_attribute("type", "checkbox")
    # A bad rule: the preview shows the message saving would give.
    page.get_by_role("tab", name="Edit").click()
    page.get_by_label("Field type").select_option("text")
    page.get_by_label("Minimum").fill("9")
    page.get_by_label("Maximum").fill("2")
    shown = preview(page)
    expect(shown.get_by_test_id("preview-problem")).to_contain_text("'max' must not be less")
    assert definitions(staff.api) == []


def test_preview_an_edit_in_dutch_and_for_a_reader(
    staff: Staff, api: Api, session_factory: Any, browser: Browser, base_url: str
) -> None:
    api.ok(
        api.post(
            "/properties/contacts",
            {
                "name": "segment",
                "label": "Segment",
                "field_type": "radio",
                "description": "Marktsegment",
                "options": [{"value": "smb", "label": "MKB"}, {"value": "mid", "label": "Midden"}],
            },
        )
    )
    page = staff.goto("/settings/properties/contacts/segment/edit")
    page.locator("#language-switch").select_option("nl")
    page.locator("#f-label").fill("Segment (nieuw)")
    page.get_by_role("tab", name="Voorbeeld").click()
    shown = page.get_by_test_id("property-preview")
    expect(shown).to_contain_text("Segment (nieuw)")
    expect(shown.get_by_label("Midden")).to_have_attribute("type", "radio")
    screenshot(page, "property-preview-nl")
    # Unsaved: the stored label is unchanged.
    assert api.ok(api.get("/properties/contacts/segment"))["label"] == "Segment"

    # Someone who may only read properties previews the stored property.
    reader = add_user(
        api, session_factory, f"reader-{api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, reader, base_url)
    other = context.new_page()
    other.set_default_timeout(7_000)
    other.goto(base_url + "/settings/properties/contacts/segment/edit")
    expect(other.locator("#f-label")).to_be_disabled()
    other.get_by_role("tab", name="Preview").click()
    shown = other.get_by_test_id("property-preview")
    expect(shown.get_by_role("radio")).to_have_count(2)
    expect(shown).to_contain_text("Marktsegment")
    context.close()
