"""Deleting an account removes every row of it, in every table, and no row of another account.

Two shops are built alike (the demo coffee shop, plus what the demo does not make: a company,
deals, a converted quote, a payment link checkout, a refund, custom properties and their
values, the portal configuration, a saved view, a signed-in session, an idempotent request, the
emails the outbox sends, and a plan with a paid seat billed by a third account), then one is
deleted. The checks walk the metadata, not a list written here, so a table added later is
checked too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    and_,
    exists,
    false,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cadency import demo
from cadency.accounts import service as account_service
from cadency.accounts.deletion import (
    INSTALLATION_TABLES,
    UnownedTableError,
    delete_account,
    delete_owned_rows,
    deletion_plan,
)
from cadency.accounts.models import Account, User
from cadency.config import Settings
from cadency.exports.models import Export
from cadency.kit.db import Base
from cadency.notifications.dispatcher import Dispatcher
from cadency.payments.models import ProcessorSettings, StripeEvent
from cadency.plans.models import AccountPlan, SeatAssignment
from cadency.segments.models import Segment
from cadency.views import service as views
from cadency.views.schemas import ViewCreate
from cadency.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from cadency.workflows import runner as workflows
from tests.checkout.builders import card, checkout, link
from tests.conftest import Api
from tests.subscriptions.helpers import subscription_body

# Tables a shop built below leaves empty, each with the reason; every other table must hold at
# least one row of the shop, so the deletion is proven on real rows of every kind.
LEFT_EMPTY: dict[str, str] = {
    # An operator is never deleted: the other accounts' plans point at its rows (see
    # test_an_account_other_accounts_point_at_is_not_deleted).
    "plans": "plans are the operator's, which sells them; a merchant account has none",
}


@dataclass
class Shop:
    account_id: int
    api: Api


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in INSTALLATION_TABLES]


def _rows_of(table: Table, account_id: int, seen: frozenset[str] = frozenset()) -> Any:
    """Which rows of `table` are the account's, written apart from the code under test: by
    `account_id`, else through any foreign key to a row that is the account's."""
    if table.name == "accounts":
        return table.c.id == account_id
    if "account_id" in table.c:
        return table.c.account_id == account_id
    links: list[ColumnElement[bool]] = []
    for fk in table.foreign_key_constraints:
        parent = fk.referred_table
        if parent.name in seen | {table.name}:
            continue
        joined = and_(*(e.column == e.parent for e in fk.elements))
        parent_rows = _rows_of(parent, account_id, seen | {table.name})
        links.append(exists().where(joined, parent_rows))
    return or_(false(), *links)


def row_counts(session: Session, account_id: int) -> dict[str, int]:
    """The account's rows in every table of the metadata."""
    return {
        table.name: session.scalar(
            select(func.count()).select_from(table).where(_rows_of(table, account_id))
        )
        or 0
        for table in _tables()
    }


def all_rows(session: Session) -> dict[str, int]:
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def mentions_of(session: Session, account_id: int) -> dict[str, int]:
    """Rows anywhere whose account column (by any name) still holds the ID."""
    found: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        for column in table.c:
            points_at_accounts = any(
                fk.column.table.name == "accounts" for fk in column.foreign_keys
            )
            if column.name == "account_id" or points_at_accounts:
                count = session.scalar(
                    select(func.count()).select_from(table).where(column == account_id)
                )
                if count:
                    found[f"{table.name}.{column.name}"] = count
    return found


