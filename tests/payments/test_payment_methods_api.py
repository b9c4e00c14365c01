from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cadency.accounts.models import Account
from cadency.models import Base
from cadency.payments import sandbox
from cadency.payments.models import PaymentMethod
from tests.conftest import Api, pin_clock

BANK_ROUTING = "110000000"


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def card_fields(**fields: Any) -> dict[str, Any]:
    """A card body with some fields replaced (or removed, with None)."""
    details: dict[str, Any] = {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099}
    details["cvc"] = "123"
    details.update(fields)
    return {"type": "card", "card": {k: v for k, v in details.items() if v is not None}}


def card(
    number: str, exp_month: int = 12, exp_year: int = 2099, cvc: str = "123"
) -> dict[str, Any]:
    return {
        "type": "card",
        "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
    }


def bank(account_number: str, routing_number: str = BANK_ROUTING) -> dict[str, Any]:
    return {
        "type": "bank_debit",
        "bank_debit": {"routing_number": routing_number, "account_number": account_number},
    }


@pytest.fixture
def contact_id(api: Api) -> str:
    created: dict[str, Any] = api.ok(api.post("/contacts", {"email": "payer@example.com"}))
    return str(created["id"])


def stored(session_factory: Any, payment_method_id: str) -> PaymentMethod:
    with session_factory() as session:
        method = session.get(PaymentMethod, payment_method_id)
        assert method is not None
        return method


def attach(api: Api, contact_id: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = api.ok(api.post(f"/contacts/{contact_id}/payment-methods", body))
    return created


def test_successful_card(api: Api, contact_id: str, session_factory: Any) -> None:
    method = attach(api, contact_id, card("4242424242424242", 8, 2031))
    assert method["id"].startswith("pm_")
    assert method["object"] == "payment_method"
    assert method["type"] == "card"
    assert method["brand"] == "visa"
    assert method["last4"] == "4242"
    assert method["exp_month"] == 8
    assert method["exp_year"] == 2031
    assert method["contact_id"] == contact_id
    assert set(method) == {
        "id", "object", "type", "brand", "last4", "exp_month", "exp_year", "contact_id",
        "created_at",
    }  # fmt: skip
    row = stored(session_factory, method["id"])
    assert row.processor == "sandbox"
    assert row.processor_token.startswith("sbx_card_succeeds_")
    assert sandbox.behaviour_of(row.processor_token) is sandbox.Behaviour.SUCCEEDS
    assert api.ok(api.get(f"/payment-methods/{method['id']}")) == method
    listed = api.ok(api.get(f"/contacts/{contact_id}/payment-methods"))
    assert listed["object"] == "list"
    assert listed["data"] == [method]


def test_declined_card_is_402_and_saves_nothing(api: Api, contact_id: str) -> None:
    body = error(api.post(f"/contacts/{contact_id}/payment-methods", card("4000000000000002")), 402)
    assert body["type"] == "payment"
    assert "Your card was declined" in body["message"]
    assert "4000000000000002" not in body["message"]
    assert api.ok(api.get(f"/contacts/{contact_id}/payment-methods"))["data"] == []


@pytest.mark.parametrize(
    ("number", "behaviour", "token_prefix"),
    [
        ("4000000000000341", sandbox.Behaviour.ALWAYS_FAILS, "sbx_card_always_fails_"),
        ("4000000000009995", sandbox.Behaviour.INSUFFICIENT_FUNDS, "sbx_card_insufficient_funds_"),
    ],
)
def test_cards_that_attach_but_fail_charges(
    api: Api,
    contact_id: str,
    session_factory: Any,
    number: str,
    behaviour: sandbox.Behaviour,
    token_prefix: str,
) -> None:
    method = attach(api, contact_id, card(number))
    assert method["brand"] == "visa"
    assert method["last4"] == number[-4:]
    token = stored(session_factory, method["id"]).processor_token
    assert token.startswith(token_prefix)
    assert number not in token
    assert sandbox.behaviour_of(token) is behaviour


@pytest.mark.parametrize(
    ("account_number", "behaviour"),
    [
        ("000123456789", sandbox.Behaviour.SETTLES_LATER),
        ("000111111116", sandbox.Behaviour.FAILS_LATER),
    ],
)
def test_bank_debit_accounts(
    api: Api,
    contact_id: str,
    session_factory: Any,
    account_number: str,
    behaviour: sandbox.Behaviour,
) -> None:
    method = attach(api, contact_id, bank(account_number))
    assert method["type"] == "bank_debit"
    assert method["brand"] is None
    assert method["last4"] == account_number[-4:]
    assert method["exp_month"] is None and method["exp_year"] is None
    token = stored(session_factory, method["id"]).processor_token
    assert token.startswith("sbx_bank_")
    assert sandbox.behaviour_of(token) is behaviour
    assert sandbox.BANK_SETTLEMENT_DAYS == 4


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (card("4242424242424241"), "card.number"),  # Luhn check fails
        (card("4242 4242 4242 4242"), "card.number"),
        (card("42424242424"), "card.number"),  # 11 digits
        (card("42424242424242424242"), "card.number"),  # 20 digits
        (card("4242424242424242", cvc="12"), "card.cvc"),
        (card("4242424242424242", cvc="12a"), "card.cvc"),
        (card("4242424242424242", exp_month=13), "card.exp_month"),
        (card("4242424242424242", exp_year=31), "card.exp_year"),
        (card_fields(number=4242424242424242), "card.number"),
        (card_fields(exp_month="1"), "card.exp_month"),
        (card_fields(cvc=123), "card.cvc"),
        (card_fields(cvc=None), "card.cvc"),
        (card_fields(name="A"), "card.name"),
        ({"type": "card"}, "card"),
        ({**bank("000123456789"), **card("4242424242424242")}, "bank_debit"),
        ({**card("4242424242424242"), "type": "bank_debit"}, "card"),
        ({"type": "paypal"}, "type"),
        ({"type": "card", "card": card("4242424242424242")["card"], "default": True}, "default"),
        (bank("000123456789", routing_number="110000001"), "bank_debit.routing_number"),
        (bank("000123456789", routing_number="11000000"), "bank_debit.routing_number"),
        (bank("123"), "bank_debit.account_number"),
        (bank("123456789012345678"), "bank_debit.account_number"),
        (bank("12-3456"), "bank_debit.account_number"),
    ],
)
def test_invalid_details_name_the_field(
    api: Api, contact_id: str, body: dict[str, Any], param: str
) -> None:
    response = api.post(f"/contacts/{contact_id}/payment-methods", body)
    problem = error(response, 422)
    assert problem["type"] == "invalid_request"
    assert problem["param"] == param
    # The error never repeats the card or account number.
    for secret in ("4242424242424241", "4242424242424242", "4242 4242 4242 4242", "000123456789"):
        assert secret not in response.text
    assert api.ok(api.get(f"/contacts/{contact_id}/payment-methods"))["data"] == []


