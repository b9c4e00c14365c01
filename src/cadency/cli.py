"""`cadency`: the operator's command line (API.md "Operator CLI")."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.orm import Session

from cadency.config import Settings, load_settings
from cadency.kit import migrate as migrations
from cadency.kit.db import make_engine, make_session_factory
from cadency.kit.errors import APIError


@contextmanager
def _session() -> Iterator[Session]:
    settings = load_settings()
    migrations.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _fail(error: APIError) -> None:
    click.echo(json.dumps(error.body()), err=True)
    sys.exit(2)


def _print(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload))


@click.group()
def main() -> None:
    """Cadency: subscription management and recurring billing."""


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    migrations.upgrade(load_settings().database_url)
    click.echo("Database is up to date.", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Leave the billing engine to separate `cadency worker` processes",
)
def serve(host: str, port: int, no_worker: bool) -> None:
    """Run the API and web app (migrates the database first), with the billing engine and
    the email dispatcher running beside it unless --no-worker."""
    import threading

    import uvicorn

    from cadency.web.app import create_app

    settings = load_settings()
    app = create_app(settings)
    if not no_worker:
        stop = threading.Event()
        thread = threading.Thread(
            target=_work, args=(app.state.session_factory, settings, stop, 5.0), daemon=True
        )
        thread.start()
    uvicorn.run(app, host=host, port=port, log_level="info")


def _work(session_factory: Any, settings: Settings, stop: Any, interval: float) -> None:
    """The embedded worker: every `interval` seconds, run what is due for live accounts, then
    deliver the emails of every account's outbox (test clocks' included); hourly, housekeeping."""
    from cadency import housekeeping
    from cadency.billing import runner

    hourly = housekeeping.Hourly(session_factory)
    while not stop.is_set():
        try:
            with session_factory() as session:
                runner.run_due(session)
        except Exception:  # keep the server's engine alive; the error is logged
            logging.getLogger("cadency.billing").exception("billing pass failed")
        _deliver_emails(session_factory, settings)
        hourly.run_if_due()
        stop.wait(interval)


def _deliver_emails(session_factory: Any, settings: Settings) -> int:
    """One dispatcher pass over the outbox; returns the number of emails sent. A separate
    transaction from the engine's: delivery happens after the engine's work is committed."""
    from cadency.notifications.dispatcher import Dispatcher

    try:
        with session_factory() as session:
            return Dispatcher(settings).run(session).sent
    except Exception:  # an SMTP or rendering problem must not stop billing
        logging.getLogger("cadency.notifications").exception("email delivery pass failed")
        return 0


@main.command()
@click.option("--once", is_flag=True, help="Process what is due now, then exit")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes")
def worker(once: bool, interval: float) -> None:
    """Run the billing engine for live accounts and deliver every account's emails (any number
    of workers may share a database); hourly, purge what is kept only for a while."""
    import time

    from cadency import housekeeping
    from cadency.billing import runner

    settings = load_settings()
    migrations.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    hourly = housekeeping.Hourly(factory)
    try:
        while True:
            with factory() as session:
                summary = runner.run_due(session)
            emails_sent = _deliver_emails(factory, settings)
            hourly.run_if_due()
            if summary.subscriptions_processed or summary.subscriptions_failed or emails_sent:
                click.echo(
                    json.dumps(
                        {
                            "processed": summary.subscriptions_processed,
                            "failed": summary.subscriptions_failed,
                            "emails_sent": emails_sent,
                        }
                    ),
                    err=True,
                )
            if once:
                return
            time.sleep(interval)
    finally:
        engine.dispose()


@main.command()
def purge() -> None:
    """Purge once what is kept only for a while (the worker does it hourly): idempotency
    records past 24 hours, dev-mailbox emails past 30 days, expired web sessions. Prints the
    rows deleted per table as JSON."""
    from cadency import housekeeping

    settings = load_settings()
    migrations.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        _print(housekeeping.run(make_session_factory(engine)))
    finally:
        engine.dispose()


@main.group()
def accounts() -> None:
    """Merchant accounts."""


@accounts.command("create")
@click.option("--name", required=True)
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--currency", default="USD", show_default=True)
@click.option("--language", default="en", show_default=True)
@click.option("--mode", type=click.Choice(["test", "live"]), default="test", show_default=True)
@click.option(
    "--operator",
    is_flag=True,
    help="Make it the account that bills the others for their plans (installs the plans).",
)
@click.option(
    "--email",
    help="Billing email of the account's plan: with an operator, its trial of a paid plan starts.",
)
@click.option(
    "--trial-days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="With --operator: how long a new account's trial of a paid plan lasts.",
)
@click.option(
    "--kind",
    type=click.Choice(["standard", "partner", "developer"]),
    default="standard",
    show_default=True,
    help="Partner and developer accounts arrange their plan with support.",
)
def create_account(
    name: str,
    timezone: str,
    currency: str,
    language: str,
    mode: str,
    operator: bool,
    email: str | None,
    trial_days: int,
    kind: str,
) -> None:
    """Create an account; prints {"account_id", "api_key"} (and its plan when one started)."""
    from cadency.accounts import service
    from cadency.plans import service as plans
    from cadency.plans.operator import install_plans

    with _session() as session:
        result: dict[str, Any] = {}
        try:
            account, key = service.create_account(
                session,
                name=name,
                timezone=timezone,
                currency=currency,
                language=language,
                mode=mode,
            )
            account.kind = kind
            result = {"account_id": account.id, "api_key": key}
            if operator:
                install_plans(session, account)
                account.trial_days = trial_days
                result["operator"] = True
            elif email and plans.operator_account(session) is not None:
                enrolled = plans.enroll(session, account, email)
                result["plan_subscription_id"] = enrolled.subscription_id
        except APIError as error:
            _fail(error)
        session.commit()
        _print(result)


@main.group()
def users() -> None:
    """Users of an account."""


@users.command("create")
@click.option("--account-id", required=True, type=int)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--permission", "permissions", multiple=True, help="Repeat; none: a super admin")
def create_user(account_id: int, email: str, password: str, permissions: tuple[str, ...]) -> None:
    """Create a user; prints {"user_id"}."""
    from cadency.accounts import service

    with _session() as session:
        account = service.get_account(session, account_id)
        if account is None:
            click.echo(
                json.dumps(
                    {"error": {"type": "not_found", "message": f"No such account: {account_id}"}}
                ),
                err=True,
            )
            sys.exit(2)
        try:
            user = service.create_user(
                session, account, email=email, password=password, permissions=permissions
            )
        except APIError as error:
            _fail(error)
        session.commit()
        _print({"user_id": user.id})


@main.command()
@click.option("--email", default="owner@example.com", show_default=True)
@click.option("--password", default="cadency-demo", show_default=True)
def demo(email: str, password: str) -> None:
    """Create a test-mode account with the coffee shop from the help articles."""
    from cadency.demo import load_demo

    with _session() as session:
        result = load_demo(session, email=email, password=password)
        session.commit()
    _print(result)


if __name__ == "__main__":
    main()
