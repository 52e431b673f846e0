"""Image content offline: a source is identified by its bytes, digests are cached, a declared
checksum and the AK/SK body limit are checked at preview, and the change rule follows the status."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from ims_pulumi.core import content
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.kinds import OfflineServices
from ims_pulumi.core.profiles import IMS

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(cache))
    return cache


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_identity_is_the_bytes_not_the_path(tmp_path: Path) -> None:
    a = content.describe(str(write(tmp_path / "a.qcow2", b"same bytes")))
    moved = content.describe(str(write(tmp_path / "elsewhere.qcow2", b"same bytes")))
    other = content.describe(str(write(tmp_path / "b.qcow2", b"other bytes")))
    kind = IMAGE_METADATA.by_name["source"].kind
    assert kind.same(a, moved), "moving a file with the same bytes is no change"
    assert not kind.same(a, other)
    assert a["sha256"] == hashlib.sha256(b"same bytes").hexdigest() and a["md5"] == hashlib.md5(b"same bytes").hexdigest()


def test_assets_and_urls(tmp_path: Path) -> None:
    import pulumi

    f = write(tmp_path / "x.img", b"x")
    assert content.describe(pulumi.FileAsset(str(f)))["sha256"] == hashlib.sha256(b"x").hexdigest()
    url = content.describe(pulumi.RemoteAsset("https://example.com/x.img"))
    assert url == {"kind": "url", "location": "https://example.com/x.img"}
    assert content.describe(str(tmp_path / "nope"))["missing"] is True


def test_an_unchanged_file_is_hashed_once(tmp_path: Path, digest_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = write(tmp_path / "big.img", os.urandom(3 * content.CHUNK + 5))
    first = content.describe(str(f))
    calls = []
    monkeypatch.setattr(content.Hashes, "update", lambda self, chunk: calls.append(len(chunk)))
    assert content.describe(str(f)) == first and calls == [], "served from the cache"
    os.utime(f, ns=(1, 1))  # touched: hashed again
    content.describe(str(f))
    assert calls, "a changed modification time is hashed again"


# (reason, declared checksum, what the check must say, or None)
CHECKSUMS = [
    ("sha256 of the bytes", "sha256:" + hashlib.sha256(b"img").hexdigest(), None),
    ("md5 of the bytes, upper case", "md5:" + hashlib.md5(b"img").hexdigest().upper(), None),
    ("sha256 of other bytes", "sha256:" + hashlib.sha256(b"other").hexdigest(), "does not match"),
    ("no algorithm", hashlib.sha256(b"img").hexdigest(), "'md5:', 'sha256:' or 'sha512:'"),
    ("a sha256 of the wrong length", "sha256:abcd", "has 4 hex digits; sha256 has 64"),
]


@pytest.mark.parametrize("reason,declared,problem", CHECKSUMS, ids=[c[0] for c in CHECKSUMS])
def test_declared_checksum_is_checked_at_preview(tmp_path: Path, reason: str, declared: str,
                                                 problem: str | None) -> None:
    source = content.describe(str(write(tmp_path / "i.img", b"img")))
    _, failures = IMAGE_METADATA.check({}, {"name": "x", "source": source, "checksum": declared}, IMS)
    if problem is None:
        assert not failures, (reason, failures)
    else:
        assert [f.property for f in failures] == ["checksum"] and problem in failures[0].reason, (reason, failures)


class AkSk(OfflineServices):
    def upload_limit(self) -> int | None:
        return content.AKSK_BODY_LIMIT


def test_aksk_refuses_a_file_over_12_mb_at_preview(tmp_path: Path) -> None:
    big = tmp_path / "big.img"
    with big.open("wb") as handle:
        handle.truncate(13 * 1000 * 1000)
    _, failures = IMAGE_METADATA.check({}, {"name": "x", "source": str(big)}, IMS, AkSk())
    assert [f.property for f in failures] == ["source"]
    assert "13,000,000 bytes" in failures[0].reason and "12,000,000" in failures[0].reason
    assert "ims:authToken" in failures[0].reason
    small = write(tmp_path / "small.img", b"s")
    assert not IMAGE_METADATA.check({}, {"name": "x", "source": str(small)}, IMS, AkSk())[1]
    assert not IMAGE_METADATA.check({}, {"name": "x", "source": str(big)}, IMS)[1], "token auth: no limit"


def olds(status: str, source: dict[str, Any] | None) -> dict[str, Any]:
    inputs, _ = IMAGE_METADATA.check({}, {"name": "x", **({"source": source} if source else {})}, IMS)
    return {**IMAGE_METADATA.effective(inputs, IMS), "status": status}


@pytest.mark.parametrize("status,had_source,replaces,reason", [
    ("queued", False, [], "adding a source to an image without data uploads in place"),
    ("queued", True, [], "an upload that broke off: still queued, upload again in place"),
    ("active", True, ["source"], "an active image's data cannot be replaced: new bytes replace the image"),
])
def test_source_change_rule_follows_the_status(tmp_path: Path, status: str, had_source: bool, replaces: list[str],
                                               reason: str) -> None:
    old_source = content.describe(str(write(tmp_path / "old.img", b"old")))
    new_source = content.describe(str(write(tmp_path / "new.img", b"new")))
    before = olds(status, old_source if had_source else None)
    plan = IMAGE_METADATA.plan(before, {**before, "source": new_source}, IMS)
    assert plan.changed == ["source"] and plan.replaces == replaces, reason


@pytest.mark.parametrize("status,changed,replaces,reason", [
    ("active", [], [], "the data arrived: nothing to do"),
    ("queued", ["source"], [], "a failed import put the image back to queued: upload again in place"),
    ("saving", ["source"], [], "an earlier run's upload still saving (its update timed out): wait for it in place"),
    ("importing", ["source"], [], "an earlier run's import still running: wait for it, never a second one"),
    ("killed", ["source"], ["source"], "the server killed the image: only a new one can take the data"),
])
def test_a_source_is_applied_only_once_the_image_is_active(tmp_path: Path, status: str, changed: list[str],
                                                           replaces: list[str], reason: str) -> None:
    # Review finding: an update that returned while the image was still importing recorded the source
    # as applied; if the import then failed, no later `pulumi up` tried again.
    source = content.describe(str(write(tmp_path / "disk.img", b"bytes")))
    before = olds(status, source)
    plan = IMAGE_METADATA.plan(before, {**before, "status": None}, IMS)
    assert (plan.changed, plan.replaces) == (changed, replaces), reason


MIB = 1024 * 1024


def test_progress_cadence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first message with the first bytes, then at most one every PROGRESS_EVERY seconds, and a last one."""
    monkeypatch.setattr(content, "PROGRESS_EVERY", 5.0)
    now = [100.0]
    lines: list[str] = []
    progress = content.Progress("image 'web'", 1024 * MIB, clock=lambda: now[0], out=lines.append)
    now[0] = 100.5
    progress.advance(MIB)
    assert lines == ["image 'web': uploaded 1.0 MiB of 1.0 GiB (0%)"], "at once, without a rate (nothing measured)"
    for _ in range(4):  # 4.5 s later: still within the period
        now[0] += 1.0
        progress.advance(MIB)
    assert len(lines) == 1
    now[0] = 105.5  # 5 s after the first message
    progress.advance(507 * MIB)
    assert lines[-1] == "image 'web': uploaded 512.0 MiB of 1.0 GiB (50%) at 93.1 MiB/s"
    now[0] = 108.0
    progress.advance(256 * MIB)
    assert len(lines) == 2, "the period counts from the last message"
    now[0] = 110.5
    progress.advance(255 * MIB)
    assert lines[-1] == "image 'web': uploaded 1023.0 MiB of 1.0 GiB (100%) at 97.4 MiB/s"
    now[0] = 111.0
    progress.advance(MIB)  # the last bytes: the last message, whatever the period
    assert lines[-1] == "image 'web': uploaded 1.0 GiB of 1.0 GiB (100%) at 93.1 MiB/s (1,073,741,824 bytes in 11.00 s)"
    progress.advance(0)
    progress.finish()
    assert len(lines) == 4, "the last message goes out once"


