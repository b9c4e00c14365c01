"""Settings pages of the accounts package: the account's settings (API.md "Account settings"),
its users and their permissions (SPEC §2), and each user's own profile. Thin handlers: parse the
form, authorise, call `accounts.service` (as the REST endpoints do), render."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts import service
from cadency.accounts.auth import get_session
from cadency.accounts.models import PERMISSIONS, Account, User
from cadency.accounts.schemas import AccountSettingsUpdate
from cadency.kit import clock, i18n, throttle
from cadency.kit.i18n import N_
from cadency.kit.periods import add_days, local_date, start_of_day_utc
from cadency.kit.schemas import MAX_TAX_IDS
from cadency.kit.throttle import Limiter
from cadency.payments import processor
from cadency.plans import service as plans
from cadency.web.auth import SESSION_COOKIE, PageContext, page_context
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, checked, form_data, text
from cadency.web.pages import _public_language as public_language
from cadency.web.sections import SECTIONS, edits, reads
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

# Who opens and changes these pages: web/sections.py ("account", "users", "api_keys").
EDIT_SETTINGS = SECTIONS["account"].edit

PERMISSION_LABELS = {
    "subscriptions.view": N_("View subscriptions"),
    "subscriptions.edit": N_("Edit subscriptions"),
    "subscriptions.delete": N_("Delete subscriptions"),
    "subscriptions.export": N_("Export subscriptions"),
    "line_items.create_custom": N_("Create custom line items"),
    "properties.edit": N_("Edit property settings"),
    "properties.view_sensitive": N_("View sensitive properties"),
    "billing.edit": N_("Edit billing and account settings"),
    "analytics.view": N_("View analytics"),
    "super_admin": N_("Super admin"),
}
PERMISSION_HINTS = {
    "subscriptions.view": N_("See subscriptions, their invoices, payments and timeline."),
    "subscriptions.edit": N_("Create, change, pause, resume and cancel subscriptions."),
    "subscriptions.delete": N_("Delete canceled and expired subscriptions."),
    "subscriptions.export": N_("Download subscriptions as spreadsheet files."),
    "line_items.create_custom": N_("Add line items that are not from the product library."),
    "properties.edit": N_("Create, change and delete custom properties."),
    "properties.view_sensitive": N_(
        "See, filter and sort by the values of properties marked sensitive; others see them masked."
    ),
    "billing.edit": N_("Change the account settings and the account's own plan."),
    "analytics.view": N_("See recurring revenue, churn and payment recovery over time."),
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
def account_settings(request: Request, page: PageContext = Depends(reads("account"))) -> Response:
    """Everyone signed in may read the settings; the form saves only for those who may edit."""
    return _settings_page(request, page, _settings_values(page.account), {})


@router.post("/settings/account")
def save_account_settings(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("account")),
) -> Response:
    values: dict[str, Any] = {key: _raw(form, key) for key in _settings_values(page.account)}
    values["renewal_reminders"] = checked(form, "renewal_reminders")
    # One input per tax ID; an emptied row is a removed one.
    values["tax_ids"] = [v.strip() for v in form.getlist("tax_ids") if isinstance(v, str)]
    values["tax_ids"] = [tax_id for tax_id in values["tax_ids"] if tax_id]
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
        "bank_transfer_details": account.bank_transfer_details or "",
        "default_invoice_comment": account.default_invoice_comment or "",
        "tax_ids": list(account.tax_ids or []),
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
    for name in ("bank_transfer_details", "default_invoice_comment"):
        wanted[name] = values[name].replace("\r\n", "\n")
    wanted["tax_ids"] = values["tax_ids"]
    if errors:
        raise FormInvalid(errors)
    current = _settings_values(account)
    current["dunning_retry_days"] = list(account.dunning_retry_days)
    wanted_changes = {name: value for name, value in wanted.items() if value != current[name]}
    changes = build(AccountSettingsUpdate, wanted_changes).model_dump(exclude_unset=True)
    for name in ("bank_transfer_details", "default_invoice_comment"):
        # build() leaves out empty text; an emptied field means "none".
        if wanted_changes.get(name) == "":
            changes[name] = None
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
        "max_tax_ids": MAX_TAX_IDS,
    }
    return render(request, "accounts/settings.html", context, status_code=status_code)


# ---------------------------------------------------------------------------------------------
# Users


@router.get("/settings/users")
def users(request: Request, page: PageContext = Depends(reads("users"))) -> Response:
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
def new_user(request: Request, page: PageContext = Depends(edits("users"))) -> Response:
    values = {"email": "", "permissions": ["subscriptions.view"]}
    return _user_form(request, page, None, values, {})


@router.post("/settings/users/new")
def create_user(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("users")),
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
    request: Request, user_id: int, page: PageContext = Depends(edits("users"))
) -> Response:
    user = service.get_user(page.session, page.account.id, user_id)
    values = {"email": user.email, "permissions": list(user.permissions)}
    return _user_form(request, page, user, values, {})


@router.post("/settings/users/{user_id}")
def save_user(
    request: Request,
    user_id: int,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("users")),
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
    request: Request, user_id: int, page: PageContext = Depends(edits("users"))
) -> Response:
    return _set_active(request, page, user_id, active=False)


@router.post("/settings/users/{user_id}/reactivate")
def reactivate_user(
    request: Request, user_id: int, page: PageContext = Depends(edits("users"))
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
        "permission_choices": _permission_choices(page),
    }
    return render(request, "accounts/user_form.html", context, status_code=status_code)


def _permission_choices(page: PageContext) -> list[tuple[str, str, str]]:
    """(permission, label, hint) in the page's language, for the user and API key forms."""
    return [
        (key, page.gettext(PERMISSION_LABELS[key]), page.gettext(PERMISSION_HINTS[key]))
        for key in PERMISSIONS
    ]


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


