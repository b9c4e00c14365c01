"""The property form's Preview (issue 19): an unsaved definition checked as saving it would
be, and a value tried against it as saving a record would check it."""

from __future__ import annotations

from typing import Any

import pytest

from cadency.kit.errors import InvalidRequest, NotFound
from cadency.properties import service
from cadency.properties.schemas import PropertyCreate


def unsaved(**fields: Any) -> Any:
    body = PropertyCreate.model_validate({"name": "code", "label": "Code", **fields})
    return service.unsaved_definition("contacts", body)


def test_an_unsaved_definition_is_checked_like_a_new_one() -> None:
    definition = unsaved(field_type="text", rules={"required": True, "min": 2, "max": "6"})
    assert (definition.id, definition.group_name) == (None, "contact_information")
    assert definition.rules["min"] == "2" and definition.rules["max"] == "6"
    with pytest.raises(InvalidRequest) as refused:
        unsaved(field_type="select", options=[])
    assert refused.value.param == "options"
    with pytest.raises(InvalidRequest) as refused:
        unsaved(field_type="number", rules={"pattern": "[0-9]+"})
    assert refused.value.param == "rules.pattern"
    with pytest.raises(NotFound):
        service.unsaved_definition("deals", PropertyCreate(name="x", label="X", field_type="text"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "Property 'code' is required"),
        ("", "Property 'code' is required"),
        ("A", "at least 2 characters"),
        ("ab", "does not match the property's pattern"),
        ("ABCDEFG", "at most 6 characters"),
        ("ABC", None),
    ],
)
def test_a_tried_value_gets_a_record_forms_answer(value: Any, problem: str | None) -> None:
    definition = unsaved(
        field_type="text", rules={"required": True, "min": 2, "max": 6, "pattern": "[A-Z]+"}
    )
    if problem is None:
        service.try_value(definition, value)
        return
    with pytest.raises(InvalidRequest) as refused:
        service.try_value(definition, value)
    assert problem in refused.value.message
    assert refused.value.param == "properties.code"
