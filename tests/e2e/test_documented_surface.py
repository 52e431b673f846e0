"""The strict emulator (the default) with the real CLI: what real IMS documents works end to end,
with only documented requests: a Chinese name, an OS version only the region's list knows, no
min_disk, custom properties and a description set after the create."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e]

PROGRAM = '''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("prod-base",
    name="生产-基础镜像",
    os_version="Ubuntu 24.04 server 64bit",
    disk_format="qcow2",
    tags=["team=infra"],
    description="{description}",
    properties={{"role": "base"}})
pulumi.export("image_id", image.id)
pulumi.export("platform", image.platform)
pulumi.export("min_disk", image.min_disk)
pulumi.export("tags", image.tags)
'''
OS_LIST = "GET /v1/cloudimages/os_version"


def test_documented_surface_end_to_end(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, PROGRAM.format(description="first"), config=config, secrets=secrets)

    emu.reset_stats()
    project.preview()
    assert emu.stats()["requests"].get(OS_LIST) == 1, "one look-up of the region's OS list per preview"

    project.up()
    out = project.outputs()
    (image,) = live_images(emu)
    assert image["id"] == out["image_id"] and image["name"] == "生产-基础镜像"
    assert (out["platform"], image["__os_version"]) == ("Ubuntu", "Ubuntu 24.04 server 64bit")
    assert (image["role"], image["__description"]) == ("base", "first"), "set by the PATCH after the create"
    assert out["tags"] == ["team=infra"], "the create-token tag is not the user's"
    assert any(t.startswith("pulumi-create-token=") for t in image["tags"])
    assert "min_disk" in out, "the server's default is an output even when not declared"

    project.preview("--expect-no-changes")
    project.refresh("--yes")
    project.preview("--expect-no-changes")

    project.write_program(PROGRAM.format(description="second"))
    project.up()
    assert [i["id"] for i in live_images(emu)] == [out["image_id"]], "a description change is in place"
    project.destroy()
    assert live_images(emu) == []
