"""The account settings' invoice defaults (issue 19, seed 004): a default comment and the
account's tax IDs, edited as a list of rows."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.conftest import Api
from tests.web.conftest import Staff, screenshot


def settings(api: Api) -> dict[str, Any]:
    body: dict[str, Any] = api.ok(api.get("/account/settings"))
    return body


def test_set_the_default_comment_and_tax_ids(staff: Staff) -> None:
    page = staff.goto("/settings/account")
    comment = page.get_by_label("Default invoice comment")
    expect(comment).to_have_value("")
    expect(page.locator("#default-comment-hint")).to_contain_text("*italic*")
    rows = page.get_by_label("Tax ID", exact=True)
    expect(rows).to_have_count(1)  # one empty row to type into
    comment.fill("Thank you for your order!\n**Questions?** Mail us.")
    rows.nth(0).fill("NL123456789B01")
    page.get_by_role("button", name="Add a tax ID").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_be_focused()
    rows.nth(1).fill("DE999")
    page.get_by_role("button", name="Add a tax ID").click()
    rows.nth(2).fill("GB123")
    page.get_by_test_id("tax-ids").get_by_role("button", name="Remove").nth(2).click()
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_have_text("Account settings saved.")
    after = settings(staff.api)
    assert after["default_invoice_comment"] == "Thank you for your order!\n**Questions?** Mail us."
    assert after["tax_ids"] == ["NL123456789B01", "DE999"]
    # Shown again with an empty row to add one more.
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_value("NL123456789B01")
    expect(rows.nth(2)).to_have_value("")
    screenshot(page, "settings-invoice-defaults-en")

    # A duplicate is refused at the field; nothing is saved, what was typed stays.
    rows.nth(2).fill("NL123456789B01")
    comment.fill("Changed")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("error-tax_ids")).to_contain_text("twice")
    expect(rows.nth(2)).to_have_value("NL123456789B01")
    expect(comment).to_have_value("Changed")
    assert settings(staff.api)["tax_ids"] == ["NL123456789B01", "DE999"]
    assert settings(staff.api)["default_invoice_comment"].startswith("Thank you")

    # Emptied rows and an emptied comment remove them.
    for index in range(3):
        rows.nth(index).fill("")
    comment.fill("")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    after = settings(staff.api)
    assert (after["default_invoice_comment"], after["tax_ids"]) == (None, [])

    staff.api.ok(
        staff.api.patch(
            "/account/settings",
            {"default_invoice_comment": "Bedankt!", "tax_ids": ["NL123456789B01"]},
        )
    )
    page.goto(staff.base_url + "/settings/account")
    page.locator("#language-switch").select_option("nl")
    expect(page.get_by_label("Standaardopmerking op de factuur")).to_have_value("Bedankt!")
    expect(page.get_by_test_id("tax-ids")).to_contain_text("Belasting-ID's van het account")
    screenshot(page, "settings-invoice-defaults-nl")


def test_at_most_ten_tax_ids(staff: Staff) -> None:
    ten = {"tax_ids": [f"ID{n}" for n in range(10)], "bank_transfer_details": "IBAN NL91"}
    staff.api.ok(staff.api.patch("/account/settings", ten))
    page = staff.goto("/settings/account")
    rows = page.get_by_label("Tax ID", exact=True)
    expect(rows).to_have_count(10)
    expect(page.get_by_role("button", name="Add a tax ID")).to_be_hidden()
    page.get_by_test_id("tax-ids").get_by_role("button", name="Remove").first.click()
    expect(page.get_by_role("button", name="Add a tax ID")).to_be_visible()
    # An emptied text field of the same card is cleared too (not left out as unchanged).
    page.get_by_test_id("bank-transfer-details").fill("")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    assert settings(staff.api)["tax_ids"] == [f"ID{n}" for n in range(1, 10)]
    assert settings(staff.api)["bank_transfer_details"] is None
