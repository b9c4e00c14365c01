"""A contact's and company's Subscriptions card (HubSpot's record sidebar): "Add existing
subscription" associates the account's other subscriptions with the record, and each row's
"Preview" opens the subscription's key facts without leaving the page."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from cadency.crm import associations
from cadency.crm.models import Association
from tests.conftest import Api
from tests.web.conftest import Staff, screenshot


def _product(api: Api, name: str, price: str, frequency: str = "monthly") -> Any:
    body = {"name": name, "unit_price": price, "currency": "USD", "billing_frequency": frequency}
    return api.ok(api.post("/products", body))


def _contact(api: Api, email: str, **fields: Any) -> Any:
    return api.ok(api.post("/contacts", {"email": email, **fields}))


def _subscribe(api: Api, contact_id: str, product_id: str, name: str, **body: Any) -> Any:
    return api.ok(
        api.post(
            "/subscriptions",
            {
                "name": name,
                "currency": "USD",
                "contact_id": contact_id,
                "line_items": [{"product_id": product_id}],
                "collection_method": "send_invoice",
                **body,
            },
        )
    )


def _card_row(page: Page, subscription_id: str) -> Any:
    return page.get_by_test_id("subscriptions-card").locator(f"tr[data-id='{subscription_id}']")


def _links(session_factory: Any, account_id: int) -> int:
    with session_factory() as session:
        count: int = session.scalar(
            select(func.count())
            .select_from(Association)
            .where(Association.account_id == account_id)
        )
        return count


def _csrf(page: Page) -> str:
    return (page.locator("body").get_attribute("hx-headers") or "").split('"')[3]


def _short(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def test_add_existing_subscriptions_to_a_contact(
    staff: Staff, other_api: Api, session_factory: Any
) -> None:
    api = staff.api
    ann = _contact(api, "ann@example.com", first_name="Ann", last_name="Smith")
    bob = _contact(api, "bob@example.com", first_name="Bob", last_name="Jones")
    plan = _product(api, "Coffee club", "12.50")
    own = _subscribe(api, ann["id"], plan["id"], "Ann's coffee")
    office = _subscribe(api, bob["id"], plan["id"], "Office coffee")
    beans = _subscribe(api, bob["id"], plan["id"], "Beans for the team")
    stranger = _contact(other_api, "eve@example.com")
    theirs = _subscribe(
        other_api, stranger["id"], _product(other_api, "Tea", "3.00")["id"], "Their tea"
    )

    page = staff.goto(f"/contacts/{ann['id']}")
    expect(_card_row(page, own["id"])).to_have_count(1)
    expect(_card_row(page, office["id"])).to_have_count(0)
    page.get_by_test_id("add-existing-subscription").click()
    dialog = page.get_by_test_id("add-subscriptions-dialog")
    expect(dialog).to_be_visible()
    choices = dialog.get_by_test_id("subscription-choices").locator("li")
    # Ann's own subscription (she is its billing contact) is associated already.
    expect(choices).to_have_count(2)
    expect(dialog).not_to_contain_text("Ann's coffee")
    expect(dialog).not_to_contain_text("Their tea")
    expect(choices.first).to_contain_text("Bob Jones")

    dialog.get_by_label("Search subscriptions").fill("office")
    expect(choices).to_have_count(1)
    dialog.get_by_label("Office coffee").check()
    # A new search keeps the box checked (first), beside what it finds.
    dialog.get_by_label("Search subscriptions").fill("beans")
    expect(choices).to_have_count(2)
    expect(dialog.get_by_label("Office coffee")).to_be_checked()
    expect(dialog.get_by_label("Beans for the team")).not_to_be_checked()
    screenshot(page, "contact-add-subscriptions-en")
    dialog.get_by_test_id("save-subscriptions").click()

    expect(page.get_by_test_id("flash")).to_have_text("Subscriptions associated: 1.")
    expect(_card_row(page, office["id"])).to_have_count(1)
    expect(_card_row(page, own["id"])).to_have_count(1)
    expect(_card_row(page, beans["id"])).to_have_count(0)
    with session_factory() as session:
        linked = associations.linked_records(session, api.account_id, office["id"])
    assert [r.id for r in linked["contact"]] == [ann["id"]]
    # An association, not a change of billing contact.
    assert api.ok(api.get(f"/subscriptions/{office['id']}"))["contact_id"] == bob["id"]

    # Offered no more; the other one still is.
    page.get_by_test_id("add-existing-subscription").click()
    expect(choices).to_have_count(1)
    expect(choices.first).to_contain_text("Beans for the team")
    # Nothing checked: the panel says so and writes nothing.
    before = _links(session_factory, api.account_id)
    dialog.get_by_test_id("save-subscriptions").click()
    expect(dialog.get_by_test_id("form-error")).to_have_text("Choose at least one subscription.")
    expect(dialog.get_by_label("Beans for the team")).not_to_be_checked()
    assert _links(session_factory, api.account_id) == before
    page.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # Another account's subscription posted by hand: not found, nothing written.
    token = _csrf(page)
    before = _links(session_factory, api.account_id)
    answer = page.request.post(
        f"{staff.base_url}/contacts/{ann['id']}/subscriptions",
        form={"csrf_token": token, "subscription_id": theirs["id"]},
    )
    assert answer.status == 404
    answer = page.request.post(
        f"{staff.base_url}/contacts/{ann['id']}/subscriptions",
        multipart={"csrf_token": token, "subscription_id": beans["id"]},
    )
    assert answer.ok
    assert _links(session_factory, api.account_id) == before + 1
    # Posting one already associated again writes nothing more.
    answer = page.request.post(
        f"{staff.base_url}/contacts/{ann['id']}/subscriptions",
        form={"csrf_token": token, "subscription_id": office["id"]},
    )
    assert answer.ok
    assert _links(session_factory, api.account_id) == before + 1

    page.locator("#language-switch").select_option("nl")
    expect(page.get_by_role("button", name="Bestaand abonnement toevoegen")).to_be_visible()
    page.get_by_test_id("add-existing-subscription").click()
    expect(dialog.get_by_label("Abonnementen zoeken")).to_be_visible()
    expect(dialog.get_by_test_id("no-subscription-choices")).to_have_text(
        "Geen abonnementen om toe te voegen."
    )
    screenshot(page, "contact-add-subscriptions-nl")


def test_mixed_selection_with_another_accounts_subscription_writes_nothing(
    staff: Staff, other_api: Api, session_factory: Any
) -> None:
    api = staff.api
    company = api.ok(api.post("/companies", {"name": "Koffie BV"}))
    bob = _contact(api, "bob@example.com")
    plan = _product(api, "Coffee club", "12.50")
    mine = _subscribe(api, bob["id"], plan["id"], "Office coffee")
    stranger = _contact(other_api, "eve@example.com")
    theirs = _subscribe(
        other_api, stranger["id"], _product(other_api, "Tea", "3.00")["id"], "Their tea"
    )
    page = staff.goto(f"/companies/{company['id']}")
    answer = page.request.post(
        f"{staff.base_url}/companies/{company['id']}/subscriptions",
        # Two boxes: one of this account, one of another (form-encoded by hand: repeated key).
        data=urlencode(
            [
                ("csrf_token", _csrf(page)),
                ("subscription_id", mine["id"]),
                ("subscription_id", theirs["id"]),
            ]
        ),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 404
    assert _links(session_factory, api.account_id) == 0
    assert _links(session_factory, other_api.account_id) == 0


def test_add_existing_subscription_to_a_company_needs_edit_rights(
    staff: Staff, session_factory: Any, browser: Any, base_url: str
) -> None:
    from tests.web.conftest import add_user, sign_in

    api = staff.api
    company = api.ok(api.post("/companies", {"name": "Koffie BV"}))
    bob = _contact(api, "bob@example.com")
    plan = _product(api, "Coffee club", "12.50")
    billed = _subscribe(
        api, bob["id"], plan["id"], "Billed to the company", company_id=company["id"]
    )
    office = _subscribe(api, bob["id"], plan["id"], "Office coffee")

    page = staff.goto(f"/companies/{company['id']}")
    page.get_by_test_id("add-existing-subscription").click()
    dialog = page.get_by_test_id("add-subscriptions-dialog")
    # The company's billed subscription is associated already.
    expect(dialog.get_by_test_id("subscription-choices").locator("li")).to_have_count(1)
    dialog.get_by_label("Office coffee").check()
    dialog.get_by_test_id("save-subscriptions").click()
    expect(page.get_by_test_id("flash")).to_have_text("Subscriptions associated: 1.")
    expect(_card_row(page, office["id"])).to_have_count(1)
    expect(_card_row(page, billed["id"])).to_have_count(1)
    # The company is associated, not made the billing company.
    assert api.ok(api.get(f"/subscriptions/{office['id']}"))["company_id"] is None

    # A user who may only view sees no button, and a post is refused.
    viewer = add_user(
        api, session_factory, f"viewer-{api.account_id}@example.com", ["subscriptions.view"]
    )
    context = browser.new_context()
    sign_in(context, session_factory, viewer, base_url)
    look = context.new_page()
    look.goto(f"{base_url}/companies/{company['id']}")
    expect(look.get_by_test_id("subscriptions-card")).to_be_visible()
    expect(look.get_by_test_id("add-existing-subscription")).to_have_count(0)
    other = _subscribe(api, bob["id"], plan["id"], "Third")
    answer = look.request.post(
        f"{base_url}/companies/{company['id']}/subscriptions",
        form={"csrf_token": _csrf(look), "subscription_id": other["id"]},
    )
    assert answer.status == 403
    assert _links(session_factory, api.account_id) == 1
    context.close()


def test_preview_a_subscription_from_the_contacts_card(staff: Staff) -> None:
    api = staff.api
    ann = _contact(api, "ann@example.com", first_name="Ann", last_name="Smith")
    plan = _product(api, "Coffee club", "12.50")
    subscription = _subscribe(api, ann["id"], plan["id"], "Ann's coffee")
    start = date.fromisoformat(subscription["start_date"])
    next_payment = date.fromisoformat(subscription["next_payment_date"])

    page = staff.goto(f"/contacts/{ann['id']}")
    row = _card_row(page, subscription["id"])
    expect(row.get_by_test_id("status-badge")).to_have_text("Active")
    expect(row.get_by_test_id("start-date")).to_have_text(_short(start))
    row.hover()
    row.get_by_test_id("preview-subscription").click()
    panel = page.get_by_test_id("subscription-preview")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading")).to_have_text("Ann's coffee")
    expect(panel.get_by_test_id("status-badge")).to_have_text("Active")
    expect(panel.get_by_test_id("preview-amount")).to_have_text("$12.50 · Monthly")
    expect(panel.get_by_test_id("preview-start-date")).to_have_text(_short(start))
    expect(panel.get_by_test_id("preview-next-payment")).to_have_text(
        f"{_short(next_payment)} · $12.50"
    )
    expect(panel.get_by_test_id("preview-billing-contact")).to_contain_text("Ann Smith")
    assert page.url.endswith(f"/contacts/{ann['id']}")  # the page stayed
    screenshot(page, "contact-subscription-preview-en")
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()

    page.locator("#language-switch").select_option("nl")
    row = _card_row(page, subscription["id"])
    expect(row.get_by_test_id("status-badge")).to_have_text("Actief")
    row.hover()
    row.get_by_role("link", name="Voorbeeld").click()
    panel = page.get_by_test_id("subscription-preview")
    expect(panel.get_by_test_id("preview-amount")).to_contain_text("Maandelijks")
    expect(panel).to_contain_text("Contactpersoon voor facturering")
    screenshot(page, "contact-subscription-preview-nl")


def test_another_accounts_subscription_has_no_preview(staff: Staff, other_api: Api) -> None:
    ann = _contact(staff.api, "ann@example.com")
    stranger = _contact(other_api, "eve@example.com")
    theirs = _subscribe(
        other_api, stranger["id"], _product(other_api, "Tea", "3.00")["id"], "Their tea"
    )
    answer = staff.page.request.get(
        f"{staff.base_url}/contacts/{ann['id']}/subscriptions/{theirs['id']}/preview"
    )
    assert answer.status == 404
    assert "Their tea" not in answer.text()
