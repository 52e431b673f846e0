"""Registering an OBS object as an image's file (``PUT /v1/cloudimages/{id}/upload``) against a real object server.

The emulator reads the object from versitygw (tests/support/s3.py); every rule checked here is in
the "Registration from OBS" table of ims_emulator/README.md, documented or inferred.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import psutil
import pytest
from boto3.s3.transfer import TransferConfig

from ims_emulator import DEMO_PROJECT_ID, PLATFORM_PROJECT_ID
from ims_emulator.process import Emulator
from tests.obs.helpers import BUCKET, MIB, QCOW2_HEAD, digests, follow, job_path, put_object, register
from tests.support.emulator_client import Api, error_code
from tests.support.s3 import S3Server

pytestmark = [pytest.mark.contract]


def test_registration_reads_the_objects_bytes_and_goes_queued_saving_active(
    obs_emu: Emulator, obs_api: Api, s3_server: S3Server, prefix: str
) -> None:
    """A multipart object (its ETag is no MD5) becomes the image: size and checksums from its bytes."""
    obs_emu.configure(upload_delay=0.5)  # long enough to see `saving`
    data = QCOW2_HEAD + os.urandom(20 * MIB)
    key = f"{prefix}disk.qcow2"
    s3_server.client().upload_fileobj(io.BytesIO(data), BUCKET, key,
                                      Config=TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB))
    assert "-" in s3_server.client().head_object(Bucket=BUCKET, Key=key)["ETag"], "a multipart ETag, not the MD5"
    image = obs_api.create(name="registered", disk_format="qcow2")
    assert image["status"] == "queued"

    response = register(obs_api, image["id"], f"{BUCKET}:{key}")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"job_id"}
    job_id = response.json()["job_id"]
    assert len(job_id) == 32 and int(job_id, 16) >= 0
    assert obs_api.get(f"/v2/images/{image['id']}").json()["status"] == "saving", "saving from the moment it is accepted"

    seen = follow(obs_api, job_id, image["id"])
    assert seen.job["status"] == "SUCCESS", seen.job
    assert seen.image_statuses == ["saving", "active"]
    assert seen.job_statuses[-1] == "SUCCESS" and set(seen.job_statuses) <= {"INIT", "RUNNING", "SUCCESS"}
    size, md5, sha512 = digests(data)
    assert (seen.image["size"], seen.image["checksum"], seen.image["os_hash_value"]) == (size, md5, sha512)
    assert seen.image["__image_size"] == str(size) and seen.image["os_hash_algo"] == "sha512"
    assert seen.image["active_at"]
    assert seen.job["job_type"] == "imsNativeImportImageJob"
    assert seen.job["entities"] == {"image_id": image["id"], "image_name": "registered", "process_percent": 1.0}
    assert (seen.job["error_code"], seen.job["fail_reason"]) == (None, None)
    assert seen.job["begin_time"] <= seen.job["end_time"]


def test_an_active_image_is_not_registered_again(obs_emu: Emulator, obs_api: Api, s3_server: S3Server,
                                                 prefix: str) -> None:
    """Registration needs a queued image: a second registration (or one while the first runs) is IMG.0046."""
    obs_emu.configure(upload_delay=0.5)
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(4096))
    image = obs_api.create(name="twice")
    first = register(obs_api, image["id"], url)
    assert first.status_code == 200, first.text
    during = register(obs_api, image["id"], url)
    assert (during.status_code, error_code(during)) == (400, "IMG.0046"), during.text
    assert "saving" in during.json()["error"]["message"]
    follow(obs_api, first.json()["job_id"], image["id"])
    after = register(obs_api, image["id"], url)
    assert (after.status_code, error_code(after)) == (400, "IMG.0046")
    assert "active" in after.json()["error"]["message"]
    upload = obs_api.put(f"/v2/images/{image['id']}/file", data=b"x", content_type="application/octet-stream")
    assert upload.status_code == 409, "and no native upload either"


# image_url forms and what each is refused with (checked before the image and the object store).
BAD_URLS = [
    ("no ':' between bucket and object (a path)", "ims-staging/disk.qcow2", "IMG.0017"),
    ("an obs:// URL: the object part starts with '/'", "obs://ims-staging/disk.qcow2", "IMG.0017"),
    ("an s3:// URL", "s3://ims-staging/disk.qcow2", "IMG.0017"),
    ("an https URL", "https://ims-staging.obs.cn-north-4.myhuaweicloud.com/disk.qcow2", "IMG.0017"),
    ("empty bucket name (documented code)", ":disk.qcow2", "IMG.0068"),
    ("empty object name", "ims-staging:", "IMG.0017"),
    ("empty string", "", "IMG.0017"),
    ("upper-case bucket (OBS bucket names are lower-case)", "IMS-Staging:disk.qcow2", "IMG.0109"),
    ("underscore in the bucket", "ims_staging:disk.qcow2", "IMG.0109"),
    ("bucket of 2 characters", "ab:disk.qcow2", "IMG.0109"),
    ("bucket of 64 characters", "b" * 64 + ":disk.qcow2", "IMG.0109"),
    ("bucket with '..'", "ims..staging:disk.qcow2", "IMG.0109"),
    ("bucket with '.-'", "ims.-staging:disk.qcow2", "IMG.0109"),
    ("bucket ending with '-'", "ims-staging-:disk.qcow2", "IMG.0109"),
    ("bucket that is an IP address", "192.168.1.1:disk.qcow2", "IMG.0109"),
    ("space in the object name (documented code)", "ims-staging:my disk.qcow2", "IMG.0175"),
    ("space in a folder of the object name", "ims-staging:my folder/disk.qcow2", "IMG.0175"),
    ("object name over 1024 bytes", "ims-staging:" + "d" * 1020 + ".qcow2", "IMG.0017"),
    ("ISO: not in the documented list (strictest reading)", "ims-staging:disk.iso", "IMG.0072"),
    ("no extension", "ims-staging:disk", "IMG.0072"),
    ("an extension that is no image format", "ims-staging:disk.tar.gz", "IMG.0072"),
    ("a dot in a folder, none in the file name", "ims-staging:v1.2/disk", "IMG.0072"),
]


@pytest.mark.parametrize(("url", "code"), [(url, code) for _, url, code in BAD_URLS],
                         ids=[why for why, _, _ in BAD_URLS])
def test_bad_image_urls_are_refused(obs_api: Api, url: str, code: str) -> None:
    image = obs_api.create(name="bad-url")
    response = register(obs_api, image["id"], url)
    assert (response.status_code, error_code(response)) == (400, code), response.text
    assert obs_api.get(f"/v2/images/{image['id']}").json()["status"] == "queued", "nothing changed"


# Bodies that are not exactly {"image_url": "<string>"}.
BAD_BODIES = [
    ("no image_url", {}, "IMG.0001"),
    ("image_url null", {"image_url": None}, "IMG.0001"),
    ("image_url not a string", {"image_url": 42}, "IMG.0001"),
    ("another key beside image_url (named in the message)", {"image_url": "ims-staging:a.raw", "os_version": "x"},
     "IMG.0001"),
    ("a list, not an object", ["ims-staging:a.raw"], "IMG.0001"),
]


@pytest.mark.parametrize(("body", "code"), [(body, code) for _, body, code in BAD_BODIES],
                         ids=[why for why, _, _ in BAD_BODIES])
def test_bad_bodies_are_refused(obs_api: Api, body: object, code: str) -> None:
    image = obs_api.create(name="bad-body")
    response = obs_api.put(f"/v1/cloudimages/{image['id']}/upload", json=body)
    assert (response.status_code, error_code(response)) == (400, code), response.text


def test_an_empty_body_is_img_0007(obs_api: Api) -> None:
    image = obs_api.create(name="no-body")
    response = obs_api.put(f"/v1/cloudimages/{image['id']}/upload", data=b"", content_type="application/json")
    assert (response.status_code, error_code(response)) == (400, "IMG.0007")


# File names the documented formats accept (the extension, in any case).
GOOD_NAMES = [
    ("raw", "disk.raw"), ("upper-case extension", "DISK.RAW"), ("zvhd2", "disk.zvhd2"), ("zvhd", "disk.zvhd"),
    ("a folder and dots in the name", "images/v1.2/ubuntu-24.04.raw"),
    ("a colon in the object name (the bucket ends at the first one)", "a:b.raw"),
]


@pytest.mark.parametrize("name", [name for _, name in GOOD_NAMES], ids=[why for why, _ in GOOD_NAMES])
def test_documented_formats_are_registered(obs_api: Api, s3_server: S3Server, prefix: str, name: str) -> None:
    url = put_object(s3_server, prefix + name, os.urandom(1024))
    image = obs_api.create(name="good-name")
    response = register(obs_api, image["id"], url)
    assert response.status_code == 200, response.text
    assert follow(obs_api, response.json()["job_id"], image["id"]).job["status"] == "SUCCESS"


def test_a_missing_bucket_is_img_0069(obs_api: Api) -> None:
    image = obs_api.create(name="no-bucket")
    response = register(obs_api, image["id"], "no-such-bucket-here:disk.qcow2")
    assert (response.status_code, error_code(response)) == (400, "IMG.0069"), response.text
    assert "'no-such-bucket-here' does not exist" in response.json()["error"]["message"]
    assert obs_api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_a_missing_object_is_img_0057(obs_api: Api, prefix: str) -> None:
    image = obs_api.create(name="no-object")
    response = register(obs_api, image["id"], f"{BUCKET}:{prefix}missing.qcow2")
    assert (response.status_code, error_code(response)) == (400, "IMG.0057"), response.text
    assert "does not exist" in response.json()["error"]["message"]
    assert obs_api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_an_empty_object_is_img_0057(obs_api: Api, s3_server: S3Server, prefix: str) -> None:
    url = put_object(s3_server, f"{prefix}empty.raw", b"")
    image = obs_api.create(name="empty")
    response = register(obs_api, image["id"], url)
    assert (response.status_code, error_code(response)) == (400, "IMG.0057"), response.text
    assert "is empty" in response.json()["error"]["message"]


def test_an_object_over_the_size_limit_is_img_0059(obs_emu: Emulator, obs_api: Api, s3_server: S3Server,
                                                   prefix: str) -> None:
    """The limit (128 * 10^9 bytes by default) is lowered so a small object passes it: at the limit is fine."""
    obs_emu.configure(register_max_bytes=1000)
    over = put_object(s3_server, f"{prefix}over.raw", os.urandom(1001))
    at = put_object(s3_server, f"{prefix}at.raw", os.urandom(1000))
    image = obs_api.create(name="big")
    refused = register(obs_api, image["id"], over)
    assert (refused.status_code, error_code(refused)) == (400, "IMG.0059"), refused.text
    assert "1,001 bytes" in refused.json()["error"]["message"] and "1,000" in refused.json()["error"]["message"]
    accepted = register(obs_api, image["id"], at)
    assert accepted.status_code == 200, accepted.text


def test_the_default_size_limits_are_the_documented_ones(obs_emu: Emulator) -> None:
    """Registration: at most 128 GB (IMG.0059's handling measure); native upload: smaller than 2 GB."""
    config = obs_emu.configure()
    assert (config["register_max_bytes"], config["upload_max_bytes"]) == (128 * 10**9, 2 * 10**9 - 1)


# Objects whose bytes contradict their name: the job fails (IMG.0057), the image is killed.
# (name, bytes, why). Names whose format has no signature (raw, zvhd2) are never refused for their bytes.
WRONG_BYTES = [
    ("disk.qcow2", b"\x00" * 4096, "a qcow2 without the QFI\\xfb magic"),
    ("disk.vmdk", b"QFI\xfb" + b"\x00" * 4092, "a qcow2 named vmdk"),
    ("disk.vhdx", os.urandom(4096), "random bytes named vhdx"),
    ("disk.vhd", os.urandom(4096), "a vhd without a conectix footer"),
    ("disk.vdi", b"\x00" * 4096, "a vdi without its magic at 0x40"),
]


@pytest.mark.parametrize(("name", "data"), [(name, data) for name, data, _ in WRONG_BYTES],
                         ids=[why for _, _, why in WRONG_BYTES])
def test_bytes_that_contradict_the_name_fail_the_job(obs_api: Api, s3_server: S3Server, prefix: str, name: str,
                                                     data: bytes) -> None:
    url = put_object(s3_server, prefix + name, data)
    image = obs_api.create(name="wrong-bytes")
    response = register(obs_api, image["id"], url)
    assert response.status_code == 200, "accepted: the bytes are checked while the job runs"
    seen = follow(obs_api, response.json()["job_id"], image["id"])
    assert (seen.job["status"], seen.job["error_code"]) == ("FAIL", "IMG.0057"), seen.job
    assert name.rsplit(".", 1)[1].upper() in seen.job["fail_reason"]
    assert seen.image["status"] == "killed"
    assert seen.image["checksum"] is None and seen.image["size"] is None, "no data recorded"


# Bytes that do carry the format the name says.
RIGHT_BYTES = [
    ("disk.qcow2", QCOW2_HEAD + b"\x00" * 4088, "qcow2 magic"),
    ("disk.vhd", b"\x00" * 4096 + b"conectix" + b"\x00" * 504, "a fixed vhd: the footer in the last 512 bytes"),
    ("disk.vhd", b"conectix" + b"\x00" * 4600, "a dynamic vhd: the footer copy at 0"),
    ("disk.vmdk", b"KDMV" + b"\x00" * 4092, "a sparse vmdk"),
    ("disk.vmdk", b"# Disk DescriptorFile\nversion=1\n", "a vmdk descriptor"),
    ("disk.vdi", b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(64, b"\x00") + b"\x7f\x10\xda\xbe" + b"\x00" * 60,
     "vdi magic at 0x40"),
    ("disk.qed", b"QED\x00" + b"\x00" * 60, "qed magic"),
    ("disk.vhdx", b"vhdxfile" + b"\x00" * 56, "vhdx identifier"),
    ("disk.zvhd2", os.urandom(4096), "zvhd2: no signature checked"),
]


@pytest.mark.parametrize(("name", "data"), [(name, data) for name, data, _ in RIGHT_BYTES],
                         ids=[why for _, _, why in RIGHT_BYTES])
def test_bytes_that_match_the_name_are_registered(obs_api: Api, s3_server: S3Server, prefix: str, name: str,
                                                  data: bytes) -> None:
    url = put_object(s3_server, prefix + name, data)
    image = obs_api.create(name="right-bytes")
    response = register(obs_api, image["id"], url)
    assert response.status_code == 200, response.text
    assert follow(obs_api, response.json()["job_id"], image["id"]).job["status"] == "SUCCESS"


def test_the_kill_registration_fault_fails_the_job_with_img_1075(obs_emu: Emulator, obs_api: Api,
                                                                  s3_server: S3Server, prefix: str) -> None:
    obs_emu.set_faults([{"kind": "kill_registration", "count": 1}])
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(4096))
    image = obs_api.create(name="killed")
    seen = follow(obs_api, register(obs_api, image["id"], url).json()["job_id"], image["id"])
    assert (seen.job["status"], seen.job["error_code"]) == ("FAIL", "IMG.1075")
    assert seen.job["fail_reason"].startswith("Failed to register the image file.")
    assert seen.image_statuses[-1] == "killed" and seen.image["checksum"] is None
    again = obs_api.create(name="not-killed")
    assert follow(obs_api, register(obs_api, again["id"], url).json()["job_id"], again["id"]).image["status"] == "active"


