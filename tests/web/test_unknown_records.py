"""Every page route that names a record answers 404 for an unknown record or another
account's, for GET and POST, plain and htmx; and never a 5xx for a malformed one. The routes
are read from the app, so a new record page is covered without touching this test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cadency.accounts.models import Account, User
from cadency.views import service as views
from cadency.views.schemas import ViewCreate
from cadency.web.app import PAGE_MODULES
from tests.checkout.builders import link
from tests.conftest import make_api
from tests.subscriptions.helpers import create_subscription, product
from tests.web.http import SignedIn, signed_in

PARAM = re.compile(r"\{(\w+)\}")
# Well-formed values no account has.
UNKNOWN = {"user_id": "987654321", "message_id": "987654321", "object_type": "contact"}
UNKNOWN_ID = "zzz_01jx0000000000000000000000"
# Values that are not IDs at all: a 4xx (404, or 422 for a path that must be a number).
MALFORMED = ("nope", "-1", "%C3%A9", "a" * 300)
# What the handlers read besides the path, so they get as far as looking the record up.
QUERY = {"group": "subscription_information", "type": "contact", "contact_id": "cont_x"}
FORM = {"type": "contact", "record_id": "cont_x", "old_id": "cont_y", "group": "x", "name": "x"}


def _routes(routes: Any) -> Iterator[tuple[str, str]]:
    for route in routes:
        included = getattr(route, "original_router", None)  # a router included in a router
        if included is not None:
            yield from _routes(included.routes)
        elif "{" in getattr(route, "path", "") and getattr(route, "methods", None):
            for method in sorted(route.methods):
                yield method, route.path


PAGE_ROUTES = sorted({route for module in PAGE_MODULES for route in _routes(module.router.routes)})


@dataclass
class World:
    me: SignedIn
    # An ID of another account's record, by the path parameter that names it.
    theirs: dict[str, str]


@pytest.fixture(scope="module")
def world(app: FastAPI, client: TestClient, session_factory: Any) -> World:
    mine = make_api(client, session_factory, name="Mine")
    other = make_api(client, session_factory, name="Theirs")
    sub = create_subscription(other)
    company = other.ok(other.post("/companies", {"name": "Their company"}))
    deal = other.ok(other.post("/deals", {"name": "Their deal", "contact_id": sub["contact_id"]}))
    quote = other.ok(other.post("/quotes", {"name": "Their quote", "deal_id": deal["id"]}))
    plink = link(other, [{"product_id": product(other, name="Linked")["id"]}])
    workflow = other.ok(
        other.post(
            "/workflows",
            {
                "name": "Theirs",
                "trigger": {"type": "subscription.created"},
                "actions": [{"type": "delay", "days": 1}],
            },
        )
    )
    owner = signed_in(app, session_factory, other, email="owner@theirs.example")
    with session_factory() as session:
        account = session.get(Account, other.account_id)
        user = session.get(User, owner.user_id)
        assert account is not None and user is not None
        view = views.create_view(session, account, user, ViewCreate(name="Theirs"))
        session.commit()
        view_id = view.id
    theirs = {
        "subscription_id": sub["id"],
        "product_id": sub["line_items"][0]["product_id"],
        "contact_id": sub["contact_id"],
        "company_id": company["id"],
        "deal_id": deal["id"],
        "quote_id": quote["id"],
        "link_id": plink["id"],
        "user_id": str(owner.user_id),
        "view_id": view_id,
        "workflow_id": workflow["id"],
    }
    return World(me=signed_in(app, session_factory, mine), theirs=theirs)


def _call(world: World, method: str, path: str, value_of: dict[str, str], htmx: bool) -> Any:
    url = PARAM.sub(lambda m: value_of[m.group(1)], path)
    headers = {"x-csrf-token": world.me.csrf_token}
    if htmx:
        headers["hx-request"] = "true"
    if method == "GET":
        return world.me.client.get(url, params=QUERY, headers=headers, follow_redirects=False)
    form = {**FORM, "csrf_token": world.me.csrf_token}
    return world.me.client.post(url, data=form, headers=headers, follow_redirects=False)


def test_every_record_page_is_found_by_this_test() -> None:
    paths = {path for _, path in PAGE_ROUTES}
    for wanted in (
        "/subscriptions/{subscription_id}/cancel", "/subscriptions/{subscription_id}/properties",
        "/contacts/{contact_id}", "/companies/{company_id}/edit", "/deals/{deal_id}/convert",
        "/quotes/{quote_id}/publish", "/products/{product_id}/archive",
        "/payment-links/{link_id}/active", "/billing/invoices/{token}",
    ):  # fmt: skip
        assert wanted in paths


@pytest.mark.parametrize(("method", "path"), PAGE_ROUTES)
def test_an_unknown_or_foreign_record_is_not_found(world: World, method: str, path: str) -> None:
    names = PARAM.findall(path)
    unknown = {name: UNKNOWN.get(name, UNKNOWN_ID) for name in names}
    cases = [unknown]
    if names[0] in world.theirs:
        cases.append({**unknown, names[0]: world.theirs[names[0]]})
    for values in cases:
        for htmx in (False, True):
            response = _call(world, method, path, values, htmx)
            assert response.status_code == 404, (method, path, values, htmx, response.text[:300])


@pytest.mark.parametrize(("method", "path"), PAGE_ROUTES)
def test_a_malformed_record_id_is_never_a_server_error(
    world: World, method: str, path: str
) -> None:
    names = PARAM.findall(path)
    for bad in MALFORMED:
        values = {name: UNKNOWN.get(name, UNKNOWN_ID) for name in names}
        values[names[-1]] = bad
        for htmx in (False, True):
            response = _call(world, method, path, values, htmx)
            assert 400 <= response.status_code < 500, (method, path, bad, response.status_code)
