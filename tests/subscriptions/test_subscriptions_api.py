from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cadency.accounts.models import Account
from cadency.kit import clock
from cadency.subscriptions.models import LineItem, Subscription
from tests.conftest import Api, pin_clock
from tests.subscriptions.helpers import (
    card,
    contact,
    create_subscription,
    product,
    subscription_body,
)


def today(api: Api) -> date:
    # Accounts are created in UTC with their clock at "now".
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


def test_create_active_subscription_with_exact_amounts_and_dates(api: Api) -> None:
    rate = api.ok(
        api.post("/tax-rates", {"name": "BTW", "percentage": "21.00", "jurisdiction": "NL"})
    )
    body = subscription_body(api)
    body["line_items"] = [
        {
            "product_id": body["line_items"][0]["product_id"],
            "quantity": 2,
            "tax_rate_id": rate["id"],
        },
        {"name": "Setup fee", "unit_price": "10.00", "billing_frequency": None},
    ]
    sub = api.ok(api.post("/subscriptions", body))
    start = today(api)
    assert sub["id"].startswith("sub_")
    assert sub["status"] == "active"
    assert sub["start_date"] == start.isoformat()
    assert sub["billing_frequency"] == "monthly"
    assert sub["billing_terms"] == "auto_renew"
    assert sub["end_date"] is None
    # The first period is invoiced and charged at creation: 2 x 25.00 + 21 % tax = 60.50, plus
    # the one-time 10.00; afterwards each month costs 60.50.
    from cadency.kit import periods

    assert sub["current_period_start"] == start.isoformat()
    assert sub["next_payment_date"] == periods.add_months(start, 1).isoformat()
    assert sub["payments_completed"] == 1
    assert sub["last_payment_amount"] == "70.50"
    assert sub["last_payment_status"] == "succeeded"
    assert sub["total_collected"] == "70.50"
    assert sub["next_payment_amount"] == "60.50"
    assert sub["mrr"] == "50.00"
    assert [li["amount"] for li in sub["line_items"]] == ["50.00", "10.00"]
    assert sub["line_items"][0]["id"].startswith("li_")
    assert sub["name"] == "Just one more cup - 1 KG"
    fetched = api.ok(api.get(f"/subscriptions/{sub['id']}"))
    assert fetched == sub


def test_fixed_terms_end_date_and_scheduled_start(api: Api) -> None:
    start = today(api) + timedelta(days=40)
    body = subscription_body(api)
    body["line_items"][0].update(
        {"billing_terms": "fixed", "number_of_payments": 6, "billing_start_date": start.isoformat()}
    )
    sub = api.ok(api.post("/subscriptions", body))
    assert sub["status"] == "scheduled"
    assert sub["number_of_payments"] == 6
    assert sub["next_payment_date"] == start.isoformat()
    from cadency.kit import periods

    assert sub["end_date"] == periods.fixed_term_end(start, "monthly", 6).isoformat()
    assert sub["mrr"] == "0.00"
    assert sub["current_period_start"] is None


def test_trial_moves_the_first_payment_to_trial_end(api: Api) -> None:
    sub = create_subscription(api, trial_days=14)
    trial_end = today(api) + timedelta(days=14)
    assert sub["status"] == "trialing"
    assert sub["trial_end"] == trial_end.isoformat()
    assert sub["next_payment_date"] == trial_end.isoformat()
    assert sub["current_period_end"] == trial_end.isoformat()
    assert sub["mrr"] == "0.00"


def test_commitment_end(api: Api) -> None:
    sub = create_subscription(api, commitment_months=12)
    start = today(api)
    from cadency.kit import periods

    assert sub["commitment_end"] == periods.add_months(start, 12).isoformat()


