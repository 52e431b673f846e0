"""With the real CLI against the emulator: the lifecycle under half-committed creates (issue 23), and a
replacement whose source cannot be read (issue 24: created first, so the old image survives)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.support.images import live_images, user_tags
from tests.support.site import Site, serve

pytestmark = [pytest.mark.e2e]

#: The share of creates the emulator half-commits (image stored without its tags, then a 500).
RATE = 0.5


def two_images(name_a: str = "hc-a", disk_format_b: str = "qcow2") -> str:
    """Two images: ``a`` is renamed in place, ``b`` is replaced by a disk_format change."""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

a = ImageMetadata("a", name="{name_a}", disk_format="qcow2", min_disk=1, tags=["team=a"])
b = ImageMetadata("b", name="hc-b", disk_format="{disk_format_b}", min_disk=1, tags=["team=b"])
pulumi.export("a", a.id)
pulumi.export("b", b.id)
'''


def declared(emu: Emulator, project: PulumiProject) -> dict[str, tuple[str, list[str]]]:
    """Image id -> (name, user tags) of every live image, after checking that they are exactly the
    stack's images (no orphan)."""
    images = {i["id"]: (i["name"], user_tags(i)) for i in live_images(emu)}
    assert sorted(images) == sorted(r["id"] for r in project.resources()), (images, project.resources())
    return images


# Seeds whose first draws fire (the rule draws once per POST /v2/images): every run meets the fault.
@pytest.mark.parametrize("seed", [4, 9])
def test_lifecycle_under_half_committed_creates(tmp_path: Path, emu: Emulator, pulumi_cli: None, seed: int) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, two_images(), config=config, secrets=secrets)
    emu.set_faults([{"kind": "half_commit", "method": "POST", "path": "/v2/images", "rate": RATE}], seed=seed)

    project.up()
    first = project.outputs()
    assert declared(emu, project) == {first["a"]: ("hc-a", ["team=a"]), first["b"]: ("hc-b", ["team=b"])}

    project.write_program(two_images(name_a="hc-a-renamed", disk_format_b="raw"))
    project.up()
    second = project.outputs()
    assert second["a"] == first["a"] and second["b"] != first["b"], "a renamed in place, b replaced"
    assert declared(emu, project) == {second["a"]: ("hc-a-renamed", ["team=a"]), second["b"]: ("hc-b", ["team=b"])}

    project.destroy()
    assert live_images(emu) == []
    fired = emu.stats()["faults"].get("half_commit", 0)
    print(f"seed {seed}: {fired} POSTs half-committed, no orphan")
    assert fired > 0


def url_program(url: str) -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("web", name="web-image", disk_format="raw", min_disk=1, source=pulumi.RemoteAsset({url!r}))
pulumi.export("id", image.id)
'''


def test_a_replacement_from_a_url_that_answers_404_keeps_the_old_image(tmp_path: Path, emu: Emulator,
                                                                     pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    with serve(Site(tmp_path / "www")) as site:
        good = site.put("disk.raw", b"\x00" * 4096)
        project = PulumiProject.create(tmp_path / "stack", url_program(good), config=config, secrets=secrets)
        project.up()
        old_id = project.outputs()["id"]
        assert [(i["id"], i["status"]) for i in live_images(emu)] == [(old_id, "active")]

        project.write_program(url_program(site.url("typo.raw")))  # answers 404
        failed = project.up(check=False)
    assert failed.returncode != 0
    assert "Traceback" not in failed.output, failed.output
    lines = [li for li in failed.output.splitlines() if "cannot read the source" in li]
    assert lines and all("HTTP 404" in li and "typo.raw" in li for li in lines), \
        "one line (the CLI repeats it in its summary): what failed and what the URL answers"
    assert [(i["id"], i["status"]) for i in live_images(emu)] == [(old_id, "active")], \
        "the old image is intact and no queued image is left behind"
    assert [r["id"] for r in project.resources()] == [old_id], "the old image is still the stack's"


def unique_name_program(disk_format: str, delete_first: bool) -> str:
    opts = ", opts=pulumi.ResourceOptions(delete_before_replace=True)" if delete_first else ""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("u", name="unique-app", disk_format="{disk_format}", min_disk=1{opts})
pulumi.export("id", image.id)
'''


def test_a_region_with_unique_names_needs_delete_before_replace(tmp_path: Path, emu: Emulator,
                                                               pulumi_cli: None) -> None:
    """What the README says to do when a region refuses duplicate names (IMG.0009, the emulator's
    ``unique_names``): the create-first replacement fails and keeps the old image; the resource option
    ``delete_before_replace=True`` replaces it."""
    emu.configure(unique_names=True)
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, unique_name_program("qcow2", False), config=config, secrets=secrets)
    project.up()
    old_id = project.outputs()["id"]

    project.write_program(unique_name_program("raw", False))
    failed = project.up(check=False)
    assert failed.returncode != 0 and "IMG.0009" in failed.output, failed.output
    assert [i["id"] for i in live_images(emu)] == [old_id], "the old image is untouched"

    project.write_program(unique_name_program("raw", True))
    project.up()
    (image,) = live_images(emu)
    assert image["id"] == project.outputs()["id"] != old_id and image["disk_format"] == "raw"
    project.destroy()
