"""What each kind of value becomes in a file: custom properties of every field type (and
sensitive ones masked), timestamps as the account's calendar day, contact names, text the
sheet's XML must take care of, and a sheet too long for Excel continued on the next one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from cadency.accounts.models import Account, ApiKey
from cadency.crm.models import Contact, display_name_sql
from cadency.exports import writers
from cadency.kit.ids import new_id
from cadency.properties import service as properties
from cadency.properties.schemas import PropertyCreate
from tests.exports.helpers import (
    NOW,
    Shop,
    add_subscription,
    export_and_run,
    file_of,
    read_csv,
    read_xlsx,
)

PROPERTIES: list[dict[str, Any]] = [
    {"name": "seats", "label": "Seats", "field_type": "number"},
    {"name": "review", "label": "Review", "field_type": "date"},
    {"name": "called", "label": "Called", "field_type": "datetime"},
    {"name": "vip", "label": "VIP", "field_type": "boolean"},
    {
        "name": "perks",
        "label": "Perks",
        "field_type": "checkboxes",
        "options": [{"value": "mug", "label": "Mug"}, {"value": "cap", "label": "Cap"}],
    },
    {"name": "note", "label": "Note", "field_type": "textarea"},
    {"name": "iban", "label": "IBAN", "field_type": "text", "sensitive": True},
]
COLUMNS = ["name", *(f"properties.{p['name']}" for p in PROPERTIES), "created_at", "contact"]


def _custom_values_shop(session_factory: Any, shop: Shop, timezone: str) -> None:
    with session_factory() as db:
        account = db.get(Account, shop.account_id)
        assert account is not None
        account.timezone = timezone
        for spec in PROPERTIES:
            properties.create_definition(
                db, account, "subscriptions", PropertyCreate.model_validate(spec), plan_limit=None
            )
        lena = Contact(
            id=new_id("cont"),
            account_id=shop.account_id,
            email="lena@example.com",
            last_name="Berg",
            created_at=NOW,
            updated_at=NOW,
        )
        nobody = Contact(
            id=new_id("cont"),
            account_id=shop.account_id,
            email="anon@example.com",
            first_name="",
            created_at=NOW,
            updated_at=NOW,
        )
        db.add_all([lena, nobody])
        db.flush()
        # 23:30 UTC on 1 March is already 2 March in Amsterdam (UTC+1).
        late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        full = add_subscription(db, shop, "Full", contact_id=lena.id, created_at=late)
        add_subscription(db, shop, "Bare", contact_id=nobody.id, created_at=late)
        properties.set_values(
            db,
            account,
            "subscriptions",
            full,
            {
                "seats": "12.5",
                "review": "2026-06-30",
                "called": "2026-03-01T23:30:00Z",
                "vip": True,
                "perks": ["mug", "cap"],
                "note": "=HYPERLINK(1)",
                "iban": "NL91ABNA0417164300",
            },
            creating=False,
        )
        db.commit()


def _by_name(rows: list[list[Any]]) -> dict[str, dict[str, Any]]:
    header = rows[0]
    return {row[0]: dict(zip(header, row, strict=False)) for row in rows[1:]}


def _api_key_id(session_factory: Any, account_id: int) -> str:
    with session_factory() as db:
        key = db.scalars(select(ApiKey).where(ApiKey.account_id == account_id)).first()
        assert key is not None
        return key.id


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_custom_properties_of_every_type_and_the_accounts_day(
    session_factory: Any, files_dir: str, shop: Shop, format: str
) -> None:
    _custom_values_shop(session_factory, shop, "Europe/Amsterdam")
    export = export_and_run(
        session_factory,
        files_dir,
        shop.account_id,
        format=format,
        columns=COLUMNS,
        requested_by_api_key_id=_api_key_id(session_factory, shop.account_id),
    )
    path = file_of(files_dir, export)
    rows = _by_name(read_csv(path) if format == "csv" else read_xlsx(path))
    full, bare = rows["Full"], rows["Bare"]
    if format == "csv":
        assert full["Seats"] == "12.5" and full["Review"] == "2026-06-30"
        assert full["Called"] == "2026-03-02" and full["Created"] == "2026-03-02"
        assert bare["Seats"] == "" and bare["VIP"] == "" and bare["Perks"] == ""
    else:
        assert full["Seats"] == 12.5
        assert full["Review"] == datetime(2026, 6, 30)
        assert full["Called"] == datetime(2026, 3, 2) and full["Created"] == datetime(2026, 3, 2)
        assert bare["Seats"] is None and bare["VIP"] is None and bare["Perks"] is None
    assert full["VIP"] == "true" and full["Perks"] == "cap;mug"  # as stored
    assert full["Note"] == "'=HYPERLINK(1)"
    assert full["IBAN"] == "NL91ABNA0417164300"  # the key may view sensitive properties
    # Contact names as the app shows them: the last name alone, or the email.
    assert full["Contact"] == "Berg"
    assert bare["Contact"] == "anon@example.com"
    assert rows["Coffee"]["Contact"] == "Emma Jansen"


def test_sensitive_values_are_masked_for_who_may_not_see_them(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    _custom_values_shop(session_factory, shop, "UTC")
    # No requester with properties.view_sensitive (as a user without it).
    export = export_and_run(
        session_factory, files_dir, shop.account_id, columns=["name", "properties.iban"]
    )
    rows = _by_name(read_csv(file_of(files_dir, export)))
    assert rows["Full"]["IBAN"] == properties.SENSITIVE_MASK
    assert rows["Bare"]["IBAN"] == ""  # no value: nothing to mask
    assert "NL91ABNA0417164300" not in file_of(files_dir, export).read_text("utf-8-sig")


def test_contact_names_in_sql_match_the_app(session_factory: Any, shop: Shop) -> None:
    with session_factory() as db:
        for first, last in [("Ann", "Lee"), ("Ann", None), (None, "Lee"), ("", ""), (None, None)]:
            db.add(
                Contact(
                    id=new_id("cont"),
                    account_id=shop.account_id,
                    email=f"{first}.{last}@example.com",
                    first_name=first,
                    last_name=last,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        db.flush()
        contacts = db.scalars(select(Contact).where(Contact.account_id == shop.account_id)).all()
        in_sql = dict(
            db.execute(
                select(Contact.id, display_name_sql(Contact)).where(
                    Contact.account_id == shop.account_id
                )
            ).all()
        )
        assert {c.id: c.display_name for c in contacts} == in_sql
        assert sorted(in_sql.values()) == sorted(
            ["Emma Jansen", "Ann Lee", "Ann", "Lee", ".@example.com", "None.None@example.com"]
        )


def test_xlsx_text_the_xml_must_take_care_of(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    names = {
        "Fish & <Chips>": "Fish & <Chips>",
        "  padded  ": "  padded  ",
        "line\nbreak": "line\nbreak",
        "bell\x07rings": "bell_x0007_rings",  # XML cannot hold it: Excel's escape
    }
    with session_factory() as db:
        for name in names:
            add_subscription(db, shop, name)
        db.commit()
    export = export_and_run(
        session_factory, files_dir, shop.account_id, format="xlsx", columns=["name"]
    )
    found = {row[0] for row in read_xlsx(file_of(files_dir, export))[1:]}
    assert set(names.values()) <= found


def test_xlsx_cells_of_every_type_and_overlong_text(tmp_path: Any) -> None:
    path = tmp_path / "cells.xlsx"
    writer = writers.XlsxWriter(str(path), ["text", "number", "date", "money"])
    writer.write_header(["Text", "Number", "Date", "Money"])
    writer.write_batch(
        [
            ["x" * 40_000, "=1", None],
            [7, "2.50", None],
            ["2026-03-02", date(1899, 1, 1), None],
            writers.MoneyColumn([1250, -500, None], ["EUR", "JPY", "EUR"]),
        ]
    )
    writer.close()
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows()]
    assert [c.value for c in rows[0]] == ["Text", "Number", "Date", "Money"]
    assert rows[0][0].font.b  # the header is bold
    first, second = rows[1], rows[2]
    assert first[0].value == "x" * writers.MAX_CELL_TEXT and second[0].value == "'=1"
    assert first[1].value == 7 and second[1].value == 2.5
    assert first[2].value == datetime(2026, 3, 2) and first[2].number_format == "yyyy-mm-dd"
    assert second[2].value == "1899-01-01"  # before Excel's calendar: as text
    assert first[3].value == 12.5 and first[3].number_format == '#,##0.00 "EUR"'
    assert second[3].value == -500 and second[3].number_format == '#,##0 "JPY"'
    assert sheet.freeze_panes == "A2"


def test_rows_past_excels_limit_go_on_the_next_sheet(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "MAX_SHEET_ROWS", 3)  # the header and two rows per sheet
    path = tmp_path / "long.xlsx"
    writer = writers.XlsxWriter(str(path), ["text", "number", "money"])
    writer.write_header(["Name", "N", "Paid"])
    writer.write_batch(
        [["a", "b", "c"], [1, 2, 3], writers.MoneyColumn([100, None, 300], ["USD"] * 3)]
    )
    writer.write_batch([["d", "e"], [4, 5], writers.MoneyColumn([400, 500], ["USD", "JPY"])])
    writer.close()
    book = openpyxl.load_workbook(path)
    sheets = [[list(r) for r in s.iter_rows(values_only=True)] for s in book.worksheets]
    assert book.sheetnames == ["Sheet1", "Sheet2", "Sheet3"]
    assert sheets == [
        [["Name", "N", "Paid"], ["a", 1, 1], ["b", 2, None]],
        [["Name", "N", "Paid"], ["c", 3, 3], ["d", 4, 4]],
        [["Name", "N", "Paid"], ["e", 5, 500]],
    ]


def test_column_letters() -> None:
    assert [writers.column_letters(i) for i in (0, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"
    ]  # fmt: skip
