"""Who is looking at a page: the session cookie decides the user and account; the user's
permissions decide what the page may show and do. Forms must echo the session's CSRF token."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.auth import get_session
from cadency.accounts.models import Account, User, grants
from cadency.kit import clock, i18n
from cadency.kit.errors import APIError, PermissionDenied

SESSION_COOKIE = "cadency_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(APIError):
    status_code = 403
    error_type = "permission"


@dataclass
class PageContext:
    """Everything a page handler and its template need about the signed-in user."""

    session: Session
    account: Account
    user: User
    csrf_token: str
    language: str
    fmt: i18n.Formatter
    permissions: set[str] = field(default_factory=set)

    def allows(self, permission: str) -> bool:
        return grants(self.permissions, permission)

    def require(self, permission: str) -> None:
        if not self.allows(permission):
            raise PermissionDenied(
                self.gettext("You need the '%(permission)s' permission for this.")
                % {"permission": permission}
            )

    def gettext(self, message: str) -> str:
        """A catalog message in the page's language; a kit.i18n.Message (a service's refusal)
        with its values."""
        return i18n.say(message, i18n.translations(self.language).gettext)

    @property
    def today(self) -> date:
        return clock.account_today(self.account)

    @property
    def now(self) -> datetime:
        return clock.account_now(self.account)


def _signed_in(request: Request, session: Session = Depends(get_session)) -> PageContext:
    token = request.cookies.get(SESSION_COOKIE)
    found = account_service.find_session(session, token) if token else None
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    row, user, account = found
    language = i18n.choose_language(
        user.language, request.headers.get("accept-language"), account.language
    )
    page = PageContext(
        session=session,
        account=account,
        user=user,
        csrf_token=row.csrf_token,
        language=language,
        fmt=i18n.Formatter(i18n.babel_locale(language, account.locale)),
        permissions=set(user.permissions),
    )
    request.state.page = page
    return page


async def page_context(request: Request, page: PageContext = Depends(_signed_in)) -> PageContext:
    """The signed-in user's context; every state-changing request must carry the CSRF token
    (form field `csrf_token`, or the `X-CSRF-Token` header that htmx sends)."""
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not sent or not hmac.compare_digest(sent, page.csrf_token):
            raise CsrfFailed(page.gettext("This form has expired. Reload the page and try again."))
    return page


def page_requires(permission: str) -> Callable[..., Any]:
    """A page dependency that also checks one permission, on the server, for GET and POST."""

    async def dependency(page: PageContext = Depends(page_context)) -> PageContext:
        page.require(permission)
        return page

    return dependency


def login_redirect_target(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")
