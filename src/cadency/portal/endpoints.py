from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request

from cadency.accounts.auth import ApiContext, requires
from cadency.portal import service
from cadency.portal.schemas import (
    PortalConfigurationOut,
    PortalConfigurationUpdate,
    PortalFeatures,
    PortalSessionCreate,
    PortalSessionOut,
)

router = APIRouter(tags=["portal"])
VIEW, EDIT = "subscriptions.view", "subscriptions.edit"
# What buyers may do to their subscriptions is an account setting.
CONFIGURE = "billing.edit"


def _configuration(features: PortalFeatures, updated_at: datetime | None) -> PortalConfigurationOut:
    return PortalConfigurationOut(**features.model_dump(), updated_at=updated_at)


@router.get("/portal-configuration", response_model=PortalConfigurationOut)
def get_portal_configuration(ctx: ApiContext = Depends(requires(VIEW))) -> PortalConfigurationOut:
    return _configuration(*service.get_configuration(ctx.session, ctx.account))


@router.patch("/portal-configuration", response_model=PortalConfigurationOut)
def update_portal_configuration(
    body: PortalConfigurationUpdate, ctx: ApiContext = Depends(requires(CONFIGURE))
) -> PortalConfigurationOut:
    features, updated_at = service.update_configuration(ctx.session, ctx.account, body)
    ctx.session.commit()
    return _configuration(features, updated_at)


@router.post("/subscriptions/{subscription_id}/portal-session", response_model=PortalSessionOut)
def create_portal_session(
    request: Request,
    subscription_id: str,
    body: PortalSessionCreate | None = None,
    ctx: ApiContext = Depends(requires(EDIT)),
) -> PortalSessionOut:
    return_url = body.return_url if body else None
    subscription, link = service.create_session(
        ctx.session, ctx.account, subscription_id, return_url
    )
    ctx.session.commit()
    base_url = str(request.app.state.settings.base_url).rstrip("/")
    return PortalSessionOut(
        subscription_id=subscription.id,
        url=f"{base_url}{link.path}",
        return_url=return_url,
        expires_at=link.expires_at,
    )
