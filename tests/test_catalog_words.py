"""One word per thing per language. The same English message translated in two catalogs (the
web app's, the buyer documents', the emails', the exports') reads the same in each; a status
reads one way wherever it is shown (badge, tab, quick filter, buyer portal); and no two
statuses share a word, so "Void" (an invoice) and "Canceled" (a subscription) stay apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cadency.kit import labels
from cadency.portal import pages as portal
from cadency.subscriptions import display
from cadency.views import catalogs

SRC = Path(__file__).resolve().parent.parent / "src" / "cadency"
DOMAINS = ("web", "invoices", "notifications", "exports")
LANGUAGES = ("nl", "da", "de")


def catalog(domain: str, language: str) -> dict[str, str]:
    path = SRC / domain / "translations" / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as po:
        return {
            str(m.id): str(m.string)
            for m in read_po(po)
            if m.id and isinstance(m.id, str) and m.string
        }


def test_the_catalogs_exist() -> None:
    found = {(d, lang) for d in DOMAINS for lang in LANGUAGES if catalog(d, lang)}
    # The web app has no German; every other catalog has all three languages.
    assert found == {(d, lang) for d in DOMAINS for lang in LANGUAGES} - {
        ("web", "de"),
        ("exports", "nl"),
        ("exports", "da"),
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_message_in_several_catalogs_is_translated_one_way(language: str) -> None:
    catalogs_ = {domain: catalog(domain, language) for domain in DOMAINS}
    differing = {}
    for message in set().union(*catalogs_.values()):
        words = {d: c[message] for d, c in catalogs_.items() if message in c}
        if len(set(words.values())) > 1:
            differing[message] = words
    assert differing == {}


@pytest.mark.parametrize("language", ("nl", "da"))
def test_each_status_reads_one_way(language: str) -> None:
    web, documents = catalog("web", language), catalog("invoices", language)

    # A subscription's status: the staff badge, the buyer portal and the quick filter agree.
    for status, label in display.BADGE_LABELS.items():
        assert web[label] == documents[portal.STATUS_LABELS[status]], status
        if status in catalogs.STATUS_LABELS:
            assert web[catalogs.STATUS_LABELS[status]] == web[label], status
    # The index's Unpaid tab shows the subscriptions whose badge is Past due: one word.
    [unpaid_tab] = [t for t in catalogs.SUBSCRIPTIONS.tabs if t.id == "unpaid"]
    assert web[unpaid_tab.label] == web[display.BADGE_LABELS["unpaid"]]

    # No word names two statuses, of subscriptions, invoices or payments.
    shown = (
        list(display.BADGE_LABELS.values())
        + list(labels.INVOICE_STATUSES.values())
        + list(labels.PAYMENT_STATUSES.values())
    )
    words: dict[str, str] = {}
    for label in shown:
        word = web[label]
        assert words.setdefault(word, label) == label, (word, label, words[word])
