"""REST endpoints of the analytics (API.md "Analytics"); they need `analytics.view`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from cadency.accounts.auth import ApiContext, requires
from cadency.analytics import service
from cadency.analytics.schemas import (
    ChurnPoint,
    ChurnSeries,
    MrrPoint,
    MrrSeries,
    PaymentsPoint,
    PaymentsSeries,
    ReasonRow,
    ReasonsOut,
)

router = APIRouter(tags=["analytics"])
VIEW = "analytics.view"

Month = Annotated[str, Query(max_length=7, description="A month, YYYY-MM", examples=["2026-01"])]
Interval = Annotated[Literal["month", "day"], Query()]
Currency = Annotated[
    str | None, Query(max_length=3, description="An ISO 4217 code; the account's by default")
]


@dataclass(frozen=True)
class Asked:
    """What a series is asked for, checked: months, interval, currency."""

    ctx: ApiContext
    start: date
    end: date
    interval: Literal["month", "day"]
    currency: str


def _asked(
    start: Month,
    end: Month,
    interval: Interval = "month",
    currency: Currency = None,
    ctx: ApiContext = Depends(requires(VIEW)),
) -> Asked:
    return Asked(
        ctx,
        service.month(start, "start"),
        service.month(end, "end"),
        interval,
        service.currency_of(ctx.account, currency),
    )


def _read(asked: Asked, series: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One series of the analytics service, for what was asked."""
    return series(
        asked.ctx.session,
        asked.ctx.account,
        start=asked.start,
        end=asked.end,
        interval=asked.interval,
        currency=asked.currency,
    )


@router.get(
    "/analytics/mrr",
    response_model=MrrSeries,
    description="MRR and ARR at the end of each month (or day) from `start` to `end`, with the "
    "movements within it (new, expansion, contraction, churned, reactivated; signed), in one "
    "currency: no conversion. Read from the MRR movements ledger, rounded once, half-even.",
)
def mrr(asked: Asked = Depends(_asked)) -> MrrSeries:
    data = _read(asked, service.mrr_series)
    return MrrSeries(
        currency=asked.currency,
        interval=asked.interval,
        data=[MrrPoint.model_validate(p) for p in data],
    )


@router.get(
    "/analytics/churn",
    response_model=ChurnSeries,
    description="Logo churn, revenue churn and net revenue retention of each month (or day).",
)
def churn(asked: Asked = Depends(_asked)) -> ChurnSeries:
    data = _read(asked, service.churn_series)
    return ChurnSeries(
        currency=asked.currency,
        interval=asked.interval,
        data=[ChurnPoint.model_validate(p) for p in data],
    )


@router.get(
    "/analytics/payments",
    response_model=PaymentsSeries,
    description="Failed payments and their recovery, and what was collected, each month (or "
    "day): `failed` counts invoices whose first failed payment fell in the period, `recovered` "
    "those of them paid since, `collected` the succeeded payments (before refunds).",
)
def payments(asked: Asked = Depends(_asked)) -> PaymentsSeries:
    data = _read(asked, service.payments_series)
    return PaymentsSeries(
        currency=asked.currency,
        interval=asked.interval,
        data=[PaymentsPoint.model_validate(p) for p in data],
    )


@router.get(
    "/analytics/cancellation-reasons",
    response_model=ReasonsOut,
    description="Subscriptions canceled from `start` to `end` (months; by the day their MRR "
    "went) by the reason given, with the MRR they took; most MRR first. A cancellation that "
    "gave several reasons counts, with all its MRR, under each of them, so the counts and the "
    "MRR of the rows may add up to more than the cancellations.",
)
def cancellation_reasons(
    start: Month,
    end: Month,
    currency: Currency = None,
    ctx: ApiContext = Depends(requires(VIEW)),
) -> ReasonsOut:
    code = service.currency_of(ctx.account, currency)
    data = service.cancellation_reasons(
        ctx.session,
        ctx.account,
        start=service.month(start, "start"),
        end=service.month(end, "end"),
        currency=code,
    )
    return ReasonsOut(currency=code, data=[ReasonRow.model_validate(r) for r in data])
