"""The provider end to end: the real CLI against the emulator, the whole lifecycle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e]


def program(name: str = "e2e-base", disk_format: str = "qcow2", extra: str = "") -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("base",
    name="{name}",
    os_version="Ubuntu 22.04 server 64bit",
    disk_format="{disk_format}", container_format="bare",
    min_disk=40, min_ram=1024,
    tags=["team=infra", "env=dev"],
    protected=False, visibility="private",
    properties={{"owner_team": "infra"}}{extra})
pulumi.export("image_id", image.id)
pulumi.export("os_type", image.os_type)
pulumi.export("platform", image.platform)
pulumi.export("os_bit", image.os_bit)
pulumi.export("status", image.status)
pulumi.export("name", image.name)
'''


def shows_change(text: str, field: str, old: str, new: str) -> bool:
    """Whether `pulumi preview --diff` text shows ``field: old => new`` (the CLI pads field names)."""
    return re.search(rf"{field}\s*: {re.escape(json.dumps(old))} => {re.escape(json.dumps(new))}", text) is not None


def test_full_lifecycle(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program(), config=config, secrets=secrets)

    # up: one image, computed OS fields as outputs
    project.up()
    out = project.outputs()
    assert (out["os_type"], out["platform"], out["os_bit"], out["status"]) == ("Linux", "Ubuntu", "64", "queued")
    images = live_images(emu)
    assert [i["id"] for i in images] == [out["image_id"]]
    assert images[0]["__os_version"] == "Ubuntu 22.04 server 64bit" and images[0]["owner_team"] == "infra"

    # nothing to do: preview and refresh report no changes, and preview sends no request
    emu.reset_stats()
    project.preview("--expect-no-changes")
    # one authenticated request per preview proves endpoint and credentials; nothing else is read
    assert emu.stats()["requests"] == {"GET /v2/images": 1}, emu.stats()["requests"]
    project.refresh("--expect-no-changes")
    project.preview("--expect-no-changes")

    # rename: updated in place, same id
    project.write_program(program(name="e2e-renamed"))
    diff = project.preview("--diff")
    assert "~ ims:ImageMetadata" in diff.stdout or "update" in diff.stdout, diff.stdout
    assert shows_change(diff.stdout, "~ name", "e2e-base", "e2e-renamed"), diff.stdout
    emu.reset_stats()
    project.up()
    assert project.outputs()["image_id"] == out["image_id"]
    assert [i["name"] for i in live_images(emu)] == ["e2e-renamed"]
    stats = emu.stats()["requests"]
    assert stats.get("PATCH /v2/images/{id}") == 1 and not stats.get("POST /v2/images")

    # change disk_format: replaced, new id, old image gone
    project.write_program(program(name="e2e-renamed", disk_format="raw"))
    diff = project.preview("--diff")
    assert "+-" in diff.stdout and "replace" in diff.stdout, diff.stdout
    assert shows_change(diff.stdout, "disk_format", "qcow2", "raw"), diff.stdout
    project.up()
    replaced = project.outputs()["image_id"]
    assert replaced != out["image_id"]
    assert [(i["id"], i["disk_format"]) for i in live_images(emu)] == [(replaced, "raw")]
    project.preview("--expect-no-changes")

    # delete behind Pulumi's back: refresh drops it, up recreates it
    emu.delete_images()
    refresh = project.refresh()
    assert "deleted" in refresh.stdout, refresh.stdout
    assert project.resources() == []
    project.up()
    recreated = project.outputs()["image_id"]
    assert recreated != replaced and [i["id"] for i in live_images(emu)] == [recreated]
    project.preview("--expect-no-changes")

    # destroy leaves no image
    project.destroy()
    assert live_images(emu) == []
    assert project.resources() == []


def test_drift_is_shown_and_repaired(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program(), config=config, secrets=secrets)
    project.up()
    image_id = project.outputs()["image_id"]
    # someone renames the image and edits a managed property outside Pulumi
    from ims_pulumi.core.client import ImsClient
    from ims_pulumi.core.config import resolve

    client = ImsClient.from_config(resolve(lambda k: {**config, **secrets}.get(f"ims:{k}"), {}))
    client.update_image(image_id, [{"op": "replace", "path": "/name", "value": "hand-edited"},
                                   {"op": "replace", "path": "/owner_team", "value": "someone"},
                                   {"op": "add", "path": "/unmanaged", "value": "kept"}])
    project.refresh()
    diff = project.preview("--diff")
    assert shows_change(diff.stdout, "name", "hand-edited", "e2e-base"), diff.stdout
    project.up()
    project.preview("--expect-no-changes")
    image = client.get_image(image_id)
    assert image is not None
    assert (image["name"], image["owner_team"], image["unmanaged"]) == ("e2e-base", "infra", "kept")
    project.destroy()


def test_stack_reference_reads_outputs(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    producer = PulumiProject.create(tmp_path / "a", program(), name="producer", config=config, secrets=secrets,
                                    backend=tmp_path / "state")
    producer.up()
    consumer = PulumiProject.create(tmp_path / "b", '''
import pulumi
ref = pulumi.StackReference("organization/producer/dev")
pulumi.export("base_image", ref.get_output("image_id"))
pulumi.export("base_platform", ref.get_output("platform"))
''', name="consumer", backend=tmp_path / "state")
    consumer.up()
    assert consumer.outputs() == {"base_image": producer.outputs()["image_id"], "base_platform": "Ubuntu"}
    producer.destroy()


def test_preview_json_has_the_changed_fields(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program(), config=config, secrets=secrets)
    project.up()
    project.write_program(program(name="renamed", disk_format="raw"))
    digest = json.loads(project.preview("--json").stdout)
    (step,) = [s for s in digest["steps"] if s["urn"].endswith("::base")]
    assert step["op"] == "replace" and step["replaceReasons"] == ["disk_format"], step
    assert step["oldState"]["inputs"]["name"] == "e2e-base" and step["newState"]["inputs"]["name"] == "renamed"
    project.destroy()
