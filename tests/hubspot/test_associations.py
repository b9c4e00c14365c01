"""Associations v4 with HubSpot's official client: Cadency's links of a subscription with
contacts, companies and deals (the rows the subscription panel shows), read from both ends,
written with the default type and archived."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException
from hubspot.crm.associations.v4.schema import ApiException as SchemaApiException

from cadency.accounts.models import Account
from cadency.crm import service as crm
from cadency.crm.models import Deal
from tests.conftest import Api
from tests.hubspot.conftest import error_of


def ids(page: Any) -> list[str]:
    return [r.to_object_id for r in page.results]


def test_create_list_archive(hubspot: HubSpot, api: Api, records: dict[str, Any]) -> None:
    v4 = hubspot.crm.associations.v4.basic_api
    sub = records["sub"]
    assert v4.get_page("subscriptions", sub, "contacts").results == []

    created = v4.create_default("subscriptions", sub, "contacts", records["contact"])
    assert created.status == "COMPLETE"
    assert created.results[0]._from.id == sub
    assert created.results[0].to.id == records["contact"]
    spec = created.results[0].association_spec
    assert (spec.association_category, spec.association_type_id) == ("HUBSPOT_DEFINED", 1)
    # Again: nothing changes, as in HubSpot.
    v4.create_default("subscriptions", sub, "contacts", records["contact"])
    # From the other end, with type IDs and names mixed.
    v4.create_default("0-2", records["company"], "subscriptions", sub)
    v4.create_default("deals", records["deal"], "0-69", sub)

    page = v4.get_page("subscriptions", sub, "contacts")
    assert ids(page) == [records["contact"]]
    kinds = page.results[0].association_types
    assert [(k.category, k.type_id, k.label) for k in kinds] == [("HUBSPOT_DEFINED", 1, None)]
    assert ids(v4.get_page("0-69", sub, "companies")) == [records["company"]]
    assert ids(v4.get_page("contacts", records["contact"], "subscriptions")) == [sub]
    assert ids(v4.get_page("deals", records["deal"], "subscriptions")) == [sub]

    # The same links Cadency shows: the subscription's panel and the v3 `associations` read.
    read = hubspot.crm.objects.basic_api.get_by_id(
        "subscriptions", sub, associations=["contacts", "deals"]
    )
    assert [a.id for a in read.associations["contacts"].results] == [records["contact"]]
    assert [a.id for a in read.associations["deals"].results] == [records["deal"]]

    v4.archive("contacts", records["contact"], "subscriptions", sub)
    assert v4.get_page("subscriptions", sub, "contacts").results == []
    v4.archive("subscriptions", sub, "contacts", records["contact"])  # none left: no error
    assert ids(v4.get_page("subscriptions", sub, "deals")) == [records["deal"]]


def test_paging(hubspot: HubSpot, api: Api, records: dict[str, Any]) -> None:
    v4 = hubspot.crm.associations.v4.basic_api
    sub = records["sub"]
    more = [api.ok(api.post("/contacts", {"email": f"p{i}@example.com"}))["id"] for i in range(3)]
    for contact_id in more:
        v4.create_default("subscriptions", sub, "contacts", contact_id)
    first = v4.get_page("subscriptions", sub, "contacts", limit=2)
    assert ids(first) == more[:2]
    rest = v4.get_page("subscriptions", sub, "contacts", limit=2, after=first.paging.next.after)
    assert ids(rest) == more[2:]
    assert rest.paging is None


def test_labels(hubspot: HubSpot) -> None:
    definitions = hubspot.crm.associations.v4.schema.definitions_api
    contact = definitions.get_all("subscriptions", "contacts").results
    assert [(k.category, k.type_id, k.label) for k in contact] == [("HUBSPOT_DEFINED", 1, None)]
    deal = definitions.get_all("deals", "0-69").results
    assert [(k.category, k.type_id, k.label) for k in deal] == [
        ("HUBSPOT_DEFINED", 1, None),
        ("USER_DEFINED", 2, "Converted from"),
    ]
    invoice = definitions.get_all("invoices", "deals").results
    assert [k.type_id for k in invoice] == [2]  # written by a quote's conversion only
    with pytest.raises(SchemaApiException) as refused:
        definitions.get_all("contacts", "products")
    assert refused.value.status == 400


def test_refused(hubspot: HubSpot, api: Api, records: dict[str, Any]) -> None:
    v4 = hubspot.crm.associations.v4.basic_api
    sub = records["sub"]

    def status(call: Any, *args: Any) -> tuple[int, str]:
        with pytest.raises(ApiException) as caught:
            call(*args)
        return caught.value.status, error_of(caught.value)["category"]

    # Pairs Cadency does not link.
    assert status(v4.get_page, "contacts", records["contact"], "companies") == (
        400,
        "VALIDATION_ERROR",
    )
    assert (
        status(v4.create_default, "contacts", records["contact"], "deals", records["deal"])[0]
        == 400
    )
    assert status(v4.get_page, "subscriptions", sub, "tickets")[0] == 400
    # A conversion's links are read only.
    assert v4.get_page("deals", records["deal"], "invoices").results == []
    invoice = api.ok(api.get("/invoices"))["data"][0]["id"]
    assert status(v4.create_default, "deals", records["deal"], "invoices", invoice)[0] == 400
    assert status(v4.archive, "invoices", invoice, "deals", records["deal"])[0] == 400
    # Unknown records.
    assert status(v4.get_page, "subscriptions", "sub_nope", "contacts") == (
        404,
        "OBJECT_NOT_FOUND",
    )
    assert status(v4.create_default, "subscriptions", sub, "contacts", "cont_nope")[0] == 404
    assert status(v4.archive, "subscriptions", "sub_nope", "contacts", records["contact"])[0] == (
        404
    )


def test_an_archived_record_leaves_its_associations_until_restored(
    hubspot: HubSpot, api: Api, records: dict[str, Any], session_factory: Any
) -> None:
    v4 = hubspot.crm.associations.v4.basic_api
    sub = records["sub"]
    v4.create_default("subscriptions", sub, "deals", records["deal"])
    assert ids(v4.get_page("subscriptions", sub, "deals")) == [records["deal"]]

    hubspot.crm.deals.basic_api.archive(records["deal"])
    assert v4.get_page("subscriptions", sub, "deals").results == []
    batch = hubspot.crm.associations.v4.batch_api.get_page(
        "subscriptions", "deals", {"inputs": [{"id": sub}]}
    )
    assert [r.to for r in batch.results] in ([], [[]])

    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        crm.restore(session, account, Deal, records["deal"])
        session.commit()
    assert ids(v4.get_page("subscriptions", sub, "deals")) == [records["deal"]]
