"""A merchant account's whole plan life in simulated time (the operator's test clock): a trial
that ends by itself (charged with a card on file, else Free), one ended early, an upgrade to
yearly billing, a canceled renewal that keeps billing to the period end and then leaves the
account on Free, and the deletion of the free account. After every clock step, running the
engine again writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.accounts.models import Account
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.kit.outbox import OutboxMessage
from cadency.plans import service as plans
from cadency.plans.models import AccountPlan
from cadency.portal import service as portal
from tests.checkout.builders import error
from tests.conftest import Api, Operator, enrolled_account, make_api

CARD = {
    "type": "card",
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2045, "cvc": "123"},
}


def clock(operator: Operator) -> datetime:
    return datetime.fromisoformat(operator.api.ok(operator.api.get("/clock"))["now"])


def advance(operator: Operator, to: datetime) -> None:
    operator.api.ok(operator.api.post("/clock/advance", {"to": to.isoformat()}))
    # The same instant again: everything due has run, so nothing more is written.
    again = operator.api.ok(operator.api.post("/clock/advance", {"to": to.isoformat()}))
    assert again["summary"] == {
        "subscriptions_processed": 0,
        "subscriptions_failed": 0,
        "invoices_created": 0,
        "payments_created": 0,
    }


def plan_of(shop: Api) -> dict[str, Any]:
    result: dict[str, Any] = shop.ok(shop.get("/account/plan"))
    return result


def invoices(operator: Operator, sub_id: str) -> list[tuple[str, str, str | None]]:
    data = operator.api.ok(
        operator.api.get("/invoices", params={"subscription_id": sub_id, "limit": 100})
    )["data"]
    return [(i["total"], i["status"], i["period_start"]) for i in reversed(data)]


def add_card(operator: Operator, shop: Api, session_factory: Any) -> None:
    """The buyer saves a card in the portal: it becomes the plan's payment method."""
    with session_factory() as session:
        enrolled = session.get(AccountPlan, shop.account_id)
        assert enrolled is not None
        contact_id, sub_id = enrolled.contact_id, enrolled.subscription_id
    method = operator.api.ok(operator.api.post(f"/contacts/{contact_id}/payment-methods", CARD))
    operator.api.ok(
        operator.api.patch(f"/subscriptions/{sub_id}", {"payment_method_id": method["id"]})
    )


def test_a_trial_without_a_card_ends_on_free(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "No Card Shop")
    start = clock(operator)
    sub_id = plan_of(shop)["subscription_id"]
    advance(operator, start + timedelta(days=29))
    assert plan_of(shop)["plan"]["code"] == "pro"

    advance(operator, start + timedelta(days=30, hours=1))
    plan = plan_of(shop)
    assert plan["plan"]["code"] == "free" and plan["status"] == "active"
    assert plan["subscription_id"] == sub_id  # the same subscription, now on the Free plan
    sub = operator.api.ok(operator.api.get(f"/subscriptions/{sub_id}"))
    assert [i["name"] for i in sub["line_items"]] == ["Free"] and sub["mrr"] == "0.00"
    # Nothing was charged for Pro: only the Free plan's invoice of nothing.
    assert [(total, status) for total, status, _ in invoices(operator, sub_id)] == [
        ("0.00", "paid")
    ]


