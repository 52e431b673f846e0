"""Half-committed creates on a real Glance 33 (issue 23): the image row is stored, the tag write fails,
the client gets a 500. Injected by ``scripts/glance/glance_faults.py`` at a rate; the provider sends a
client-chosen ``id`` and repeats the same POST, so ``409`` finds the image, which gets its tags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.pulumi_cli import PulumiProject
from ims_pulumi.core.client import CREATE_TOKEN_TAG, ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.support.glance import GlanceServer
from tests.support.half_commit import checked, lifecycle_loop
from tests.support.images import glance_images, user_tags

pytestmark = [pytest.mark.glance]

#: The share of POST /v2/images that Glance half-commits in these tests.
RATE = 0.5


def images(glance: GlanceServer) -> list[dict[str, Any]]:
    """The Glance's images that are not gone (see :func:`glance_images`)."""
    return glance_images(glance.url)


@pytest.fixture
def prov(glance_faulty: GlanceServer) -> Iterator[ImageMetadataProvider]:
    for image in images(glance_faulty):
        requests.delete(f"{glance_faulty.url}/v2/images/{image['id']}", timeout=30)
    context = ProviderContext({"server": "glance", "endpoint": glance_faulty.url})
    provider = ImageMetadataProvider.with_context(context)
    yield provider
    context.close()


def test_the_fault_is_off_until_a_test_asks(glance_faulty: GlanceServer) -> None:
    client = ImsClient.from_config(ProviderContext({"server": "glance", "endpoint": glance_faulty.url}).config)
    image = client.create_image({"name": "no-fault", "disk_format": "raw", "container_format": "bare",
                                 "tags": ["a", "b"]})
    assert sorted(image["tags"]) == ["a", "b"]
    client.delete_image(image["id"])


def test_the_fault_stores_the_image_without_tags_and_answers_500(glance_faulty: GlanceServer) -> None:
    before = glance_faulty.half_commits()
    with glance_faulty.half_commit(1.0):
        answer = requests.post(f"{glance_faulty.url}/v2/images", json={"name": "raw-half", "tags": ["x"]},
                               timeout=60)
    assert answer.status_code == 500, answer.text
    assert glance_faulty.half_commits() == before + 1
    (image,) = [i for i in images(glance_faulty) if i["name"] == "raw-half"]
    assert image["tags"] == [], "the image row committed, its tags did not"
    requests.delete(f"{glance_faulty.url}/v2/images/{image['id']}", timeout=30)


def test_a_half_committed_create_is_found_by_its_id_and_gets_its_tags(prov: ImageMetadataProvider,
                                                                      glance_faulty: GlanceServer) -> None:
    inputs = checked(prov, "one", name="g-half", tags=["team", "env"], disk_format="raw", container_format="bare")
    with glance_faulty.half_commit(1.0):
        # Every POST half-commits: the first stores the image, the second meets its id (409).
        created = prov.create(inputs)
    (image,) = images(glance_faulty)
    assert image["id"] == created.id
    assert sorted(image["tags"]) == sorted(["team", "env", f"{CREATE_TOKEN_TAG}={inputs['__create_token']}"])


def test_twenty_lifecycles_under_half_commits_leave_no_orphan(prov: ImageMetadataProvider,
                                                             glance_faulty: GlanceServer,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """20 create / replace (new first) / delete runs with half of all creates half-committed: after
    every step exactly the declared images exist, each with its declared tags and its token."""
    before = glance_faulty.half_commits()
    with glance_faulty.half_commit(RATE):
        creates = lifecycle_loop(prov, lambda: images(glance_faulty), prefix="g-loop", tag="team",
                                 first={"disk_format": "raw", "container_format": "bare"},
                                 second={"disk_format": "qcow2", "container_format": "bare"})
    fired = glance_faulty.half_commits() - before
    with capsys.disabled():
        print(f"\nGlance: 20 create/replace/destroy runs: {creates} creates, {fired} POSTs half-committed, "
              "0 orphan images")
    assert fired > 0


def two_images(name_a: str = "g-a", disk_format_b: str = "qcow2") -> str:
    """Two images: ``a`` is renamed in place, ``b`` is replaced by a disk_format change."""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

a = ImageMetadata("a", name="{name_a}", disk_format="qcow2", container_format="bare", tags=["team-a"])
b = ImageMetadata("b", name="g-b", disk_format="{disk_format_b}", container_format="bare", tags=["team-b"])
pulumi.export("a", a.id)
pulumi.export("b", b.id)
'''


@pytest.mark.e2e
def test_cli_lifecycle_under_half_committed_creates(prov: ImageMetadataProvider, glance_faulty: GlanceServer,
                                                    tmp_path: Path, pulumi_cli: None) -> None:
    """Create two images, rename one, replace the other, destroy: after each step exactly the declared
    images exist (with their tags), none after destroy, while Glance half-commits half of all creates."""
    project = PulumiProject.create(tmp_path, two_images(),
                                   config={"ims:server": "glance", "ims:endpoint": glance_faulty.url})

    def declared() -> dict[str, tuple[str, list[str]]]:
        live = {i["id"]: (i["name"], user_tags(i)) for i in images(glance_faulty)}
        assert sorted(live) == sorted(r["id"] for r in project.resources()), live
        return live

    before = glance_faulty.half_commits()
    with glance_faulty.half_commit(RATE):
        project.up()
        first = project.outputs()
        assert declared() == {first["a"]: ("g-a", ["team-a"]), first["b"]: ("g-b", ["team-b"])}
        project.write_program(two_images(name_a="g-a-renamed", disk_format_b="raw"))
        project.up()
        second = project.outputs()
        assert second["a"] == first["a"] and second["b"] != first["b"], "a renamed in place, b replaced"
        assert declared() == {second["a"]: ("g-a-renamed", ["team-a"]), second["b"]: ("g-b", ["team-b"])}
        project.destroy()
        assert images(glance_faulty) == []
    print(f"Glance CLI lifecycle: {glance_faulty.half_commits() - before} POSTs half-committed, no orphan")
