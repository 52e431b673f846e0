"""The transfer path of an image (issue 26), offline: the pure decision (``transfer.decide``) as a case
table with a reason per case, what ``pulumi preview`` (check) refuses and says, ``obs://`` sources, the
OBS settings, and the pieces staging is made of (object key, part size, parts)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from ims_pulumi.core import content, staging, transfer
from ims_pulumi.core.config import resolve
from ims_pulumi.core.errors import ConfigError, RegistrationFailed
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.kinds import ContentSource, OfflineServices
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile
from ims_pulumi.core.transfer import Path as Via
from ims_pulumi.core.transfer import Staging
from ims_pulumi.core.workflow import Step, next_step

pytestmark = pytest.mark.unit

AKSK = content.AKSK_BODY_LIMIT  # 12,000,000
GB = 1000**3
READY = Staging("ims-staging", "https://obs.cn-north-4.myhuaweicloud.com", "aksk")
NO_BUCKET = Staging("", "https://obs.cn-north-4.myhuaweicloud.com", "aksk")
TOKEN_BUCKET = Staging("ims-staging", "https://obs.cn-north-4.myhuaweicloud.com", "token")
NO_ENDPOINT = Staging("ims-staging", "", "aksk")
NOTHING = Staging()

# (reason, kind, size, profile, disk_format, body limit, staging, final, path, words of the refusal or reason)
CASES: list[tuple[str, str, Any, ServerProfile, str, int | None, Staging, bool, Via | None, tuple[str, ...]]] = [
    ("a small file with a token: the native upload", "file", 4096, IMS, "qcow2", None, Staging(), True, Via.NATIVE, ()),
    ("exactly 12,000,000 bytes is what AK/SK may carry", "file", AKSK, IMS, "qcow2", AKSK, NO_BUCKET, True,
     Via.NATIVE, ()),
    ("one byte over 12 MB with AK/SK and no bucket: refused, naming the limit and both fixes", "file", AKSK + 1, IMS,
     "qcow2", AKSK, NO_BUCKET, True, None, ("12,000,001 bytes", "12,000,000", "ims:obsBucket", "ims:authToken")),
    ("over 12 MB with AK/SK and a staging bucket: staged", "file", AKSK + 1, IMS, "qcow2", AKSK, READY, True,
     Via.STAGE, ("at most 12,000,000",)),
    ("just under 2 GB with a token: the native upload", "file", 2 * GB - 1, IMS, "zvhd2", None, NO_BUCKET, True,
     Via.NATIVE, ()),
    ("2 GB with a token and no bucket: refused, and a token is no fix", "file", 2 * GB, IMS, "zvhd2", None,
     Staging(mode="token"), True, None, ("smaller than 2,000,000,000 bytes", "ims:obsBucket")),
    ("2 GB with a token and a bucket: staging needs AK/SK", "file", 2 * GB, IMS, "zvhd2", None, TOKEN_BUCKET, True,
     None, ("AK/SK", "token")),
    ("2 GB with AK/SK and a bucket but no endpoint or region", "file", 2 * GB, IMS, "zvhd2", AKSK, NO_ENDPOINT, True,
     None, ("ims:obsEndpoint",)),
    ("3 GB with AK/SK and a bucket: staged", "file", 3 * GB, IMS, "raw", AKSK, READY, True, Via.STAGE,
     ("smaller than 2,000,000,000",)),
    ("an ISO over the native limit: registration does not take ISO", "file", 3 * GB, IMS, "iso", AKSK, READY, True,
     None, ("does not take disk_format 'iso'",)),
    ("128 GB: no path takes it", "file", 128 * GB, IMS, "raw", AKSK, READY, True, None,
     ("smaller than 128,000,000,000 bytes",)),
    ("just under 128 GB: staged", "file", 128 * GB - 1, IMS, "raw", AKSK, READY, True, Via.STAGE, ()),
    ("a size that came through the engine as a float", "file", float(AKSK + 1), IMS, "qcow2", AKSK, READY, True,
     Via.STAGE, ()),
    ("a URL with a token: native whatever its size (the server refuses 2 GB)", "url", None, IMS, "qcow2", None, READY,
     False, Via.NATIVE, ()),
    ("a URL with AK/SK at preview: its Content-Length decides at up", "url", None, IMS, "qcow2", AKSK, READY, False,
     None, ("Content-Length",)),
    ("a URL without Content-Length at up, AK/SK and staging: staged (no limit there)", "url", None, IMS, "qcow2",
     AKSK, READY, True, Via.STAGE, ()),
    ("a URL without Content-Length at up, AK/SK, no staging: native (the server says if too large)", "url", None, IMS,
     "qcow2", AKSK, NO_BUCKET, True, Via.NATIVE, ()),
    ("a URL of 5 MB at up with AK/SK: native", "url", 5_000_000, IMS, "qcow2", AKSK, READY, True, Via.NATIVE, ()),
    ("a URL of 50 MB at up with AK/SK and staging: staged", "url", 50_000_000, IMS, "qcow2", AKSK, READY, True,
     Via.STAGE, ()),
    ("an OBS object on IMS: registered as it is, no transfer", "obs", None, IMS, "qcow2", AKSK, NO_BUCKET, True,
     Via.REGISTER, ("nothing is transferred",)),
    ("an OBS object on Glance: Glance has no registration", "obs", None, GLANCE, "qcow2", None, READY, True, None,
     ("Glance has no registration",)),
    ("Glance: its own paths, whatever the size", "file", 3 * GB, GLANCE, "qcow2", None, Staging(), True, Via.NATIVE,
     ()),
]


@pytest.mark.parametrize(("reason", "kind", "size", "profile", "disk_format", "limit", "setup", "final", "path",
                          "words"), CASES, ids=[c[0] for c in CASES])
def test_the_transfer_path(reason: str, kind: str, size: Any, profile: ServerProfile, disk_format: str,
                           limit: int | None, setup: Staging, final: bool, path: Via | None,
                           words: tuple[str, ...]) -> None:
    decision = transfer.decide(kind, size, profile=profile, disk_format=disk_format, body_limit=limit, staging=setup,
                               final=final)
    assert decision.path is path, (reason, decision)
    assert (decision.refusal is not None) is (path is None and bool(words) and "Content-Length" not in words[0]), \
        (reason, decision)
    text = decision.refusal or decision.reason
    for word in words:
        assert word in text, (reason, word, text)


# --- check at preview -----------------------------------------------------------------------------


class Settings(OfflineServices):
    """A provider process's services with these credentials and OBS settings."""

    def __init__(self, setup: Staging = NOTHING, limit: int | None = None) -> None:
        super().__init__()
        self.setup, self.limit = setup, limit

    def upload_limit(self) -> int | None:
        return self.limit

    def staging(self) -> Staging:
        return self.setup