def test_deleting_the_image_during_registration_fails_the_job(obs_emu: Emulator, obs_api: Api, s3_server: S3Server,
                                                              prefix: str) -> None:
    obs_emu.configure(upload_delay=0.5)
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(4096))
    image = obs_api.create(name="deleted")
    job_id = register(obs_api, image["id"], url).json()["job_id"]
    assert obs_api.delete(f"/v2/images/{image['id']}").status_code == 204
    for _ in range(200):
        job = obs_api.get(job_path(job_id)).json()
        if job["status"] in ("SUCCESS", "FAIL"):
            break
        time.sleep(0.05)
    assert (job["status"], job["error_code"]) == ("FAIL", "IMG.1075"), "the job outlives its image and says why"
    assert "deleted" in job["fail_reason"]


IMAGE_REFUSALS = [
    ("an unknown image", "00000000-0000-4000-8000-000000000000", 404, "IMG.0027"),
    ("a public image of the catalogue", "public", 403, "IMG.0047"),
]


@pytest.mark.parametrize(("which", "status", "code"), [(which, status, code) for _, which, status, code in
                                                      IMAGE_REFUSALS], ids=[why for why, *_ in IMAGE_REFUSALS])
def test_the_image_must_be_the_callers(obs_emu: Emulator, obs_api: Api, s3_server: S3Server, prefix: str,
                                       which: str, status: int, code: str) -> None:
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(16))
    image_id = obs_emu.images(PLATFORM_PROJECT_ID)[0]["id"] if which == "public" else which
    response = register(obs_api, image_id, url)
    assert (response.status_code, error_code(response)) == (status, code), response.text


