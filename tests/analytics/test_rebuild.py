"""The ledger rebuilt from the timelines equals the ledger written as things happened, after a
random two years of an account: subscriptions made (weekly to annual, some with a trial, some
with a card that declines), changed up and down and to another frequency, paused, resumed,
canceled at once or at the period's end, and cards replaced — on the account's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cadency.analytics import rebuild
from cadency.analytics.models import MrrDay, MrrMovement
from cadency.subscriptions.models import Subscription
from tests.scenarios.story import Story

START = datetime(2025, 1, 6, 9, tzinfo=UTC)
FREQUENCIES = ["weekly", "biweekly", "monthly", "quarterly", "annually"]
PRICES = ["9.99", "25.00", "40.00", "120.00"]

operation = st.one_of(
    st.tuples(
        st.just("subscribe"),
        st.sampled_from(PRICES),
        st.sampled_from(FREQUENCIES),
        st.booleans(),  # a trial
        st.booleans(),  # a declining card
    ),
    st.tuples(
        st.just("change"),
        st.integers(0, 9),
        st.sampled_from(PRICES),
        st.sampled_from(FREQUENCIES),
        st.sampled_from(["none", "prorate"]),
    ),
    st.tuples(st.just("pause"), st.integers(0, 9)),
    st.tuples(st.just("resume"), st.integers(0, 9)),
    st.tuples(
        st.just("cancel"), st.integers(0, 9), st.sampled_from(["immediately", "at_period_end"])
    ),
    st.tuples(st.just("new_card"), st.integers(0, 9)),
    st.tuples(st.just("advance"), st.integers(1, 75)),
)


def ledger(session_factory: Any, account_id: int) -> tuple[list[Any], list[Any], list[Any]]:
    with session_factory() as session:
        rows = session.execute(
            select(
                MrrMovement.subscription_id,
                MrrMovement.effective_on,
                MrrMovement.kind,
                MrrMovement.amount,
                MrrMovement.mrr_after,
            ).where(MrrMovement.account_id == account_id)
        ).all()
        scaled = session.execute(
            select(Subscription.id, Subscription.mrr_scaled)
            .where(Subscription.account_id == account_id)
            .order_by(Subscription.id)
        ).all()
        days = session.execute(
            select(MrrDay.currency, MrrDay.day, MrrDay.kind, MrrDay.amount, MrrDay.count)
            .where(MrrDay.account_id == account_id)
            .order_by(MrrDay.currency, MrrDay.day, MrrDay.kind)
        ).all()
    return (
        sorted(tuple(row) for row in rows),
        [tuple(row) for row in scaled],
        [tuple(day) for day in days],
    )


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(operations=st.lists(operation, min_size=4, max_size=22))
def test_rebuild_equals_the_ledger_written_as_it_happened(
    client: Any, session_factory: Any, operations: list[tuple[Any, ...]]
) -> None:
    story = Story(client, session_factory, timezone="America/New_York", start=START)
    api = story.api
    subscriptions: list[dict[str, Any]] = []
    now = START

    def pick(index: int) -> dict[str, Any] | None:
        return subscriptions[index % len(subscriptions)] if subscriptions else None

    for op in operations:
        kind = op[0]
        if kind == "subscribe":
            _, price, frequency, trial, declining = op
            contact_id, method = story.customer(
                f"buyer{len(subscriptions)}@example.com",
                "4000000000000341" if declining and trial else "4242424242424242",
            )
            body: dict[str, Any] = {
                "contact_id": contact_id,
                "currency": "USD",
                "line_items": [
                    {"name": "Plan", "unit_price": price, "billing_frequency": frequency}
                ],
                "collection_method": "charge_automatically",
                "payment_method_id": method,
            }
            if trial:
                body["trial_days"] = 14
            answer = api.post("/subscriptions", body)
            assert answer.status_code < 500, answer.text
            if answer.status_code == 200:
                subscriptions.append(answer.json())
            continue
        if kind == "advance":
            now += timedelta(days=op[1])
            story.advance(now)
            continue
        sub = pick(op[1])
        if sub is None:
            continue
        if kind == "change":
            answer = api.post(
                f"/subscriptions/{sub['id']}/change",
                {
                    "line_items": [
                        {"name": "Plan", "unit_price": op[2], "billing_frequency": op[3]}
                    ],
                    "proration": op[4],
                },
            )
        elif kind == "pause":
            answer = api.post(f"/subscriptions/{sub['id']}/pause", {})
        elif kind == "resume":
            answer = api.post(f"/subscriptions/{sub['id']}/resume")
        elif kind == "cancel":
            answer = api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": op[2]})
        else:  # new_card: a declining one, so dunning starts at the next renewal
            card = story.add_payment_method(sub["contact_id"], "4000000000000341")
            answer = api.patch(f"/subscriptions/{sub['id']}", {"payment_method_id": card})
        assert answer.status_code < 500, answer.text
        story.assert_quiet()
    # On to two years after the start, so renewals, dunning and period ends play out.
    story.advance(START + timedelta(days=730))

    written = ledger(session_factory, api.account_id)
    summary = rebuild.rebuild(session_factory, account_id=api.account_id)
    assert summary.subscriptions == len(written[1])
    assert ledger(session_factory, api.account_id) == written, operations


def test_a_prorated_upgrade_is_one_expansion(client: Any, session_factory: Any) -> None:
    """Paying the proration invoice of an upgrade once counted the old and the new items
    together for a moment: the ledger wrote a +2-plan expansion and a contraction back, where
    the rebuild (and the merchant) sees one expansion."""
    story = Story(client, session_factory, timezone="Europe/Amsterdam", start=START)
    sub = story.subscribe(price="12.50")
    story.advance(START + timedelta(days=10))
    story.api.ok(
        story.api.post(
            f"/subscriptions/{sub['id']}/change",
            {
                "line_items": [
                    {"name": "Kilo bag", "unit_price": "25.00", "billing_frequency": "monthly"}
                ],
                "proration": "prorate",
            },
        )
    )
    story.assert_quiet()
    written = ledger(session_factory, story.api.account_id)
    assert [(kind, effective_on) for _, effective_on, kind, _, _ in written[0]] == [
        ("new", START.date()),
        ("expansion", (START + timedelta(days=10)).date()),
    ]
    rebuild.rebuild(session_factory, account_id=story.api.account_id)
    assert ledger(session_factory, story.api.account_id) == written
