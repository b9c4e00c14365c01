"""Pages that belong to no business package: sign-in, sign-out, the user's language, errors."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.auth import get_session
from cadency.kit import clock, i18n, signing, throttle
from cadency.kit.i18n import N_
from cadency.kit.throttle import Limiter
from cadency.web import sections
from cadency.web.auth import (
    SESSION_COOKIE,
    LoginRequired,
    PageContext,
    login_redirect_target,
    page_context,
)
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)

# The browser's cookie before it signs in, which the login form's CSRF token is bound to.
LOGIN_COOKIE = "cadency_login"
LOGIN_FORM_PURPOSE = "login_form"
LOGIN_FORM_LIFETIME = timedelta(hours=12)


def _safe_next(url: str | None) -> str:
    """Only paths on this site: a login link must not send the user elsewhere. Without one,
    "/": the first section the user can open."""
    if not url:
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return "/"
    return url


def _public_language(request: Request) -> str:
    language = i18n.choose_language(None, request.headers.get("accept-language"), None)
    request.state.language = language
    return language


@router.get("/")
def home(page: PageContext = Depends(page_context)) -> Response:
    # Not every user may see subscriptions: the first section this user can open.
    return RedirectResponse(sections.home_path(page), status_code=303)


@router.get("/login")
def login_form(
    request: Request, next: str | None = None, session: Session = Depends(get_session)
) -> Response:
    _public_language(request)
    pre_session = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    context = {"next_url": _safe_next(next), "email": "", "error": None}
    response = _login_page(request, session, pre_session, context)
    session.commit()  # the first page of a new installation may have made the signing secret
    return response


def _login_page(
    request: Request,
    session: Session,
    pre_session: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The login form, with a CSRF token bound to the browser's pre-session cookie (set
    here), so another site cannot sign a visitor into an account of its choosing."""
    expires_at = clock.real_now() + LOGIN_FORM_LIFETIME
    payload = {"browser": _digest(pre_session)}
    token = signing.sign(session, LOGIN_FORM_PURPOSE, payload, expires_at)
    response = render(
        request, "login.html", {**context, "csrf_token": token}, status_code=status_code
    )
    response.headers.update(headers or {})
    response.set_cookie(
        LOGIN_COOKIE,
        pre_session,
        max_age=int(LOGIN_FORM_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _login_token_valid(session: Session, pre_session: str | None, sent: str) -> bool:
    if not pre_session or not sent:
        return False
    try:
        payload = signing.unsign(session, LOGIN_FORM_PURPOSE, sent)
    except signing.BadSignature:
        return False
    return hmac.compare_digest(str(payload.get("browser", "")), _digest(pre_session))


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    # Not get_session: on SQLite it takes the write lock first, and the failure counters
    # are written on their own connection (they must stay counted when nothing else is
    # written), which would then wait for this very request. Until the sign-in itself this
    # handler only reads.
    with request.app.state.session_factory() as session:
        return _sign_in(request, session, email, password, next, csrf_token)


def _sign_in(
    request: Request, session: Session, email: str, password: str, next: str, csrf_token: str
) -> Response:
    language = _public_language(request)
    translate = i18n.translations(language)
    pre_session = request.cookies.get(LOGIN_COOKIE)
    context = {"next_url": _safe_next(next), "email": email}
    if not _login_token_valid(session, pre_session, csrf_token):
        message = translate.gettext("This form has expired. Reload the page and try again.")
        return _login_page(
            request,
            session,
            pre_session or secrets.token_urlsafe(32),
            {**context, "error": message},
            status_code=403,
        )
    assert pre_session is not None
    # Failed logins count per email and per client address; past either limit every login
    # of that email (or from that address) is refused, right password or not, until the
    # window ends.
    limiter: Limiter = request.app.state.limiter
    counted = (
        ("login_per_email", throttle.identifier(email.strip().lower())),
        ("login_per_address", throttle.client_address(request.scope)),
    )
    locked = [v for v in (limiter.peek(n, who) for n, who in counted) if not v.allowed]
    if locked:
        wait = max(v.reset_in for v in locked)
        minutes = math.ceil(wait / 60)
        message = translate.ngettext(
            "Too many failed logins. Try again in %(num)s minute.",
            "Too many failed logins. Try again in %(num)s minutes.",
            minutes,
        ) % {"num": minutes}
        return _login_page(
            request,
            session,
            pre_session,
            {**context, "error": message},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    user = account_service.authenticate(session, email, password) if email and password else None
    if user is None:
        for name, who in counted:
            limiter.hit(name, who)
        message = translate.gettext("Wrong email or password.")
        return _login_page(request, session, pre_session, {**context, "error": message}, 401)
    limiter.clear("login_per_email", counted[0][1])
    token, _ = account_service.start_session(session, user)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(account_service.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, page: PageContext = Depends(page_context)) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        account_service.end_session(page.session, token)
        page.session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/me/language")
def set_language(
    language: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
    page: PageContext = Depends(page_context),
) -> Response:
    # An unknown code clears the preference, so the browser's language applies again.
    page.user.language = language if language in i18n.LANGUAGES else None
    page.session.commit()
    return redirect(_safe_next(next))


_TITLES = {
    400: N_("Bad request"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Not possible right now"),
    422: N_("Please check your input"),
    500: N_("Something went wrong"),
}


def _back_url(request: Request) -> str:
    """The page the user came from, when it is one of ours; the index otherwise."""
    referer = urlsplit(request.headers.get("referer") or "")
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/subscriptions"
    path = referer.path + (f"?{referer.query}" if referer.query else "")
    return _safe_next(path or None)


def render_error(request: Request, status: int, message: str) -> Response:
    """Every page error as a page: what went wrong, in the user's language, with a way back."""
    page = getattr(request.state, "page", None)
    language = page.language if page else _public_language(request)
    translate = i18n.translations(language).gettext
    context = {
        "title": translate(_TITLES.get(status, "Something went wrong")),
        "message": translate(_TITLES[500]) if status == 500 else i18n.say(message, translate),
        "back_url": _back_url(request),
    }
    return render(request, "error.html", context, status_code=status)


def login_required_response(request: Request, exc: LoginRequired) -> Response:
    target = login_redirect_target(exc.next_url)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
