"""The trigram text indexes (kit/text_search.py): searches read them where the columns have one,
and find exactly what they find without them, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cadency.crm.models import Contact
from cadency.kit.filters import compile_filter_groups, parse_filter_groups
from cadency.kit.text_search import contains_text, ensure_text_indexes, narrowing
from cadency.views.catalogs import CONTACT_SPEC
from tests.conftest import Api

PEOPLE = [
    {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace-Byron"},
    {"email": "grace@navy.example", "first_name": "Grace", "last_name": "Hopper"},
    {"email": "100%_sure@example.org", "first_name": "Percy", "last_name": 'O"Brien'},
    {"email": "zoe@example.nl", "first_name": "Zoë", "last_name": "van Loveren"},
]


@pytest.fixture
def people(api: Api) -> dict[str, str]:
    return {p["email"]: api.ok(api.post("/contacts", p))["id"] for p in PEOPLE}


def _emails(session: Session, account_id: int, condition: Any) -> set[str]:
    rows = session.scalars(select(Contact.email).where(Contact.account_id == account_id, condition))
    return set(rows)


def _token(session: Session, account_id: int, prop: str, token: str) -> set[str]:
    groups = parse_filter_groups(
        [{"filters": [{"property": prop, "operator": "contains_token", "value": token}]}]
    )
    return _emails(session, account_id, compile_filter_groups(groups, CONTACT_SPEC, {}, account_id))


def _integrity_check(session: Session) -> None:
    """SQLite's own check that the FTS5 index matches the table it indexes (raises if not)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text("INSERT INTO contacts_text(contacts_text, rank) VALUES ('integrity-check', 1)")
        )


def test_token_and_text_searches_find_the_same_with_the_index(
    api: Api, session_factory: Any, people: dict[str, str]
) -> None:
    with session_factory() as session:
        account = api.account_id
        assert _token(session, account, "last_name", "lovelace") == {"ada@example.com"}
        assert _token(session, account, "last_name", "love*") == {
            "ada@example.com",
            "zoe@example.nl",
        }
        assert _token(session, account, "last_name", "*eren") == {"zoe@example.nl"}
        assert _token(session, account, "last_name", "lovelace byron") == {"ada@example.com"}
        assert _token(session, account, "last_name", "brien") == {"100%_sure@example.org"}
        # "love" is part of a word, not a word: the index finds candidates, the match refuses.
        assert _token(session, account, "last_name", "love") == set()
        assert _token(session, account, "first_name", "zoë") == {"zoe@example.nl"}
        assert _token(session, account, "first_name", "ad") == set()  # too short to index
        assert _token(session, account, "first_name", "ada") == {"ada@example.com"}

        columns = [Contact.email, Contact.first_name, Contact.last_name]
        for term, found in (
            ("LOVE", {"ada@example.com", "zoe@example.nl"}),
            ("100%_", {"100%_sure@example.org"}),
            ("0%s", set()),  # % matches itself, not any text
            ('o"b', {"100%_sure@example.org"}),
            ("navy.example", {"grace@navy.example"}),
            ("ra", {"grace@navy.example"}),  # too short to index: read row by row
        ):
            assert _emails(session, account, contains_text(columns, term)) == found, term
        _integrity_check(session)


def test_the_index_follows_changes_and_stays_in_the_account(
    api: Api, other_api: Api, session_factory: Any, people: dict[str, str]
) -> None:
    other_api.ok(
        other_api.post("/contacts", {"email": "ada@elsewhere.example", "first_name": "Ada"})
    )
    api.ok(api.patch(f"/contacts/{people['grace@navy.example']}", {"last_name": "Murray"}))
    columns = [Contact.first_name, Contact.last_name]
    with session_factory() as session:
        assert _emails(session, api.account_id, contains_text(columns, "hopper")) == set()
        assert _emails(session, api.account_id, contains_text(columns, "murray")) == {
            "grace@navy.example"
        }
        assert _emails(session, api.account_id, contains_text(columns, "ada")) == {
            "ada@example.com"
        }
        _integrity_check(session)
        # Rebuilding (after a migration) changes nothing that searches see.
        ensure_text_indexes(session.connection(), rebuild=True)
        assert _emails(session, api.account_id, contains_text(columns, "murray")) == {
            "grace@navy.example"
        }
        _integrity_check(session)
        session.rollback()


