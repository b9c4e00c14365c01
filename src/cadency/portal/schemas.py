"""The portal configuration and portal sessions as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictStr, field_validator

from cadency.kit.i18n import N_
from cadency.kit.schemas import OutputModel, StrictModel
from cadency.subscriptions.schemas import CANCELLATION_REASONS, CancellationReason

ProductIds = Annotated[list[Annotated[StrictStr, Field(max_length=40)]], Field(max_length=50)]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(N_("each value may appear once"))
    return values


class PlanChange(StrictModel):
    """Switching plans: among `products` (recurring products of the library), prorated or not,
    now or at the end of the period. With `billing_period_change` off, only products billed as
    often as the current plan are offered."""

    enabled: StrictBool = False
    products: ProductIds = []
    billing_period_change: StrictBool = True
    proration: Literal["prorate", "none"] = "prorate"
    effective: Literal["now", "period_end"] = "now"

    _check_products = field_validator("products")(_unique)


class Cancellation(StrictModel):
    enabled: StrictBool = True
    mode: Literal["immediately", "at_period_end"] = "at_period_end"
    refund: Literal["none", "prorated", "full"] = "none"
    reasons: Annotated[list[CancellationReason], Field(min_length=1)] = list(
        CANCELLATION_REASONS  # type: ignore[arg-type]
    )

    _check_reasons = field_validator("reasons")(_unique)


class Feature(StrictModel):
    enabled: StrictBool = True


class PortalFeatures(StrictModel):
    plan_change: PlanChange = PlanChange()
    cancellation: Cancellation = Cancellation()
    payment_method_update: Feature = Feature()
    invoice_history: Feature = Feature()


# PATCH: each feature given is merged field by field into the stored one.
class PlanChangeUpdate(StrictModel):
    enabled: StrictBool | None = None
    products: ProductIds | None = None
    billing_period_change: StrictBool | None = None
    proration: Literal["prorate", "none"] | None = None
    effective: Literal["now", "period_end"] | None = None


class CancellationUpdate(StrictModel):
    enabled: StrictBool | None = None
    mode: Literal["immediately", "at_period_end"] | None = None
    refund: Literal["none", "prorated", "full"] | None = None
    reasons: Annotated[list[CancellationReason], Field(min_length=1)] | None = None


class FeatureUpdate(StrictModel):
    enabled: StrictBool | None = None


class PortalConfigurationUpdate(StrictModel):
    plan_change: PlanChangeUpdate | None = None
    cancellation: CancellationUpdate | None = None
    payment_method_update: FeatureUpdate | None = None
    invoice_history: FeatureUpdate | None = None


class PortalConfigurationOut(PortalFeatures):
    object: Literal["portal_configuration"] = "portal_configuration"
    updated_at: datetime | None


class PortalSessionCreate(StrictModel):
    return_url: (
        Annotated[StrictStr, Field(max_length=2000, pattern=r"^https?://[^\s]+$")] | None
    ) = Field(None, description="Where the portal's “Back” link leads")


class PortalSessionOut(OutputModel):
    object: Literal["portal_session"] = "portal_session"
    subscription_id: str
    url: str
    return_url: str | None
    expires_at: datetime
