from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from cadency.accounts.models import Account
from cadency.crm.models import Contact
from cadency.properties import service as properties_service
from cadency.properties.schemas import PropertyCreate
from tests.conftest import Api, pin_clock

ADA = {
    "email": "  Ada.Lovelace@Example.COM ",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+44 20 7946 0018",
    "address": {
        "line1": "12 St James's Square",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country": "GB",
    },
}


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def test_create_contact_returns_the_stored_record(api: Api, session_factory: Any) -> None:
    clock = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    pin_clock(session_factory, api.account_id, clock)
    created = api.ok(api.post("/contacts", ADA))

    assert created["id"].startswith("cont_") and len(created["id"]) == 31
    assert created["object"] == "contact"
    assert created["email"] == "ada.lovelace@example.com"
    assert created["first_name"] == "Ada"
    assert created["last_name"] == "Lovelace"
    assert created["phone"] == "+44 20 7946 0018"
    assert created["address"] == {
        "line1": "12 St James's Square",
        "line2": None,
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "region": None,
        "country": "GB",
    }
    assert created["properties"] == {}
    assert created["language"] is None  # the account's language applies
    # A test-mode account stamps records with its own clock, not the wall clock.
    assert datetime.fromisoformat(created["created_at"]) == clock
    assert created["updated_at"] == created["created_at"]
    assert api.ok(api.get(f"/contacts/{created['id']}")) == created


def test_contact_without_address_has_null_address(api: Api) -> None:
    created = api.ok(api.post("/contacts", {"email": "plain@example.com"}))
    assert created["address"] is None
    assert created["first_name"] is None and created["phone"] is None


def test_email_is_required_and_validated(api: Api) -> None:
    missing = error(api.post("/contacts", {"first_name": "No email"}), 422)
    assert missing["param"] == "email"
    assert missing["type"] == "invalid_request"
    for bad in ("not-an-email", "a@b", "two@@example.com", "space in@example.com", "x@.com"):
        body = error(api.post("/contacts", {"email": bad}), 422)
        assert body["param"] == "email", bad
    body = error(api.post("/contacts", {"email": 42}), 422)
    assert body["param"] == "email"


def test_country_must_be_an_uppercase_iso_code(api: Api) -> None:
    for bad in ("gb", "GBR", "XX", "EU", "G1"):
        body = error(
            api.post("/contacts", {"email": "c@example.com", "address": {"country": bad}}), 422
        )
        assert body["param"] == "address.country", bad
    ok = api.ok(api.post("/contacts", {"email": "nl@example.com", "address": {"country": "NL"}}))
    assert ok["address"]["country"] == "NL"


def test_unknown_fields_are_rejected_by_name(api: Api) -> None:
    body = error(api.post("/contacts", {"email": "u@example.com", "nickname": "Al"}), 422)
    assert body["param"] == "nickname"
    assert "nickname" in body["message"]
    body = error(
        api.post("/contacts", {"email": "u@example.com", "address": {"street": "Main St 1"}}), 422
    )
    assert body["param"] == "address.street"


def test_phone_is_validated(api: Api) -> None:
    body = error(api.post("/contacts", {"email": "p@example.com", "phone": "call me"}), 422)
    assert body["param"] == "phone"


def test_contact_language_is_one_of_the_document_languages(api: Api, session_factory: Any) -> None:
    created = api.ok(api.post("/contacts", {"email": "lang@example.com", "language": "de"}))
    assert created["language"] == "de"
    for bad in ("fr", "DE", "", 1):
        body = error(api.post("/contacts", {"email": "x@example.com", "language": bad}), 422)
        assert body["param"] == "language", bad
    body = error(api.patch(f"/contacts/{created['id']}", {"language": "sv"}), 422)
    assert body["param"] == "language"
    assert api.ok(api.get(f"/contacts/{created['id']}"))["language"] == "de"
    assert api.ok(api.patch(f"/contacts/{created['id']}", {"language": "nl"}))["language"] == "nl"
    cleared = api.ok(api.patch(f"/contacts/{created['id']}", {"language": None}))
    assert cleared["language"] is None
    with session_factory() as session:
        contact = session.get(Contact, created["id"])
        assert contact is not None and contact.language is None


def test_email_is_unique_per_account_ignoring_case(api: Api, other_api: Api) -> None:
    first = api.ok(api.post("/contacts", {"email": "dup@example.com"}))
    body = error(api.post("/contacts", {"email": "DUP@example.com"}), 409)
    assert body["type"] == "conflict"
    assert body["param"] == "email"
    assert first["id"] in body["message"]
    # Another account has its own contacts.
    api.ok(other_api.post("/contacts", {"email": "dup@example.com"}))


def test_patch_contact_changes_only_what_is_sent(api: Api) -> None:
    created = api.ok(api.post("/contacts", ADA))
    updated = api.ok(
        api.patch(
            f"/contacts/{created['id']}",
            {"first_name": "Augusta", "address": {"city": "Marylebone", "country": "GB"}},
        )
    )
    assert updated["first_name"] == "Augusta"
    assert updated["last_name"] == "Lovelace"
    assert updated["email"] == "ada.lovelace@example.com"
    # The address is replaced as a whole.
    assert updated["address"] == {
        "line1": None,
        "line2": None,
        "city": "Marylebone",
        "postal_code": None,
        "region": None,
        "country": "GB",
    }
    assert api.ok(api.get(f"/contacts/{created['id']}")) == updated

    cleared = api.ok(api.patch(f"/contacts/{created['id']}", {"address": None, "phone": None}))
    assert cleared["address"] is None and cleared["phone"] is None
    assert cleared["first_name"] == "Augusta"


