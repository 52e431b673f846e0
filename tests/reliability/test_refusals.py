"""Issue 6, item 5: each refusal of the API ends with one actionable message and a consistent state.

Actionable: the message names what failed (operation and image), the API code, the request id
(to quote to support) and what to do. Consistent: the state lists exactly the images the server
has, nothing is pending, and a run after the cause is fixed converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, Result, ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.config import resolve
from tests.reliability.helpers import (
    OS_VERSION,
    assert_actionable,
    assert_consistent,
    assert_converged,
    diagnostics,
    images_program,
    state_resources,
)
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e]


def failed_resources(result: Result) -> dict[str, list[str]]:
    """The diagnostics of the ImageMetadata resources of a run that must have failed."""
    assert result.returncode != 0, result.output[-3000:]
    failed = {name: messages for name, messages in diagnostics(result.stdout).items() if name.startswith("img-")}
    assert failed, result.output[-3000:]
    return failed


def test_quota_exceeded(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(5, "quota"), config=config, secrets=secrets)
    emu.set_faults([{"kind": "quota", "limit": 3}])

    failed = failed_resources(project.up(check=False))
    for name, messages in failed.items():
        assert_actionable(messages, what=f"create image 'quota-{name[-3:]}' failed: HTTP 400", code="IMG.0015",
                          todo="Delete unused private images or ask Huawei Cloud to raise the image quota")
    assert len(failed) + len(assert_consistent(project, emu, "quota")) <= 5
    assert len(live_images(emu, "quota")) <= 3

    emu.clear_faults()  # the quota was raised: run again
    project.up()
    assert_converged(project, emu, 5, "quota")


def test_name_conflict(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    emu.configure(unique_names=True)
    config, secrets = ims_config(emu.url)
    client = ImsClient.from_config(resolve(lambda key: {**config, **secrets}.get(f"ims:{key}"), {}))
    outside = client.create_image({"name": "taken-001", "__os_version": OS_VERSION, "disk_format": "qcow2",
                                   "min_disk": 40, "tags": ["team=reliability", "index=1"]})
    project = PulumiProject.create(tmp_path, images_program(2, "taken"), config=config, secrets=secrets)

    failed = failed_resources(project.up(check=False))
    assert list(failed) == ["img-001"], failed
    assert_actionable(failed["img-001"], what="create image 'taken-001' failed: HTTP 400", code="IMG.0009",
                      todo="Choose another name, or adopt the existing image with adopt_id")
    resources, _ = state_resources(project)
    assert "img-001" not in resources
    assert [i["id"] for i in live_images(emu, "taken") if i["name"] == "taken-001"] == [outside["id"]]
    assert {r["id"] for r in resources.values()} | {outside["id"]} == {i["id"] for i in live_images(emu, "taken")}

    # What the message says to do: adopt the existing image.
    project.write_program(images_program(2, "taken", extra=f', adopt_id="{outside["id"]}" if i == 1 else None'))
    project.up()
    resources = assert_consistent(project, emu, "taken")
    assert resources["img-001"]["id"] == outside["id"] and len(resources) == 2


def test_protected_image_on_destroy(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(1, "guarded", extra=", protected=True"), config=config,
                                   secrets=secrets)
    project.up()
    (image,) = live_images(emu, "guarded")

    failed = failed_resources(project.destroy(check=False))
    assert_actionable(failed["img-000"], what=f"delete image {image['id']} failed: HTTP 403", code="IMG.0028",
                      todo="protected=False")
    assert_converged(project, emu, 1, "guarded")  # nothing deleted, nothing forgotten

    # Following the message: on IMS, whose PATCH cannot change `protected`, preview explains the way out.
    project.write_program(images_program(1, "guarded", extra=", protected=False"))
    preview = project.preview(check=False)
    (message,) = [m for m in diagnostics(preview.stdout)["img-000"] if m.startswith("error: ")]
    assert "protected cannot be changed from true to false" in message and "ims:protectedInPlace" in message
    emu.configure(allow_protected_patch=True)  # an endpoint that does allow it
    project.run("config", "set", "ims:protectedInPlace", "true")
    project.up()
    assert live_images(emu, "guarded")[0]["protected"] is False
    project.destroy()
    assert live_images(emu, "guarded") == [] and project.resources() == []


def test_wrong_credentials(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(2, "auth"), config=config,
                                   secrets={**secrets, "ims:secretKey": "not-the-secret-key-of-this-ak"})
    failed = failed_resources(project.up(check=False))
    for _name, messages in failed.items():
        # the first check of the run proves the credentials: it fails before any create is attempted
        assert_actionable(messages, what="check ims:endpoint and the credentials failed: HTTP 401",
                          code="APIGW.0301", todo="Check ims:accessKey/ims:secretKey")
    assert emu.stats()["writes"] == 0, "nothing is written with refused credentials"
    assert_converged(project, emu, 0, "auth")


def test_missing_permission(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(2, "deny"), config=config, secrets=secrets)
    grant = "Grant the IAM user the IMS permissions it needs"

    emu.set_faults([{"kind": "forbidden", "method": "POST"}])  # may read, may not create
    failed = failed_resources(project.up(check=False))
    for name, messages in failed.items():
        assert_actionable(messages, what=f"create image 'deny-{name[-3:]}' failed: HTTP 403", code="IMG.0026",
                          todo=grant)
    assert_converged(project, emu, 0, "deny")

    emu.set_faults([{"kind": "forbidden", "method": "DELETE"}])  # may create, may not delete
    project.up()
    failed = failed_resources(project.destroy(check=False))
    ids = {i["name"]: i["id"] for i in live_images(emu, "deny")}
    for name, messages in failed.items():
        assert_actionable(messages, what=f"delete image {ids['deny-' + name[-3:]]} failed: HTTP 403",
                          code="IMG.0026", todo=grant)
    assert_converged(project, emu, 2, "deny")
