from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel

from cadency.kit.schemas import StrictModel


class ClockOut(BaseModel):
    now: datetime
    mode: str
    timezone: str
    today: str


class AdvanceRequest(StrictModel):
    to: AwareDatetime


class AdvanceSummary(BaseModel):
    subscriptions_processed: int
    subscriptions_failed: int
    invoices_created: int
    payments_created: int


class AdvanceOut(ClockOut):
    summary: AdvanceSummary
