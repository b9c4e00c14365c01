"""Contacts through /crm/v3/objects/contacts with HubSpot's official client: the same records
the REST API and the web app show."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from cadency.accounts.models import Account
from cadency.crm import associations
from tests.conftest import Api
from tests.hubspot.conftest import error_of
from tests.web.http import signed_in

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def create(hubspot: HubSpot, **properties: Any) -> Any:
    return hubspot.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties=properties)
    )


def test_create_read_update(hubspot: HubSpot, api: Api) -> None:
    created = create(
        hubspot, email="Ada@Example.com", firstname="Ada", lastname="Lovelace", phone="+44 20 1234"
    )
    assert created.id.startswith("cont_")
    assert created.archived is False
    props = created.properties
    assert props["email"] == "ada@example.com"  # stored in lower case, as by /api/v1
    assert props["firstname"] == "Ada"
    assert props["lastname"] == "Lovelace"
    assert props["phone"] == "+44 20 1234"
    assert props["hs_object_id"] == created.id
    assert TIMESTAMP.fullmatch(props["createdate"])
    assert TIMESTAMP.fullmatch(props["lastmodifieddate"])

    read = hubspot.crm.contacts.basic_api.get_by_id(created.id)
    # Without `properties`: HubSpot's defaults.
    assert set(read.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert read.properties["email"] == "ada@example.com"
    assert read.created_at == created.created_at

    chosen = hubspot.crm.contacts.basic_api.get_by_id(created.id, properties=["phone", "city"])
    assert chosen.properties["phone"] == "+44 20 1234"
    assert chosen.properties["city"] is None

    updated = hubspot.crm.contacts.basic_api.update(
        created.id,
        SimplePublicObjectInput(properties={"lastname": "King", "city": "London", "country": "GB"}),
    )
    assert updated.properties["lastname"] == "King"
    assert updated.properties["city"] == "London"
    # Address parts change one at a time: the rest of the address stays.
    again = hubspot.crm.contacts.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"zip": "NW1 6XE"})
    )
    assert again.properties["zip"] == "NW1 6XE"
    rest = api.ok(api.get(f"/contacts/{created.id}"))
    assert rest["last_name"] == "King"
    assert rest["address"]["city"] == "London"
    assert rest["address"]["country"] == "GB"
    assert rest["address"]["postal_code"] == "NW1 6XE"

    # An empty string clears a property, as in HubSpot.
    cleared = hubspot.crm.contacts.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"phone": ""})
    )
    assert cleared.properties["phone"] is None
    assert api.ok(api.get(f"/contacts/{created.id}"))["phone"] is None


def test_read_by_email(hubspot: HubSpot) -> None:
    created = create(hubspot, email="grace@example.com", firstname="Grace")
    found = hubspot.crm.contacts.basic_api.get_by_id("GRACE@example.com", id_property="email")
    assert found.id == created.id
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.get_by_id("nobody@example.com", id_property="email")
    assert caught.value.status == 404
    assert error_of(caught.value)["category"] == "OBJECT_NOT_FOUND"
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.get_by_id("Grace", id_property="firstname")
    assert caught.value.status == 400
    assert error_of(caught.value)["category"] == "VALIDATION_ERROR"
    # By email, a PATCH too.
    updated = hubspot.crm.contacts.basic_api.update(
        "grace@example.com",
        SimplePublicObjectInput(properties={"lastname": "Hopper"}),
        id_property="email",
    )
    assert updated.id == created.id
    assert updated.properties["lastname"] == "Hopper"


def test_custom_properties_by_their_names(hubspot: HubSpot, api: Api) -> None:
    for body in (
        {"name": "tier", "label": "Tier", "field_type": "select",
         "options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}]},
        {"name": "seats", "label": "Seats", "field_type": "number"},
        {"name": "vip", "label": "VIP", "field_type": "boolean"},
        {"name": "renews_on", "label": "Renews on", "field_type": "date"},
        {"name": "channels", "label": "Channels", "field_type": "checkboxes",
         "options": [{"value": "email", "label": "Email"}, {"value": "sms", "label": "SMS"}]},
    ):  # fmt: skip
        assert api.post("/properties/contacts", body).status_code == 200
    created = create(
        hubspot,
        email="linus@example.com",
        tier="pro",
        seats="12.5",
        vip="true",
        renews_on="2027-01-31",
        channels="sms;email",
    )
    props = created.properties
    assert props["tier"] == "pro"
    assert props["seats"] == "12.5"
    assert props["vip"] == "true"
    assert props["renews_on"] == "2027-01-31"
    assert props["channels"] == "email;sms"
    rest = api.ok(api.get(f"/contacts/{created.id}"))["properties"]
    assert rest == {
        "tier": "pro",
        "seats": 12.5,
        "vip": True,
        "renews_on": "2027-01-31",
        "channels": ["email", "sms"],
    }
    # The property's own rules apply, as through /api/v1 (a 422 there, HubSpot's 400 here).
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.update(
            created.id, SimplePublicObjectInput(properties={"tier": "gold"})
        )
    assert caught.value.status == 400
    body = error_of(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert "tier" in body["message"]
    assert body["errors"][0]["in"] == "tier"
    # Epoch milliseconds are dates too, as HubSpot writes them.
    updated = hubspot.crm.contacts.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"renews_on": "1801353600000", "vip": ""})
    )
    assert updated.properties["renews_on"] == "2027-01-31"
    assert updated.properties["vip"] is None


def test_same_record_as_the_rest_api_and_the_web_app(
    hubspot: HubSpot, api: Api, app: FastAPI, session_factory: Any
) -> None:
    through_hubspot = create(
        hubspot, email="ada@example.com", firstname="Ada", lastname="Lovelace", phone="+1 555 0100"
    )
    through_rest = api.ok(
        api.post(
            "/contacts",
            {
                "email": "alan@example.com",
                "first_name": "Alan",
                "last_name": "Turing",
                "phone": "+1 555 0100",
            },
        )
    )
    one = api.ok(api.get(f"/contacts/{through_hubspot.id}"))
    two = api.ok(api.get(f"/contacts/{through_rest['id']}"))
    assert set(one) == set(two)
    different = {"id", "email", "first_name", "last_name", "created_at", "updated_at"}
    assert {k: v for k, v in one.items() if k not in different} == {
        k: v for k, v in two.items() if k not in different
    }
    assert (one["email"], one["first_name"], one["last_name"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
    )
    # Both read back through HubSpot's surface in the same shape too.
    read = hubspot.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=through_rest["id"])], properties=["phone"]
        )
    )
    assert read.results[0].properties["phone"] == "+1 555 0100"

    user = signed_in(app, session_factory, api)
    page = user.client.get(f"/contacts/{through_hubspot.id}")
    assert page.status_code == 200
    assert "ada@example.com" in page.text
    assert "Lovelace" in page.text


def test_batch_create_read_update_upsert(hubspot: HubSpot, api: Api) -> None:
    batch = hubspot.crm.contacts.batch_api
    created = batch.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties={"email": f"b{i}@example.com", "firstname": f"B{i}"}
                )
                for i in range(3)
            ]
        )
    )
    assert created.status == "COMPLETE"
    ids = [r.id for r in created.results]
    assert len(ids) == 3
    assert {r.properties["email"] for r in created.results} == {
        "b0@example.com",
        "b1@example.com",
        "b2@example.com",
    }

    read = batch.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids], properties=["firstname"]
        )
    )
    assert {r.id: r.properties["firstname"] for r in read.results} == {
        ids[0]: "B0",
        ids[1]: "B1",
        ids[2]: "B2",
    }
    by_email = batch.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id="b1@example.com")], id_property="email"
        )
    )
    assert [r.id for r in by_email.results] == [ids[1]]

    updated = batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=i, properties={"lastname": "Batch"}) for i in ids
            ]
        )
    )
    assert {r.properties["lastname"] for r in updated.results} == {"Batch"}
    assert api.ok(api.get(f"/contacts/{ids[2]}"))["last_name"] == "Batch"

    upserted = batch.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="b0@example.com", id_property="email", properties={"firstname": "Zero"}
                ),
                SimplePublicObjectBatchInputUpsert(
                    id="new@example.com", id_property="email", properties={"firstname": "New"}
                ),
            ]
        )
    )
    outcome = {r.properties["email"]: (r.id, r.new) for r in upserted.results}
    assert outcome["b0@example.com"] == (ids[0], False)
    assert outcome["new@example.com"][1] is True
    assert api.ok(api.get(f"/contacts/{ids[0]}"))["first_name"] == "Zero"


def test_batch_is_all_or_nothing(hubspot: HubSpot, api: Api) -> None:
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    SimplePublicObjectBatchInputForCreate(properties={"email": "ok@example.com"}),
                    SimplePublicObjectBatchInputForCreate(properties={"email": "not an email"}),
                ]
            )
        )
    assert caught.value.status == 400
    body = error_of(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["in"] == "inputs.1.email"
    assert api.ok(api.get("/contacts", {"email": "ok@example.com"}))["data"] == []


def test_batch_read_reports_missing_ids(hubspot: HubSpot) -> None:
    created = create(hubspot, email="here@example.com")
    read = hubspot.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=created.id), SimplePublicObjectId(id="cont_missing")]
        )
    )
    assert [r.id for r in read.results] == [created.id]
    assert read.num_errors == 1
    assert read.errors[0].category == "OBJECT_NOT_FOUND"
    assert read.errors[0].context == {"ids": ["cont_missing"]}


def test_pages_through_everything_with_after(hubspot: HubSpot) -> None:
    batch = hubspot.crm.contacts.batch_api
    for start in (0, 100):
        batch.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    SimplePublicObjectBatchInputForCreate(properties={"email": f"p{i}@example.com"})
                    for i in range(start, min(start + 100, 125))
                ]
            )
        )
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = hubspot.crm.contacts.basic_api.get_page(limit=40, after=after, properties=["email"])
        pages += 1
        seen += [r.properties["email"] for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert pages == 4
    assert sorted(seen) == sorted(f"p{i}@example.com" for i in range(125))
    # The client's own helper pages the same way.
    assert len(hubspot.crm.contacts.get_all()) == 125
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.get_page(limit=101)
    assert caught.value.status == 400


def test_archived_or_active(hubspot: HubSpot, api: Api) -> None:
    # More on archiving in tests/hubspot/test_archive_and_deal_updates.py.
    created = create(hubspot, email="stays@example.com")
    assert hubspot.crm.contacts.basic_api.get_page(archived=True).results == []
    assert len(hubspot.crm.contacts.basic_api.get_page(archived=False).results) == 1
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.get_by_id(created.id, archived=True)
    assert caught.value.status == 404
    hubspot.crm.contacts.basic_api.archive(created.id)
    assert api.ok(api.get(f"/contacts/{created.id}"))["archived"] is True
    with pytest.raises(ApiException) as caught:
        hubspot.crm.contacts.basic_api.archive("cont_missing")
    assert caught.value.status == 404


def test_associated_companies(hubspot: HubSpot, api: Api, session_factory: Any) -> None:
    contact = create(hubspot, email="assoc@example.com")
    company = api.ok(api.post("/companies", {"name": "Analytical Engines"}))
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        associations.associate(session, account, "contact", contact.id, "company", company["id"])
        session.commit()
    read = hubspot.crm.contacts.basic_api.get_by_id(contact.id, associations=["companies"])
    assert [a.id for a in read.associations["companies"].results] == [company["id"]]
    page = hubspot.crm.contacts.basic_api.get_page(associations=["companies", "deals"])
    assert [a.id for a in page.results[0].associations["companies"].results] == [company["id"]]
