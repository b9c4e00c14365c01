"""The Segments pages over HTTP: the list with member counts, the editor (the index's filter
editor, the live count, the members in pages), saving, deleting, permissions, other accounts,
and the pages in Dutch."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from cadency.segments.models import Segment
from tests.conftest import Api, make_api
from tests.segments.test_segments_api import UPSELL, WIN_BACK, create_segment, tier_property
from tests.subscriptions.helpers import contact, create_subscription
from tests.web.http import SignedIn, reads_in, signed_in


def _form(me: SignedIn, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": me.csrf_token, **fields}


def test_the_list_shows_each_segment_with_its_member_count(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    tier_property(api)
    create_subscription(api, email="basic@example.com", properties={"tier": "Basic"})
    create_subscription(api, email="pro@example.com", properties={"tier": "Pro"})
    upsell = create_segment(api, "Upsell", UPSELL)
    win_back = create_segment(api, "Win-back", WIN_BACK)
    me = signed_in(app, session_factory, api)

    page = me.client.get("/segments")
    assert page.status_code == 200
    assert 'href="/segments"' in page.text  # the navigation has it
    row = re.search(rf'data-testid="segment-{upsell["id"]}".*?</tr>', page.text, re.S)
    assert row is not None
    assert "Upsell" in row.group(0) and "Subscriptions" in row.group(0)
    assert re.search(r'data-testid="member-count">1<', row.group(0))
    other = re.search(rf'data-testid="segment-{win_back["id"]}".*?</tr>', page.text, re.S)
    assert other is not None and re.search(r'data-testid="member-count">0<', other.group(0))


def test_the_editor_saves_a_new_segment_and_shows_its_members(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    tier_property(api)
    basic = create_subscription(api, email="basic@example.com", properties={"tier": "Basic"})
    create_subscription(api, email="pro@example.com", properties={"tier": "Pro"})
    me = signed_in(app, session_factory, api)

    editor = me.client.get("/segments/new?object_type=subscriptions")
    assert editor.status_code == 200
    # The index's filter editor, with the days-ago operators and the custom property.
    assert "is less than this many days ago" in editor.text
    assert 'value="properties.tier"' in editor.text or 'value="tier"' in editor.text

    fields = {
        "object_type": "subscriptions",
        "name": "Upsell",
        "filter_groups.0.filters.0.property": "properties.tier",
        "filter_groups.0.filters.0.operator": "eq",
        "filter_groups.0.filters.0.value": "Basic",
        "filter_groups.0.filters.1.property": "status",
        "filter_groups.0.filters.1.operator": "eq",
        "filter_groups.0.filters.1.value": "active",
    }
    # The live count, before saving.
    count = me.client.post("/segments/count", data=_form(me, **fields))
    assert count.status_code == 200
    assert "1 member" in count.text

    saved = me.client.post("/segments", data=_form(me, **fields), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    with session_factory() as session:
        segment = session.scalars(select(Segment).where(Segment.account_id == api.account_id)).one()
        assert segment.name == "Upsell"
        assert segment.filter_groups == [
            {
                "filters": [
                    {"property": "properties.tier", "operator": "eq", "value": "Basic"},
                    {"property": "status", "operator": "eq", "value": "active"},
                ]
            }
        ]
    assert saved.headers["location"] == f"/segments/{segment.id}"
    shown = me.client.get(saved.headers["location"])
    assert shown.status_code == 200
    assert f'data-testid="row-{basic["id"]}"' in shown.text
    assert shown.text.count('data-testid="row-') == 1
    assert "1 member" in shown.text
    assert (
        f'href="/exports/new?object_type=subscriptions&amp;segment_id={segment.id}"' in shown.text
    )
    # The API sees what the page saved.
    assert api.ok(api.get(f"/segments/{segment.id}"))["member_count"] == 1


def test_saving_changes_and_deleting(app: FastAPI, session_factory: Any, api: Api) -> None:
    ann = contact(api, "ann@example.com")
    bob = contact(api, "bob@example.com")
    segment = create_segment(
        api,
        "Ann",
        [{"filters": [{"property": "email", "operator": "eq", "value": "ann@example.com"}]}],
        "contacts",
    )
    me = signed_in(app, session_factory, api)
    assert f'data-testid="row-{ann["id"]}"' in me.client.get(f"/segments/{segment['id']}").text

    changed = me.client.post(
        f"/segments/{segment['id']}",
        data=_form(
            me,
            name="Bob",
            **{
                "filter_groups.0.filters.0.property": "email",
                "filter_groups.0.filters.0.operator": "eq",
                "filter_groups.0.filters.0.value": "bob@example.com",
            },
        ),
        follow_redirects=False,
    )
    assert changed.status_code == 303
    shown = me.client.get(f"/segments/{segment['id']}").text
    assert f'data-testid="row-{bob["id"]}"' in shown
    assert f'data-testid="row-{ann["id"]}"' not in shown
    assert api.ok(api.get(f"/segments/{segment['id']}"))["name"] == "Bob"

    # A bad filter is shown on the editor, named, and nothing changes.
    refused = me.client.post(
        f"/segments/{segment['id']}",
        data=_form(
            me,
            name="Bob",
            **{
                "filter_groups.0.filters.0.property": "colour",
                "filter_groups.0.filters.0.operator": "eq",
                "filter_groups.0.filters.0.value": "red",
            },
        ),
    )
    assert refused.status_code == 422
    assert "Unknown property: &#39;colour&#39;" in refused.text
    assert (
        api.ok(api.get(f"/segments/{segment['id']}"))["filter_groups"][0]["filters"][0]["value"]
        == "bob@example.com"
    )

    deleted = me.client.post(
        f"/segments/{segment['id']}/delete", data=_form(me), follow_redirects=False
    )
    assert deleted.status_code == 303
    assert api.get(f"/segments/{segment['id']}").status_code == 404


def test_contact_segment_keeps_its_subscription_conditions_when_saved_from_the_page(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    # "Has no subscription where …" is not shown as rows of its own: one row keeps it.
    groups = [
        {
            "filters": [
                {
                    "property": "associations.subscription",
                    "operator": "not_has_property",
                    "filter_groups": [
                        {"filters": [{"property": "end_date", "operator": "has_property"}]}
                    ],
                }
            ]
        }
    ]
    segment = create_segment(api, "Ending", groups, "contacts")
    me = signed_in(app, session_factory, api)
    shown = me.client.get(f"/segments/{segment['id']}")
    assert 'data-testid="nested-filters"' in shown.text
    nested = re.search(
        r'name="filter_groups\.0\.filters\.0\.filter_groups" value="([^"]*)"', shown.text
    )
    assert nested is not None
    fields = {
        "name": "Ending soon",
        "filter_groups.0.filters.0.property": "associations.subscription",
        "filter_groups.0.filters.0.operator": "not_has_property",
        "filter_groups.0.filters.0.filter_groups": nested.group(1).replace("&#34;", '"'),
    }
    saved = me.client.post(
        f"/segments/{segment['id']}", data=_form(me, **fields), follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    stored = api.ok(api.get(f"/segments/{segment['id']}"))
    assert stored["name"] == "Ending soon"
    assert stored["filter_groups"] == groups


def test_subscription_rows_of_a_contact_segment_are_one_has_a_subscription_where(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    """Rows on "Subscription: …" properties in one group must hold for the same subscription:
    they are saved as one "has a subscription where …" and shown as those rows again."""
    active = create_subscription(api, email="active@example.com")
    ended = create_subscription(api, email="ended@example.com")
    api.ok(api.post(f"/subscriptions/{ended['id']}/cancel", {"mode": "immediately"}))
    create_subscription(api, email="other@example.com")
    me = signed_in(app, session_factory, api)
    editor = me.client.get("/segments/new", params={"object_type": "contacts"})
    assert '"subscription.status"' in editor.text.replace("&#34;", '"')
    assert "Subscription: Status" in editor.text

    fields = {
        "name": "Active Basic buyers",
        "object_type": "contacts",
        "filter_groups.0.filters.0.property": "email",
        "filter_groups.0.filters.0.operator": "contains_token",
        "filter_groups.0.filters.0.value": "active@example.com",
        "filter_groups.0.filters.1.property": "subscription.status",
        "filter_groups.0.filters.1.operator": "eq",
        "filter_groups.0.filters.1.value": "active",
        "filter_groups.0.filters.2.property": "subscription.start_date",
        "filter_groups.0.filters.2.operator": "has_property",
    }
    saved = me.client.post("/segments", data=_form(me, **fields), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    segment_id = saved.headers["location"].rsplit("/", 1)[-1]
    stored = api.ok(api.get(f"/segments/{segment_id}"))
    assert stored["filter_groups"] == [
        {
            "filters": [
                {"property": "email", "operator": "contains_token", "value": "active@example.com"},
                {
                    "property": "associations.subscription",
                    "operator": "has_property",
                    "filter_groups": [
                        {
                            "filters": [
                                {"property": "status", "operator": "eq", "value": "active"},
                                {"property": "start_date", "operator": "has_property"},
                            ]
                        }
                    ],
                },
            ]
        }
    ]
    assert stored["member_count"] == 1
    members = api.ok(api.get(f"/segments/{segment_id}/members"))["data"]
    assert [m["id"] for m in members] == [active["contact_id"]]

    shown = me.client.get(f"/segments/{segment_id}").text
    assert 'data-testid="nested-filters"' not in shown
    assert 'name="filter_groups.0.filters.1.property"' in shown
    assert re.search(r'<option value="subscription\.status"[^>]*selected', shown)


def test_a_viewer_sees_segments_but_cannot_change_them(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    segment = create_segment(api, "Win-back", WIN_BACK)
    viewer = signed_in(app, session_factory, api, permissions=["subscriptions.view"])
    listed = viewer.client.get("/segments")
    assert listed.status_code == 200 and "Win-back" in listed.text
    assert "/segments/new" not in listed.text
    shown = viewer.client.get(f"/segments/{segment['id']}")
    assert shown.status_code == 200 and 'data-testid="save"' not in shown.text
    assert viewer.client.get("/segments/new").status_code == 403
    refused = viewer.client.post(
        "/segments", data=_form(viewer, object_type="subscriptions", name="Mine")
    )
    assert refused.status_code == 403
    refused = viewer.client.post(f"/segments/{segment['id']}/delete", data=_form(viewer))
    assert refused.status_code == 403
    assert api.ok(api.get(f"/segments/{segment['id']}"))["name"] == "Win-back"

    nobody = signed_in(
        app, session_factory, api, email="billing@example.com", permissions=["billing.edit"]
    )
    assert nobody.client.get("/segments").status_code == 403
    assert 'href="/segments"' not in nobody.client.get("/settings/account").text


def test_another_accounts_segment_is_not_found(
    app: FastAPI, session_factory: Any, api: Api, client: Any
) -> None:
    segment = create_segment(api, "Win-back", WIN_BACK)
    stranger = signed_in(app, session_factory, make_api(client, session_factory, name="Other"))
    assert stranger.client.get(f"/segments/{segment['id']}").status_code == 404
    assert (
        stranger.client.post(f"/segments/{segment['id']}/delete", data=_form(stranger)).status_code
        == 404
    )
    assert "Win-back" not in stranger.client.get("/segments").text


def test_members_come_in_pages(app: FastAPI, session_factory: Any, api: Api) -> None:
    made = [contact(api, f"member-{i:02}@example.com")["id"] for i in range(30)]
    segment = create_segment(api, "Everyone", [], "contacts")
    me = signed_in(app, session_factory, api)
    first = me.client.get(f"/segments/{segment['id']}").text
    first_ids = set(re.findall(r'data-testid="row-(cont_\w+)"', first))
    assert len(first_ids) == 25
    next_url = re.search(r'<a class="button small" href="([^"]+)" rel="next">', first)
    assert next_url is not None
    second = me.client.get(next_url.group(1).replace("&amp;", "&")).text
    second_ids = set(re.findall(r'data-testid="row-(cont_\w+)"', second))
    assert len(second_ids) == 5
    assert not first_ids & second_ids
    assert first_ids | second_ids == set(made)


def test_the_pages_in_dutch(app: FastAPI, session_factory: Any, api: Api) -> None:
    create_segment(api, "Win-back", WIN_BACK)
    me = signed_in(app, session_factory, api)
    reads_in(session_factory, me.user_id, "nl")
    listed = me.client.get("/segments").text
    assert "Segmenten" in listed
    assert "Leden" in listed
    editor = me.client.get("/segments/new?object_type=contacts").text
    assert "Nieuw segment" in editor
    assert "Segment opslaan" in editor
