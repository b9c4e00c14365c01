"""Archived contacts, companies and deals (HubSpot's soft delete, crm.service.archive_*): out of
lists and the web app's indexes, still read by ID, refused while a subscription bills them, and
restored from their page."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cadency.accounts.models import Account
from cadency.crm import service
from cadency.crm.models import Company, Contact, Deal
from cadency.kit.errors import Conflict
from cadency.views.catalogs import COMPANIES, CONTACTS
from tests.conftest import Api
from tests.crm.test_contacts_api import error
from tests.subscriptions.helpers import create_subscription, product
from tests.web.http import signed_in


def archive(session_factory: Any, api: Api, kind: str, record_id: str) -> None:
    """Archive through the service, as the HubSpot-compatible API does, and commit."""
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        model = {"contact": Contact, "company": Company, "deal": Deal}[kind]
        service.archive(session, account, model, record_id)
        session.commit()


def ids(api: Api, path: str, **params: Any) -> list[str]:
    return [r["id"] for r in api.ok(api.get(path, params=params))["data"]]


def test_archived_records_leave_the_lists_but_read_by_id(api: Api, session_factory: Any) -> None:
    kept = api.ok(api.post("/contacts", {"email": "kept@example.com"}))
    gone = api.ok(api.post("/contacts", {"email": "gone@example.com", "first_name": "Gone"}))
    company = api.ok(api.post("/companies", {"name": "Gone BV"}))
    deal = api.ok(api.post("/deals", {"name": "Gone deal", "contact_id": gone["id"]}))
    assert (kept["archived"], company["archived"], deal["archived"]) == (False, False, False)

    archive(session_factory, api, "contact", gone["id"])
    archive(session_factory, api, "company", company["id"])
    archive(session_factory, api, "deal", deal["id"])

    assert ids(api, "/contacts") == [kept["id"]]
    assert ids(api, "/contacts", archived="true") == [gone["id"]]
    assert ids(api, "/contacts", email="gone@example.com") == []
    assert ids(api, "/companies") == []
    assert ids(api, "/companies", archived="true") == [company["id"]]
    assert ids(api, "/deals") == []
    assert ids(api, "/deals", archived="true") == [deal["id"]]
    # Still read by ID: subscriptions, invoices and quotes point at them.
    read = api.ok(api.get(f"/contacts/{gone['id']}"))
    assert (read["archived"], read["first_name"]) == (True, "Gone")
    assert api.ok(api.get(f"/companies/{company['id']}"))["archived"] is True
    assert api.ok(api.get(f"/deals/{deal['id']}"))["archived"] is True


def test_archiving_twice_changes_nothing_and_restoring_brings_it_back(
    api: Api, session_factory: Any
) -> None:
    contact = api.ok(api.post("/contacts", {"email": "twice@example.com"}))
    archive(session_factory, api, "contact", contact["id"])
    first = api.ok(api.get(f"/contacts/{contact['id']}"))
    archive(session_factory, api, "contact", contact["id"])
    assert api.ok(api.get(f"/contacts/{contact['id']}")) == first
    with session_factory() as session:
        stored = session.get(Contact, contact["id"])
        assert stored is not None and stored.archived_at is not None
        account = session.get(Account, api.account_id)
        assert account is not None
        service.restore(session, account, Contact, contact["id"])
        session.commit()
    assert api.ok(api.get(f"/contacts/{contact['id']}"))["archived"] is False
    assert ids(api, "/contacts") == [contact["id"]]


def test_an_archived_contact_keeps_its_email(api: Api, session_factory: Any) -> None:
    contact = api.ok(api.post("/contacts", {"email": "returning@example.com"}))
    archive(session_factory, api, "contact", contact["id"])
    body = error(api.post("/contacts", {"email": "Returning@example.com"}), 409)
    assert body["param"] == "email"
    assert contact["id"] in body["message"]
    assert "archived" in body["message"] and "restore" in body["message"]
    other = api.ok(api.post("/contacts", {"email": "other@example.com"}))
    body = error(api.patch(f"/contacts/{other['id']}", {"email": "returning@example.com"}), 409)
    assert "archived" in body["message"]
    # Lookups by email (checkout, the account's own plan) still find it: the same customer.
    with session_factory() as session:
        found = service.find_contact_by_email(session, api.account_id, "returning@example.com")
        assert found is not None and found.id == contact["id"] and found.archived


def test_archiving_is_refused_while_a_subscription_bills_them(
    api: Api, session_factory: Any
) -> None:
    company = api.ok(api.post("/companies", {"name": "Billed BV"}))
    sub = create_subscription(api, company_id=company["id"])
    with session_factory() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        with pytest.raises(Conflict) as contact_refused:
            service.archive(session, account, Contact, sub["contact_id"])
        assert sub["id"] in contact_refused.value.message
        assert "still bills" in contact_refused.value.message
        with pytest.raises(Conflict) as company_refused:
            service.archive(session, account, Company, company["id"])
        assert sub["id"] in company_refused.value.message
        session.rollback()
        assert session.get(Contact, sub["contact_id"]).archived_at is None  # type: ignore[union-attr]
        assert session.get(Company, company["id"]).archived_at is None  # type: ignore[union-attr]

    # Once it has ended, nothing bills them any more.
    api.ok(api.post(f"/subscriptions/{sub['id']}/cancel", {"mode": "immediately"}))
    archive(session_factory, api, "contact", sub["contact_id"])
    archive(session_factory, api, "company", company["id"])
    assert api.ok(api.get(f"/contacts/{sub['contact_id']}"))["archived"] is True
    # The ended subscription still shows its contact.
    assert api.ok(api.get(f"/subscriptions/{sub['id']}"))["contact_id"] == sub["contact_id"]

    # Subscribing again brings the customer back: nothing billed is hidden from the lists.
    again = {
        "contact_id": sub["contact_id"],
        "company_id": company["id"],
        "currency": "USD",
        "line_items": [{"product_id": product(api)["id"]}],
        "collection_method": "send_invoice",
    }
    api.ok(api.post("/subscriptions", again))
    assert api.ok(api.get(f"/contacts/{sub['contact_id']}"))["archived"] is False
    assert api.ok(api.get(f"/companies/{company['id']}"))["archived"] is False
    assert sub["contact_id"] in ids(api, "/contacts")


def test_web_indexes_hide_archived_records_and_pages_restore_them(
    app: FastAPI, api: Api, session_factory: Any
) -> None:
    kept = api.ok(api.post("/contacts", {"email": "kept@example.com"}))
    gone = api.ok(api.post("/contacts", {"email": "gone@example.com"}))
    company = api.ok(api.post("/companies", {"name": "Vanished Roasters"}))
    archive(session_factory, api, "contact", gone["id"])
    archive(session_factory, api, "company", company["id"])
    me = signed_in(app, session_factory, api)

    index = me.client.get("/contacts")
    assert index.status_code == 200
    assert "kept@example.com" in index.text
    assert "gone@example.com" not in index.text
    assert "Vanished Roasters" not in me.client.get("/companies").text
    assert "gone@example.com" not in me.client.get("/contacts", params={"q": "gone"}).text

    page = me.client.get(f"/contacts/{gone['id']}")
    assert page.status_code == 200
    assert 'data-testid="archived-badge"' in page.text
    assert f'action="/contacts/{gone["id"]}/restore"' in page.text
    assert 'data-testid="archived-badge"' not in me.client.get(f"/contacts/{kept['id']}").text
    company_page = me.client.get(f"/companies/{company['id']}")
    assert 'data-testid="archived-badge"' in company_page.text

    # Without the CSRF token nothing is restored.
    forged = me.client.post(f"/contacts/{gone['id']}/restore", follow_redirects=False)
    assert forged.status_code == 403
    assert api.ok(api.get(f"/contacts/{gone['id']}"))["archived"] is True

    restored = me.client.post(
        f"/contacts/{gone['id']}/restore",
        data={"csrf_token": me.csrf_token},
        follow_redirects=True,
    )
    assert restored.status_code == 200
    assert "The contact was restored." in restored.text
    assert 'data-testid="archived-badge"' not in restored.text
    assert api.ok(api.get(f"/contacts/{gone['id']}"))["archived"] is False
    assert "gone@example.com" in me.client.get("/contacts").text

    me.client.post(f"/companies/{company['id']}/restore", data={"csrf_token": me.csrf_token})
    assert "Vanished Roasters" in me.client.get("/companies").text


def test_restoring_needs_the_edit_permission(app: FastAPI, api: Api, session_factory: Any) -> None:
    gone = api.ok(api.post("/contacts", {"email": "gone@example.com"}))
    archive(session_factory, api, "contact", gone["id"])
    viewer = signed_in(
        app, session_factory, api, email="viewer@example.com", permissions=["subscriptions.view"]
    )
    page = viewer.client.get(f"/contacts/{gone['id']}")
    assert 'data-testid="archived-badge"' in page.text
    assert "/restore" not in page.text
    refused = viewer.client.post(
        f"/contacts/{gone['id']}/restore",
        data={"csrf_token": viewer.csrf_token},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert api.ok(api.get(f"/contacts/{gone['id']}"))["archived"] is True


def test_views_segments_and_exports_leave_archived_records_out(
    api: Api, session_factory: Any
) -> None:
    kept = api.ok(api.post("/contacts", {"email": "kept@example.com"}))
    gone = api.ok(api.post("/contacts", {"email": "gone@example.com"}))
    company = api.ok(api.post("/companies", {"name": "Gone BV"}))
    archive(session_factory, api, "contact", gone["id"])
    archive(session_factory, api, "company", company["id"])
    # The one condition the views catalogs give the index, saved views, segments and exports.
    with session_factory() as session:
        for catalog, expected in ((CONTACTS, [kept["id"]]), (COMPANIES, [])):
            condition = catalog.compile_filters(session, api.account_id, [])
            found = session.scalars(select(catalog.model.id).where(condition)).all()
            assert list(found) == expected


def test_an_archived_deal_page_restores_it(app: FastAPI, api: Api, session_factory: Any) -> None:
    deal = api.ok(api.post("/deals", {"name": "Paused expansion"}))
    archive(session_factory, api, "deal", deal["id"])
    me = signed_in(app, session_factory, api)
    assert "Paused expansion" not in me.client.get("/deals").text
    page = me.client.get(f"/deals/{deal['id']}")
    assert page.status_code == 200
    assert 'data-testid="archived-badge"' in page.text
    assert f'action="/deals/{deal["id"]}/restore"' in page.text

    restored = me.client.post(
        f"/deals/{deal['id']}/restore", data={"csrf_token": me.csrf_token}, follow_redirects=True
    )
    assert restored.status_code == 200
    assert "The deal was restored." in restored.text
    assert 'data-testid="archived-badge"' not in restored.text
    assert api.ok(api.get(f"/deals/{deal['id']}"))["archived"] is False
    assert "Paused expansion" in me.client.get("/deals").text
    # Another account's deal is not found, so not restored.
    assert (
        me.client.post(
            "/deals/deal_unknown/restore", data={"csrf_token": me.csrf_token}
        ).status_code
        == 404
    )
