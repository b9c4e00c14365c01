"""Custom property definitions are read once per transaction (a batch of 100 contacts checks
them 100 times), and a change is seen by the next transaction or at once where it was made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState

from cadency.accounts.models import Account
from cadency.properties import service
from cadency.properties.models import PropertyDefinition
from cadency.properties.schemas import PropertyCreate
from tests.conftest import Api


def test_definitions_are_read_once_per_transaction(api: Api, session_factory: Any) -> None:
    api.ok(
        api.post("/properties/contacts", {"name": "tier", "label": "Tier", "field_type": "text"})
    )
    with session_factory() as session:
        reads: list[int] = []

        @event.listens_for(session, "do_orm_execute")
        def _count(state: ORMExecuteState) -> None:
            if state.is_select and PropertyDefinition in {
                d.get("entity") for d in state.statement.column_descriptions
            }:
                reads.append(1)

        for _ in range(5):
            assert set(service.definitions(session, api.account_id, "contacts")) == {"tier"}
        assert len(reads) == 1
        # Changing what it returns changes nothing kept.
        service.definitions(session, api.account_id, "contacts").clear()
        assert set(service.definitions(session, api.account_id, "contacts")) == {"tier"}

        # Created here: seen at once.
        account = session.get(Account, api.account_id)
        assert account is not None
        service.create_definition(
            session,
            account,
            "contacts",
            PropertyCreate.model_validate(
                {"name": "seats", "label": "Seats", "field_type": "number"}
            ),
            plan_limit=None,
        )
        assert set(service.definitions(session, api.account_id, "contacts")) == {"tier", "seats"}
        session.rollback()
        # Rolled back: gone, and another transaction's new one is seen by the next.
        api.ok(
            api.post(
                "/properties/contacts", {"name": "plan", "label": "Plan", "field_type": "text"}
            )
        )
        assert set(service.definitions(session, api.account_id, "contacts")) == {"tier", "plan"}
