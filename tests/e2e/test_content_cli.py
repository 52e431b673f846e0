"""Image content with the real CLI: FileAsset on the second and third runs (pulumi/pulumi#6802),
identity by bytes, a URL source, the AK/SK limit at preview, and progress as the image's status in the
engine's event stream (`pulumi up --event-log`)."""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def program(source: str, checksum: str = "") -> str:
    extra = f", checksum={checksum!r}" if checksum else ""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("web", name="web-2026.11", disk_format="raw", min_disk=1, source={source}{extra})
pulumi.export("id", image.id)
pulumi.export("status", image.status)
pulumi.export("size", image.size)
pulumi.export("checksum", image.checksum)
'''


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", root
    httpd.shutdown()


def test_file_source_lifecycle(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    disk = tmp_path / "build" / "web.raw"
    disk.parent.mkdir()
    disk.write_bytes(os.urandom(2 * 1024 * 1024))
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program(f"pulumi.FileAsset({str(disk)!r})"), config=config,
                                   secrets=secrets, extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "cache")})
    project.up()
    out = project.outputs()
    assert (out["status"], out["size"]) == ("active", 2 * 1024 * 1024)
    (image,) = live_images(emu)
    assert image["checksum"] == out["checksum"], "the server's MD5 (no checksum declared)"

    # the second and third runs: no "Invalid asset" error, no change
    project.preview("--expect-no-changes")
    project.up("--expect-no-changes")

    # moved (and touched): the same bytes, no change
    moved = tmp_path / "elsewhere" / "web-copy.raw"
    moved.parent.mkdir()
    moved.write_bytes(disk.read_bytes())
    project.write_program(program(f"pulumi.FileAsset({str(moved)!r})"))
    project.preview("--expect-no-changes")

    # one byte changed: the active image is replaced, and the preview says so
    data = bytearray(moved.read_bytes())
    data[0] ^= 0xFF
    moved.write_bytes(bytes(data))
    diff = project.preview("--diff").stdout
    assert "replace" in diff and "sha256" in diff, diff
    project.up()
    (replaced,) = live_images(emu)
    assert replaced["id"] != image["id"] and replaced["status"] == "active"
    project.destroy()
    assert live_images(emu) == []


def test_url_source_and_declared_checksum(tmp_path: Path, emu: Emulator, web_server: tuple[str, Path],
                                          pulumi_cli: None) -> None:
    import hashlib

    url, root = web_server
    payload = os.urandom(1024 * 1024)
    (root / "web.raw").write_bytes(payload)
    config, secrets = ims_config(emu.url)
    source = f"pulumi.RemoteAsset({url + '/web.raw'!r})"
    checksum = "sha256:" + hashlib.sha256(payload).hexdigest()
    project = PulumiProject.create(tmp_path, program(source, checksum), config=config, secrets=secrets)
    project.up()
    (image,) = live_images(emu)
    assert image["status"] == "active" and image["checksum"] == hashlib.md5(payload).hexdigest()
    project.preview("--expect-no-changes")
    project.destroy()


def test_aksk_and_a_13_mb_file_fail_at_preview(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    big = tmp_path / "big.raw"
    with big.open("wb") as handle:
        handle.truncate(13 * 1000 * 1000)
    config, secrets = ims_config(emu.url)  # AK/SK
    project = PulumiProject.create(tmp_path, program(f"pulumi.FileAsset({str(big)!r})"), config=config,
                                   secrets=secrets, extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "cache")})
    emu.reset_stats()
    failed = project.preview(check=False)
    assert failed.returncode != 0
    assert "13,000,000 bytes" in failed.output and "ims:authToken" in failed.output, failed.output
    assert emu.stats()["writes"] == 0


def progress_events(log: Path) -> tuple[str, set[str], list[dict[str, object]]]:
    """From an event log: the image's URN, the operations on it, and the diagnostics that report upload progress."""
    urn, ops = "", set[str]()
    progress: list[dict[str, object]] = []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        meta = event.get("resourcePreEvent", {}).get("metadata", {})
        if meta.get("type", "").endswith(":ImageMetadata"):
            urn = meta["urn"]
            ops.add(meta["op"])
        diagnostic = event.get("diagnosticEvent") or {}
        if ": uploaded " in str(diagnostic.get("message", "")):
            progress.append(diagnostic)
    return urn, ops, progress


def test_progress_is_the_resource_status_in_the_event_stream(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    """Upload progress reaches the engine as ephemeral status messages of the image resource, on create and update."""
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(10 * 1024 * 1024))  # 10 chunks of 1 MiB, under the 12 MB AK/SK limit
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program("None"), config=config, secrets=secrets, extra_env={
        # a message for every chunk: a local upload is over long before any real period
        "IMS_PULUMI_PROGRESS_EVERY": "0",
        "IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "cache"),
        "PULUMI_DEBUG_COMMANDS": "true",  # the CLI registers --event-log only with this set
    })
    project.up()  # metadata only: a queued image
    project.write_program(program(f"pulumi.FileAsset({str(disk)!r})"))
    update_log, create_log = tmp_path / "update.jsonl", tmp_path / "create.jsonl"
    updated = project.up("--event-log", str(update_log))  # a source added to a queued image: Update uploads
    data = bytearray(disk.read_bytes())
    data[0] ^= 0xFF
    disk.write_bytes(bytes(data))
    project.up("--event-log", str(create_log))  # different bytes: a new image, Create uploads

    for log, op in ((update_log, "update"), (create_log, "create-replacement")):
        image_urn, ops, progress = progress_events(log)
        assert op in ops and image_urn.endswith("ImageMetadata::web"), (ops, image_urn)
        assert len(progress) == 10, [d["message"] for d in progress]
        assert all(d.get("ephemeral") is True and d.get("urn") == image_urn and d.get("severity") == "info"
                   for d in progress), progress
        messages = [str(d["message"]).strip() for d in progress]
        assert messages[0].endswith("uploaded 1.0 MiB of 10.0 MiB (10%)"), messages[0]
        assert re.search(r"uploaded 5\.0 MiB of 10\.0 MiB \(50%\) at [0-9.]+ [KMG]i?B/s$", messages[4]), messages[4]
        assert re.search(r"\(100%\) at [0-9.]+ [KMG]i?B/s \(10,485,760 bytes in [0-9.]+ s\)$", messages[-1]), messages
    # the display shows them in the image's row (the last one stays there once the image is done)
    assert re.search(r"ImageMetadata web updated .*uploaded 10\.0 MiB of 10\.0 MiB \(100%\)", updated.stdout), updated.stdout
    project.destroy()
