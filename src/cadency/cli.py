"""`cadency`: the operator's command line (API.md "Operator CLI")."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click
from sqlalchemy.orm import Session

from cadency.config import Settings, listening_base_url, load_settings
from cadency.kit import migrate as migrations
from cadency.kit.db import make_engine, make_session_factory
from cadency.kit.errors import APIError, InvalidRequest, NotFound

if TYPE_CHECKING:
    from cadency.accounts.models import Account


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


def _fail(error: APIError) -> NoReturn:
    click.echo(json.dumps(error.body()), err=True)
    sys.exit(2)


def _print(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload))


def _account(session: Session, account_id: int) -> Account:
    """The account named on the command line, or exit 2 saying there is none."""
    from cadency.accounts import service

    account = service.get_account(session, account_id)
    if account is None:
        _fail(NotFound("No such account: %(account_id)s", account_id=account_id))
    return account


@click.group()
def main() -> None:
    """Cadency: subscription management and recurring billing."""


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    migrations.upgrade(load_settings().database_url)
    click.echo("Database is up to date.", err=True)


# A serving process answers the supervisor's health check only once it has imported Cadency's
# command line (multiprocessing re-imports the main module): 7 s on a busy two-core machine,
# over uvicorn's default of 5 s, after which it kills and restarts the process, forever.
SERVING_PROCESS_HEALTHCHECK_SECONDS = 30


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Leave the billing engine to separate `cadency worker` processes",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Web server processes [default: the number of CPUs]; 1 serves in this process",
)
def serve(host: str, port: int, no_worker: bool, workers: int | None) -> None:
    """Run the API and web app (migrates the database first), with the billing engine and
    the email dispatcher running beside it unless --no-worker. With --workers N above 1,
    N processes serve and this one runs the engine."""
    import threading

    import uvicorn

    from cadency.web.app import create_app

    # Links in pages and emails point where this server listens, unless the operator set the
    # public address (CADENCY_BASE_URL). Set for the whole process, so every part agrees (and
    # every serving process: they are spawned with this environment).
    os.environ.setdefault("CADENCY_BASE_URL", listening_base_url(host, port))
    settings = load_settings()
    workers = workers or os.cpu_count() or 1
    # One process or many, this one prepares the installation first: it migrates, makes the
    # link secret and the encryption key file, so the serving processes, starting together,
    # only read them.
    app = create_app(settings)
    stop = threading.Event()
    if not no_worker:
        for target in (_work, _export_lane, _webhook_lane, _workflow_lane):
            threading.Thread(
                target=target, args=(app.state.session_factory, settings, stop, 5.0), daemon=True
            ).start()
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    # uvicorn's supervisor spawns fresh interpreters (no threads or connections inherited)
    # that build the app from the environment; it restarts one that dies and stops them all
    # on SIGINT/SIGTERM. The engine threads above stay in this process, one per installation
    # on SQLite as the engine needs.
    try:
        uvicorn.run(
            "cadency.web.app:serving_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            timeout_worker_healthcheck=SERVING_PROCESS_HEALTHCHECK_SECONDS,
        )
    finally:
        stop.set()
        app.state.engine.dispose()


def _work(session_factory: Any, settings: Settings, stop: Any, interval: float) -> None:
    """The embedded worker: every `interval` seconds, run what is due for live accounts, then
    deliver the emails of every account's outbox (test clocks' included); hourly, housekeeping.
    Exports, webhooks and workflows run in lanes of their own (`_export_lane`,
    `_webhook_lane`, `_workflow_lane`)."""
    from cadency import housekeeping
    from cadency.billing import runner

    hourly = housekeeping.Hourly(session_factory, files_dir=settings.files_dir)
    while not stop.is_set():
        try:
            with session_factory() as session:
                runner.run_due(session)
        except Exception:  # keep the server's engine alive; the error is logged
            logging.getLogger("cadency.billing").exception("billing pass failed")
        _deliver_emails(session_factory, settings)
        hourly.run_if_due()
        stop.wait(interval)


def _export_lane(session_factory: Any, settings: Settings, stop: Any, interval: float) -> None:
    """Build the exports asked for, apart from billing and email: a million-row export takes a
    minute, and renewals and emails due meanwhile must not wait for it. The export-ready email
    is an outbox row, delivered by the next email pass."""
    while not stop.is_set():
        _run_exports(session_factory, settings)
        stop.wait(interval)


def _webhook_lane(session_factory: Any, settings: Settings, stop: Any, interval: float) -> None:
    """Publish events and deliver webhooks, apart from billing: a receiver that takes its 15
    seconds to answer delays only other deliveries (sent in parallel, a bounded number at a
    time), never a renewal. Every second, so a receiver hears of an event promptly."""
    while not stop.is_set():
        _deliver_webhooks(session_factory, settings)
        stop.wait(min(interval, 1.0))


def _deliver_webhooks(session_factory: Any, settings: Settings) -> int:
    """Publish what the outbox holds, then send the deliveries due; returns the attempts made.
    Never raises: webhooks must not stop billing."""
    from cadency.webhooks import service as webhook_service

    try:
        return webhook_service.run(
            session_factory,
            webhook_service.Links(settings.base_url, settings),
            allow_private=settings.webhook_allow_private,
        )
    except Exception:
        logging.getLogger("cadency.webhooks").exception("webhook pass failed")
        return 0


def _workflow_lane(session_factory: Any, settings: Settings, stop: Any, interval: float) -> None:
    """Enroll records in workflows and take their due steps, apart from billing and webhooks:
    a workflow's webhook action may wait 15 seconds for its receiver. Every second, so a
    "welcome" email follows its subscription promptly."""
    while not stop.is_set():
        _run_workflows(session_factory, settings)
        stop.wait(min(interval, 1.0))


def _run_workflows(session_factory: Any, settings: Settings) -> int:
    """One workflows pass; returns the enrollments made and steps taken. Never raises:
    workflows must not stop billing."""
    from cadency.workflows import runner as workflow_runner

    try:
        summary = workflow_runner.run(session_factory, allow_private=settings.webhook_allow_private)
    except Exception:
        logging.getLogger("cadency.workflows").exception("workflows pass failed")
        return 0
    return summary.enrolled + summary.steps + summary.failed


def _run_exports(session_factory: Any, settings: Settings) -> int:
    """Build every export waiting in the queue; returns how many runs there were. A failed
    export is put back in the queue by the exports service, and never stops billing."""
    from cadency.exports import service as export_service

    try:
        return export_service.run_all(session_factory, files_dir=settings.files_dir)
    except Exception:
        logging.getLogger("cadency.exports").exception("export pass failed")
        return 0


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
    """Run the billing engine for live accounts, build exports, and deliver every account's
    emails and webhooks (any number of workers may share a database); hourly, purge what is
    kept only for a while."""
    import threading
    import time

    from cadency import housekeeping
    from cadency.billing import runner

    settings = load_settings()
    migrations.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    hourly = housekeeping.Hourly(factory, files_dir=settings.files_dir)
    stop = threading.Event()
    if not once:
        for lane in (_export_lane, _webhook_lane, _workflow_lane):
            threading.Thread(
                target=lane, args=(factory, settings, stop, interval), daemon=True
            ).start()
    try:
        while True:
            with factory() as session:
                summary = runner.run_due(session)
            # With --once the exports, workflow steps and webhooks waiting now are done here;
            # otherwise their lanes do it.
            exports_run = _run_exports(factory, settings) if once else 0
            workflow_steps = _run_workflows(factory, settings) if once else 0
            webhooks_sent = _deliver_webhooks(factory, settings) if once else 0
            emails_sent = _deliver_emails(factory, settings)
            hourly.run_if_due()
            if (
                summary.subscriptions_processed
                or summary.subscriptions_failed
                or emails_sent
                or exports_run
                or webhooks_sent
                or workflow_steps
            ):
                click.echo(
                    json.dumps(
                        {
                            "processed": summary.subscriptions_processed,
                            "failed": summary.subscriptions_failed,
                            "exports_run": exports_run,
                            "emails_sent": emails_sent,
                            "webhooks_sent": webhooks_sent,
                            "workflow_steps": workflow_steps,
                        }
                    ),
                    err=True,
                )
            if once:
                return
            time.sleep(interval)
    finally:
        stop.set()
        engine.dispose()


@main.command()
def purge() -> None:
    """Purge once what is kept only for a while (the worker does it hourly): idempotency
    records past 24 hours, dev-mailbox emails past 30 days, expired web sessions, export files
    past 30 days, events (and their webhook deliveries) past 30 days. Prints the rows deleted
    per table as JSON."""
    from cadency import housekeeping

    settings = load_settings()
    migrations.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        _print(housekeeping.run(make_session_factory(engine), files_dir=settings.files_dir))
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
    from cadency.payments import processor
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
                created_by=service.CREATED_BY_CLI,
            )
            account.kind = kind
            result = {"account_id": account.id, "api_key": key}
            if processor.processor_for(account) is None:
                result["still_needed"] = ["payment_processor"]
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
        if "still_needed" in result:
            click.echo(
                f"Still needed: {processor.NOT_CONFIGURED_MESSAGE}.",
                err=True,
            )


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
        account = _account(session, account_id)
        try:
            user = service.create_user(
                session, account, email=email, password=password, permissions=permissions
            )
        except APIError as error:
            _fail(error)
        session.commit()
        _print({"user_id": user.id})


@main.group("analytics")
def analytics_group() -> None:
    """Recurring-revenue analytics."""


@analytics_group.command("rebuild")
@click.option("--account-id", type=int, default=None, help="One account (default: all)")
def rebuild_analytics(account_id: int | None) -> None:
    """Recompute the MRR movements ledger from the subscriptions' timelines (for data from
    before the ledger, or to check it); prints what was rebuilt as JSON."""
    from cadency.analytics import rebuild

    settings = load_settings()
    migrations.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        factory = make_session_factory(engine)
        if account_id is not None:
            with factory() as session:
                _account(session, account_id)
        summary = rebuild.rebuild(factory, account_id=account_id)
        _print({"subscriptions": summary.subscriptions, "movements": summary.movements})
    finally:
        engine.dispose()


@main.group("clock")
def clock_group() -> None:
    """A test-mode account's clock."""


