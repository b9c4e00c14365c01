"""Pages that belong to no business package: sign-in, sign-out, the user's language, errors."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from cadency.accounts import service as account_service
from cadency.accounts.auth import get_session
from cadency.web import i18n, sections
from cadency.web.auth import (
    SESSION_COOKIE,
    LoginRequired,
    PageContext,
    login_redirect_target,
    page_context,
)
from cadency.web.i18n import N_
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)


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
def login_form(request: Request, next: str | None = None) -> Response:
    _public_language(request)
    return render(request, "login.html", {"next_url": _safe_next(next), "email": "", "error": None})


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    session: Session = Depends(get_session),
) -> Response:
    language = _public_language(request)
    user = account_service.authenticate(session, email, password) if email and password else None
    if user is None:
        message = i18n.translations(language).gettext("Wrong email or password.")
        context = {"next_url": _safe_next(next), "email": email, "error": message}
        return render(request, "login.html", context, status_code=401)
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
        "message": translate(message) if status != 500 else translate(_TITLES[500]),
        "back_url": _back_url(request),
    }
    return render(request, "error.html", context, status_code=status)


def login_required_response(request: Request, exc: LoginRequired) -> Response:
    target = login_redirect_target(exc.next_url)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
