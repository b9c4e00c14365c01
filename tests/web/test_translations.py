"""The web app's catalogs are complete: every message of every page has a Dutch and a Danish
translation that keeps the message's %(placeholders)s."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cadency.kit.i18n import TRANSLATIONS_DIR

PLACEHOLDER = re.compile(r"%\((\w+)\)[sr]")


def _messages(path: Path) -> dict[str, str]:
    """msgid → translation; a plural message counts as translated only when every form is,
    and is keyed by its singular (its forms joined, so placeholders of each are checked)."""
    with path.open("rb") as f:
        catalog = read_po(f)
    messages: dict[str, str] = {}
    for m in catalog:
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            forms = m.string if isinstance(m.string, tuple) else ()
            messages[" | ".join(m.id)] = " | ".join(forms) if forms and all(forms) else ""
        else:
            messages[m.id] = m.string
    return messages


@pytest.mark.parametrize("language", ["nl", "da"])
def test_every_message_is_translated(language: str) -> None:
    template = _messages(TRANSLATIONS_DIR / "messages.pot")
    catalog = _messages(TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po")
    assert len(template) > 20
    missing = sorted(set(template) - {k for k, v in catalog.items() if v})
    assert not missing, f"untranslated in {language} (run scripts/translations): {missing[:20]}"
    for msgid, text in catalog.items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), msgid
