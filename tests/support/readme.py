"""The fenced code blocks of README.md and what their info strings say about them.

Every block's info string is ``<lang> <kind>:<name>``:

* ``own-project:<name>``: a file or step of "Use it in your own project", run in that order by
  ``tests/package/test_own_project.py`` in an empty folder with the package installed;
* ``example:<name>``: a program or command sequence run against the emulator by
  ``tests/package/test_readme_examples.py``;
* ``no-run:<reason>``: not runnable by a test, for the reason ``NO_RUN`` in that test spells out.

Blocks indented under a list item count too (their body is dedented).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
KINDS = ("own-project", "example", "no-run")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its tag (``kind:name``; "" when untagged) and its text."""

    lang: str
    kind: str
    name: str
    body: str
    line: int


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README (or of ``text``), in order."""
    text = README.read_text() if text is None else text
    found = []
    for m in FENCE.finditer(text):
        words = m["info"].split()
        lang = words[0] if words else ""
        kind, _, name = (words[1] if len(words) > 1 else "").partition(":")
        body = textwrap.dedent(m["body"]) if m["indent"] else m["body"]
        found.append(Block(lang, kind, name, body, text.count("\n", 0, m.start()) + 1))
    return found


def tagged(kind: str, text: str | None = None) -> dict[str, Block]:
    """The blocks of one kind, by name (each name once)."""
    out: dict[str, Block] = {}
    for block in blocks(text):
        if block.kind == kind:
            assert block.name not in out, f"README: two blocks named {kind}:{block.name}"
            out[block.name] = block
    return out


def commands(block: Block) -> list[str]:
    """The command lines of a shell block (comments and blank lines left out)."""
    return [line for line in block.body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
