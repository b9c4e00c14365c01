"""Custom property definitions through HTTP: /api/v1/properties/{object_type}[/{name}]."""

from __future__ import annotations

from typing import Any

import pytest

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.properties import service as properties
from cadency.properties.models import PropertyValue
from tests.conftest import Api

TIERS = [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}]


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def set_values(
    session_factory: Any, api: Api, object_type: str, object_id: str, values: Any
) -> None:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        properties.set_values(session, account, object_type, object_id, values, creating=False)
        session.commit()


@pytest.mark.parametrize(
    ("field_type", "extra"),
    [
        ("text", {"rules": {"min": 2, "max": 10, "pattern": "[A-Z]+"}}),
        ("textarea", {"rules": {"max": 500}}),
        ("number", {"rules": {"min": "0.5", "max": 100, "unique": True}}),
        ("date", {}),
        ("datetime", {"rules": {"unique": True}}),
        ("select", {"options": TIERS}),
        ("radio", {"options": TIERS}),
        ("checkboxes", {"options": TIERS}),
        ("boolean", {"rules": {"required": True}}),
    ],
)
def test_create_each_field_type(api: Api, field_type: str, extra: dict[str, Any]) -> None:
    body = {"name": f"my_{field_type}", "label": f"My {field_type}", "field_type": field_type}
    created = api.ok(api.post("/properties/subscriptions", {**body, **extra}))
    assert created["object"] == "property"
    assert created["object_type"] == "subscriptions"
    assert created["name"] == f"my_{field_type}"
    assert created["label"] == f"My {field_type}"
    assert created["field_type"] == field_type
    assert created["group"] == "subscription_information"
    assert created["description"] is None
    assert created["sensitive"] is False
    assert created["options"] == extra.get("options", [])
    expected_rules = {"required": False, "unique": False, "min": None, "max": None, "pattern": None}
    assert created["rules"] == {**expected_rules, **extra.get("rules", {})} | (
        {"min": 0.5} if field_type == "number" else {}
    )
    assert api.ok(api.get(f"/properties/subscriptions/my_{field_type}")) == created


def test_contacts_and_companies_have_their_own_properties(api: Api) -> None:
    body = {"name": "segment", "label": "Segment", "field_type": "text"}
    contact = api.ok(api.post("/properties/contacts", {**body, "group": "marketing"}))
    company = api.ok(api.post("/properties/companies", {**body, "description": "Who they are"}))
    assert contact["group"] == "marketing"
    assert company["group"] == "company_information"
    assert company["description"] == "Who they are"
    assert api.get("/properties/subscriptions/segment").status_code == 404
    listed = api.ok(api.get("/properties/contacts"))
    assert listed["object"] == "list"
    assert [p["name"] for p in listed["data"]] == ["segment"]