def test_without_an_object_store_registration_is_img_0069(emu: Emulator) -> None:
    """The plain emulator (no --obs-endpoint) says how to give it one."""
    api = Api(emu.url)
    image = api.create(name="no-store")
    response = register(api, image["id"], "ims-staging:disk.qcow2")
    assert (response.status_code, error_code(response)) == (400, "IMG.0069"), response.text
    assert "--obs-endpoint" in response.json()["error"]["message"]


def test_wrong_object_store_credentials_are_img_0069(s3_server: S3Server, prefix: str) -> None:
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(16))
    with Emulator.start(None, "--obs-endpoint", s3_server.url, "--obs-credentials",
                        f"{s3_server.access_key}:not-the-secret") as emu:
        api = Api(emu.url)
        image = api.create(name="bad-keys")
        response = register(api, image["id"], url)
        assert (response.status_code, error_code(response)) == (400, "IMG.0069"), response.text
        assert "--obs-credentials" in response.json()["error"]["message"]


def test_an_unreachable_object_store_is_a_500(s3_server: S3Server) -> None:
    with Emulator.start(None, "--obs-endpoint", "http://127.0.0.1:9", "--obs-credentials", s3_server.credentials) as emu:
        api = Api(emu.url)
        image = api.create(name="down")
        response = register(api, image["id"], "ims-staging:disk.raw")
        assert (response.status_code, error_code(response)) == (500, "IMG.0069"), response.text
        assert "http://127.0.0.1:9" in response.json()["error"]["message"]
        assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


