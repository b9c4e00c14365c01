from __future__ import annotations

from typing import Any

import pytest

from cadency.accounts import service
from cadency.accounts.models import Account
from tests.conftest import Api


def test_defaults(api: Api) -> None:
    settings = api.ok(api.get("/account/settings"))
    assert settings == {
        "account_id": api.account_id,
        "name": "Test shop",
        "mode": "test",
        "timezone": "UTC",
        "currency": "USD",
        "language": "en",
        "locale": "en-US",
        "renewal_reminder_days": 14,
        "dunning_retry_days": [3, 5, 7],
        "dunning_final_action": "cancel",
        "dunning_invoice_action": "mark_uncollectible",
        "invoice_number_prefix": "INV",
        "bank_transfer_details": None,
        "default_invoice_comment": None,
        "tax_ids": [],
    }


def test_bank_transfer_details_are_set_and_cleared(api: Api) -> None:
    details = "Test shop B.V.\nIBAN NL91 ABNA 0417 1643 00"
    updated = api.ok(api.patch("/account/settings", {"bank_transfer_details": f"  {details}\n"}))
    assert updated["bank_transfer_details"] == details
    too_long = api.patch("/account/settings", {"bank_transfer_details": "x" * 1001})
    assert too_long.status_code == 422
    assert too_long.json()["error"]["param"] == "bank_transfer_details"
    assert api.ok(api.get("/account/settings"))["bank_transfer_details"] == details
    cleared = api.ok(api.patch("/account/settings", {"bank_transfer_details": ""}))
    assert cleared["bank_transfer_details"] is None


def test_patch_settings(api: Api) -> None:
    updated = api.ok(
        api.patch(
            "/account/settings",
            {
                "timezone": "Asia/Kolkata",
                "language": "da",
                "renewal_reminder_days": None,
                "dunning_retry_days": [2, 4],
                "dunning_final_action": "pause",
                "invoice_number_prefix": "CAD-",
            },
        )
    )
    assert updated["timezone"] == "Asia/Kolkata"
    assert (updated["language"], updated["locale"]) == ("da", "da-DK")
    assert updated["renewal_reminder_days"] is None
    assert updated["dunning_retry_days"] == [2, 4]
    assert updated["dunning_final_action"] == "pause"
    assert api.ok(api.get("/account/settings")) == updated


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"currency": "XYZ"}, "currency"),
        ({"language": "fr"}, "language"),
        ({"dunning_retry_days": [5, 3]}, "dunning_retry_days"),
        ({"dunning_retry_days": [0]}, "dunning_retry_days.0"),
        ({"dunning_final_action": "explode"}, "dunning_final_action"),
        ({"renewal_reminder_days": 1.5}, "renewal_reminder_days"),
        ({"timezone": None}, "timezone"),
        ({"mode": "live"}, "mode"),
    ],
)
def test_bad_settings_are_refused(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.patch("/account/settings", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
    assert api.ok(api.get("/account/settings"))["timezone"] == "UTC"


def test_changing_settings_needs_billing_edit(api: Api, session_factory: Any) -> None:
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        _, key = service.create_api_key(session, account, name="ro", scopes=["subscriptions.view"])
        _, billing_key = service.create_api_key(
            session, account, name="billing", scopes=["billing.edit"]
        )
        session.commit()
    viewer = Api(client=api.client, account_id=api.account_id, key=key)
    assert viewer.ok(viewer.get("/account/settings"))["account_id"] == api.account_id
    response = viewer.patch("/account/settings", {"timezone": "Europe/Amsterdam"})
    assert response.status_code == 403
    assert "billing.edit" in response.json()["error"]["message"]
    assert api.ok(api.get("/account/settings"))["timezone"] == "UTC"

    billing = Api(client=api.client, account_id=api.account_id, key=billing_key)
    changed = billing.patch("/account/settings", {"timezone": "Europe/Amsterdam"})
    assert billing.ok(changed)["timezone"] == "Europe/Amsterdam"
