"""API shapes of events, webhook endpoints and deliveries (API.md "Webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictStr

from cadency.kit.schemas import OptionalText, OutputModel, StrictModel
from cadency.webhooks.models import WebhookDelivery, WebhookEndpoint
from cadency.webhooks.service import MAX_DESCRIPTION, MAX_URL

Url = Annotated[StrictStr, Field(min_length=1, max_length=MAX_URL)]
EventTypes = Annotated[
    list[Annotated[StrictStr, Field(max_length=64)]],
    Field(min_length=1, max_length=100, examples=[["subscription.created", "invoice.paid"]]),
]


class EndpointCreate(StrictModel):
    url: Url
    description: Annotated[OptionalText, Field(max_length=MAX_DESCRIPTION)] | None = None
    enabled_events: EventTypes = Field(description='Event types, or ["*"] for all')


class EndpointUpdate(StrictModel):
    url: Url | None = None
    description: Annotated[OptionalText, Field(max_length=MAX_DESCRIPTION)] | None = None
    enabled_events: EventTypes | None = None
    status: Literal["enabled", "disabled"] | None = None


class EndpointOut(OutputModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    description: str | None
    enabled_events: list[str]
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    secret: str | None = Field(
        None, description="Only in the answer that made it (create, roll-secret)"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            enabled_events=list(endpoint.enabled_events or []),
            status="enabled" if endpoint.status == "enabled" else "disabled",
            disabled_reason=endpoint.disabled_reason,
            secret=secret,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class DeliveryOut(OutputModel):
    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    status: Literal["pending", "retrying", "succeeded", "failed"]
    response_status: int | None
    response_body: str | None
    duration_ms: int | None
    error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls.model_validate(delivery, from_attributes=True)


class EventOut(BaseModel):
    id: str
    object: Literal["event"] = "event"
    type: str
    created_at: str
    data: dict[str, Any]
