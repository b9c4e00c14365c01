"""The document catalog (invoices, hosted pages) is complete: every message of the templates and
of the D_-marked Python text has a Dutch, Danish and German translation keeping its
%(placeholders)s; and the staff web app's extraction leaves these messages out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cadency.invoices import documents

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
PACKAGE = Path(documents.__file__).parent
PORTAL = PACKAGE.parent / "portal"
CHECKOUT = PACKAGE.parent / "checkout"
ROOT = PACKAGE.parents[2]


def _document_messages() -> set[str]:
    """Every message of the buyer pages: the invoice package's, and the billing portal's buyer
    templates and D_-marked text (the portal's staff pages are in the web catalog)."""
    messages: set[str] = set()
    for package, templates in (
        (PACKAGE, "templates/**.html"),
        (PORTAL, "templates/portal/buyer/**.html"),
        (CHECKOUT, "templates/checkout/buyer/**.html"),
    ):
        found = extract_from_dir(
            str(package),
            method_map=[(templates, "jinja2"), ("**.py", "python")],
            options_map={templates: {"extensions": "jinja2.ext.i18n"}},
            keywords={"_": None, "D_": None},
        )
        messages |= {message for _file, _line, message, _comments, _context in found if message}
    return messages


@pytest.mark.parametrize("language", ["nl", "da", "de"])
def test_every_document_message_is_translated(language: str) -> None:
    messages = _document_messages()
    assert {"Invoice", "Amount due", "Your card was declined.", "Billing settings"} <= messages
    assert "Past due" in messages  # the portal's D_ labels
    with (documents.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = {m.id: m.string for m in read_po(f) if m.id}
    missing = sorted(m for m in messages if not catalog.get(m))
    assert not missing, f"untranslated in {language}: {missing}"
    for msgid in messages:
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(catalog[msgid])), msgid


def test_the_title_per_language() -> None:
    titles = {lang: documents.gettext_in(lang, "Invoice") for lang in documents.LANGUAGES}
    assert titles == {"en": "Invoice", "nl": "Factuur", "da": "Faktura", "de": "Rechnung"}


def test_staff_catalog_extraction_skips_document_templates() -> None:
    config = (ROOT / "babel.cfg").read_text()
    assert config.index("[ignore: invoices/templates/**]") < config.index("[jinja2:")
    assert config.index("[ignore: portal/templates/portal/buyer/**]") < config.index("[jinja2:")
    assert config.index("[ignore: checkout/templates/checkout/buyer/**]") < config.index("[jinja2:")
