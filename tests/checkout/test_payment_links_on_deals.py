"""Payment links associated with deals (`deal_id`): validated on create and update, and a
checkout through such a link associates the subscriptions it makes with the deal (as HubSpot
does for recurring payments through a link of a deal)."""

from __future__ import annotations

from typing import Any

from cadency.crm import associations
from tests.checkout.builders import catalog, checkout, error, link, row_counts
from tests.conftest import Api
from tests.crm.test_archive import archive


def _deal(api: Api, name: str = "Office coffee") -> dict[str, Any]:
    created: dict[str, Any] = api.ok(api.post("/deals", {"name": name}))
    return created


def test_a_link_is_created_with_a_deal_and_the_deal_can_change(api: Api) -> None:
    products = catalog(api)
    deal, other = _deal(api), _deal(api, "Second office")
    created = link(api, [{"product_id": products["monthly"]["id"]}], deal_id=deal["id"])
    assert created["deal_id"] == deal["id"]
    assert api.ok(api.get(f"/payment-links/{created['id']}"))["deal_id"] == deal["id"]

    moved = api.ok(api.patch(f"/payment-links/{created['id']}", {"deal_id": other["id"]}))
    assert moved["deal_id"] == other["id"]
    # Renaming leaves the deal as it is; null removes it.
    renamed = api.ok(api.patch(f"/payment-links/{created['id']}", {"name": "Coffee, again"}))
    assert renamed["deal_id"] == other["id"]
    cleared = api.ok(api.patch(f"/payment-links/{created['id']}", {"deal_id": None}))
    assert cleared["deal_id"] is None
    plain = link(api, [{"product_id": products["monthly"]["id"]}])
    assert plain["deal_id"] is None


def test_an_unknown_another_accounts_or_archived_deal_is_refused(
    api: Api, other_api: Api, session_factory: Any
) -> None:
    products = catalog(api)
    items = [{"product_id": products["monthly"]["id"]}]
    theirs = _deal(other_api, "Their deal")
    before = row_counts(session_factory, api.account_id)

    for deal_id in ("deal_nope", theirs["id"]):
        body = {"name": "Coffee club", "currency": "USD", "line_items": items, "deal_id": deal_id}
        found = error(api.post("/payment-links", body), 422)
        assert found["param"] == "deal_id"
        assert "No such deal" in found["message"]
    found = error(api.post("/payment-links", {"name": "x", "line_items": items, "deal_id": 7}), 422)
    assert "deal_id" in str(found)

    archived = _deal(api, "Lost deal")
    archive(session_factory, api, "deal", archived["id"])
    body = {"name": "Coffee club", "line_items": items, "deal_id": archived["id"]}
    found = error(api.post("/payment-links", body), 422)
    assert found["param"] == "deal_id"
    assert "archived" in found["message"]
    assert row_counts(session_factory, api.account_id) == before

    created = link(api, items)
    for deal_id in (theirs["id"], archived["id"]):
        found = error(api.patch(f"/payment-links/{created['id']}", {"deal_id": deal_id}), 422)
        assert found["param"] == "deal_id"
    assert api.ok(api.get(f"/payment-links/{created['id']}"))["deal_id"] is None


def test_a_checkout_associates_its_subscriptions_with_the_links_deal(
    api: Api, session_factory: Any
) -> None:
    products = catalog(api)
    deal = _deal(api)
    created = link(
        api,
        [{"product_id": products["monthly"]["id"]}, {"product_id": products["annual"]["id"]}],
        deal_id=deal["id"],
    )
    done = checkout(api, created["id"])
    assert len(done["subscriptions"]) == 2
    with session_factory() as session:
        linked = associations.linked_records(session, api.account_id, deal["id"])
    assert sorted(r.id for r in linked["subscription"]) == sorted(done["subscriptions"])

    # Without a deal nothing is associated.
    plain = link(api, [{"product_id": products["monthly"]["id"]}])
    bought = checkout(api, plain["id"], email="bob@example.com")
    with session_factory() as session:
        linked = associations.linked_records(session, api.account_id, bought["subscriptions"][0])
    assert "deal" not in linked