def set_clock(session_factory: Any, account_id: int, moment: datetime) -> None:
    pin_clock(session_factory, account_id, moment)


def test_expiry_is_checked_against_the_account_clock(
    api: Api, contact_id: str, session_factory: Any
) -> None:
    set_clock(session_factory, api.account_id, datetime(2030, 6, 15, 12, tzinfo=UTC))
    path = f"/contacts/{contact_id}/payment-methods"
    body = error(api.post(path, card("4242424242424242", 5, 2030)), 422)
    assert body["param"] == "card.exp_month"
    assert "expired" in body["message"]
    assert (
        error(api.post(path, card("4242424242424242", 12, 2029)), 422)["param"] == "card.exp_year"
    )
    # A card is valid through the end of its expiry month.
    assert attach(api, contact_id, card("4242424242424242", 6, 2030))["exp_year"] == 2030
    # Cards valid on today's wall clock are expired on a clock moved past their expiry.
    set_clock(session_factory, api.account_id, datetime(2099, 1, 1, tzinfo=UTC))
    assert (
        error(api.post(path, card("4242424242424242", 12, 2098)), 422)["param"] == "card.exp_year"
    )


def test_brands_are_detected(api: Api, contact_id: str) -> None:
    cases = {
        "5555555555554444": "mastercard",
        "2223003122003222": "mastercard",
        "378282246310005": "amex",
        "6011111111111117": "discover",
        "3566002020360505": "jcb",
        "36227206271667": "diners",
    }
    for number, brand in cases.items():
        cvc = "1234" if brand == "amex" else "123"
        method = attach(api, contact_id, card(number, cvc=cvc))
        assert method["brand"] == brand, number
        assert method["last4"] == number[-4:]


