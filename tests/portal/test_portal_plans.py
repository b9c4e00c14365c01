"""Which plans the portal offers a buyer, what yearly billing saves, and the buyer's actions as
the service enforces them (the configuration decides; a refused action changes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadency.accounts.models import Account
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.plans import service as plan_service
from cadency.portal import service
from cadency.subscriptions import service as subscription_service
from tests.checkout.builders import product
from tests.scenarios.story import Story

START = datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.fixture
def shop(client: TestClient, session_factory: Any) -> tuple[Story, dict[str, dict[str, Any]]]:
    story = Story(client, session_factory, start=START)
    plans = {
        "basic": product(story.api, "Basic", "10.00", "monthly"),
        "pro": product(story.api, "Pro", "25.00", "monthly"),
        "pro_yearly": product(story.api, "Pro", "250.00", "annually"),
        "basic_yearly": product(story.api, "Basic", "130.00", "annually"),  # dearer: no saving
    }
    euro = story.api.ok(
        story.api.post(
            "/products",
            {
                "name": "Pro",
                "unit_price": "20.00",
                "currency": "EUR",
                "billing_frequency": "monthly",
            },
        )
    )
    offered = [p["id"] for p in plans.values()] + [euro["id"]]
    story.api.ok(
        story.api.patch(
            "/portal-configuration", {"plan_change": {"enabled": True, "products": offered}}
        )
    )
    return story, plans


def subscribe(story: Story, product_id: str, quantity: int = 1) -> dict[str, Any]:
    contact_id, method_id = story.customer(email=f"buyer-{product_id[-6:]}@example.com")
    return story.api.ok(
        story.api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [{"product_id": product_id, "quantity": quantity}],
                "collection_method": "charge_automatically",
                "payment_method_id": method_id,
            },
        )
    )


def options(story: Story, sub_id: str) -> list[tuple[str, str | None, int, bool, int | None]]:
    with story.session_factory() as session:
        account = session.get(Account, story.api.account_id)
        assert account is not None
        features, _ = service.get_configuration(session, account)
        subscription = subscription_service.get(session, account, sub_id)
        return [
            (o.product.name, o.product.billing_frequency, o.amount, o.current, o.yearly_saving)
            for o in service.plan_options(session, account, subscription, features)
        ]


def test_offered_plans_in_the_subscriptions_currency_with_the_yearly_saving(
    shop: tuple[Story, dict[str, dict[str, Any]]],
) -> None:
    story, plans = shop
    sub = subscribe(story, plans["basic"]["id"], quantity=2)
    # The current plan first; the euro plan is left out; amounts are for two seats.
    assert options(story, sub["id"]) == [
        ("Basic", "monthly", 2000, True, None),
        ("Pro", "monthly", 5000, False, None),
        ("Pro", "annually", 50000, False, 10000),  # (25.00 * 12 - 250.00) * 2
        ("Basic", "annually", 26000, False, None),  # 130.00 > 10.00 * 12: no saving shown
    ]
    # Without billing-period changes, only monthly plans are offered.
    story.api.ok(
        story.api.patch("/portal-configuration", {"plan_change": {"billing_period_change": False}})
    )
    assert options(story, sub["id"]) == [
        ("Basic", "monthly", 2000, True, None),
        ("Pro", "monthly", 5000, False, None),
    ]


def test_no_plans_while_canceling_or_for_a_subscription_of_several_items(
    shop: tuple[Story, dict[str, dict[str, Any]]],
) -> None:
    story, plans = shop
    sub = subscribe(story, plans["basic"]["id"])
    story.cancel(sub["id"], "at_period_end", reason="too_expensive")
    assert options(story, sub["id"]) == []
    contact_id, method_id = story.customer(email="two-items@example.com")
    bundle = story.api.ok(
        story.api.post(
            "/subscriptions",
            {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [
                    {"product_id": plans["basic"]["id"]},
                    {"product_id": plans["pro"]["id"]},
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": method_id,
            },
        )
    )
    assert options(story, bundle["id"]) == []


def test_the_buyers_actions_follow_the_configuration(
    shop: tuple[Story, dict[str, dict[str, Any]]],
) -> None:
    story, plans = shop
    sub = subscribe(story, plans["basic"]["id"])
    with story.session_factory() as session:
        account = session.get(Account, story.api.account_id)
        assert account is not None
        features, _ = service.get_configuration(session, account)
        with pytest.raises(InvalidRequest) as not_offered:
            service.change_plan(session, account, sub["id"], plans["basic"]["id"], features)
        assert not_offered.value.param == "product_id"
        with pytest.raises(InvalidRequest) as no_reason:
            service.cancel(
                session,
                account,
                sub["id"],
                None,
                None,
                features,
                plan_rules=plan_service.before_portal_cancel,
            )
        assert no_reason.value.param == "reason"
        off = features.model_copy(
            update={
                "plan_change": features.plan_change.model_copy(update={"enabled": False}),
                "cancellation": features.cancellation.model_copy(update={"enabled": False}),
            }
        )
        with pytest.raises(Conflict):
            service.change_plan(session, account, sub["id"], plans["pro"]["id"], off)
        with pytest.raises(Conflict):
            service.cancel(
                session,
                account,
                sub["id"],
                "other",
                None,
                off,
                plan_rules=plan_service.before_portal_cancel,
            )
        session.rollback()
    assert story.subscription(sub["id"])["line_items"][0]["product_id"] == plans["basic"]["id"]
    assert story.subscription(sub["id"])["cancel_at_period_end"] is False

    # Allowed: the switch is the subscription service's change, prorated as configured.
    with story.session_factory() as session:
        account = session.get(Account, story.api.account_id)
        assert account is not None
        features, _ = service.get_configuration(session, account)
        service.change_plan(session, account, sub["id"], plans["pro"]["id"], features)
        session.commit()
    changed = story.subscription(sub["id"])
    assert [i["product_id"] for i in changed["line_items"]] == [plans["pro"]["id"]]
    assert changed["next_payment_amount"] == "25.00"
    # Changed on the first day of the period: Basic credited, Pro charged for all of it.
    assert story.invoices(sub["id"]) == [
        ("2026-03-01", "2026-04-01", "10.00", "paid", "2026-03-01"),
        ("2026-03-01", "2026-04-01", "15.00", "paid", "2026-03-01"),
    ]
    assert story.payments(sub["id"]) == [("10.00", "succeeded", None), ("15.00", "succeeded", None)]