def sized(tmp_path: Path, name: str, size: int) -> dict[str, Any]:
    """The descriptor of a sparse file of ``size`` bytes (hashed: the sparse bytes are zeros)."""
    path = tmp_path / name
    with path.open("wb") as handle:
        handle.truncate(size)
    return content.describe(str(path), None)


def test_a_file_over_12_mb_with_aksk_and_a_bucket_is_staged_and_preview_says_so(tmp_path: Path) -> None:
    svc = Settings(READY, AKSK)
    source = sized(tmp_path, "big.raw", 13_000_000)
    _, failures = IMAGE_METADATA.check({}, {"name": "big", "disk_format": "raw", "source": source}, IMS, svc)
    assert failures == []
    (line,) = svc.notices
    assert "image 'big'" in line and "staged in OBS bucket 'ims-staging'" in line and "13,000,000 bytes" in line
    # the engine checks a replacement twice in one process: the line is shown once
    IMAGE_METADATA.check({}, {"name": "big", "disk_format": "raw", "source": source}, IMS, svc)
    assert len(svc.notices) == 1


def test_a_file_over_12_mb_with_aksk_and_no_bucket_is_refused_at_preview(tmp_path: Path) -> None:
    svc = Settings(NO_BUCKET, AKSK)
    _, failures = IMAGE_METADATA.check({}, {"name": "big", "disk_format": "raw",
                                            "source": sized(tmp_path, "big.raw", 13_000_000)}, IMS, svc)
    assert [f.property for f in failures] == ["source"]
    assert "ims:obsBucket" in failures[0].reason and "ims:authToken" in failures[0].reason
    assert svc.notices == []


def test_a_small_file_takes_the_native_upload_without_a_line(tmp_path: Path) -> None:
    svc = Settings(READY, AKSK)
    _, failures = IMAGE_METADATA.check({}, {"name": "small", "disk_format": "raw",
                                            "source": sized(tmp_path, "s.raw", 1000)}, IMS, svc)
    assert failures == [] and svc.notices == [], "the documented default goes without a line"


