"""Image content offline: a source is identified by its bytes, digests are cached, a declared
checksum and the AK/SK body limit are checked at preview, and the change rule follows the status."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from ims_pulumi import content
from ims_pulumi.image_metadata import IMAGE_METADATA
from ims_pulumi.kinds import OfflineServices
from ims_pulumi.profiles import IMS

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
    return {**inputs, "status": status}


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


def test_progress_lines(tmp_path: Path) -> None:
    now = [0.0]
    lines: list[str] = []
    progress = content.Progress("image 'web'", 1024 * 1024 * 1024, clock=lambda: now[0], out=lines.append)
    progress.advance(100)
    assert lines == [], "nothing before 5 s"
    now[0] = 10.0
    progress.advance(512 * 1024 * 1024 - 100)
    assert lines == ["image 'web': uploaded 512.0 MiB of 1.0 GiB (50%) at 51.2 MiB/s"]


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
    from ims_pulumi.profiles import GLANCE
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
