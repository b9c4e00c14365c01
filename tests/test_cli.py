from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import func, select

from cadency.accounts.models import Account, User
from cadency.analytics.models import MrrMovement
from cadency.catalog.models import Product
from cadency.cli import main
from cadency.subscriptions.models import Subscription
from cadency.workflows.models import Workflow, WorkflowEnrollment
from tests.conftest import Api


@pytest.fixture
def run(app: FastAPI, database_url: str) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, list(args), env={"CADENCY_DATABASE_URL": database_url})

    return invoke


def test_accounts_create_prints_id_and_a_working_key(run: Any, client: Any, db: Any) -> None:
    result = run(
        "accounts",
        "create",
        "--name",
        "Koffie BV",
        "--timezone",
        "Europe/Amsterdam",
        "--currency",
        "EUR",
        "--language",
        "nl",
        "--mode",
        "live",
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    # A live account cannot take payments until a processor is configured: it says so.
    assert set(printed) == {"account_id", "api_key", "still_needed"}
    assert printed["still_needed"] == ["payment_processor"]
    assert "Still needed: No payment processor is configured" in result.stderr
    assert "cannot save payment methods or take payments" in result.stderr
    account = db.get(Account, printed["account_id"])
    assert (account.timezone, account.currency, account.language, account.mode) == (
        "Europe/Amsterdam",
        "EUR",
        "nl",
        "live",
    )
    settings = client.get(
        "/api/v1/account/settings", headers={"Authorization": f"Bearer {printed['api_key']}"}
    ).json()
    assert settings["account_id"] == printed["account_id"]
    assert settings["locale"] == "nl-NL"


def test_accounts_create_refuses_bad_values(run: Any) -> None:
    result = run("accounts", "create", "--name", "X", "--timezone", "Mars/Olympus")
    assert result.exit_code == 2
    assert "time zone" in result.stderr


def test_users_create(run: Any, api: Api, db: Any) -> None:
    result = run(
        "users",
        "create",
        "--account-id",
        str(api.account_id),
        "--email",
        "Ann@Example.com",
        "--password",
        "a long secret",
        "--permission",
        "subscriptions.view",
        "--permission",
        "subscriptions.export",
    )
    assert result.exit_code == 0, result.output
    user = db.get(User, json.loads(result.stdout)["user_id"])
    assert user.email == "ann@example.com"
    assert user.permissions == ["subscriptions.view", "subscriptions.export"]
    assert "a long secret" not in user.password_hash
    admin = run(
        "users",
        "create",
        "--account-id",
        str(api.account_id),
        "--email",
        "boss@example.com",
        "--password",
        "another secret",
    )
    assert db.get(User, json.loads(admin.stdout)["user_id"]).permissions == ["super_admin"]
    duplicate = run(
        "users",
        "create",
        "--account-id",
        str(api.account_id),
        "--email",
        "ann@example.com",
        "--password",
        "a long secret",
    )
    assert duplicate.exit_code == 2 and "already exists" in duplicate.stderr
    missing = run(
        "users", "create", "--account-id", "1", "--email", "a@b.c", "--password", "xxxxxxxx"
    )
    assert missing.exit_code == 2


def test_demo_loads_the_coffee_shop(run: Any, client: Any, db: Any) -> None:
    result = run("demo")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    account_id = printed["account_id"]
    assert printed["login"]["email"] == "owner@example.com"
    products = db.scalars(select(Product).where(Product.account_id == account_id)).all()
    assert {(p.name, p.unit_price, p.billing_frequency) for p in products} >= {
        ("Coffee casual - 250g", 1250, "monthly"),
        ("Coffee is my fuel - 500g", 1800, "biweekly"),
        ("Just one more cup - 1 KG", 2500, "monthly"),
    }
    total = db.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.account_id == account_id)
    )
    listed = client.get(
        "/api/v1/subscriptions?limit=100",
        headers={"Authorization": f"Bearer {printed['api_key']}"},
    ).json()
    assert len(listed["data"]) == total
    assert (
        db.scalar(select(func.count()).select_from(User).where(User.account_id == account_id)) == 1
    )
    # The seeds' workflows, switched on at the end of the story: the worker's first pass tells
    # the team of the payments due this week, and welcomes no one of the past 14 months.
    workflows = db.scalars(
        select(Workflow).where(Workflow.account_id == account_id).order_by(Workflow.name)
    ).all()
    assert [(w.name, w.trigger["type"], w.enabled) for w in workflows] == [
        ("Give an expired subscription an owner", "subscription.status_changed", True),
        ("Tell the team 7 days before a payment is due", "payment_due_in", True),
        ("Welcome a new subscriber", "subscription.created", True),
    ]
    worked = run("worker", "--once")
    assert worked.exit_code == 0, worked.output
    steps = json.loads(worked.stderr.strip().splitlines()[-1])["workflow_steps"]

    def enrolled(workflow: Workflow) -> list[str]:
        return list(
            db.scalars(
                select(WorkflowEnrollment.status).where(
                    WorkflowEnrollment.workflow_id == workflow.id
                )
            ).all()
        )

    due_soon = enrolled(workflows[1])
    assert steps >= len(due_soon) > 0 and set(due_soon) == {"completed"}
    assert enrolled(workflows[2]) == []


