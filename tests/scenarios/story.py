"""A small harness for time-travel stories: move an account's clock through the HTTP API and
look at what the engine did, asserting after every step that running it again writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cadency.accounts.models import Account
from cadency.invoices.models import Invoice
from cadency.kit.outbox import OutboxMessage
from cadency.payments.models import Payment
from cadency.subscriptions.models import SubscriptionEvent
from tests.conftest import Api, make_api


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
        with session_factory() as session:
            account = session.get(Account, self.api.account_id)
            account.clock_now = start.astimezone(UTC)
            session.commit()

    # --- clock ---------------------------------------------------------------------------

    def at(self, day: date, hour: int = 9) -> datetime:
        """A local time on `day` in the account's zone, as an aware datetime."""
        return datetime.combine(day, time(hour), self.zone)

    def advance(self, to: datetime) -> dict[str, Any]:
        result = self.api.ok(self.api.post("/clock/advance", {"to": to.isoformat()}))
        self.assert_quiet()
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
        """Running the engine again over the same time writes nothing."""
        before = self._row_counts()
        now = self.api.ok(self.api.get("/clock"))["now"]
        again = self.api.ok(self.api.post("/clock/advance", {"to": now}))
        assert again["summary"]["invoices_created"] == 0
        assert again["summary"]["payments_created"] == 0
        assert self._row_counts() == before

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

    def outbox(self, sub_id: str) -> list[str]:
        with self.session_factory() as session:
            rows = session.scalars(
                select(OutboxMessage.type)
                .where(OutboxMessage.subscription_id == sub_id)
                .order_by(OutboxMessage.id)
            ).all()
            return list(rows)

    # --- building ------------------------------------------------------------------------

    def customer(
        self, email: str = "buyer@example.com", card: str = "4242424242424242"
    ) -> tuple[str, str]:
        contact = self.api.ok(self.api.post("/contacts", {"email": email, "first_name": "Ann"}))
        if card.startswith("0"):
            body = {
                "type": "bank_debit",
                "bank_debit": {"routing_number": "110000000", "account_number": card},
            }
        else:
            body = {
                "type": "card",
                "card": {"number": card, "exp_month": 12, "exp_year": 2045, "cvc": "123"},
            }
        method = self.api.ok(self.api.post(f"/contacts/{contact['id']}/payment-methods", body))
        return contact["id"], method["id"]

    def subscribe(
        self,
        *,
        price: str = "25.00",
        frequency: str = "monthly",
        card: str = "4242424242424242",
        email: str = "buyer@example.com",
        **extra: Any,
    ) -> dict[str, Any]:
        contact_id, method_id = self.customer(email, card)
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
