"""Fixtures of the export tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.exports.helpers import Shop, make_shop


@pytest.fixture
def shop(api: Api, session_factory: Any) -> Shop:
    """The small shop of tests/exports/helpers.py in the test's account."""
    with session_factory() as db:
        made = make_shop(db, api.account_id)
        db.commit()
        return made