def test_list_pages_in_name_order(api: Api) -> None:
    for name in ("charlie", "alpha", "bravo"):
        api.ok(
            api.post("/properties/companies", {"name": name, "label": name, "field_type": "date"})
        )
    first = api.ok(api.get("/properties/companies", params={"limit": 2}))
    assert [p["name"] for p in first["data"]] == ["alpha", "bravo"]
    assert first["has_more"] is True
    second = api.ok(
        api.get("/properties/companies", params={"limit": 2, "cursor": first["next_cursor"]})
    )
    assert [p["name"] for p in second["data"]] == ["charlie"]
    assert second["has_more"] is False
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "Tier", "field_type": "text"}, "name"),
        ({"name": "1tier", "field_type": "text"}, "name"),
        ({"name": "tier-x", "field_type": "text"}, "name"),
        ({"name": "a" * 101, "field_type": "text"}, "name"),
        ({"name": "status", "field_type": "text"}, "name"),
        ({"name": "next_payment_date", "field_type": "date"}, "name"),
        ({"name": "properties", "field_type": "text"}, "name"),
        ({"name": "tier", "field_type": "color"}, "field_type"),
        ({"name": "tier", "field_type": "select"}, "options"),
        ({"name": "tier", "field_type": "checkboxes", "options": []}, "options"),
        ({"name": "tier", "field_type": "text", "options": TIERS}, "options"),
        ({"name": "tier", "field_type": "boolean", "options": TIERS}, "options"),
        (
            {"name": "tier", "field_type": "select", "options": [*TIERS, TIERS[0]]},
            "options.2.value",
        ),
        (
            {"name": "tier", "field_type": "select", "options": [{"value": "a;b", "label": "A"}]},
            "options.0.value",
        ),
        (
            {"name": "tier", "field_type": "select", "options": [{"value": "", "label": "A"}]},
            "options.0.value",
        ),
        ({"name": "tier", "field_type": "select", "options": [{"value": "a"}]}, "options.0.label"),
        ({"name": "tier", "field_type": "date", "rules": {"min": 1}}, "rules.min"),
        (
            {"name": "tier", "field_type": "select", "options": TIERS, "rules": {"max": 1}},
            "rules.max",
        ),
        ({"name": "tier", "field_type": "number", "rules": {"min": 5, "max": 1}}, "rules.max"),
        ({"name": "tier", "field_type": "number", "rules": {"min": True}}, "rules.min"),
        ({"name": "tier", "field_type": "number", "rules": {"min": "ten"}}, "rules.min"),
        ({"name": "tier", "field_type": "number", "rules": {"max": "1.12345678901"}}, "rules.max"),
        ({"name": "tier", "field_type": "text", "rules": {"min": -1}}, "rules.min"),
        ({"name": "tier", "field_type": "text", "rules": {"max": 2.5}}, "rules.max"),
        ({"name": "tier", "field_type": "number", "rules": {"pattern": "[0-9]+"}}, "rules.pattern"),
        ({"name": "tier", "field_type": "text", "rules": {"pattern": "([a-z"}}, "rules.pattern"),
        ({"name": "tier", "field_type": "boolean", "rules": {"unique": True}}, "rules.unique"),
        (
            {
                "name": "tier",
                "field_type": "checkboxes",
                "options": TIERS,
                "rules": {"unique": True},
            },
            "rules.unique",
        ),
        ({"name": "tier", "field_type": "text", "rules": {"required": 1}}, "rules.required"),
        ({"name": "tier", "field_type": "text", "rules": {"optional": True}}, "rules.optional"),
        ({"name": "tier", "field_type": "text", "colour": "red"}, "colour"),
        ({"name": "tier", "field_type": "text", "sensitive": "yes"}, "sensitive"),
    ],
)
def test_invalid_definitions_name_the_field(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.post("/properties/subscriptions", {"label": "Tier", **body})
    err = error(response, 422)
    assert err["type"] == "invalid_request"
    assert err["param"] == param, err


def test_missing_label_is_named(api: Api) -> None:
    err = error(api.post("/properties/contacts", {"name": "tier", "field_type": "text"}), 422)
    assert err["param"] == "label"


@pytest.mark.parametrize(
    ("object_type", "name"),
    [
        ("contacts", "email"),
        ("contacts", "first_name"),
        ("companies", "domain"),
        ("companies", "updated_at"),
    ],
)
def test_builtin_names_of_each_object_are_refused(api: Api, object_type: str, name: str) -> None:
    err = error(
        api.post(f"/properties/{object_type}", {"name": name, "label": "X", "field_type": "text"}),
        422,
    )
    assert err["param"] == "name"
    assert name in err["message"]


def test_builtin_names_cover_the_subscription_object() -> None:
    api_fields = [
        "id",
        "object",
        "name",
        "status",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "cancellation_reason",
        "contact_id",
        "company_id",
        "currency",
        "collection_method",
        "payment_terms",
        "payment_method_id",
        "billing_frequency",
        "billing_terms",
        "number_of_payments",
        "start_date",
        "end_date",
        "current_period_start",
        "current_period_end",
        "next_payment_date",
        "next_payment_amount",
        "last_payment_amount",
        "last_payment_status",
        "payments_completed",
        "total_collected",
        "mrr",
        "trial_end",
        "commitment_end",
        "paused_at",
        "resume_at",
        "invoice_creation",
        "line_items",
        "properties",
        "created_at",
        "updated_at",
    ]
    assert set(api_fields) <= properties.BUILTIN_NAMES["subscriptions"]


def test_duplicate_name_conflicts(api: Api, other_api: Api) -> None:
    body = {"name": "tier", "label": "Tier", "field_type": "select", "options": TIERS}
    api.ok(api.post("/properties/subscriptions", body))
    err = error(
        api.post("/properties/subscriptions", {**body, "field_type": "text", "options": []}), 409
    )
    assert err["type"] == "conflict"
    assert "tier" in err["message"]
    # Names are per object type and per account.
    api.ok(api.post("/properties/contacts", body))
    api.ok(other_api.post("/properties/subscriptions", body))


def test_unknown_object_type_is_not_found(api: Api) -> None:
    body = {"name": "tier", "label": "Tier", "field_type": "text"}
    for response in (
        api.get("/properties/invoices"),
        api.post("/properties/deals", body),
        api.get("/properties/products/tier"),
        api.patch("/properties/Subscriptions/tier", {"label": "X"}),
        api.delete("/properties/quotes/tier"),
    ):
        assert error(response, 404)["type"] == "not_found"


def test_other_accounts_property_is_not_found(api: Api, other_api: Api) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "tier", "label": "Tier", "field_type": "text"}
        )
    )
    assert error(other_api.get("/properties/subscriptions/tier"), 404)["type"] == "not_found"
    assert error(other_api.patch("/properties/subscriptions/tier", {"label": "Mine"}), 404)
    assert error(other_api.delete("/properties/subscriptions/tier"), 404)
    assert other_api.ok(other_api.get("/properties/subscriptions"))["data"] == []
    assert api.ok(api.get("/properties/subscriptions/tier"))["label"] == "Tier"


