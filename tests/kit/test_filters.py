"""The one filter language (kit/filters.py) on subscriptions: every operator on every kind of
property, against rows inserted directly, asserting the exact set of matching records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import String, literal, select
from sqlalchemy.orm import Session

from cadency.accounts.service import create_account
from cadency.crm.models import Association, Company, Contact
from cadency.kit import filters as filters_module
from cadency.kit.errors import InvalidRequest
from cadency.kit.filters import (
    Filter,
    FilterGroup,
    Sort,
    Today,
    compile_filter_groups,
    compile_sorts,
    parse_filter_groups,
    parse_sorts,
)
from cadency.kit.ids import new_id
from cadency.properties.models import PropertyDefinition, PropertyValue
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.search import SUBSCRIPTION_SPEC, custom_properties, search_clauses
from cadency.views.catalogs import catalog_for

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=60)  # "canceled less than 60 days ago"
ALL = {"s1", "s2", "s3", "s4", "s5"}

CUSTOM = {
    "tier": "select",
    "seats": "number",
    "renewal_on": "date",
    "signed_at": "datetime",
    "vip": "boolean",
    "notes": "textarea",
    "features": "checkboxes",
    "code": "text",
    "plan_kind": "radio",
}
OPTIONS = {
    "tier": ("Basic", "Pro"),
    "features": ("api", "priority support", "sso"),
    "plan_kind": ("monthly", "yearly"),
}


@dataclass
class World:
    session: Session
    account_id: int
    other_account_id: int
    ids: dict[str, str]  # "s1" -> subscription id (also "sB" in the other account)

    def keys(self, ids: Any) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[i] for i in ids}

    def match(
        self,
        groups: Any,
        *,
        options: dict[str, tuple[str, ...]] | None = None,
        all_accounts: bool = False,
    ) -> set[str]:
        parsed = parse_filter_groups(self.resolve(groups))
        condition = compile_filter_groups(
            parsed, SUBSCRIPTION_SPEC, CUSTOM, self.account_id, options=options
        )
        query = select(Subscription.id).where(condition)
        if not all_accounts:
            query = query.where(Subscription.account_id == self.account_id)
        return self.keys(self.session.scalars(query))

    def order(self, sorts: Any) -> list[str]:
        order_by = compile_sorts(parse_sorts(sorts), SUBSCRIPTION_SPEC, CUSTOM)
        rows = self.session.scalars(
            select(Subscription.id)
            .where(Subscription.account_id == self.account_id)
            .order_by(*order_by)
        )
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i] for i in rows]

    def resolve(self, data: Any) -> Any:
        """Replace "$s1" placeholders with the subscription ids."""
        if isinstance(data, str) and data.startswith("$"):
            return self.ids[data[1:]]
        if isinstance(data, list):
            return [self.resolve(x) for x in data]
        if isinstance(data, dict):
            return {k: self.resolve(v) for k, v in data.items()}
        return data


def _contact(session: Session, account_id: int, email: str) -> str:
    contact = Contact(
        id=new_id("cont"), account_id=account_id, email=email, created_at=NOW, updated_at=NOW
    )
    session.add(contact)
    return contact.id


def _subscription(session: Session, account_id: int, contact_id: str, **fields: Any) -> str:
    values: dict[str, Any] = {
        "status": "active",
        "currency": "USD",
        "collection_method": "charge_automatically",
        "billing_frequency": "monthly",
        "billing_terms": "auto_renew",
        "start_date": date(2025, 1, 1),
        "billing_anchor": date(2025, 1, 1),
        "created_at": NOW - timedelta(days=150),
        "updated_at": NOW,
        **fields,
    }
    sub = Subscription(id=new_id("sub"), account_id=account_id, contact_id=contact_id, **values)
    session.add(sub)
    session.flush()
    return sub.id


def _definition(session: Session, account_id: int, name: str, field_type: str) -> None:
    options = [{"value": v, "label": v} for v in OPTIONS.get(name, ())]
    session.add(
        PropertyDefinition(
            account_id=account_id,
            object_type="subscriptions",
            name=name,
            label=name.title(),
            group_name="subscription_information",
            field_type=field_type,
            options=options,
            rules={},
            created_at=NOW,
            updated_at=NOW,
        )
    )


def _value(
    session: Session,
    account_id: int,
    object_id: str,
    name: str,
    object_type: str = "subscriptions",
    **typed: Any,
) -> None:
    session.add(
        PropertyValue(
            account_id=account_id, object_type=object_type, object_id=object_id, name=name, **typed
        )
    )


def _association(
    session: Session, account_id: int, from_type: str, from_id: str, to_type: str, to_id: str
) -> None:
    session.add(
        Association(
            account_id=account_id,
            from_type=from_type,
            from_id=from_id,
            to_type=to_type,
            to_id=to_id,
            label="default",
            created_at=NOW,
        )
    )


@pytest.fixture
def world(db: Session) -> World:
    account, _ = create_account(db, name="Filter shop")
    other, _ = create_account(db, name="Other shop")
    a, b = account.id, other.id
    c1 = _contact(db, a, "ann@example.com")
    c2 = _contact(db, a, "bob@example.com")
    cb = _contact(db, b, "eve@example.com")
    company = Company(id=new_id("comp"), account_id=a, name="Acme", created_at=NOW, updated_at=NOW)
    db.add(company)
    db.flush()

    ids = {
        "s1": _subscription(
            db, a, c1,
            name="Gold plan monthly",
            company_id=company.id,
            next_payment_amount=1250,  # 12.50 USD
            last_payment_amount=1250,
            total_collected=3750,
            mrr=1250,
            payments_completed=3,
            next_payment_date=date(2025, 6, 1),
        ),
        "s2": _subscription(
            db, a, c1,
            name="Silver plan",
            status="canceled",
            currency="JPY",
            next_payment_amount=1200,  # 1200 JPY
            last_payment_amount=1200,
            payments_completed=1,
            number_of_payments=12,
            billing_terms="fixed",
            canceled_at=NOW - timedelta(days=10),
            cancellation_reason="too_expensive",
        ),
        "s3": _subscription(
            db, a, c1,
            name="Bronze, annual",
            status="expired",
            currency="KWD",
            next_payment_amount=12505,  # 12.505 KWD
            last_payment_amount=12505,
            payments_completed=0,
            billing_frequency="annually",
            collection_method="send_invoice",
            payment_terms="net_30",
            invoice_creation=False,
            canceled_at=NOW - timedelta(days=90),
        ),
        "s4": _subscription(
            db, a, c2,
            name="gold Plan yearly",
            status="paused",
            next_payment_amount=1251,  # 12.51 USD
            payments_completed=4,
            billing_frequency="annually",
            cancel_at_period_end=True,
            canceled_at=NOW - timedelta(days=5),
            paused_at=NOW - timedelta(days=3),
            next_payment_date=date(2025, 7, 1),
        ),
        "s5": _subscription(
            db, a, c2,
            name="Platinum (EUR)",
            currency="EUR",
            next_payment_amount=0,
            payments_completed=2,
            billing_frequency="quarterly",
            next_payment_date=date(2025, 6, 15),
        ),
        # Another account's subscription that would match many of the filters below.
        "sB": _subscription(
            db, b, cb, name="Gold plan monthly", next_payment_amount=1250, payments_completed=3
        ),
    }  # fmt: skip

    for name, field_type in CUSTOM.items():
        _definition(db, a, name, field_type)
        _definition(db, b, name, field_type)
    s1, s2, s3, s4, s5, sb = (ids[k] for k in ("s1", "s2", "s3", "s4", "s5", "sB"))
    _value(db, a, s1, "tier", text_value="Basic")
    _value(db, a, s2, "tier", text_value="Pro")
    _value(db, a, s3, "tier", text_value="Basic")
    _value(db, a, s5, "tier", text_value="Basic")
    _value(db, a, s1, "seats", number_value=Decimal(10), text_value="10")
    _value(db, a, s2, "seats", number_value=Decimal("2.5"), text_value="2.5")
    _value(db, a, s5, "seats", number_value=Decimal(100), text_value="100")
    _value(db, a, s1, "renewal_on", date_value=date(2025, 9, 1))
    _value(db, a, s2, "renewal_on", date_value=date(2025, 7, 1))
    _value(db, a, s1, "signed_at", datetime_value=datetime(2025, 1, 1, 10, tzinfo=UTC))
    _value(db, a, s3, "signed_at", datetime_value=datetime(2025, 3, 1, tzinfo=UTC))
    _value(db, a, s1, "vip", bool_value=True)
    _value(db, a, s2, "vip", bool_value=False)
    _value(db, a, s1, "notes", text_value="Needs an invoice, every month.")
    _value(db, a, s2, "notes", text_value="")  # empty: counts as no value
    _value(db, a, s1, "features", text_value="api;sso")
    _value(db, a, s2, "features", text_value="sso")
    _value(db, a, s3, "features", text_value="api;priority support")
    _value(db, a, s1, "code", text_value="ABC-1")
    _value(db, a, s4, "plan_kind", text_value="yearly")
    # Rows that must never count for account `a`: another account's value on s4, and a value of
    # another object type with the same object id.
    _value(db, b, s4, "tier", text_value="Basic")
    _value(db, a, s4, "vip", object_type="contacts", bool_value=True)
    # The other account's own values.
    _value(db, b, sb, "tier", text_value="Basic")
    _value(db, b, sb, "vip", bool_value=True)
    _value(db, b, sb, "notes", text_value="invoice")
    _value(db, b, sb, "features", text_value="api")

    _association(db, a, "subscription", s3, "company", new_id("comp"))
    _association(db, a, "subscription", s2, "deal", new_id("deal"))
    _association(db, a, "quote", new_id("quote"), "subscription", s5)  # the other direction
    _association(db, b, "subscription", s4, "deal", new_id("deal"))  # another account's row
    _association(db, b, "subscription", sb, "deal", new_id("deal"))
    db.flush()
    return World(session=db, account_id=a, other_account_id=b, ids=ids)


def f(prop: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    """One filter as JSON."""
    out: dict[str, Any] = {"property": prop, "operator": op}
    if value is not None:
        out["value"] = value
    out.update(extra)
    return out


def one(*filters: dict[str, Any]) -> list[dict[str, Any]]:
    """One AND-group."""
    return [{"filters": list(filters)}]


CASES: list[tuple[str, list[dict[str, Any]], set[str]]] = [
    # ---- text (case-insensitive equality; whole-word tokens)
    ("text eq ignores case", one(f("name", "eq", "gold plan monthly")), {"s1"}),
    ("text neq matches the rest", one(f("name", "neq", "GOLD PLAN MONTHLY")), ALL - {"s1"}),
    ("text in", one(f("name", "in", values=["silver PLAN", "Platinum (EUR)"])), {"s2", "s5"}),
    ("text not_in", one(f("name", "not_in", values=["Silver plan"])), ALL - {"s2"}),
    ("token", one(f("name", "contains_token", "gold")), {"s1", "s4"}),
    ("token ignores case", one(f("name", "CONTAINS_TOKEN", "GOLD")), {"s1", "s4"}),
    ("token before punctuation", one(f("name", "contains_token", "bronze")), {"s3"}),
    ("token in parentheses", one(f("name", "contains_token", "eur")), {"s5"}),
    ("token in the middle", one(f("name", "contains_token", "plan")), {"s1", "s2", "s4"}),
    ("token is a whole word", one(f("name", "contains_token", "gol")), set()),
    ("token prefix wildcard", one(f("name", "contains_token", "gol*")), {"s1", "s4"}),
    ("token suffix wildcard", one(f("name", "contains_token", "*ze")), {"s3"}),
    ("token phrase", one(f("name", "contains_token", "gold plan")), {"s1", "s4"}),
    ("token phrase 2", one(f("name", "contains_token", "plan monthly")), {"s1"}),
    ("token escapes _", one(f("name", "contains_token", "_old")), set()),
    ("token escapes %", one(f("name", "contains_token", "g%d")), set()),
    ("token escapes % alone", one(f("name", "contains_token", "%")), set()),
    ("not token", one(f("name", "not_contains_token", "gold")), {"s2", "s3", "s5"}),
    ("text has", one(f("name", "has_property")), ALL),
    ("text not has", one(f("name", "not_has_property")), set()),
    # ---- enums (exact)
    ("enum eq", one(f("status", "eq", "active")), {"s1", "s5"}),
    ("enum upper-case operator", one(f("status", "EQ", "active")), {"s1", "s5"}),
    ("enum neq", one(f("status", "neq", "active")), {"s2", "s3", "s4"}),
    ("enum in", one(f("status", "in", values=["canceled", "expired"])), {"s2", "s3"}),
    ("enum not_in", one(f("status", "NOT_IN", values=["canceled", "expired"])), {"s1", "s4", "s5"}),
    ("enum frequency", one(f("billing_frequency", "eq", "annually")), {"s3", "s4"}),
    ("enum free currency", one(f("currency", "in", values=["JPY", "KWD"])), {"s2", "s3"}),
    ("enum free payment terms", one(f("payment_terms", "eq", "net_30")), {"s3"}),
    ("enum collection", one(f("collection_method", "eq", "send_invoice")), {"s3"}),
    ("reason eq", one(f("cancellation_reason", "eq", "too_expensive")), {"s2"}),
    (
        "reason neq includes NULL",
        one(f("cancellation_reason", "neq", "too_expensive")),
        ALL - {"s2"},
    ),
    ("reason not_in includes NULL", one(f("cancellation_reason", "not_in", values=["other"])), ALL),
    ("reason has", one(f("cancellation_reason", "has_property")), {"s2"}),
    ("reason not has", one(f("cancellation_reason", "not_has_property")), ALL - {"s2"}),
    # ---- ids
    ("id in", one(f("id", "in", values=["$s1", "$s3"])), {"s1", "s3"}),
    ("id eq", one(f("id", "eq", "$s2")), {"s2"}),
    ("id neq", one(f("id", "neq", "$s2")), ALL - {"s2"}),
    ("company_id has", one(f("company_id", "has_property")), {"s1"}),
    ("company_id not has", one(f("company_id", "not_has_property")), ALL - {"s1"}),
    ("payment method not has", one(f("payment_method_id", "not_has_property")), ALL),
    # ---- numbers (exact on integer columns, int or decimal string)
    ("number eq int", one(f("payments_completed", "eq", 3)), {"s1"}),
    ("number eq string", one(f("payments_completed", "eq", "3")), {"s1"}),
    ("number eq fraction", one(f("payments_completed", "eq", "2.5")), set()),
    ("number neq", one(f("payments_completed", "neq", 0)), ALL - {"s3"}),
    ("number lt fraction", one(f("payments_completed", "lt", "2.5")), {"s2", "s3", "s5"}),
    ("number lte", one(f("payments_completed", "lte", 2)), {"s2", "s3", "s5"}),
    ("number gt fraction", one(f("payments_completed", "gt", "2.5")), {"s1", "s4"}),
    ("number gte", one(f("payments_completed", "gte", 3)), {"s1", "s4"}),
    ("number gte negative", one(f("payments_completed", "gte", "-0.5")), ALL),
    (
        "number between",
        one(f("payments_completed", "between", 1, high_value=3)),
        {"s1", "s2", "s5"},
    ),
    (
        "number between fractions",
        one(f("payments_completed", "between", "0.5", high_value="2.5")),
        {"s2", "s5"},
    ),
    ("number in", one(f("payments_completed", "in", values=[0, "4"])), {"s3", "s4"}),
    ("number not_in", one(f("payments_completed", "not_in", values=[0, 4])), {"s1", "s2", "s5"}),
    ("nullable number has", one(f("number_of_payments", "has_property")), {"s2"}),
    ("nullable number neq", one(f("number_of_payments", "neq", 12)), ALL - {"s2"}),
    ("nullable number lt", one(f("number_of_payments", "lt", 100)), {"s2"}),
    ("huge bound gt", one(f("number_of_payments", "gt", "99999999999999999999")), set()),
    ("huge bound lt", one(f("number_of_payments", "lt", "99999999999999999999")), {"s2"}),
    ("huge negative lt", one(f("number_of_payments", "lt", "-99999999999999999999")), set()),
    ("huge negative gte", one(f("number_of_payments", "gte", "-99999999999999999999")), {"s2"}),
    # ---- money: major units against minor units of each row's currency (USD, JPY, KWD, EUR)
    ("money eq cents", one(f("next_payment_amount", "eq", "12.50")), {"s1"}),
    ("money eq short", one(f("next_payment_amount", "eq", "12.5")), {"s1"}),
    ("money eq yen", one(f("next_payment_amount", "eq", "1200")), {"s2"}),
    ("money eq fils", one(f("next_payment_amount", "eq", "12.505")), {"s3"}),
    ("money eq 12.51", one(f("next_payment_amount", "eq", "12.51")), {"s4"}),
    ("money eq zero", one(f("next_payment_amount", "eq", "0")), {"s5"}),
    ("money gt", one(f("next_payment_amount", "gt", "12.50")), {"s2", "s3", "s4"}),
    ("money gte precise", one(f("next_payment_amount", "gte", "12.505")), {"s2", "s3", "s4"}),
    ("money gt precise", one(f("next_payment_amount", "gt", "12.5049")), {"s2", "s3", "s4"}),
    ("money lt precise", one(f("next_payment_amount", "lt", "12.505")), {"s1", "s5"}),
    ("money lte precise", one(f("next_payment_amount", "lte", "12.505")), {"s1", "s3", "s5"}),
    ("money lt finer", one(f("next_payment_amount", "lt", "12.5051")), {"s1", "s3", "s5"}),
    (
        "money between",
        one(f("next_payment_amount", "between", "12.50", high_value="12.505")),
        {"s1", "s3"},
    ),
    ("money in", one(f("next_payment_amount", "in", values=["12.50", "1200"])), {"s1", "s2"}),
    ("money neq", one(f("next_payment_amount", "neq", "12.50")), ALL - {"s1"}),
    (
        "money not_in",
        one(f("next_payment_amount", "not_in", values=["12.50", "1200"])),
        {"s3", "s4", "s5"},
    ),
    ("money negative", one(f("next_payment_amount", "gt", "-1")), ALL),
    ("money has", one(f("last_payment_amount", "has_property")), {"s1", "s2", "s3"}),
    ("money not has", one(f("last_payment_amount", "not_has_property")), {"s4", "s5"}),
    ("money neq includes NULL", one(f("last_payment_amount", "neq", "12.50")), ALL - {"s1"}),
    ("money lt excludes NULL", one(f("last_payment_amount", "lt", "100")), {"s1", "s3"}),
    ("money total", one(f("total_collected", "gte", "37.50")), {"s1"}),
    ("money huge lt", one(f("mrr", "lt", "99999999999999999999.5")), ALL),
    ("money huge eq", one(f("mrr", "eq", "99999999999999999999")), set()),
    ("money huge negative gt", one(f("mrr", "gt", "-99999999999999999999")), ALL),
    # ---- dates
    ("date eq", one(f("next_payment_date", "eq", "2025-06-01")), {"s1"}),
    ("date neq includes NULL", one(f("next_payment_date", "neq", "2025-06-01")), ALL - {"s1"}),
    ("date lt", one(f("next_payment_date", "lt", "2025-06-15")), {"s1"}),
    ("date lte", one(f("next_payment_date", "lte", "2025-06-15")), {"s1", "s5"}),
    ("date gt", one(f("next_payment_date", "gt", "2025-06-01")), {"s4", "s5"}),
    ("date gte", one(f("next_payment_date", "gte", "2025-06-15")), {"s4", "s5"}),
    (
        "date between",
        one(f("next_payment_date", "between", "2025-06-01", high_value="2025-06-30")),
        {"s1", "s5"},
    ),
    (
        "date in",
        one(f("next_payment_date", "in", values=["2025-06-01", "2025-07-01"])),
        {"s1", "s4"},
    ),
    (
        "date not_in",
        one(f("next_payment_date", "not_in", values=["2025-06-01", "2025-07-01"])),
        {"s2", "s3", "s5"},
    ),
    ("date has", one(f("next_payment_date", "has_property")), {"s1", "s4", "s5"}),
    ("date not has", one(f("next_payment_date", "not_has_property")), {"s2", "s3"}),
    ("start date", one(f("start_date", "eq", "2025-01-01")), ALL),
    # ---- datetimes
    ("datetime gt", one(f("canceled_at", "gt", CUTOFF.isoformat())), {"s2", "s4"}),
    ("datetime lt", one(f("canceled_at", "lt", CUTOFF.isoformat())), {"s3"}),
    ("datetime eq", one(f("canceled_at", "eq", (NOW - timedelta(days=10)).isoformat())), {"s2"}),
    (
        "datetime eq with offset",
        one(f("canceled_at", "eq", "2025-05-22T14:00:00+02:00")),
        {"s2"},
    ),
    ("datetime Z and naive", one(f("canceled_at", "gte", "2025-05-27T12:00:00")), {"s4"}),
    (
        "datetime between",
        one(f("canceled_at", "between", "2025-05-22T12:00:00Z", high_value="2025-05-27T12:00:00Z")),
        {"s2", "s4"},
    ),
    ("datetime has", one(f("canceled_at", "has_property")), {"s2", "s3", "s4"}),
    ("datetime not has", one(f("paused_at", "not_has_property")), ALL - {"s4"}),
    ("created_at", one(f("created_at", "lt", NOW.isoformat())), ALL),
    # ---- booleans
    ("bool eq true", one(f("cancel_at_period_end", "eq", True)), {"s4"}),
    ("bool eq 'false'", one(f("cancel_at_period_end", "eq", "false")), ALL - {"s4"}),
    ("bool eq 'TRUE'", one(f("cancel_at_period_end", "eq", "TRUE")), {"s4"}),
    ("bool neq", one(f("cancel_at_period_end", "neq", True)), ALL - {"s4"}),
    ("bool has", one(f("cancel_at_period_end", "has_property")), ALL),
    ("bool invoice creation", one(f("invoice_creation", "eq", False)), {"s3"}),
    # ---- association presence
    ("contact has", one(f("associations.contact", "has_property")), ALL),
    ("contact not has", one(f("associations.contact", "not_has_property")), set()),
    ("company has", one(f("associations.company", "has_property")), {"s1", "s3"}),
    ("company not has", one(f("associations.company", "not_has_property")), {"s2", "s4", "s5"}),
    ("deal has", one(f("associations.deal", "has_property")), {"s2"}),
    ("deal not has", one(f("associations.deal", "not_has_property")), ALL - {"s2"}),
    ("quote has (reverse row)", one(f("associations.quote", "HAS_PROPERTY")), {"s5"}),
    ("quote not has", one(f("associations.quote", "not_has_property")), ALL - {"s5"}),
    # ---- custom: select
    ("select eq", one(f("tier", "eq", "Basic")), {"s1", "s3", "s5"}),
    ("select eq prefixed", one(f("properties.tier", "eq", "Basic")), {"s1", "s3", "s5"}),
    ("select eq is exact", one(f("tier", "eq", "basic")), set()),
    ("select neq includes missing", one(f("tier", "neq", "Basic")), {"s2", "s4"}),
    ("select in", one(f("tier", "in", values=["Basic", "Pro"])), {"s1", "s2", "s3", "s5"}),
    ("select not_in includes missing", one(f("tier", "not_in", values=["Pro"])), ALL - {"s2"}),
    ("select has", one(f("tier", "has_property")), {"s1", "s2", "s3", "s5"}),
    ("select not has", one(f("tier", "not_has_property")), {"s4"}),
    ("radio eq", one(f("plan_kind", "eq", "yearly")), {"s4"}),
    # ---- custom: number
    ("custom number gt", one(f("seats", "gt", 5)), {"s1", "s5"}),
    ("custom number lt", one(f("seats", "lt", 3)), {"s2"}),
    ("custom number eq decimal", one(f("seats", "eq", "2.5")), {"s2"}),
    ("custom number eq int", one(f("seats", "eq", 10)), {"s1"}),
    ("custom number lte", one(f("seats", "lte", "2.50")), {"s2"}),
    ("custom number gte", one(f("seats", "gte", "10.0")), {"s1", "s5"}),
    ("custom number between", one(f("seats", "between", 2, high_value=10)), {"s1", "s2"}),
    ("custom number in", one(f("seats", "in", values=[10, "100"])), {"s1", "s5"}),
    ("custom number neq", one(f("seats", "neq", 10)), ALL - {"s1"}),
    ("custom number has", one(f("seats", "has_property")), {"s1", "s2", "s5"}),
    # ---- custom: date and datetime
    ("custom date lt", one(f("renewal_on", "lt", "2025-08-01")), {"s2"}),
    ("custom date eq", one(f("renewal_on", "eq", "2025-09-01")), {"s1"}),
    ("custom date gte", one(f("renewal_on", "gte", "2025-07-01")), {"s1", "s2"}),
    ("custom date not has", one(f("renewal_on", "not_has_property")), {"s3", "s4", "s5"}),
    ("custom datetime gte", one(f("signed_at", "gte", "2025-01-01T10:00:00Z")), {"s1", "s3"}),
    ("custom datetime gt", one(f("signed_at", "gt", "2025-01-01T10:00:00Z")), {"s3"}),
    ("custom datetime offset", one(f("signed_at", "eq", "2025-01-01T11:00:00+01:00")), {"s1"}),
    ("custom datetime lt", one(f("signed_at", "lt", "2025-02-01T00:00:00+01:00")), {"s1"}),
    # ---- custom: boolean
    ("custom bool true", one(f("vip", "eq", True)), {"s1"}),
    ("custom bool false", one(f("vip", "eq", False)), {"s2"}),
    ("custom bool neq includes missing", one(f("vip", "neq", True)), ALL - {"s1"}),
    ("custom bool has", one(f("vip", "has_property")), {"s1", "s2"}),
    ("custom bool not has", one(f("vip", "not_has_property")), {"s3", "s4", "s5"}),
    # ---- custom: text and textarea
    ("custom token", one(f("notes", "contains_token", "invoice")), {"s1"}),
    ("custom token ignores case", one(f("notes", "contains_token", "INVOICE")), {"s1"}),
    ("custom token before a period", one(f("notes", "contains_token", "month")), {"s1"}),
    ("custom not token", one(f("notes", "not_contains_token", "invoice")), ALL - {"s1"}),
    ("custom text has (empty is none)", one(f("notes", "has_property")), {"s1"}),
    ("custom text not has", one(f("notes", "not_has_property")), ALL - {"s1"}),
    ("custom text eq", one(f("notes", "eq", "needs an INVOICE, every month.")), {"s1"}),
    ("custom text eq code", one(f("code", "eq", "abc-1")), {"s1"}),
    ("custom text token around a dash", one(f("code", "contains_token", "abc")), {"s1"}),
    ("custom text token after a dash", one(f("code", "contains_token", "1")), {"s1"}),
    ("custom text in", one(f("code", "in", values=["x", "ABC-1"])), {"s1"}),
    # ---- custom: checkboxes
    ("checkbox token", one(f("features", "contains_token", "api")), {"s1", "s3"}),
    ("checkbox token ignores case", one(f("features", "contains_token", "SSO")), {"s1", "s2"}),
    ("checkbox token with space", one(f("features", "contains_token", "priority support")), {"s3"}),
    ("checkbox token is whole option", one(f("features", "contains_token", "priority")), set()),
    ("checkbox not token", one(f("features", "not_contains_token", "api")), {"s2", "s4", "s5"}),
    ("checkbox eq any order", one(f("features", "eq", "sso;api")), {"s1"}),
    ("checkbox eq single", one(f("features", "eq", "sso")), {"s2"}),
    ("checkbox neq", one(f("features", "neq", "sso")), ALL - {"s2"}),
    (
        "checkbox in = any of",
        one(f("features", "in", values=["sso", "priority support"])),
        {"s1", "s2", "s3"},
    ),
    ("checkbox not_in = none of", one(f("features", "not_in", values=["api"])), {"s2", "s4", "s5"}),
    ("checkbox has", one(f("features", "has_property")), {"s1", "s2", "s3"}),
    # ---- groups
    ("no groups match all", [], ALL),
    (
        "AND within a group",
        one(f("status", "eq", "active"), f("next_payment_amount", "gt", "10")),
        {"s1"},
    ),
    (
        "OR of groups",
        [{"filters": [f("status", "eq", "paused")]}, {"filters": [f("tier", "eq", "Pro")]}],
        {"s2", "s4"},
    ),
    (
        "OR of ANDs",
        [
            {"filters": [f("status", "eq", "active"), f("tier", "eq", "Basic")]},
            {"filters": [f("currency", "eq", "JPY"), f("vip", "eq", False)]},
            {"filters": [f("associations.quote", "has_property"), f("seats", "gt", 1000)]},
        ],
        {"s1", "s2", "s5"},
    ),
    # ---- SPEC §8 segment examples
    (
        "win-back: canceled or expired, canceled less than 60 days ago",
        one(
            f("status", "in", values=["canceled", "expired"]),
            f("canceled_at", "gt", CUTOFF.isoformat()),
        ),
        {"s2"},
    ),
    (
        "upsell: tier is Basic and status is active",
        one(f("tier", "eq", "Basic"), f("status", "eq", "active")),
        {"s1", "s5"},
    ),
]


@pytest.mark.parametrize(
    ("groups", "expected"), [(g, e) for _, g, e in CASES], ids=[c[0] for c in CASES]
)
def test_filter(world: World, groups: list[dict[str, Any]], expected: set[str]) -> None:
    assert world.match(groups) == expected


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (one(f("tier", "eq", "Basic")), {"s1", "s3", "s5"}),
        (one(f("tier", "has_property")), {"s1", "s2", "s3", "s5"}),
        (one(f("vip", "eq", True)), {"s1"}),
        (one(f("notes", "contains_token", "invoice")), {"s1"}),
        (one(f("features", "contains_token", "api")), {"s1", "s3"}),
        (one(f("name", "eq", "gold plan monthly"), f("tier", "eq", "Basic")), {"s1"}),
    ],
)
def test_custom_properties_never_match_another_accounts_values(
    world: World, groups: list[dict[str, Any]], expected: set[str]
) -> None:
    # No outer account filter: the other account's subscription (with the same values) and the
    # other account's value row on s4 must not match through the property subqueries.
    assert world.match(groups, all_accounts=True) == expected


def test_associations_of_another_account_do_not_count(world: World) -> None:
    # s4 has a deal association row, but it belongs to the other account.
    assert world.match(one(f("associations.deal", "has_property"))) == {"s2"}
    other = compile_filter_groups(
        parse_filter_groups(one(f("associations.deal", "has_property"))),
        SUBSCRIPTION_SPEC,
        CUSTOM,
        world.other_account_id,
    )
    rows = world.session.scalars(
        select(Subscription.id).where(Subscription.account_id == world.other_account_id, other)
    )
    assert world.keys(rows) == {"sB"}


def test_filter_models_accept_hubspot_spellings() -> None:
    flt = Filter.model_validate({"property": "status", "operator": "NOT_HAS_PROPERTY"})
    assert flt.operator == "not_has_property"
    assert Sort.model_validate({"property": "mrr", "direction": "DESCENDING"}).direction == "desc"
    assert Sort.model_validate({"property": "mrr", "direction": "ASC"}).direction == "asc"
    assert Sort.model_validate({"property": "mrr"}).direction == "asc"


def test_filter_models_reject_unknown_fields_and_operators() -> None:
    with pytest.raises(ValidationError):
        Filter.model_validate({"property": "status", "operator": "eq", "propertyName": "x"})
    with pytest.raises(ValidationError):
        Filter.model_validate({"property": "status", "operator": "like", "value": "x"})
    with pytest.raises(ValidationError):
        FilterGroup.model_validate({"filters": []})
    with pytest.raises(ValidationError):
        FilterGroup.model_validate({"filters": [{"property": "a", "operator": "eq"}] * 26})


@pytest.mark.parametrize(
    ("raw", "param", "message"),
    [
        (
            [{"filters": [{"property": "status", "operator": "like", "value": "x"}]}],
            "filter_groups.0.filters.0.operator",
            "Invalid value for 'filter_groups.0.filters.0.operator'",
        ),
        (
            [{"filters": [{"property": "status", "operator": "eq", "propertyName": "x"}]}],
            "filter_groups.0.filters.0.propertyName",
            "Unknown field: 'filter_groups.0.filters.0.propertyName'",
        ),
        ([{"filters": []}], "filter_groups.0.filters", "at least 1"),
        ([{"filters": [f("status", "eq", "x")]}] * 6, "filter_groups", "at most 5"),
        (
            [{"filters": [f("status", "eq", {"a": 1})]}],
            "filter_groups.0.filters.0.value",
            "Invalid value",
        ),
    ],
)
def test_parse_filter_groups_errors(raw: Any, param: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_filter_groups(raw)
    assert exc.value.param == param
    assert message in exc.value.message


P = "filter_groups.0.filters.0"
ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown property", f("nope", "eq", "x"), f"{P}.property", "Unknown property: 'nope'"),
    ("unknown prefixed", f("properties.name", "eq", "x"), f"{P}.property", "'properties.name'"),
    (
        "unknown association",
        f("associations.invoice", "has_property"),
        f"{P}.property",
        "'associations.invoice'",
    ),
    (
        "order on enum",
        f("status", "lt", "active"),
        f"{P}.operator",
        "'lt' cannot be used on 'status'",
    ),
    (
        "token on number",
        f("payments_completed", "contains_token", "1"),
        f"{P}.operator",
        "'payments_completed'",
    ),
    ("token on enum", f("tier", "contains_token", "Basic"), f"{P}.operator", "'tier'"),
    ("order on bool", f("vip", "gt", True), f"{P}.operator", "'vip' (boolean property)"),
    ("eq on association", f("associations.deal", "eq", "x"), f"{P}.operator", "has_property"),
    ("missing value", f("status", "eq"), f"{P}.value", "'eq' on 'status' needs a value"),
    ("missing values", f("status", "in"), f"{P}.values", "needs a list of values"),
    ("empty values", f("status", "in", values=[]), f"{P}.values", "at least one value"),
    ("value instead of values", f("status", "in", "active"), f"{P}.value", "takes no value"),
    ("values instead of value", f("status", "eq", values=["a"]), f"{P}.values", "takes no values"),
    ("missing high value", f("seats", "between", 1), f"{P}.high_value", "needs a high_value"),
    (
        "high value not wanted",
        f("seats", "eq", 1, high_value=2),
        f"{P}.high_value",
        "takes no high_value",
    ),
    ("value with has_property", f("tier", "has_property", "x"), f"{P}.value", "takes no value"),
    ("unknown enum", f("status", "eq", "bogus"), f"{P}.value", "'bogus' is not one of the options"),
    ("enum case", f("status", "eq", "ACTIVE"), f"{P}.value", "Invalid value for 'status'"),
    (
        "unknown enum in list",
        f("status", "in", values=["active", "bogus"]),
        f"{P}.values.1",
        "'bogus'",
    ),
    ("enum number", f("status", "eq", 1), f"{P}.value", "got a number"),
    ("number text", f("payments_completed", "eq", "abc"), f"{P}.value", "'abc' is not a number"),
    ("number bool", f("payments_completed", "eq", True), f"{P}.value", "got a boolean"),
    ("number float", f("payments_completed", "eq", 1.5), f"{P}.value", "decimal string"),
    ("number exponent", f("seats", "eq", "1e5"), f"{P}.value", "is not a number"),
    ("number high value", f("seats", "between", 1, high_value="x"), f"{P}.high_value", "'x'"),
    ("money int", f("mrr", "eq", 12), f"{P}.value", "decimal string in major units"),
    ("money comma", f("mrr", "eq", "12,50"), f"{P}.value", "'12,50' is not an amount"),
    ("money float", f("mrr", "gt", 12.5), f"{P}.value", "Invalid value for 'mrr'"),
    ("date format", f("next_payment_date", "eq", "2025/06/01"), f"{P}.value", "YYYY-MM-DD"),
    (
        "date calendar",
        f("start_date", "eq", "2025-02-30"),
        f"{P}.value",
        "not a valid calendar date",
    ),
    ("date number", f("renewal_on", "eq", 20250601), f"{P}.value", "YYYY-MM-DD"),
    ("datetime without time", f("canceled_at", "gt", "2025-06-01"), f"{P}.value", "ISO 8601"),
    ("datetime garbage", f("signed_at", "gt", "2025-06-01T25:99:00"), f"{P}.value", "ISO 8601"),
    ("bool text", f("cancel_at_period_end", "eq", "yes"), f"{P}.value", "expected true or false"),
    ("bool number", f("vip", "eq", 1), f"{P}.value", "expected true or false"),
    ("text number", f("name", "eq", 5), f"{P}.value", "expected a text, got a number"),
    ("text empty", f("name", "eq", ""), f"{P}.value", "not_has_property"),
    ("token without a word", f("name", "contains_token", "*"), f"{P}.value", "expected a word"),
    ("token of punctuation", f("notes", "contains_token", ", ."), f"{P}.value", "expected a word"),
    ("id empty", f("contact_id", "eq", ""), f"{P}.value", "non-empty"),
    ("reversed range", f("seats", "between", 10, high_value=2), f"{P}.high_value", "below value"),
    (
        "reversed dates",
        f("start_date", "between", "2025-02-01", high_value="2025-01-01"),
        f"{P}.high_value",
        "below value",
    ),
    ("NUL in text", f("name", "eq", "a\x00b"), f"{P}.value", "NUL"),
    ("NUL in enum", f("tier", "in", values=["Basic", "\x00"]), f"{P}.values.1", "NUL"),
    ("lone surrogate", f("notes", "contains_token", "\ud800"), f"{P}.value", "valid Unicode"),
    ("datetime overflow", f("canceled_at", "gt", "9999-12-31T23:59:59-01:00"), f"{P}.value", "ISO"),
    ("year zero", f("start_date", "gt", "0000-01-01"), f"{P}.value", "calendar date"),
    ("number too long", f("seats", "gt", "1" * 21), f"{P}.value", "is not a number"),
    ("number too precise", f("seats", "gt", "1." + "1" * 11), f"{P}.value", "is not a number"),
    ("int too large", f("seats", "gt", 10**20), f"{P}.value", "too large"),
]


@pytest.mark.parametrize(
    ("flt", "param", "message"), [(e[1], e[2], e[3]) for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_invalid_filter(world: World, flt: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        world.match(one(flt))
    assert exc.value.param == param
    assert message in exc.value.message
    assert exc.value.status_code == 422


def test_error_names_the_group_and_filter_position(world: World) -> None:
    groups = [
        {"filters": [f("status", "eq", "active")]},
        {"filters": [f("status", "eq", "active"), f("seats", "gt", "many")]},
    ]
    with pytest.raises(InvalidRequest) as exc:
        world.match(groups)
    assert exc.value.param == "filter_groups.1.filters.1.value"
    assert "'seats'" in exc.value.message


def test_param_prefix_for_other_callers() -> None:
    groups = parse_filter_groups(one(f("nope", "eq", "x")))
    with pytest.raises(InvalidRequest) as exc:
        compile_filter_groups(groups, SUBSCRIPTION_SPEC, {}, 1, param="enrollment.filter_groups")
    assert exc.value.param == "enrollment.filter_groups.0.filters.0.property"


def test_too_many_groups_is_rejected_when_compiling() -> None:
    group = FilterGroup(filters=[Filter(property="status", operator="eq", value="active")])
    with pytest.raises(InvalidRequest) as exc:
        compile_filter_groups([group] * 6, SUBSCRIPTION_SPEC, {}, 1)
    assert exc.value.param == "filter_groups"


def test_options_restrict_custom_option_values(world: World) -> None:
    with pytest.raises(InvalidRequest) as exc:
        world.match(one(f("tier", "eq", "Gold")), options=OPTIONS)
    assert exc.value.param == f"{P}.value"
    assert "'Gold' is not one of the options (Basic, Pro)" in exc.value.message
    with pytest.raises(InvalidRequest) as exc:
        world.match(one(f("features", "eq", "api;bogus")), options=OPTIONS)
    assert exc.value.param == f"{P}.value"
    with pytest.raises(InvalidRequest) as exc:
        world.match(one(f("features", "in", values=["api", "nope"])), options=OPTIONS)
    assert exc.value.param == f"{P}.values.1"
    # Known options pass; without options any value is accepted (and may match nothing).
    assert world.match(one(f("tier", "eq", "Basic")), options=OPTIONS) == {"s1", "s3", "s5"}
    assert world.match(one(f("tier", "eq", "Gold"))) == set()


def test_search_clauses_read_the_accounts_definitions(world: World) -> None:
    types, options = custom_properties(world.session, world.account_id)
    assert types == CUSTOM
    assert options == OPTIONS
    groups = parse_filter_groups(one(f("tier", "eq", "Basic"), f("status", "eq", "active")))
    sorts = parse_sorts([{"property": "next_payment_amount", "direction": "desc"}])
    where, order_by = search_clauses(world.session, world.account_id, groups, sorts)
    rows = world.session.scalars(select(Subscription.id).where(where).order_by(*order_by))
    assert [world.keys([r]).pop() for r in rows] == ["s1", "s5"]
    with pytest.raises(InvalidRequest):
        search_clauses(
            world.session, world.account_id, parse_filter_groups(one(f("tier", "eq", "Gold")))
        )


# ---------------------------------------------------------------- sorting


def test_sort_money_by_major_units_across_currencies(world: World) -> None:
    # 0 EUR < 12.50 USD < 12.505 KWD < 12.51 USD < 1200 JPY
    assert world.order([{"property": "next_payment_amount"}]) == ["s5", "s1", "s3", "s4", "s2"]
    assert world.order([{"property": "next_payment_amount", "direction": "desc"}]) == [
        "s2", "s4", "s3", "s1", "s5",
    ]  # fmt: skip


def test_sort_puts_nulls_last_both_ways_with_id_tiebreak(world: World) -> None:
    assert world.order([{"property": "next_payment_date"}]) == ["s1", "s5", "s4", "s2", "s3"]
    assert world.order([{"property": "next_payment_date", "direction": "DESC"}]) == [
        "s4", "s5", "s1", "s2", "s3",
    ]  # fmt: skip
    assert world.order([{"property": "last_payment_amount", "direction": "desc"}]) == [
        "s2", "s3", "s1", "s4", "s5",
    ]  # fmt: skip


def test_sort_text_ignores_case(world: World) -> None:
    assert world.order([{"property": "name"}]) == ["s3", "s1", "s4", "s5", "s2"]
    assert world.order([{"property": "name", "direction": "desc"}]) == [
        "s2", "s5", "s4", "s1", "s3",
    ]  # fmt: skip


def test_sort_by_several_properties(world: World) -> None:
    sorts = [{"property": "status"}, {"property": "next_payment_amount", "direction": "desc"}]
    # active (s1 12.50, s5 0), canceled, expired, paused
    assert world.order(sorts) == ["s1", "s5", "s2", "s3", "s4"]
    sorts = [{"property": "cancel_at_period_end", "direction": "desc"}, {"property": "id"}]
    assert world.order(sorts) == ["s4", "s1", "s2", "s3", "s5"]


def test_sort_by_custom_properties(world: World) -> None:
    assert world.order([{"property": "seats"}]) == ["s2", "s1", "s5", "s3", "s4"]
    assert world.order([{"property": "seats", "direction": "desc"}]) == [
        "s5",
        "s1",
        "s2",
        "s3",
        "s4",
    ]
    assert world.order([{"property": "properties.tier"}, {"property": "seats"}]) == [
        "s1", "s5", "s3", "s2", "s4",
    ]  # fmt: skip
    assert world.order([{"property": "signed_at", "direction": "desc"}]) == [
        "s3", "s1", "s2", "s4", "s5",
    ]  # fmt: skip


def test_default_order_is_id(world: World) -> None:
    assert world.order([]) == ["s1", "s2", "s3", "s4", "s5"]


@pytest.mark.parametrize(
    ("sorts", "param", "message"),
    [
        ([{"property": "nope"}], "sorts.0.property", "Unknown property: 'nope'"),
        (
            [{"property": "name"}, {"property": "associations.company"}],
            "sorts.1.property",
            "Cannot sort by association 'associations.company'",
        ),
        ([{"property": "name", "direction": "up"}], "sorts.0.direction", "Invalid value"),
        ([{"property": "name"}] * 6, "sorts", "at most 5"),
    ],
)
def test_invalid_sorts(world: World, sorts: Any, param: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        world.order(sorts)
    assert exc.value.param == param
    assert message in exc.value.message


def test_compile_sorts_rejects_too_many() -> None:
    with pytest.raises(InvalidRequest) as exc:
        compile_sorts([Sort(property="name")] * 6, SUBSCRIPTION_SPEC, {})
    assert exc.value.param == "sorts"


# ---------------------------------------------------------------- word matching on both databases

WORD_CASES = [
    *((f"x{sep}Gold{sep}y", "gold", True) for sep in filters_module._SEPARATORS),
    *((f"x{sep}golden", "gold", False) for sep in filters_module._SEPARATORS),
    *((f"x{sep}golden", "gold*", True) for sep in filters_module._SEPARATORS),
    *((f"gold{sep}plan", "gold plan", True) for sep in filters_module._SEPARATORS),
    ("gold", "gold", True),
    ("marigold", "*gold", True),
    ("marigolds", "*gold", False),
    ("marigolds", "*gold*", True),
    ("a*b c", "a*b", True),
    ("axb c", "a*b", False),
    ("a?b", "a?b", True),
    ("$5 off", "$5", True),
    ("^x", "^x", True),
    ("back\\slash", "back\\slash", True),
    ("backxslash", "back\\slash", False),
    ("100% sure", "100%", True),
    ("1000 sure", "100%", False),
    ("snake_case", "snake_case", True),
    ("snakeXcase", "snake_case", False),
    ("gold  plan", "gold plan", False),  # a phrase's words are one separator apart
]


@pytest.mark.parametrize(("text", "token", "expected"), WORD_CASES)
def test_contains_token_words(db: Session, text: str, token: str, expected: bool) -> None:
    condition = filters_module._contains_token(literal(text, String), "text", token)
    assert bool(db.scalar(select(condition))) is expected


# --- "days ago" operators and "has a subscription where …" ------------------------------------


def _days_match(world: World, groups: Any, today: date, timezone: str = "UTC") -> set[str]:
    condition = compile_filter_groups(
        parse_filter_groups(groups),
        SUBSCRIPTION_SPEC,
        CUSTOM,
        world.account_id,
        today=Today(today, timezone),
    )
    query = select(Subscription.id).where(Subscription.account_id == world.account_id, condition)
    return world.keys(world.session.scalars(query))


WIN_BACK = [
    {
        "filters": [
            {"property": "status", "operator": "in", "values": ["canceled", "expired"]},
            {"property": "canceled_at", "operator": "less_than_days_ago", "value": 60},
        ]
    }
]


def test_win_back_segment_of_the_seed(world: World) -> None:
    # s2 canceled 10 days ago; s3 expired, canceled 90 days ago; s4 paused (canceled_at set).
    assert _days_match(world, WIN_BACK, NOW.date()) == {"s2"}


@pytest.mark.parametrize(
    ("prop", "op", "days", "today", "expected"),
    [
        ("canceled_at", "more_than_days_ago", 60, date(2025, 6, 1), {"s3"}),
        ("canceled_at", "less_than_days_ago", 6, date(2025, 6, 1), {"s4"}),
        # 10 days before 2025-06-01 is 2025-05-22, s2's day: neither less nor more than 10.
        ("canceled_at", "less_than_days_ago", 10, date(2025, 6, 1), {"s4"}),
        ("canceled_at", "more_than_days_ago", 10, date(2025, 6, 1), {"s3"}),
        ("canceled_at", "less_than_days_ago", 11, date(2025, 6, 1), {"s2", "s4"}),
        # A day in the future is not "less than N days ago".
        ("next_payment_date", "less_than_days_ago", 1, date(2025, 6, 1), {"s1"}),
        # 2025-06-01 is exactly 30 days before 2025-07-01: not less than 30 days ago.
        ("next_payment_date", "less_than_days_ago", 30, date(2025, 7, 1), {"s4", "s5"}),
        ("next_payment_date", "less_than_days_ago", 31, date(2025, 7, 1), {"s1", "s4", "s5"}),
        ("next_payment_date", "more_than_days_ago", 0, date(2025, 6, 16), {"s1", "s5"}),
        ("properties.renewal_on", "less_than_days_ago", 10, date(2025, 7, 5), {"s2"}),
        ("properties.renewal_on", "more_than_days_ago", 0, date(2025, 12, 1), {"s1", "s2"}),
        ("properties.signed_at", "more_than_days_ago", 100, date(2025, 6, 1), {"s1"}),
        ("properties.signed_at", "less_than_days_ago", 100, date(2025, 6, 1), {"s3"}),
        ("properties.signed_at", "less_than_days_ago", "100", date(2025, 6, 1), {"s3"}),
    ],
)
def test_days_ago(
    world: World, prop: str, op: str, days: Any, today: date, expected: set[str]
) -> None:
    groups = [{"filters": [{"property": prop, "operator": op, "value": days}]}]
    assert _days_match(world, groups, today) == expected


def test_days_ago_counts_a_timestamps_day_in_the_accounts_timezone(world: World) -> None:
    # s2 was canceled at 2025-05-22 12:00 UTC: that is 22 May in UTC, 23 May in Auckland.
    groups = [
        {"filters": [{"property": "canceled_at", "operator": "less_than_days_ago", "value": 10}]}
    ]
    assert "s2" not in _days_match(world, groups, date(2025, 6, 1), "UTC")
    assert "s2" in _days_match(world, groups, date(2025, 6, 1), "Pacific/Auckland")


@pytest.mark.parametrize(
    ("flt", "param", "message"),
    [
        (f("canceled_at", "less_than_days_ago", -1), "value", "whole number of days"),
        (f("canceled_at", "less_than_days_ago", "1.5"), "value", "whole number of days"),
        (f("canceled_at", "more_than_days_ago", True), "value", "whole number of days"),
        (f("canceled_at", "more_than_days_ago", 10**6), "value", "whole number of days"),
        (f("canceled_at", "more_than_days_ago"), "value", "needs a value"),
        (f("name", "less_than_days_ago", 3), "operator", "cannot be used on 'name'"),
        (f("mrr", "more_than_days_ago", 3), "operator", "cannot be used on 'mrr'"),
    ],
)
def test_invalid_days_ago(world: World, flt: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _days_match(world, [{"filters": [flt]}], NOW.date())
    assert caught.value.param == f"filter_groups.0.filters.0.{param}"
    assert message in caught.value.message


def test_days_ago_needs_the_accounts_today(world: World) -> None:
    groups = parse_filter_groups([{"filters": [f("canceled_at", "less_than_days_ago", 3)]}])
    with pytest.raises(ValueError, match="today"):
        compile_filter_groups(groups, SUBSCRIPTION_SPEC, CUSTOM, world.account_id)


def _crm_match(world: World, object_type: str, groups: Any) -> set[str]:
    catalog = catalog_for(object_type)
    assert catalog is not None
    condition = catalog.compile_filters(
        world.session, world.account_id, parse_filter_groups(groups)
    )
    rows = world.session.execute(select(catalog.model).where(condition)).scalars()
    return {getattr(r, "email", None) or r.name for r in rows}


def _has_subscription(*filters: dict[str, Any], negate: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "filters": [
                {
                    "property": "associations.subscription",
                    "operator": "not_has_property" if negate else "has_property",
                    "filter_groups": [{"filters": list(filters)}],
                }
            ]
        }
    ]


def test_contacts_with_a_subscription_where_both_conditions_hold_for_one_subscription(
    world: World,
) -> None:
    # ann: s1 active with 3 payments; bob: s4 paused with 4, s5 active with 2.
    active = f("status", "eq", "active")
    three = f("payments_completed", "gte", 3)
    assert _crm_match(world, "contacts", _has_subscription(active, three)) == {"ann@example.com"}
    assert _crm_match(world, "contacts", _has_subscription(active, three, negate=True)) == {
        "bob@example.com"
    }
    # Two separate filters may be met by two different subscriptions.
    separate = [
        {
            "filters": _has_subscription(active)[0]["filters"]
            + _has_subscription(three)[0]["filters"]
        }
    ]
    assert _crm_match(world, "contacts", separate) == {"ann@example.com", "bob@example.com"}


def test_contacts_by_their_subscriptions_custom_properties_and_days_ago(world: World) -> None:
    # Custom subscription properties are the account's definitions (created in the fixture).
    basic = f("properties.tier", "eq", "Basic")
    assert _crm_match(world, "contacts", _has_subscription(basic)) == {
        "ann@example.com",
        "bob@example.com",
    }
    ended = f("end_date", "has_property")
    assert _crm_match(world, "contacts", _has_subscription(ended)) == set()
    presence = [{"filters": [f("associations.subscription", "has_property")]}]
    assert _crm_match(world, "contacts", presence) == {"ann@example.com", "bob@example.com"}


def test_companies_with_an_active_subscription(world: World) -> None:
    # Acme is s1's company (active); another company is associated with s3 (expired) by an
    # association row only, and has no company row of its own.
    active = f("status", "eq", "active")
    assert _crm_match(world, "companies", _has_subscription(active)) == {"Acme"}
    assert _crm_match(world, "companies", _has_subscription(f("status", "eq", "expired"))) == set()


@pytest.mark.parametrize(
    ("flt", "param", "message"),
    [
        (
            {"property": "email", "operator": "has_property", "filter_groups": []},
            "filter_groups.0.filters.0.filter_groups",
            "Only an association filter",
        ),
        (
            {"property": "associations.deal", "operator": "has_property", "filter_groups": []},
            "filter_groups.0.filters.0.filter_groups",
            "cannot be filtered by the associated records' properties",
        ),
        (
            {
                "property": "associations.subscription",
                "operator": "eq",
                "value": "x",
                "filter_groups": [],
            },
            "filter_groups.0.filters.0.operator",
            "has_property or not_has_property",
        ),
        (
            {
                "property": "associations.subscription",
                "operator": "has_property",
                "filter_groups": [{"filters": [f("nope", "eq", "x")]}],
            },
            "filter_groups.0.filters.0.filter_groups.0.filters.0.property",
            "Unknown property: 'nope'",
        ),
        (
            {
                "property": "associations.subscription",
                "operator": "has_property",
                "filter_groups": [
                    {
                        "filters": [
                            {
                                "property": "associations.company",
                                "operator": "has_property",
                                "filter_groups": [],
                            }
                        ]
                    }
                ],
            },
            "filter_groups.0.filters.0.filter_groups.0.filters.0.filter_groups",
            "do not nest",
        ),
    ],
)
def test_invalid_related_filters(
    world: World, flt: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _crm_match(world, "contacts", [{"filters": [flt]}])
    assert caught.value.param == param
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("positive", "negative"),
    [
        (f("tier", "eq", "Basic"), f("tier", "neq", "Basic")),
        (f("tier", "in", values=["Basic", "Pro"]), f("tier", "not_in", values=["Basic", "Pro"])),
        (f("notes", "contains_token", "invoice"), f("notes", "not_contains_token", "invoice")),
        (f("features", "in", values=["api"]), f("features", "not_in", values=["api"])),
        (f("seats", "eq", 5), f("seats", "neq", 5)),
        (f("tier", "has_property"), f("tier", "not_has_property")),
    ],
)
def test_a_custom_positive_and_its_negation_split_the_account(
    world: World, positive: dict[str, Any], negative: dict[str, Any]
) -> None:
    # A positive custom condition is an IN list of record IDs, a negative one NOT EXISTS of the
    # positive: together they are every record of the account, without overlap, whether or not
    # a record has a value (s4 has none of its own; the other account's value row on it counts
    # for nothing).
    everything = world.match([])
    matched, rest = world.match(one(positive)), world.match(one(negative))
    assert matched | rest == everything
    assert not matched & rest


def test_custom_positive_compiles_to_an_id_list_and_negative_to_not_exists(world: World) -> None:
    def sql(flt: dict[str, Any]) -> str:
        condition = compile_filter_groups(
            parse_filter_groups(one(flt)), SUBSCRIPTION_SPEC, CUSTOM, world.account_id
        )
        return str(condition.compile(compile_kwargs={"literal_binds": True})).upper()

    positive = sql(f("tier", "eq", "Basic"))
    assert "SUBSCRIPTIONS.ID IN (SELECT" in positive and "EXISTS" not in positive
    assert "NOT (EXISTS" in sql(f("tier", "neq", "Basic"))