def test_bytes_an_image_already_holds_are_not_decided_again(tmp_path: Path) -> None:
    """A stack of release 0.3 that uploaded a 3 GB file with a token (the 128 GB reading) previews with no
    change and no refusal: nothing will be transferred."""
    source = {"kind": "file", "location": str(tmp_path / "old.raw"), "size": 3 * GB, "sha256": "a" * 64,
              "md5": "b" * 32}
    olds = {"name": "old", "disk_format": "raw", "source": source}
    svc = Settings(Staging(mode="token"), None)
    _, failures = IMAGE_METADATA.check(olds, dict(olds), IMS, svc)
    assert failures == [] and svc.notices == []
    moved = {**source, "location": str(tmp_path / "moved.raw")}
    assert IMAGE_METADATA.check(olds, {**olds, "source": moved}, IMS, svc)[1] == [], "moving the file is no change"
    changed = {**source, "sha256": "c" * 64}
    failures = IMAGE_METADATA.check(olds, {**olds, "source": changed}, IMS, svc)[1]
    assert [f.property for f in failures] == ["source"], "new bytes are transferred: decided again"
    reformatted = IMAGE_METADATA.check(olds, {**olds, "disk_format": "qcow2"}, IMS, svc)[1]
    assert [f.property for f in reformatted] == ["source"], "another disk format: decided again"


def test_an_obs_object_is_registered_and_preview_says_so() -> None:
    svc = Settings(NO_BUCKET, AKSK)
    source = content.describe("obs://images-bucket/base/ubuntu.qcow2")
    inputs, failures = IMAGE_METADATA.check({}, {"name": "reg", "disk_format": "qcow2", "source": source}, IMS, svc)
    assert failures == [] and inputs["source"] == {"kind": "obs", "location": "obs://images-bucket/base/ubuntu.qcow2"}
    (line,) = svc.notices
    assert "registered as it is" in line and "images-bucket:base/ubuntu.qcow2" in line


def test_an_obs_object_on_glance_is_refused_at_preview() -> None:
    _, failures = IMAGE_METADATA.check({}, {"name": "g", "source": "obs://images-bucket/a.qcow2"}, GLANCE)
    assert [f.property for f in failures] == ["source"] and "Glance has no registration" in failures[0].reason


# (reason, credentials mode, endpoint, declared, refused)
OBS_CHECKSUMS = [
    ("md5: IMS reports it", "token", "", "md5:" + "0" * 32, False),
    ("sha256 with AK/SK and an endpoint: the provider reads the object", "aksk", "https://obs.x", "sha256:" + "0" * 64,
     False),
    ("sha256 with a token: the object cannot be read", "token", "https://obs.x", "sha256:" + "0" * 64, True),
    ("sha512 with AK/SK but no endpoint", "aksk", "", "sha512:" + "0" * 128, True),
]


@pytest.mark.parametrize(("reason", "mode", "endpoint", "declared", "refused"), OBS_CHECKSUMS,
                         ids=[c[0] for c in OBS_CHECKSUMS])
def test_a_declared_checksum_of_an_obs_object_must_be_checkable(reason: str, mode: str, endpoint: str, declared: str,
                                                                refused: bool) -> None:
    svc = Settings(Staging("", endpoint, mode), AKSK if mode == "aksk" else None)
    source = content.describe("obs://images-bucket/a.qcow2", declared)
    _, failures = IMAGE_METADATA.check({}, {"name": "c", "disk_format": "qcow2", "source": source,
                                            "checksum": declared}, IMS, svc)
    assert [f.property for f in failures] == (["checksum"] if refused else []), (reason, failures)


# (reason, location, what the check must say or None)
OBS_LOCATIONS = [
    ("a bucket and an object with a format extension", "obs://images-bucket/dir/disk.zvhd2", None),
    ("upper-case extension", "obs://images-bucket/DISK.QCOW2", None),
    ("no object", "obs://images-bucket", "obs://<bucket>/<object>"),
    ("no object after the slash", "obs://images-bucket/", "obs://<bucket>/<object>"),
    ("an upper-case bucket", "obs://Images/disk.qcow2", "lower-case"),
    ("a bucket like an IP address", "obs://192.168.1.1/disk.qcow2", "IP address"),
    ("a bucket with '..'", "obs://ab..cd/disk.qcow2", "'..'"),
    ("a space in the object name", "obs://images-bucket/my disk.qcow2", "space"),
    ("no format extension", "obs://images-bucket/disk.img", "extensions registration takes"),
    ("an ISO: registration does not take it", "obs://images-bucket/disk.iso", "extensions registration takes"),
    ("an extension in a folder name only", "obs://images-bucket/x.qcow2/disk", "extensions registration takes"),
]


