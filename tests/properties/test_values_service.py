"""set_values / get_values / delete_values: what other domains call for `"properties"`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.models import Account
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.properties import service as properties
from cadency.properties.models import PropertyValue
from cadency.properties.schemas import PropertyCreate

TIERS = [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}]
TAGS = [{"value": v, "label": v.title()} for v in ("red", "green", "blue")]


def define(db: Session, account: Account, object_type: str = "subscriptions", **body: Any) -> None:
    body.setdefault("label", body["name"].title())
    properties.create_definition(
        db, account, object_type, PropertyCreate.model_validate(body), plan_limit=None
    )


@pytest.fixture
def account(db: Session) -> Account:
    created, _ = account_service.create_account(db, name="Values shop")
    return created


@pytest.fixture
def shop(db: Session, account: Account) -> Account:
    """An account with one subscription property of every field type."""
    define(db, account, name="note", field_type="text")
    define(db, account, name="story", field_type="textarea")
    define(db, account, name="seats", field_type="number")
    define(db, account, name="renews_on", field_type="date")
    define(db, account, name="signed_at", field_type="datetime")
    define(db, account, name="tier", field_type="select", options=TIERS)
    define(db, account, name="size", field_type="radio", options=TIERS)
    define(db, account, name="tags", field_type="checkboxes", options=TAGS)
    define(db, account, name="vip", field_type="boolean")
    return account


def values_of(db: Session, account: Account, object_id: str) -> dict[str, Any]:
    return properties.get_values(db, account.id, "subscriptions", [object_id], view_sensitive=True)[
        object_id
    ]


def rejects(
    db: Session, account: Account, values: dict[str, Any], param: str, *, creating: bool = False
) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        properties.set_values(db, account, "subscriptions", "sub_x", values, creating=creating)
    assert caught.value.status_code == 422
    assert caught.value.param == param, caught.value.message
    return caught.value


def test_every_field_type_round_trips(db: Session, shop: Account) -> None:
    properties.set_values(
        db,
        shop,
        "subscriptions",
        "sub_1",
        {
            "note": "Call before renewal",
            "story": "Line one\nLine two",
            "seats": 12,
            "renews_on": "2024-02-29",
            "signed_at": "2025-03-30T01:30:00+02:00",
            "tier": "pro",
            "size": "basic",
            "tags": ["red", "blue", "red"],
            "vip": False,
        },
        creating=True,
    )
    assert values_of(db, shop, "sub_1") == {
        "note": "Call before renewal",
        "story": "Line one\nLine two",
        "seats": 12,
        "renews_on": "2024-02-29",
        "signed_at": "2025-03-29T23:30:00Z",
        "tier": "pro",
        "size": "basic",
        "tags": ["blue", "red"],
        "vip": False,
    }


def test_each_value_lands_in_its_typed_column(db: Session, shop: Account) -> None:
    properties.set_values(
        db,
        shop,
        "subscriptions",
        "sub_cols",
        {"seats": "7.25", "renews_on": "2025-01-31", "tags": ["green", "blue"], "vip": True},
        creating=False,
    )
    rows = {
        row.name: row
        for row in db.scalars(select(PropertyValue).where(PropertyValue.object_id == "sub_cols"))
    }
    assert rows["seats"].number_value == Decimal("7.25")
    assert rows["seats"].text_value == "7.25"
    assert rows["renews_on"].date_value is not None
    assert rows["renews_on"].date_value.isoformat() == "2025-01-31"
    assert rows["tags"].text_value == "blue;green"
    assert rows["vip"].bool_value is True
    assert all(
        row.object_type == "subscriptions" and row.account_id == shop.id for row in rows.values()
    )


@pytest.mark.parametrize(
    ("given", "stored", "returned"),
    [
        (12, "12", 12),
        (-3, "-3", -3),
        ("12.50", "12.5", 12.5),
        ("0.000", "0", 0),
        ("-0", "0", 0),
        (0.1, "0.1", 0.1),
        (2.0, "2", 2),
        (1e-10, "0.0000000001", 1e-10),
        ("0.0000000001", "0.0000000001", 1e-10),
        (12345678901234567890 - 1, "12345678901234567889", 12345678901234567889),
        ("99999999999999999999.9999999999", "99999999999999999999.9999999999", 1e20),
    ],
)
def test_numbers_are_stored_exactly(
    db: Session, shop: Account, given: Any, stored: str, returned: int | float
) -> None:
    properties.set_values(db, shop, "subscriptions", "sub_n", {"seats": given}, creating=False)
    row = db.get(PropertyValue, ("sub_n", "seats"))
    assert row is not None
    assert row.text_value == stored
    value = values_of(db, shop, "sub_n")["seats"]
    assert value == returned
    assert type(value) is type(returned)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("note", 5),
        ("note", ["a"]),
        ("note", True),
        ("story", {"text": "x"}),
        ("seats", True),
        ("seats", False),
        ("seats", "abc"),
        ("seats", "1e5"),
        ("seats", " 5"),
        ("seats", "5."),
        ("seats", math.nan),
        ("seats", math.inf),
        ("seats", -math.inf),
        ("seats", 1.5e-11),
        ("seats", "0.12345678901"),
        ("seats", 10**20),
        ("seats", "-100000000000000000000"),
        ("seats", [1]),
        ("renews_on", "2024-02-30"),
        ("renews_on", "2024-1-1"),
        ("renews_on", "2024-01-01T00:00:00Z"),
        ("renews_on", 20240101),
        ("signed_at", "2024-01-01T10:00:00"),
        ("signed_at", "2024-01-01"),
        ("signed_at", "2024-13-01T10:00:00Z"),
        ("signed_at", "yesterday"),
        ("signed_at", "0001-01-01T00:30:00+01:00"),
        ("signed_at", "2024-01-01T24:00:00Z"),
        ("signed_at", 1704103200),
        ("tier", "gold"),
        ("tier", "Pro"),
        ("tier", ["pro"]),
        ("size", 1),
        ("tags", "red"),
        ("tags", ["red", "purple"]),
        ("tags", ["red", 1]),
        ("vip", 0),
        ("vip", 1),
        ("vip", "true"),
        ("vip", "false"),
    ],
)
def test_values_of_the_wrong_type_are_refused(
    db: Session, shop: Account, name: str, value: Any
) -> None:
    error = rejects(db, shop, {name: value}, f"properties.{name}")
    assert f"'{name}'" in error.message
    assert values_of(db, shop, "sub_x") == {}


def test_unknown_property_is_named(db: Session, shop: Account) -> None:
    error = rejects(db, shop, {"tier": "pro", "colour": "red"}, "properties.colour")
    assert "colour" in error.message
    # A property of another object type is unknown too.
    define(db, shop, "contacts", name="nickname", field_type="text")
    rejects(db, shop, {"nickname": "Bob"}, "properties.nickname")


def test_nothing_is_written_when_one_value_fails(db: Session, shop: Account) -> None:
    rejects(db, shop, {"note": "fine", "tier": "gold"}, "properties.tier")
    assert values_of(db, shop, "sub_x") == {}


def test_null_empty_text_and_no_checkboxes_remove_values(db: Session, shop: Account) -> None:
    full = {"note": "hi", "tags": ["red"], "seats": 3, "vip": True, "tier": "pro"}
    properties.set_values(db, shop, "subscriptions", "sub_d", full, creating=True)
    properties.set_values(
        db,
        shop,
        "subscriptions",
        "sub_d",
        {"note": "", "tags": [], "seats": None, "vip": None},
        creating=False,
    )
    assert values_of(db, shop, "sub_d") == {"tier": "pro"}
    assert db.scalars(
        select(PropertyValue.name).where(PropertyValue.object_id == "sub_d")
    ).all() == ["tier"]
    # Removing what is not there is fine.
    properties.set_values(db, shop, "subscriptions", "sub_d", {"note": None}, creating=False)


def test_update_replaces_only_the_values_given(db: Session, shop: Account) -> None:
    properties.set_values(
        db, shop, "subscriptions", "sub_u", {"note": "a", "seats": 1}, creating=True
    )
    properties.set_values(db, shop, "subscriptions", "sub_u", {"seats": "2.5"}, creating=False)
    assert values_of(db, shop, "sub_u") == {"note": "a", "seats": 2.5}


def test_required(db: Session, account: Account) -> None:
    define(db, account, name="manager", field_type="text", rules={"required": True})
    define(db, account, name="vip", field_type="boolean", rules={"required": True})
    define(db, account, name="note", field_type="text")
    rejects(db, account, {"manager": "Ann"}, "properties.vip", creating=True)
    rejects(db, account, {"manager": None, "vip": False}, "properties.manager", creating=True)
    rejects(db, account, {"manager": "", "vip": False}, "properties.manager", creating=True)
    properties.set_values(
        db, account, "subscriptions", "sub_r", {"manager": "Ann", "vip": False}, creating=True
    )
    # On update a required property may be left out, not removed.
    properties.set_values(db, account, "subscriptions", "sub_r", {"note": "x"}, creating=False)
    properties.set_values(db, account, "subscriptions", "sub_r", {}, creating=False)
    error = rejects(db, account, {"vip": None}, "properties.vip")
    assert "required" in error.message
    rejects(db, account, {"manager": ""}, "properties.manager")
    assert values_of(db, account, "sub_r") == {"manager": "Ann", "vip": False, "note": "x"}


def test_no_values_is_fine_unless_something_is_required(db: Session, shop: Account) -> None:
    properties.set_values(db, shop, "subscriptions", "sub_empty", None, creating=True)
    properties.set_values(db, shop, "subscriptions", "sub_empty", {}, creating=False)
    assert values_of(db, shop, "sub_empty") == {}


def test_required_applies_per_object_type(db: Session, account: Account) -> None:
    define(db, account, "contacts", name="manager", field_type="text", rules={"required": True})
    properties.set_values(db, account, "subscriptions", "sub_free", {}, creating=True)
    with pytest.raises(InvalidRequest):
        properties.set_values(db, account, "contacts", "cont_1", {}, creating=True)


@pytest.mark.parametrize(
    ("field_type", "first", "same", "different"),
    [
        ("text", "NL001", "NL001", "nl001"),
        ("number", 5, "5.000", "5.01"),
        ("date", "2025-01-01", "2025-01-01", "2025-01-02"),
        ("datetime", "2025-01-01T10:00:00Z", "2025-01-01T11:00:00+01:00", "2025-01-01T10:00:01Z"),
    ],
)
def test_unique(
    db: Session, account: Account, field_type: str, first: Any, same: Any, different: Any
) -> None:
    define(db, account, name="code", field_type=field_type, rules={"unique": True})
    properties.set_values(db, account, "subscriptions", "sub_a", {"code": first}, creating=True)
    # Setting a record's own value again is fine.
    properties.set_values(db, account, "subscriptions", "sub_a", {"code": same}, creating=False)
    with pytest.raises(InvalidRequest) as caught:
        properties.set_values(db, account, "subscriptions", "sub_b", {"code": same}, creating=True)
    assert caught.value.param == "properties.code"
    assert "'code'" in caught.value.message
    assert "unique" in caught.value.message
    properties.set_values(db, account, "subscriptions", "sub_b", {"code": different}, creating=True)
    # Once sub_a lets go of the value, another record may take it.
    properties.set_values(db, account, "subscriptions", "sub_a", {"code": None}, creating=False)
    properties.set_values(db, account, "subscriptions", "sub_c", {"code": first}, creating=True)


def test_unique_is_per_account_and_object_type(db: Session, account: Account) -> None:
    other, _ = account_service.create_account(db, name="Other shop")
    for owner, object_type in (
        (account, "subscriptions"),
        (account, "contacts"),
        (other, "subscriptions"),
    ):
        define(db, owner, object_type, name="code", field_type="text", rules={"unique": True})
    properties.set_values(db, account, "subscriptions", "sub_1", {"code": "A"}, creating=True)
    properties.set_values(db, account, "contacts", "cont_1", {"code": "A"}, creating=True)
    properties.set_values(db, other, "subscriptions", "sub_2", {"code": "A"}, creating=True)
    # The same value stands in each place; within one account and object type it is refused.
    assert properties.get_values(db, account.id, "subscriptions", ["sub_1"], view_sensitive=True)[
        "sub_1"
    ] == {"code": "A"}
    assert properties.get_values(db, account.id, "contacts", ["cont_1"], view_sensitive=True)[
        "cont_1"
    ] == {"code": "A"}
    assert properties.get_values(db, other.id, "subscriptions", ["sub_2"], view_sensitive=True)[
        "sub_2"
    ] == {"code": "A"}
    rejects(db, account, {"code": "A"}, "properties.code", creating=True)


def test_number_bounds(db: Session, account: Account) -> None:
    define(db, account, name="discount", field_type="number", rules={"min": "-1.5", "max": 100})
    for ok in (-1.5, 0, "99.9999999999", 100):
        properties.set_values(
            db, account, "subscriptions", "sub_b", {"discount": ok}, creating=False
        )
    for bad in (-1.51, "100.0000000001", 101):
        error = rejects(db, account, {"discount": bad}, "properties.discount")
        assert "'discount'" in error.message


def test_text_length_and_pattern(db: Session, account: Account) -> None:
    define(
        db,
        account,
        name="code",
        field_type="text",
        rules={"min": 2, "max": 4, "pattern": "[A-Z]+\\d?"},
    )
    for ok in ("AB", "ABC1", "XYZ"):
        properties.set_values(db, account, "subscriptions", "sub_t", {"code": ok}, creating=False)
        assert properties.get_values(
            db, account.id, "subscriptions", ["sub_t"], view_sensitive=True
        )["sub_t"] == {"code": ok}
    # "A" is too short, "ABCDE" too long; the pattern must match the whole value.
    for bad in ("A", "ABCDE", "ab", "AB12", "1AB", "AB\n"):
        rejects(db, account, {"code": bad}, "properties.code")


def test_get_values_reads_many_records_in_one_query(db: Session, shop: Account) -> None:
    for index in range(5):
        properties.set_values(
            db,
            shop,
            "subscriptions",
            f"sub_m{index}",
            {"seats": index, "tags": ["red"]},
            creating=True,
        )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.get_bind(), "before_cursor_execute", count)
    try:
        result = properties.get_values(
            db,
            shop.id,
            "subscriptions",
            [f"sub_m{i}" for i in range(5)] + ["sub_none"],
            view_sensitive=True,
        )
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", count)
    assert len(statements) == 1
    assert result == {
        **{f"sub_m{i}": {"seats": i, "tags": ["red"]} for i in range(5)},
        "sub_none": {},
    }
    assert properties.get_values(db, shop.id, "subscriptions", [], view_sensitive=True) == {}


def test_get_values_stays_in_its_account_and_object_type(db: Session, shop: Account) -> None:
    other, _ = account_service.create_account(db, name="Other shop")
    properties.set_values(db, shop, "subscriptions", "sub_own", {"note": "mine"}, creating=True)
    assert properties.get_values(
        db, other.id, "subscriptions", ["sub_own"], view_sensitive=True
    ) == {"sub_own": {}}
    assert properties.get_values(db, shop.id, "contacts", ["sub_own"], view_sensitive=True) == {
        "sub_own": {}
    }


def test_delete_values_removes_one_records_values(db: Session, shop: Account) -> None:
    properties.set_values(
        db, shop, "subscriptions", "sub_gone", {"note": "a", "vip": True}, creating=True
    )
    properties.set_values(db, shop, "subscriptions", "sub_stays", {"note": "b"}, creating=True)
    properties.delete_values(db, shop.id, "sub_gone")
    assert properties.get_values(
        db, shop.id, "subscriptions", ["sub_gone", "sub_stays"], view_sensitive=True
    ) == {
        "sub_gone": {},
        "sub_stays": {"note": "b"},
    }


def test_definitions_by_name(db: Session, shop: Account) -> None:
    found = properties.definitions(db, shop.id, "subscriptions")
    assert set(found) == {
        "note",
        "story",
        "seats",
        "renews_on",
        "signed_at",
        "tier",
        "size",
        "tags",
        "vip",
    }
    assert found["tier"].field_type == "select"
    assert properties.definitions(db, shop.id, "companies") == {}


def test_option_removal_and_unique_switch_check_stored_values(db: Session, shop: Account) -> None:
    properties.set_values(
        db, shop, "subscriptions", "sub_o1", {"tags": ["green"], "note": "x"}, creating=True
    )
    properties.set_values(db, shop, "subscriptions", "sub_o2", {"note": "x"}, creating=True)
    with pytest.raises(Conflict):
        properties.update_definition(db, shop, "subscriptions", "tags", {"options": TAGS[:1]})
    properties.update_definition(db, shop, "subscriptions", "tags", {"options": TAGS[1:2]})
    with pytest.raises(Conflict):
        properties.update_definition(db, shop, "subscriptions", "note", {"rules": {"unique": True}})


@pytest.fixture(autouse=True)
def _rollback(db: Session) -> Iterator[None]:
    # Service calls never commit; leave the shared database as it was.
    yield
    db.rollback()


def test_values_are_found_by_record_id_not_by_scanning_the_account(
    db: Session, shop: Account
) -> None:
    """A page of records reads its values through the primary key (object ID). SQLite plans
    without statistics and, offered the account's indexes, read every value of the account for
    each page: an export of a million records became quadratic."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("the plan that went wrong was SQLite's; PostgreSQL plans by its statistics")
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM property_values" in statement:
            statements.append((statement, parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        ids = [f"sub_{i}" for i in range(5000)]  # a page of an export
        properties.get_values(db, shop.id, "subscriptions", ids, view_sensitive=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(statements) == 1
    statement, parameters = statements[0]
    plan = " ".join(
        str(row[-1])
        for row in db.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    )
    assert "property_values USING INDEX sqlite_autoindex_property_values_1 (object_id=?)" in plan
