"""The provider end to end against a real OpenStack Glance 33.0.0 (no Keystone)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.pulumi_cli import PulumiProject
from tests.support.glance import GlanceServer
from tests.support.images import glance_images, user_tags

pytestmark = [pytest.mark.glance, pytest.mark.e2e]


def program(name: str = "glance-base", tags: str = '"team=infra", "env=dev"', protected: bool = False,
            disk_format: str = "qcow2", props: str = '{"owner_team": "infra"}') -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("base", name="{name}", os_version="Ubuntu 22.04 server 64bit",
    disk_format="{disk_format}", container_format="bare", min_disk=10, visibility="private",
    tags=[{tags}], protected={protected}, properties={props})
pulumi.export("image_id", image.id)
pulumi.export("os_type", image.os_type)
pulumi.export("status", image.status)
'''


def images(glance: GlanceServer) -> list[dict[str, Any]]:
    """The Glance's images that are not gone (see :func:`glance_images`)."""
    return glance_images(glance.url)


@pytest.fixture
def project(tmp_path: Path, glance: GlanceServer, pulumi_cli: None) -> PulumiProject:
    for image in images(glance):  # a clean Glance for each test
        requests.patch(f"{glance.url}/v2/images/{image['id']}", json=[{"op": "replace", "path": "/protected",
                       "value": False}], headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
                       timeout=30)
        requests.delete(f"{glance.url}/v2/images/{image['id']}", timeout=30)
    return PulumiProject.create(tmp_path, program(), config={"ims:server": "glance", "ims:endpoint": glance.url})


def test_lifecycle_on_glance(project: PulumiProject, glance: GlanceServer) -> None:
    project.up()
    out = project.outputs()
    assert out["os_type"] == "" and out["status"] == "queued", "Huawei-only outputs are empty on Glance"
    (image,) = images(glance)
    assert image["id"] == out["image_id"] and image["__os_version"] == "Ubuntu 22.04 server 64bit"
    assert user_tags(image) == ["env=dev", "team=infra"]

    project.preview("--expect-no-changes")
    project.refresh("--expect-no-changes")
    project.preview("--expect-no-changes")  # Glance does not keep tag order: it must never diff

    # in place on Glance: name, tags, properties and protected
    project.write_program(program(name="glance-renamed", tags='"team=infra", "tier=gold"', protected=True,
                                  props='{"owner_team": "platform", "extra": "1"}'))
    diff = project.preview("--diff").stdout
    assert "to update" in diff and "replace" not in diff, diff
    project.up()
    (image,) = images(glance)
    assert image["id"] == out["image_id"], "updated in place"
    assert (image["name"], image["protected"], user_tags(image)) == ("glance-renamed", True,
                                                                           ["team=infra", "tier=gold"])
    assert (image["owner_team"], image["extra"]) == ("platform", "1")
    project.preview("--expect-no-changes")

    # a protected image cannot be destroyed: clear message, nothing lost
    failed = project.destroy(check=False)
    assert failed.returncode != 0
    assert re.search(r"HTTP 403.*protected.*set protected=False", failed.output), failed.output
    assert len(images(glance)) == 1 and project.resources()

    # unprotect in its own step (in place on Glance), then a replacement (disk_format)
    project.write_program(program(name="glance-renamed"))
    project.up()
    assert images(glance)[0]["protected"] is False
    project.write_program(program(name="glance-renamed", disk_format="raw"))
    project.up()
    (replaced,) = images(glance)
    assert replaced["id"] != out["image_id"] and replaced["disk_format"] == "raw"

    # out-of-band delete: refresh drops it, up recreates it
    requests.delete(f"{glance.url}/v2/images/{replaced['id']}", timeout=30).raise_for_status()
    project.refresh()
    assert project.resources() == []
    project.up()
    assert len(images(glance)) == 1

    project.destroy()
    assert images(glance) == []


def test_protected_replacement_is_refused_at_preview(project: PulumiProject, glance: GlanceServer) -> None:
    project.write_program(program(protected=True))
    project.up()
    project.write_program(program(protected=False, disk_format="raw"))
    result = project.preview(check=False)
    assert result.returncode != 0 and "first run `pulumi up` with only protected=False" in result.output
    project.write_program(program(protected=False))
    project.up()
    project.destroy()
    assert images(glance) == []


def test_glance_validation_at_preview(project: PulumiProject, glance: GlanceServer) -> None:
    project.write_program(program(disk_format="zvhd2"))
    result = project.preview(check=False)
    assert result.returncode != 0 and "disk_format 'zvhd2' must be one of ami" in result.output
