"""What a hostile or huge value gets from the export, segment, saved-view and webhook endpoint
forms: a clear 4xx and nothing written (never a 500, never a half-made export)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from cadency.exports.models import Export
from cadency.segments.models import Segment
from cadency.views.models import SavedView
from cadency.webhooks.models import WebhookEndpoint
from tests.conftest import Api
from tests.web.http import signed_in

BIG = "x" * 100_000
DEEP = "[" * 5000 + "]" * 5000  # deeper than Python's JSON reader goes


def rows(session_factory: Any, model: Any) -> int:
    with session_factory() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("path", "fields", "status"),
    [
        ("/exports", {"query": BIG}, 422),  # a search cut short would export more
        ("/exports", {"sort_property": BIG}, 422),
        ("/exports", {"sort_property": "name", "sort_direction": BIG}, 422),
        ("/exports", {"segment_id": BIG}, 404),
        ("/exports", {"view_id": BIG}, 404),
        ("/exports", {"object_type": BIG}, 422),
        ("/exports", {"format": BIG}, 422),
        ("/exports", {"filter_groups": DEEP}, 422),
        ("/exports", {"filter_groups": "{{"}, 422),
        ("/segments", {"name": BIG, "object_type": "contacts"}, 422),
        ("/segments", {"name": "a", "object_type": BIG}, 422),
        (
            "/segments",
            {
                "name": "a",
                "object_type": "contacts",
                "filter_groups.0.filters.0.property": "subscription." + BIG,
                "filter_groups.0.filters.0.operator": "eq",
                "filter_groups.0.filters.0.value": "x",
            },
            422,
        ),
        (
            "/segments",
            {
                "name": "a",
                "object_type": "contacts",
                "filter_groups.0.filters.0.property": "associations.subscription",
                "filter_groups.0.filters.0.operator": "has_property",
                "filter_groups.0.filters.0.filter_groups": DEEP,
            },
            422,
        ),
        ("/views", {"name": "x", "filter_groups": DEEP}, 422),
        ("/views", {"name": "x", "filter_groups": "{{"}, 422),
        ("/settings/webhooks/new", {"url": "https://" + BIG, "all_events": "1"}, 422),
        (
            "/settings/webhooks/new",
            {"url": "https://example.com/", "description": BIG, "all_events": "1"},
            422,
        ),
        ("/settings/webhooks/new", {"url": "http://h:99999/", "all_events": "1"}, 422),
        ("/settings/webhooks/new", {"url": "https://example.com/", "enabled_events": BIG}, 422),
        ("/settings/webhooks/new", {"url": "javascript:alert(1)", "all_events": "1"}, 422),
        ("/settings/webhooks/" + "x" * 1000 + "/delete", {}, 404),
    ],
)
def test_refused_with_a_4xx_and_nothing_written(
    app: FastAPI, session_factory: Any, api: Api, path: str, fields: dict[str, str], status: int
) -> None:
    me = signed_in(app, session_factory, api)
    before = [rows(session_factory, m) for m in (Export, Segment, SavedView, WebhookEndpoint)]
    response = me.client.post(
        path, data={"csrf_token": me.csrf_token, **fields}, follow_redirects=False
    )
    assert response.status_code == status, response.text[:500]
    assert [
        rows(session_factory, m) for m in (Export, Segment, SavedView, WebhookEndpoint)
    ] == before
