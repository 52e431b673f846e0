"""Messages point somewhere real: every README section a message names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"README '([^']+)'")


def headings() -> set[str]:
    return {line.lstrip("#").strip() for line in (REPO / "README.md").read_text().splitlines() if line.startswith("#")}


def test_every_readme_section_named_in_a_message_exists() -> None:
    named = {m.group(1): path.name for path in (REPO / "providers").rglob("*.py")
             for m in SECTION.finditer(path.read_text())}
    assert named, "messages do name README sections (the pattern still matches)"
    missing = {name: where for name, where in named.items() if name not in headings()}
    assert not missing, f"messages name README sections that do not exist: {missing}"


def test_messages_do_not_point_outside_the_repository() -> None:
    for path in [*(REPO / "providers").rglob("*.py"), *(REPO / "ims_emulator").rglob("*.py"), REPO / "ims_emulator" / "README.md"]:
        assert "shared/docs" not in path.read_text(), path
