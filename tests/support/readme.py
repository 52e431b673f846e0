"""The fenced code blocks of the documentation (README.md, every page of docs/ and the README of every
example in examples/) and what their info strings say about them.

Every block's info string is ``<lang> <kind>:<name>``:

* ``own-project:<name>``: a file or step of "Use it in your own project" (docs/getting-started.md), run
  in that order by ``tests/package/test_own_project.py`` in an empty folder with the package installed;
* ``example:<name>``: a program or command sequence run against the emulator by
  ``tests/package/test_readme_examples.py`` (TypeScript and Go: compiled against the generated SDK);
  the block of ``examples/<folder>/README.md`` is named ``examples/<folder>`` and run from the root of a
  copy of the repository, as a user types it there;
* ``no-run:<reason>``: not runnable by a test, for the reason ``NO_RUN`` in that test spells out.

Blocks indented under a list item count too (their body is dedented). A name is unique per kind across
all the pages, so a test finds a block wherever it lives.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
EXAMPLES = REPO / "examples"

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
KINDS = ("own-project", "example", "no-run")


def pages() -> list[Path]:
    """The documentation whose blocks are run: README.md, docs/**/*.md in name order, then examples/*/README.md."""
    return [README, *sorted(DOCS.rglob("*.md")), *sorted(EXAMPLES.glob("*/README.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its tag (``kind:name``; "" when untagged), its text, and where it is."""

    lang: str
    kind: str
    name: str
    body: str
    line: int
    page: str = ""

    @property
    def where(self) -> str:
        """``page:line``, for messages."""
        return f"{self.page}:{self.line}"


def blocks(text: str | None = None, page: str = "") -> list[Block]:
    """Every fenced block of ``text``, or of every page of the documentation (``pages()``), in order."""
    if text is None:
        return [b for path in pages() for b in blocks(path.read_text(), str(path.relative_to(REPO)))]
    found = []
    for m in FENCE.finditer(text):
        words = m["info"].split()
        lang = words[0] if words else ""
        kind, _, name = (words[1] if len(words) > 1 else "").partition(":")
        body = textwrap.dedent(m["body"]) if m["indent"] else m["body"]
        found.append(Block(lang, kind, name, body, text.count("\n", 0, m.start()) + 1, page))
    return found


def tagged(kind: str, text: str | None = None) -> dict[str, Block]:
    """The blocks of one kind, by name (each name once across the documentation)."""
    out: dict[str, Block] = {}
    for block in blocks(text):
        if block.kind == kind:
            assert block.name not in out, \
                f"two blocks named {kind}:{block.name}: {out[block.name].where} and {block.where}"
            out[block.name] = block
    return out


def commands(block: Block) -> list[str]:
    """The command lines of a shell block (comments and blank lines left out)."""
    return [line for line in block.body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