JOB_QUERIES = [
    ("another project's id in the path", "ffffffffffffffffffffffffffffffff", "known", "IMG.0067"),
    ("an unknown job", DEMO_PROJECT_ID, "unknown", "IMG.0023"),
]


@pytest.mark.parametrize(("project", "job", "code"), [(p, j, c) for _, p, j, c in JOB_QUERIES],
                         ids=[why for why, *_ in JOB_QUERIES])
def test_job_queries_that_fail_are_400(obs_api: Api, s3_server: S3Server, prefix: str, project: str, job: str,
                                       code: str) -> None:
    """The job API documents 400/401/403/500/503 (no 404)."""
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(16))
    image = obs_api.create(name="jobs")
    job_id = register(obs_api, image["id"], url).json()["job_id"] if job == "known" else "0" * 32
    response = obs_api.get(job_path(job_id, project))
    assert (response.status_code, error_code(response)) == (400, code), response.text


def test_a_job_is_seen_only_by_its_project(s3_server: S3Server, prefix: str) -> None:
    other_ak, other_sk, other_project = "OTHERPROJECTAK000001", "other-secret", "1" * 32
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(16))
    with Emulator.start(None, "--obs-endpoint", s3_server.url, "--obs-credentials", s3_server.credentials,
                        "--identity", f"{other_ak}:{other_sk}:{other_project}") as emu:
        owner, other = Api(emu.url), Api(emu.url, ak=other_ak, sk=other_sk, project=other_project)
        image = owner.create(name="mine")
        job_id = register(owner, image["id"], url).json()["job_id"]
        response = other.get(job_path(job_id, other_project))
        assert (response.status_code, error_code(response)) == (400, "IMG.0023"), "as if it did not exist"
        assert owner.get(job_path(job_id)).status_code == 200