@pytest.mark.parametrize(("reason", "location", "problem"), OBS_LOCATIONS, ids=[c[0] for c in OBS_LOCATIONS])
def test_obs_locations_are_checked_at_preview(reason: str, location: str, problem: str | None) -> None:
    _, failures = IMAGE_METADATA.check({}, {"name": "o", "source": location}, IMS, Settings())
    if problem is None:
        assert failures == [], (reason, failures)
    else:
        assert [f.property for f in failures] == ["source"] and problem in failures[0].reason, (reason, failures)


def test_an_obs_source_is_identified_by_its_location_and_declared_checksum() -> None:
    kind = ContentSource()
    plain = content.describe("obs://b-1/a.qcow2")
    sha = content.describe("obs://b-1/a.qcow2", "sha256:" + "1" * 64)
    other_sha = content.describe("obs://b-1/a.qcow2", "sha256:" + "2" * 64)
    assert plain == {"kind": "obs", "location": "obs://b-1/a.qcow2"}
    assert sha["sha256"] == "1" * 64
    assert kind.same(plain, content.describe("obs://b-1/a.qcow2")), "the same object: no change"
    assert kind.same(plain, sha), "declaring a checksum later is no change (as for a URL)"
    assert not kind.same(sha, other_sha), "a new declared digest: new bytes, a new image"
    assert not kind.same(plain, content.describe("obs://b-1/b.qcow2")), "another object"
    assert content.secret_url("obs://b-1/a.qcow2") is None, "nothing secret in an OBS location"


# --- settings -------------------------------------------------------------------------------------

BASE = {"endpoint": "http://127.0.0.1:1", "projectId": "p", "accessKey": "ak", "secretKey": "sk"}

# (reason, settings, environment, the configuration's obs fields or the error's words)
CONFIGS: list[tuple[str, dict[str, str], dict[str, str], Any]] = [
    ("nothing set: no staging", {}, {}, ("", "", "us-east-1", False)),
    ("the region gives the OBS endpoint and the signing region", {"region": "cn-north-4"}, {},
     ("", "https://obs.cn-north-4.myhuaweicloud.com", "cn-north-4", False)),
    ("all four from stack config", {"obsBucket": "ims-staging", "obsEndpoint": "http://127.0.0.1:9000/",
                                    "obsRegion": "eu-west-0", "obsKeepStaged": "true"}, {},
     ("ims-staging", "http://127.0.0.1:9000", "eu-west-0", True)),
    ("the environment as fallback", {}, {"HW_OBS_BUCKET": "env-bucket", "HW_OBS_ENDPOINT": "https://obs.x"},
     ("env-bucket", "https://obs.x", "us-east-1", False)),
    ("a bucket OBS would refuse", {"obsBucket": "Ims_Staging"}, {}, ("ims:obsBucket (HW_OBS_BUCKET)", "lower-case")),
    ("an endpoint with a path", {"obsEndpoint": "https://obs.x/bucket"}, {}, ("ims:obsEndpoint", "without a path")),
    ("keep-staged not a boolean", {"obsKeepStaged": "sometimes"}, {}, ("ims:obsKeepStaged", "true or false")),
]


