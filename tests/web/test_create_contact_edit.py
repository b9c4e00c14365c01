"""Editing the chosen billing contact and company from the create-subscription form (issue 19;
seed "Hvis du redigerer kontaktoplysningerne, opdateres kontaktregistret i CRM"): saved to the
CRM records through crm.service, errors in the block, the account's own records only."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from playwright.sync_api import expect

from tests.conftest import Api
from tests.web.conftest import Staff, screenshot
from tests.web.http import signed_in
from tests.web.test_create_subscription import shop


def acme(api: Api) -> dict[str, Any]:
    company: dict[str, Any] = api.ok(
        api.post(
            "/companies",
            {
                "name": "Acme BV",
                "domain": "acme.example",
                "address": {"line1": "Damrak 1", "city": "Amsterdam", "country": "NL"},
            },
        )
    )
    return company


def test_edit_the_billing_contact_and_company_in_place(staff: Staff) -> None:
    api = staff.api
    data = shop(api)
    emma, card = data["emma"], data["card"]
    company = acme(api)
    api.ok(api.post("/contacts", {"email": "noah@example.com", "first_name": "Noah"}))
    page = staff.goto(f"/subscriptions/new?contact_id={emma['id']}&company_id={company['id']}")
    method = page.get_by_label("Payment method", exact=True)
    method.select_option("collect")  # the user's choice, which editing the contact keeps

    picker = page.locator("#contact-picker")
    picker.get_by_role("button", name="Edit the billing contact").click()
    editor = page.get_by_test_id("edit-contact")
    expect(editor.get_by_label("Email")).to_have_value("emma@example.com")
    expect(editor.get_by_label("First name")).to_have_value("Emma")
    expect(editor.get_by_label("Last name")).to_have_value("Jansen")
    expect(editor.get_by_label("Phone")).to_have_value("")

    # A bad address is shown in the block, with what was typed; nothing is saved.
    editor.get_by_label("First name").fill("Emmy")
    editor.get_by_label("Email").fill("not-an-email")
    editor.get_by_role("button", name="Save").click()
    expect(editor.get_by_test_id("error-edit_contact.email")).to_be_visible()
    expect(editor.get_by_label("First name")).to_have_value("Emmy")
    screenshot(page, "subscription-create-contact-edit-en")
    assert api.ok(api.get(f"/contacts/{emma['id']}"))["first_name"] == "Emma"

    # Another contact's address is refused by the service.
    editor.get_by_label("Email").fill("noah@example.com")
    editor.get_by_label("Email").press("Enter")  # Enter saves the block, not the whole form
    expect(editor.get_by_test_id("error-edit_contact.email")).to_contain_text(
        "A contact with this email address already exists"
    )
    assert page.get_by_test_id("confirm-create").is_hidden()

    editor.get_by_label("Email").fill("emmy@example.com")
    editor.get_by_label("Phone").fill("+31 6 12345678")
    editor.get_by_role("button", name="Save").click()
    chosen = page.get_by_test_id("chosen-contact")
    expect(chosen).to_contain_text("Emmy Jansen")
    expect(chosen).to_contain_text("emmy@example.com")
    expect(chosen).to_contain_text("+31 6 12345678")
    saved = api.ok(api.get(f"/contacts/{emma['id']}"))
    assert (saved["email"], saved["first_name"], saved["phone"]) == (
        "emmy@example.com",
        "Emmy",
        "+31 6 12345678",
    )
    expect(method).to_have_value("collect")
    expect(method.locator(f'option[value="{card["id"]}"]')).to_have_count(1)

    # Cancel leaves the contact as it is.
    picker.get_by_role("button", name="Edit the billing contact").click()
    editor.get_by_label("Last name").fill("Changed")
    editor.get_by_role("button", name="Cancel").click()
    expect(chosen).to_contain_text("Emmy Jansen")
    assert api.ok(api.get(f"/contacts/{emma['id']}"))["last_name"] == "Jansen"

    # The company, with its address: "Same as company address" shows the new one.
    page.locator("#company-picker").get_by_role("button", name="Edit the company").click()
    company_editor = page.get_by_test_id("edit-company")
    expect(company_editor.get_by_label("Company name")).to_have_value("Acme BV")
    expect(company_editor.get_by_label("City")).to_have_value("Amsterdam")
    company_editor.get_by_label("Company name").fill("")
    company_editor.get_by_role("button", name="Save").click()
    expect(company_editor.get_by_test_id("error-edit_company.name")).to_have_text("Enter a name.")
    company_editor.get_by_label("Company name").fill("Acme Coffee BV")
    company_editor.get_by_label("City").fill("Utrecht")
    company_editor.get_by_label("Country (2 letters, e.g. NL)").fill("XX1")
    company_editor.get_by_role("button", name="Save").click()
    expect(company_editor.get_by_test_id("error-edit_company.address.country")).to_be_visible()
    company_editor.get_by_label("Country (2 letters, e.g. NL)").fill("NL")
    company_editor.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("chosen-company")).to_contain_text("Acme Coffee BV")
    page.get_by_label("Same as company address").check()
    expect(page.locator("#company-address")).to_contain_text("Damrak 1, Utrecht, NL")
    saved_company = api.ok(api.get(f"/companies/{company['id']}"))
    assert saved_company["name"] == "Acme Coffee BV"
    assert saved_company["address"]["city"] == "Utrecht"
    assert saved_company["domain"] == "acme.example"

    # In Dutch.
    page.locator("#language-switch").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.goto(
        f"{staff.base_url}/subscriptions/new?contact_id={emma['id']}&company_id={company['id']}"
    )
    page.locator("#contact-picker .chosen-actions button").first.click()
    expect(page.get_by_test_id("edit-contact")).to_contain_text("Opslaan")
    screenshot(page, "subscription-create-contact-edit-nl")


def test_editing_needs_the_permission_and_the_accounts_own_records(
    app: FastAPI, session_factory: Any, api: Api, other_api: Api
) -> None:
    data = shop(api)
    company = acme(api)
    theirs = other_api.ok(other_api.post("/contacts", {"email": "stranger@example.com"}))
    their_company = other_api.ok(other_api.post("/companies", {"name": "Other BV"}))
    admin = signed_in(app, session_factory, api)
    viewer = signed_in(
        app,
        session_factory,
        api,
        email=f"viewer-{api.account_id}@example.com",
        permissions=["subscriptions.view"],
    )
    with admin.client as client:
        headers = {"X-CSRF-Token": admin.csrf_token}
        assert (
            client.get(f"/subscriptions/new/contact/edit?contact_id={theirs['id']}").status_code
            == 404
        )
        sent = client.post(
            "/subscriptions/new/contact/edit",
            data={"contact_id": theirs["id"], "edit_contact.email": "mine@example.com"},
            headers=headers,
        )
        assert sent.status_code == 404
        sent = client.post(
            "/subscriptions/new/company/edit",
            data={"company_id": their_company["id"], "edit_company.name": "Mine"},
            headers=headers,
        )
        assert sent.status_code == 404
        shown = client.get(f"/subscriptions/new/contact/edit?contact_id={data['emma']['id']}")
        assert shown.status_code == 200 and 'value="emma@example.com"' in shown.text
    with viewer.client as client:
        headers = {"X-CSRF-Token": viewer.csrf_token}
        assert (
            client.get(
                f"/subscriptions/new/contact/edit?contact_id={data['emma']['id']}"
            ).status_code
            == 403
        )
        sent = client.post(
            "/subscriptions/new/company/edit",
            data={"company_id": company["id"], "edit_company.name": "Viewer BV"},
            headers=headers,
        )
        assert sent.status_code == 403
    assert (
        other_api.ok(other_api.get(f"/contacts/{theirs['id']}"))["email"] == "stranger@example.com"
    )
    assert other_api.ok(other_api.get(f"/companies/{their_company['id']}"))["name"] == "Other BV"
    assert api.ok(api.get(f"/companies/{company['id']}"))["name"] == "Acme BV"
