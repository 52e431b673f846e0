"""Staging in OBS and registration through the real pulumi CLI (issue 26): a 40 MiB file with AK/SK, the
preview saying which path it takes, `pulumi up` to `active` with the right size and checksum, no change
on the next preview, and destroy leaving no image and no staged object; the 12 MB rule at preview
without a staging bucket; an object already in OBS registered from a YAML program through the plugin."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core import transfer
from tests.obs.helpers import BUCKET, MIB, QCOW2_HEAD, put_object
from tests.plugin.sdk_support import use_plugin_on_path
from tests.support.images import live_images
from tests.support.s3 import S3Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def program(path: Path) -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("big", name="big-2026.12", disk_format="qcow2", min_disk=1,
                      source=pulumi.FileAsset({str(path)!r}))
pulumi.export("id", image.id)
pulumi.export("status", image.status)
pulumi.export("size", image.size)
pulumi.export("checksum", image.checksum)
'''


def staged(s3: S3Server) -> tuple[list[str], list[str]]:
    """Every staged object and unfinished upload in the staging bucket."""
    client = s3.client()
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=transfer.STAGING_PREFIX)
               .get("Contents", [])]
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=BUCKET, Prefix=transfer.STAGING_PREFIX)
               .get("Uploads", [])]
    return objects, uploads


def test_a_40_mib_file_is_staged_and_registered_through_the_cli(tmp_path: Path, obs_emu: Emulator,
                                                                s3_server: S3Server, pulumi_cli: None) -> None:
    disk = tmp_path / "build" / "big.qcow2"
    disk.parent.mkdir()
    disk.write_bytes(QCOW2_HEAD + os.urandom(40 * MIB - len(QCOW2_HEAD)))
    data = disk.read_bytes()
    config, secrets = ims_config(obs_emu.url)  # AK/SK: the native upload carries at most 12 MB
    config.update({"ims:obsBucket": BUCKET, "ims:obsEndpoint": s3_server.url})
    project = PulumiProject.create(tmp_path, program(disk), config=config, secrets=secrets,
                                   extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "cache")})

    preview = project.preview()
    assert "will be staged in OBS bucket 'ims-staging' and registered" in preview.output, preview.output
    assert "41,943,040 bytes: requests signed with AK/SK may carry at most 12,000,000 bytes" in preview.output
    assert live_images(obs_emu) == [] and staged(s3_server) == ([], [])

    project.up()
    out = project.outputs()
    assert (out["status"], out["size"]) == ("active", len(data))
    assert out["checksum"] == hashlib.md5(data).hexdigest()
    (image,) = live_images(obs_emu)
    assert image["id"] == out["id"] and image["checksum"] == out["checksum"]
    assert staged(s3_server) == ([], []), "the staged object is deleted once the image is active"

    quiet = project.preview("--expect-no-changes")
    assert "will be staged" not in quiet.output, "an image that has its bytes takes no path"
    project.destroy()
    assert live_images(obs_emu) == [] and staged(s3_server) == ([], [])


def test_without_a_staging_bucket_a_40_mib_file_fails_at_preview(tmp_path: Path, obs_emu: Emulator,
                                                                pulumi_cli: None) -> None:
    disk = tmp_path / "big.qcow2"
    with disk.open("wb") as handle:
        handle.write(QCOW2_HEAD)
        handle.truncate(40 * MIB)
    config, secrets = ims_config(obs_emu.url)
    project = PulumiProject.create(tmp_path, program(disk), config=config, secrets=secrets,
                                   extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "cache")})
    obs_emu.reset_stats()
    failed = project.preview(check=False)
    assert failed.returncode != 0
    assert "41,943,040 bytes" in failed.output and "12,000,000" in failed.output, failed.output
    assert "ims:obsBucket" in failed.output and "ims:authToken" in failed.output
    assert obs_emu.stats()["writes"] == 0


YAML_PROGRAM = """
name: obsyaml
runtime: yaml
resources:
  image:
    type: ims:index:ImageMetadata
    properties:
      name: registered-2026.12
      diskFormat: qcow2
      minDisk: 1
      source: {source}
      checksum: {checksum}
  local:
    type: ims:index:ImageMetadata
    properties:
      name: local-2026.12
      diskFormat: raw
      source: disk.raw
outputs:
  localSize: ${{local.size}}
  localSource: ${{local.source}}
  id: ${{image.id}}
  status: ${{image.status}}
  size: ${{image.size}}
  checksum: ${{image.checksum}}
  source: ${{image.source}}
"""


def test_an_obs_object_is_registered_from_a_yaml_program_through_the_plugin(
    tmp_path: Path, obs_emu: Emulator, s3_server: S3Server, pulumi_cli: None
) -> None:
    """``source: obs://bucket/key`` as a string (the engine refuses an asset of that scheme): registered
    where it is, nothing transferred, no change on the next preview, and destroy leaves the object. A
    path as a string (relative to the project, as in Python) is uploaded natively."""
    data = QCOW2_HEAD + os.urandom(2 * MIB)
    key = f"t-yaml-{os.urandom(4).hex()}/disk.qcow2"
    put_object(s3_server, key, data)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    config, secrets = ims_config(obs_emu.url)
    program = YAML_PROGRAM.format(source=f"obs://{BUCKET}/{key}", checksum=f"md5:{md5}")
    project = PulumiProject.create(tmp_path, "", name="obsyaml", config=config, secrets=secrets,
                                   files={"Pulumi.yaml": program})
    (project.dir / "__main__.py").unlink()
    (project.dir / "disk.raw").write_bytes(os.urandom(1024 * 512))
    use_plugin_on_path(project, tmp_path)

    project.up()
    out = project.outputs()
    assert (out["status"], out["size"], out["checksum"]) == ("active", len(data), f"md5:{md5}")
    assert out["source"]["kind"] == "obs" and out["source"]["location"] == f"obs://{BUCKET}/{key}"
    (image,) = [i for i in live_images(obs_emu) if i["name"] == "registered-2026.12"]
    assert image["id"] == out["id"] and image["checksum"] == md5, "IMS read the object's bytes"
    assert out["localSize"] == 1024 * 512
    assert out["localSource"]["kind"] == "file" and out["localSource"]["location"] == str(project.dir / "disk.raw")
    requests = obs_emu.stats()["requests"]
    assert requests["PUT /v1/cloudimages/{id}/upload"] == 1, "the object registered once"
    assert requests["PUT /v2/images/{id}/file"] == 1, "the local file uploaded natively, the object not"

    project.preview("--expect-no-changes")
    project.destroy()
    assert live_images(obs_emu) == []
    assert s3_server.client().head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(data), \
        "the registered object is the user's: destroy leaves it"
