"""Export pages: the Export dialog of the subscriptions index, the export form for segments and
lists, the Exports page, and the download link of the "export ready" email (signed in, with
the export permission; 410 once expired). The browser test walks the whole way."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import select

from cadency import housekeeping
from cadency.exports import service
from cadency.exports.models import Export
from cadency.kit import clock
from cadency.kit.ids import new_id
from cadency.notifications.dispatcher import Dispatcher
from cadency.notifications.models import MailboxMessage
from cadency.segments.models import Segment
from tests.conftest import Api
from tests.exports.helpers import NOW, make_shop
from tests.web.conftest import Staff, screenshot
from tests.web.test_sections import as_user

LINK = re.compile(r"https?://\S+/exports/(exp_\w+)/download")


@pytest.fixture(autouse=True)
def signed_out_after(client: TestClient) -> Iterator[None]:
    """The client is shared by the whole run: leave it without this test's session cookie."""
    yield
    client.cookies.clear()


def seed(session_factory: Any, api: Api) -> None:
    with session_factory() as db:
        make_shop(db, api.account_id)
        db.commit()


def deliver(app_settings: Any, session_factory: Any, account_id: int) -> list[MailboxMessage]:
    with session_factory() as session:
        Dispatcher(app_settings).run(session, account_id=account_id)
        rows = session.scalars(
            select(MailboxMessage)
            .where(MailboxMessage.account_id == account_id)
            .order_by(MailboxMessage.id)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def latest_export(session_factory: Any, account_id: int) -> Export:
    with session_factory() as db:
        export = db.scalars(
            select(Export).where(Export.account_id == account_id).order_by(Export.id.desc())
        ).first()
        assert export is not None
        db.expunge(export)
        return export


def test_export_from_the_index_form_then_download(
    client: TestClient, app: Any, session_factory: Any, files_dir: str, api: Api
) -> None:
    seed(session_factory, api)
    user = as_user(client, session_factory, api, "subscriptions.view", "subscriptions.export")
    index = user.get("/subscriptions?q=coffee")
    assert index.status_code == 200
    assert 'data-open-dialog="export-dialog"' in index.text
    found = re.search(r'name="filter_groups" value="([^"]*)"', index.text)
    assert found is not None
    sent = user.post(
        "/exports",
        {
            "object_type": "subscriptions",
            "format": "csv",
            "language": "nl",
            "properties": "view",
            "associations_limit": "1000",
            "filter_groups": "[]",
            "columns": ["name", "status"],
            "sort_property": "name",
            "sort_direction": "asc",
            "query": "coffee",
        },
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/exports"
    listed = user.get("/exports")
    assert listed.status_code == 200 and 'data-status="queued"' in listed.text

    service.run_all(session_factory, files_dir=files_dir)
    export = latest_export(session_factory, api.account_id)
    assert export.requested_by_user_id is not None
    emails = deliver(app.state.settings, session_factory, api.account_id)
    ready = [m for m in emails if m.subject == "Your export is ready"]
    assert len(ready) == 1
    link = LINK.search(ready[0].text)
    assert link is not None and link.group(1) == export.id

    response = user.get(urlsplit(link.group(0)).path)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [["Naam", "Status"], ["Coffee", "active"]]
    assert 'data-testid="download"' in user.get("/exports").text


def test_the_download_link_needs_a_signed_in_exporter(
    client: TestClient, session_factory: Any, files_dir: str, api: Api, other_api: Api
) -> None:
    seed(session_factory, api)
    with session_factory() as db:
        export_id = service.create_export(db, api.account_id).id
        db.commit()
    service.run_all(session_factory, files_dir=files_dir)
    path = f"/exports/{export_id}/download"

    client.cookies.clear()
    anonymous = client.get(path, follow_redirects=False)
    assert anonymous.status_code in (302, 303)
    assert "/login" in anonymous.headers["location"] and export_id in anonymous.headers["location"]

    viewer = as_user(client, session_factory, api, "subscriptions.view")
    assert viewer.get(path).status_code == 403
    assert 'data-open-dialog="export-dialog"' not in viewer.get("/subscriptions").text
    assert viewer.get("/exports").status_code == 403
    stranger = as_user(client, session_factory, other_api, "super_admin")
    assert stranger.get(path).status_code == 404

    exporter = as_user(client, session_factory, api, "subscriptions.view", "subscriptions.export")
    assert exporter.get(path).status_code == 200
    # 31 days on: the worker's housekeeping deletes the file.
    with session_factory() as db:
        job = db.get(Export, export_id)
        assert job is not None and job.expires_at is not None
        job.expires_at = clock.real_now() - timedelta(days=1)
        db.commit()
    housekeeping.run(session_factory, files_dir=files_dir)
    gone = exporter.get(path)
    assert gone.status_code == 410
    assert "30 days" in gone.text


def test_export_form_for_a_segment_and_a_list(
    client: TestClient, session_factory: Any, files_dir: str, api: Api
) -> None:
    seed(session_factory, api)
    with session_factory() as db:
        segment = Segment(
            id=new_id("seg"),
            account_id=api.account_id,
            object_type="subscriptions",
            name="Pro tier",
            filter_groups=[
                {"filters": [{"property": "properties.tier", "operator": "eq", "value": "pro"}]}
            ],
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(segment)
        db.commit()
    user = as_user(client, session_factory, api, "subscriptions.view", "subscriptions.export")
    form = user.get(f"/exports/new?object_type=subscriptions&segment_id={segment.id}")
    assert form.status_code == 200 and "Segment: Pro tier" in form.text
    sent = user.post(
        "/exports",
        {"object_type": "subscriptions", "segment_id": segment.id, "format": "xlsx"},
    )
    assert sent.status_code == 303
    service.run_all(session_factory, files_dir=files_dir)
    export = latest_export(session_factory, api.account_id)
    assert export.status == "succeeded" and export.row_count == 1 and export.format == "xlsx"

    contacts_list = user.get("/contacts?q=emma")
    assert 'href="/exports/new?object_type=contacts&amp;q=emma"' in contacts_list.text
    contacts = user.get("/exports/new?object_type=contacts")
    assert contacts.status_code == 200 and "All contacts" in contacts.text
    searched = user.get("/exports/new?object_type=contacts&q=emma")
    assert 'name="query" value="emma"' in searched.text
    assert user.post("/exports", {"object_type": "contacts", "query": "emma"}).status_code == 303
    service.run_all(session_factory, files_dir=files_dir)
    export = latest_export(session_factory, api.account_id)
    assert (export.object_type, export.status, export.row_count) == ("contacts", "succeeded", 1)
    refused = user.post(
        "/exports",
        {"object_type": "subscriptions", "format": "xlsx", "associations_limit": "all"},
    )
    assert refused.status_code == 422 and "CSV" in refused.text


def test_browser_exports_the_filtered_index_and_downloads_from_the_email(
    staff: Staff, app: Any, session_factory: Any, files_dir: str, tmp_path: Path
) -> None:
    seed(session_factory, staff.api)
    page = staff.goto("/subscriptions")
    page.locator("#f-q").fill("tea")
    page.locator("#f-q").press("Enter")
    expect(page.get_by_test_id("subscriptions-table").locator("tbody tr")).to_have_count(1)

    page.get_by_role("button", name="Export", exact=True).click()
    dialog = page.locator("#export-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#f-language").select_option("de")
    screenshot(page, "subscriptions-export-dialog")
    dialog.get_by_role("button", name="Export", exact=True).click()
    expect(page.get_by_test_id("flash")).to_contain_text("being prepared")
    expect(page.get_by_test_id("export-table").locator("tbody tr")).to_have_count(1)

    service.run_all(session_factory, files_dir=files_dir)
    emails = deliver(app.state.settings, session_factory, staff.api.account_id)
    ready = [m for m in emails if m.subject == "Your export is ready"]
    assert len(ready) == 1 and ready[0].to == staff.email
    link = LINK.search(ready[0].text)
    assert link is not None
    url = staff.base_url + urlsplit(link.group(0)).path

    page.reload()
    expect(page.get_by_test_id("download")).to_be_visible()
    screenshot(page, "exports")
    with page.expect_download() as info:
        page.evaluate("url => { window.location.href = url }", url)
    saved = tmp_path / "export.csv"
    info.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0][:4] == ["Name", "Status", "Kontakt", "Nächstes Abrechnungsdatum"]
    assert [r[0] for r in rows[1:]] == ["Tea"]