def test_patch_contact_email_rules(api: Api) -> None:
    a = api.ok(api.post("/contacts", {"email": "a@example.com"}))
    api.ok(api.post("/contacts", {"email": "b@example.com"}))
    assert (
        error(api.patch(f"/contacts/{a['id']}", {"email": "B@example.com"}), 409)["param"]
        == "email"
    )
    assert error(api.patch(f"/contacts/{a['id']}", {"email": None}), 422)["param"] == "email"
    assert error(api.patch(f"/contacts/{a['id']}", {"email": "nope"}), 422)["param"] == "email"
    same = api.ok(api.patch(f"/contacts/{a['id']}", {"email": "A@Example.com"}))
    assert same["email"] == "a@example.com"
    moved = api.ok(api.patch(f"/contacts/{a['id']}", {"email": "c@example.com"}))
    assert moved["email"] == "c@example.com"
    assert error(api.patch(f"/contacts/{a['id']}", {"id": "cont_x"}), 422)["param"] == "id"


def test_list_contacts_filters_by_email(api: Api) -> None:
    wanted = api.ok(api.post("/contacts", {"email": "wanted@example.com"}))
    api.ok(api.post("/contacts", {"email": "other@example.com"}))
    page = api.ok(api.get("/contacts", {"email": "Wanted@Example.com"}))
    assert page["object"] == "list"
    assert [c["id"] for c in page["data"]] == [wanted["id"]]
    assert page["has_more"] is False and page["next_cursor"] is None
    assert api.ok(api.get("/contacts", {"email": "nobody@example.com"}))["data"] == []


def test_list_contacts_cursor_pagination(api: Api) -> None:
    ids = [api.ok(api.post("/contacts", {"email": f"p{i}@example.com"}))["id"] for i in range(3)]
    first = api.ok(api.get("/contacts", {"limit": 2}))
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]]  # newest first
    assert first["has_more"] is True
    assert first["next_cursor"]
    second = api.ok(api.get("/contacts", {"limit": 2, "cursor": first["next_cursor"]}))
    assert [c["id"] for c in second["data"]] == [ids[0]]
    assert second["has_more"] is False and second["next_cursor"] is None
    assert error(api.get("/contacts", {"limit": 0}), 422)["param"] == "limit"
    assert error(api.get("/contacts", {"cursor": "!!!"}), 422)["param"] == "cursor"


def test_other_accounts_cannot_see_or_change_a_contact(api: Api, other_api: Api) -> None:
    contact = api.ok(api.post("/contacts", {"email": "private@example.com"}))
    body = error(other_api.get(f"/contacts/{contact['id']}"), 404)
    assert body["type"] == "not_found"
    assert "private@example.com" not in body["message"]
    error(other_api.patch(f"/contacts/{contact['id']}", {"first_name": "Mallory"}), 404)
    assert other_api.ok(other_api.get("/contacts"))["data"] == []
    assert other_api.ok(other_api.get("/contacts", {"email": "private@example.com"}))["data"] == []
    assert api.ok(api.get(f"/contacts/{contact['id']}"))["first_name"] is None


def test_writes_need_the_edit_permission(api: Api, api_with_scopes: Callable[..., Api]) -> None:
    viewer = api_with_scopes("subscriptions.view")
    body = error(viewer.post("/contacts", {"email": "v@example.com"}), 403)
    assert body["type"] == "permission"
    contact = api.ok(api.post("/contacts", {"email": "v@example.com"}))
    assert viewer.ok(viewer.get(f"/contacts/{contact['id']}"))["id"] == contact["id"]
    error(viewer.patch(f"/contacts/{contact['id']}", {"first_name": "V"}), 403)
    editor = api_with_scopes("subscriptions.edit")
    assert (
        editor.ok(editor.patch(f"/contacts/{contact['id']}", {"first_name": "V"}))["first_name"]
        == "V"
    )


def test_no_key_is_401(api: Api) -> None:
    response = api.client.get("/api/v1/contacts")
    assert error(response, 401)["type"] == "authentication"


def test_contact_custom_properties(api: Api, session_factory: Any) -> None:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        properties_service.create_definition(
            session,
            account,
            "contacts",
            PropertyCreate(
                name="tier",
                label="Tier",
                field_type="select",
                options=[
                    {"value": "gold", "label": "Gold"},
                    {"value": "silver", "label": "Silver"},
                ],
            ),
            plan_limit=None,  # not enrolled in a plan
        )
        session.commit()

    created = api.ok(
        api.post("/contacts", {"email": "prop@example.com", "properties": {"tier": "gold"}})
    )
    assert created["properties"] == {"tier": "gold"}
    assert api.ok(api.get(f"/contacts/{created['id']}"))["properties"] == {"tier": "gold"}
    listed = api.ok(api.get("/contacts", {"email": "prop@example.com"}))["data"]
    assert listed[0]["properties"] == {"tier": "gold"}

    updated = api.ok(api.patch(f"/contacts/{created['id']}", {"properties": {"tier": "silver"}}))
    assert updated["properties"] == {"tier": "silver"}

    body = error(
        api.post("/contacts", {"email": "x@example.com", "properties": {"shoe_size": 44}}), 422
    )
    assert body["param"] == "properties.shoe_size"
    body = error(api.patch(f"/contacts/{created['id']}", {"properties": {"tier": "bronze"}}), 422)
    assert body["param"] == "properties.tier"
    # A failed request writes nothing.
    assert api.ok(api.get("/contacts", {"email": "x@example.com"}))["data"] == []
    assert api.ok(api.get(f"/contacts/{created['id']}"))["properties"] == {"tier": "silver"}
