"""Image content over real HTTP against the emulator: upload, verification, failures that converge."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.pulumi_cli import ims_config
from ims_emulator import DEMO_PROJECT_ID, DEMO_TOKEN
from ims_emulator.process import Emulator
from ims_pulumi.core import content, workflow
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ImsError
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.support.images import live_images

pytestmark = pytest.mark.contract


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(tmp_path / "digests"))


def provider(emu: Emulator, *, token: bool = False) -> ImageMetadataProvider:
    if token:
        raw = {"endpoint": emu.url, "projectId": DEMO_PROJECT_ID, "authToken": DEMO_TOKEN}
    else:
        config, secrets = ims_config(emu.url)
        raw = {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()}
    return ImageMetadataProvider.with_context(ProviderContext(raw, environ={}))


def inputs(p: ImageMetadataProvider, source: Path, **extra: Any) -> dict[str, Any]:
    result = p.check({}, {"name": "up", "disk_format": "raw", "source": content.describe(str(source)),
                          "__create_token": "u" * 32, **extra})
    assert not result.failures, result.failures
    return dict(result.inputs)


def test_upload_makes_the_image_active_with_the_files_checksum(emu: Emulator, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "disk.raw"
    src.write_bytes(data)
    p = provider(emu)
    created = p.create(inputs(p, src, checksum="sha256:" + hashlib.sha256(data).hexdigest()))
    (image,) = live_images(emu)
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert (created.outs["status"], created.outs["size"]) == ("active", len(data))
    assert created.outs["checksum"] == "sha256:" + hashlib.sha256(data).hexdigest(), "the declared value"
    again = p.create(inputs(p, src))
    assert again.id == created.id and emu.stats()["requests"].get("PUT /v2/images/{id}/file") == 1, \
        "a repeated create finds the active image and uploads nothing"


def test_a_checksum_mismatch_is_refused_before_any_byte_is_sent(emu: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "disk.raw"
    src.write_bytes(b"abc")
    p = provider(emu)
    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()  # sha512 is checked by the provider, not at preview
    with pytest.raises(ImsError, match="nothing was uploaded"):
        p.create(inputs(p, src, checksum=wrong))
    assert "PUT /v2/images/{id}/file" not in emu.stats()["requests"]


def test_a_cut_upload_is_sent_again_in_the_same_run(emu: Emulator, tmp_path: Path) -> None:
    # Seen on real Glance (SQLite "database is locked" -> 500 mid-upload): one failed PUT that leaves
    # the image queued is sent again from the first byte in the same run, into the same image.
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(4 * 1024 * 1024))
    p = provider(emu)
    emu.set_faults([{"kind": "cut_upload", "after_bytes": 2 * 1024 * 1024, "count": 1}])
    emu.reset_stats()
    created = p.create(inputs(p, src))
    assert [(i["id"], i["status"]) for i in live_images(emu)] == [(created.id, "active")]
    assert emu.stats()["requests"].get("PUT /v2/images/{id}/file") == 2, emu.stats()["requests"]


def test_a_cut_upload_converges_on_the_next_run_in_the_same_image(emu: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(4 * 1024 * 1024))
    p = provider(emu)
    emu.set_faults([{"kind": "cut_upload", "after_bytes": 2 * 1024 * 1024, "count": workflow.UPLOAD_ATTEMPTS}])
    with pytest.raises(ImsError, match="run `pulumi up` again"):
        p.create(inputs(p, src))
    (image,) = live_images(emu)
    assert image["status"] == "queued", "back to queued after the break"
    created = provider(emu).create(inputs(p, src))  # the next run: a new provider process
    assert created.id == image["id"] and [i["status"] for i in live_images(emu)] == ["active"]


def test_a_killed_image_fails_clearly_and_leaves_no_image(emu: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "disk.raw"
    src.write_bytes(b"x" * 1000)
    p = provider(emu)
    emu.set_faults([{"kind": "kill_upload", "count": 1}])
    with pytest.raises(ImsError, match="left the image 'killed'"):
        p.create(inputs(p, src))
    assert live_images(emu) == [], "the killed image was deleted: the next run starts over"


def test_progress_lines_during_a_long_upload(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(content, "PROGRESS_EVERY", 0.0)
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(3 * content.CHUNK))
    p = provider(emu)
    p.create(inputs(p, src))
    lines = [line for line in capsys.readouterr().err.splitlines() if "uploaded" in line]
    assert lines and lines[-1].startswith("image 'up' (") and "of 3.0 MiB (100%) at" in lines[-1]


@pytest.mark.slow
def test_uploading_a_gibibyte_keeps_memory_flat(emu: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "big.raw"
    with src.open("wb") as handle:
        handle.truncate(1024 ** 3)  # sparse: cheap to make, read as zeros
    p = provider(emu, token=True)  # AK/SK bodies are limited to 12 MB
    checked = inputs(p, src)
    me = psutil.Process()
    idle = me.memory_info().rss
    created = p.create(checked)
    assert created.outs["size"] == 1024 ** 3
    assert me.memory_info().rss - idle < 50 * 1024 * 1024, "streamed, never read into memory"
