from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends

from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.accounts.models import Account
from cadency.billing import runner
from cadency.billing.schemas import AdvanceOut, AdvanceRequest, AdvanceSummary, ClockOut
from cadency.kit import clock
from cadency.kit.errors import Conflict, InvalidRequest

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
def advance_clock(
    body: AdvanceRequest, ctx: ApiContext = Depends(requires("super_admin"))
) -> AdvanceOut:
    """Move a test-mode account's clock forward, running all work due up to `to` first."""
    account = ctx.account
    if account.mode != "test":
        raise Conflict("A live account runs on real time; only test-mode clocks can be moved")
    to = body.to.astimezone(UTC)
    now = clock.account_now(account)
    if to < now:
        raise InvalidRequest(
            f"The clock cannot move backwards (it is {now.isoformat()})", param="to"
        )
    summary = runner.advance_clock(ctx.session, account, to)
    return AdvanceOut(**_clock(account).model_dump(), summary=AdvanceSummary(**summary))