def test_grouping_rule_rejects_mixed_frequencies(api: Api, db: Any) -> None:
    body = subscription_body(api)
    annual = product(api, "Annual beans", "200.00", "annually")
    body["line_items"].append({"product_id": annual["id"]})
    before = db.scalar(select(func.count()).select_from(LineItem))
    response = api.post("/subscriptions", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "line_items.1.billing_frequency"
    assert "payment link" in error["message"]
    # Nothing half-written.
    assert db.scalar(select(func.count()).select_from(LineItem)) == before


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"billing_terms": "fixed", "number_of_payments": 3}, "line_items.1.billing_terms"),
        ({"billing_start_date": "2099-01-01"}, "line_items.1.billing_start_date"),
    ],
)
def test_grouping_rule_rejects_other_differences(
    api: Api, change: dict[str, Any], param: str
) -> None:
    body = subscription_body(api)
    second = {"product_id": body["line_items"][0]["product_id"], **change}
    body["line_items"].append(second)
    response = api.post("/subscriptions", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


def test_one_time_items_only_is_not_a_subscription(api: Api) -> None:
    body = subscription_body(api)
    body["line_items"] = [{"name": "Grinder", "unit_price": "80.00"}]
    response = api.post("/subscriptions", body)
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "line_items"


@pytest.mark.parametrize(
    ("mutate", "status", "param"),
    [
        (lambda b: b.update(unexpected=1), 422, "unexpected"),
        (lambda b: b["line_items"][0].update(unit_price=25.0), 422, "line_items.0.unit_price"),
        (lambda b: b["line_items"][0].update(unit_price="25.001"), 422, "line_items.0.unit_price"),
        (lambda b: b["line_items"][0].update(quantity=True), 422, "line_items.0.quantity"),
        (
            lambda b: b["line_items"][0].update(billing_start_date="2026-02-30"),
            422,
            "line_items.0.billing_start_date",
        ),
        (
            lambda b: b["line_items"][0].update(billing_start_date=20260101),
            422,
            "line_items.0.billing_start_date",
        ),
        (lambda b: b.update(collection_method="cash"), 422, "collection_method"),
        (lambda b: b.update(currency="XYZ"), 422, "currency"),
        (lambda b: b.update(contact_id="cont_nope"), 422, "contact_id"),
        (lambda b: b.update(payment_method_id=None), 422, "payment_method_id"),
        (lambda b: b.update(payment_terms="net_0"), 422, "payment_terms"),
        (lambda b: b.update(trial_days=0), 422, "trial_days"),
        (lambda b: b.update(line_items=[]), 422, "line_items"),
    ],
)
def test_bad_input_is_a_clear_4xx(api: Api, mutate: Any, status: int, param: str) -> None:
    body = subscription_body(api)
    mutate(body)
    response = api.post("/subscriptions", body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == param


def test_past_start_date_is_refused(api: Api) -> None:
    body = subscription_body(api)
    body["line_items"][0]["billing_start_date"] = (today(api) - timedelta(days=2)).isoformat()
    response = api.post("/subscriptions", body)
    assert response.status_code == 422
    assert "in the past" in response.json()["error"]["message"]


def test_payment_method_must_belong_to_the_billing_contact(api: Api) -> None:
    body = subscription_body(api)
    stranger = contact(api, "stranger@example.com")
    body["payment_method_id"] = card(api, stranger["id"])["id"]
    response = api.post("/subscriptions", body)
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "payment_method_id"


def test_send_invoice_defaults_to_due_on_receipt(api: Api) -> None:
    body = subscription_body(api, collection_method="send_invoice", payment_method_id=None)
    sub = api.ok(api.post("/subscriptions", body))
    assert sub["payment_terms"] == "due_on_receipt"
    body = subscription_body(
        api,
        email="b@example.com",
        collection_method="send_invoice",
        payment_method_id=None,
        payment_terms="net_30",
    )
    assert api.ok(api.post("/subscriptions", body))["payment_terms"] == "net_30"


def test_jpy_and_kwd_precision(api: Api) -> None:
    c = contact(api)
    for currency, price, expected in (("JPY", "1200", "1200"), ("KWD", "1.250", "1.250")):
        p = product(api, f"Beans {currency}", price, "monthly", currency)
        sub = api.ok(
            api.post(
                "/subscriptions",
                {
                    "contact_id": c["id"],
                    "currency": currency,
                    "line_items": [{"product_id": p["id"], "quantity": 3}],
                    "collection_method": "send_invoice",
                },
            )
        )
        assert sub["line_items"][0]["unit_price"] == expected
    bad = api.post(
        "/subscriptions",
        {
            "contact_id": c["id"],
            "currency": "JPY",
            "line_items": [{"name": "x", "unit_price": "12.5", "billing_frequency": "monthly"}],
            "collection_method": "send_invoice",
        },
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["param"] == "line_items.0.unit_price"


def test_list_filters_and_cursor_pagination(api: Api) -> None:
    subs = [create_subscription(api, email=f"p{i}@example.com") for i in range(3)]
    trial = create_subscription(api, email="t@example.com", trial_days=7)
    page1 = api.ok(api.get("/subscriptions", params={"limit": 2}))
    assert [s["id"] for s in page1["data"]] == [trial["id"], subs[2]["id"]]
    assert page1["has_more"] is True
    page2 = api.ok(api.get("/subscriptions", params={"limit": 2, "cursor": page1["next_cursor"]}))
    assert [s["id"] for s in page2["data"]] == [subs[1]["id"], subs[0]["id"]]
    assert page2["has_more"] is False and page2["next_cursor"] is None
    trialing = api.ok(api.get("/subscriptions", params={"status": "trialing"}))
    assert [s["id"] for s in trialing["data"]] == [trial["id"]]
    both = api.ok(api.get("/subscriptions", params=[("status", "trialing"), ("status", "active")]))
    assert len(both["data"]) == 4
    by_contact = api.ok(api.get("/subscriptions", params={"contact_id": subs[0]["contact_id"]}))
    assert [s["id"] for s in by_contact["data"]] == [subs[0]["id"]]
    # The paid subscriptions renew in a month, the trial ends in a week.
    week = (today(api) + timedelta(days=7)).isoformat()
    upcoming = api.ok(api.get("/subscriptions", params={"next_payment_date_lte": week}))
    assert [s["id"] for s in upcoming["data"]] == [trial["id"]]
    later = api.ok(api.get("/subscriptions", params={"next_payment_date_gte": week, "limit": 10}))
    assert len(later["data"]) == 4
    assert api.get("/subscriptions", params={"status": "bogus"}).status_code == 422
    assert api.get("/subscriptions", params={"cursor": "!!!"}).status_code == 422


def test_search_with_the_filter_language(api: Api) -> None:
    a = create_subscription(api, email="a@example.com")
    b = create_subscription(api, email="b@example.com", trial_days=7)
    result = api.ok(
        api.post(
            "/subscriptions/search",
            {
                "filter_groups": [
                    {"filters": [{"property": "status", "operator": "eq", "value": "trialing"}]}
                ]
            },
        )
    )
    assert [s["id"] for s in result["data"]] == [b["id"]]
    assert result["total"] == 1
    either = api.ok(
        api.post(
            "/subscriptions/search",
            {
                "filter_groups": [
                    {"filters": [{"property": "status", "operator": "eq", "value": "trialing"}]},
                    {
                        "filters": [
                            {
                                "property": "next_payment_amount",
                                "operator": "gte",
                                "value": "25.00",
                            },
                            {"property": "status", "operator": "eq", "value": "active"},
                        ]
                    },
                ],
                "sorts": [{"property": "created_at", "direction": "asc"}],
                "limit": 1,
            },
        )
    )
    assert [s["id"] for s in either["data"]] == [a["id"]]
    assert either["total"] == 2 and either["has_more"] is True
    rest = api.ok(
        api.post(
            "/subscriptions/search",
            {
                "filter_groups": [],
                "sorts": [{"property": "created_at", "direction": "asc"}],
                "limit": 1,
                "cursor": either["next_cursor"],
            },
        )
    )
    assert [s["id"] for s in rest["data"]] == [b["id"]]
    bad = api.post(
        "/subscriptions/search",
        {"filter_groups": [{"filters": [{"property": "nope", "operator": "eq", "value": "x"}]}]},
    )
    assert bad.status_code == 422
    assert "nope" in bad.json()["error"]["message"]


def test_search_on_custom_property(api: Api) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}],
            },
        )
    )
    basic = create_subscription(api, email="a@example.com", properties={"tier": "basic"})
    create_subscription(api, email="b@example.com", properties={"tier": "pro"})
    assert basic["properties"] == {"tier": "basic"}
    result = api.ok(
        api.post(
            "/subscriptions/search",
            {
                "filter_groups": [
                    {
                        "filters": [
                            {"property": "tier", "operator": "eq", "value": "basic"},
                            {"property": "status", "operator": "eq", "value": "active"},
                        ]
                    }
                ]
            },
        )
    )
    assert [s["id"] for s in result["data"]] == [basic["id"]]
    bad = api.post(
        "/subscriptions", subscription_body(api, email="c@example.com", properties={"tier": "gold"})
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["param"] == "properties.tier"


def test_patch_fields_and_timeline(api: Api) -> None:
    sub = create_subscription(api)
    company = api.ok(api.post("/companies", {"name": "Koffie BV", "domain": "koffie.example"}))
    new_date = (today(api) + timedelta(days=5)).isoformat()
    patched = api.ok(
        api.patch(
            f"/subscriptions/{sub['id']}",
            {
                "name": "Office coffee",
                "company_id": company["id"],
                "next_payment_date": new_date,
                "billing_address": {"line1": "Dam 1", "city": "Amsterdam", "country": "NL"},
            },
        )
    )
    assert patched["name"] == "Office coffee"
    assert patched["company_id"] == company["id"]
    assert patched["next_payment_date"] == new_date
    assert patched["current_period_end"] == new_date
    assert patched["billing_address"]["city"] == "Amsterdam"
    events = api.ok(api.get(f"/subscriptions/{sub['id']}/events"))["data"]
    assert [e["type"] for e in events] == [
        "subscription.created",
        "invoice.created",
        "payment.succeeded",
        "subscription.updated",
    ]
    assert events[-1]["data"]["changes"]["name"] == {
        "from": "Just one more cup - 1 KG",
        "to": "Office coffee",
    }
    assert events[0]["id"].startswith("evt_")
    assert (
        api.patch(
            f"/subscriptions/{sub['id']}", {"next_payment_date": today(api).isoformat()}
        ).status_code
        == 422
    )
    assert api.patch(f"/subscriptions/{sub['id']}", {"status": "canceled"}).status_code == 422


def test_patch_payment_method(api: Api) -> None:
    sub = create_subscription(api)
    new_card = card(api, sub["contact_id"], "4000000000009995")
    patched = api.ok(
        api.patch(f"/subscriptions/{sub['id']}", {"payment_method_id": new_card["id"]})
    )
    assert patched["payment_method_id"] == new_card["id"]
    other = contact(api, "x@example.com")
    response = api.patch(f"/subscriptions/{sub['id']}", {"contact_id": other["id"]})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "payment_method_id"


def test_cancel_immediately_then_delete(api: Api, db: Any) -> None:
    sub = create_subscription(api)
    assert api.delete(f"/subscriptions/{sub['id']}").status_code == 409
    canceled = api.ok(
        api.post(
            f"/subscriptions/{sub['id']}/cancel",
            {"mode": "immediately", "reason": "too_expensive", "comment": "Budget"},
        )
    )
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reason"] == "too_expensive"
    assert canceled["canceled_at"] is not None
    assert canceled["next_payment_date"] is None
    assert canceled["mrr"] == "0.00"
    assert db.get(Subscription, sub["id"]).next_action_at is None
    assert (
        api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}).status_code == 409
    )
    deleted = api.ok(api.delete(f"/subscriptions/{sub['id']}"))
    assert deleted == {"id": sub["id"], "object": "subscription", "deleted": True}
    assert api.get(f"/subscriptions/{sub['id']}").status_code == 404
    db.expire_all()
    assert (
        db.scalar(
            select(func.count()).select_from(LineItem).where(LineItem.subscription_id == sub["id"])
        )
        == 0
    )


