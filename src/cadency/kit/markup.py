"""Merchant-written text with simple formatting (invoice comments): bold, italic, links and line
breaks, written as Markdown and rendered safely. Raw HTML is shown as text, never markup, and
links go only to web and email addresses, so a comment cannot inject a script or a form into a
hosted invoice page."""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_SCHEMES = ("http://", "https://", "mailto:")


@cache
def _renderer() -> MarkdownIt:
    # "zero" turns every rule off; only what a comment needs is turned back on.
    md = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": False})
    md.enable(["emphasis", "link", "newline", "paragraph", "escape", "backticks"])
    md.validateLink = lambda url: url.strip().lower().startswith(ALLOWED_SCHEMES)  # type: ignore[method-assign]
    return md


def simple_markdown(text: str | None) -> Markup:
    """The text as HTML paragraphs with its formatting; empty for no text."""
    if not text or not text.strip():
        return Markup("")
    return Markup(_renderer().render(text))
