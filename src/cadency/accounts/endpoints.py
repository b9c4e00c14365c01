from __future__ import annotations

from fastapi import APIRouter, Depends

from cadency.accounts import service
from cadency.accounts.auth import ApiContext, api_context, requires
from cadency.accounts.models import Account
from cadency.accounts.schemas import AccountSettings, AccountSettingsUpdate
from cadency.kit.errors import InvalidRequest

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
    # null switches reminders off; it is the only field where null means something.
    for name, value in changes.items():
        if value is None and name != "renewal_reminder_days":
            raise InvalidRequest(f"'{name}' cannot be null", param=name)
    service.update_settings(ctx.session, ctx.account, changes)
    ctx.session.commit()
    return _present(ctx.account)
