"""Shapes of the analytics series in the API (API.md "Analytics")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cadency.kit.schemas import OutputModel


class MrrPoint(OutputModel):
    period: str  # YYYY-MM, or YYYY-MM-DD by day
    mrr: str  # at the end of the period
    arr: str
    # The period's movements, signed (contraction and churned are negative).
    new: str
    expansion: str
    contraction: str
    churned: str
    reactivated: str
    net_new: str
    active_subscriptions: int
    new_subscriptions: int
    churned_subscriptions: int


class MrrSeries(OutputModel):
    object: Literal["analytics.mrr"] = "analytics.mrr"
    currency: str
    interval: Literal["month", "day"]
    data: list[MrrPoint]


class ChurnPoint(OutputModel):
    period: str
    # Decimal strings ("0.0425"); null when nothing had MRR at the start of the period.
    logo_churn_rate: str | None
    revenue_churn_rate: str | None
    net_revenue_retention: str | None


class ChurnSeries(OutputModel):
    object: Literal["analytics.churn"] = "analytics.churn"
    currency: str
    interval: Literal["month", "day"]
    data: list[ChurnPoint]


class PaymentsPoint(OutputModel):
    period: str
    failed: int  # invoices whose first failed payment fell in the period
    recovered: int  # of those, paid since
    recovery_rate: str | None  # recovered ÷ failed; null when none failed
    collected: str  # succeeded payments, before refunds


class PaymentsSeries(OutputModel):
    object: Literal["analytics.payments"] = "analytics.payments"
    currency: str
    interval: Literal["month", "day"]
    data: list[PaymentsPoint]


class ReasonRow(OutputModel):
    """One reason's cancellations. A cancellation that gave several reasons counts, with all
    the MRR it took, under each: the rows then add up to more than the cancellations."""

    reason: str  # a cancellation reason, or "unknown" when none was given
    count: int = Field(description="Canceled subscriptions that gave this reason")
    mrr: str = Field(description="The MRR those subscriptions took with them")


class ReasonsOut(OutputModel):
    object: Literal["analytics.cancellation_reasons"] = "analytics.cancellation_reasons"
    currency: str
    data: list[ReasonRow]