def test_searches_read_the_index(session_factory: Any) -> None:
    """The statement asks the index: the FTS5 table on SQLite; on PostgreSQL the planner can
    answer it with the trigram index (sequential scans off, as a large table would make it)."""
    condition = narrowing([Contact.first_name, Contact.last_name], "lovelace")
    assert condition is not None
    assert narrowing([Contact.first_name], "lo") is None
    assert narrowing([Contact.phone], "lovelace") is None  # no index on phone
    with session_factory() as session:
        bind = session.get_bind()
        statement = select(Contact.id).where(condition)
        sql = str(statement.compile(bind, compile_kwargs={"literal_binds": True}))
        if bind.dialect.name == "sqlite":
            assert "contacts_text MATCH" in sql
            plan = session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
            assert any("VIRTUAL TABLE INDEX" in str(row) for row in plan), plan
        else:
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(row[0]) for row in session.execute(text("EXPLAIN " + sql)))
            assert "ix_contacts_first_name_trgm" in plan
            assert "ix_contacts_last_name_trgm" in plan
        session.rollback()


def test_email_equality_reads_the_email_index(
    api: Api, session_factory: Any, people: dict[str, str]
) -> None:
    """Emails are written in lower case, so EQ compares the column as it is (any case asked
    finds it) and the (account, email) index answers instead of a scan of the account."""
    groups = parse_filter_groups(
        [{"filters": [{"property": "email", "operator": "eq", "value": "Grace@NAVY.example"}]}]
    )
    condition = compile_filter_groups(groups, CONTACT_SPEC, {}, api.account_id)
    with session_factory() as session:
        assert _emails(session, api.account_id, condition) == {"grace@navy.example"}
        bind = session.get_bind()
        statement = select(Contact.id).where(Contact.account_id == api.account_id, condition)
        sql = str(statement.compile(bind, compile_kwargs={"literal_binds": True}))
        if bind.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
        else:
            session.execute(text("ANALYZE contacts"))  # so the planner knows emails are rare
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in session.execute(text("EXPLAIN " + sql)))
        assert "ix_contacts_account_id_email" in plan
        session.rollback()


def test_a_name_of_joined_columns_is_narrowed_by_its_longest_word(
    api: Api, session_factory: Any, people: dict[str, str]
) -> None:
    """A text over a contact's full name (first and last name joined by a space) holds the
    term's longest word within one of them: the index narrows by it, the match stays exact."""
    from sqlalchemy import func, literal

    full_name = (
        func.coalesce(Contact.first_name, "") + literal(" ") + func.coalesce(Contact.last_name, "")
    )
    parts = [Contact.first_name, Contact.last_name]
    with session_factory() as session:
        for term, found in (
            ("ada love", {"ada@example.com"}),
            ("ZOË VAN LOVE", {"zoe@example.nl"}),
            ("grace h", {"grace@navy.example"}),
            ("ce ho", {"grace@navy.example"}),  # every word too short to index: row by row
            ("lovelace ada", set()),
        ):
            condition = contains_text([full_name], term, parts_of=parts)
            assert _emails(session, api.account_id, condition) == found, term


def test_a_text_searchs_matches_are_sorted_after_they_are_found() -> None:
    """SQLite would walk the sort's index through a whole account looking for a search's few
    matches; `sorted_after_filtering` keeps the index out of the ORDER BY there (a unary +)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from cadency.kit.db import sorted_after_filtering

    statement = select(Contact.id).order_by(sorted_after_filtering(Contact.id).desc())
    assert "ORDER BY +(contacts.id) DESC" in str(statement.compile(dialect=sqlite.dialect()))
    assert "ORDER BY contacts.id DESC" in str(statement.compile(dialect=postgresql.dialect()))


def test_case_is_folded_beyond_ascii(api: Api, session_factory: Any) -> None:
    """A Danish name found in any case, on SQLite too (whose own lower() folds ASCII only)."""
    api.ok(api.post("/contacts", {"email": "o@example.dk", "last_name": "Østergaard Æbelø"}))
    columns = [Contact.email, Contact.first_name, Contact.last_name]
    with session_factory() as session:
        account = api.account_id
        for term in ("østergaard", "ØSTERGAARD", "æbelø"):
            assert _emails(session, account, contains_text(columns, term)) == {"o@example.dk"}
            assert _token(session, account, "last_name", term) == {"o@example.dk"}
        groups = parse_filter_groups(
            [
                {
                    "filters": [
                        {"property": "last_name", "operator": "eq", "value": "ØSTERGAARD ÆBELØ"}
                    ]
                }
            ]
        )
        condition = compile_filter_groups(groups, CONTACT_SPEC, {}, account)
        assert _emails(session, account, condition) == {"o@example.dk"}
