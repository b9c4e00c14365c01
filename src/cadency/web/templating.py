"""One Jinja environment for every page. Each business package keeps its page templates in its
own `templates/` folder, reached as "<package>/<file>" (e.g. "subscriptions/index.html"); the
layout and shared macros live here, in web/templates."""

from __future__ import annotations

import contextvars
import gettext
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cadency.kit import i18n
from cadency.properties.service import MaskedValue
from cadency.web import sections

FLASH_COOKIE = "cadency_flash"
_ROOT = Path(__file__).resolve().parent.parent
# Every business package with templates: a new package's pages need no registration here.
_PACKAGES = sorted(p.parent.name for p in _ROOT.glob("*/templates") if p.parent.name != "web")

# The catalog of the page being rendered. Jinja's i18n extension calls these functions; a
# context variable keeps two requests rendering at once in two languages apart.
_current: contextvars.ContextVar[gettext.NullTranslations | None] = contextvars.ContextVar(
    "translations", default=None
)
_ENGLISH = gettext.NullTranslations()


def _catalog() -> gettext.NullTranslations:
    return _current.get() or _ENGLISH


def _gettext(message: str, **variables: Any) -> str:
    text = _catalog().gettext(message)
    if not variables:
        return text
    # A message inside a message (`_("… %(message)s", message=error)`) is translated too.
    return text % {name: _translated(value) for name, value in variables.items()}


def _ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = _catalog().ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def _build_environment() -> jinja2.Environment:
    # "catalog/products.html" is catalog/templates/catalog/products.html: each package's
    # templates sit in a folder named after it, so names never clash.
    loader = jinja2.FileSystemLoader(
        [str(Path(__file__).parent / "templates")]
        + [str(_ROOT / name / "templates") for name in _PACKAGES]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        # A message (kit.i18n.Message: a service's refusal, a form's check) is said in the
        # page's language wherever a page shows it; the API says the same in English.
        finalize=_translated,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    env.globals["languages"] = list(i18n.LANGUAGE_NAMES.items())
    env.globals["document_languages"] = list(i18n.DOCUMENT_LANGUAGE_NAMES.items())
    # `{% if value is masked %}`: a sensitive property value the user may not see.
    env.tests["masked"] = lambda value: isinstance(value, MaskedValue)
    env.globals["navigation"] = sections.navigation
    env.globals["shown_path"] = shown_path
    env.filters["translated"] = _translated
    return env


def _translated(message: Any) -> Any:
    """A message (kit.i18n.Message: a form's, a service's refusal) in the reader's language;
    other text as it is."""
    return i18n.render(message, _catalog().gettext)


def shown_path(request: Request) -> str:
    """The path and query of the page the user is looking at, to come back to (after switching
    the language): an index keeps its filters. A page drawn in answer to a form post (its errors)
    is at the form's action, which only takes posts: the page the form was on (the Referer, on
    this site only) stands in."""
    if request.method in ("GET", "HEAD"):
        url = urlsplit(str(request.url))
    else:
        url = urlsplit(request.headers.get("referer", ""))
        if url.netloc != request.url.netloc or not url.path.startswith("/"):
            return "/"
    return url.path + (f"?{url.query}" if url.query else "")


environment = _build_environment()


def gettext_for(language: str) -> gettext.NullTranslations:
    return i18n.translations(language)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page (or an htmx fragment) in the language of the request's page context."""
    page = getattr(request.state, "page", None)
    language = page.language if page is not None else getattr(request.state, "language", "en")
    flash = request.cookies.get(FLASH_COOKIE)
    token = _current.set(i18n.translations(language))
    try:
        html = environment.get_template(template).render(
            {
                "request": request,
                "page": page,
                "flash": unquote(flash) if flash else None,
                **(context or {}),
            }
        )
    finally:
        _current.reset(token)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if flash:
        response.delete_cookie(FLASH_COOKIE)
    return response


def redirect(url: str, flash: str | None = None) -> Response:
    """After a successful form post: go to `url` (303, so a reload does not post again), with
    an optional one-time message shown by the next page. htmx requests get HX-Redirect."""
    response: Response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash), max_age=60, httponly=True, samesite="lax")
    return response
