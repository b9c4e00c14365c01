"""A refusal is one sentence with values (kit.i18n.Message): the API's English, and the catalog
message a page translates. Every refusal a service raises is in the web app's catalog."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cadency.kit import labels
from cadency.kit.errors import Conflict, InvalidRequest, not_found
from cadency.kit.i18n import TRANSLATIONS_DIR, Label, Message, render, say, translations

SRC = Path(__file__).resolve().parents[2] / "src" / "cadency"
REFUSALS = {
    "InvalidRequest",
    "Conflict",
    "NotFound",
    "Gone",
    "PaymentFailed",
    "PermissionDenied",
    "APIError",
}
# The HubSpot-compatible API answers in English, as HubSpot's does (babel.cfg leaves it out);
# an API key's refusals reach API clients only.
ENGLISH_ONLY = ("hubspot/", "accounts/auth.py")


def test_a_refusal_answers_the_api_in_english_and_keeps_its_message() -> None:
    refused = Conflict(
        "A %(status)s subscription cannot be paused",
        status=labels.word("canceled", labels.SUBSCRIPTION_STATUSES),
        param="status",
    )
    assert refused.body() == {
        "error": {
            "type": "conflict",
            "message": "A canceled subscription cannot be paused",
            "param": "status",
        }
    }
    assert isinstance(refused.message, Message)
    assert refused.message.template == "A %(status)s subscription cannot be paused"
    dutch = translations("nl").gettext
    # The status reads as its badge's word where translated.
    assert say(refused.message, dutch) == dutch("A %(status)s subscription cannot be paused") % {
        "status": dutch("Canceled")
    }
    assert "canceled" not in say(refused.message, dutch)


def test_values_inside_a_message_are_translated_too() -> None:
    danish = translations("da").gettext
    kind = labels.word("deal", labels.RECORD_KINDS)
    assert isinstance(kind, Label) and kind == "deal"
    refused = not_found("deal", "deal_1")
    assert refused.message == "No such deal: 'deal_1'"
    assert render(refused.message, danish) == danish("No such %(kind)s: '%(record_id)s'") % {
        "kind": danish("deal"),
        "record_id": "deal_1",
    }
    # A value with no label stays as it is; text made elsewhere is shown as it came.
    assert labels.word("sub_x", labels.RECORD_KINDS) == "sub_x"
    assert not isinstance(labels.word("sub_x", labels.RECORD_KINDS), Label)
    assert render("Gold coffee", danish) == "Gold coffee"
    # A message without values is not formatted: a "%" in it stays as written.
    assert InvalidRequest("Up to 100% off").message == "Up to 100% off"


def _refusals() -> list[tuple[str, int, ast.expr]]:
    """(file, line, first argument) of every refusal raised in the package."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        where = str(path.relative_to(SRC))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in REFUSALS
                and node.args
            ):
                found.append((where, node.lineno, node.args[0]))
    return found


def test_no_refusal_is_written_as_an_f_string() -> None:
    """An f-string has no catalog message: the values go beside it (%(name)s), so a page can
    translate the sentence."""
    written = [
        f"{where}:{line}"
        for where, line, first in _refusals()
        if isinstance(first, ast.JoinedStr) and not where.startswith(ENGLISH_ONLY)
    ]
    assert not written


@pytest.mark.parametrize("language", ["nl", "da"])
def test_every_refusal_raised_is_translated(language: str) -> None:
    with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = {m.id: m.string for m in read_po(po) if m.id and m.string}
    sentences = {
        first.value
        for where, _line, first in _refusals()
        if isinstance(first, ast.Constant)
        and isinstance(first.value, str)
        and not where.startswith(ENGLISH_ONLY)
    }
    assert len(sentences) > 200
    missing = sorted(sentences - set(catalog))
    assert not missing, f"run scripts/translations and translate: {missing[:10]}"