def test_progress_period_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "PROGRESS_EVERY", 0.0)  # IMS_PULUMI_PROGRESS_EVERY=0: every chunk
    now = [0.0]
    lines: list[str] = []
    progress = content.Progress("x", 3 * MIB, clock=lambda: now[0], out=lines.append)
    for _ in range(3):
        now[0] += 0.25
        progress.advance(MIB)
    assert lines == [
        "x: uploaded 1.0 MiB of 3.0 MiB (33%)",
        "x: uploaded 2.0 MiB of 3.0 MiB (67%) at 4.0 MiB/s",
        "x: uploaded 3.0 MiB of 3.0 MiB (100%) at 4.0 MiB/s (3,145,728 bytes in 0.75 s)",
    ]


def test_progress_of_a_stream_of_unknown_size() -> None:
    """A URL without Content-Length: no percent, and the last message when the caller says the end came."""
    now = [0.0]
    lines: list[str] = []
    progress = content.Progress("x", None, clock=lambda: now[0], out=lines.append)
    progress.advance(MIB)
    now[0] = 10.0
    progress.advance(MIB)
    now[0] = 20.0
    progress.finish()
    progress.finish()
    assert lines == ["x: uploaded 1.0 MiB", "x: uploaded 2.0 MiB at 204.8 KiB/s",
                     "x: uploaded 2.0 MiB at 102.4 KiB/s (2,097,152 bytes in 20.00 s)"]


