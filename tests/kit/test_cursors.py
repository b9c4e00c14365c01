"""A list cursor is ours or refused: garbage, an encoded NUL, or a position of the wrong type
gets a 422 naming the cursor, never a 5xx (PostgreSQL refuses NUL in text mid-query)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.web.http import signed_in


def _encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = [
    _encoded(b"\x00"),
    _encoded(b"prod_\x00"),
    _encoded(b"sub_01j\x00x"),
    _encoded(b"line\nbreak"),
    _encoded(b"\xff\xfe"),
    _encoded(b"not an id"),
    "!!!",
]


@pytest.mark.parametrize(
    "path",
    ["/products", "/contacts", "/companies", "/deals", "/subscriptions", "/invoices",
     "/tax-rates", "/payment-links"],
)  # fmt: skip
def test_a_malformed_api_cursor_is_refused_naming_it(api: Api, path: str) -> None:
    for cursor in BAD_CURSORS:
        response = api.get(path, params={"cursor": cursor})
        assert response.status_code == 422, (path, cursor, response.text)
        error = response.json()["error"]
        assert error["param"] == "cursor"
        assert "cursor is not valid" in error["message"]


def test_a_real_api_cursor_still_pages(api: Api) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        api.ok(api.post("/contacts", {"email": f"{name.lower()}@example.com", "first_name": name}))
    first = api.ok(api.get("/contacts", params={"limit": 2}))
    assert first["has_more"] is True
    second = api.ok(api.get("/contacts", params={"limit": 2, "cursor": first["next_cursor"]}))
    assert [c["first_name"] for c in second["data"]] == ["Alpha"]


def _position(
    signature: str, keys: list[Any], record_id: str = "sub_01jx0000000000000000000000"
) -> str:
    data = {"s": signature, "z": False, "k": keys, "i": record_id}
    return _encoded(json.dumps(data).encode())


BAD_POSITIONS = {
    # sort "created_at" (a time)
    "created_at:desc": [
        ["\u0000"],
        ["garbage"],
        [{"d": "2020-01-01"}],
        [10**30],
        [1.5],
        [True],
        [{"n": "NaN"}],
        [{"n": "1e999999"}],
        [1e300],
        [{"t": "2020-01-01T00:00:00+00:00"}, "extra"],
    ],
    # sort "recurring_amount" (money: whole units, then the rest)
    "recurring_amount:desc": [
        [10**30, 0],
        [1e300, 0],
        [{"n": "1e999999"}, 0],
        [{"n": "0.%s1" % ("0" * 60)}, 0],
        [True, 0],
        [{"n": "1.5"}, 0],
        ["100", 0],
    ],
    # sort "name" (text: lower-cased, then as written)
    "name:asc": [["a", "\u0000"], ["\u0000", "a"], [1, 2], [{"t": "2020-01-01T00:00:00"}, "a"]],
}


GOOD_POSITIONS: dict[str, list[Any]] = {
    "created_at:desc": [{"t": "2020-01-01T00:00:00+00:00"}],
    "name:asc": ["a", "A"],
    "recurring_amount:desc": [100, 0],
}
SORTS: dict[str, dict[str, str]] = {
    "created_at:desc": {},
    "name:asc": {"sort": "name", "direction": "asc"},
    "recurring_amount:desc": {"sort": "recurring_amount", "direction": "desc"},
}


def test_a_malformed_index_page_cursor_is_refused(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    web = signed_in(app, session_factory, api).client
    for signature, positions in BAD_POSITIONS.items():
        cursors = [_position(signature, keys) for keys in positions]
        good_keys = GOOD_POSITIONS[signature]
        cursors.append(_position(signature, good_keys, record_id="sub_\u0000"))
        cursors += [_encoded(b"\x00"), _encoded(b"null"), "!!!"]
        for cursor in cursors:
            for name in ("after", "before"):
                response = web.get("/subscriptions", params={name: cursor, **SORTS[signature]})
                assert response.status_code == 422, (signature, name, cursor)
                assert "The page link is not valid." in response.text


def test_a_well_formed_index_page_cursor_is_accepted(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    web = signed_in(app, session_factory, api).client
    for signature, keys in GOOD_POSITIONS.items():
        for name in ("after", "before"):
            params = {name: _position(signature, keys), **SORTS[signature]}
            assert web.get("/subscriptions", params=params).status_code == 200, signature
    missing = {"after": _position("created_at:desc", [None])}
    assert web.get("/subscriptions", params=missing).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/products", "/tax-rates", "/fees", "/payment-links", "/contacts", "/companies", "/deals",
     "/quotes", "/settings/properties/contacts"],
)  # fmt: skip
def test_a_malformed_list_page_cursor_is_refused(
    app: FastAPI, session_factory: Any, api: Api, path: str
) -> None:
    web = signed_in(app, session_factory, api).client
    # Property definitions page by name, not by ID: any printable name is a position there.
    by_name = path.startswith("/settings/properties")
    for cursor in [c for c in BAD_CURSORS if not (by_name and c == _encoded(b"not an id"))]:
        response = web.get(path, params={"cursor": cursor})
        assert response.status_code == 422, (path, cursor, response.status_code)
        assert "cursor is not valid" in response.text
