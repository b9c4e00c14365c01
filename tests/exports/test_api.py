"""The exports API: 202 and the export object, listing, the file with the API key (409 while
building, 410 once expired), Idempotency-Key, permissions, other accounts, bad input."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cadency import housekeeping
from cadency.accounts import service as account_service
from cadency.accounts.models import Account, User
from cadency.exports import service
from cadency.exports.models import Export
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.segments.models import Segment
from cadency.views.models import SavedView
from tests.conftest import Api
from tests.exports.helpers import NOW, Shop

KEYS = {
    "id",
    "object",
    "status",
    "object_type",
    "format",
    "language",
    "properties",
    "row_count",
    "progress",
    "file_name",
    "size_bytes",
    "download_url",
    "expires_at",
    "created_at",
    "finished_at",
    "error",
}


def run_worker(session_factory: Any, files_dir: str) -> None:
    service.run_all(session_factory, files_dir=files_dir)


def test_export_through_the_api(api: Api, shop: Shop, session_factory: Any, files_dir: str) -> None:
    response = api.post("/exports", {"object_type": "subscriptions", "format": "csv"})
    assert response.status_code == 202, response.text
    export = response.json()
    assert set(export) == KEYS
    assert export["object"] == "export" and export["status"] == "queued"
    assert export["properties"] == "view" and export["language"] == "en"
    assert export["download_url"] is None
    # Not ready yet: nothing to download.
    assert api.get(f"/exports/{export['id']}/file").status_code == 409

    run_worker(session_factory, files_dir)
    done = api.ok(api.get(f"/exports/{export['id']}"))
    assert done["status"] == "succeeded" and done["progress"] == 100
    assert done["row_count"] == 2 and done["size_bytes"] > 0
    assert done["file_name"].endswith(".csv") and done["file_name"].startswith("subscriptions-")
    assert done["download_url"] == f"http://testserver/api/v1/exports/{export['id']}/file"
    finished = datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(done["expires_at"].replace("Z", "+00:00"))
    assert expires - finished == timedelta(days=30)
    file = api.get(f"/exports/{export['id']}/file")
    assert file.status_code == 200
    assert file.headers["content-type"].startswith("text/csv")
    assert file.content.startswith(b"\xef\xbb\xbfName,Status,Contact")
    assert b"Coffee" in file.content and b"Tea" in file.content

    # Asked for with an API key: an event is recorded, but no one is emailed.
    with session_factory() as db:
        events = db.scalars(
            select(OutboxMessage.type).where(OutboxMessage.account_id == api.account_id)
        ).all()
        assert "export.succeeded" in events


def test_list_newest_first(api: Api, shop: Shop) -> None:
    first = api.post("/exports", {}).json()
    second = api.post("/exports", {"format": "xlsx"}).json()
    listed = api.ok(api.get("/exports"))
    assert listed["object"] == "list"
    assert [e["id"] for e in listed["data"]][:2] == [second["id"], first["id"]]
    page = api.ok(api.get("/exports", params={"limit": 1}))
    assert page["has_more"] is True and len(page["data"]) == 1


def test_idempotency_key_makes_one_job(api: Api, shop: Shop, session_factory: Any) -> None:
    headers = {"Idempotency-Key": f"export-{new_id('k')}"}
    a = api.post("/exports", {"format": "csv"}, headers=headers)
    b = api.post("/exports", {"format": "csv"}, headers=headers)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"]
    with session_factory() as db:
        count = len(db.scalars(select(Export.id).where(Export.account_id == api.account_id)).all())
    assert count == 1


def test_permissions(api_with_scopes: Callable[..., Api], shop: Shop) -> None:
    viewer = api_with_scopes("subscriptions.view")
    assert viewer.post("/exports", {}).status_code == 403
    assert viewer.get("/exports").status_code == 403
    exporter = api_with_scopes("subscriptions.export")
    # The export permission alone does not show the records.
    refused = exporter.post("/exports", {"object_type": "contacts"})
    assert refused.status_code == 403 and "subscriptions.view" in refused.text
    both = api_with_scopes("subscriptions.view", "subscriptions.export")
    made = both.post("/exports", {"object_type": "contacts"})
    assert made.status_code == 202, made.text
    assert viewer.get(f"/exports/{made.json()['id']}").status_code == 403


def test_another_accounts_export_is_not_found(
    api: Api, other_api: Api, shop: Shop, session_factory: Any, files_dir: str
) -> None:
    export = api.post("/exports", {}).json()
    run_worker(session_factory, files_dir)
    assert other_api.get(f"/exports/{export['id']}").status_code == 404
    assert other_api.get(f"/exports/{export['id']}/file").status_code == 404
    assert other_api.get("/exports/exp_nope").status_code == 404


def test_xlsx_with_all_associations_is_refused(api: Api) -> None:
    response = api.post(
        "/exports",
        {"format": "xlsx", "properties": "all_with_associations", "associations_limit": "all"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "associations_limit"


def test_unknown_property_is_named(api: Api) -> None:
    response = api.post(
        "/exports",
        {"filter_groups": [{"filters": [{"property": "colour", "operator": "eq", "value": "x"}]}]},
    )
    assert response.status_code == 422
    assert "colour" in response.json()["error"]["message"]


def test_views_and_segments_of_other_accounts_or_types(
    api: Api, other_api: Api, session_factory: Any
) -> None:
    with session_factory() as db:
        theirs = Segment(
            id=new_id("seg"),
            account_id=other_api.account_id,
            object_type="subscriptions",
            name="Theirs",
            filter_groups=[],
            created_at=NOW,
            updated_at=NOW,
        )
        contacts = Segment(
            id=new_id("seg"),
            account_id=api.account_id,
            object_type="contacts",
            name="Contacts",
            filter_groups=[],
            created_at=NOW,
            updated_at=NOW,
        )
        db.add_all([theirs, contacts])
        db.commit()
    assert api.post("/exports", {"segment_id": theirs.id}).status_code == 404
    assert api.post("/exports", {"view_id": "view_nope"}).status_code == 404
    wrong = api.post("/exports", {"segment_id": contacts.id})
    assert wrong.status_code == 422 and wrong.json()["error"]["param"] == "segment_id"
    assert (
        api.post("/exports", {"object_type": "contacts", "segment_id": contacts.id}).status_code
        == 202
    )


def test_segment_filters_are_applied(
    api: Api, shop: Shop, session_factory: Any, files_dir: str
) -> None:
    with session_factory() as db:
        segment = Segment(
            id=new_id("seg"),
            account_id=api.account_id,
            object_type="subscriptions",
            name="Pro",
            filter_groups=[
                {"filters": [{"property": "properties.tier", "operator": "eq", "value": "pro"}]}
            ],
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(segment)
        db.commit()
    export = api.post("/exports", {"segment_id": segment.id}).json()
    run_worker(session_factory, files_dir)
    content = api.get(f"/exports/{export['id']}/file").text
    assert "Coffee" in content and "Tea" not in content


def backdate(session_factory: Any, export_id: str, age: timedelta) -> None:
    """Move a finished export `age` into the past (as if that much time went by)."""
    with session_factory() as db:
        export = db.get(Export, export_id)
        assert export is not None and export.finished_at and export.expires_at
        export.finished_at -= age
        export.expires_at -= age
        db.commit()


def test_expired_files_are_deleted_and_gone(
    api: Api, shop: Shop, session_factory: Any, files_dir: str
) -> None:
    export = api.post("/exports", {}).json()
    run_worker(session_factory, files_dir)
    with session_factory() as db:
        path = Path(files_dir) / str(db.get(Export, export["id"]).file_path)  # type: ignore[union-attr]
    assert path.is_file()
    # A day short of 30: kept.
    backdate(session_factory, export["id"], timedelta(days=29))
    housekeeping.run(session_factory, files_dir=files_dir)
    assert path.is_file() and api.get(f"/exports/{export['id']}/file").status_code == 200
    backdate(session_factory, export["id"], timedelta(days=31))
    deleted = housekeeping.run(session_factory, files_dir=files_dir)
    assert deleted["export_files"] >= 1
    assert not path.exists()
    gone = api.get(f"/exports/{export['id']}/file")
    assert gone.status_code == 410 and gone.json()["error"]["type"] == "gone"
    after = api.ok(api.get(f"/exports/{export['id']}"))
    assert after["download_url"] is None and after["status"] == "succeeded"


def test_a_saved_views_filters_columns_and_sort(
    api: Api, shop: Shop, session_factory: Any, files_dir: str
) -> None:
    with session_factory() as db:
        owner = db.scalars(select(User.id).where(User.account_id == api.account_id)).first()
        if owner is None:
            account = db.get(Account, api.account_id)
            assert account is not None
            owner = account_service.create_user(
                db, account, email=f"v-{api.account_id}@example.com", password="password-123"
            ).id
        view = SavedView(
            id=new_id("view"),
            account_id=api.account_id,
            object_type="subscriptions",
            owner_user_id=owner,
            shared=True,
            name="Active by name",
            filter_groups=[
                {"filters": [{"property": "status", "operator": "eq", "value": "active"}]}
            ],
            columns=["name", "properties.tier", "amount", "id"],
            sort_property="name",
            sort_direction="desc",
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(view)
        db.commit()
    export = api.post("/exports", {"view_id": view.id, "language": "nl"})
    assert export.status_code == 202, export.text
    run_worker(session_factory, files_dir)
    rows = list(csv.reader(io.StringIO(api.get(f"/exports/{export.json()['id']}/file").text)))
    assert rows[0] == ["\ufeffNaam", "Tier", "Bedrag", "Record-ID"]
    assert [r[0] for r in rows[1:]] == ["Tea", "Coffee"]  # the view's sort: name, descending
    assert rows[2][1:3] == ["pro", "25.00"]
    contacts = api.post("/exports", {"object_type": "contacts", "view_id": view.id})
    assert contacts.status_code == 422 and contacts.json()["error"]["param"] == "view_id"
