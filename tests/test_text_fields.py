"""Text people type is refused with a 422 naming the field when it holds what would break an
email header or the database: line breaks and other control characters in single-line fields,
control characters other than line breaks and tabs in multi-line ones, and lone surrogates
(JSON's "\\ud800") anywhere in a body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.crm.models import Contact
from cadency.kit.errors import InvalidRequest
from cadency.kit.schemas import text_problem
from cadency.plans import service as plans
from cadency.portal import service as portal_service
from cadency.portal.schemas import PortalFeatures
from tests.conftest import Api
from tests.scenarios.story import Story

INJECTION = "Ada\r\nReply-To: x@evil.example"


def refused(response: httpx.Response, param: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    message: str = error["message"]
    assert param.rsplit(".", 1)[-1] in message
    assert "evil" not in message  # the input is not echoed
    return message


def contacts(db: Any, account_id: int) -> int:
    db.expire_all()
    return int(
        db.scalar(select(func.count()).select_from(Contact).where(Contact.account_id == account_id))
    )


def raw_post(api: Api, path: str, body: str) -> httpx.Response:
    """A JSON body as written: a client library would refuse to encode a lone surrogate."""
    return api.client.post(
        f"/api/v1{path}",
        content=body.encode(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )


def test_a_contact_name_with_a_line_break_is_refused(api: Api, db: Any) -> None:
    response = api.post("/contacts", {"email": "ada@example.com", "first_name": INJECTION})
    message = refused(response, "first_name")
    assert "single line" in message and "U+000D" in message
    assert contacts(db, api.account_id) == 0


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/contacts", {"email": "ada@example.com", "last_name": "Love\nlace"}, "last_name"),
        ("/contacts", {"email": "ada@example.com\r\nBcc: x@evil.example"}, "email"),
        ("/contacts", {"email": "ada@example.com", "phone": "+31 20\n x 12"}, "phone"),
        ("/contacts", {"email": "ada@example.com", "address": {"line1": "Dam\t1"}},
         "address.line1"),
        ("/companies", {"name": "Acme\u0085Inc"}, "name"),
        ("/companies", {"name": "Acme\u2028Inc"}, "name"),
        ("/products", {"name": "Beans\x7f", "unit_price": "1.00", "currency": "USD"}, "name"),
        ("/products", {"name": "Beans", "unit_price": "1.00", "currency": "USD",
                       "description": "Roasted\x1b[2J"}, "description"),
        ("/tax-rates", {"name": "VAT", "percentage": "21.00", "jurisdiction": "NL\r\n"},
         "jurisdiction"),
    ],
)  # fmt: skip
def test_control_characters_are_refused_in_text_fields(
    api: Api, path: str, body: dict[str, Any], param: str
) -> None:
    refused(api.post(path, body), param)


def test_multi_line_text_keeps_its_line_breaks_and_tabs(api: Api) -> None:
    body = {"name": "Beans", "unit_price": "1.00", "currency": "USD",
            "description": "Roasted\r\n\tdark"}  # fmt: skip
    assert api.ok(api.post("/products", body))["description"] == "Roasted\r\n\tdark"


def test_single_line_custom_property_values_refuse_line_breaks(api: Api, db: Any) -> None:
    for name, field_type in (("nickname", "text"), ("notes", "textarea")):
        body = {"name": name, "label": name.title(), "field_type": field_type}
        api.ok(api.post("/properties/contacts", body))
    response = api.post(
        "/contacts", {"email": "ada@example.com", "properties": {"nickname": INJECTION}}
    )
    assert "single line" in refused(response, "properties.nickname")
    response = api.post(
        "/contacts", {"email": "ada@example.com", "properties": {"notes": "bell\x07"}}
    )
    assert "U+0007" in refused(response, "properties.notes")
    assert contacts(db, api.account_id) == 0

    created = api.ok(
        api.post(
            "/contacts",
            {"email": "ada@example.com", "properties": {"notes": "line one\nline two"}},
        )
    )
    assert created["properties"]["notes"] == "line one\nline two"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/contacts", '{"email": "ada@example.com", "first_name": "A\\ud800"}', "first_name"),
        ("/contacts", '{"email": "ada@example.com", "properties": {"nickname": "\\udfff"}}',
         "properties.nickname"),
        # Not a text field: an ID, and a property name.
        ("/subscriptions", '{"contact_id": "\\ud800", "currency": "USD", "line_items": []}',
         "contact_id"),
        ("/contacts", '{"email": "ada@example.com", "properties": {"\\ud83d": "x"}}',
         "properties.\\ud83d"),
    ],
)  # fmt: skip
def test_a_lone_surrogate_anywhere_in_a_body_is_a_422(
    api: Api, db: Any, path: str, body: str, param: str
) -> None:
    api.ok(
        api.post(
            "/properties/contacts", {"name": "nickname", "label": "Nick", "field_type": "text"}
        )
    )
    response = raw_post(api, path, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert "unpaired surrogate" in error["message"]
    assert contacts(db, api.account_id) == 0
    # A proper pair is one character, and fine.
    ok = raw_post(api, "/contacts", '{"email": "ada@example.com", "first_name": "A\\ud83d\\ude00"}')
    assert ok.json()["first_name"] == "A\U0001f600"


def test_the_rule_names_the_character_and_never_the_text() -> None:
    assert text_problem("Ada Lovelace, \u03a9mega \u2013 \u201cquoted\u201d") is None
    assert text_problem("one\ntwo\r\n\tthree", multiline=True) is None
    single = text_problem("secret\nvalue")
    assert single is not None and "U+000A" in single and "secret" not in single
    assert text_problem("a\x00b", multiline=True) is not None
    assert text_problem("a\u2029b") is not None
    assert text_problem("a\u2029b", multiline=True) is None


def test_user_emails_and_account_names_refuse_line_breaks(api: Api, db: Any) -> None:
    """Both reach email headers: a user's address the To of admin emails, an account's name
    the From of all its emails."""
    account = db.get(Account, api.account_id)
    with pytest.raises(InvalidRequest) as refused:
        account_service.create_user(
            db, account, email="boss@shop.test\r\nBcc: x@evil.example", password="password-123"
        )
    assert refused.value.param == "email" and "single line" in refused.value.message
    with pytest.raises(InvalidRequest) as refused:
        account_service.create_account(db, name="Shop\r\nBcc: x@evil.example")
    assert refused.value.param == "name" and "single line" in refused.value.message
    db.rollback()


def test_a_portal_cancellation_comment_refuses_control_characters(
    client: Any, session_factory: Any
) -> None:
    """The buyer's comment comes from the portal form, not an API body: the service checks
    it (line breaks are fine, it is several lines)."""
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    subscription = story.subscribe(price="30.00")
    with session_factory() as session:
        account = session.get(Account, story.api.account_id)
        with pytest.raises(InvalidRequest) as refused:
            portal_service.cancel(
                session,
                account,
                subscription["id"],
                "other",
                "Too dear\x1b[2J",
                PortalFeatures(),
                plan_rules=plans.before_portal_cancel,
            )
        assert refused.value.param == "comment" and "U+001B" in refused.value.message
        canceled = portal_service.cancel(
            session,
            account,
            subscription["id"],
            "other",
            "Too dear.\nBye",
            PortalFeatures(),
            plan_rules=plans.before_portal_cancel,
        )
        assert canceled.cancellation_comment == "Too dear.\nBye"
        session.rollback()