def test_writes_need_properties_edit(api: Api, session_factory: Any) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "tier", "label": "Tier", "field_type": "text"}
        )
    )
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        _, secret = account_service.create_api_key(
            session, account, name="viewer", scopes=["subscriptions.view"]
        )
        session.commit()
    viewer = Api(client=api.client, account_id=api.account_id, key=secret)
    body = {"name": "owner", "label": "Owner", "field_type": "text"}
    for response in (
        viewer.post("/properties/subscriptions", body),
        viewer.patch("/properties/subscriptions/tier", {"label": "Plan"}),
        viewer.delete("/properties/subscriptions/tier"),
    ):
        err = error(response, 403)
        assert err["type"] == "permission"
        assert "properties.edit" in err["message"]
    # Reading needs no particular permission.
    assert viewer.ok(viewer.get("/properties/subscriptions/tier"))["label"] == "Tier"
    assert [p["name"] for p in viewer.ok(viewer.get("/properties/subscriptions"))["data"]] == [
        "tier"
    ]


def test_no_key_is_unauthenticated(api: Api) -> None:
    response = api.client.get("/api/v1/properties/subscriptions")
    assert error(response, 401)["type"] == "authentication"


def test_update_changes_what_may_change(api: Api) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "seats",
                "label": "Seats",
                "field_type": "number",
                "rules": {"min": 1, "max": 50},
            },
        )
    )
    updated = api.ok(
        api.patch(
            "/properties/subscriptions/seats",
            {
                "label": "Licensed seats",
                "group": "licensing",
                "description": "Per contract",
                "sensitive": True,
            },
        )
    )
    assert updated["label"] == "Licensed seats"
    assert updated["group"] == "licensing"
    assert updated["description"] == "Per contract"
    assert updated["sensitive"] is True
    # Rules merge: only `max` changes.
    updated = api.ok(api.patch("/properties/subscriptions/seats", {"rules": {"max": "99.5"}}))
    assert updated["rules"] == {
        "required": False,
        "unique": False,
        "min": 1,
        "max": 99.5,
        "pattern": None,
    }
    updated = api.ok(
        api.patch("/properties/subscriptions/seats", {"rules": {"min": None, "required": True}})
    )
    assert updated["rules"]["min"] is None
    assert updated["rules"]["required"] is True
    updated = api.ok(api.patch("/properties/subscriptions/seats", {"description": None}))
    assert updated["description"] is None
    assert api.ok(api.get("/properties/subscriptions/seats")) == updated


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "other"}, "name"),
        ({"field_type": "text"}, "field_type"),
        ({"label": None}, "label"),
        ({"group": None}, "group"),
        ({"options": None}, "options"),
        ({"rules": None}, "rules"),
        ({"sensitive": None}, "sensitive"),
        ({"rules": {"min": 10}}, "rules.max"),
        ({"rules": {"pattern": "x"}}, "rules.pattern"),
        ({"options": [{"value": "a", "label": "A"}]}, "options"),
    ],
)
def test_invalid_updates_name_the_field(api: Api, body: dict[str, Any], param: str) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "seats", "label": "Seats", "field_type": "number", "rules": {"max": 5}},
        )
    )
    err = error(api.patch("/properties/subscriptions/seats", body), 422)
    assert err["param"] == param, err


def test_options_in_use_cannot_be_removed(api: Api, session_factory: Any) -> None:
    options = [*TIERS, {"value": "enterprise", "label": "Enterprise"}]
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "tier", "label": "Tier", "field_type": "radio", "options": options},
        )
    )
    set_values(session_factory, api, "subscriptions", "sub_in_use_1", {"tier": "pro"})
    err = error(api.patch("/properties/subscriptions/tier", {"options": TIERS[:1]}), 409)
    assert err["type"] == "conflict"
    assert "'pro'" in err["message"]
    # Relabelling, reordering, adding and removing unused options are fine.
    new_options = [
        {"value": "pro", "label": "Professional"},
        TIERS[0],
        {"value": "team", "label": "Team"},
    ]
    updated = api.ok(api.patch("/properties/subscriptions/tier", {"options": new_options}))
    assert updated["options"] == new_options