def test_demo_twice_keeps_one_demo_account(run: Any, db: Any) -> None:
    first = json.loads(run("demo").stdout)
    second = run("demo")
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["account_id"] == first["account_id"]
    assert again["api_key"] != first["api_key"]
    assert again["login"]["email"] == "owner@example.com"


def test_an_operator_and_an_account_on_a_trial(tmp_path: Any) -> None:
    """On a new installation (its own database): `--operator` installs the plans, and an
    account created with `--email` starts a trial of Pro billed by the operator."""
    url = f"sqlite:///{tmp_path / 'installation.db'}"
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, list(args), env={"CADENCY_DATABASE_URL": url})

    assert invoke("migrate").exit_code == 0
    made = invoke(
        "accounts", "create", "--name", "Cadency Cloud", "--operator", "--trial-days", "14"
    )
    assert made.exit_code == 0, made.output
    operator = json.loads(made.stdout)
    assert operator["operator"] is True
    shop = invoke("accounts", "create", "--name", "Bakkerij", "--email", "owner@bakkerij.example")
    assert shop.exit_code == 0, shop.output
    printed = json.loads(shop.stdout)
    assert printed["plan_subscription_id"].startswith("sub_")
    partner = invoke("accounts", "create", "--name", "Agency", "--kind", "partner")
    assert partner.exit_code == 0 and "plan_subscription_id" not in json.loads(partner.stdout)
    second = invoke("accounts", "create", "--name", "Another operator", "--operator")
    assert second.exit_code != 0 and "already has an operator" in second.output

    from sqlalchemy.orm import Session

    from cadency.kit.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        names = session.scalars(
            select(Product.name)
            .where(Product.account_id == operator["account_id"])
            .order_by(Product.name)
        ).all()
        assert sorted(set(names)) == ["Business", "Free", "Pro", "Starter"]
        plan = session.get(Subscription, printed["plan_subscription_id"])
        assert plan is not None and plan.status == "trialing"
        assert plan.trial_end is not None and (plan.trial_end - plan.start_date).days == 14
        assert plan.account_id == operator["account_id"]
        kinds = dict(session.execute(select(Account.name, Account.kind)).all())
        assert kinds["Agency"] == "partner" and kinds["Bakkerij"] == "standard"
    engine.dispose()


def test_clock_advance_runs_the_work_due(run: Any, client: Any, session_factory: Any) -> None:
    from datetime import UTC, datetime

    from tests.scenarios.story import Story

    story = Story(client, session_factory, start=datetime(2026, 3, 1, 9, tzinfo=UTC))
    sid = story.subscribe()["id"]
    account = str(story.api.account_id)
    result = run("clock", "advance", "--account-id", account, "--to", "2026-05-01T10:00:00Z")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["today"] == "2026-05-01"
    assert printed["summary"]["invoices_created"] == 2
    assert [row[0] for row in story.invoices(sid)] == ["2026-03-01", "2026-04-01", "2026-05-01"]

    too_far = run("clock", "advance", "--account-id", account, "--to", "2031-06-01T00:00:00Z")
    assert too_far.exit_code == 2
    assert "at most 5 years" in json.loads(too_far.stderr)["error"]["message"]
    naive = run("clock", "advance", "--account-id", account, "--to", "2026-06-01T00:00:00")
    assert naive.exit_code == 2
    assert json.loads(naive.stderr)["error"]["param"] == "to"
    missing = run("clock", "advance", "--account-id", "999", "--to", "2026-06-01T00:00:00Z")
    assert missing.exit_code == 2
    assert json.loads(missing.stderr)["error"]["type"] == "not_found"


