"""Associations v4 batch API and labelled create with HubSpot's official client: the same links
of a subscription as tests/hubspot/test_associations.py, many at once."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    ApiException,
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiArchive,
    PublicAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId,
)

from tests.conftest import Api
from tests.hubspot.conftest import error_of
from tests.subscriptions.helpers import create_subscription

DEFAULT = AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)
CONVERTED = AssociationSpec(association_category="USER_DEFINED", association_type_id=2)


def post(from_id: str, to_id: str, *types: AssociationSpec) -> PublicAssociationMultiPost:
    return PublicAssociationMultiPost(
        _from=PublicObjectId(id=from_id), to=PublicObjectId(id=to_id), types=list(types)
    )


def read(hubspot: HubSpot, from_type: str, to_type: str, *ids: str) -> Any:
    return hubspot.crm.associations.v4.batch_api.get_page(
        from_type,
        to_type,
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
        ),
    )


def linked(answer: Any) -> dict[str, list[str]]:
    return {r._from.id: [t.to_object_id for t in r.to] for r in answer.results}


def test_labelled_create(hubspot: HubSpot, records: dict[str, Any]) -> None:
    v4 = hubspot.crm.associations.v4.basic_api
    sub = records["sub"]
    made = v4.create("subscriptions", sub, "contacts", records["contact"], [DEFAULT])
    assert (made.from_object_type_id, made.from_object_id) == ("0-69", sub)
    assert (made.to_object_type_id, made.to_object_id) == ("0-1", records["contact"])
    assert made.labels == []
    # Again, and from the other end: one link, as in HubSpot.
    v4.create("contacts", records["contact"], "subscriptions", sub, [DEFAULT])
    page = v4.get_page("subscriptions", sub, "contacts")
    assert [r.to_object_id for r in page.results] == [records["contact"]]
    assert [(k.category, k.type_id) for k in page.results[0].association_types] == [
        ("HUBSPOT_DEFINED", 1)
    ]
    v4.create("deals", records["deal"], "subscriptions", sub, [DEFAULT])
    assert [r.to_object_id for r in v4.get_page("deals", records["deal"], "0-69").results] == [sub]


def test_labelled_create_refused(
    hubspot: HubSpot,
    api: Api,
    records: dict[str, Any],
) -> None:
    v4 = hubspot.crm.associations.v4.basic_api
    sub = records["sub"]

    def refused(*args: Any) -> tuple[int, str, str]:
        with pytest.raises(ApiException) as caught:
            v4.create(*args)
        body = error_of(caught.value)
        return caught.value.status, body["category"], body["message"]

    # A type the labels endpoint does not list for the pair.
    other = AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)
    status, category, message = refused(
        "subscriptions", sub, "contacts", records["contact"], [other]
    )
    assert (status, category) == (400, "VALIDATION_ERROR")
    assert "279" in message and "labels" in message
    # "Converted from" is listed for subscriptions and deals, but only a conversion writes it.
    status, _, message = refused("subscriptions", sub, "deals", records["deal"], [CONVERTED])
    assert status == 400 and "conversion" in message
    # Pairs Cadency does not link, or links by a conversion only.
    assert refused("contacts", records["contact"], "deals", records["deal"], [DEFAULT])[0] == 400
    invoice = api.ok(api.get("/invoices"))["data"][0]["id"]
    assert refused("invoices", invoice, "deals", records["deal"], [CONVERTED])[0] == 400
    # Unknown records; an empty list of types.
    assert refused("subscriptions", sub, "contacts", "cont_nope", [DEFAULT])[0] == 404
    assert refused("subscriptions", sub, "contacts", records["contact"], [])[0] == 400
    # Nothing was written.
    assert v4.get_page("subscriptions", sub, "contacts").results == []
    assert v4.get_page("subscriptions", sub, "deals").results == []


def test_batch_create_read_archive(
    hubspot: HubSpot,
    api: Api,
    records: dict[str, Any],
) -> None:
    batch = hubspot.crm.associations.v4.batch_api
    sub = records["sub"]
    second = create_subscription(api, name="Tea monthly", email="tea@example.com")["id"]
    more = api.ok(api.post("/contacts", {"email": "more@example.com"}))["id"]

    created = batch.create(
        "subscriptions",
        "contacts",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                post(sub, records["contact"], DEFAULT),
                post(sub, more, DEFAULT),
                post(second, more, DEFAULT),
                post(sub, more, DEFAULT),  # the same link again: still one link
            ]
        ),
    )
    assert created.status == "COMPLETE"
    assert [(r.from_object_id, r.to_object_id) for r in created.results] == [
        (sub, records["contact"]),
        (sub, more),
        (second, more),
        (sub, more),
    ]
    assert {r.to_object_type_id for r in created.results} == {"0-1"}

    answer = read(hubspot, "subscriptions", "contacts", sub, second)
    assert answer.status == "COMPLETE"
    assert linked(answer) == {sub: [records["contact"], more], second: [more]}
    kinds = answer.results[0].to[0].association_types
    assert [(k.category, k.type_id, k.label) for k in kinds] == [("HUBSPOT_DEFINED", 1, None)]
    # From the other end, by type ID.
    assert linked(read(hubspot, "0-1", "0-69", more)) == {more: [sub, second]}

    batch.archive(
        "contacts",
        "subscriptions",
        BatchInputPublicAssociationMultiArchive(
            inputs=[
                PublicAssociationMultiArchive(
                    _from=PublicObjectId(id=more),
                    to=[PublicObjectId(id=sub), PublicObjectId(id=second)],
                )
            ]
        ),
    )
    assert linked(read(hubspot, "subscriptions", "contacts", sub, second)) == {
        sub: [records["contact"]],
        second: [],
    }


def test_batch_errors(hubspot: HubSpot, api: Api, records: dict[str, Any]) -> None:
    batch = hubspot.crm.associations.v4.batch_api
    sub = records["sub"]

    # Some inputs fail: the others are written, and the answer (207) names the failures.
    body, status, _ = batch.create_with_http_info(
        "subscriptions",
        "contacts",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                post(sub, records["contact"], DEFAULT),
                post(sub, "cont_nope", DEFAULT),
                post(sub, records["contact"], CONVERTED),
            ]
        ),
    )
    assert status == 207
    assert [r.to_object_id for r in body.results] == [records["contact"]]
    assert [(e.category, e.context) for e in body.errors] == [
        ("OBJECT_NOT_FOUND", {"ids": [sub, "cont_nope"]}),
        ("VALIDATION_ERROR", {"ids": [sub, records["contact"]]}),
    ]
    assert body.num_errors == 2

    # Batch read: a record not found is an error of the answer.
    answer = read(hubspot, "subscriptions", "contacts", sub, "sub_nope")
    assert linked(answer) == {sub: [records["contact"]]}
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["sub_nope"]}

    # A pair Cadency does not link, or only a conversion links: the whole request is refused.
    def refused(call: Any, *args: Any) -> int:
        with pytest.raises(ApiException) as caught:
            call(*args)
        assert error_of(caught.value)["category"] == "VALIDATION_ERROR"
        return int(caught.value.status)

    pair = BatchInputPublicAssociationMultiPost(
        inputs=[post(records["contact"], records["deal"], DEFAULT)]
    )
    assert refused(batch.create, "contacts", "deals", pair) == 400
    assert refused(read, hubspot, "contacts", "companies", records["contact"]) == 400
    invoice = api.ok(api.get("/invoices"))["data"][0]["id"]
    archive = BatchInputPublicAssociationMultiArchive(
        inputs=[
            PublicAssociationMultiArchive(
                _from=PublicObjectId(id=invoice), to=[PublicObjectId(id=records["deal"])]
            )
        ]
    )
    assert refused(batch.archive, "invoices", "deals", archive) == 400

    # Archive: an unknown record fails the request before anything is removed.
    archive = BatchInputPublicAssociationMultiArchive(
        inputs=[
            PublicAssociationMultiArchive(
                _from=PublicObjectId(id=sub),
                to=[PublicObjectId(id=records["contact"]), PublicObjectId(id="cont_nope")],
            )
        ]
    )
    with pytest.raises(ApiException) as caught:
        batch.archive("subscriptions", "contacts", archive)
    assert caught.value.status == 404
    assert linked(read(hubspot, "subscriptions", "contacts", sub)) == {sub: [records["contact"]]}
