"""Moving a stack from the dynamic provider to the ``ims`` plugin without recreating anything, as the
README says: ``pulumi state delete`` of the dynamic resources, ``pulumi import`` of each by id with the
plugin's type, the program rewritten on the plugin's SDK (without ``source``: an import cannot know it); the next preview shows no changes, the next
``up`` changes nothing on the server, and the stack goes on managing the same image and share.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.plugin.sdk_support import build_sdks, install_plugin, install_python_sdk
from tests.support.images import live_by_id, user_tags

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONSUMER = "d" * 32
DISK = b"migrated disk\n".ljust(512, b".") * 8

#: The stack as the dynamic provider deployed it; ARGS are the image's arguments, the same in both programs.
DYNAMIC = f"""
import pulumi
from ims_pulumi import ImageMember, ImageMetadata

app = ImageMetadata("app", ARGS)
share = ImageMember("share", image_id=app.id, member_id="{CONSUMER}")
pulumi.export("image_id", app.id)
pulumi.export("share_status", share.status)
"""

#: The same program on the plugin's SDK: the same names, the same values, snake_case as before.
PLUGIN = f"""
import pulumi
import pulumi_ims as ims

app = ims.ImageMetadata("app", ARGS)
share = ims.ImageMember("share", image_id=app.id, member_id="{CONSUMER}")
pulumi.export("image_id", app.id)
pulumi.export("share_status", share.status)
"""

METADATA = ('name="mig-app", disk_format="raw", min_disk=1, os_version="Ubuntu 22.04 server 64bit", '
            'description="moved to the plugin", tags=["team=web"]')

CONTENT = ', source=pulumi.FileAsset("disk.raw")'
PROPERTIES = ', properties={"hw_disk_bus": "virtio"}'

#: The image's arguments in the dynamic program and in the plugin program; each case says why it is here.
CASES = [
    # the declared fields an import reads back: the path the README documents
    pytest.param(METADATA, METADATA, id="metadata-and-share"),
    # an image with content: `source` is not declared again after the import (the README: an import cannot
    # know where the bytes came from, and a new source on an active image replaces it)
    pytest.param(METADATA + CONTENT, METADATA, id="content"),
    # custom attributes, which the server has: the import should read them back
    pytest.param(METADATA + PROPERTIES, METADATA + PROPERTIES, id="custom-properties"),
]


@pytest.mark.parametrize(("dynamic_args", "plugin_args"), CASES)
def test_dynamic_stack_moves_to_the_plugin_without_recreating(
        dynamic_args: str, plugin_args: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
        emu: Emulator, pulumi_cli: None) -> None:
    site = install_python_sdk(build_sdks(tmp_path_factory), tmp_path_factory)
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, DYNAMIC.replace("ARGS", dynamic_args), name="migrate", config=config,
                                   secrets=secrets, extra_env={"PYTHONPATH": str(site)})
    (project.dir / "disk.raw").write_bytes(DISK)
    install_plugin(project, tmp_path)

    project.up()
    image_id = project.outputs()["image_id"]
    before = live_by_id(emu)
    assert list(before) == [image_id]
    (dynamic_image,) = project.resources("ImageMetadata")
    assert dynamic_image["type"] != "ims:index:ImageMetadata", "deployed by the dynamic provider"

    # 1. forget the dynamic resources (the share depends on the image): nothing is deleted on the server
    project.run("state", "delete", dynamic_image["urn"], "--target-dependents", "--yes")
    assert project.resources("ImageMetadata") == [] and project.resources("ImageMember") == []
    assert live_by_id(emu) == before

    # 2. import each by id with the plugin's type, under the same names; 3. the program on the plugin's SDK
    project.run("import", "ims:index:ImageMetadata", "app", image_id, "--yes", "--protect=false",
                "--generate-code=false")
    project.run("import", "ims:index:ImageMember", "share", f"{image_id}/{CONSUMER}", "--yes", "--protect=false",
                "--generate-code=false")
    project.write_program(PLUGIN.replace("ARGS", plugin_args))

    project.preview("--expect-no-changes")
    project.up()
    assert project.outputs() == {"image_id": image_id, "share_status": "pending"}
    after = live_by_id(emu)
    assert list(after) == [image_id], "the same image: not recreated, no second one"
    assert after[image_id]["updated_at"] == before[image_id]["updated_at"], "not even updated"
    assert user_tags(after[image_id]) == ["team=web"]
    types = {r["type"] for r in project.resources("")}
    assert {"ims:index:ImageMetadata", "ims:index:ImageMember"} <= types
    assert not [t for t in types if "pulumi-python" in t or "dynamic" in t], "nothing of the dynamic provider left"

    # the plugin manages it from now on: an in-place change, then destroy
    managed = plugin_args.replace("moved to the plugin", "managed by the plugin")
    project.write_program(PLUGIN.replace("ARGS", managed))
    project.up()
    assert live_by_id(emu)[image_id]["__description"] == "managed by the plugin"
    project.destroy()
    assert live_by_id(emu) == {}
