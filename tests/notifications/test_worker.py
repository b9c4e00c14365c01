"""`cadency worker` delivers the outbox's emails after its engine pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from click.testing import CliRunner

from cadency.cli import main
from tests.notifications.conftest import SmtpServer, deliveries
from tests.scenarios.story import Story


def test_the_worker_sends_the_emails(
    client: Any, session_factory: Any, database_url: str, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    story.subscribe(price="30.00", email="worker-buyer@example.com")

    env = {"CADENCY_DATABASE_URL": database_url, "CADENCY_SMTP_URL": smtp_server.url}
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    mine = [m for m in smtp_server.inbox.take() if m.to == ["worker-buyer@example.com"]]
    assert [m.subject for m in mine] == ["Your receipt from Test shop"]
    assert json.loads(result.stderr.strip().splitlines()[-1])["emails_sent"] >= 1
    assert deliveries(session_factory, story.api.account_id) == [
        ("receipt", "worker-buyer@example.com", "sent", 1)
    ]
    # A second pass has nothing left to send.
    again = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert again.exit_code == 0
    assert [m for m in smtp_server.inbox.take() if m.to == ["worker-buyer@example.com"]] == []