def test_cancel_at_period_end_and_reactivate(api: Api) -> None:
    sub = create_subscription(api)
    pending = api.ok(
        api.post(
            f"/subscriptions/{sub['id']}/cancel", {"mode": "at_period_end", "reason": "unused"}
        )
    )
    assert pending["status"] == "active"
    assert pending["cancel_at_period_end"] is True
    assert pending["cancel_at"] == sub["current_period_end"]
    again = api.ok(api.post(f"/subscriptions/{sub['id']}/reactivate"))
    assert again["cancel_at_period_end"] is False and again["cancel_at"] is None
    assert api.post(f"/subscriptions/{sub['id']}/reactivate").status_code == 409


def test_cancel_at_date_validation(api: Api) -> None:
    sub = create_subscription(api)
    assert api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "at_date"}).status_code == 422
    past = api.post(
        f"/subscriptions/{sub['id']}/cancel",
        {"mode": "at_date", "cancel_at": today(api).isoformat()},
    )
    assert past.status_code == 422 and past.json()["error"]["param"] == "cancel_at"
    later = (today(api) + timedelta(days=20)).isoformat()
    pending = api.ok(
        api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "at_date", "cancel_at": later})
    )
    assert pending["cancel_at"] == later and pending["status"] == "active"
    assert (
        api.post(
            f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately", "reason": "bogus"}
        ).status_code
        == 422
    )


