"""Export files read back: headers per language, column order, associations, formula
neutralising, money and dates in XLSX, the empty export, and a crash mid-file."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from cadency.exports import service, writers
from cadency.kit import clock
from cadency.subscriptions.models import Subscription
from cadency.views.catalogs import CATALOGS
from tests.exports.helpers import (
    FORMULA_NAMES,
    Shop,
    add_subscription,
    export_and_run,
    file_of,
    read_csv,
    read_xlsx,
    xlsx_cells,
)


def run(session_factory: Any, files_dir: str, shop: Shop, **options: Any) -> Path:
    export = export_and_run(session_factory, files_dir, shop.account_id, **options)
    return file_of(files_dir, export)


DEFAULT_HEADERS = {
    "en": [
        "Name",
        "Status",
        "Contact",
        "Next billing date",
        "Amount",
        "Billing frequency",
        "Created",
    ],
    "nl": [
        "Naam",
        "Status",
        "Contactpersoon",
        "Volgende factuurdatum",
        "Bedrag",
        "Factureringsfrequentie",
        "Gemaakt",
    ],
    "de": [
        "Name",
        "Status",
        "Kontakt",
        "Nächstes Abrechnungsdatum",
        "Betrag",
        "Abrechnungshäufigkeit",
        "Erstellt",
    ],
}


@pytest.mark.parametrize("language", ["en", "nl", "de"])
def test_view_columns_with_headers_in_the_language(
    session_factory: Any, files_dir: str, shop: Shop, language: str
) -> None:
    rows = read_csv(run(session_factory, files_dir, shop, language=language))
    assert rows[0] == DEFAULT_HEADERS[language]
    # Values are not translated; newest first (the index's default sort); dates YYYY-MM-DD.
    assert rows[1] == [
        "Coffee",
        "active",
        "Emma Jansen",
        "2026-03-15",
        "25.00",
        "monthly",
        "2026-03-01",
    ]
    assert rows[2][0] == "Tea" and rows[2][4] == "1200"  # JPY has no decimals
    assert len(rows) == 3


def test_danish_headers(session_factory: Any, files_dir: str, shop: Shop) -> None:
    rows = read_csv(run(session_factory, files_dir, shop, language="da", properties="all"))
    assert rows[0][0] == "Post-id"


def test_every_built_in_label_has_a_german_header() -> None:
    german = service.header_gettext("de")
    labels = {c.label for catalog in CATALOGS.values() for c in catalog.columns.values()}
    labels |= {
        service.RECORD_ID,
        *(h for pair in service.ASSOCIATION_HEADERS.values() for h in pair),
    }
    missing = sorted(label for label in labels if german(label) == label and label not in SAME)
    assert missing == []


SAME = {"Name", "Status", "MRR", "Domain"}


def test_the_views_columns_in_its_order(session_factory: Any, files_dir: str, shop: Shop) -> None:
    rows = read_csv(
        run(
            session_factory,
            files_dir,
            shop,
            columns=["properties.tier", "name", "company", "id"],
            sort=("name", "asc"),
        )
    )
    assert rows[0] == ["Tier", "Name", "Company", "Record ID"]
    assert rows[1] == ["pro", "Coffee", "Acme", shop.subscriptions[0]]
    assert rows[2] == ["", "Tea", "", shop.subscriptions[1]]


def test_all_properties_record_id_first_then_alphabetical(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    for language in ("en", "nl"):
        header = read_csv(
            run(session_factory, files_dir, shop, properties="all", language=language)
        )[0]
        assert header[0] == ("Record ID" if language == "en" else "Record-ID")
        rest = header[1:]
        assert rest == sorted(rest, key=str.casefold)
        assert "Tier" in rest  # custom labels as written
        assert len(rest) == len(CATALOGS["subscriptions"].columns)  # every built-in but ID, + tier


def test_all_with_associations(session_factory: Any, files_dir: str, shop: Shop) -> None:
    rows = read_csv(
        run(
            session_factory,
            files_dir,
            shop,
            properties="all_with_associations",
            sort=("name", "asc"),
        )
    )
    header = rows[0]
    assert header[-8:] == [
        "Associated Contact IDs",
        "Associated Contact",
        "Associated Company IDs",
        "Associated Company",
        "Associated Deal IDs",
        "Associated Deal",
        "Associated Quote IDs",
        "Associated Quote",
    ]
    coffee = dict(zip(header, rows[1], strict=True))
    assert coffee["Associated Contact IDs"] == shop.contact_id
    assert coffee["Associated Contact"] == "Emma Jansen"
    assert coffee["Associated Company"] == "Acme"
    assert coffee["Associated Deal IDs"] == ";".join(shop.deals)
    assert coffee["Associated Deal"] == "Deal 0;Deal 1;Deal 2"
    assert coffee["Associated Quote IDs"] == ""
    tea = dict(zip(header, rows[2], strict=True))
    assert tea["Associated Deal IDs"] == "" and tea["Associated Company"] == ""


def test_associations_capped_unless_all(
    session_factory: Any, files_dir: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "ASSOCIATIONS_CAP", 2)
    options: dict[str, Any] = {"properties": "all_with_associations", "sort": ("name", "asc")}
    rows = read_csv(run(session_factory, files_dir, shop, **options))
    coffee = dict(zip(rows[0], rows[1], strict=True))
    assert coffee["Associated Deal IDs"] == ";".join(shop.deals[:2])
    assert coffee["Associated Deal"] == "Deal 0;Deal 1"
    rows = read_csv(run(session_factory, files_dir, shop, associations_limit="all", **options))
    coffee = dict(zip(rows[0], rows[1], strict=True))
    assert coffee["Associated Deal IDs"] == ";".join(shop.deals)


def test_contacts_and_companies_with_their_associations(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    rows = read_csv(
        run(
            session_factory,
            files_dir,
            shop,
            object_type="contacts",
            properties="all_with_associations",
        )
    )
    contact = dict(zip(rows[0], rows[1], strict=True))
    assert contact["Email"] == "emma@example.com"
    assert contact["Associated Subscription IDs"] == ";".join(sorted(shop.subscriptions))
    rows = read_csv(run(session_factory, files_dir, shop, object_type="companies"))
    assert rows == [["Name", "Domain", "Created"], ["Acme", "", "2026-03-01"]]


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_formulas_are_neutralised(
    session_factory: Any, files_dir: str, shop: Shop, format: str
) -> None:
    with session_factory() as db:
        for name in FORMULA_NAMES:
            add_subscription(db, shop, name)
        db.commit()
    path = run(
        session_factory, files_dir, shop, format=format, columns=["name"], sort=("name", "asc")
    )
    rows = read_csv(path) if format == "csv" else read_xlsx(path)
    names = [row[0] for row in rows[1:]]
    for name in FORMULA_NAMES:
        assert "'" + name in names
    assert "Coffee" in names  # plain text stays as it is


def test_neutralise() -> None:
    assert writers.neutralise("=SUM(1)") == "'=SUM(1)"
    assert writers.neutralise("+1") == "'+1"
    assert writers.neutralise("-2") == "'-2"
    assert writers.neutralise("@x") == "'@x"
    assert writers.neutralise("\tx") == "'\tx"
    assert writers.neutralise("\rx") == "'\rx"
    assert writers.neutralise("a=b") == "a=b"


def test_xlsx_money_as_numbers_and_dates_as_dates(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    path = run(session_factory, files_dir, shop, format="xlsx", sort=("name", "asc"))
    cells = xlsx_cells(path)
    assert [c.value for c in cells[0]] == DEFAULT_HEADERS["en"]
    coffee, tea = cells[1], cells[2]
    assert coffee[4].value == 25 and isinstance(coffee[4].value, int | float)
    assert "0.00" in coffee[4].number_format and "USD" in coffee[4].number_format
    assert tea[4].value == 1200 and ".0" not in tea[4].number_format  # JPY: no decimals
    assert coffee[3].value.date() == date(2026, 3, 15)
    assert coffee[3].is_date and coffee[3].number_format == "yyyy-mm-dd"


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_an_empty_result_is_the_header_row_only(
    session_factory: Any, files_dir: str, shop: Shop, format: str
) -> None:
    nothing = [{"filters": [{"property": "status", "operator": "eq", "value": "expired"}]}]
    export = export_and_run(
        session_factory, files_dir, shop.account_id, format=format, filter_groups=nothing
    )
    path = file_of(files_dir, export)
    rows = read_csv(path) if format == "csv" else read_xlsx(path)
    assert rows == [DEFAULT_HEADERS["en"]]
    assert export.row_count == 0 and export.progress == 100


def test_filters_and_search(session_factory: Any, files_dir: str, shop: Shop) -> None:
    tier = [{"filters": [{"property": "properties.tier", "operator": "eq", "value": "pro"}]}]
    rows = read_csv(run(session_factory, files_dir, shop, filter_groups=tier))
    assert [r[0] for r in rows[1:]] == ["Coffee"]
    rows = read_csv(run(session_factory, files_dir, shop, query="tea"))
    assert [r[0] for r in rows[1:]] == ["Tea"]


def test_rows_stream_in_batches(
    session_factory: Any, files_dir: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BATCH_SIZE", 2)
    with session_factory() as db:
        for n in range(5):
            add_subscription(db, shop, f"Sub {n}")
        db.commit()
    export = export_and_run(
        session_factory, files_dir, shop.account_id, properties="all_with_associations"
    )
    rows = read_csv(file_of(files_dir, export))
    assert len(rows) == 1 + 7 and export.row_count == 7 and export.total_rows == 7
    assert len({r[0] for r in rows[1:]}) == 7  # each record once


def test_a_crash_mid_file_leaves_no_file_and_the_job_is_retried(
    session_factory: Any, files_dir: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = writers.CsvWriter.write_batch
    calls = {"n": 0}

    def crash_once(self: writers.CsvWriter, columns: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # after the header, on the first records
            raise OSError("disk full")
        original(self, columns)

    monkeypatch.setattr(writers.CsvWriter, "write_batch", crash_once)
    with session_factory() as db:
        export_id = service.create_export(db, shop.account_id).id
        db.commit()
    assert service.run_next(session_factory, files_dir=files_dir) == export_id
    folder = Path(files_dir) / "exports" / str(shop.account_id)
    assert not list(folder.glob(f"{export_id}*"))  # neither a half file nor a .part
    with session_factory() as db:
        job = service.get_export(db, shop.account_id, export_id)
        assert (job.status, job.attempts, job.file_path) == ("queued", 1, None)
    assert service.run_next(session_factory, files_dir=files_dir) == export_id
    assert service.run_next(session_factory, files_dir=files_dir) is None
    with session_factory() as db:
        job = service.get_export(db, shop.account_id, export_id)
        assert job.status == "succeeded" and job.row_count == 2
    assert [p.name for p in folder.glob(f"{export_id}*")] == [f"{export_id}.csv"]


def test_three_failures_fail_the_job(
    session_factory: Any, files_dir: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: writers.CsvWriter, columns: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writers.CsvWriter, "write_batch", broken)
    with session_factory() as db:
        export_id = service.create_export(db, shop.account_id).id
        db.commit()
    service.run_all(session_factory, files_dir=files_dir)
    with session_factory() as db:
        job = service.get_export(db, shop.account_id, export_id)
        assert job.status == "failed" and job.attempts == 3
        assert job.error is not None and "disk full" in job.error


def test_a_job_whose_worker_died_is_claimed_again(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    with session_factory() as db:
        export = service.create_export(db, shop.account_id)
        # As a worker leaves it when killed mid-run: running, its lease run out.
        export.status = "running"
        export.lease_until = clock.real_now() - timedelta(seconds=1)
        db.commit()
        export_id = export.id
    assert service.run_next(session_factory, files_dir=files_dir) == export_id
    with session_factory() as db:
        job = service.get_export(db, shop.account_id, export_id)
        assert (job.status, job.attempts, job.row_count) == ("succeeded", 1, 2)


def test_a_running_job_with_a_live_lease_is_left_alone(
    session_factory: Any, files_dir: str, shop: Shop
) -> None:
    with session_factory() as db:
        export = service.create_export(db, shop.account_id)
        export.status = "running"
        export.lease_until = clock.real_now() + timedelta(minutes=1)
        db.commit()
        export_id = export.id
    service.run_all(session_factory, files_dir=files_dir)
    with session_factory() as db:
        assert service.get_export(db, shop.account_id, export_id).status == "running"
        # Let the rest of the run's tests find an empty queue.
        db.delete(service.get_export(db, shop.account_id, export_id))
        db.commit()


def test_writes_by_others_between_batches_do_not_fail_the_export(
    session_factory: Any, files_dir: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server keeps writing while an export runs; the export reads in one session and
    # records its progress in short transactions of their own.
    monkeypatch.setattr(service, "BATCH_SIZE", 1)
    original = writers.CsvWriter.write_batch

    def busy_server(self: writers.CsvWriter, columns: Any) -> None:
        original(self, columns)
        with session_factory() as other:
            sub = other.get(Subscription, shop.subscriptions[1])
            assert sub is not None
            sub.updated_at = sub.updated_at + timedelta(seconds=1)
            other.commit()

    monkeypatch.setattr(writers.CsvWriter, "write_batch", busy_server)
    export = export_and_run(session_factory, files_dir, shop.account_id, columns=["name"])
    assert export.attempts == 0 and len(read_csv(file_of(files_dir, export))) == 3
