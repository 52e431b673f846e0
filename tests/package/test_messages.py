"""Messages point somewhere real: every section of the docs a message names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
#: How a message names a section: ``see docs/team-setup.md, 'A rotated key'``.
SECTION = re.compile(r"(docs/[\w/-]+\.md), '([^']+)'")
#: The older form, "README 'X'": the README no longer holds the sections, so a message must name the page.
OLD_FORM = re.compile(r"README '([^']+)'")


def headings(page: Path) -> set[str]:
    """The headings of one Markdown page."""
    return {line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("#")}


def test_every_docs_section_named_in_a_message_exists() -> None:
    named = {(m.group(1), m.group(2)): path.name for path in (REPO / "providers").rglob("*.py")
             for m in SECTION.finditer(path.read_text())}
    assert named, "messages do name docs sections (the pattern still matches)"
    missing = {f"{page}, {name!r}": where for (page, name), where in named.items()
               if not (REPO / page).is_file() or name not in headings(REPO / page)}
    assert not missing, f"messages name pages or sections that do not exist: {missing}"
    old = {m.group(0): path.name for path in (REPO / "providers").rglob("*.py") for m in OLD_FORM.finditer(path.read_text())}
    assert not old, f"messages name a README section, which now lives in docs/ (name the page): {old}"


def test_messages_do_not_point_outside_the_repository() -> None:
    for path in [*(REPO / "providers").rglob("*.py"), *(REPO / "ims_emulator").rglob("*.py"), REPO / "ims_emulator" / "README.md"]:
        assert "shared/docs" not in path.read_text(), path


# --- refusals at preview, as the user reads them ---------------------------------------------------

# (reason, declared inputs, the exact refusal)
REFUSALS = [
    ("a declared 0 is shown as declared (Pulumi sends 0.0), and leaving min_disk out is offered",
     {"min_disk": 0.0}, "min_disk 0 must be a whole number of GB from 1 to 1024 on IMS, or left out (the server's default)"),
    ("a fraction stays a fraction", {"min_disk": 1.5},
     "min_disk 1.5 must be a whole number of GB from 1 to 1024 on IMS, or left out (the server's default)"),
    ("a missing file: its path and the problem, not the resource class's descriptor",
     {"source": {"kind": "file", "location": "/no/such/web.qcow2", "missing": True}},
     "source '/no/such/web.qcow2' is not a readable file (a relative path is relative to the project directory)"),
    ("a missing path given as a string", {"source": "/no/such/web.qcow2"},
     "source '/no/such/web.qcow2' is not a readable file (a relative path is relative to the project directory)"),
]


@pytest.mark.parametrize("reason,declared,expected", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_text(reason: str, declared: dict[str, object], expected: str) -> None:
    from ims_pulumi.core.image_metadata import IMAGE_METADATA
    from ims_pulumi.core.profiles import IMS

    _, failures = IMAGE_METADATA.check({}, {"name": "x", **declared}, IMS)
    assert [f.reason for f in failures] == [expected], reason


def test_os_version_suggestions_name_each_version_once() -> None:
    """The built-in table and the region's list overlap: a refusal lists each close version once."""
    from ims_pulumi.core import os_versions
    from ims_pulumi.core.image_metadata import IMAGE_METADATA
    from ims_pulumi.core.kinds import OfflineServices
    from ims_pulumi.core.profiles import IMS

    class Region(OfflineServices):
        def os_versions(self) -> dict[str, str]:  # the region lists the table's versions too
            return {os_versions.key(r.version): r.version for r in os_versions.OS_VERSIONS}

    _, failures = IMAGE_METADATA.check({}, {"name": "x", "os_version": "Windows Server 2012 R2 Standard 32bit"},
                                       IMS, Region())
    (failure,) = failures
    close = failure.reason.split("closest: ", 1)[1].split(", ")
    assert close and len(close) == len(set(close)), failure.reason
    assert "Windows Server 2012 R2 Standard 64bit" in close
