"""One purchase with items of different billing terms becomes several subscriptions (SPEC §4
grouping rule); an error names the item's position in the whole purchase; nothing is billed or
kept unless every group was accepted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cadency.accounts.models import Account
from cadency.invoices.models import Invoice
from cadency.kit.errors import InvalidRequest
from cadency.subscriptions import service
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.schemas import SubscriptionCreate
from tests.conftest import Api
from tests.subscriptions.helpers import card, contact


def _purchase(api: Api, tax_rate_id: str | None) -> SubscriptionCreate:
    buyer = contact(api)
    method = card(api, buyer["id"])
    annual: dict[str, Any] = {"name": "Grinder care", "unit_price": "100.00"}
    annual["billing_frequency"] = "annually"
    if tax_rate_id is not None:
        annual["tax_rate_id"] = tax_rate_id
    return SubscriptionCreate.model_validate(
        {
            "contact_id": buyer["id"],
            "currency": "USD",
            "collection_method": "charge_automatically",
            "payment_method_id": method["id"],
            "line_items": [
                {"name": "Coffee club", "unit_price": "10.00", "billing_frequency": "monthly"},
                {"name": "Welcome kit", "unit_price": "5.00"},
                annual,
            ],
        }
    )


def test_two_frequencies_make_two_subscriptions_billed_together(
    api: Api, session_factory: Any
) -> None:
    data = _purchase(api, None)
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        created = service.create_grouped(session, account, data, allow_custom_items=True)
        session.commit()
        names = [[item.name for item in sub.line_items] for sub in created]
        ids = [sub.id for sub in created]
    # The one-time kit goes with the subscription billed first (both start today: the first).
    assert names == [["Coffee club", "Welcome kit"], ["Grinder care"]]
    invoices = [api.ok(api.get("/invoices", {"subscription_id": i}))["data"] for i in ids]
    assert [[(inv["total"], inv["status"]) for inv in found] for found in invoices] == [
        [("15.00", "paid")],
        [("100.00", "paid")],
    ]


def test_an_error_in_a_later_group_names_its_place_in_the_purchase_and_keeps_nothing(
    api: Api, session_factory: Any
) -> None:
    data = _purchase(api, "txr_does_not_exist")
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        with pytest.raises(InvalidRequest) as refused:
            service.create_grouped(session, account, data, allow_custom_items=True)
        session.rollback()
        assert refused.value.param == "line_items.2.tax_rate_id"
        mine = Subscription.account_id == api.account_id
        assert session.scalar(select(func.count()).select_from(Subscription).where(mine)) == 0
        billed = Invoice.account_id == api.account_id
        assert session.scalar(select(func.count()).select_from(Invoice).where(billed)) == 0