def test_a_trial_with_a_card_is_charged_then_canceled_and_the_free_account_deleted(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "Card Shop")
    start = clock(operator)
    sub_id = plan_of(shop)["subscription_id"]
    add_card(operator, shop, session_factory)

    trial_end = start + timedelta(days=30, hours=1)
    advance(operator, trial_end)
    plan = plan_of(shop)
    assert plan["plan"]["code"] == "pro" and plan["status"] == "active"
    [(total, status, _period)] = invoices(operator, sub_id)
    assert (total, status) == ("50.00", "paid")

    # The account is not free: it cannot be deleted yet.
    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        with pytest.raises(Conflict) as not_free:
            plans.delete_free_account(session, account, str(account.id))
        assert "Pro plan" in not_free.value.message

    # Cancel the renewal in the portal: billing goes on to the end of the period.
    with session_factory() as session:
        operator_account = session.get(Account, operator.api.account_id)
        assert operator_account is not None
        features, _ = portal.get_configuration(session, operator_account)
        portal.cancel(
            session,
            operator_account,
            sub_id,
            "too_expensive",
            None,
            features,
            plan_rules=plans.before_portal_cancel,
        )
        session.commit()
    canceling = operator.api.ok(operator.api.get(f"/subscriptions/{sub_id}"))
    period_end = datetime.fromisoformat(canceling["current_period_end"] + "T12:00:00+00:00")
    assert canceling["cancel_at_period_end"] is True
    assert canceling["cancel_at"] == canceling["current_period_end"]
    # The notice of non-renewal: the commitment (the billing period) and the effective date.
    with session_factory() as session:
        [notice] = session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.subscription_id == sub_id,
                OutboxMessage.type == "subscription.non_renewal_notice",
            )
        ).all()
    assert notice["commitment_months"] == 1
    assert notice["effective_date"] == canceling["current_period_end"]
    advance(operator, period_end - timedelta(days=1))
    assert plan_of(shop)["plan"]["code"] == "pro"

    # On the effective date the plan falls back to Free: nothing more is charged.
    advance(operator, period_end)
    free = plan_of(shop)
    assert free["plan"]["code"] == "free" and free["subscription_id"] == sub_id
    assert free["status"] == "active" and free["can_cancel"] is True
    assert [(t, s) for t, s, _ in invoices(operator, sub_id)] == [
        ("50.00", "paid"),
        ("0.00", "paid"),
    ]
    advance(operator, period_end + timedelta(days=40))
    assert [t for t, _, _ in invoices(operator, sub_id)] == ["50.00", "0.00", "0.00"]

    # Delete it: the typed ID must be the account's; then nothing of it is left.
    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        with pytest.raises(InvalidRequest) as wrong:
            plans.delete_free_account(session, account, "10000001x")
        assert wrong.value.param == "account_id"
        session.rollback()
    assert shop.ok(shop.get("/account/plan"))["plan"]["code"] == "free"
    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        deleted = plans.delete_free_account(session, account, f" {shop.account_id} ")
        session.commit()
        assert deleted["accounts"] == 1 and deleted["account_plans"] == 1
        assert session.get(Account, shop.account_id) is None
        assert (
            session.scalar(
                select(func.count())
                .select_from(AccountPlan)
                .where(AccountPlan.account_id == shop.account_id)
            )
            == 0
        )
    assert error(shop.get("/account/plan"), 401)
    # Its ID is never handed out again (the operator's records still name it).
    assert make_api(client, session_factory, name="Next shop").account_id > shop.account_id
    # The operator keeps its own records of the customer.
    kept = operator.api.ok(operator.api.get(f"/subscriptions/{sub_id}"))
    assert kept["status"] == "canceled" and invoices(operator, sub_id)[0][:2] == ("50.00", "paid")
    assert kept["cancellation_comment"] == f"Account {shop.account_id} was deleted"


def test_a_trial_ended_early_and_an_upgrade_to_yearly(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "Early Shop")
    sub_id = plan_of(shop)["subscription_id"]
    add_card(operator, shop, session_factory)
    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        plans.end_trial(session, account)
        session.commit()
    plan = plan_of(shop)
    assert plan["plan"]["code"] == "pro" and plan["status"] == "active"
    assert [(t, s) for t, s, _ in invoices(operator, sub_id)] == [("50.00", "paid")]
    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        with pytest.raises(Conflict):
            plans.end_trial(session, account)

    # Upgrade to Business, billed yearly, in the portal: prorated on the first day.
    with session_factory() as session:
        operator_account = session.get(Account, operator.api.account_id)
        assert operator_account is not None
        features, _ = portal.get_configuration(session, operator_account)
        business_yearly = next(
            row.yearly
            for row in plans.plans_for_sale(session, operator.api.account_id)
            if row.plan.code == "business"
        )
        assert business_yearly is not None
        portal.change_plan(session, operator_account, sub_id, business_yearly.id, features)
        session.commit()
    upgraded = plan_of(shop)
    assert upgraded["plan"]["code"] == "business" and upgraded["billing_period"] == "yearly"
    assert upgraded["seats"]["included"] == 10
    totals = [(t, s) for t, s, _ in invoices(operator, sub_id)]
    # The month just paid is credited in full (changed on its first day); the year is charged.
    assert totals == [("50.00", "paid"), ("1200.00", "paid")]
    payments = operator.api.ok(operator.api.get("/payments", params={"subscription_id": sub_id}))
    assert sorted((p["amount"], p["status"], p["refunded_amount"]) for p in payments["data"]) == [
        ("1200.00", "succeeded", "0.00"),
        ("50.00", "refunded", "50.00"),
    ]