def test_a_restart_after_the_bytes_were_read_ends_active(s3_server: S3Server, prefix: str) -> None:
    """The image waited `upload_delay` when the emulator stopped: the next start makes it active, the job SUCCESS."""
    data = os.urandom(4096)
    url = put_object(s3_server, f"{prefix}a.raw", data)
    with Emulator.start(None, "--obs-endpoint", s3_server.url, "--obs-credentials", s3_server.credentials,
                        "--upload-delay", "60") as emu:
        api = Api(emu.url)
        image = api.create(name="restarted")
        job_id = register(api, image["id"], url).json()["job_id"]
        for _ in range(200):
            if api.get(f"/v2/images/{image['id']}").json()["checksum"]:
                break
            time.sleep(0.05)
        emu.restart()
        api = Api(emu.url)
        shown = api.get(f"/v2/images/{image['id']}").json()
        assert (shown["status"], shown["checksum"]) == ("active", digests(data)[1])
        assert api.get(job_path(job_id)).json()["status"] == "SUCCESS"


def test_reset_removes_jobs(obs_emu: Emulator, obs_api: Api, s3_server: S3Server, prefix: str) -> None:
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(16))
    image = obs_api.create(name="reset")
    job_id = register(obs_api, image["id"], url).json()["job_id"]
    obs_emu.reset()
    assert error_code(obs_api.get(job_path(job_id))) == "IMG.0023"


