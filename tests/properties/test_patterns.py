"""`rules.pattern` runs on RE2: a pattern that backtracks catastrophically in Python's `re`
answers at once with the right verdict; what RE2 cannot run is refused when the rule is set;
patterns and values have a length cap."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from sqlalchemy import select

from cadency.properties import patterns
from cadency.properties.models import PropertyDefinition
from cadency.properties.service import MAX_TEXT_LENGTHS
from tests.conftest import Api
from tests.properties.pages import signed_in

EVIL = "(a+)+b"
_numbers = itertools.count()


def error(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def define(api: Api, name: str, field_type: str = "text", **rules: Any) -> Any:
    body = {"name": name, "label": name.title(), "field_type": field_type, "rules": rules}
    return api.post("/properties/contacts", body)


def contact(api: Api, values: dict[str, Any]) -> Any:
    return api.post(
        "/contacts", {"email": f"buyer{next(_numbers)}@example.com", "properties": values}
    )


def test_an_evil_pattern_gives_the_right_answer_at_once(api: Api) -> None:
    api.ok(define(api, "code", pattern=EVIL))
    started = time.monotonic()
    # 40 "a"s and no "b": Python's re takes longer than this test run would allow.
    refused = error(contact(api, {"code": "a" * 40}))
    assert refused["param"] == "properties.code"
    assert "does not match the property's pattern" in refused["message"]
    accepted = api.ok(contact(api, {"code": "a" * 40 + "b"}))
    assert accepted["properties"] == {"code": "a" * 40 + "b"}
    assert time.monotonic() - started < 2
    # The whole value must match, as before.
    assert error(contact(api, {"code": "a" * 40 + "bc"}))["param"] == "properties.code"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),  # a backreference
        ("(?=a)a", "invalid perl operator"),  # lookahead
        ("(?<!a)b", "invalid perl operator"),  # lookbehind
        ("a{1001}", "invalid repetition size"),
        ("([a-z", "missing"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_the_rule(
    api: Api, pattern: str, reason: str
) -> None:
    refused = error(define(api, "code", pattern=pattern))
    assert refused["param"] == "rules.pattern"
    assert "'pattern' is not a valid regular expression" in refused["message"]
    assert reason in refused["message"]
    assert "RE2" in refused["message"]
    # Nor can an existing property take it.
    api.ok(define(api, "code"))
    changed = api.patch("/properties/contacts/code", {"rules": {"pattern": pattern}})
    assert error(changed)["param"] == "rules.pattern"
    assert api.ok(api.get("/properties/contacts/code"))["rules"]["pattern"] is None


def test_pattern_length_is_capped(api: Api) -> None:
    longest = "a" * patterns.MAX_PATTERN_LENGTH
    refused = error(define(api, "code", pattern=longest + "a"))
    assert refused["param"] == "rules.pattern"
    assert f"at most {patterns.MAX_PATTERN_LENGTH} characters" in refused["message"]
    assert api.ok(define(api, "code", pattern=longest))["rules"]["pattern"] == longest


@pytest.mark.parametrize(("field_type", "longest"), [("text", 1_000), ("textarea", 65_536)])
def test_value_length_is_capped_per_text_type(api: Api, field_type: str, longest: int) -> None:
    assert MAX_TEXT_LENGTHS[field_type] == longest
    api.ok(define(api, "note", field_type))
    refused = error(contact(api, {"note": "x" * (longest + 1)}))
    assert refused["param"] == "properties.note"
    assert f"at most {longest} characters" in refused["message"]
    assert api.ok(contact(api, {"note": "x" * longest}))["properties"]["note"] == "x" * longest
    # A length rule cannot promise more than the cap.
    assert error(define(api, "other", field_type, max=longest + 1))["param"] == "rules.max"


def test_a_value_with_a_lone_surrogate_does_not_break_the_match() -> None:
    assert patterns.full_match("a+", "aa")
    assert not patterns.full_match("a+", "a\ud800")


def test_the_settings_form_refuses_a_pattern_re2_cannot_run(api: Api, session_factory: Any) -> None:
    with signed_in(api, session_factory, "admin@example.com", ["super_admin"]) as (client, csrf):
        form = {"csrf_token": csrf, "name": "code", "label": "Code", "field_type": "text"}
        refused = client.post(
            "/settings/properties/contacts", data={**form, "rules.pattern": r"(a)\1"}
        )
        assert refused.status_code == 422
        assert "not a valid regular expression" in refused.text
        assert "invalid escape sequence" in refused.text
        too_long = client.post(
            "/settings/properties/contacts", data={**form, "rules.pattern": "a" * 501}
        )
        assert too_long.status_code == 422
        assert "at most 500 characters" in too_long.text
        page = client.get("/settings/properties/contacts/new")
        assert 'maxlength="500"' in page.text
    assert error(api.get("/properties/contacts/code"), 404)


def test_a_pattern_stored_before_re2_is_a_clear_422_not_a_500(
    api: Api, session_factory: Any
) -> None:
    api.ok(define(api, "code", pattern="[A-Z]+"))
    # Python's re accepted lookahead and patterns up to 1,000 characters.
    with session_factory() as session:
        definition = session.scalars(
            select(PropertyDefinition).where(
                PropertyDefinition.account_id == api.account_id, PropertyDefinition.name == "code"
            )
        ).one()
        definition.rules = {**definition.rules, "pattern": "(?=A)[A-Z]+"}
        session.commit()
    refused = error(contact(api, {"code": "ABC"}))
    assert refused["param"] == "properties.code"
    assert "not a valid regular expression" in refused["message"]
    assert "change the pattern" in refused["message"]
    # A long stored pattern still runs (RE2 is linear whatever its length).
    with session_factory() as session:
        definition = session.scalars(
            select(PropertyDefinition).where(
                PropertyDefinition.account_id == api.account_id, PropertyDefinition.name == "code"
            )
        ).one()
        definition.rules = {**definition.rules, "pattern": "(A|B)?" * 150 + "C"}
        session.commit()
    assert api.ok(contact(api, {"code": "ABC"}))["properties"] == {"code": "ABC"}
