"""Changing one's password on the profile page, and resetting a forgotten one by email: the
link is mailed through the outbox, works once and for an hour, and ends every session."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cadency.accounts import service as account_service
from cadency.accounts.models import PasswordReset, User, UserSession
from cadency.kit import clock
from cadency.kit.outbox import OutboxMessage
from cadency.notifications.models import MailboxMessage
from tests.conftest import Api, make_api
from tests.notifications.conftest import BASE_URL, deliver
from tests.web.http import SignedIn, signed_in

OLD_PASSWORD = "old password 123"
NEW_PASSWORD = "a brand new passphrase"
SAME_ANSWER = "If an account exists for"


def _mailed_links(session_factory: Any, account_id: int, email: str) -> list[tuple[str, str]]:
    """(path of the reset link, text) of each reset email the account's mailbox holds for
    `email`, after a dispatcher pass."""
    deliver(session_factory, account_id, None)
    with session_factory() as session:
        messages = session.scalars(
            select(MailboxMessage)
            .where(MailboxMessage.account_id == account_id, MailboxMessage.to == email)
            .order_by(MailboxMessage.id)
        ).all()
    found = []
    for message in messages:
        match = re.search(re.escape(BASE_URL) + r"(/password-reset/[A-Za-z0-9_-]+)", message.text)
        assert match, message.text
        assert match.group(0) in message.html
        found.append((match.group(1), message.text))
    return found


def _user(app: FastAPI, session_factory: Any, api: Api, email: str | None = None) -> SignedIn:
    return signed_in(app, session_factory, api, email=email, password=OLD_PASSWORD)


def _can_log_in(session_factory: Any, email: str, password: str) -> bool:
    with session_factory() as session:
        return account_service.authenticate(session, email, password) is not None


def _sessions(session_factory: Any, user_id: int) -> int:
    with session_factory() as session:
        return len(session.scalars(select(UserSession).where(UserSession.user_id == user_id)).all())


def test_forgot_password_link_sets_a_new_password_once(
    app: FastAPI, client: TestClient, session_factory: Any, api: Api
) -> None:
    user = _user(app, session_factory, api)
    login_page = client.get("/login")
    assert 'href="/password-reset"' in login_page.text
    assert "Forgot password?" in login_page.text

    answer = client.post("/password-reset", data={"email": user.email.upper()})
    assert answer.status_code == 200
    assert SAME_ANSWER in answer.text
    [(path, text)] = _mailed_links(session_factory, api.account_id, user.email)
    assert "Test shop" in text and str(api.account_id) in text
    assert "60 minutes" in text
    token = path.rsplit("/", 1)[1]
    with session_factory() as session:
        # Only the token's hash is kept; the outbox names the request, not the token.
        reset = session.scalars(
            select(PasswordReset).where(PasswordReset.user_id == user.user_id)
        ).one()
        assert token not in reset.token_hash
        outbox = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.type == "user.password_reset_requested",
                OutboxMessage.account_id == api.account_id,
            )
        ).one()
        assert token not in str(outbox.payload)

    form = client.get(path)
    assert form.status_code == 200
    assert user.email in form.text
    mismatch = client.post(path, data={"new_password": NEW_PASSWORD, "new_password_again": "x"})
    assert mismatch.status_code == 422
    assert "The two new passwords are not the same." in mismatch.text
    short = client.post(path, data={"new_password": "short", "new_password_again": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    assert _can_log_in(session_factory, user.email, OLD_PASSWORD)

    done = client.post(
        path,
        data={"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    assert _can_log_in(session_factory, user.email, NEW_PASSWORD)
    assert not _can_log_in(session_factory, user.email, OLD_PASSWORD)
    assert _sessions(session_factory, user.user_id) == 0
    assert user.client.get("/settings/profile", follow_redirects=False).status_code == 303

    # Used once: the link is dead now, for reading and for posting.
    again = client.post(
        path, data={"new_password": "another one 456", "new_password_again": "another one 456"}
    )
    assert again.status_code == 404
    assert "has been used, has expired" in again.text
    assert client.get(path).status_code == 404
    assert _can_log_in(session_factory, user.email, NEW_PASSWORD)


def test_an_expired_or_made_up_reset_link_is_refused(
    app: FastAPI, client: TestClient, session_factory: Any, api: Api
) -> None:
    user = _user(app, session_factory, api)
    client.post("/password-reset", data={"email": user.email})
    with session_factory() as session:
        session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == user.user_id)
            .values(expires_at=clock.real_now() - timedelta(seconds=1))
        )
        session.commit()
    # An expired request is not mailed at all (a retry late in the day must not send it).
    assert _mailed_links(session_factory, api.account_id, user.email) == []
    with session_factory() as session:
        reset = session.scalars(
            select(PasswordReset).where(PasswordReset.user_id == user.user_id)
        ).one()
        path = account_service.password_reset_path(session, reset.id)
    assert client.get(path).status_code == 404
    data = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert client.post(path, data=data).status_code == 404
    assert client.post("/password-reset/made-up-token", data=data).status_code == 404
    assert _can_log_in(session_factory, user.email, OLD_PASSWORD)
    assert _sessions(session_factory, user.user_id) == 1


def test_the_answer_does_not_tell_who_has_an_account(
    client: TestClient, session_factory: Any
) -> None:
    with session_factory() as session:
        before = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1))
    answer = client.post("/password-reset", data={"email": "nobody-here@example.com"})
    assert answer.status_code == 200
    assert SAME_ANSWER in answer.text
    with session_factory() as session:
        newer = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.type == "user.password_reset_requested",
                OutboxMessage.id > (before or ""),
                OutboxMessage.payload.is_not(None),
            )
        ).all()
        assert [m for m in newer if m.payload.get("user_id") is None] == []
    for bad in ("not an email", "a@b\nBcc: c@d"):
        refused = client.post("/password-reset", data={"email": bad})
        assert refused.status_code == 422, bad
        assert "Enter the email address you log in with." in refused.text
    # A NUL is refused at the door, before any form is read.
    assert client.post("/password-reset", data={"email": "a@b.c\x00"}).status_code == 400


def test_one_email_in_two_accounts_gets_a_link_for_each(
    app: FastAPI, client: TestClient, session_factory: Any, api: Api
) -> None:
    other = make_api(client, session_factory, name="Second shop")
    email = f"both-{api.account_id}@example.com"
    first = _user(app, session_factory, api, email)
    second = signed_in(app, session_factory, other, email=email, password="other password 789")
    client.post("/password-reset", data={"email": email})
    [(first_path, first_text)] = _mailed_links(session_factory, api.account_id, email)
    [(second_path, second_text)] = _mailed_links(session_factory, other.account_id, email)
    assert "Test shop" in first_text and "Second shop" in second_text
    assert first_path != second_path

    data = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert client.post(second_path, data=data, follow_redirects=False).status_code == 303
    with session_factory() as session:
        users = {u.account_id: u for u in session.scalars(select(User).where(User.email == email))}
        assert account_service.verify_password(users[other.account_id], NEW_PASSWORD)
        assert account_service.verify_password(users[api.account_id], OLD_PASSWORD)
    assert _sessions(session_factory, second.user_id) == 0
    assert _sessions(session_factory, first.user_id) == 1


def _change(user: SignedIn, current: str, new: str, again: str | None = None) -> Any:
    form = {
        "csrf_token": user.csrf_token,
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }
    return user.client.post("/settings/profile/password", data=form, follow_redirects=False)


@pytest.mark.parametrize(
    ("current", "new", "again", "field", "message"),
    [
        ("wrong password 1", NEW_PASSWORD, None, "current_password",
         "The current password is not right"),
        (OLD_PASSWORD, NEW_PASSWORD, "typo", "new_password_again",
         "The two new passwords are not the same."),
        (OLD_PASSWORD, "9 chars!!", None, "new_password",
         "The new password needs at least 10 characters"),
        (OLD_PASSWORD, "EMAIL", None, "new_password",
         "The new password must not be your email address"),
    ],
)  # fmt: skip
def test_a_password_change_is_refused_with_the_reason(
    app: FastAPI, session_factory: Any, api: Api,
    current: str, new: str, again: str | None, field: str, message: str,
) -> None:  # fmt: skip
    user = _user(app, session_factory, api)
    response = _change(user, current, user.email.upper() if new == "EMAIL" else new, again)
    assert response.status_code == 422
    assert f'data-testid="error-{field}">{message}' in response.text
    assert _can_log_in(session_factory, user.email, OLD_PASSWORD)


def test_changing_the_password_signs_out_the_other_sessions_only(
    app: FastAPI, client: TestClient, session_factory: Any, api: Api
) -> None:
    user = _user(app, session_factory, api)
    with session_factory() as session:
        other_token, _ = account_service.start_session(session, session.get(User, user.user_id))
        session.commit()
    elsewhere = TestClient(app, cookies={"cadency_session": other_token})
    assert elsewhere.get("/settings/profile", follow_redirects=False).status_code == 200
    assert _sessions(session_factory, user.user_id) == 2

    response = _change(user, OLD_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/profile"
    assert user.client.get("/settings/profile").status_code == 200
    assert elsewhere.get("/settings/profile", follow_redirects=False).status_code == 303
    assert _sessions(session_factory, user.user_id) == 1
    assert _can_log_in(session_factory, user.email, NEW_PASSWORD)
    assert not _can_log_in(session_factory, user.email, OLD_PASSWORD)


def test_password_errors_speak_the_page_language(
    app: FastAPI, session_factory: Any, api: Api
) -> None:
    user = _user(app, session_factory, api)
    user.client.headers["accept-language"] = "nl"
    response = _change(user, OLD_PASSWORD, "kort")
    assert response.status_code == 422
    assert "Het nieuwe wachtwoord moet minstens 10 tekens hebben" in response.text


def test_reset_requests_for_one_email_are_limited(
    app: FastAPI, client: Any, session_factory: Any, api: Api
) -> None:
    """A fourth request within the hour is refused (429, Retry-After), and no fourth email
    goes out: the form cannot be used to fill someone's inbox."""
    user = _user(app, session_factory, api)
    for _ in range(3):
        assert client.post("/password-reset", data={"email": user.email}).status_code == 200
    refused = client.post("/password-reset", data={"email": user.email.upper()})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many reset requests" in refused.text
    assert len(_mailed_links(session_factory, api.account_id, user.email)) == 3