@pytest.mark.parametrize(("reason", "raw", "environ", "expected"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_obs_settings(reason: str, raw: dict[str, str], environ: dict[str, str], expected: Any) -> None:
    settings = {**BASE, **raw}
    if isinstance(expected[0], str) and expected[0].startswith("ims:"):
        with pytest.raises(ConfigError) as raised:
            resolve(settings.get, environ)
        assert all(word in str(raised.value) for word in expected), (reason, raised.value)
        return
    config = resolve(settings.get, environ)
    assert (config.obs_bucket, config.obs_endpoint, config.obs_region, config.obs_keep_staged) == expected, reason


# --- the pieces of staging ------------------------------------------------------------------------


def test_the_staged_key_is_the_images_and_names_the_bytes() -> None:
    source = {"kind": "file", "location": "/x/disk.qcow2", "size": 5, "sha256": "ab" * 32}
    key = transfer.staged_key("img-1", source, "qcow2")
    assert key == "ims-pulumi/img-1/" + "ab" * 8 + ".qcow2"
    assert transfer.staged_key("img-1", {**source, "location": "/elsewhere"}, "qcow2") == key, "where is no matter"
    assert transfer.staged_key("img-1", {**source, "sha256": "cd" * 32}, "qcow2") != key, "other bytes, another key"
    assert transfer.staged_key("img-2", source, "qcow2").startswith(transfer.image_prefix("img-2"))
    url = {"kind": "url", "location": "https://***@h/disk.raw?***"}
    assert transfer.staged_key("img-1", url, "raw") == transfer.staged_key("img-1", dict(url), "raw")
    assert transfer.staged_key("img-1", url, "raw").endswith(".raw")


@pytest.mark.parametrize(("size", "part"), [
    (None, 13 * staging.MIB), (0, staging.PART_SIZE), (40 * staging.MIB, staging.PART_SIZE),
    (5 * 2**30, staging.PART_SIZE), (127 * GB, 13 * staging.MIB),
])
def test_part_sizes_keep_an_upload_within_10000_parts(size: int | None, part: int) -> None:
    assert staging.part_size_for(size) == part
    assert (128 * GB if size is None else size) <= part * staging.MAX_PARTS


@pytest.mark.parametrize(("chunks", "size", "parts"), [
    ([b"abc", b"def", b"g"], 3, [b"abc", b"def", b"g"]),
    ([b"abcdefg"], 3, [b"abc", b"def", b"g"]),
    ([b"a", b"b", b"c", b"d"], 2, [b"ab", b"cd"]),
    ([], 4, [b""]),
])
def test_chunks_become_parts_in_reused_buffers(chunks: list[bytes], size: int, parts: list[bytes]) -> None:
    buffers = staging._Buffers(2, size)
    seen = []
    for buffer, length in staging._parts(iter(chunks), buffers):
        seen.append(bytes(buffer[:length]))
        buffers.give(buffer)  # sent: free again (two buffers serve any number of parts)
    assert seen == parts
    assert len(buffers._free) == 2, "every buffer is free at the end"


@pytest.mark.parametrize(("status", "kind", "waited", "step", "reason"), [
    ("queued", "obs", False, Step.TRANSFER, "no data yet: register the object"),
    ("saving", "obs", False, Step.WAIT_DATA, "an earlier run's registration: wait for it, never a second one"),
    ("active", "obs", False, Step.VERIFY_UNSEEN, "the provider did not see an OBS object's bytes"),
    ("queued", "obs", True, Step.TRANSFER, "the registration was interrupted and IMS put the image back: again"),
])
def test_next_step_of_an_obs_object(status: str, kind: str, waited: bool, step: Step, reason: str) -> None:
    assert next_step(status, kind, waited=waited) is step, reason


# (reason, attributes, message)
REGISTRATION_FAILURES = [
    ("killed and deleted: the next run starts over",
     {"status": "killed", "job_id": "j1", "code": "IMG.1075", "reason": "Failed to register the image file.",
      "deleted": True},
     "image i1: the registration of b:k.qcow2 failed (job j1 FAIL: IMG.1075: Failed to register the image file.): "
     "the image is 'killed' and was deleted. Check the file's format against disk_format and that IMS can read the "
     "object, then the next `pulumi up` starts over with a new image"),
    ("killed in an update (not this create's image): refresh, then a new image",
     {"status": "killed", "job_id": "j2", "code": "IMG.0057", "reason": "not QCOW2", "deleted": False},
     "image i1: the registration of b:k.qcow2 failed (job j2 FAIL: IMG.0057: not QCOW2): the image is 'killed'. "
     "Check the file's format against disk_format and that IMS can read the object, then run `pulumi refresh` and "
     "`pulumi up` (a killed image takes no data: a new one is made)"),
    ("interrupted: the image is queued again",
     {"status": "queued", "job_id": None, "code": None, "reason": None, "deleted": False},
     "image i1: the registration of b:k.qcow2 failed (FAIL: no reason given): the image is 'queued'. Check the "
     "file's format against disk_format and that IMS can read the object, then run `pulumi up` again (it registers "
     "again into the same image once it is `queued`)"),
]


@pytest.mark.parametrize(("reason", "attributes", "message"), REGISTRATION_FAILURES,
                         ids=[c[0] for c in REGISTRATION_FAILURES])
def test_a_failed_registration_names_the_reason(reason: str, attributes: dict[str, Any], message: str) -> None:
    error = RegistrationFailed(image_id="i1", image_url="b:k.qcow2", **attributes)
    assert str(error) == message, reason
    assert (error.image_id, error.expected, error.found, error.deleted) == ("i1", "active", attributes["status"],
                                                                          attributes["deleted"])
    assert (error.job_id, error.code, error.reason) == (attributes["job_id"], attributes["code"], attributes["reason"])
    assert error.hint in message


def test_descriptors_of_files_still_carry_their_digests(tmp_path: Path) -> None:
    path = tmp_path / "d.raw"
    path.write_bytes(b"bytes")
    described = content.describe(str(path))
    assert described["sha256"] == hashlib.sha256(b"bytes").hexdigest() and described["kind"] == "file"
