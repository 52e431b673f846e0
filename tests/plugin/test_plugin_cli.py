"""The ``ims`` plugin through the real CLI with a Python program that uses no SDK of this package
(the engine's own ``CustomResource`` and ``invoke`` on the schema's tokens): create with content, an
invoke, a clean preview, an in-place update, ``pulumi import`` of an existing image and a clean
preview after it, destroy."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from harness.pulumi_cli import PULUMI, VENV, PulumiProject, ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.config import resolve
from ims_pulumi.plugin import schema

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROGRAM = '''
import pulumi

OUTPUTS = {"status": None, "osType": None, "platform": None, "size": None}


class Image(pulumi.CustomResource):
    def __init__(self, name, props, opts=None):
        super().__init__("ims:index:ImageMetadata", name, {**OUTPUTS, **props}, opts)


img = Image("img", {"name": pulumi.Config().get("imageName") or "plugin-image", "diskFormat": "qcow2",
                    "osVersion": "Ubuntu 22.04 server 64bit", "tags": ["team=plugin"],
                    "source": pulumi.FileAsset("disk.qcow2")})
found = pulumi.Output.all(img.id).apply(
    lambda _: pulumi.runtime.invoke("ims:index:getImage", {"tags": ["team=plugin"]}).value)
pulumi.export("id", img.id)
pulumi.export("status", img.status)
pulumi.export("os_type", img.osType)
pulumi.export("found", found.apply(lambda f: f["id"]))
if pulumi.Config().get_bool("adopt"):
    Image("legacy", {"name": "legacy", "diskFormat": "qcow2"})
'''


def plugin_dir(tmp: Path) -> Path:
    """A folder holding an executable ``pulumi-resource-ims`` (what ``pip install`` puts on PATH)."""
    folder = tmp / "plugin-bin"
    folder.mkdir()
    script = folder / "pulumi-resource-ims"
    script.write_text(f'#!/bin/sh\nexec "{VENV / "bin" / "python"}" -m ims_pulumi.plugin "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_python_program_on_the_plugin(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, PROGRAM, config=config, secrets=secrets)
    (project.dir / "disk.qcow2").write_bytes(b"QFI\xfb" + b"\0" * 8192)
    with (project.dir / "Pulumi.yaml").open("a") as f:
        f.write(f"plugins:\n  providers:\n    - name: ims\n      path: {plugin_dir(tmp_path)}\n")

    project.up()
    out = project.outputs()
    assert (out["status"], out["os_type"], out["found"]) == ("active", "Linux", out["id"])
    project.preview("--expect-no-changes")

    project.run("config", "set", "imageName", "plugin-image-2")
    result = project.up()
    assert "updated" in result.stdout and project.outputs()["id"] == out["id"], "a name changes in place"

    legacy = emu.images()  # an image made outside the stack, then imported
    raw = {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()}
    client = ImsClient.from_config(resolve(raw.get, {}))
    made = client.create_image({"name": "legacy", "disk_format": "qcow2"})
    assert len(emu.images()) == len(legacy) + 1
    project.run("import", "ims:index:ImageMetadata", "legacy", str(made["id"]), "--yes", "--protect=false",
                "--generate-code=false")
    project.run("config", "set", "adopt", "true")
    project.preview("--expect-no-changes")

    project.destroy()
    assert emu.images() == []


SMALL = '''
import pulumi

img = pulumi.CustomResource("ims:index:ImageMetadata", "img", {"name": "on-path", "minDisk": 10})
pulumi.export("id", img.id)
'''


@pytest.mark.parametrize("how", ["PATH", "plugin install --file"])
def test_found_like_any_plugin(tmp_path: Path, emu: Emulator, pulumi_cli: None, how: str) -> None:
    """What a user meets first: the console script ``pip install`` put into the virtualenv's ``bin``, found
    on PATH (ambient plugins on, no Pulumi.yaml entry); or copied into the plugin cache with
    ``pulumi plugin install resource ims VERSION --file`` (README "Any language")."""
    script = VENV / "bin" / "pulumi-resource-ims"
    assert script.is_file(), f"{script} missing: the package's [project.scripts] installs it (make setup)"
    config, secrets = ims_config(emu.url)
    env = {"PULUMI_IGNORE_AMBIENT_PLUGINS": "false", "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}"} \
        if how == "PATH" else {}
    project = PulumiProject.create(tmp_path, SMALL, config=config, secrets=secrets, extra_env=env)
    if how != "PATH":
        subprocess.run([str(PULUMI), "plugin", "install", "resource", "ims", schema.version(), "--file", str(script)],
                       env=project.env, cwd=project.dir, check=True, capture_output=True, timeout=120)
    project.up()
    assert [i["name"] for i in emu.images()] == ["on-path"]
    project.preview("--expect-no-changes")
    project.destroy()
    assert emu.images() == []


def test_cli_reads_the_generated_schema(tmp_path: Path, pulumi_cli: None) -> None:
    """`pulumi package get-schema pulumi-resource-ims` (README) returns the schema generated from the tables."""
    env = {"PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}", "PULUMI_HOME": str(tmp_path),
           "PULUMI_SKIP_UPDATE_CHECK": "true"}
    run = subprocess.run([str(PULUMI), "package", "get-schema", str(VENV / "bin" / "pulumi-resource-ims")],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(run.stdout) == schema.build_schema()
