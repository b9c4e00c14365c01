"""Users of an account in accounts.service: listing, permissions, (de)activation, language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cadency.accounts import service
from cadency.accounts.models import Account, User, UserSession
from cadency.kit import clock
from cadency.kit.errors import Conflict, InvalidRequest, NotFound

PASSWORD = "long enough password"


@pytest.fixture
def session(session_factory: Any) -> Iterator[Session]:
    with session_factory() as session:
        yield session
        session.rollback()


@pytest.fixture
def account(session: Session) -> Account:
    created, _ = service.create_account(session, name="Users shop")
    return created


def make_user(session: Session, account: Account, email: str, *permissions: str) -> User:
    return service.create_user(
        session, account, email=email, password=PASSWORD, permissions=permissions
    )


def test_list_users_of_one_account_by_email(session: Session, account: Account) -> None:
    other, _ = service.create_account(session, name="Other shop")
    make_user(session, account, "zoe@example.com", "subscriptions.view")
    make_user(session, account, "adam@example.com")
    make_user(session, other, "bob@example.com")
    listed = service.list_users(session, account.id)
    assert [u.email for u in listed] == ["adam@example.com", "zoe@example.com"]
    assert listed[0].permissions == ["super_admin"]


def test_get_user_of_another_account_is_not_found(session: Session, account: Account) -> None:
    other, _ = service.create_account(session, name="Other shop")
    stranger = make_user(session, other, "x@example.com")
    with pytest.raises(NotFound):
        service.get_user(session, account.id, stranger.id)
    assert service.get_user(session, other.id, stranger.id) is stranger


def test_set_permissions_keeps_the_known_order(session: Session, account: Account) -> None:
    admin = make_user(session, account, "admin@example.com")
    clerk = make_user(session, account, "clerk@example.com", "subscriptions.view")
    service.set_permissions(
        session,
        clerk,
        ["properties.edit", "subscriptions.view", "properties.edit"],
        acting_user_id=admin.id,
    )
    assert clerk.permissions == ["subscriptions.view", "properties.edit"]


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        ([], "Choose at least one permission"),
        (["subscriptions.view", "root"], "Unknown permission: 'root'"),
    ],
)
def test_bad_permissions_are_refused(
    session: Session, account: Account, permissions: list[str], message: str
) -> None:
    admin = make_user(session, account, "admin@example.com")
    clerk = make_user(session, account, "clerk@example.com", "subscriptions.view")
    with pytest.raises(InvalidRequest) as raised:
        service.set_permissions(session, clerk, permissions, acting_user_id=admin.id)
    assert message in raised.value.message
    assert raised.value.param == "permissions"
    assert clerk.permissions == ["subscriptions.view"]


def test_nobody_removes_their_own_super_admin(session: Session, account: Account) -> None:
    admin = make_user(session, account, "admin@example.com")
    deputy = make_user(session, account, "deputy@example.com")
    with pytest.raises(Conflict) as raised:
        service.set_permissions(session, admin, ["subscriptions.view"], acting_user_id=admin.id)
    assert "your own super admin" in raised.value.message
    assert admin.permissions == ["super_admin"]
    # Adding to one's own permissions is fine; another super admin may demote them.
    service.set_permissions(
        session, admin, ["billing.edit", "super_admin"], acting_user_id=admin.id
    )
    assert admin.permissions == ["billing.edit", "super_admin"]
    service.set_permissions(session, admin, ["subscriptions.view"], acting_user_id=deputy.id)
    assert admin.permissions == ["subscriptions.view"]


def test_deactivation_ends_every_session(session: Session, account: Account) -> None:
    admin = make_user(session, account, "admin@example.com")
    clerk = make_user(session, account, "clerk@example.com", "subscriptions.view")
    first, _ = service.start_session(session, clerk)
    second, _ = service.start_session(session, clerk)
    admin_token, _ = service.start_session(session, admin)
    assert service.find_session(session, first) is not None

    service.set_active(session, clerk, False, acting_user_id=admin.id)
    assert clerk.is_active is False
    assert session.query(UserSession).filter_by(user_id=clerk.id).count() == 0
    assert service.find_session(session, first) is None
    assert service.find_session(session, second) is None
    assert service.find_session(session, admin_token) is not None
    assert service.authenticate(session, "clerk@example.com", PASSWORD) is None

    service.set_active(session, clerk, True, acting_user_id=admin.id)
    assert service.authenticate(session, "clerk@example.com", PASSWORD) is clerk


def test_nobody_deactivates_themselves(session: Session, account: Account) -> None:
    admin = make_user(session, account, "admin@example.com")
    token, _ = service.start_session(session, admin)
    with pytest.raises(Conflict) as raised:
        service.set_active(session, admin, False, acting_user_id=admin.id)
    assert "cannot deactivate yourself" in raised.value.message
    assert admin.is_active is True
    assert service.find_session(session, token) is not None


def test_user_language(session: Session, account: Account) -> None:
    user = make_user(session, account, "admin@example.com")
    service.set_user_language(session, user, "da")
    assert user.language == "da"
    service.set_user_language(session, user, None)
    assert user.language is None
    with pytest.raises(InvalidRequest):
        service.set_user_language(session, user, "fr")
    assert user.language is None


def test_a_new_sign_in_clears_the_users_expired_sessions(api: Any, session_factory: Any) -> None:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        user = service.create_user(
            session, account, email="sessions@example.com", password="long enough secret"
        )
        expired_token, expired = service.start_session(session, user)
        expired.expires_at = clock.real_now() - timedelta(seconds=1)
        live_token, _ = service.start_session(session, user)
        session.commit()
        assert service.find_session(session, expired_token) is None

        newest_token, _ = service.start_session(session, user)
        session.commit()
        rows = session.query(UserSession).filter_by(user_id=user.id).count()
        assert rows == 2  # the live one and the newest; the expired one is gone
        assert service.find_session(session, live_token) is not None
        assert service.find_session(session, newest_token) is not None