@clock_group.command("advance")
@click.option("--account-id", required=True, type=int)
@click.option("--to", "to", required=True, help="An instant with its offset: 2027-01-01T09:00Z")
def advance_clock(account_id: int, to: str) -> None:
    """Move a test-mode account's clock forward (at most 5 years), running all work due until
    then; prints the clock and what ran, as POST /clock/advance answers."""

    from cadency.billing import runner
    from cadency.kit import clock

    with _session() as session:
        account = _account(session, account_id)
        try:
            instant = datetime.fromisoformat(to)
            if instant.tzinfo is None:
                raise ValueError
        except ValueError:
            _fail(InvalidRequest("--to must be an ISO 8601 instant with an offset", param="to"))
        try:
            summary = runner.advance_clock(session, account, instant)
        except APIError as error:
            _fail(error)
        _print(
            {
                "account_id": account.id,
                "now": clock.account_now(account).isoformat(),
                "today": clock.account_today(account).isoformat(),
                "summary": summary,
            }
        )


@main.group("api-keys")
def api_keys() -> None:
    """API keys of an account."""


@api_keys.command("create")
@click.option("--account-id", required=True, type=int)
@click.option("--name", required=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="A permission name; repeat for several. None: super_admin (every permission).",
)
@click.option(
    "--expires-at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
    help="UTC; from then on the key is refused.",
)
def create_api_key(
    account_id: int, name: str, scopes: tuple[str, ...], expires_at: datetime | None
) -> None:
    """Make an API key; prints the create answer of POST /api-keys, with the secret in `key`
    (shown this once)."""
    from cadency.accounts import service
    from cadency.accounts.schemas import ApiKeyCreated, ApiKeyOut

    with _session() as session:
        account = _account(session, account_id)
        try:
            key, secret = service.create_api_key(
                session,
                account,
                name=name,
                scopes=scopes or ["super_admin"],
                created_by=service.CREATED_BY_CLI,
                expires_at=expires_at.replace(tzinfo=UTC) if expires_at else None,
            )
        except APIError as error:
            _fail(error)
        session.commit()
        answer = ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)
        _print(answer.model_dump(mode="json"))