def build_shop(
    client: TestClient, session_factory: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> Shop:
    """The demo coffee shop, and a row of every kind the demo does not make."""
    # The demo keeps to one account by its name; a name of its own makes a new one each time.
    monkeypatch.setattr(demo, "DEMO_ACCOUNT_NAME", f"{name} {uuid4().hex[:8]}")
    with session_factory() as session:
        made = demo.load_demo(session, email=f"owner@{name}.example", password="password-123")
        session.commit()
    api = Api(client=client, account_id=made["account_id"], key=made["api_key"])

    rate = api.ok(api.post("/tax-rates", {"name": "VAT", "percentage": "21.00"}))
    api.ok(
        api.post("/fees", {"name": "Card surcharge", "fee_type": "percentage", "percentage": "2"})
    )
    free = api.ok(
        api.post(
            "/products",
            {"name": "Free tasting", "unit_price": "0.00", "billing_frequency": "monthly"},
        )
    )
    paid = api.ok(
        api.post(
            "/products",
            {
                "name": "Barista plan",
                "unit_price": "30.00",
                "billing_frequency": "monthly",
                "fallback_product_id": free["id"],
            },
        )
    )
    # Two products that fall back to each other: the delete must not trip over the loop.
    api.ok(api.patch(f"/products/{free['id']}", {"fallback_product_id": paid["id"]}))

    api.ok(
        api.post("/properties/contacts", {"name": "roast", "label": "Roast", "field_type": "text"})
    )
    api.ok(
        api.post(
            "/properties/companies",
            {"name": "branches", "label": "Branches", "field_type": "number"},
        )
    )
    api.ok(api.patch("/portal-configuration", {"invoice_history": {"enabled": False}}))
    company = api.ok(api.post("/companies", {"name": "Bean Co", "properties": {"branches": 3}}))
    buyer = api.ok(
        api.post(
            "/contacts",
            {"email": f"buyer@{name}.example", "properties": {"roast": "dark"}},
            headers={"Idempotency-Key": f"buyer-{name}"},
        )
    )
    api.ok(api.post(f"/contacts/{buyer['id']}/payment-methods", card()))
    items = [{"product_id": paid["id"], "tax_rate_id": rate["id"]}]
    api.ok(
        api.post(
            "/deals",
            {
                "name": "Office coffee",
                "contact_id": buyer["id"],
                "company_id": company["id"],
                "line_items": items,
            },
        )
    )
    quote = api.ok(
        api.post("/quotes", {"name": "Café", "contact_id": buyer["id"], "line_items": items})
    )
    api.ok(api.post(f"/quotes/{quote['id']}/publish"))
    api.ok(api.post(f"/quotes/{quote['id']}/convert"))

    plink = link(api, [{"product_id": paid["id"]}])
    checkout(api, plink["id"], email=f"walk-in@{name}.example")
    payment = api.ok(api.get("/payments"))["data"][0]
    api.ok(api.post(f"/payments/{payment['id']}/refund", {"amount": "1.00"}))

    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        owner = session.scalar(select(User).where(User.account_id == account.id))
        assert owner is not None
        views.create_view(session, account, owner, ViewCreate(name="Everything"))
        now = datetime.now(UTC)
        session.add(
            Segment(
                id=f"seg_{uuid4().hex[:12]}",
                account_id=account.id,
                object_type="subscriptions",
                name="Win-back",
                filter_groups=[],
                created_by_user_id=owner.id,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            Export(
                id=f"exp_{uuid4().hex[:12]}",
                account_id=account.id,
                requested_by_user_id=owner.id,
                object_type="subscriptions",
                format="csv",
                language="en",
                properties="view",
                associations_limit="1000",
                filter_groups=[],
                columns=[],
                sorts=[],
                status="queued",
                created_at=now,
            )
        )
        endpoint = WebhookEndpoint(
            id=f"we_{uuid4().hex[:12]}",
            account_id=account.id,
            url="https://hooks.example.com/cadency",
            description=None,
            enabled_events=["*"],
            # Disabled: later tests' webhook passes must not try to reach it.
            status="disabled",
            created_at=now,
            updated_at=now,
        )
        event = Event(
            id=f"evt_{uuid4().hex[:12]}",
            account_id=account.id,
            type="ping",
            data={"object": {}},
            created_at=now,
        )
        session.add_all([endpoint, event])
        # The processor's settings (the sandbox: localstripe is not needed to make the row)
        # and a Stripe event already handled.
        session.add(ProcessorSettings(account_id=account.id, processor="sandbox", updated_at=now))
        session.add(
            StripeEvent(
                account_id=account.id,
                event_id=f"evt_{uuid4().hex[:12]}",
                type="payment_intent.succeeded",
                received_at=now,
            )
        )
        session.flush()
        session.add(
            WebhookDelivery(
                id=f"whd_{uuid4().hex[:12]}",
                account_id=account.id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type="ping",
                status="pending",
                created_at=now,
            )
        )
        account_service.start_session(session, owner)
        account_service.request_password_reset(session, owner.email)
        session.commit()
        # With no SMTP server the emails land in the account's mailbox.
        sent = Dispatcher(
            Settings(database_url="unused", base_url="http://testserver", smtp_url=None)
        ).run(session, account_id=account.id)
        assert sent.sent > 0
    return Shop(account_id=api.account_id, api=api)


def bill_as_plan(session_factory: Any, biller: Api, merchant_id: int) -> str:
    """Make `biller` bill the merchant for its plan, and give the merchant's first user a paid
    seat: the rows `plans.service.enroll` and `assign_seat` write, written here directly because
    marking an account the operator would make it every other test's operator too (there is
    one per installation). Returns the biller's subscription of the merchant."""
    body = subscription_body(biller, email=f"merchant-{merchant_id}@example.com")
    subscription = biller.ok(biller.post("/subscriptions", body))
    with session_factory() as session:
        session.add(
            AccountPlan(
                account_id=merchant_id,
                operator_account_id=biller.account_id,
                contact_id=body["contact_id"],
                subscription_id=subscription["id"],
                created_at=datetime.now(UTC),
            )
        )
        user_id = session.scalar(select(User.id).where(User.account_id == merchant_id))
        if user_id is not None:
            session.add(
                SeatAssignment(
                    account_id=merchant_id, user_id=user_id, assigned_at=datetime.now(UTC)
                )
            )
        session.commit()
    return str(subscription["id"])


@pytest.fixture
def two_shops(
    client: TestClient, session_factory: Any, monkeypatch: pytest.MonkeyPatch, api: Api
) -> tuple[Shop, Shop]:
    """Two shops built alike, each billed for its plan by a third account (`api`)."""
    shops = (
        build_shop(client, session_factory, monkeypatch, "leaving"),
        build_shop(client, session_factory, monkeypatch, "staying"),
    )
    for shop in shops:
        bill_as_plan(session_factory, api, shop.account_id)
    # The demo's workflows enroll both shops' subscriptions alike.
    workflows.run(session_factory, allow_private=False)
    return shops


def test_every_row_of_the_account_goes_and_no_row_of_another(
    two_shops: tuple[Shop, Shop], api: Api, session_factory: Any
) -> None:
    leaving, staying = two_shops
    biller = api
    with session_factory() as session:
        before_leaving = row_counts(session, leaving.account_id)
        before_staying = row_counts(session, staying.account_id)
        before_biller = row_counts(session, biller.account_id)
        before_all = all_rows(session)
    # The shop to delete has rows in every table (or the reason it has none is written above),
    # so each table's delete is proven on real rows.
    empty = {name for name, count in before_leaving.items() if count == 0}
    assert empty == set(LEFT_EMPTY), f"fill these tables in build_shop: {empty - set(LEFT_EMPTY)}"
    assert before_staying == before_leaving  # built alike, so the other shop is a fair witness

    with session_factory() as session:
        account = session.get(Account, leaving.account_id)
        assert account is not None
        deleted = delete_account(session, account)
        session.commit()

    # It reports every table it emptied, with the rows it found there.
    assert {name: n for name, n in deleted.items() if n} == {
        name: n for name, n in before_leaving.items() if n
    }
    with session_factory() as session:
        assert session.get(Account, leaving.account_id) is None
        assert all(count == 0 for count in row_counts(session, leaving.account_id).values())
        assert mentions_of(session, leaving.account_id) == {}
        assert row_counts(session, staying.account_id) == before_staying
        # The account that billed it keeps its own records of it: its contact, subscription,
        # invoices and payments are its books, not the deleted account's.
        assert row_counts(session, biller.account_id) == before_biller
        # Nothing else anywhere moved either (installation secrets, other tests' accounts).
        after_all = all_rows(session)
    assert after_all == {name: before_all[name] - before_leaving.get(name, 0) for name in after_all}

    # The other shop still works through the API.
    assert staying.api.get("/subscriptions").status_code == 200
    assert leaving.api.get("/subscriptions").status_code == 401


def test_deleting_leaves_the_session_usable(api: Api, other_api: Api, session_factory: Any) -> None:
    """The caller commits; objects of the deleted account the session held do not come back."""
    api.ok(api.post("/contacts", {"email": "ann@example.com"}))
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        account.name = "Renamed before deleting"  # a pending change is written, then deleted
        users = session.scalars(select(User).where(User.account_id == api.account_id)).all()
        deleted = delete_account(session, account)
        assert deleted["accounts"] == 1
        assert deleted["contacts"] == 1
        assert all(inspect(user).detached for user in users)
        session.commit()
    with session_factory() as session:
        assert session.get(Account, api.account_id) is None
        assert session.get(Account, other_api.account_id) is not None


def test_every_table_is_an_accounts_or_named_installation_wide() -> None:
    plan = deletion_plan()
    names = [table.name for table in plan.order]
    assert names[-1] == "accounts"
    assert set(names) == {t.name for t in Base.metadata.sorted_tables} - INSTALLATION_TABLES
    # Children before parents: no table is deleted after a table it points at.
    for position, table in enumerate(plan.order):
        for fk in table.foreign_key_constraints:
            if fk.referred_table is not table:
                assert names.index(fk.referred_table.name) > position, (table.name, fk.name)
    # The product that falls back to another is the loop the order cannot break.
    assert {fk.name for fk in plan.loops} >= {"fk_products_fallback_product_id_products"}


def test_an_account_other_accounts_point_at_is_not_deleted(
    api: Api, other_api: Api, session_factory: Any
) -> None:
    """The account that bills others for their plans holds what their plans point at: the
    database refuses, and the caller's rollback leaves every row where it was."""
    bill_as_plan(session_factory, api, other_api.account_id)
    with session_factory() as session:
        before = all_rows(session)
        account = session.get(Account, api.account_id)
        assert account is not None
        with pytest.raises(IntegrityError):
            delete_account(session, account)
        session.rollback()
    with session_factory() as session:
        assert all_rows(session) == before
        assert session.get(Account, api.account_id) is not None
    assert api.get("/subscriptions").status_code == 200


def unindexed_foreign_keys() -> list[str]:
    """Foreign keys between an account's tables with no index that starts with their columns."""
    found = []
    for table in Base.metadata.sorted_tables:
        starts = [[c.name for c in index.columns] for index in table.indexes]
        starts += [
            [c.name for c in constraint.columns]
            for constraint in table.constraints
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint)
        ]
        for fk in table.foreign_key_constraints:
            columns = [element.parent.name for element in fk.elements]
            # Deleting an account removes one accounts row: one look at each table is cheap.
            if fk.referred_table.name == "accounts":
                continue
            if not any(start[: len(columns)] == columns for start in starts):
                found.append(f"{table.name}.{','.join(columns)}")
    return sorted(found)


def test_deleting_an_account_finds_what_points_at_its_rows_by_index() -> None:
    """Deleting a row makes the database look for rows pointing at it; with no index on the
    pointing columns that look reads the child table of every account, once per deleted row.
    Measured (2 cores; the account with 10,000 subscriptions, contacts and cards, beside two
    more such accounts): 62.7 s on SQLite and 54.3 s on PostgreSQL, nearly all of it in
    deleting the cards (subscriptions.payment_method_id); 0.6 s and 1.6 s with the indexes of
    migration 0015."""
    assert unindexed_foreign_keys() == []


# --- a table added later ----------------------------------------------------------------------


@pytest.fixture
def later_tables(session_factory: Any) -> Iterator[tuple[MetaData, Engine]]:
    """Tables as a later feature might add them, next to the real `accounts` table: one with
    `account_id`, and beneath it a chain with none, a loop and a two-column key."""
    md = MetaData()
    Table("accounts", md, Column("id", BigInteger, primary_key=True))
    Table(
        "zz_later_boards",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
        Column("parent_id", Integer, ForeignKey("zz_later_boards.id")),
    )
    Table(
        "zz_later_cards",
        md,
        Column("board_id", Integer, ForeignKey("zz_later_boards.id"), primary_key=True),
        Column("number", Integer, primary_key=True),
    )
    Table(
        "zz_later_notes",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("board_id", Integer, nullable=False),
        Column("card_number", Integer, nullable=False),
        Column("reply_to_id", Integer, ForeignKey("zz_later_notes.id")),
        ForeignKeyConstraint(
            ["board_id", "card_number"], ["zz_later_cards.board_id", "zz_later_cards.number"]
        ),
    )
    Table("zz_later_settings", md, Column("name", String(20), primary_key=True))
    engine: Engine = session_factory.kw["bind"]
    later = [t for t in md.sorted_tables if t.name != "accounts"]
    md.create_all(engine, tables=later)
    try:
        yield md, engine
    finally:
        md.drop_all(engine, tables=later)


def test_a_table_added_later_is_covered_through_its_foreign_keys(
    later_tables: tuple[MetaData, Engine], api: Api, other_api: Api, session_factory: Any
) -> None:
    md, engine = later_tables
    with pytest.raises(UnownedTableError, match="zz_later_settings"):
        deletion_plan(md)
    md.remove(md.tables["zz_later_settings"])
    plan = deletion_plan(md)
    boards, cards, notes = (md.tables[f"zz_later_{n}"] for n in ("boards", "cards", "notes"))
    assert [t.name for t in plan.order] == [
        "zz_later_notes",
        "zz_later_cards",
        "zz_later_boards",
        "accounts",
    ]

    with session_factory() as session:
        for first, owner in ((1, api.account_id), (10, other_api.account_id)):
            session.execute(
                boards.insert(),
                [
                    {"id": first, "account_id": owner, "parent_id": None},
                    {"id": first + 1, "account_id": owner, "parent_id": first},
                ],
            )
            session.execute(cards.insert(), [{"board_id": first + 1, "number": 7}])
            session.execute(
                notes.insert(),
                [
                    {"id": first, "board_id": first + 1, "card_number": 7, "reply_to_id": None},
                    {
                        "id": first + 1,
                        "board_id": first + 1,
                        "card_number": 7,
                        "reply_to_id": first,
                    },
                ],
            )
        session.commit()

        # The real tables hold rows of the account too: the later ones go first, then the
        # account with the real plan, in one transaction.
        later = delete_owned_rows(session, api.account_id, replace(plan, order=plan.order[:-1]))
        account = session.get(Account, api.account_id)
        assert account is not None
        delete_account(session, account)
        session.commit()
    assert later == {"zz_later_notes": 2, "zz_later_cards": 1, "zz_later_boards": 2}
    with engine.connect() as conn:
        assert conn.execute(select(boards.c.id).order_by(boards.c.id)).scalars().all() == [10, 11]
        assert conn.execute(select(cards.c.board_id)).scalars().all() == [11]
        assert conn.execute(select(notes.c.id).order_by(notes.c.id)).scalars().all() == [10, 11]
