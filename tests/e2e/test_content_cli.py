"""Image content with the real CLI: FileAsset on the second and third runs (pulumi/pulumi#6802),
identity by bytes, a URL source, the AK/SK limit at preview, and progress in the engine's event stream (`pulumi up --json`)."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.process import Emulator
from harness.pulumi_cli import PulumiProject, ims_config
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


def test_progress_appears_in_the_event_stream(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    disk = tmp_path / "slow.raw"
    disk.write_bytes(os.urandom(8 * 1024 * 1024))
    config, secrets = ims_config(emu.url)
    # a progress line for every chunk: the local upload is faster than any real period
    project = PulumiProject.create(tmp_path, program(f"pulumi.FileAsset({str(disk)!r})"), config=config,
                                   secrets=secrets, extra_env={"IMS_PULUMI_PROGRESS_EVERY": "0",
                                                               "IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "cache")})
    result = project.up("--json")  # the engine's event stream, as JSON lines
    events = []
    for line in result.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    text = json.dumps(events)
    assert "uploaded" in text and "MiB" in text, result.stdout[-3000:]
    project.destroy()
