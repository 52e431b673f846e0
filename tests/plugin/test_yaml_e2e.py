"""``examples/yaml`` end to end: a ``runtime: yaml`` program on the ``ims`` plugin, run by Pulumi's own
YAML language host (``make setup`` builds it) and the real CLI against the emulator. The plugin is
found the way a user's CLI finds it after ``pip install``: an executable ``pulumi-resource-ims`` on
``PATH``.

The program creates an image with its content, looks a public image and its own image up with
``fn::invoke`` (``ims:index:getImage``), shares the image (``ImageMember``); the next preview shows no
changes, and destroy removes the share and the image.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.pulumi_cli import VENV, PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.plugin.sdk_support import use_plugin_on_path
from tests.support.images import live_by_id, user_tags

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "yaml"
CONSUMER = "b" * 32
YAML_HOST = VENV / "bin" / "pulumi-language-yaml"


@pytest.mark.unit
def test_yaml_example_is_a_yaml_program_of_the_schema_tokens() -> None:
    """The committed example is what the e2e test runs: runtime yaml, the plugin's tokens, no stack files."""
    meta = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    assert meta["name"] == "yaml" and meta["runtime"] == "yaml"
    types = {r["type"] for r in meta["resources"].values()}
    assert types == {"ims:index:ImageMetadata", "ims:index:ImageMember"}
    invoked = {v["fn::invoke"]["function"] for v in meta["variables"].values()}
    assert invoked == {"ims:index:getImage"}
    assert (EXAMPLE / "disk.raw").stat().st_size % 512 == 0, "content: whole 512-byte sectors"
    assert not list(EXAMPLE.glob("Pulumi.*.yaml")), "stacks are created by the user"


@pytest.mark.e2e
def test_yaml_host_is_installed_beside_the_cli() -> None:
    """``make setup`` (scripts/install-yaml-host.sh) put the YAML host beside ``pulumi``: a real file."""
    assert YAML_HOST.is_file() and not YAML_HOST.is_symlink(), f"{YAML_HOST} missing: run `make setup`"


@pytest.mark.e2e
def test_install_script_places_a_real_file_and_is_idempotent(tmp_path: Path) -> None:
    """``scripts/install-yaml-host.sh DEST AMBIENT`` (how install-pulumi.sh calls it beside an ambient CLI):
    a real file with the host's bytes, the same file again on a second run, nothing built."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "install-yaml-host.sh"
    dest = tmp_path / "bin"
    for _ in range(2):
        proc = subprocess.run([str(script), str(dest), str(YAML_HOST.parent)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "using ambient" in proc.stderr and "building" not in proc.stderr
    placed = dest / "pulumi-language-yaml"
    assert placed.is_file() and not placed.is_symlink()
    assert placed.read_bytes() == YAML_HOST.read_bytes()


@pytest.mark.e2e
@pytest.mark.slow
def test_yaml_program_up_invoke_share_preview_destroy(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, "", name="yaml", config={**config, "yaml:consumerProject": CONSUMER},
                                   secrets=secrets)
    (project.dir / "__main__.py").unlink()
    for item in EXAMPLE.iterdir():  # the committed files, verbatim (the Pulumi.yaml replaces the helper's)
        shutil.copy2(item, project.dir / item.name)
    use_plugin_on_path(project, tmp_path)

    preview = project.preview()
    assert "+ 3 to create" in preview.stdout, preview.output[-3000:]  # the stack, the image, the share

    project.up()
    out = project.outputs()
    images = live_by_id(emu)
    assert list(images) == [out["imageId"]]
    image = images[out["imageId"]]
    assert (image["name"], image["disk_format"], image["status"]) == ("yaml-app-2026.12", "raw", "active")
    assert user_tags(image) == ["stack=dev", "team=web"]
    assert out["size"] == (EXAMPLE / "disk.raw").stat().st_size, "the content was uploaded"
    assert (out["status"], out["osType"], out["platform"]) == ("active", "Linux", "Ubuntu")
    assert out["shareStatus"] == "pending", "shared; the consumer has not answered yet"
    assert (out["foundName"], out["foundStatus"]) == ("yaml-app-2026.12", "active"), "fn::invoke found it"
    assert out["baseImageName"].startswith("Ubuntu 22.04") and out["baseImageId"] != out["imageId"]
    (member,) = project.resources("ImageMember")
    assert member["type"] == "ims:index:ImageMember" and member["outputs"]["memberId"] == CONSUMER

    project.preview("--expect-no-changes")

    project.destroy()
    assert live_by_id(emu) == {}
    assert not [r for r in project.resources("") if r["type"].startswith("ims:")], "nothing of ims left in the state"