def test_registration_is_counted_in_the_stats(obs_emu: Emulator, obs_api: Api, s3_server: S3Server,
                                              prefix: str) -> None:
    url = put_object(s3_server, f"{prefix}a.raw", os.urandom(16))
    image = obs_api.create(name="stats")
    follow(obs_api, register(obs_api, image["id"], url).json()["job_id"], image["id"])
    stats = obs_emu.stats()
    assert stats["requests"]["PUT /v1/cloudimages/{id}/upload"] == 1
    assert stats["responses"]["PUT /v1/cloudimages/{id}/upload 200"] == 1
    assert stats["requests"]["GET /v1/{project_id}/jobs/{job_id}"] >= 1


@pytest.mark.slow
def test_a_large_registration_reads_in_constant_memory(obs_emu: Emulator, obs_api: Api, s3_server: S3Server,
                                                       prefix: str, tmp_path: Path) -> None:
    """128 MiB are read in 4 MiB chunks: the emulator's RSS grows by far less than the object (boto3 warmed up first)."""
    warm = put_object(s3_server, f"{prefix}warm.raw", os.urandom(4096))
    image = obs_api.create(name="warm")
    follow(obs_api, register(obs_api, image["id"], warm).json()["job_id"], image["id"])
    path = tmp_path / "big.raw"
    block = os.urandom(MIB)
    with path.open("wb") as handle:
        for _ in range(128):
            handle.write(block)
    key = f"{prefix}big.raw"
    s3_server.client().upload_file(str(path), BUCKET, key, Config=TransferConfig(multipart_chunksize=64 * MIB))
    assert obs_emu.process is not None
    process = psutil.Process(obs_emu.process.pid)
    before = peak = process.memory_info().rss
    image = obs_api.create(name="big")
    job_id = register(obs_api, image["id"], f"{BUCKET}:{key}").json()["job_id"]
    percents = []
    while (job := obs_api.get(job_path(job_id)).json())["status"] not in ("SUCCESS", "FAIL"):
        peak = max(peak, process.memory_info().rss)
        percents.append(job["entities"]["process_percent"])
        time.sleep(0.05)
    assert job["status"] == "SUCCESS", job
    assert peak - before < 48 * MIB, f"RSS grew by {(peak - before) / MIB:.1f} MiB while reading 128 MiB"
    assert percents == sorted(percents), "process_percent never goes back"
    assert obs_api.get(f"/v2/images/{image['id']}").json()["size"] == 128 * MIB
