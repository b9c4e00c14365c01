"""Web forms refuse control characters the way the API does, with the message next to the
field: a browser keeps a tab in a single-line input, and a hand-made post can send CR/LF."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select

from cadency.crm.models import Contact
from tests.web.conftest import Staff
from tests.web.test_account_settings import forger


def contacts(session_factory: Any, account_id: int) -> int:
    with session_factory() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Contact).where(Contact.account_id == account_id)
            )
        )


def test_a_contact_form_shows_the_control_character_it_refuses(
    staff: Staff, session_factory: Any
) -> None:
    staff.api.ok(
        staff.api.post(
            "/properties/contacts", {"name": "nickname", "label": "Nickname", "field_type": "text"}
        )
    )
    page = staff.goto("/contacts/new")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada\tLovelace")
    page.get_by_role("button", name=re.compile("Create|Save")).click()
    expect(page.get_by_test_id("error-first_name")).to_contain_text("single line")
    expect(page.get_by_test_id("error-first_name")).to_contain_text("U+0009")
    assert contacts(session_factory, staff.api.account_id) == 0

    client, token = forger(page, staff.base_url)
    with client:
        response = client.post(
            "/contacts",
            data={
                "csrf_token": token,
                "email": "ada@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace\r\nReply-To: x@evil.example",
            },
        )
        assert response.status_code == 422
        assert re.search(r'data-testid="error-last_name">[^<]*single line', response.text)
        response = client.post(
            "/contacts",
            data={
                "csrf_token": token,
                "email": "ada@example.com",
                "properties.nickname": "Countess\nBcc: x@evil.example",
            },
        )
        assert response.status_code == 422
        nickname = re.search(
            r'data-property="nickname">.*?class="field-error"[^>]*>([^<]*)', response.text, re.S
        )
        assert nickname is not None and "single line" in nickname.group(1)
    assert contacts(session_factory, staff.api.account_id) == 0
