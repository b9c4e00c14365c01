from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from tests.conftest import Api


@pytest.fixture
def api_with_scopes(api: Api, session_factory: Any) -> Callable[..., Api]:
    """Another API key of `api`'s account that holds only the given permissions."""

    def make(*scopes: str) -> Api:
        with session_factory() as session:
            account = session.get(Account, api.account_id)
            assert account is not None
            _key, secret = account_service.create_api_key(
                session, account, name="Limited key", scopes=list(scopes)
            )
            session.commit()
        return Api(client=api.client, account_id=api.account_id, key=secret)

    return make
