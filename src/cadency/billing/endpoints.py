from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.accounts.models import Account
from cadency.billing import runner
from cadency.billing.schemas import AdvanceOut, AdvanceRequest, AdvanceSummary, ClockOut
from cadency.kit import clock
from cadency.webhooks import service as webhooks
from cadency.workflows import runner as workflows

router = APIRouter(tags=["clock"])


def _clock(account: Account) -> ClockOut:
    return ClockOut(
        now=clock.account_now(account),
        mode=account.mode,
        timezone=account.timezone,
        today=clock.account_today(account).isoformat(),
    )


@router.get("/clock", response_model=ClockOut)
def get_clock(ctx: ApiContext = Depends(api_context)) -> ClockOut:
    return _clock(ctx.account)


@router.post("/clock/advance", response_model=AdvanceOut)
async def advance_clock(
    body: AdvanceRequest, request: Request, ctx: ApiContext = Depends(requires("super_admin"))
) -> AdvanceOut:
    """Move a test-mode account's clock forward (at most 5 years per call), running all work
    due up to `to` first. The work is committed in chunks; if the client goes away, the advance
    stops after the current chunk and the clock stays where that work ended."""
    account = ctx.account
    to = runner.check_advance(account, body.to)
    advance = runner.ClockAdvance(ctx.session, account, to)
    while not await run_in_threadpool(advance.step):
        if await request.is_disconnected():
            break
        await runner.pause_between_chunks()
    summary = await run_in_threadpool(advance.summary)
    await run_in_threadpool(follow_clock, request.app, account, to)
    return AdvanceOut(**_clock(account).model_dump(), summary=AdvanceSummary(**summary))


def follow_clock(app: Any, account: Account, to: datetime) -> None:
    """After a test clock moved (the API's advance and the web app's test-clock page): the
    workflow steps and webhook retries due by the new time run now, as they follow the
    account's clock. The advance is done either way; a pass that fails is the worker's to run
    again."""
    settings = app.state.settings
    # Where the advance set the clock (short of `to` if it stopped early), exactly.
    now = account.clock_now or to
    try:
        workflows.run(
            app.state.session_factory,
            allow_private=settings.webhook_allow_private,
            account_id=account.id,
            now=now,
        )
    except Exception:
        logging.getLogger("cadency.workflows").exception("workflows pass after an advance failed")
    try:
        webhooks.run(
            app.state.session_factory,
            webhooks.Links(settings.base_url, settings),
            allow_private=settings.webhook_allow_private,
            account_id=account.id,
            now=now,
        )
    except Exception:
        logging.getLogger("cadency.webhooks").exception("webhook pass after an advance failed")
