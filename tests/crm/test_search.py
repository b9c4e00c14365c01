"""The text search of the contact and company lists (crm.service), used by the web pages."""

from __future__ import annotations

from typing import Any

from cadency.accounts.models import Account
from cadency.crm import service
from tests.conftest import Api


def contact_emails(session_factory: Any, account_id: int, query: str | None) -> set[str]:
    with session_factory() as session:
        account = session.get(Account, account_id)
        rows, _, _ = service.list_contacts(
            session, account, email=None, limit=100, cursor=None, query=query
        )
        return {row.email for row in rows}


def company_names(session_factory: Any, account_id: int, query: str | None) -> set[str]:
    with session_factory() as session:
        account = session.get(Account, account_id)
        rows, _, _ = service.list_companies(
            session, account, domain=None, limit=100, cursor=None, query=query
        )
        return {row.name for row in rows}


def test_contacts_match_email_or_name_ignoring_case(api: Api, session_factory: Any) -> None:
    for body in (
        {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        {"email": "grace@navy.mil", "first_name": "Grace", "last_name": "Hopper"},
        {"email": "alan_t@example.org", "first_name": "Alan"},
    ):
        assert api.post("/contacts", body).status_code == 200
    everyone = {"ada@example.com", "grace@navy.mil", "alan_t@example.org"}

    assert contact_emails(session_factory, api.account_id, "LOVE") == {"ada@example.com"}
    assert contact_emails(session_factory, api.account_id, " hopper ") == {"grace@navy.mil"}
    assert contact_emails(session_factory, api.account_id, "example") == {
        "ada@example.com",
        "alan_t@example.org",
    }
    # LIKE wildcards in the text match themselves only.
    assert contact_emails(session_factory, api.account_id, "_t@") == {"alan_t@example.org"}
    assert contact_emails(session_factory, api.account_id, "a%e") == set()
    assert contact_emails(session_factory, api.account_id, "nobody") == set()
    # No text, or only spaces: no search.
    assert contact_emails(session_factory, api.account_id, None) == everyone
    assert contact_emails(session_factory, api.account_id, "  ") == everyone


def test_contact_search_stays_in_the_account(
    api: Api, other_api: Api, session_factory: Any
) -> None:
    assert api.post("/contacts", {"email": "ada@example.com"}).status_code == 200
    assert other_api.post("/contacts", {"email": "ada@elsewhere.com"}).status_code == 200
    assert contact_emails(session_factory, api.account_id, "ada") == {"ada@example.com"}


def test_companies_match_name_or_domain_ignoring_case(api: Api, session_factory: Any) -> None:
    for body in (
        {"name": "Acme Corp", "domain": "acme.example"},
        {"name": "Globex 100%", "domain": "globex.example"},
        {"name": "Initech"},
    ):
        assert api.post("/companies", body).status_code == 200

    assert company_names(session_factory, api.account_id, "acme") == {"Acme Corp"}
    assert company_names(session_factory, api.account_id, "GLOBEX.EX") == {"Globex 100%"}
    assert company_names(session_factory, api.account_id, "100%") == {"Globex 100%"}
    assert company_names(session_factory, api.account_id, "%") == {"Globex 100%"}
    assert company_names(session_factory, api.account_id, "tech") == {"Initech"}
    assert company_names(session_factory, api.account_id, "") == {
        "Acme Corp",
        "Globex 100%",
        "Initech",
    }