@router.post("/settings/profile/password")
def change_password(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_context),
) -> Response:
    """Change one's own password; the user's other browsers are signed out, this one stays."""
    current, new = _password(form, "current_password"), _password(form, "new_password")
    errors: FormErrors = {}
    if not current:
        errors["current_password"] = page.gettext("Enter your current password.")
    if new != _password(form, "new_password_again"):
        errors["new_password_again"] = page.gettext("The two new passwords are not the same.")
    try:
        if errors:
            raise FormInvalid(errors)
        attempt(
            lambda: service.change_password(
                page.session,
                page.user,
                current_password=current,
                new_password=new,
                keep_session=request.cookies.get(SESSION_COOKIE, ""),
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        shown = _translated(page.gettext, invalid.errors)
        return _profile_page(
            request,
            page,
            page.user.language or "",
            page.user.notify_payments,
            {},
            password_errors=_shown_errors(shown, set(PASSWORD_FIELDS)),
            status_code=422,
        )
    page.session.commit()
    message = page.gettext("Your password was changed. Your other sessions were signed out.")
    return redirect("/settings/profile", flash=message)


def _profile_page(
    request: Request,
    page: PageContext,
    language: str,
    notify_payments: bool,
    errors: FormErrors,
    status_code: int = 200,
    password_errors: FormErrors | None = None,
) -> Response:
    context = {
        "password_errors": password_errors or {},
        "min_password_length": service.MIN_PASSWORD_LENGTH,
        "language": language,
        "notify_payments": notify_payments,
        # Payment emails go to super admins only (SPEC §5); others have nothing to turn off.
        "receives_payment_emails": "super_admin" in page.user.permissions,
        "errors": errors,
        "language_choices": list(i18n.LANGUAGE_NAMES.items()),
        "permission_labels": _choices(page, PERMISSION_LABELS),
    }
    return render(request, "accounts/profile.html", context, status_code=status_code)


# ---------------------------------------------------------------------------------------------
# API keys (super admins; the same rules as POST /api-keys)


@router.get("/settings/api-keys")
def api_keys(request: Request, page: PageContext = Depends(reads("api_keys"))) -> Response:
    return _api_keys_page(request, page)


def _api_keys_page(request: Request, page: PageContext, status_code: int = 200) -> Response:
    # A page holds every key: an account has at most MAX_ACTIVE_API_KEYS active ones.
    rows, _more, _cursor = service.list_api_keys(
        page.session, page.account, limit=service.MAX_ACTIVE_API_KEYS * 2, cursor=None
    )
    now = clock.real_now()
    context = {
        "keys": rows,
        "expired": {key.id for key in rows if service.api_key_expired(key, now)},
        "timezone": page.account.timezone,
        "permission_labels": _choices(page, PERMISSION_LABELS),
    }
    return render(request, "accounts/api_keys.html", context, status_code=status_code)


@router.get("/settings/api-keys/new")
def new_api_key(request: Request, page: PageContext = Depends(edits("api_keys"))) -> Response:
    values = {"name": "", "scopes": [], "expires_on": ""}
    return _api_key_form(request, page, values, {})


@router.post("/settings/api-keys/new")
def create_api_key(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits("api_keys")),
) -> Response:
    name = text(form, "name") or ""
    scopes = [v for v in form.getlist("scopes") if isinstance(v, str)]
    expires_on = _raw(form, "expires_on")
    values = {"name": name, "scopes": scopes, "expires_on": expires_on}
    try:
        expires_at = _expiry(page, expires_on)
        required: FormErrors = {}
        if not name.strip():
            required["name"] = page.gettext("This field is required.")
        if not scopes:
            required["scopes"] = page.gettext("Choose at least one permission.")
        if required:
            raise FormInvalid(required)
        key, secret = attempt(
            lambda: service.create_api_key(
                page.session,
                page.account,
                name=name,
                scopes=scopes,
                created_by=page.user.email,
                creator_permissions=sorted(page.permissions),
                expires_at=expires_at,
            )
        )
    except FormInvalid as invalid:
        page.session.rollback()
        errors = _shown_errors(invalid.errors, {"name", "scopes", "expires_on"})
        return _api_key_form(request, page, values, errors, status_code=422)
    page.session.commit()
    # The secret is on this page only (not in a redirect, a cookie or a log): shown once.
    context = {"key": key, "secret": secret}
    return render(
        request,
        "accounts/api_key_created.html",
        context,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/settings/api-keys/{key_id}/revoke")
def revoke_api_key(
    request: Request, key_id: str, page: PageContext = Depends(edits("api_keys"))
) -> Response:
    key = service.get_api_key(page.session, page.account, key_id)
    service.revoke_api_key(page.session, key)
    page.session.commit()
    message = page.gettext("The API key %(name)s was revoked.") % {"name": key.name}
    return redirect("/settings/api-keys", flash=message)


def _expiry(page: PageContext, expires_on: str) -> datetime | None:
    """The form's last day (in the account's time zone) as the instant the key stops working:
    the start of the next day."""
    if not expires_on:
        return None
    try:
        last_day = date.fromisoformat(expires_on)
    except ValueError:
        raise FormInvalid(
            {"expires_on": page.gettext("Enter a date such as 2030-12-31.")}
        ) from None
    if last_day < local_date(clock.real_now(), page.account.timezone):
        raise FormInvalid({"expires_on": page.gettext("Choose today or a later day.")})
    return start_of_day_utc(add_days(last_day, 1), page.account.timezone)


def _api_key_form(
    request: Request,
    page: PageContext,
    values: Mapping[str, Any],
    errors: FormErrors,
    status_code: int = 200,
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "scope_choices": _permission_choices(page),
    }
    return render(request, "accounts/api_key_form.html", context, status_code=status_code)


# Passwords: the forms' fields, and resetting a forgotten one (public pages: no session)

PASSWORD_FIELDS = ("current_password", "new_password", "new_password_again")
# The service's messages about a new password, for the pages' catalogs (its English is the
# API's; a page shows them in the reader's language).
_PASSWORD_MESSAGES = (
    N_("The current password is not right"),
    N_("The new password needs at least %(count)s characters"),
    N_("The new password can have at most %(count)s characters"),
    N_("The new password must not be your email address"),
)
_COUNT = re.compile(r"\d+")


def _translated(gettext: Any, errors: FormErrors) -> FormErrors:
    """The service's (English) password messages in the page's language."""
    shown: FormErrors = {}
    for field, message in errors.items():
        count = _COUNT.search(message)
        template = _COUNT.sub("%(count)s", message) if count else message
        if template in _PASSWORD_MESSAGES:
            message = gettext(template) % ({"count": count.group()} if count else {})
        shown[field] = message
    return shown


def _password(form: FormData, name: str) -> str:
    # Passwords are taken as typed: no trimming, spaces may be part of them.
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.get("/password-reset")
def forgot_password_form(request: Request) -> Response:
    public_language(request)
    return render(
        request, "accounts/forgot_password.html", {"email": "", "sent": False, "errors": {}}
    )


def _reset_requests(request: Request, form: FormData = Depends(form_data)) -> int | None:
    """Count a reset request against its email and the client's address, whatever becomes of
    it: the seconds to wait when a limit is passed, else None. (Declared before get_session:
    on SQLite the request's session holds the write lock, and the counters are written on
    their own connection.)"""
    limiter: Limiter = request.app.state.limiter
    email = (text(form, "email") or "").strip().lower()
    verdicts = (
        limiter.hit("password_reset_per_email", throttle.identifier(email)),
        limiter.hit("password_reset_per_address", throttle.client_address(request.scope)),
    )
    waits = [verdict.reset_in for verdict in verdicts if not verdict.allowed]
    return max(waits) if waits else None


@router.post("/password-reset")
def forgot_password(
    request: Request,
    form: FormData = Depends(form_data),
    wait: int | None = Depends(_reset_requests),
    session: Session = Depends(get_session),
) -> Response:
    """Mail a reset link when the email has a login. The answer is the same either way, so
    the form does not tell who has an account."""
    language = public_language(request)
    email = text(form, "email") or ""
    if wait is not None:
        minutes = math.ceil(wait / 60)
        message = i18n.translations(language).ngettext(
            "Too many reset requests. Try again in %(num)s minute.",
            "Too many reset requests. Try again in %(num)s minutes.",
            minutes,
        ) % {"num": minutes}
        context = {"email": email, "sent": False, "errors": {"email": message}}
        return render(
            request,
            "accounts/forgot_password.html",
            context,
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    # Control characters (a NUL would fail the query on PostgreSQL) are never in an address.
    if "@" not in email or len(email) > 320 or not email.isprintable():
        message = i18n.translations(request.state.language).gettext(
            "Enter the email address you log in with."
        )
        context = {"email": email, "sent": False, "errors": {"email": message}}
        return render(request, "accounts/forgot_password.html", context, status_code=422)
    service.request_password_reset(session, email)
    session.commit()
    return render(
        request, "accounts/forgot_password.html", {"email": email, "sent": True, "errors": {}}
    )


@router.get("/password-reset/{token}")
def reset_password_form(
    request: Request, token: str, session: Session = Depends(get_session)
) -> Response:
    public_language(request)
    found = service.find_password_reset(session, token)
    if found is None:
        return _dead_link(request)
    return _reset_page(request, found[1].email, {})


@router.post("/password-reset/{token}")
def reset_password(
    request: Request,
    token: str,
    form: FormData = Depends(form_data),
    session: Session = Depends(get_session),
) -> Response:
    language = public_language(request)
    gettext = i18n.translations(language).gettext
    found = service.find_password_reset(session, token)
    if found is None:
        return _dead_link(request)
    new = _password(form, "new_password")
    try:
        if new != _password(form, "new_password_again"):
            raise FormInvalid(
                {"new_password_again": gettext("The two new passwords are not the same.")}
            )
        attempt(lambda: service.reset_password(session, token, new))
    except FormInvalid as invalid:
        session.rollback()
        errors = _shown_errors(_translated(gettext, invalid.errors), set(PASSWORD_FIELDS))
        return _reset_page(request, found[1].email, errors, status_code=422)
    session.commit()
    message = gettext("Your password was changed. Log in with the new one.")
    return redirect("/login", flash=message)


def _reset_page(
    request: Request, email: str, errors: FormErrors, status_code: int = 200
) -> Response:
    context = {
        "email": email,
        "errors": errors,
        "min_password_length": service.MIN_PASSWORD_LENGTH,
    }
    return render(request, "accounts/reset_password.html", context, status_code=status_code)


def _dead_link(request: Request) -> Response:
    """A used, expired or made-up link: say so (404) and offer a new one."""
    return render(request, "accounts/reset_link_invalid.html", {}, status_code=404)
