"""An adopted image replaced by a change, when the create of the replacement fails.

A replacement creates the new image first (issue 24): a refused create leaves the adopted image as
it was, and the next `pulumi up` creates the replacement and only then deletes it. With the resource
option ``delete_before_replace=True`` the engine deletes the adopted image first; if the create then
fails, the next `pulumi up` must create a new image rather than try to adopt the one it deleted. The
provider knows this from the previous inputs at check, in every run, not from anything a provider
process remembers between runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.config import resolve
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def program(adopt_id: str, disk_format: str, delete_first: bool = False) -> str:
    opts = ", opts=pulumi.ResourceOptions(delete_before_replace=True)" if delete_first else ""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("legacy", name="legacy-app", disk_format="{disk_format}", adopt_id="{adopt_id}"{opts})
pulumi.export("image_id", image.id)
pulumi.export("disk_format", image.disk_format)
'''


@pytest.mark.parametrize("delete_first", [False, True], ids=["create-first", "delete_before_replace"])
def test_replacement_of_an_adopted_image_converges_after_a_failed_create(
        tmp_path: Path, emu: Emulator, pulumi_cli: None, delete_first: bool) -> None:
    config, secrets = ims_config(emu.url)
    raw = {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()}
    existing = ImsClient.from_config(resolve(raw.get, {})).create_image({"name": "legacy-app", "disk_format": "qcow2"})

    project = PulumiProject.create(tmp_path, program(existing["id"], "qcow2", delete_first), config=config,
                                   secrets=secrets)
    project.up()
    assert project.outputs()["image_id"] == existing["id"], "adopted, not created"

    # disk_format replaces; the create is refused
    project.write_program(program(existing["id"], "raw", delete_first))
    emu.set_faults([{"kind": "forbidden", "method": "POST", "path": "/v2/images"}])
    failed = project.up(check=False)
    assert failed.returncode != 0, failed.output
    assert "HTTP 403" in failed.output and "adopt image" not in failed.output, "a fresh create was tried"
    if delete_first:
        assert live_images(emu) == [], "the delete happened, the create did not"
    else:
        assert [i["id"] for i in live_images(emu)] == [existing["id"]], "created first: the old image is intact"
        assert project.outputs()["image_id"] == existing["id"], "and still the stack's"

    emu.set_faults([])
    project.up()
    out = project.outputs()
    images = live_images(emu)
    assert [i["id"] for i in images] == [out["image_id"]] and out["image_id"] != existing["id"], images
    assert out["disk_format"] == "raw" and images[0]["disk_format"] == "raw"
    project.preview("--expect-no-changes")
    project.destroy()
    assert live_images(emu) == []
