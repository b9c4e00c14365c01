"""docs/webhooks.md lists every public event type, and nothing else, in its table."""

from __future__ import annotations

import re
from pathlib import Path

from cadency.kit.events import PUBLIC_EVENT_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def test_the_docs_list_every_event_type() -> None:
    rows = re.findall(r"^\| `([a-z_.]+)` \|", DOC.read_text(), flags=re.MULTILINE)
    assert sorted(rows) == sorted(PUBLIC_EVENT_TYPES)
