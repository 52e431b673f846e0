"""docs/reference/ is the plugin's schema, as ``scripts/gen_docs.py`` writes it.

``gen_docs.py --check`` compares the pages with what the schema (``build_schema``, itself generated from
the tables) gives; the fix for a failure here is to run ``python scripts/gen_docs.py``. The cases below
say why each exists.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ims_pulumi.plugin.schema import build_schema

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_docs.py"
REFERENCE = REPO / "docs" / "reference"
SCHEMA = build_schema("0.0.0")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_script()


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_reference_matches_the_schema() -> None:
    result = run_script("--check")
    assert result.returncode == 0, (
        f"docs/reference drifted from the plugin's schema; run `python scripts/gen_docs.py`\n"
        f"{result.stdout[-4000:]}{result.stderr[-2000:]}")


# (reason, how the copy of docs/reference is spoiled)
DRIFTS = [
    ("a generated page edited by hand", lambda d: (d / "ImageMetadata.md").write_text(
        (d / "ImageMetadata.md").read_text().replace("| `minRam` |", "| `minRAM` |"))),
    ("a page of a resource the schema no longer has", lambda d: (d / "OldThing.md").write_text("# OldThing\n")),
    ("a page missing", lambda d: (d / "getImages.md").unlink()),
]


@pytest.mark.parametrize("reason,spoil", DRIFTS, ids=[d[0] for d in DRIFTS])
def test_check_detects_drift_and_the_writer_repairs_it(tmp_path: Path, reason: str, spoil: Any) -> None:
    copy = tmp_path / "reference"
    shutil.copytree(REFERENCE, copy)
    spoil(copy)
    drift = run_script("--check", "--out", copy)
    assert drift.returncode == 1 and "gen_docs.py" in drift.stderr and drift.stdout, reason
    assert run_script("--out", copy).returncode == 0
    assert {p.name: p.read_text() for p in copy.iterdir()} == {p.name: p.read_text() for p in REFERENCE.iterdir()}, \
        "writing restores exactly the generated pages, and only those"


def test_a_page_for_everything_the_schema_serves_and_the_index_links_each() -> None:
    index = (REFERENCE / "README.md").read_text()
    tokens = [*SCHEMA["resources"], *SCHEMA["functions"], *SCHEMA["types"]]
    for token in tokens:
        page = f"{gen.short(token)}.md"
        assert (REFERENCE / page).is_file(), token
        assert f"]({page})" in index and f"`{token}`" in index, token
    assert "](provider.md)" in index


@pytest.mark.parametrize("token", list(SCHEMA["resources"]))
def test_resource_page_lists_every_input_and_output_in_every_language(token: str) -> None:
    spec = SCHEMA["resources"][token]
    text = (REFERENCE / f"{gen.short(token)}.md").read_text()
    for name in {*spec["inputProperties"], *spec["properties"]}:
        assert f"| `{name}` | `{gen.python_name(name)}` | `{gen.go_name(name)}` |" in text, name
    for name, prop in spec["inputProperties"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        # name x3, type, required, default, on change, description
        assert cells[4] == ("yes" if name in spec["requiredInputs"] else ""), f"{name}: the required column"
        assert cells[5] == (gen.code(prop["default"]) if "default" in prop else ""), f"{name}: the default column"
        assert cells[6] == ("replaces" if prop.get("replaceOnChanges") else ""), f"{name}: the on-change column"


@pytest.mark.parametrize("token", list(SCHEMA["functions"]))
def test_function_page_lists_every_argument_and_result(token: str) -> None:
    spec = SCHEMA["functions"][token]
    text = (REFERENCE / f"{gen.short(token)}.md").read_text()
    for name in {*spec["inputs"]["properties"], *spec["outputs"]["properties"]}:
        assert f"| `{name}` | `{gen.python_name(name)}` |" in text, name


def test_provider_page_marks_the_secret_settings() -> None:
    text = (REFERENCE / "provider.md").read_text()
    for key, spec in SCHEMA["config"]["variables"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `ims:{key}` |"))
        assert ("| yes |" in row) == bool(spec.get("secret")), key


@pytest.mark.parametrize(("name", "python", "go"), [
    ("name", "name", "Name"),                  # one word
    ("osVersion", "os_version", "OsVersion"),  # the issue's examples
    ("minRam", "min_ram", "MinRam"),
    ("tagsAny", "tags_any", "TagsAny"),        # a lookup argument
    ("id", "id", "Id"),                        # the Go SDK's spelling of an argument `id`
])
def test_names_in_each_language(name: str, python: str, go: str) -> None:
    assert (gen.python_name(name), gen.go_name(name)) == (python, go)


@pytest.mark.parametrize(("spec", "text", "reason"), [
    ({"type": "string"}, "string", "a plain type"),
    ({"type": "array", "items": {"type": "string"}}, "list of string", "StringSet"),
    ({"type": "object", "additionalProperties": {"type": "string"}}, "map of string", "FlatMap"),
    ({"$ref": "pulumi.json#/Asset"}, "Asset", "an asset"),
    ({"oneOf": [{"$ref": "pulumi.json#/Asset"}, {"type": "string"}]}, "Asset or string",
     "a content source: an asset, or a path, URL or obs:// object as a string"),
    ({"type": "array", "items": {"$ref": "#/types/ims:index:ImageInfo"}}, "list of [ImageInfo](ImageInfo.md)",
     "an object type links to its page"),
])
def test_type_text(spec: dict[str, Any], text: str, reason: str) -> None:
    assert gen.type_text(spec) == text, reason


def test_python_names_match_the_dynamic_provider() -> None:
    """The reference's Python column is also the dynamic provider's: its ImageMetadataArgs fields."""
    import dataclasses

    from ims_pulumi import ImageMetadataArgs

    inputs = SCHEMA["resources"]["ims:index:ImageMetadata"]["inputProperties"]
    assert {gen.python_name(n) for n in inputs} == {f.name for f in dataclasses.fields(ImageMetadataArgs)}
