"""A small harness for time-travel stories: move an account's clock through the HTTP API and
look at what the engine did, asserting after every step that running it again writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.accounts.models import Account
from cadency.analytics.models import MrrDay, MrrMovement
from cadency.billing import engine
from cadency.invoices.models import Invoice
from cadency.kit import clock, money
from cadency.kit.events import SUBSCRIPTION_CHANGES
from cadency.kit.outbox import OutboxMessage
from cadency.kit.periods import MRR_SCALE
from cadency.payments.models import Payment, PaymentMethod
from cadency.payments.sandbox import Behaviour
from cadency.subscriptions.models import Subscription, SubscriptionEvent
from cadency.workflows import runner as workflows
from tests.conftest import Api, make_api, pin_clock


class Story:
    def __init__(
        self,
        client: TestClient,
        session_factory: Any,
        *,
        timezone: str = "UTC",
        start: datetime,
        currency: str = "USD",
    ) -> None:
        self.session_factory = session_factory
        self.api: Api = make_api(client, session_factory, timezone=timezone, currency=currency)
        self.zone = ZoneInfo(timezone)
        self._outbox_seen: dict[str, int] = {}
        with session_factory() as session:
            account = session.get(Account, self.api.account_id)
            account.clock_now, account.clock_set_at = start.astimezone(UTC), None
            session.commit()

    # --- clock ---------------------------------------------------------------------------

    def at(self, day: date, hour: int = 9) -> datetime:
        """A local time on `day` in the account's zone, as an aware datetime."""
        return datetime.combine(day, time(hour), self.zone)

    def advance(self, to: datetime) -> dict[str, Any]:
        result = self.api.ok(self.api.post("/clock/advance", {"to": to.isoformat()}))
        # A moved clock runs on with real time; the story holds it at `to` so that what it does
        # next (an edit, a new card) carries an exact instant it can assert.
        pin_clock(self.session_factory, self.api.account_id, to.astimezone(UTC))
        self.assert_quiet()
        pin_clock(self.session_factory, self.api.account_id, to.astimezone(UTC))
        return result

    def advance_to(self, day: date, hour: int = 9) -> dict[str, Any]:
        return self.advance(self.at(day, hour))

    def _row_counts(self) -> tuple[int, ...]:
        with self.session_factory() as session:
            account_id = self.api.account_id
            return tuple(
                session.scalar(
                    select(func.count()).select_from(model).where(model.account_id == account_id)
                )
                or 0
                for model in (Invoice, Payment, OutboxMessage, SubscriptionEvent)
            )

    def assert_quiet(self) -> None:
        """Running the engine again over the same time writes nothing: neither a clock advance
        to the same instant nor a run of every subscription, due or not (the engine recomputes
        what is missing and must find nothing). The worker's workflow lane hears of what was
        just done first (a subscription made through the API enrolls in a workflow there)."""
        self.run_workflows()
        before = self._row_counts(), self._schedules()
        now = self.api.ok(self.api.get("/clock"))["now"]
        again = self.api.ok(self.api.post("/clock/advance", {"to": now}))
        assert again["summary"]["invoices_created"] == 0
        assert again["summary"]["payments_created"] == 0
        with self.session_factory() as session:
            account = session.get(Account, self.api.account_id)
            assert account is not None
            subscriptions = session.scalars(
                select(Subscription).where(Subscription.account_id == account.id)
            ).all()
            for subscription in subscriptions:
                engine.process(session, account, subscription, clock.account_now(account))
            session.commit()
        assert (self._row_counts(), self._schedules()) == before
        self.assert_mrr_ledger()

    def assert_mrr_ledger(self) -> None:
        """The MRR movements ledger agrees with every subscription: its movements add up to its
        exact MRR, which is its MRR (in minor units) before rounding, and zero unless it
        brings in revenue."""
        with self.session_factory() as session:
            rows = session.execute(
                select(
                    Subscription.id,
                    Subscription.status,
                    Subscription.mrr,
                    Subscription.mrr_scaled,
                    func.coalesce(func.sum(MrrMovement.amount), 0),
                )
                .outerjoin(MrrMovement, MrrMovement.subscription_id == Subscription.id)
                .where(Subscription.account_id == self.api.account_id)
                .group_by(Subscription.id, Subscription.status, Subscription.mrr)
                .group_by(Subscription.mrr_scaled)
            ).all()
            days = session.execute(
                select(MrrDay.currency, MrrDay.day, MrrDay.kind, MrrDay.amount, MrrDay.count)
                .where(MrrDay.account_id == self.api.account_id)
                .order_by(MrrDay.currency, MrrDay.day, MrrDay.kind)
            ).all()
            summed = session.execute(
                select(
                    MrrMovement.currency,
                    MrrMovement.effective_on,
                    MrrMovement.kind,
                    func.sum(MrrMovement.amount),
                    func.count(),
                )
                .where(MrrMovement.account_id == self.api.account_id)
                .group_by(MrrMovement.currency, MrrMovement.effective_on, MrrMovement.kind)
                .order_by(MrrMovement.currency, MrrMovement.effective_on, MrrMovement.kind)
            ).all()
        assert [tuple(d) for d in days] == [tuple(d) for d in summed], "per-day sums are off"
        for sub_id, status, mrr, scaled, moved in rows:
            assert moved == scaled, f"{sub_id}: movements add up to {moved}, not {scaled}"
            assert money.prorate(scaled, 1, MRR_SCALE) == mrr, f"{sub_id}: {scaled} vs {mrr}"
            if status not in ("active", "unpaid"):
                assert scaled == 0, f"{sub_id} is {status} with MRR {scaled}"

    def run_workflows(self) -> None:
        """One pass of the worker's workflow lane at the account's clock."""
        with self.session_factory() as session:
            account = session.get(Account, self.api.account_id)
            assert account is not None
            now = clock.account_now(account)
        workflows.run(self.session_factory, allow_private=True, account_id=account.id, now=now)

    def _schedules(self) -> list[tuple[Any, ...]]:
        with self.session_factory() as session:
            return [
                tuple(row)
                for row in session.execute(
                    select(
                        Subscription.id,
                        Subscription.status,
                        Subscription.next_payment_date,
                        Subscription.next_action_at,
                        Subscription.periods_billed,
                    )
                    .where(Subscription.account_id == self.api.account_id)
                    .order_by(Subscription.id)
                )
            ]

    # --- looking ---------------------------------------------------------------------------

    def subscription(self, sub_id: str) -> dict[str, Any]:
        return self.api.ok(self.api.get(f"/subscriptions/{sub_id}"))

    def invoices(self, sub_id: str) -> list[tuple[str, str, str, str, str]]:
        """(period_start, period_end, total, status, issue_date), oldest first."""
        data = self.api.ok(
            self.api.get("/invoices", params={"subscription_id": sub_id, "limit": 100})
        )["data"]
        return [
            (i["period_start"], i["period_end"], i["total"], i["status"], i["issue_date"])
            for i in reversed(data)
        ]

    def payments(self, sub_id: str) -> list[tuple[str, str, str | None]]:
        """(amount, status, failure_reason), oldest first."""
        data = self.api.ok(
            self.api.get("/payments", params={"subscription_id": sub_id, "limit": 100})
        )["data"]
        return [(p["amount"], p["status"], p["failure_reason"]) for p in reversed(data)]

    def invoice(self, sub_id: str, index: int = -1) -> dict[str, Any]:
        """One invoice of the subscription as the API shows it (oldest first by `index`)."""
        data = self.api.ok(
            self.api.get("/invoices", params={"subscription_id": sub_id, "limit": 100})
        )["data"]
        return dict(list(reversed(data))[index])

    def status(self, sub_id: str) -> str:
        return str(self.subscription(sub_id)["status"])

    def new_outbox(self, sub_id: str) -> list[str]:
        """Outbox event types written for the subscription since the last call."""
        rows = self.outbox(sub_id)
        seen = self._outbox_seen.get(sub_id, 0)
        self._outbox_seen[sub_id] = len(rows)
        return rows[seen:]

    def expect(
        self,
        sub_id: str,
        *,
        status: str,
        invoices: list[tuple[str, str, str, str, str]],
        payments: list[tuple[str, str, str | None]],
        outbox: list[str] | tuple[str, ...] = (),
        **fields: Any,
    ) -> None:
        """The whole visible state of a subscription after a step, in one comparison: its status,
        every invoice and payment so far, the outbox events written since the previous check
        (none by default), and any subscription `fields` given."""
        sub = self.subscription(sub_id)
        actual = {
            "status": sub["status"],
            "invoices": self.invoices(sub_id),
            "payments": self.payments(sub_id),
            "outbox": self.new_outbox(sub_id),
            **{name: sub[name] for name in fields},
        }
        expected = {
            "status": status,
            "invoices": invoices,
            "payments": payments,
            "outbox": list(outbox),
            **fields,
        }
        wrong = [name for name in expected if actual[name] != expected[name]]
        assert not wrong, "\n".join(
            f"{name}:\n  got      {actual[name]!r}\n  expected {expected[name]!r}" for name in wrong
        )

    def outbox(self, sub_id: str) -> list[str]:
        """The subscription's outbox events, but for its own changes (made, edited, paused, …):
        those mirror its timeline one for one (billing.state.record_event), and a story checks
        them as the subscription's state; tests/webhooks checks that they reach the outbox."""
        with self.session_factory() as session:
            rows = session.scalars(
                select(OutboxMessage.type)
                .where(
                    OutboxMessage.subscription_id == sub_id,
                    OutboxMessage.type.not_in(SUBSCRIPTION_CHANGES),
                )
                .order_by(OutboxMessage.id)
            ).all()
            return list(rows)

    def outbox_payloads(self, sub_id: str, event_type: str) -> list[dict[str, Any]]:
        with self.session_factory() as session:
            rows = session.scalars(
                select(OutboxMessage.payload)
                .where(OutboxMessage.subscription_id == sub_id, OutboxMessage.type == event_type)
                .order_by(OutboxMessage.id)
            ).all()
            return [dict(row) for row in rows]

    # --- acting ----------------------------------------------------------------------------

    def settings(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.api.ok(self.api.patch("/account/settings", changes))
        return result

    def patch(self, sub_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.api.ok(self.api.patch(f"/subscriptions/{sub_id}", changes))
        self.assert_quiet()
        return result

    def cancel(self, sub_id: str, mode: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.api.ok(
            self.api.post(f"/subscriptions/{sub_id}/cancel", {"mode": mode, **extra})
        )
        self.assert_quiet()
        return result

    def reactivate(self, sub_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.ok(self.api.post(f"/subscriptions/{sub_id}/reactivate"))
        self.assert_quiet()
        return result

    def add_payment_method(self, contact_id: str, number: str) -> str:
        """Save a card (or, for a number starting with 0, a bank account) on the contact."""
        if number.startswith("0"):
            body: dict[str, Any] = {
                "type": "bank_debit",
                "bank_debit": {"routing_number": "110000000", "account_number": number},
            }
        else:
            body = {
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
            }
        method = self.api.ok(self.api.post(f"/contacts/{contact_id}/payment-methods", body))
        return str(method["id"])

    def card_starts_working(self, payment_method_id: str) -> None:
        """What happens at the bank when a buyer tops up their account: the saved card's next
        charge succeeds. The sandbox has no card that fails and later succeeds, so the saved
        token is swapped for one that behaves like 4242… (the method id stays the same)."""
        with self.session_factory() as session:
            method = session.get(PaymentMethod, payment_method_id)
            assert method is not None
            method.processor_token = f"sbx_card_{Behaviour.SUCCEEDS.value}_{'0' * 24}"
            session.commit()

    # --- building ------------------------------------------------------------------------

    def customer(
        self,
        email: str = "buyer@example.com",
        card: str = "4242424242424242",
        language: str | None = None,
    ) -> tuple[str, str]:
        body = {"email": email, "first_name": "Ann", "language": language}
        contact = self.api.ok(self.api.post("/contacts", body))
        return contact["id"], self.add_payment_method(contact["id"], card)

    def subscribe(
        self,
        *,
        price: str = "25.00",
        frequency: str = "monthly",
        card: str = "4242424242424242",
        email: str = "buyer@example.com",
        contact_language: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        contact_id, method_id = self.customer(email, card, contact_language)
        item: dict[str, Any] = {
            "name": "Beans",
            "unit_price": price,
            "billing_frequency": frequency,
        }
        item.update(extra.pop("item", {}))
        body: dict[str, Any] = {
            "contact_id": contact_id,
            "currency": extra.pop("currency", "USD"),
            "line_items": [item],
            "collection_method": extra.pop("collection_method", "charge_automatically"),
            **extra,
        }
        if body["collection_method"] == "charge_automatically":
            body.setdefault("payment_method_id", method_id)
        sub = self.api.ok(self.api.post("/subscriptions", body))
        self.assert_quiet()
        return sub


def days(n: int) -> timedelta:
    return timedelta(days=n)


def inv(
    start: str, end: str, total: str = "25.00", status: str = "paid", issued: str | None = None
) -> tuple[str, str, str, str, str]:
    """An expected invoice row: (period_start, period_end, total, status, issue_date); it is
    issued on the first day of its period unless `issued` says otherwise."""
    return (start, end, total, status, issued or start)


def paid(amount: str = "25.00") -> tuple[str, str, None]:
    return (amount, "succeeded", None)


def declined(amount: str = "25.00", reason: str = "card_declined") -> tuple[str, str, str]:
    return (amount, "failed", reason)


def processing(amount: str = "25.00") -> tuple[str, str, None]:
    return (amount, "processing", None)