def test_another_accounts_subscription_is_not_found(api: Api, other_api: Api) -> None:
    sub = create_subscription(api)
    for response in (
        other_api.get(f"/subscriptions/{sub['id']}"),
        other_api.patch(f"/subscriptions/{sub['id']}", {"name": "mine"}),
        other_api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}),
        other_api.delete(f"/subscriptions/{sub['id']}"),
        other_api.get(f"/subscriptions/{sub['id']}/events"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "not_found"
    assert other_api.ok(other_api.get("/subscriptions"))["data"] == []
    # Building on another account's records is refused too.
    body = subscription_body(other_api)
    body["contact_id"] = sub["contact_id"]
    assert other_api.post("/subscriptions", body).status_code == 422
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["name"] == sub["name"]


def test_permissions_are_checked(api: Api, session_factory: Any) -> None:
    from cadency.accounts import service as accounts
    from cadency.accounts.models import Account

    sub = create_subscription(api)
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        _, viewer_key = accounts.create_api_key(
            session, account, name="viewer", scopes=["subscriptions.view"]
        )
        session.commit()
    viewer = Api(client=api.client, account_id=api.account_id, key=viewer_key)
    assert viewer.get(f"/subscriptions/{sub['id']}").status_code == 200
    denied = viewer.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"})
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission"
    assert viewer.delete(f"/subscriptions/{sub['id']}").status_code == 403
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["status"] == "active"


def test_authentication_errors(api: Api) -> None:
    missing = api.client.get("/api/v1/subscriptions")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication"
    wrong = api.client.get(
        "/api/v1/subscriptions", headers={"Authorization": "Bearer cad_test_nope"}
    )
    assert wrong.status_code == 401


def test_search_refuses_an_option_the_property_does_not_have(api: Api) -> None:
    api.ok(
        api.post(
            "/properties/subscriptions",
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [{"value": "basic", "label": "Basic"}],
            },
        )
    )
    response = api.post(
        "/subscriptions/search",
        {"filter_groups": [{"filters": [{"property": "tier", "operator": "eq", "value": "gold"}]}]},
    )
    assert response.status_code == 422
    assert "gold" in response.json()["error"]["message"]


