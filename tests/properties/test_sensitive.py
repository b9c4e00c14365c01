"""The `sensitive` flag: values of such a property are masked for users and API keys without
`properties.view_sensitive`, everywhere values are shown, and they cannot filter or sort by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cadency.accounts.models import PERMISSIONS
from cadency.properties.service import SENSITIVE_MASK
from tests.conftest import Api
from tests.properties.pages import signed_in
from tests.subscriptions.helpers import subscription_body

VIEW = "properties.view_sensitive"
TAX_ID = "NL123456789B01"


def define(api: Api, object_type: str, name: str, field_type: str, sensitive: bool) -> None:
    body = {"name": name, "label": name.title(), "field_type": field_type, "sensitive": sensitive}
    api.ok(api.post(f"/properties/{object_type}", body))


@pytest.fixture
def subscription(api: Api) -> dict[str, Any]:
    define(api, "subscriptions", "tax_id", "text", True)
    define(api, "subscriptions", "seats", "number", True)
    define(api, "subscriptions", "tier", "text", False)
    body = subscription_body(api, properties={"tax_id": TAX_ID, "seats": 7, "tier": "gold"})
    created: dict[str, Any] = api.ok(api.post("/subscriptions", body))
    return created


def test_the_permission_exists_and_super_admin_keys_see_values(
    api: Api, subscription: dict[str, Any]
) -> None:
    assert VIEW in PERMISSIONS
    assert subscription["properties"] == {"tax_id": TAX_ID, "seats": 7, "tier": "gold"}
    shown = api.ok(api.get(f"/subscriptions/{subscription['id']}"))
    assert shown["properties"]["tax_id"] == TAX_ID


def test_keys_without_the_permission_read_the_mask(
    api_with_scopes: Callable[..., Api], subscription: dict[str, Any]
) -> None:
    masked = {"tax_id": SENSITIVE_MASK, "seats": SENSITIVE_MASK, "tier": "gold"}
    viewer = api_with_scopes("subscriptions.view")
    assert viewer.ok(viewer.get(f"/subscriptions/{subscription['id']}"))["properties"] == masked
    listed = viewer.ok(viewer.get("/subscriptions"))["data"]
    assert [s["properties"] for s in listed] == [masked]
    found = viewer.ok(viewer.post("/subscriptions/search", {"filter_groups": []}))["data"]
    assert [s["properties"] for s in found] == [masked]
    assert TAX_ID not in viewer.get("/subscriptions").text

    allowed = api_with_scopes("subscriptions.view", VIEW)
    shown = allowed.ok(allowed.get(f"/subscriptions/{subscription['id']}"))
    assert shown["properties"]["tax_id"] == TAX_ID


def test_writing_is_allowed_but_the_answer_masks_and_the_mask_is_not_a_value(
    api: Api, api_with_scopes: Callable[..., Api], subscription: dict[str, Any]
) -> None:
    editor = api_with_scopes("subscriptions.view", "subscriptions.edit")
    path = f"/subscriptions/{subscription['id']}"
    changed = editor.ok(editor.patch(path, {"properties": {"tax_id": "DE999999999"}}))
    assert changed["properties"]["tax_id"] == SENSITIVE_MASK
    assert api.ok(api.get(path))["properties"]["tax_id"] == "DE999999999"
    # Sending back what was read would overwrite the value with its mask.
    refused = editor.patch(path, {"properties": {"tax_id": SENSITIVE_MASK}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["param"] == "properties.tax_id"
    assert api.ok(api.get(path))["properties"]["tax_id"] == "DE999999999"


@pytest.mark.parametrize(
    "search",
    [
        {"filter_groups": [{"filters": [{"property": "tax_id", "operator": "eq", "value": "x"}]}]},
        {
            "filter_groups": [
                {"filters": [{"property": "properties.seats", "operator": "gt", "value": 5}]}
            ]
        },
        {"filter_groups": [{"filters": [{"property": "tax_id", "operator": "has_property"}]}]},
        {"sorts": [{"property": "properties.tax_id", "direction": "asc"}]},
    ],
)
def test_keys_without_the_permission_cannot_filter_or_sort_by_a_sensitive_property(
    api: Api,
    api_with_scopes: Callable[..., Api],
    subscription: dict[str, Any],
    search: dict[str, Any],
) -> None:
    viewer = api_with_scopes("subscriptions.view")
    refused = viewer.post("/subscriptions/search", search)
    assert refused.status_code == 403, refused.text
    assert VIEW in refused.json()["error"]["message"]
    assert api.ok(api.post("/subscriptions/search", search))["total"] in (0, 1)
    # Other properties filter as before.
    tier = {
        "filter_groups": [{"filters": [{"property": "tier", "operator": "eq", "value": "gold"}]}]
    }
    assert viewer.ok(viewer.post("/subscriptions/search", tier))["total"] == 1


def test_contacts_and_companies_mask_too(api: Api, api_with_scopes: Callable[..., Api]) -> None:
    define(api, "contacts", "passport", "text", True)
    define(api, "companies", "vat_number", "text", True)
    contact = api.ok(
        api.post("/contacts", {"email": "a@example.com", "properties": {"passport": "X1"}})
    )
    company = api.ok(api.post("/companies", {"name": "Acme", "properties": {"vat_number": "V1"}}))
    viewer = api_with_scopes("subscriptions.view")
    assert viewer.ok(viewer.get(f"/contacts/{contact['id']}"))["properties"] == {
        "passport": SENSITIVE_MASK
    }
    assert viewer.ok(viewer.get("/contacts"))["data"][0]["properties"] == {
        "passport": SENSITIVE_MASK
    }
    assert viewer.ok(viewer.get(f"/companies/{company['id']}"))["properties"] == {
        "vat_number": SENSITIVE_MASK
    }
    assert viewer.ok(viewer.get("/companies"))["data"][0]["properties"] == {
        "vat_number": SENSITIVE_MASK
    }
    assert api.ok(api.get(f"/contacts/{contact['id']}"))["properties"] == {"passport": "X1"}


def test_pages_mask_the_value_and_keep_it_on_save(
    api: Api, session_factory: Any, subscription: dict[str, Any]
) -> None:
    sub_id = subscription["id"]
    contact_id = subscription["contact_id"]
    define(api, "contacts", "passport", "text", True)
    api.ok(api.patch(f"/contacts/{contact_id}", {"properties": {"passport": "P-4711"}}))
    permissions = ["subscriptions.view", "subscriptions.edit"]
    with signed_in(api, session_factory, "clerk@example.com", permissions) as (client, csrf):
        record = client.get(f"/subscriptions/{sub_id}")
        assert record.status_code == 200
        assert TAX_ID not in record.text
        assert SENSITIVE_MASK in record.text
        assert "gold" in record.text
        group = {"group": "subscription_information", "mode": "edit"}
        form = client.get(f"/subscriptions/{sub_id}/properties", params=group)
        assert form.status_code == 200, form.text
        assert 'name="properties.tax_id"' not in form.text
        assert 'name="properties.tier"' in form.text
        assert TAX_ID not in form.text and SENSITIVE_MASK in form.text
        saved = client.post(
            f"/subscriptions/{sub_id}/properties",
            data={
                "csrf_token": csrf,
                "group": "subscription_information",
                "properties.tier.present": "1",
                "properties.tier": "silver",
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text

        index = client.get(
            "/subscriptions", params=[("columns", "name"), ("columns", "properties.tax_id")]
        )
        assert index.status_code == 200, index.text
        assert TAX_ID not in index.text and SENSITIVE_MASK in index.text
        # The masked column offers no sort link, and a crafted one is refused.
        assert "sort=properties.tax_id" not in index.text
        sorted_by = client.get("/subscriptions", params={"sort": "properties.tax_id"})
        assert sorted_by.status_code == 403
        assert VIEW in sorted_by.text
        filtered = client.get(
            "/subscriptions",
            params={
                "advanced": "1",
                "filter_groups.0.filters.0.property": "properties.tax_id",
                "filter_groups.0.filters.0.operator": "eq",
                "filter_groups.0.filters.0.value": TAX_ID,
            },
        )
        assert filtered.status_code == 403
        assert VIEW in filtered.text

        contact_page = client.get(f"/contacts/{contact_id}")
        assert "P-4711" not in contact_page.text
        assert SENSITIVE_MASK in contact_page.text
        # The edit form shows the mask without an input, so saving keeps the value.
        assert 'name="properties.passport"' not in contact_page.text
        saved = client.post(
            f"/contacts/{contact_id}/properties", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert saved.status_code in (200, 303), saved.text
        # A form refused for another property still shows the sensitive one masked, no input.
        define(api, "contacts", "shoe_size", "number", False)
        refused = client.post(
            f"/contacts/{contact_id}/properties",
            data={"csrf_token": csrf, "properties.shoe_size": "big"},
        )
        assert refused.status_code == 422, refused.text
        assert 'name="properties.passport"' not in refused.text
        assert SENSITIVE_MASK in refused.text and 'value="big"' in refused.text
    assert api.ok(api.get(f"/contacts/{contact_id}"))["properties"] == {"passport": "P-4711"}
    kept = api.ok(api.get(f"/subscriptions/{sub_id}"))["properties"]
    assert kept == {"tax_id": TAX_ID, "seats": 7, "tier": "silver"}

    with signed_in(api, session_factory, "boss@example.com", ["subscriptions.view", VIEW]) as (
        client,
        _,
    ):
        record = client.get(f"/subscriptions/{sub_id}")
        assert TAX_ID in record.text


def test_the_users_page_offers_the_permission_with_a_translated_label(
    api: Api, session_factory: Any
) -> None:
    with signed_in(api, session_factory, "admin@example.com", ["super_admin"]) as (client, _):
        english = client.get("/settings/users/new")
        assert english.status_code == 200, english.text
        assert "View sensitive properties" in english.text
        assert VIEW in english.text
        dutch = client.get("/settings/users/new", headers={"accept-language": "nl"})
        assert "Gevoelige eigenschappen bekijken" in dutch.text
