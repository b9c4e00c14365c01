"""What a form says when the schema refuses a value is said in the reader's language, next to
the field, without the API's field names (kit.i18n.Message)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError

from cadency.kit.i18n import Message, render, translations
from cadency.kit.schemas import Name, StrictModel
from cadency.web.forms import schema_message
from tests.conftest import Api
from tests.web.http import reads_in, signed_in


def test_a_refused_value_reads_in_dutch_and_danish(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    form = {"csrf_token": me.csrf_token, "name": "Plan Tier", "label": "x" * 300}
    expected = {
        "nl": ("Deze waarde heeft niet de verwachte vorm.", "Voer maximaal 255 tekens in."),
        "da": ("Værdien har ikke den forventede form.", "Angiv højst 255 tegn."),
        "en": ("This value does not have the expected form.", "Enter at most 255 characters."),
    }
    for language, (pattern, too_long) in expected.items():
        reads_in(session_factory, me.user_id, language)
        answer = me.client.post(
            "/settings/properties/subscriptions", data={**form, "field_type": "text"}
        )
        assert answer.status_code == 422
        assert pattern in answer.text and too_long in answer.text
        assert "Invalid value for" not in answer.text


def test_messages_by_kind_and_the_validators_own_words() -> None:
    assert (
        schema_message({"type": "greater_than_equal", "ctx": {"ge": 1}}, "api")
        == "Enter 1 or more."
    )
    assert schema_message({"type": "string_too_short", "ctx": {"min_length": 1}}, "api") == (
        "Enter a value."
    )
    refused = schema_message({"type": "value_error", "msg": "Value error, not a currency"}, "api")
    assert isinstance(refused, Message) and refused == "Check this value: not a currency"
    # A kind the form has no words for keeps the API's message.
    assert schema_message({"type": "url_parsing"}, "Invalid value for 'url'") == (
        "Invalid value for 'url'"
    )


def test_a_validators_words_are_translated_where_marked(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    me = signed_in(app, session_factory, api)
    reads_in(session_factory, me.user_id, "nl")
    answer = me.client.post(
        "/contacts",
        data={"csrf_token": me.csrf_token, "email": "not-an-address", "first_name": "Anne"},
    )
    assert answer.status_code == 422
    assert (
        "Controleer deze waarde: moet een e-mailadres zijn, zoals &#39;name@example.com&#39;"
        in answer.text
    )


def test_a_validators_message_with_values_is_translated() -> None:
    """A validator that raises a message with values (a control character found in a name)
    is said in the reader's words, values and all."""

    class Named(StrictModel):
        name: Name

    try:
        Named.model_validate({"name": "two\nlines"})
    except ValidationError as exc:
        error = exc.errors()[0]
    refused = schema_message(error, "api")
    dutch = translations("nl").gettext
    found = dutch(
        "must be a single line without control characters such as line breaks (found %(code)s)"
    ) % {"code": "U+000A"}
    assert "U+000A" in found and "line breaks" not in found
    assert render(refused, dutch) == dutch("Check this value: %(detail)s") % {"detail": found}