def test_other_accounts_contact_is_not_found(api: Api, other_api: Api, contact_id: str) -> None:
    method = attach(api, contact_id, card("4242424242424242"))
    path = f"/contacts/{contact_id}/payment-methods"
    assert error(other_api.post(path, card("4242424242424242")), 404)["type"] == "not_found"
    assert error(other_api.get(path), 404)["type"] == "not_found"
    assert error(other_api.get(f"/payment-methods/{method['id']}"), 404)["type"] == "not_found"
    assert (
        error(api.post("/contacts/cont_nope/payment-methods", card("4242424242424242")), 404)[
            "type"
        ]
        == "not_found"
    )
    assert len(api.ok(api.get(path))["data"]) == 1


def test_needs_the_edit_permission(api: Api, contact_id: str, session_factory: Any) -> None:
    from cadency.accounts import service as account_service

    with session_factory() as session:
        account = session.get(Account, api.account_id)
        _key, secret = account_service.create_api_key(
            session, account, name="Viewer", scopes=["subscriptions.view"]
        )
        session.commit()
    viewer = Api(client=api.client, account_id=api.account_id, key=secret)
    path = f"/contacts/{contact_id}/payment-methods"
    assert error(viewer.post(path, card("4242424242424242")), 403)["type"] == "permission"
    assert viewer.ok(viewer.get(path))["data"] == []


def test_list_payment_methods_paginates(api: Api, contact_id: str) -> None:
    ids = [
        attach(api, contact_id, card("4242424242424242"))["id"],
        attach(api, contact_id, card("5555555555554444"))["id"],
        attach(api, contact_id, bank("000123456789"))["id"],
    ]
    other_contact = api.ok(api.post("/contacts", {"email": "someone-else@example.com"}))
    attach(api, other_contact["id"], card("4242424242424242"))
    path = f"/contacts/{contact_id}/payment-methods"
    first = api.ok(api.get(path, {"limit": 2}))
    assert [m["id"] for m in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    second = api.ok(api.get(path, {"limit": 2, "cursor": first["next_cursor"]}))
    assert [m["id"] for m in second["data"]] == [ids[0]]
    assert second["has_more"] is False and second["next_cursor"] is None


def test_full_numbers_and_cvc_are_never_stored_returned_or_logged(
    api: Api, contact_id: str, session_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["4242424242424242", "4000000000000341", "4000000000009995", "000123456789"]
    cvc = "9071"
    texts: list[str] = []
    for number in secrets[:3]:
        response = api.post(f"/contacts/{contact_id}/payment-methods", card(number, cvc=cvc))
        assert response.status_code == 200, response.text
        texts.append(response.text)
    response = api.post(f"/contacts/{contact_id}/payment-methods", bank(secrets[3]))
    assert response.status_code == 200
    texts.append(response.text)
    declined = api.post(
        f"/contacts/{contact_id}/payment-methods", card("4000000000000002", cvc=cvc)
    )
    assert declined.status_code == 402
    texts.append(declined.text)
    texts.append(api.get(f"/contacts/{contact_id}/payment-methods").text)
    secrets.append("4000000000000002")

    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert f'"{cvc}"' not in text and "cvc" not in text

    with session_factory() as session:
        rows = session.scalars(
            select(PaymentMethod).where(PaymentMethod.contact_id == contact_id)
        ).all()
        assert len(rows) == 4
        for row in rows:
            values = " ".join(str(getattr(row, c.key)) for c in PaymentMethod.__table__.columns)
            for secret in secrets:
                assert secret not in values
            # The only columns that are not display details are the random ID and the token,
            # and the token is behaviour + randomness by construction.
            assert re.fullmatch(r"sbx_(card|bank)_[a-z_]+_[0-9a-f]{24}", row.processor_token)
            display = [row.type, row.brand, row.last4, row.exp_month, row.exp_year]
            assert cvc not in " ".join(str(v) for v in display)
        # Nor anywhere else in the database.
        for table in Base.metadata.sorted_tables:
            for db_row in session.execute(select(table)):
                flat = " ".join(str(value) for value in db_row)
                for secret in secrets:
                    assert secret not in flat, table.name

    for record in caplog.records:
        message = record.getMessage()
        for secret in secrets:
            assert secret not in message