def test_progress_goes_to_stderr_outside_a_provider_call(capsys: pytest.CaptureFixture[str]) -> None:
    progress = content.Progress("image 'web' (id)", 10)
    progress.advance(10)
    assert capsys.readouterr().err.startswith("image 'web' (id): uploaded 10 B of 10 B (100%) at ")


def test_progress_goes_to_the_resource_status_inside_a_provider_call(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """In a Create/Update call of the provider server, the messages are the resource's ephemeral status."""
    from ims_pulumi import engine
    from ims_pulumi.dynamic import sdk_patches

    sent: list[tuple[str, str]] = []

    class Engine:
        def status(self, urn: str, message: str) -> None:
            sent.append((urn, message))

    monkeypatch.setattr(engine, "engine_log", Engine)

    class Request:
        urn = "urn:pulumi:dev::e2e::pulumi-python:dynamic:Resource::web"

    def create(request: object, context: object) -> None:
        progress = content.Progress("image 'web' (id)", 10)
        progress.advance(10)

    sdk_patches._with_urn(create)(Request(), None)
    assert [urn for urn, _ in sent] == [Request.urn] and "uploaded 10 B of 10 B (100%)" in sent[0][1]
    assert capsys.readouterr().err == ""
    content.Progress("after the call", 1).advance(1)
    assert len(sent) == 1 and "after the call" in capsys.readouterr().err


def test_sizes_that_arrive_as_floats_are_checked_and_stored_as_integers(tmp_path: Path) -> None:
    """Through the engine every number is a float: the AK/SK limit must still apply (a bug found by the e2e test)."""
    source = {"kind": "file", "location": str(tmp_path / "x"), "size": 13_000_000.0, "sha256": "a" * 64}
    _, failures = IMAGE_METADATA.check({}, {"name": "x", "source": source}, IMS, AkSk())
    assert [f.property for f in failures] == ["source"]
    checked, _ = IMAGE_METADATA.check({}, {"name": "x", "source": {**source, "size": 5.0}}, IMS)
    assert checked["source"]["size"] == 5 and isinstance(checked["source"]["size"], int)


def test_ims_refuses_files_of_128_gb_or_more_at_preview(tmp_path: Path) -> None:
    source = {"kind": "file", "location": str(tmp_path / "huge"), "size": 128 * 1000**3, "sha256": "a" * 64}
    _, failures = IMAGE_METADATA.check({}, {"name": "x", "source": source}, IMS)
    assert [f.property for f in failures] == ["source"] and "smaller than 128,000,000,000 bytes" in failures[0].reason
    from ims_pulumi.core.profiles import GLANCE
    assert not IMAGE_METADATA.check({}, {"name": "x", "source": source}, GLANCE)[1], "Glance documents no limit"


def test_the_background_hasher_sees_every_chunk_in_order() -> None:
    chunks = [os.urandom(n) for n in (1, 70_000, 3, 1024 * 1024, 17)] * 3
    hasher = content.Hasher(content.Hashes(("md5", "sha256")), ahead=2)
    for chunk in chunks:
        hasher.feed(chunk)
    hashes = hasher.finish()
    joined = b"".join(chunks)
    assert hashes.size == len(joined)
    assert hashes.hexdigest("sha256") == hashlib.sha256(joined).hexdigest()
    assert hashes.hexdigest("md5") == hashlib.md5(joined).hexdigest()


@pytest.mark.parametrize(("size", "reason"), [
    (0, "an empty file"),
    (content.CHUNK + 3, "a small file: both digests on one thread"),
    (content.PARALLEL_HASH_BYTES - 1, "just below the threshold"),
    (content.PARALLEL_HASH_BYTES, "at the threshold: the MD5 on a thread of its own"),
    (content.PARALLEL_HASH_BYTES + 3 * content.CHUNK + 7, "above it, with a partial last chunk"),
])
def test_file_digests_are_the_bytes_digests_on_one_thread_or_two(tmp_path: Path, size: int, reason: str) -> None:
    data = os.urandom(size)
    got = content.file_digests(write(tmp_path / "f.img", data), cache=tmp_path / "fresh-cache")
    assert got == {"size": size, "sha256": hashlib.sha256(data).hexdigest(),
                   "md5": hashlib.md5(data, usedforsecurity=False).hexdigest()}, reason