def test_search_canceled_days_ago_counts_from_the_accounts_clock(
    api: Api, session_factory: Any
) -> None:
    """The win-back filter of the seed through the search API: the days are counted from the
    account's today, which in a test-mode account is its clock's."""
    kept = create_subscription(api, email="kept@example.com")
    gone = create_subscription(api, email="gone@example.com")
    api.ok(api.post(f"/subscriptions/{gone['id']}/cancel", {"mode": "immediately"}))

    def win_back() -> list[str]:
        found = api.ok(
            api.post(
                "/subscriptions/search",
                {
                    "filter_groups": [
                        {
                            "filters": [
                                {
                                    "property": "status",
                                    "operator": "in",
                                    "values": ["canceled", "expired"],
                                },
                                {
                                    "property": "canceled_at",
                                    "operator": "less_than_days_ago",
                                    "value": 60,
                                },
                            ]
                        }
                    ]
                },
            )
        )
        return [s["id"] for s in found["data"]]

    assert win_back() == [gone["id"]]
    # Sixty days on, the cancellation is no longer "less than 60 days ago".
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        canceled_day = clock.account_today(account)
    pin_clock(
        session_factory,
        api.account_id,
        datetime.combine(canceled_day + timedelta(days=60), time(12), tzinfo=UTC),
    )
    assert win_back() == []
    assert kept["id"] not in win_back()
    bad = api.post(
        "/subscriptions/search",
        {
            "filter_groups": [
                {
                    "filters": [
                        {"property": "canceled_at", "operator": "less_than_days_ago", "value": "x"}
                    ]
                }
            ]
        },
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["param"] == "filter_groups.0.filters.0.value"