def test_clock_advance_refuses_a_live_account(run: Any, db: Any) -> None:
    created = json.loads(run("accounts", "create", "--name", "Live", "--mode", "live").stdout)
    result = run(
        "clock", "advance", "--account-id", str(created["account_id"]), "--to", "2030-01-01T00:00Z"
    )
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["type"] == "conflict"


def test_serve_points_links_at_the_port_it_listens_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    monkeypatch.delenv("CADENCY_BASE_URL", raising=False)
    result = CliRunner().invoke(
        main,
        ["serve", "--port", "8201", "--no-worker", "--workers", "1"],
        env={"CADENCY_DATABASE_URL": database_url, "CADENCY_BASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    assert served["port"] == 8201
    assert served["app"].state.settings.base_url == "http://127.0.0.1:8201"

    configured = CliRunner().invoke(
        main,
        ["serve", "--port", "8202", "--no-worker", "--workers", "1"],
        env={"CADENCY_DATABASE_URL": database_url, "CADENCY_BASE_URL": "https://bill.example"},
    )
    assert configured.exit_code == 0, configured.output
    assert served["app"].state.settings.base_url == "https://bill.example"


def test_api_keys_create_list_and_revoke(run: Any, api: Api) -> None:
    made = run(
        "api-keys",
        "create",
        "--account-id",
        str(api.account_id),
        "--name",
        "Nightly export",
        "--scope",
        "subscriptions.export",
        "--scope",
        "subscriptions.view",
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert created["object"] == "api_key" and created["created_by"] == "cli"
    assert created["scopes"] == ["subscriptions.view", "subscriptions.export"]
    key = Api(client=api.client, account_id=api.account_id, key=created["key"])
    assert key.get("/subscriptions").status_code == 200
    assert key.get("/api-keys").status_code == 403

    listed = json.loads(run("api-keys", "list", "--account-id", str(api.account_id)).stdout)
    assert listed["data"][0]["id"] == created["id"]
    assert created["key"] not in json.dumps(listed)

    revoked = run("api-keys", "revoke", "--account-id", str(api.account_id), created["id"])
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    assert key.get("/subscriptions").status_code == 401

    bad = run(
        "api-keys", "create", "--account-id", str(api.account_id), "--name", "x", "--scope", "nope"
    )
    assert bad.exit_code == 2 and "Unknown permission: 'nope'" in bad.stderr
    missing = run("api-keys", "create", "--account-id", "1", "--name", "x")
    assert missing.exit_code == 2 and "No such account" in missing.stderr


def test_api_keys_create_with_an_expiry(run: Any, api: Api) -> None:
    args = ["api-keys", "create", "--account-id", str(api.account_id), "--name", "Temp"]
    made = run(*args, "--expires-at", "2999-01-01T12:00:00Z")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["expires_at"].startswith("2999-01-01T12:00:00")
    past = run(*args, "--expires-at", "2001-01-01")
    assert past.exit_code == 2 and "expires_at must be in the future" in past.stderr


def test_a_test_mode_account_needs_nothing_more(run: Any) -> None:
    result = run("accounts", "create", "--name", "Sandbox shop", "--mode", "test")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"account_id", "api_key"}
    assert "Still needed" not in result.stderr


def test_analytics_rebuild_recomputes_the_ledger(run: Any, db: Any) -> None:
    printed = json.loads(run("demo").stdout)
    account_id = printed["account_id"]

    def ledger() -> list[tuple[Any, ...]]:
        db.expire_all()
        return sorted(
            tuple(row)
            for row in db.execute(
                select(
                    MrrMovement.subscription_id,
                    MrrMovement.effective_on,
                    MrrMovement.kind,
                    MrrMovement.amount,
                ).where(MrrMovement.account_id == account_id)
            )
        )

    written = ledger()
    # The story's 14 months: subscribers won, an upgrade, subscribers lost.
    assert {"new", "expansion", "churned"} <= {kind for _, _, kind, _ in written}
    subscriptions = db.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.account_id == account_id)
    )
    rebuilt = run("analytics", "rebuild", "--account-id", str(account_id))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout) == {
        "subscriptions": subscriptions,
        "movements": len(written),
    }
    assert ledger() == written
    missing = run("analytics", "rebuild", "--account-id", "1")
    assert missing.exit_code == 2 and "No such account" in missing.stderr
