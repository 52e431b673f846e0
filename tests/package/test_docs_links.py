"""A newcomer can walk the docs: every relative link of the README and of docs/ reaches a file (and its
heading, for ``#anchor`` links), and every page of docs/ is reachable from the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.readme import FENCE, README, REPO, pages

pytestmark = pytest.mark.unit

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, code marks and punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())  # a `#` line in a code block is no heading
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(REPO)}")
    assert not broken, broken


def test_every_page_is_reachable_from_the_readme() -> None:
    seen, todo = set(), [README.resolve()]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md" or not page.is_file():
            continue
        seen.add(page)
        todo += [(page.parent / t.partition("#")[0]).resolve() for t in links(page) if t.partition("#")[0]]
    unreachable = [str(p.relative_to(REPO)) for p in pages() if p.resolve() not in seen]
    assert not unreachable, f"pages no link leads to: {unreachable}"


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Update in place or replace", "update-in-place-or-replace"),
    ("`os_version` values", "os_version-values"),
    ("Recovering from a killed `pulumi up`", "recovering-from-a-killed-pulumi-up"),
    ("URL sources with credentials (presigned URLs)", "url-sources-with-credentials-presigned-urls"),
])
def test_slug(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
