from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.test_idempotency import BODY, count_products


def test_nul_characters_are_refused_everywhere(api: Api, db: Any) -> None:
    assert api.get("/deals", params={"company_id": "\x00"}).status_code == 400
    response = api.post("/products", {**BODY, "name": "Beans\x00"})
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
    assert count_products(db, api.account_id) == 0
