"""The docs' generated tables match the code, and every input and output is documented.

``scripts/gen_field_docs.py --check`` compares the tables between the marker lines of the pages of docs/
with what the resource tables (``IMAGE_METADATA``) and ``ims_pulumi.core.config.SETTINGS`` say; the
fix for a failure here is to run ``python scripts/gen_field_docs.py``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from ims_pulumi import ImageMetadata, ImageMetadataArgs
from ims_pulumi.core.config import SETTINGS
from ims_pulumi.core.image_metadata import IMAGE_METADATA

BY_NAME, FIELDS = IMAGE_METADATA.by_name, IMAGE_METADATA.fields
OUTPUTS, USER_INPUTS = IMAGE_METADATA.outputs, IMAGE_METADATA.user_inputs

pytestmark = [pytest.mark.unit]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_field_docs.py"
DOCS = REPO / "docs"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_field_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_script()


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def docs_copy(tmp_path: Path) -> Path:
    """A copy of the pages that hold generated tables, to mutate."""
    copy = tmp_path / "docs"
    copy.mkdir()
    for page in gen.PAGES:
        shutil.copy2(DOCS / page, copy / page)
    return copy


def test_docs_tables_match_the_code() -> None:
    result = run_script("--check")
    assert result.returncode == 0, (
        f"docs/ drifted from the resource tables / settings; run `python scripts/gen_field_docs.py`\n"
        f"{result.stdout[-4000:]}{result.stderr[-2000:]}")


def test_check_mode_detects_drift_and_the_writer_repairs_it(tmp_path: Path) -> None:
    docs = docs_copy(tmp_path)
    page = docs / "images.md"
    text = page.read_text()
    assert "| `min_ram` | int | `0` | replace |" in text
    page.write_text(text.replace("| `min_ram` | int | `0` | replace |", "| `min_ram` | int | `5` | update |"))
    drift = run_script("--check", "--docs", docs)
    assert drift.returncode == 1
    assert "-| `min_ram` | int | `5` | update |" in drift.stdout and "gen_field_docs.py" in drift.stderr
    assert run_script("--docs", docs).returncode == 0
    assert page.read_text() == text, "writing restores exactly the generated text, nothing else changes"
    assert run_script("--check", "--docs", docs).returncode == 0


@pytest.mark.parametrize(("page", "mutate", "reason"), [
    ("configuration.md", lambda t: t.replace("<!-- config:end -->\n", ""), "an end marker is missing"),
    ("images.md", lambda t: t + "\n<!-- fields:inputs:start -->\n", "a start marker appears twice"),
    ("images.md", lambda t: t.replace("<!-- fields:outputs:start -->", "<!-- x -->").replace(
        "<!-- fields:outputs:end -->", "<!-- fields:outputs:start -->").replace("<!-- x -->",
                                                                              "<!-- fields:outputs:end -->"),
     "end before start"),
    ("servers.md", lambda t: t.replace("<!-- requests:start -->\n", ""), "a table moved to another page"),
])
def test_marker_problems_exit_2(tmp_path: Path, page: str, mutate: Callable[[str], str], reason: str) -> None:
    docs = docs_copy(tmp_path)
    (docs / page).write_text(mutate((docs / page).read_text()))
    result = run_script("--check", "--docs", docs)
    assert (result.returncode, result.stdout) == (2, ""), reason
    assert "needs exactly one" in result.stderr and page in result.stderr, reason


def test_a_missing_page_exits_2(tmp_path: Path) -> None:
    docs = docs_copy(tmp_path)
    (docs / "lookups.md").unlink()
    result = run_script("--check", "--docs", docs)
    assert result.returncode == 2 and "lookups.md" in result.stderr


def test_text_outside_the_markers_is_kept() -> None:
    text = "intro\n<!-- config:start -->\nold\n<!-- config:end -->\noutro | with pipe\n"
    assert gen.replace_between(text, "config", "new\n") == (
        "intro\n<!-- config:start -->\nnew\n<!-- config:end -->\noutro | with pipe\n")


@pytest.mark.parametrize(("field", "expected"), [
    ("name", "update in place"),
    ("disk_format", "replace"),
    ("tags", "replace on IMS, in place on Glance"),
    ("protected", "replace on IMS, in place on Glance (`ims:protectedInPlace true`: in place on IMS)"),
])
def test_change_column(field: str, expected: str) -> None:
    assert BY_NAME[field].change.describe(gen.PROFILE_ORDER) == expected


def test_cells_escape_pipes_and_newlines() -> None:
    assert gen.cell("a | b\n  c") == "a \\| b c"


def test_every_row_is_generated() -> None:
    inputs, outputs, config = gen.inputs_section(), gen.outputs_section(), gen.config_section()
    assert all(f"| `{f.name}` |" in inputs for f in USER_INPUTS)
    assert "create_token" not in inputs, "bookkeeping set by the resource class is not a user input"
    assert all(f"| `{f.name}` | `{f.wire}` |" in outputs for f in OUTPUTS)
    assert all(f"| `ims:{s.key}` | `{s.env}` |" in config for s in SETTINGS)


# --- every input and output is documented ----------------------------------------------------


def test_every_field_and_setting_has_a_doc() -> None:
    for f in FIELDS:
        assert f.doc.strip().endswith((".", ")")), f"schema field {f.name!r} needs a doc sentence"
    for s in SETTINGS:
        assert s.doc.strip(), f"setting {s.key!r} needs a doc"


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def test_resource_class_documents_every_input_and_output() -> None:
    """ImageMetadataArgs has a ``#:`` comment per input; ImageMetadata a docstring per output attribute."""
    source = Path(inspect.getfile(ImageMetadata)).read_text()  # the resource class's module, wherever it lives
    tree, lines = ast.parse(source), source.splitlines()

    args = _class(tree, "ImageMetadataArgs")
    arg_fields = [n for n in args.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    assert {f.name for f in dataclasses.fields(ImageMetadataArgs)} == {f.name for f in USER_INPUTS}
    for node in arg_fields:
        assert isinstance(node.target, ast.Name)
        assert lines[node.lineno - 2].strip().startswith("#:"), f"ImageMetadataArgs.{node.target.id} needs a #: doc"

    resource = _class(tree, "ImageMetadata")
    # The output annotations live under `if TYPE_CHECKING:` (no run-time cost, see BENCHMARKS.md).
    body = [n for node in resource.body for n in (node.body if isinstance(node, ast.If) else [node])]
    documented = {}
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            nxt = body[i + 1] if i + 1 < len(body) else None
            doc = nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) else None
            documented[node.target.id] = doc
    expected = {f.name for f in USER_INPUTS} | {f.name for f in OUTPUTS}
    assert set(documented) == expected, "ImageMetadata's output attributes are exactly the schema's fields"
    assert not [n for n, doc in documented.items() if not (isinstance(doc, str) and doc.strip())]
    assert ImageMetadata.__doc__ and ImageMetadata.get.__doc__


def test_docs_list_every_os_version_of_the_built_in_table_once() -> None:
    """The docs' os_version table is the code's (``ims-os-versions`` prints the same rows)."""
    from ims_pulumi.core import os_versions

    text = (DOCS / "images.md").read_text()
    body = text[text.index("<!-- os-versions:start -->"):text.index("<!-- os-versions:end -->")]
    listed = [line.split("`")[1] for line in body.splitlines()[3:] if line.startswith("| `")]
    assert listed == [r.version for r in os_versions.OS_VERSIONS]
    assert "ims-os-versions --server URL" in text and "ims-os-versions" in (REPO / "pyproject.toml").read_text()
