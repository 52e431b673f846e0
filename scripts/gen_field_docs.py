#!/usr/bin/env python3
"""Generate the docs' input, output, configuration, request, filter and OS tables from the code.

Sources: the resource tables (``ims_pulumi.core.image_metadata.IMAGE_METADATA``) (with the ``IMS`` and ``GLANCE`` server profiles),
``ims_pulumi.core.config.SETTINGS``, the request table (``api_surface``), the lookup's filter table and the
built-in ``os_version`` table. Each table replaces the text between a pair of marker lines in its page of
``docs/`` (``PAGES``)::

    docs/images.md          <!-- fields:inputs:start -->   ...   <!-- fields:inputs:end -->
                            <!-- fields:outputs:start -->  ...   <!-- fields:outputs:end -->
                            <!-- os-versions:start -->     ...   <!-- os-versions:end -->
    docs/configuration.md   <!-- config:start -->          ...   <!-- config:end -->
    docs/servers.md         <!-- requests:start -->        ...   <!-- requests:end -->
    docs/lookups.md         <!-- lookup:filters:start -->  ...   <!-- lookup:filters:end -->

Usage::

    python scripts/gen_field_docs.py            # rewrite the pages
    python scripts/gen_field_docs.py --check    # exit 1 (and show a diff) when a page is out of date

(``scripts/gen_docs.py`` writes the reference pages from the plugin's schema.)

Exit status: 0 up to date or written, 1 out of date (``--check``), 2 a page or a marker is missing.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ims_pulumi.core import api_surface, lookup, os_versions  # noqa: E402
from ims_pulumi.core.config import SETTINGS, Setting  # noqa: E402
from ims_pulumi.core.framework import Role, Table  # noqa: E402
from ims_pulumi.core.image_metadata import IMAGE_METADATA  # noqa: E402
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile  # noqa: E402

PROFILE_ORDER = (IMS, GLANCE)

DOCS = REPO / "docs"
#: The page of docs/ that holds each generated table (marker name).
PAGES: dict[str, tuple[str, ...]] = {
    "images.md": ("fields:inputs", "fields:outputs", "os-versions"),
    "configuration.md": ("config",),
    "servers.md": ("requests",),
    "lookups.md": ("lookup:filters",),
}
SECTIONS = tuple(name for names in PAGES.values() for name in names)
COMMAND = "python scripts/gen_field_docs.py"


class MarkerError(ValueError):
    """A pair of marker lines is missing, duplicated or out of order."""


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def inputs_section(table: Table = IMAGE_METADATA) -> str:
    """The table of every input a program declares."""
    return markdown_table(("input", "type", "default (IMS)", "on change", "rule / meaning"),
                          table.input_rows(PROFILE_ORDER))


def outputs_section(table: Table = IMAGE_METADATA) -> str:
    """The sentence about echoed inputs and the table of computed outputs."""
    intro = ("Every input is also an output, as the server applied it (defaults filled in; the stored "
             "inputs hold only what the program declares), so that other resources and stacks can "
             "reference it. Every byte of an output is written into the state at every step of every run, "
             "so the computed outputs are the ones a program or another stack uses: the image's state, the "
             "OS facts IMS derives, ownership, times and the data's size. Empty values stay (`\"\"`, `[]`, "
             "`{}`: an output missing from the state would be unknown at preview); `size` and `virtual_size` "
             "exist once the image has data. `self`, `file` and `schema` are not outputs: they follow from the "
             "`id` (see the [Changelog](changelog.md)). "
             "Computed outputs:")
    infos = table.output_rows(Role.INFO)
    lookup = ("" if not infos else "\n\nReported by lookups (`get_image`, `get_images`: `ImageInfo`) and not kept in "
              "a resource's state (constants of a region, or a copy of another field; to read them for a managed "
              "image: `get_image_output(id=image.id)`):\n\n"
              + markdown_table(("lookup field", "wire name", "type", "meaning"), infos))
    return intro + "\n\n" + markdown_table(("output", "wire name", "type", "meaning"), table.output_rows()) + lookup


def config_row(s: Setting) -> tuple[str, str, str, str, str]:
    return (f"`ims:{s.key}`", f"`{s.env}`", "yes" if s.secret else "", f"`{s.default}`" if s.default else "", s.doc)


def config_section() -> str:
    """The table of provider settings: stack config key, environment fallback, secrecy, default."""
    return markdown_table(("key", "environment", "secret", "default", "meaning"), [config_row(s) for s in SETTINGS])


def requests_section() -> str:
    """The table of every request the provider sends to IMS and the document behind it."""
    return markdown_table(("request", "carries", "Huawei document", "when and why"), api_surface.readme_rows())


def lookup_filters_section() -> str:
    """The table of lookup filters: where IMS and Glance apply each one."""
    def where(f: lookup.Filter, profile: ServerProfile) -> str:
        if profile.kind in f.unsupported:
            return "not available (fails clearly)"
        if f.direct:
            return "server (`GET /v2/images/{id}`)"
        param = f.server.get(profile.kind)
        return f"server (`{param}`)" if param else "client, over every page"
    rows = [(f"`{f.name}`", f.doc, where(f, IMS), where(f, GLANCE)) for f in lookup.FILTERS]
    return markdown_table(("filter", "matches", "IMS", "Glance"), rows)


def sections() -> dict[str, str]:
    """Marker name -> generated Markdown."""
    return {"fields:inputs": inputs_section(), "fields:outputs": outputs_section(), "config": config_section(),
            "requests": requests_section(), "lookup:filters": lookup_filters_section(),
            "os-versions": os_versions.markdown_table()}


def replace_between(text: str, name: str, body: str) -> str:
    """``text`` with the lines between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` set to ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == start]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise MarkerError(f"the page needs exactly one {start!r} line followed by one {end!r} line "
                          f"(found {len(starts)} start and {len(ends)} end)")
    return "".join([*lines[: starts[0] + 1], body.rstrip("\n") + "\n", *lines[ends[0]:]])


def render(page: str, names: Iterable[str] = SECTIONS) -> str:
    """A page with the generated sections ``names`` up to date."""
    generated = sections()
    for name in names:
        page = replace_between(page, name, generated[name])
    return page


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when a page is out of date")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder (default: docs/ of the repository)")
    args = parser.parse_args(argv)
    stale: dict[Path, str] = {}
    diff: list[str] = []
    for page, names in PAGES.items():
        path = args.docs / page
        try:
            current = path.read_text(encoding="utf-8")
            wanted = render(current, names)
        except (OSError, MarkerError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
        if wanted != current:
            stale[path] = wanted
            diff += difflib.unified_diff(current.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                         f"{path} (now)", f"{path} (generated)")
    if not stale:
        return 0
    if args.check:
        sys.stdout.writelines(diff)
        print(f"\n{', '.join(map(str, stale))} out of date with the resource tables and settings: run `{COMMAND}`",
              file=sys.stderr)
        return 1
    for path, text in stale.items():
        path.write_text(text, encoding="utf-8")
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
