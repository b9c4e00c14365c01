"""Every text of every email is translated into Dutch, Danish and German, with the same
placeholders as the English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from cadency.kit import labels
from cadency.notifications import messages

PACKAGE = Path(messages.__file__).parent
TEMPLATE_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}


def source_messages() -> set[str]:
    found = extract_from_dir(
        str(PACKAGE),
        # The emails' text: their templates and messages.py (the mailbox pages are the web
        # app's, in its catalog).
        method_map=[
            ("messages.py", "python"),
            ("templates/notifications/email/**", "jinja2"),
        ],
        options_map={"templates/notifications/email/**": TEMPLATE_OPTIONS},
    )
    return {str(message) for _file, _line, message, _comments, _context in found}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


@pytest.mark.parametrize("language", ["nl", "da", "de"])
def test_every_email_text_is_translated(language: str) -> None:
    catalog = messages.translations(language)
    wanted = source_messages()
    assert len(wanted) > 50
    missing = sorted(m for m in wanted if catalog.gettext(m) == m and m not in SAME_IN)
    assert missing == [], missing
    for message in wanted:
        assert placeholders(catalog.gettext(message)) == placeholders(message), message


# Words that are spelled the same in a language are not missing translations.
SAME_IN = {"Subscription", "Customer", "Subtotal", "Datum", "Hallo %(name)s,", "Endpoint"}


@pytest.mark.parametrize("language", ["nl", "da", "de"])
def test_payment_failure_reasons_are_translated(language: str) -> None:
    # Admin payment emails show the processor's failure code by its label (kit.labels).
    catalog = messages.translations(language)
    for label in labels.FAILURE_REASONS.values():
        assert catalog.gettext(label) != label, label
