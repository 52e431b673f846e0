"""The projects in ``examples/`` end to end, with the real CLI, exactly as committed.

Each example is copied into ``TMP/repo/examples/<name>`` beside a ``TMP/repo/.venv`` link
to the project's virtualenv, so the committed ``Pulumi.yaml`` (``virtualenv: ../../.venv``)
is used verbatim. multi-image and consumer run against the IMS emulator and share one
state backend (the consumer reads multi-image's outputs through a ``StackReference``);
glance runs against a real OpenStack Glance.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import uuid
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.pulumi_cli import VENV, PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.support.glance import GlanceServer
from tests.support.images import GONE_STATUSES, live_by_id, user_tags

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NAMES = ("multi-image", "consumer", "lookup", "sharing", "glance")
JSON = {"Accept": "application/json"}


def example_project(tmp: Path, name: str, *, config: dict[str, str] | None = None,
                    secrets: dict[str, str] | None = None) -> PulumiProject:
    """``examples/NAME`` as committed, in a temp copy of the repository layout, with a fresh stack ``dev``."""
    repo = tmp / "repo"
    repo.mkdir(exist_ok=True)
    if not (repo / ".venv").exists():
        (repo / ".venv").symlink_to(VENV, target_is_directory=True)
    source = EXAMPLES / name
    project = PulumiProject.create(repo / "examples", (source / "__main__.py").read_text(), name=name,
                                   config=config, secrets=secrets, backend=tmp / "state")
    for item in source.iterdir():
        # the committed files (the Pulumi.yaml replaces the helper's); not a stack file from a local run
        if item.is_file() and not fnmatch(item.name, "Pulumi.*.yaml"):
            shutil.copy2(item, project.dir / item.name)
    return project


# --- the files themselves -------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("name", NAMES)
def test_example_layout(name: str) -> None:
    directory = EXAMPLES / name
    meta = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    assert meta["name"] == name, "the project name is the directory name (tests and docs rely on it)"
    assert meta["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "../../.venv"}}
    assert (directory / meta["runtime"]["options"]["virtualenv"]).resolve() == VENV.resolve()
    assert meta.get("description")
    readme = (directory / "README.md").read_text()
    assert readme.startswith("# Example: ") and "pulumi up" in readme
    module = ast.parse((directory / "__main__.py").read_text())
    assert ast.get_docstring(module), "each program says what it shows"
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", f"examples/{name}"], capture_output=True,
                             text=True, check=True).stdout.split()
    stack_files = [t for t in tracked if fnmatch(Path(t).name, "Pulumi.*.yaml")]
    assert not stack_files, "stacks are created by the user (no encrypted secrets in the repo)"


@pytest.mark.unit
def test_glance_example_is_configured_for_glance_without_credentials() -> None:
    config = yaml.safe_load((EXAMPLES / "glance" / "Pulumi.yaml").read_text())["config"]
    assert config == {"ims:server": "glance"}, "only the server kind; the endpoint is per stack, no credentials"


# --- multi-image + consumer on the emulator ---------------------------------------------------


@pytest.mark.e2e
def test_multi_image_and_consumer(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    images = example_project(tmp_path, "multi-image", config={**config, "multi-image:namePrefix": "ex"},
                             secrets=secrets)
    images.up()
    out = images.outputs()
    ids: dict[str, str] = out["image_ids"]
    assert set(ids) == {"ubuntu-22", "debian-12", "euler-2", "windows-2019"}
    server = live_by_id(emu)
    assert set(server) == set(ids.values())
    assert {key: server[i]["name"] for key, i in ids.items()} == out["image_names"] == {
        "ubuntu-22": "ex-ubuntu-22.04", "debian-12": "ex-debian-12", "euler-2": "ex-hce-2.0",
        "windows-2019": "ex-windows-2019"}
    assert out["platforms"] == {"ubuntu-22": "Ubuntu", "debian-12": "Debian", "euler-2": "Huawei Cloud EulerOS",
                                "windows-2019": "Windows"}
    assert user_tags(server[ids["debian-12"]]) == ["os=debian", "stack=dev", "team=platform"]
    assert server[ids["debian-12"]]["hw_disk_bus"] == "virtio"
    images.preview("--expect-no-changes")

    consumer = example_project(tmp_path, "consumer", config=config, secrets=secrets)
    consumer.up()
    used = consumer.outputs()
    assert used["image_ids"] == ids
    assert used["base_image_id"] == ids["ubuntu-22"]
    assert used["base_image_name"] == "ex-ubuntu-22.04" and used["base_image_os"] == "Ubuntu 64-bit"
    (base,) = consumer.resources()
    assert base.get("external") is True, "ImageMetadata.get is a read-only reference"
    consumer.preview("--expect-no-changes")

    # another key of the table, read through the same reference
    consumer.run("config", "set", "image", "windows-2019")
    consumer.up()
    assert consumer.outputs()["base_image_id"] == ids["windows-2019"]
    assert consumer.outputs()["base_image_os"] == "Windows 64-bit"

    consumer.destroy()
    assert set(live_by_id(emu)) == set(ids.values()), "destroying the consumer leaves the referenced images alone"

    # lookups: a public image of the emulator's catalogue and this project's Debian image, by tags
    lookup = example_project(tmp_path, "lookup", config=config, secrets=secrets)
    shown = lookup.preview().stdout
    assert ids["debian-12"] in shown, "the lookups resolve in preview, before any up"
    lookup.up()
    found = lookup.outputs()
    assert found["debian_id"] == found["debian_id_from_output"] == ids["debian-12"]
    assert found["ubuntu_name"].startswith("Ubuntu 22.04") and found["ubuntu_id"] not in ids.values()
    assert found["team_image_names"] == ["ex-debian-12", "ex-ubuntu-22.04"]
    assert found["ubuntu_id"] in shown
    lookup.preview("--expect-no-changes")
    lookup.destroy()
    images.preview("--expect-no-changes")
    images.destroy()
    assert live_by_id(emu) == {}


# --- glance on a real Glance -----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.glance
@pytest.mark.slow
def test_glance_example(tmp_path: Path, glance: GlanceServer, pulumi_cli: None) -> None:
    prefix = f"ex-{uuid.uuid4().hex[:8]}"  # the Glance is shared by the session
    project = example_project(tmp_path, "glance", config={"ims:endpoint": glance.url, "glance:namePrefix": prefix})
    # Runs at the default parallelism on purpose: the test Glance keeps its database in SQLite,
    # where concurrent DELETEs can fail with 500 "database is locked" after marking the image
    # deleted; the provider's retried DELETE then gets 400, which delete_image must treat as done.
    project.up()
    out = project.outputs()

    def image(image_id: str) -> dict[str, Any] | None:
        """The image, or ``None`` once it is gone (404, or a gone status: see ``glance_images``)."""
        r = requests.get(f"{glance.url}/v2/images/{image_id}", headers=JSON, timeout=30)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return None if body.get("status") in GONE_STATUSES else body

    cirros, appliance = image(out["cirros_id"]), image(out["appliance_id"])
    assert cirros is not None and appliance is not None
    assert (cirros["name"], cirros["disk_format"], cirros["visibility"]) == (f"{prefix}-cirros-0.6", "qcow2", "shared")
    assert user_tags(cirros) == ["test", "tiny"] and cirros["os_distro"] == "cirros"
    assert (appliance["disk_format"], appliance["container_format"]) == ("vmdk", "ova")
    assert out["cirros_status"] == "queued"
    project.preview("--expect-no-changes")

    # on Glance a tag change is applied in place: same id
    main = project.dir / "__main__.py"
    main.write_text(main.read_text().replace('tags=["test", "tiny"]', 'tags=["test", "small"]'))
    project.up()
    assert project.outputs()["cirros_id"] == out["cirros_id"]
    cirros = image(out["cirros_id"])
    assert cirros is not None and user_tags(cirros) == ["small", "test"]
    project.preview("--expect-no-changes")

    project.destroy()
    assert image(out["cirros_id"]) is None and image(out["appliance_id"]) is None
