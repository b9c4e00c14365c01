"""The account's own plan (SPEC §9): the operator sells plans with its own products and
subscriptions; a new merchant account starts a trial; plan limits apply to new custom
properties only; paid seats must be unassigned, and partners ask support, before a cancel."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.catalog.models import Product
from cadency.crm.models import Contact
from cadency.kit.errors import Conflict
from cadency.plans import service as plans
from cadency.plans.models import AccountPlan
from cadency.portal import service as portal
from tests.checkout.builders import error
from tests.conftest import Api, Operator, add_account_users, enrolled_account, make_api
from tests.portal.test_portal_commitment import portal_cancel
from tests.web.http import signed_in


def test_the_operator_sells_four_plans_and_a_new_account_starts_a_trial(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    with session_factory() as session:
        sold = sorted(
            (row.name, row.billing_frequency, row.unit_price, row.fallback_product_id is not None)
            for row in session.execute(
                select(
                    Product.name,
                    Product.billing_frequency,
                    Product.unit_price,
                    Product.fallback_product_id,
                ).where(Product.account_id == operator.api.account_id)
            )
        )
    # Paid plans fall back to Free when a canceled renewal takes effect.
    assert sold == [
        ("Business", "annually", 120000, True),
        ("Business", "monthly", 12000, True),
        ("Free", "monthly", 0, False),
        ("Pro", "annually", 50000, True),
        ("Pro", "monthly", 5000, True),
        ("Starter", "annually", 20000, True),
        ("Starter", "monthly", 2000, True),
    ]
    config = operator.api.ok(operator.api.get("/portal-configuration"))
    assert config["plan_change"]["enabled"] is True and len(config["plan_change"]["products"]) == 6

    shop = enrolled_account(client, session_factory, "Trial Shop")
    plan = shop.ok(shop.get("/account/plan"))
    assert plan["plan"] == {
        "code": "pro",
        "name": "Pro",
        "included_seats": 5,
        "custom_property_limit": 200,
        "workflows": True,
        "workflow_limit": 50,
    }
    assert plan["billing_period"] == "monthly"
    assert plan["status"] == "trialing"
    operator_today = date.fromisoformat(operator.api.ok(operator.api.get("/clock"))["today"])
    assert plan["trial_end"] == (operator_today + timedelta(days=30)).isoformat()
    assert plan["seats"] == {"included": 5, "assigned": []}
    assert plan["can_cancel"] is True and plan["cancel_blocked_because"] is None
    # The plan is an ordinary subscription of the operator's, to a contact for the account.
    sub = operator.api.ok(operator.api.get(f"/subscriptions/{plan['subscription_id']}"))
    assert sub["status"] == "trialing" and sub["collect_payment_method_on_first_invoice"] is True
    with session_factory() as session:
        enrolled = session.get(AccountPlan, shop.account_id)
        assert enrolled is not None
        contact = session.get(Contact, enrolled.contact_id)
        assert contact is not None and contact.email == "owner@trial-shop.example"
        assert contact.account_id == operator.api.account_id
    # An account the operator does not bill has no plan (and no plan limits).
    unbilled = make_api(client, session_factory, name="Self-hosted shop")
    assert error(unbilled.get("/account/plan"), 404)["type"] == "not_found"


def test_after_a_downgrade_existing_properties_stay_but_no_new_ones(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "Downgrade Shop")
    for n in range(12):
        body = {"name": f"field_{n}", "label": f"Field {n}", "field_type": "text"}
        shop.ok(shop.post("/properties/subscriptions", body))
    plan = shop.ok(shop.get("/account/plan"))
    # The plan ends (canceled at once by the operator): the account is on Free.
    operator.api.ok(
        operator.api.post(
            f"/subscriptions/{plan['subscription_id']}/cancel", {"mode": "immediately"}
        )
    )
    free = shop.ok(shop.get("/account/plan"))
    assert free["plan"]["code"] == "free" and free["plan"]["custom_property_limit"] == 10
    assert free["subscription_id"] is None and free["billing_period"] is None
    refused = error(
        shop.post(
            "/properties/subscriptions",
            {"name": "one_more", "label": "One more", "field_type": "text"},
        ),
        409,
    )
    assert "(10)" in refused["message"]
    # The twelve stay: listed, and still editable.
    listed = shop.ok(shop.get("/properties/subscriptions", params={"limit": 100}))["data"]
    assert len(listed) == 12
    edited = shop.ok(shop.patch("/properties/subscriptions/field_3", {"label": "Renamed"}))
    assert edited["label"] == "Renamed"
    # Other object types count on their own, within the same plan limit.
    shop.ok(
        shop.post("/properties/contacts", {"name": "tier", "label": "Tier", "field_type": "text"})
    )


def test_paid_seats_must_be_unassigned_before_the_plan_is_canceled(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "Seat Shop")
    ada, bob, *others = add_account_users(
        session_factory,
        shop,
        "ada@seat.example",
        "bob@seat.example",
        *(f"u{n}@seat.example" for n in range(4)),
    )
    shop.ok(shop.post("/account/seats", {"user_id": ada}))
    plan = shop.ok(shop.post("/account/seats", {"user_id": bob}))
    assert [s["email"] for s in plan["seats"]["assigned"]] == [
        "ada@seat.example",
        "bob@seat.example",
    ]
    assert plan["can_cancel"] is False
    assert plan["cancel_blocked_because"] == (
        "Unassign every paid seat before canceling the plan; assigned to: "
        "ada@seat.example, bob@seat.example"
    )
    assert error(shop.post("/account/seats", {"user_id": ada}), 409)["param"] == "user_id"
    for user_id in others[:3]:
        shop.ok(shop.post("/account/seats", {"user_id": user_id}))
    full = error(shop.post("/account/seats", {"user_id": others[3]}), 409)
    assert "All 5 paid seats of the Pro plan are assigned" in full["message"]

    # The buyer's cancel in the portal is refused while seats are assigned, naming them.
    with session_factory() as session:
        operator_account = session.get(Account, operator.api.account_id)
        assert operator_account is not None
        features, _ = portal.get_configuration(session, operator_account)
        with pytest.raises(Conflict) as refused:
            portal.cancel(
                session,
                operator_account,
                plan["subscription_id"],
                "unused",
                None,
                features,
                plan_rules=plans.before_portal_cancel,
            )
        assert "ada@seat.example, bob@seat.example" in refused.value.message
        assert refused.value.param == "seats"
        session.rollback()
    # On the portal page the buyer reads why, and what to do (not "reload and try again").
    shown: list[str] = []
    page = portal_cancel(operator.api, client, plan["subscription_id"], shown)
    assert page.status_code == 409
    assert "Paid seats of this plan are still assigned to users" in page.text
    assert "Reload the page" not in page.text
    for user_id in (ada, bob, *others[:3]):
        shop.ok(shop.delete(f"/account/seats/{user_id}"))
    assert error(shop.delete(f"/account/seats/{ada}"), 404)
    with session_factory() as session:
        operator_account = session.get(Account, operator.api.account_id)
        assert operator_account is not None
        features, _ = portal.get_configuration(session, operator_account)
        canceled = portal.cancel(
            session,
            operator_account,
            plan["subscription_id"],
            "unused",
            None,
            features,
            plan_rules=plans.before_portal_cancel,
        )
        session.commit()
        assert canceled.cancel_at_period_end is True
    after = shop.ok(shop.get("/account/plan"))
    assert after["plan"]["code"] == "pro"  # billing goes on until the effective date
    assert after["can_cancel"] is False and after["cancel_blocked_because"] is None


def test_seats_need_billing_edit_and_belong_to_the_account(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    shop = enrolled_account(client, session_factory, "Guarded Shop")
    other = enrolled_account(client, session_factory, "Other Shop")
    [theirs] = add_account_users(session_factory, other, "them@other.example")
    assert error(shop.post("/account/seats", {"user_id": theirs}), 422)["param"] == "user_id"
    assert error(shop.post("/account/seats", {"user_id": 2**40}), 422)["param"] == "user_id"
    with session_factory() as session:
        account = session.get(Account, shop.account_id)
        assert account is not None
        _key, secret = account_service.create_api_key(
            session, account, name="Viewer", scopes=["subscriptions.view"]
        )
        session.commit()
    viewer = Api(client=client, account_id=shop.account_id, key=secret)
    [mine] = add_account_users(session_factory, shop, "me@guarded.example")
    assert error(viewer.post("/account/seats", {"user_id": mine}), 403)
    assert viewer.ok(viewer.get("/account/plan"))["seats"]["assigned"] == []


def test_partner_accounts_cannot_cancel_themselves(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    partner = enrolled_account(client, session_factory, "Partner Agency", kind="partner")
    plan = partner.ok(partner.get("/account/plan"))
    assert plan["can_cancel"] is False
    assert plan["cancel_blocked_because"] == (
        "A partner account cannot cancel its plan itself; contact support"
    )
    with session_factory() as session:
        operator_account = session.get(Account, operator.api.account_id)
        assert operator_account is not None
        features, _ = portal.get_configuration(session, operator_account)
        with pytest.raises(Conflict):
            portal.cancel(
                session,
                operator_account,
                plan["subscription_id"],
                "other",
                None,
                features,
                plan_rules=plans.before_portal_cancel,
            )


def test_the_portal_pages_apply_the_plan_rules_to_a_buyers_cancel(
    operator: Operator, client: TestClient, session_factory: Any
) -> None:
    """The rules reach the buyer's cancel through the page (the portal passes them in)."""
    partner = enrolled_account(client, session_factory, "Paged Partner", kind="partner")
    partner_plan = partner.ok(partner.get("/account/plan"))
    shown: list[str] = []
    refused = portal_cancel(operator.api, client, partner_plan["subscription_id"], shown)
    assert refused.status_code == 409, refused.text
    kept = operator.api.ok(operator.api.get(f"/subscriptions/{partner_plan['subscription_id']}"))
    assert kept["status"] in ("trialing", "active")
    assert kept["cancel_at_period_end"] is False and kept["canceled_at"] is None

    shop = enrolled_account(client, session_factory, "Paged Shop")
    shop_plan = shop.ok(shop.get("/account/plan"))
    done = portal_cancel(operator.api, client, shop_plan["subscription_id"], shown)
    assert done.status_code == 303, done.text
    canceled = operator.api.ok(operator.api.get(f"/subscriptions/{shop_plan['subscription_id']}"))
    assert canceled["cancel_at_period_end"] is True
    # Committed to the period: it runs to the period end, whatever the portal's mode.
    assert canceled["commitment_end"] == canceled["current_period_end"]
    assert canceled["cancel_at"] == canceled["current_period_end"]


def test_a_billing_only_user_opens_account_and_billing(
    operator: Operator, client: TestClient, session_factory: Any, app: Any
) -> None:
    # Someone who looks after the account's bills and nothing else (seed 000): billing.edit.
    shop = enrolled_account(client, session_factory, "Books Only Shop")
    books = signed_in(
        app, session_factory, shop, email="books@shop.example", permissions=["billing.edit"]
    )
    page = books.client.get("/settings/billing")
    assert page.status_code == 200
    assert 'data-testid="plan-name">Pro<' in page.text
    # The brand link takes them home, to a page they may open, not to subscriptions.
    assert '<a class="brand" href="/">' in page.text
    home = books.client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/settings/account"
    assert books.client.get("/subscriptions").status_code == 403
    # And they can act on it: open the plan's billing portal.
    opened = books.client.post(
        "/settings/billing/portal", data={"csrf_token": books.csrf_token}, follow_redirects=False
    )
    assert opened.status_code == 303 and "/billing/portal/" in opened.headers["location"]
