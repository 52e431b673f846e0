"""An adopted image replaced by a change, when the run dies between the delete and the create.

With delete-before-replace, the engine deletes the adopted image first. If the create then
fails (here: the API refuses it), the next `pulumi up` must create a new image rather than try
to adopt the one it deleted. The provider knows this from the previous inputs at check, in every
run, not from anything a provider process remembers between runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from ims_pulumi.client import ImsClient
from ims_pulumi.config import resolve
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def program(adopt_id: str, disk_format: str) -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("legacy", name="legacy-app", disk_format="{disk_format}", adopt_id="{adopt_id}")
pulumi.export("image_id", image.id)
pulumi.export("disk_format", image.disk_format)
'''


def test_replacement_of_an_adopted_image_converges_after_a_failed_create(
        tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    raw = {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()}
    existing = ImsClient.from_config(resolve(raw.get, {})).create_image({"name": "legacy-app", "disk_format": "qcow2"})

    project = PulumiProject.create(tmp_path, program(existing["id"], "qcow2"), config=config, secrets=secrets)
    project.up()
    assert project.outputs()["image_id"] == existing["id"], "adopted, not created"

    # disk_format replaces: the adopted image is deleted, then the create is refused
    project.write_program(program(existing["id"], "raw"))
    emu.set_faults([{"kind": "forbidden", "method": "POST", "path": "/v2/images"}])
    failed = project.up(check=False)
    assert failed.returncode != 0, failed.output
    assert "HTTP 403" in failed.output and "adopt image" not in failed.output, "a fresh create was tried"
    assert live_images(emu) == [], "the delete happened, the create did not"

    emu.set_faults([])
    project.up()
    out = project.outputs()
    images = live_images(emu)
    assert [i["id"] for i in images] == [out["image_id"]] and out["image_id"] != existing["id"], images
    assert out["disk_format"] == "raw" and images[0]["disk_format"] == "raw"
    project.preview("--expect-no-changes")
    project.destroy()
    assert live_images(emu) == []