def test_checkbox_options_in_use_are_found_by_token(api: Api, session_factory: Any) -> None:
    options = [{"value": v, "label": v.upper()} for v in ("a", "ab", "b_c", "b%c")]
    api.ok(
        api.post(
            "/properties/contacts",
            {"name": "tags", "label": "Tags", "field_type": "checkboxes", "options": options},
        )
    )
    set_values(session_factory, api, "contacts", "cont_tags_1", {"tags": ["ab", "b_c"]})
    # "a" and "b%c" are unused even though they occur inside stored text.
    updated = api.ok(api.patch("/properties/contacts/tags", {"options": options[1:3]}))
    assert [o["value"] for o in updated["options"]] == ["ab", "b_c"]
    assert (
        error(api.patch("/properties/contacts/tags", {"options": options[1:2]}), 409)["param"]
        == "options"
    )
    assert (
        error(api.patch("/properties/contacts/tags", {"options": options[2:3]}), 409)["param"]
        == "options"
    )


def test_unique_cannot_be_switched_on_over_repeated_values(api: Api, session_factory: Any) -> None:
    api.ok(
        api.post(
            "/properties/companies", {"name": "vat_id", "label": "VAT ID", "field_type": "text"}
        )
    )
    set_values(session_factory, api, "companies", "comp_u1", {"vat_id": "NL001"})
    set_values(session_factory, api, "companies", "comp_u2", {"vat_id": "NL001"})
    err = error(api.patch("/properties/companies/vat_id", {"rules": {"unique": True}}), 409)
    assert err["param"] == "rules.unique"
    set_values(session_factory, api, "companies", "comp_u2", {"vat_id": "NL002"})
    assert api.ok(api.patch("/properties/companies/vat_id", {"rules": {"unique": True}}))["rules"][
        "unique"
    ]


def test_delete_removes_definition_and_values(api: Api, session_factory: Any) -> None:
    api.ok(
        api.post(
            "/properties/contacts", {"name": "score", "label": "Score", "field_type": "number"}
        )
    )
    api.ok(
        api.post("/properties/contacts", {"name": "kept", "label": "Kept", "field_type": "boolean"})
    )
    set_values(session_factory, api, "contacts", "cont_del_1", {"score": 5, "kept": False})
    deleted = api.ok(api.delete("/properties/contacts/score"))
    assert deleted == {
        "object": "property",
        "object_type": "contacts",
        "name": "score",
        "deleted": True,
    }
    assert error(api.get("/properties/contacts/score"), 404)["type"] == "not_found"
    assert error(api.delete("/properties/contacts/score"), 404)
    with session_factory() as session:
        names = (
            session.query(PropertyValue.name).filter(PropertyValue.object_id == "cont_del_1").all()
        )
        assert [n for (n,) in names] == ["kept"]
    # The name is free again, and starts with no values.
    api.ok(
        api.post("/properties/contacts", {"name": "score", "label": "Score", "field_type": "text"})
    )
    with session_factory() as session:
        assert properties.get_values(
            session, api.account_id, "contacts", ["cont_del_1"], view_sensitive=True
        ) == {"cont_del_1": {"kept": False}}


def test_limit_per_object_type(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(properties, "MAX_PROPERTIES_PER_OBJECT_TYPE", 2)
    for name in ("one", "two"):
        api.ok(
            api.post(
                "/properties/subscriptions", {"name": name, "label": name, "field_type": "text"}
            )
        )
    err = error(
        api.post(
            "/properties/subscriptions", {"name": "three", "label": "3", "field_type": "text"}
        ),
        409,
    )
    assert err["type"] == "conflict"
    assert "2" in err["message"]
    # Other object types count separately; existing properties stay editable.
    api.ok(api.post("/properties/contacts", {"name": "three", "label": "3", "field_type": "text"}))
    api.ok(api.patch("/properties/subscriptions/one", {"label": "One"}))
    api.ok(api.delete("/properties/subscriptions/two"))
    api.ok(
        api.post("/properties/subscriptions", {"name": "three", "label": "3", "field_type": "text"})
    )


def test_endpoints_are_in_the_openapi_document(api: Api) -> None:
    api.client.app.openapi_schema = None  # type: ignore[attr-defined]
    paths = api.client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/v1/properties/{object_type}"]) == {"get", "post"}
    assert set(paths["/api/v1/properties/{object_type}/{name}"]) == {"get", "patch", "delete"}