@api_keys.command("list")
@click.option("--account-id", required=True, type=int)
def list_api_keys(account_id: int) -> None:
    """Print the account's API keys (no secrets), newest first, as a JSON list."""
    from cadency.accounts import service
    from cadency.accounts.schemas import ApiKeyOut
    from cadency.kit.pagination import MAX_LIMIT

    with _session() as session:
        account = _account(session, account_id)
        keys: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            rows, has_more, cursor = service.list_api_keys(
                session, account, limit=MAX_LIMIT, cursor=cursor
            )
            keys += [ApiKeyOut.of(key).model_dump(mode="json") for key in rows]
            if not has_more:
                break
        _print({"object": "list", "data": keys})


@api_keys.command("revoke")
@click.option("--account-id", required=True, type=int)
@click.argument("key_id")
def revoke_api_key(account_id: int, key_id: str) -> None:
    """Revoke an API key; prints it with its revoked_at."""
    from cadency.accounts import service
    from cadency.accounts.schemas import ApiKeyOut

    with _session() as session:
        account = _account(session, account_id)
        try:
            key = service.revoke_api_key(session, service.get_api_key(session, account, key_id))
        except APIError as error:
            _fail(error)
        session.commit()
        _print(ApiKeyOut.of(key).model_dump(mode="json"))


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
