"""Adopting an existing image (``adopt_id``) and read-only references (``ImageMetadata.get``), end to end.

``pulumi import`` does not work for dynamic providers (pulumi/pulumi#16175), so the provider
offers ``adopt_id``: create() reads the image instead of making one, and from then on the
stack manages it like any other. ``ImageMetadata.get(name, id)`` reads an image on every
run and never changes or deletes it. Images are made "by hand" with the provider's own API
client, as another tool would, with the emulator's demo identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.config import resolve
from tests.support.images import live_by_id

pytestmark = [pytest.mark.e2e]


def api(emu: Emulator) -> ImsClient:
    """A client of the emulator with the demo identity (what a script or another tool would use)."""
    config, secrets = ims_config(emu.url)
    return ImsClient.from_config(resolve(lambda key: {**config, **secrets}.get(f"ims:{key}"), {}))


def hand_made(emu: Emulator, name: str = "hand-made", **extra: Any) -> str:
    """An image created directly through the API, outside any stack; its id."""
    client = api(emu)
    try:
        body = {"name": name, "disk_format": "qcow2", "container_format": "bare", "min_disk": 10, **extra}
        return str(client.create_image(body)["id"])
    finally:
        client.close()


def adopting(image_id: str | None, name: str = "hand-made", disk_format: str = "qcow2", extra: str = "") -> str:
    adopt = f', adopt_id="{image_id}"' if image_id else ""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("adopted", name="{name}", disk_format="{disk_format}", min_disk=10{adopt}{extra})
pulumi.export("image_id", image.id)
pulumi.export("name", image.name)
pulumi.export("created_at", image.created_at)
'''


def project_for(tmp: Path, emu: Emulator, program: str) -> PulumiProject:
    config, secrets = ims_config(emu.url)
    return PulumiProject.create(tmp, program, config=config, secrets=secrets)


def test_adopt_rename_replace_destroy(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    image_id = hand_made(emu)
    before = live_by_id(emu)[image_id]
    project = project_for(tmp_path, emu, adopting(image_id))

    # adopt: no new image, the stack now holds the existing one
    emu.reset_stats()
    project.up()
    assert project.outputs()["image_id"] == image_id
    assert project.outputs()["created_at"] == before["created_at"]
    assert list(live_by_id(emu)) == [image_id]
    assert not emu.stats()["requests"].get("POST /v2/images"), "adopting must not create an image"
    (state,) = project.resources()
    assert state["id"] == image_id and not state.get("external"), "adopted means managed, not a reference"
    project.preview("--expect-no-changes")
    project.refresh("--expect-no-changes")

    # managed like any other: renamed in place and given a property, same id
    project.write_program(adopting(image_id, name="adopted-renamed", extra=', properties={"owner_team": "infra"}'))
    project.up()
    assert project.outputs()["image_id"] == image_id
    image = live_by_id(emu)[image_id]
    assert image["name"] == "adopted-renamed" and image["owner_team"] == "infra"
    project.preview("--expect-no-changes")

    # a change that only a replacement can make, declared together with dropping adopt_id: a new image
    project.write_program(adopting(None, name="adopted-renamed", disk_format="raw",
                                   extra=', properties={"owner_team": "infra"}'))
    project.up()
    replaced = project.outputs()["image_id"]
    assert replaced != image_id and list(live_by_id(emu)) == [replaced]
    assert live_by_id(emu)[replaced]["disk_format"] == "raw"
    project.preview("--expect-no-changes")

    # destroy: the image the stack manages is gone
    project.destroy()
    assert live_by_id(emu) == {}
    assert project.resources() == []


def test_adopt_then_destroy_deletes_the_adopted_image(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    image_id = hand_made(emu)
    other = hand_made(emu, "not-adopted")
    project = project_for(tmp_path, emu, adopting(image_id))
    project.up()
    project.write_program(adopting(image_id, name="renamed-before-destroy"))
    project.up()
    assert live_by_id(emu)[image_id]["name"] == "renamed-before-destroy"
    project.destroy()
    assert list(live_by_id(emu)) == [other], "only the adopted image is deleted"


def test_replacing_an_adopted_image_keeping_adopt_id(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    image_id = hand_made(emu)
    project = project_for(tmp_path, emu, adopting(image_id))
    project.up()
    project.write_program(adopting(image_id, disk_format="raw"))
    project.up()
    replaced = project.outputs()["image_id"]
    assert replaced != image_id and list(live_by_id(emu)) == [replaced]
    project.preview("--expect-no-changes")
    project.destroy()


def test_dropping_adopt_id_after_adoption_changes_nothing(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    image_id = hand_made(emu)
    project = project_for(tmp_path, emu, adopting(image_id))
    project.up()
    project.write_program(adopting(None))
    try:
        project.preview("--expect-no-changes")
    finally:
        project.destroy()


def test_adopt_refuses_values_only_a_replacement_could_change(tmp_path: Path, emu: Emulator,
                                                               pulumi_cli: None) -> None:
    image_id = hand_made(emu)
    project = project_for(tmp_path, emu, adopting(image_id, disk_format="raw"))
    result = project.up(check=False)
    assert result.returncode != 0
    assert "cannot be changed in place" in result.output and "disk_format" in result.output, result.output
    assert "'qcow2'" in result.output and "'raw'" in result.output, "the message names both values"
    assert live_by_id(emu)[image_id]["disk_format"] == "qcow2" and list(live_by_id(emu)) == [image_id]
    assert project.resources() == [], "a failed adoption leaves nothing in the stack"


def test_adopt_a_missing_image_fails_clearly(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    project = project_for(tmp_path, emu, adopting("00000000-0000-0000-0000-000000000000"))
    result = project.up(check=False)
    assert result.returncode != 0
    assert "no such image" in result.output and "adopt_id" in result.output, result.output
    assert live_by_id(emu) == {} and project.resources() == []


READ_ONLY = '''
import pulumi
from ims_pulumi import ImageMetadata

ref = ImageMetadata.get("shared-base", "{image_id}")
pulumi.export("name", ref.name)
pulumi.export("disk_format", ref.disk_format)
pulumi.export("platform", ref.platform)
'''


def test_read_only_reference_survives_destroy(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    image_id = hand_made(emu, "shared-base")
    project = project_for(tmp_path, emu, READ_ONLY.format(image_id=image_id))

    emu.reset_stats()
    project.up()
    assert project.outputs() == {"name": "shared-base", "disk_format": "qcow2", "platform": "Other"}
    (state,) = project.resources()
    assert state["id"] == image_id and state.get("external") is True
    writes = {k: v for k, v in emu.stats()["requests"].items() if not k.startswith("GET")}
    assert writes == {}, f"a read-only reference only reads: {writes}"
    project.preview("--expect-no-changes")

    # read on every run: a change made by the owner shows up, and the stack does not undo it
    client = api(emu)
    client.update_image(image_id, [{"op": "replace", "path": "/name", "value": "shared-base-v2"}])
    client.close()
    project.up()
    assert project.outputs()["name"] == "shared-base-v2"
    assert live_by_id(emu)[image_id]["name"] == "shared-base-v2"

    # destroy forgets the reference and leaves the image alone
    emu.reset_stats()
    project.destroy()
    assert project.resources() == []
    assert list(live_by_id(emu)) == [image_id] and live_by_id(emu)[image_id]["name"] == "shared-base-v2"
    assert not emu.stats()["requests"].get("DELETE /v2/images/{id}"), "destroy must not delete a referenced image"


def test_read_only_reference_to_a_missing_image_fails(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    project = project_for(tmp_path, emu, READ_ONLY.format(image_id="00000000-0000-0000-0000-000000000000"))
    result = project.up(check=False)
    assert result.returncode != 0
    assert "00000000-0000-0000-0000-000000000000" in result.output, result.output
    assert project.resources() == []
