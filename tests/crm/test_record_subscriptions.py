"""A contact's or company's subscriptions (crm.associations): billing ones and linked ones, the
ones "Add existing subscription" offers, and that it writes the same links HubSpot's
associations v4 API reads and writes."""

from __future__ import annotations

from typing import Any

import pytest

from cadency.accounts.models import Account
from cadency.crm import associations
from cadency.kit.errors import InvalidRequest, NotFound
from tests.conftest import Api
from tests.subscriptions.helpers import product


def create_subscription(api: Api, **body: Any) -> dict[str, Any]:
    sent = {"currency": "USD", "collection_method": "send_invoice", **body}
    created: dict[str, Any] = api.ok(api.post("/subscriptions", sent))
    return created


def _v4_ids(api: Api, path: str) -> list[str]:
    answer = api.client.get(
        f"/crm/v4/objects/{path}", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert answer.status_code == 200, answer.text
    return [row["toObjectId"] for row in answer.json()["results"]]


def test_billing_and_linked_subscriptions_and_what_can_be_added(
    api: Api, other_api: Api, session_factory: Any
) -> None:
    plan = product(api)
    ann = api.ok(api.post("/contacts", {"email": "ann@example.com"}))
    bob = api.ok(api.post("/contacts", {"email": "bob@example.com"}))
    company = api.ok(api.post("/companies", {"name": "Koffie BV"}))
    own = create_subscription(api, contact_id=ann["id"], line_items=[{"product_id": plan["id"]}])
    office = create_subscription(
        api, contact_id=bob["id"], company_id=company["id"], line_items=[{"product_id": plan["id"]}]
    )
    beans = create_subscription(api, contact_id=bob["id"], line_items=[{"product_id": plan["id"]}])
    linked_by_api = create_subscription(
        api, contact_id=bob["id"], line_items=[{"product_id": plan["id"]}]
    )
    theirs = create_subscription(
        other_api,
        contact_id=other_api.ok(other_api.post("/contacts", {"email": "eve@example.com"}))["id"],
        line_items=[{"product_id": product(other_api)["id"]}],
    )
    # A link written through HubSpot's API is one of Ann's subscriptions too.
    answer = api.client.put(
        f"/crm/v4/objects/contacts/{ann['id']}/associations/default/subscriptions/"
        f"{linked_by_api['id']}",
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert answer.status_code == 200, answer.text

    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None

        def card(kind: str, record_id: str) -> list[str]:
            rows, _, _ = associations.record_subscriptions(
                session, api.account_id, kind, record_id, limit=10, cursor=None
            )
            return [s.id for s in rows]

        def offered(kind: str, record_id: str, text: str | None = None) -> list[str]:
            found = associations.subscriptions_to_add(
                session, api.account_id, kind, record_id, text
            )
            return [s.id for s in found]

        assert card("contact", ann["id"]) == [linked_by_api["id"], own["id"]]
        assert offered("contact", ann["id"]) == [beans["id"], office["id"]]
        assert offered("contact", ann["id"], "nothing like it") == []
        # Subscriptions without a company are offered to the company; its billed one is not.
        assert card("company", company["id"]) == [office["id"]]
        assert offered("company", company["id"]) == [linked_by_api["id"], beans["id"], own["id"]]

        added = associations.associate_subscriptions(
            session, account, "contact", ann["id"], [beans["id"], own["id"], beans["id"]]
        )
        # Ann's own subscription is associated already (billing contact): nothing is written.
        assert [s.id for s in added] == [beans["id"]]
        session.commit()
        assert card("contact", ann["id"]) == [linked_by_api["id"], beans["id"], own["id"]]

        # Another account's ID, alone or among this account's: 404 before anything is written.
        with pytest.raises(NotFound):
            associations.associate_subscriptions(
                session, account, "contact", ann["id"], [office["id"], theirs["id"]]
            )
        session.rollback()
        with pytest.raises(InvalidRequest):
            associations.associate_subscriptions(session, account, "contact", ann["id"], [])
        assert card("contact", ann["id"]) == [linked_by_api["id"], beans["id"], own["id"]]

    # HubSpot's API reads the link "Add existing subscription" wrote, from both ends.
    assert _v4_ids(api, f"subscriptions/{beans['id']}/associations/contacts") == [ann["id"]]
    assert beans["id"] in _v4_ids(api, f"contacts/{ann['id']}/associations/subscriptions")
    # The billing contact stays a field, not a link.
    assert api.ok(api.get(f"/subscriptions/{beans['id']}"))["contact_id"] == bob["id"]
