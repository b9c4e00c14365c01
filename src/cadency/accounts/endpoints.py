from __future__ import annotations

from fastapi import APIRouter, Depends

from cadency.accounts import service
from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.accounts.models import Account
from cadency.accounts.schemas import (
    AccountSettings,
    AccountSettingsUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
)
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.errors import InvalidRequest
from cadency.kit.schemas import ListResponse

router = APIRouter(tags=["account"])


def _present(account: Account) -> AccountSettings:
    return AccountSettings(
        account_id=account.id,
        name=account.name,
        mode=account.mode,
        timezone=account.timezone,
        currency=account.currency,
        language=account.language,
        locale=account.locale,
        renewal_reminder_days=account.renewal_reminder_days,
        dunning_retry_days=list(account.dunning_retry_days),
        dunning_final_action=account.dunning_final_action,
        dunning_invoice_action=account.dunning_invoice_action,
        invoice_number_prefix=account.invoice_number_prefix,
        bank_transfer_details=account.bank_transfer_details,
        default_invoice_comment=account.default_invoice_comment,
        tax_ids=list(account.tax_ids or []),
    )


@router.get("/account/settings", response_model=AccountSettings)
def get_settings(ctx: ApiContext = Depends(api_context)) -> AccountSettings:
    return _present(ctx.account)


@router.patch("/account/settings", response_model=AccountSettings)
def update_settings(
    body: AccountSettingsUpdate, ctx: ApiContext = Depends(requires("billing.edit"))
) -> AccountSettings:
    # The same permission as the settings page: account settings go with the account's billing.
    changes = body.model_dump(exclude_unset=True)
    # null switches reminders off, and removes the default comment; elsewhere it means nothing.
    for name, value in changes.items():
        if value is None and name not in ("renewal_reminder_days", "default_invoice_comment"):
            raise InvalidRequest("'%(name)s' cannot be null", name=name, param=name)
    service.update_settings(ctx.session, ctx.account, changes)
    ctx.session.commit()
    return _present(ctx.account)


# ---------------------------------------------------------------------------------------------
# API keys: super admin keys manage them (SPEC §2).

MANAGE_KEYS = "super_admin"
_KEYS_INTRO = "Needs a key with the super_admin scope. "


@router.get(
    "/api-keys",
    response_model=ListResponse[ApiKeyOut],
    tags=["api keys"],
    description=_KEYS_INTRO + "The account's API keys, revoked ones included, newest first. "
    "Secrets are never listed, only their first characters (`prefix`).",
)
def list_api_keys(
    ctx: ApiContext = Depends(requires(MANAGE_KEYS)),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> ListResponse[ApiKeyOut]:
    rows, has_more, next_cursor = service.list_api_keys(
        ctx.session, ctx.account, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[ApiKeyOut.of(key) for key in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    tags=["api keys"],
    description=_KEYS_INTRO + "Make a key with a name, scopes (permission names, or "
    '["super_admin"]) and an optional expiry. The answer carries the secret in `key`: it is '
    "shown this once and stored only as a SHA-256 hash. A key cannot grant a permission its "
    "creator lacks (403 naming it). `Idempotency-Key` is not honoured here: replaying the "
    "answer would mean storing the secret; a retried request makes a second key (revoke one).",
)
def create_api_key(
    body: ApiKeyCreate, ctx: ApiContext = Depends(requires(MANAGE_KEYS))
) -> ApiKeyCreated:
    key, secret = service.create_api_key(
        ctx.session,
        ctx.account,
        name=body.name,
        scopes=body.scopes,
        created_by=ctx.api_key.id if ctx.api_key else None,
        creator_permissions=sorted(ctx.scopes),
        expires_at=body.expires_at,
    )
    ctx.session.commit()
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.get(
    "/api-keys/{key_id}",
    response_model=ApiKeyOut,
    tags=["api keys"],
    description=_KEYS_INTRO + "One API key, without its secret.",
)
def get_api_key(key_id: str, ctx: ApiContext = Depends(requires(MANAGE_KEYS))) -> ApiKeyOut:
    return ApiKeyOut.of(service.get_api_key(ctx.session, ctx.account, key_id))


@router.delete(
    "/api-keys/{key_id}",
    response_model=ApiKeyOut,
    tags=["api keys"],
    description=_KEYS_INTRO + "Revoke a key: from the next request on it is refused with 401. "
    "Answers the key with its `revoked_at`; revoking a revoked key changes nothing.",
)
def revoke_api_key(key_id: str, ctx: ApiContext = Depends(requires(MANAGE_KEYS))) -> ApiKeyOut:
    key = service.revoke_api_key(ctx.session, service.get_api_key(ctx.session, ctx.account, key_id))
    ctx.session.commit()
    return ApiKeyOut.of(key)
