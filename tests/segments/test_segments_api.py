"""Segments through the REST API: the seed examples (win-back, upsell), contact and company
segments on their subscriptions, member counts and pages at read time, bad input, other
accounts and permissions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Api, pin_clock
from tests.subscriptions.helpers import contact, create_subscription, subscription_body

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)

WIN_BACK = [
    {
        "filters": [
            {"property": "status", "operator": "in", "values": ["canceled", "expired"]},
            {"property": "canceled_at", "operator": "less_than_days_ago", "value": 60},
        ]
    }
]
UPSELL = [
    {
        "filters": [
            {"property": "tier", "operator": "eq", "value": "Basic"},
            {"property": "status", "operator": "eq", "value": "active"},
        ]
    }
]
HAS_SUBSCRIPTION_WITH_END_DATE = [
    {
        "filters": [
            {
                "property": "associations.subscription",
                "operator": "has_property",
                "filter_groups": [
                    {"filters": [{"property": "end_date", "operator": "has_property"}]}
                ],
            }
        ]
    }
]


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def create_segment(api: Api, name: str, groups: Any, object_type: str = "subscriptions") -> Any:
    return api.ok(
        api.post("/segments", {"name": name, "object_type": object_type, "filter_groups": groups})
    )


def member_ids(api: Api, segment_id: str, **params: Any) -> list[str]:
    page = api.ok(api.get(f"/segments/{segment_id}/members", params=params))
    return [m["id"] for m in page["data"]]


def tier_property(api: Api) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [
                    {"value": "Basic", "label": "Basic"},
                    {"value": "Pro", "label": "Pro"},
                ],
            },
        )
    )


def test_win_back_counts_cancellations_of_the_last_60_days_on_the_accounts_clock(
    api: Api, session_factory: Any
) -> None:
    """Canceled 90 days ago is out, 10 days ago is in, an active one never is."""
    pin_clock(session_factory, api.account_id, NOW - timedelta(days=90))
    long_ago = create_subscription(api, email="long-ago@example.com")
    api.ok(api.post(f"/subscriptions/{long_ago['id']}/cancel", {"mode": "immediately"}))
    pin_clock(session_factory, api.account_id, NOW - timedelta(days=10))
    recent = create_subscription(api, email="recent@example.com")
    api.ok(api.post(f"/subscriptions/{recent['id']}/cancel", {"mode": "immediately"}))
    create_subscription(api, email="staying@example.com")
    pin_clock(session_factory, api.account_id, NOW)

    segment = create_segment(api, "Win-back", WIN_BACK)
    assert segment["object"] == "segment"
    assert segment["id"].startswith("seg_")
    assert segment["object_type"] == "subscriptions"
    assert segment["filter_groups"] == WIN_BACK
    assert segment["member_count"] == 1
    assert member_ids(api, segment["id"]) == [recent["id"]]
    members = api.ok(api.get(f"/segments/{segment['id']}/members"))
    # The members are the subscriptions as GET /subscriptions/{id} shows them.
    assert members["data"][0] == api.ok(api.get(f"/subscriptions/{recent['id']}"))
    assert members["object"] == "list" and members["has_more"] is False

    # Membership is decided when read: 51 days on, the recent cancellation is 61 days ago too.
    pin_clock(session_factory, api.account_id, NOW + timedelta(days=51))
    assert api.ok(api.get(f"/segments/{segment['id']}"))["member_count"] == 0
    assert member_ids(api, segment["id"]) == []


def test_upsell_is_the_active_subscriptions_of_tier_basic(api: Api) -> None:
    tier_property(api)
    basic = create_subscription(api, email="basic@example.com", properties={"tier": "Basic"})
    create_subscription(api, email="pro@example.com", properties={"tier": "Pro"})
    canceled = create_subscription(api, email="gone@example.com", properties={"tier": "Basic"})
    api.ok(api.post(f"/subscriptions/{canceled['id']}/cancel", {"mode": "immediately"}))
    create_subscription(api, email="none@example.com")

    segment = create_segment(api, "Upsell", UPSELL)
    assert segment["member_count"] == 1
    assert member_ids(api, segment["id"]) == [basic["id"]]
    assert api.ok(api.get(f"/segments/{segment['id']}/members"))["data"][0]["properties"] == {
        "tier": "Basic"
    }


def test_contacts_with_a_subscription_whose_end_date_is_known(api: Api) -> None:
    body = subscription_body(api, email="fixed@example.com")
    body["line_items"][0].update({"billing_terms": "fixed", "number_of_payments": 6})
    fixed = api.ok(api.post("/subscriptions", body))
    create_subscription(api, email="open-ended@example.com")
    contact(api, "no-subscription@example.com")

    segment = create_segment(api, "Ending", HAS_SUBSCRIPTION_WITH_END_DATE, "contacts")
    assert segment["member_count"] == 1
    members = api.ok(api.get(f"/segments/{segment['id']}/members"))["data"]
    assert [m["id"] for m in members] == [fixed["contact_id"]]
    # The members are contacts as GET /contacts/{id} shows them.
    assert members[0] == api.ok(api.get(f"/contacts/{fixed['contact_id']}"))


def test_companies_with_an_active_subscription(api: Api) -> None:
    active_co = api.ok(api.post("/companies", {"name": "Active BV"}))
    canceled_co = api.ok(api.post("/companies", {"name": "Gone BV"}))
    api.ok(api.post("/companies", {"name": "Nothing BV"}))
    create_subscription(api, email="a@example.com", company_id=active_co["id"])
    gone = create_subscription(api, email="b@example.com", company_id=canceled_co["id"])
    api.ok(api.post(f"/subscriptions/{gone['id']}/cancel", {"mode": "immediately"}))

    groups = [
        {
            "filters": [
                {
                    "property": "associations.subscription",
                    "operator": "has_property",
                    "filter_groups": [
                        {"filters": [{"property": "status", "operator": "eq", "value": "active"}]}
                    ],
                }
            ]
        }
    ]
    segment = create_segment(api, "Customers", groups, "companies")
    assert segment["member_count"] == 1
    members = api.ok(api.get(f"/segments/{segment['id']}/members"))["data"]
    assert members == [api.ok(api.get(f"/companies/{active_co['id']}"))]


def test_members_come_in_pages_without_overlap(api: Api) -> None:
    made = {contact(api, f"member-{i}@example.com")["id"] for i in range(5)}
    groups = [
        {"filters": [{"property": "email", "operator": "contains_token", "value": "member*"}]}
    ]
    segment = create_segment(api, "Members", groups, "contacts")
    assert segment["member_count"] == 5

    first = api.ok(api.get(f"/segments/{segment['id']}/members", params={"limit": 3}))
    assert len(first["data"]) == 3 and first["has_more"] is True
    second = api.ok(
        api.get(
            f"/segments/{segment['id']}/members",
            params={"limit": 3, "cursor": first["next_cursor"]},
        )
    )
    assert len(second["data"]) == 2 and second["has_more"] is False
    assert second["next_cursor"] is None
    first_ids = {m["id"] for m in first["data"]}
    second_ids = {m["id"] for m in second["data"]}
    assert not first_ids & second_ids
    assert first_ids | second_ids == made


def test_patch_changes_name_and_membership(api: Api) -> None:
    ann = contact(api, "ann@example.com")
    bob = contact(api, "bob@example.com")
    eq = lambda email: [  # noqa: E731
        {"filters": [{"property": "email", "operator": "eq", "value": email}]}
    ]
    segment = create_segment(api, "Ann", eq("ann@example.com"), "contacts")
    assert member_ids(api, segment["id"]) == [ann["id"]]

    changed = api.ok(
        api.patch(
            f"/segments/{segment['id']}",
            {"name": "  Bob  ", "filter_groups": eq("bob@example.com")},
        )
    )
    assert changed["name"] == "Bob"
    assert changed["member_count"] == 1
    assert member_ids(api, segment["id"]) == [bob["id"]]
    renamed = api.ok(api.patch(f"/segments/{segment['id']}", {"name": "Still Bob"}))
    assert renamed["filter_groups"] == eq("bob@example.com")

    everyone = api.ok(api.patch(f"/segments/{segment['id']}", {"filter_groups": []}))
    assert everyone["member_count"] == 2


def test_list_segments_by_object_type(api: Api) -> None:
    subs = create_segment(api, "Win-back", WIN_BACK)
    people = create_segment(api, "Ending", HAS_SUBSCRIPTION_WITH_END_DATE, "contacts")
    listed = api.ok(api.get("/segments"))
    assert [s["id"] for s in listed["data"]] == [people["id"], subs["id"]]
    assert listed["object"] == "list"
    only = api.ok(api.get("/segments", params={"object_type": "contacts"}))
    assert [s["id"] for s in only["data"]] == [people["id"]]
    assert api.get("/segments", params={"object_type": "deals"}).status_code == 422


def test_delete_removes_the_segment_not_its_members(api: Api) -> None:
    ann = contact(api, "ann@example.com")
    segment = create_segment(api, "All contacts", [], "contacts")
    deleted = api.ok(api.delete(f"/segments/{segment['id']}"))
    assert deleted == {"id": segment["id"], "object": "segment", "deleted": True}
    error(api.get(f"/segments/{segment['id']}"), 404)
    api.ok(api.get(f"/contacts/{ann['id']}"))


def test_unknown_property_or_operator_is_named(api: Api) -> None:
    unknown_property = error(
        api.post(
            "/segments",
            {
                "name": "Bad",
                "filter_groups": [
                    {"filters": [{"property": "colour", "operator": "eq", "value": "red"}]}
                ],
            },
        ),
        422,
    )
    assert unknown_property["message"] == "Unknown property: 'colour'"
    assert unknown_property["param"] == "filter_groups.0.filters.0.property"

    unknown_operator = error(
        api.post(
            "/segments",
            {
                "name": "Bad",
                "filter_groups": [
                    {"filters": [{"property": "status", "operator": "resembles", "value": "x"}]}
                ],
            },
        ),
        422,
    )
    assert unknown_operator["param"] == "filter_groups.0.filters.0.operator"
    assert "less_than_days_ago" in unknown_operator["message"]  # it lists the known ones

    # An operator the property's kind does not take is named too.
    wrong_kind = error(
        api.post(
            "/segments",
            {
                "name": "Bad",
                "filter_groups": [
                    {
                        "filters": [
                            {"property": "status", "operator": "less_than_days_ago", "value": 3}
                        ]
                    }
                ],
            },
        ),
        422,
    )
    assert "less_than_days_ago" in wrong_kind["message"]

    segment = create_segment(api, "Fine", WIN_BACK)
    bad_patch = error(
        api.patch(
            f"/segments/{segment['id']}",
            {
                "filter_groups": [
                    {"filters": [{"property": "tier", "operator": "eq", "value": "x"}]}
                ]
            },
        ),
        422,
    )
    assert "tier" in bad_patch["message"]
    assert api.ok(api.get(f"/segments/{segment['id']}"))["filter_groups"] == WIN_BACK
    assert api.get("/segments").json()["data"] == [api.ok(api.get(f"/segments/{segment['id']}"))]


def test_bad_names_and_object_types(api: Api) -> None:
    assert error(api.post("/segments", {"name": "   "}), 422)["param"] == "name"
    assert error(api.post("/segments", {"name": "x" * 101}), 422)["param"] == "name"
    assert api.ok(api.post("/segments", {"name": "x" * 100}))["name"] == "x" * 100
    assert (
        error(api.post("/segments", {"name": "Deals", "object_type": "deals"}), 422)["param"]
        == "object_type"
    )
    assert error(api.post("/segments", {"name": "A", "colour": "red"}), 422)["param"] == "colour"
    assert error(api.post("/segments", {"filter_groups": []}), 422)["param"] == "name"


def test_another_accounts_segment_is_not_found(api: Api, other_api: Api) -> None:
    contact(api, "ann@example.com")
    segment = create_segment(api, "Mine", [], "contacts")
    for response in (
        other_api.get(f"/segments/{segment['id']}"),
        other_api.patch(f"/segments/{segment['id']}", {"name": "Theirs"}),
        other_api.delete(f"/segments/{segment['id']}"),
        other_api.get(f"/segments/{segment['id']}/members"),
    ):
        assert error(response, 404)["type"] == "not_found"
    assert other_api.ok(other_api.get("/segments"))["data"] == []
    # Their own segment over the same filters sees none of this account's records.
    theirs = create_segment(other_api, "All", [], "contacts")
    assert theirs["member_count"] == 0
    assert api.ok(api.get(f"/segments/{segment['id']}"))["name"] == "Mine"


def test_changing_segments_needs_the_edit_permission(
    api: Api, api_with_scopes: Callable[..., Api]
) -> None:
    segment = create_segment(api, "Win-back", WIN_BACK)
    viewer = api_with_scopes("subscriptions.view")
    body = error(viewer.post("/segments", {"name": "Mine"}), 403)
    assert "subscriptions.edit" in body["message"]
    error(viewer.patch(f"/segments/{segment['id']}", {"name": "Mine"}), 403)
    error(viewer.delete(f"/segments/{segment['id']}"), 403)
    assert viewer.ok(viewer.get(f"/segments/{segment['id']}"))["name"] == "Win-back"
    viewer.ok(viewer.get(f"/segments/{segment['id']}/members"))

    billing_only = api_with_scopes("billing.edit")
    assert "subscriptions.view" in error(billing_only.get("/segments"), 403)["message"]
    error(billing_only.get(f"/segments/{segment['id']}/members"), 403)


def test_a_post_with_the_same_idempotency_key_makes_one_segment(api: Api) -> None:
    headers = {"Idempotency-Key": "segment-once"}
    body = {"name": "Once", "filter_groups": WIN_BACK}
    first = api.ok(api.post("/segments", body, headers=headers))
    again = api.ok(api.post("/segments", body, headers=headers))
    assert again["id"] == first["id"]
    assert len(api.ok(api.get("/segments"))["data"]) == 1


def test_a_property_a_segment_filters_on_cannot_be_deleted(api: Api) -> None:
    tier_property(api)
    upsell = create_segment(api, "Upsell", UPSELL)
    refused = error(api.delete("/properties/subscriptions/tier"), 409)
    assert "Upsell" in refused["message"] and "tier" in refused["message"]
    assert api.ok(api.get(f"/segments/{upsell['id']}"))["member_count"] == 0

    # Inside "has a subscription where …" of a contact segment too.
    api.ok(api.delete(f"/segments/{upsell['id']}"))
    nested = [
        {
            "filters": [
                {
                    "property": "associations.subscription",
                    "operator": "has_property",
                    "filter_groups": [
                        {"filters": [{"property": "tier", "operator": "eq", "value": "Pro"}]}
                    ],
                }
            ]
        }
    ]
    pro_contacts = create_segment(api, "Pro contacts", nested, "contacts")
    assert "Pro contacts" in error(api.delete("/properties/subscriptions/tier"), 409)["message"]
    api.ok(api.delete(f"/segments/{pro_contacts['id']}"))
    assert api.delete("/properties/subscriptions/tier").status_code == 200


def test_filtering_on_a_sensitive_property_needs_its_permission(
    api: Api, api_with_scopes: Callable[..., Api]
) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {"name": "iban", "label": "IBAN", "field_type": "text", "sensitive": True},
        )
    )
    groups = [{"filters": [{"property": "iban", "operator": "has_property"}]}]
    editor = api_with_scopes("subscriptions.view", "subscriptions.edit")
    refused = error(editor.post("/segments", {"name": "IBAN known", "filter_groups": groups}), 403)
    assert "properties.view_sensitive" in refused["message"]
    assert create_segment(api, "IBAN known", groups)["member_count"] == 0


def test_a_segment_whose_option_was_removed_is_still_listed_and_can_be_mended(api: Api) -> None:
    tier_property(api)
    pro = [{"filters": [{"property": "properties.tier", "operator": "eq", "value": "Pro"}]}]
    segment = create_segment(api, "Pro", pro)
    # No subscription holds "Pro", so the option may go; the segment's filter then names an
    # option that no longer exists.
    api.ok(
        api.patch(
            "/properties/subscriptions/tier",
            {"options": [{"value": "Basic", "label": "Basic"}]},
        )
    )

    listed = api.ok(api.get("/segments"))["data"]
    assert [(s["id"], s["member_count"]) for s in listed] == [(segment["id"], None)]
    assert "Pro" in listed[0]["filters_error"]
    read = api.ok(api.get(f"/segments/{segment['id']}"))
    assert read["member_count"] is None and "Pro" in read["filters_error"]
    assert "Pro" in error(api.get(f"/segments/{segment['id']}/members"), 422)["message"]

    basic = [{"filters": [{"property": "properties.tier", "operator": "eq", "value": "Basic"}]}]
    mended = api.ok(api.patch(f"/segments/{segment['id']}", {"filter_groups": basic}))
    assert (mended["member_count"], mended["filters_error"]) == (0, None)


def test_member_counts_agree_with_the_members_for_every_shape_of_filter(
    api: Api, session_factory: Any
) -> None:
    """The count takes a merge of ID lists on SQLite when custom conditions are ANDed
    (kit.filters.count_statement); whatever the shape, it counts the members listed."""
    tier_property(api)
    api.ok(
        api.post(
            "/properties/subscriptions", {"name": "seats", "label": "Seats", "field_type": "number"}
        )
    )
    made = {
        "basic-5": create_subscription(
            api, email="b5@example.com", properties={"tier": "Basic", "seats": 5}
        ),
        "basic-1": create_subscription(
            api, email="b1@example.com", properties={"tier": "Basic", "seats": 1}
        ),
        "pro-5": create_subscription(
            api, email="p5@example.com", properties={"tier": "Pro", "seats": 5}
        ),
        "bare": create_subscription(api, email="bare@example.com"),
    }
    api.ok(api.post(f"/subscriptions/{made['basic-1']['id']}/cancel", {"mode": "immediately"}))

    def f(prop: str, op: str, value: Any = None) -> dict[str, Any]:
        return {"property": prop, "operator": op, **({} if value is None else {"value": value})}

    shapes: list[tuple[list[dict[str, Any]], set[str]]] = [
        ([{"filters": [f("tier", "eq", "Basic"), f("seats", "gt", 2)]}], {"basic-5"}),
        ([{"filters": [f("tier", "eq", "Basic"), f("status", "eq", "active")]}], {"basic-5"}),
        ([{"filters": [f("seats", "eq", 5)]}], {"basic-5", "pro-5"}),
        (
            [{"filters": [f("tier", "eq", "Pro")]}, {"filters": [f("status", "eq", "canceled")]}],
            {"pro-5", "basic-1"},
        ),
        ([{"filters": [f("tier", "neq", "Basic"), f("seats", "has_property")]}], {"pro-5"}),
        ([{"filters": [f("tier", "eq", "Pro"), f("seats", "lt", 2)]}], set()),
    ]
    for groups, expected in shapes:
        segment = create_segment(api, "Shape", groups)
        listed = set(member_ids(api, segment["id"], limit=100))
        assert listed == {made[k]["id"] for k in expected}, groups
        assert segment["member_count"] == len(expected), groups


def test_the_sqlite_count_merges_id_lists() -> None:
    from sqlalchemy import select
    from sqlalchemy.dialects import sqlite

    from cadency.kit.filters import count_statement
    from cadency.properties.models import PropertyValue
    from cadency.subscriptions.models import Subscription

    tiers = Subscription.id.in_(select(PropertyValue.object_id).where(PropertyValue.name == "t"))
    both = (Subscription.account_id == 1) & (Subscription.status == "active") & tiers
    merged = str(count_statement(Subscription.id, both, "sqlite").compile(dialect=sqlite.dialect()))
    assert "INTERSECT" in merged and "ORDER BY 1" in merged
    either = (Subscription.status == "active") | tiers
    plain = str(
        count_statement(Subscription.id, either, "sqlite").compile(dialect=sqlite.dialect())
    )
    assert "INTERSECT" not in plain
    assert "INTERSECT" not in str(count_statement(Subscription.id, both, "postgresql"))
