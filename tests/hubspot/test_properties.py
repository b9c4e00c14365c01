"""/crm/v3/properties/{type} with HubSpot's official client: built-in properties as HubSpot
defines them, custom properties as Cadency's own definitions (the same as /api/v1/properties)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.properties import ApiException, OptionInput, PropertyCreate, PropertyUpdate

from tests.conftest import Api
from tests.hubspot.conftest import error_of


def dropdown(name: str = "tier", **extra: object) -> PropertyCreate:
    return PropertyCreate(
        name=name,
        label="Tier",
        type="enumeration",
        field_type="select",
        group_name="contactinformation",
        description="Plan tier",
        options=[
            OptionInput(label="Basic", value="basic", display_order=0, hidden=False),
            OptionInput(label="Pro", value="pro", display_order=1, hidden=False),
        ],
        **extra,
    )


def test_built_in_properties(hubspot: HubSpot) -> None:
    core = hubspot.crm.properties.core_api
    found = {p.name: p for p in core.get_all("contacts").results}
    assert {"email", "firstname", "lastname", "hs_object_id", "createdate", "city"} <= set(found)
    email = found["email"]
    assert (email.type, email.field_type, email.label) == ("string", "text", "Email")
    assert email.group_name == "contactinformation"
    assert email.hubspot_defined is True
    assert email.modification_metadata.read_only_definition is True
    assert email.modification_metadata.read_only_value is False
    created = found["createdate"]
    assert (created.type, created.field_type) == ("datetime", "date")
    assert created.modification_metadata.read_only_value is True
    language = core.get_by_name("0-1", "hs_language")
    assert language.type == "enumeration"
    assert [o.value for o in language.options] == ["en", "nl", "da", "de"]

    companies = {p.name for p in core.get_all("companies").results}
    assert {"name", "domain", "hs_object_id"} <= companies
    assert "email" not in companies
    groups = hubspot.crm.properties.groups_api.get_all("companies").results
    assert [g.name for g in groups] == ["companyinformation"]

    assert core.get_all("contacts", archived=True).results == []
    with pytest.raises(ApiException) as caught:
        core.get_by_name("contacts", "nope")
    assert caught.value.status == 404
    assert error_of(caught.value)["category"] == "OBJECT_NOT_FOUND"


def test_custom_dropdown_lifecycle(hubspot: HubSpot, api: Api) -> None:
    core = hubspot.crm.properties.core_api
    created = core.create("contacts", dropdown())
    assert created.name == "tier"
    assert (created.type, created.field_type) == ("enumeration", "select")
    assert created.group_name == "contactinformation"
    assert [(o.value, o.label) for o in created.options] == [("basic", "Basic"), ("pro", "Pro")]
    assert created.modification_metadata.archivable is True
    assert created.created_at is not None

    # The same definition /api/v1 shows, in Cadency's default group.
    rest = api.ok(api.get("/properties/contacts/tier"))
    assert rest["field_type"] == "select"
    assert rest["group"] == "contact_information"
    assert rest["description"] == "Plan tier"
    assert rest["options"] == [
        {"value": "basic", "label": "Basic"},
        {"value": "pro", "label": "Pro"},
    ]
    assert "tier" in {p.name for p in core.get_all("contacts").results}
    assert core.get_by_name("contacts", "tier").label == "Tier"

    # Writable and readable on a contact, through both APIs.
    contact = hubspot.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "ada@example.com", "tier": "pro"})
    )
    assert contact.properties["tier"] == "pro"
    assert api.ok(api.get(f"/contacts/{contact.id}"))["properties"]["tier"] == "pro"

    updated = core.update(
        "contacts",
        "tier",
        PropertyUpdate(
            label="Plan tier",
            description="",
            options=[
                OptionInput(label="Basic", value="basic", display_order=0, hidden=False),
                OptionInput(label="Professional", value="pro", display_order=1, hidden=False),
                OptionInput(label="Gold", value="gold", display_order=2, hidden=False),
            ],
        ),
    )
    assert updated.label == "Plan tier"
    assert updated.description == ""
    assert [o.value for o in updated.options] == ["basic", "pro", "gold"]
    read = hubspot.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"tier": "gold"})
    )
    assert read.properties["tier"] == "gold"
    # An option a record uses stays, as the properties service rules (409 CONFLICT).
    with pytest.raises(ApiException) as caught:
        core.update(
            "contacts",
            "tier",
            PropertyUpdate(options=[OptionInput(label="Basic", value="basic", hidden=False)]),
        )
    assert caught.value.status == 409
    # The type does not change.
    with pytest.raises(ApiException) as caught:
        core.update("contacts", "tier", PropertyUpdate(type="string", field_type="text"))
    assert caught.value.status == 400
    assert error_of(caught.value)["category"] == "VALIDATION_ERROR"

    core.archive("contacts", "tier")
    assert api.get("/properties/contacts/tier").status_code == 404
    with pytest.raises(ApiException) as caught:
        core.get_by_name("contacts", "tier")
    assert caught.value.status == 404
    assert "tier" not in api.ok(api.get(f"/contacts/{contact.id}"))["properties"]


@pytest.mark.parametrize(
    ("type_", "field_type", "cadency", "value", "shown"),
    [
        ("string", "text", "text", "gold", "gold"),
        ("string", "textarea", "textarea", "line one\nline two", "line one\nline two"),
        ("number", "number", "number", "12.50", "12.5"),
        ("date", "date", "date", "2027-01-31", "2027-01-31"),
        ("datetime", "date", "datetime", "2027-01-31T10:00:00Z", "2027-01-31T10:00:00.000Z"),
        ("enumeration", "checkbox", "checkboxes", "b;a", "a;b"),
        ("enumeration", "radio", "radio", "a", "a"),
        ("bool", "booleancheckbox", "boolean", "true", "true"),
    ],
)
def test_type_pairs(
    hubspot: HubSpot,
    api: Api,
    type_: str,
    field_type: str,
    cadency: str,
    value: str,
    shown: str,
) -> None:
    options = (
        [OptionInput(label="A", value="a", hidden=False), OptionInput(label="B", value="b")]
        if type_ == "enumeration"
        else []
    )
    created = hubspot.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="extra",
            label="Extra",
            type=type_,
            field_type=field_type,
            group_name="companyinformation",
            options=options,
        ),
    )
    assert (created.type, created.field_type) == (type_, field_type)
    assert api.ok(api.get("/properties/companies/extra"))["field_type"] == cadency
    company = hubspot.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Acme", "extra": value})
    )
    assert company.properties["extra"] == shown


def test_refused(hubspot: HubSpot, hubspot_with_scopes: Callable[..., HubSpot]) -> None:
    core = hubspot.crm.properties.core_api
    for body in (
        dropdown("firstname"),  # HubSpot's built-in name
        dropdown("first_name"),  # Cadency's own field
        PropertyCreate(
            name="photo", label="Photo", type="string", field_type="file", group_name="x"
        ),
        PropertyCreate(name="n", label="N", type="number", field_type="text", group_name="x"),
        dropdown("Bad Name"),
        PropertyCreate(  # a dropdown without options
            name="tier", label="Tier", type="enumeration", field_type="select", group_name="x"
        ),
    ):
        with pytest.raises(ApiException) as caught:
            core.create("contacts", body)
        assert caught.value.status == 400, body
        assert error_of(caught.value)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as caught:
        core.update("contacts", "email", PropertyUpdate(label="Mail"))
    assert caught.value.status == 400
    with pytest.raises(ApiException) as caught:
        core.archive("contacts", "email")
    assert caught.value.status == 400
    with pytest.raises(ApiException) as caught:
        core.get_all("tickets")
    assert caught.value.status == 400

    core.create("contacts", dropdown())
    with pytest.raises(ApiException) as caught:
        core.create("contacts", dropdown())
    assert caught.value.status == 409
    assert error_of(caught.value)["category"] == "CONFLICT"

    # Reading takes any key; changing needs properties.edit, as for /api/v1/properties.
    reader = hubspot_with_scopes("subscriptions.view").crm.properties.core_api
    assert reader.get_by_name("contacts", "tier").name == "tier"
    with pytest.raises(ApiException) as caught:
        reader.create("contacts", dropdown("other"))
    assert caught.value.status == 403
    assert error_of(caught.value)["category"] == "MISSING_SCOPES"
    with pytest.raises(ApiException) as caught:
        reader.archive("contacts", "tier")
    assert caught.value.status == 403
    editor = hubspot_with_scopes("properties.edit").crm.properties.core_api
    editor.archive("contacts", "tier")


def test_groups(hubspot: HubSpot, api: Api) -> None:
    hubspot.crm.properties.core_api.create("contacts", dropdown())
    hubspot.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="score", label="Score", type="number", field_type="number", group_name="scoring"
        ),
    )
    groups = hubspot.crm.properties.groups_api.get_all("contacts").results
    assert [(g.name, g.display_order) for g in groups] == [
        ("contactinformation", 0),
        ("scoring", 1),
    ]
    assert api.ok(api.get("/properties/contacts/score"))["group"] == "scoring"
    assert hubspot.crm.properties.core_api.get_by_name("contacts", "score").group_name == "scoring"
