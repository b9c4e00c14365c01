"""Settings pages of the accounts package: the account's settings (API.md "Account settings"),
its users and their permissions (SPEC §2), and each user's own profile. Thin handlers: parse the
form, authorise, call `accounts.service` (as the REST endpoints do), render."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cadency.accounts import service
from cadency.accounts.models import PERMISSIONS, Account, User
from cadency.accounts.schemas import AccountSettingsUpdate
from cadency.kit.periods import local_date
from cadency.payments import processor
from cadency.plans import service as plans
from cadency.web import i18n
from cadency.web.auth import PageContext, page_context, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, form_data, text
from cadency.web.i18n import N_
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

# Changing the account settings is the account's billing business (SPEC §2): super admins and
# holders of `billing.edit` (PageContext.allows lets super admins through).
EDIT_SETTINGS = "billing.edit"
MANAGE_USERS = "super_admin"

PERMISSION_LABELS = {
    "subscriptions.view": N_("View subscriptions"),
    "subscriptions.edit": N_("Edit subscriptions"),
    "subscriptions.delete": N_("Delete subscriptions"),
    "subscriptions.export": N_("Export subscriptions"),
    "line_items.create_custom": N_("Create custom line items"),
    "properties.edit": N_("Edit property settings"),
    "billing.edit": N_("Edit billing and account settings"),
    "super_admin": N_("Super admin"),
}
PERMISSION_HINTS = {
    "subscriptions.view": N_("See subscriptions, their invoices, payments and timeline."),
    "subscriptions.edit": N_("Create, change, pause, resume and cancel subscriptions."),
    "subscriptions.delete": N_("Delete canceled and expired subscriptions."),
    "subscriptions.export": N_("Download subscriptions as spreadsheet files."),
    "line_items.create_custom": N_("Add line items that are not from the product library."),
    "properties.edit": N_("Create, change and delete custom properties."),
    "billing.edit": N_("Change the account settings and the account's own plan."),
    "super_admin": N_("Every permission, including managing users."),
}
FINAL_ACTIONS = {
    "cancel": N_("Cancel the subscription"),
    "leave_unpaid": N_("Leave the subscription unpaid"),
    "pause": N_("Pause the subscription"),
}
INVOICE_ACTIONS = {
    "mark_uncollectible": N_("Mark the invoice uncollectible"),
    "leave_open": N_("Leave the invoice open"),
}
_RETRY_DAY = re.compile(r"\d{1,3}")
_WHOLE_NUMBER = re.compile(r"\d{1,6}")


@cache
def _timezones() -> list[str]:
    return sorted(available_timezones())


def _choices(page: PageContext, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(key, page.gettext(label)) for key, label in labels.items()]


# ---------------------------------------------------------------------------------------------
# Account settings


@router.get("/settings/account")
def account_settings(request: Request, page: PageContext = Depends(page_context)) -> Response:
    """Everyone signed in may read the settings; the form saves only for those who may edit."""
    return _settings_page(request, page, _settings_values(page.account), {})


@router.post("/settings/account")
def save_account_settings(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT_SETTINGS)),
) -> Response:
    values: dict[str, Any] = {key: _raw(form, key) for key in _settings_values(page.account)}
    values["renewal_reminders"] = checked(form, "renewal_reminders")
    try:
        changes = _settings_changes(page, page.account, values)
        attempt(lambda: service.update_settings(page.session, page.account, changes))
    except FormInvalid as invalid:
        # The service may have applied some fields before refusing another: undo them all.
        page.session.rollback()
        errors = _shown_errors(invalid.errors, set(values))
        return _settings_page(request, page, values, errors, status_code=422)
    page.session.commit()
    return redirect("/settings/account", flash=page.gettext("Account settings saved."))


def _shown_errors(errors: FormErrors, fields: set[str]) -> FormErrors:
    """Errors by the field that shows them ("dunning_retry_days.1" → its list's field); one
    no field shows goes to the top of the form, so no message is ever lost."""
    shown: FormErrors = {}
    for key, message in errors.items():
        field = key.split(".")[0]
        shown.setdefault(field if field in fields else "__all__", message)
    return shown


def _raw(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _settings_values(account: Account) -> dict[str, Any]:
    """The form's fields as they show the account's current settings."""
    reminder_days = account.renewal_reminder_days
    return {
        "timezone": account.timezone,
        "currency": account.currency,
        "language": account.language,
        "locale": account.locale,
        "renewal_reminders": reminder_days is not None,
        "renewal_reminder_days": str(reminder_days) if reminder_days is not None else "14",
        "dunning_retry_days": ", ".join(str(day) for day in account.dunning_retry_days),
        "dunning_final_action": account.dunning_final_action,
        "dunning_invoice_action": account.dunning_invoice_action,
        "invoice_number_prefix": account.invoice_number_prefix,
    }


def _settings_changes(
    page: PageContext, account: Account, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The PATCH /account/settings body this form amounts to: only the fields that changed,
    so changing the language alone also moves the locale to the language's default."""
    errors: FormErrors = {}
    wanted: dict[str, Any] = {}
    for name in (
        "timezone", "currency", "language", "locale", "dunning_final_action",
        "dunning_invoice_action", "invoice_number_prefix",
    ):  # fmt: skip
        if not values[name]:
            errors[name] = page.gettext("This field is required.")
        wanted[name] = values[name].upper() if name == "currency" else values[name]
    reminder_days: int | None = None
    if values["renewal_reminders"]:
        if _WHOLE_NUMBER.fullmatch(values["renewal_reminder_days"]):
            reminder_days = int(values["renewal_reminder_days"])
        else:
            errors["renewal_reminder_days"] = page.gettext(
                "Enter the number of days before the renewal as a whole number, e.g. 14."
            )
    retry_text = values["dunning_retry_days"]
    parts = [part.strip() for part in retry_text.split(",")] if retry_text else []
    if all(_RETRY_DAY.fullmatch(part) for part in parts):
        wanted["dunning_retry_days"] = [int(part) for part in parts]
    else:
        errors["dunning_retry_days"] = page.gettext(
            "Enter the retry days as whole numbers separated by commas, e.g. 3, 5, 7."
        )
    if errors:
        raise FormInvalid(errors)
    current = _settings_values(account)
    current["dunning_retry_days"] = list(account.dunning_retry_days)
    changes = {name: value for name, value in wanted.items() if value != current[name]}
    changes = build(AccountSettingsUpdate, changes).model_dump(exclude_unset=True)
    if reminder_days != account.renewal_reminder_days:
        # Validated apart: build() drops None, and None is how reminders are switched off.
        if reminder_days is not None:
            build(AccountSettingsUpdate, {"renewal_reminder_days": reminder_days})
        changes["renewal_reminder_days"] = reminder_days
    return changes


def _settings_page(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "can_edit": page.allows(EDIT_SETTINGS),
        "timezones": _timezones(),
        "final_actions": _choices(page, FINAL_ACTIONS),
        "invoice_actions": _choices(page, INVOICE_ACTIONS),
        "payments_available": processor.processor_for(page.account) is not None,
    }
    return render(request, "accounts/settings.html", context, status_code=status_code)


# ---------------------------------------------------------------------------------------------
# Users


@router.get("/settings/users")
def users(request: Request, page: PageContext = Depends(page_requires(MANAGE_USERS))) -> Response:
    return _users_page(request, page)


def _users_page(
    request: Request, page: PageContext, error: str | None = None, status_code: int = 200
) -> Response:
    rows = service.list_users(page.session, page.account.id)
    context = {
        "users": rows,
        "created": {user.id: local_date(user.created_at, page.account.timezone) for user in rows},
        "permission_labels": _choices(page, PERMISSION_LABELS),
        "error": error,
        "seat_holders": {user.id for user in plans.seat_holders(page.session, page.account)},
    }
    return render(request, "accounts/users.html", context, status_code=status_code)


@router.get("/settings/users/new")
def new_user(
    request: Request, page: PageContext = Depends(page_requires(MANAGE_USERS))
) -> Response:
    values = {"email": "", "permissions": ["subscriptions.view"]}
    return _user_form(request, page, None, values, {})


@router.post("/settings/users/new")
def create_user(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(MANAGE_USERS)),
) -> Response:
    permissions = _permissions(form)
    email = text(form, "email") or ""
    values = {"email": email, "permissions": permissions}
    password = form.get("password")
    try:
        if not permissions:
            raise FormInvalid({"permissions": page.gettext("Choose at least one permission.")})
        user = attempt(
            lambda: service.create_user(
                page.session,
                page.account,
                email=email,
                password=password if isinstance(password, str) else "",
                permissions=permissions,
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        renamed = {"permissions" if k == "permission" else k: m for k, m in invalid.errors.items()}
        errors = _shown_errors(renamed, {"email", "password", "permissions"})
        return _user_form(request, page, None, values, errors, status_code=422)
    page.session.commit()
    message = page.gettext("User %(email)s added. They can now log in.") % {"email": user.email}
    return redirect("/settings/users", flash=message)


@router.get("/settings/users/{user_id}")
def edit_user(
    request: Request, user_id: int, page: PageContext = Depends(page_requires(MANAGE_USERS))
) -> Response:
    user = service.get_user(page.session, page.account.id, user_id)
    values = {"email": user.email, "permissions": list(user.permissions)}
    return _user_form(request, page, user, values, {})


@router.post("/settings/users/{user_id}")
def save_user(
    request: Request,
    user_id: int,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(MANAGE_USERS)),
) -> Response:
    user = service.get_user(page.session, page.account.id, user_id)
    permissions = _permissions(form)
    try:
        attempt(
            lambda: service.set_permissions(
                page.session, user, permissions, acting_user_id=page.user.id
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        values = {"email": user.email, "permissions": permissions}
        errors = _shown_errors(invalid.errors, {"permissions"})
        return _user_form(request, page, user, values, errors, status_code=422)
    page.session.commit()
    message = page.gettext("Permissions of %(email)s saved.") % {"email": user.email}
    return redirect("/settings/users", flash=message)


@router.post("/settings/users/{user_id}/deactivate")
def deactivate_user(
    request: Request, user_id: int, page: PageContext = Depends(page_requires(MANAGE_USERS))
) -> Response:
    return _set_active(request, page, user_id, active=False)


@router.post("/settings/users/{user_id}/reactivate")
def reactivate_user(
    request: Request, user_id: int, page: PageContext = Depends(page_requires(MANAGE_USERS))
) -> Response:
    return _set_active(request, page, user_id, active=True)


def _set_active(request: Request, page: PageContext, user_id: int, *, active: bool) -> Response:
    user = service.get_user(page.session, page.account.id, user_id)
    try:
        attempt(lambda: service.set_active(page.session, user, active, acting_user_id=page.user.id))
    except FormInvalid as invalid:
        page.session.rollback()
        message = next(iter(invalid.errors.values()))
        return _users_page(request, page, error=message, status_code=409)
    page.session.commit()
    if active:
        message = page.gettext("%(email)s can log in again.")
    else:
        message = page.gettext("%(email)s was deactivated and signed out.")
    return redirect("/settings/users", flash=message % {"email": user.email})


def _permissions(form: FormData) -> list[str]:
    return [value for value in form.getlist("permissions") if isinstance(value, str)]


def _user_form(
    request: Request,
    page: PageContext,
    user: User | None,
    values: Mapping[str, Any],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    context = {
        "user": user,
        "values": values,
        "errors": errors,
        "permission_choices": [
            (key, page.gettext(PERMISSION_LABELS[key]), page.gettext(PERMISSION_HINTS[key]))
            for key in PERMISSIONS
        ],
    }
    return render(request, "accounts/user_form.html", context, status_code=status_code)


# ---------------------------------------------------------------------------------------------
# The signed-in user's own profile


@router.get("/settings/profile")
def profile(request: Request, page: PageContext = Depends(page_context)) -> Response:
    return _profile_page(request, page, page.user.language or "", page.user.notify_payments, {})


@router.post("/settings/profile")
def save_profile(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_context),
) -> Response:
    chosen = _raw(form, "language")
    notify_payments = checked(form, "notify_payments")
    if chosen and chosen not in i18n.LANGUAGES:
        errors = {"language": page.gettext("Choose one of the languages in the list.")}
        return _profile_page(request, page, chosen, notify_payments, errors, status_code=422)
    service.set_user_language(page.session, page.user, chosen or None)
    if "super_admin" in page.user.permissions:  # only they see (and post) the checkbox
        service.set_payment_notifications(page.session, page.user, notify_payments)
    page.session.commit()
    # The confirmation speaks the language the next page will have.
    language = i18n.choose_language(
        page.user.language, request.headers.get("accept-language"), page.account.language
    )
    message = i18n.translations(language).gettext("Your profile was saved.")
    return redirect("/settings/profile", flash=message)


def _profile_page(
    request: Request,
    page: PageContext,
    language: str,
    notify_payments: bool,
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    context = {
        "language": language,
        "notify_payments": notify_payments,
        # Payment emails go to super admins only (SPEC §5); others have nothing to turn off.
        "receives_payment_emails": "super_admin" in page.user.permissions,
        "errors": errors,
        "language_choices": list(i18n.LANGUAGE_NAMES.items()),
        "permission_labels": _choices(page, PERMISSION_LABELS),
    }
    return render(request, "accounts/profile.html", context, status_code=status_code)
