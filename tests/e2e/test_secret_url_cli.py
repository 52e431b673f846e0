"""A presigned URL with credentials through the real CLI (issue 24): its password and signature
never reach the state (`pulumi stack export`), the engine's event log, the stack's outputs or the
PR summary; a regenerated signature is no change; a 404 behind ``Output.secret`` fails in one line
without them. Before the fix the whole URL was the ``location`` of the stored ``source`` (inputs and
outputs), shown by every preview, and a 404 printed a ``requests`` traceback with it."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD, SIGNATURE = "password", "SECRET"
SECRETS = (PASSWORD, SIGNATURE, "Zm9vOnBhc3N3b3Jk")  # the last: user:password in Basic auth's base64


class Bucket(http.server.BaseHTTPRequestHandler):
    """Objects that need the user information (Basic auth) and a signature; others answer 404."""

    objects: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.objects.get(path)
        if body is None or not query.startswith("X-Amz-Signature=") or not self.headers.get("Authorization"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bucket() -> Iterator[str]:
    Bucket.objects = {"/disk.raw": os.urandom(256 * 1024), "/disk2.raw": os.urandom(128 * 1024)}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bucket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def program(source: str) -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("web", name="web-signed", disk_format="raw", min_disk=1, source={source})
pulumi.export("id", image.id)
pulumi.export("status", image.status)
pulumi.export("source", image.source)
'''


def asset(host: str, path: str, signature: str = SIGNATURE) -> str:
    return f'pulumi.RemoteAsset("http://user:{PASSWORD}@{host}{path}?X-Amz-Signature={signature}")'


def assert_no_secret(text: str, where: str) -> None:
    found = [s for s in SECRETS if s in text]
    assert not found, f"{found} in {where}: ...{text[max(0, text.find(found[0]) - 300):text.find(found[0]) + 300]}"


def summary(project: PulumiProject) -> str:
    """`pulumi preview --json | python -m ims_preview_summary`, as the PR workflow runs it."""
    preview = project.preview("--json").stdout
    assert_no_secret(preview, "pulumi preview --json")
    proc = subprocess.run([sys.executable, "-m", "ims_preview_summary", "--title", "Preview", "--marker", "m"],
                          input=preview, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    return proc.stdout


def test_a_presigned_url_with_credentials_stays_secret(tmp_path: Path, emu: Emulator, bucket: str,
                                                       pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program(asset(bucket, "/disk.raw")), config=config, secrets=secrets,
                                   extra_env={"PULUMI_DEBUG_COMMANDS": "true"})  # registers --event-log
    created_summary = summary(project)
    assert "web" in created_summary
    assert_no_secret(created_summary, "the PR summary of the create")

    log = tmp_path / "up.jsonl"
    up = project.up("--event-log", str(log))
    assert_no_secret(up.output, "the output of pulumi up")
    (image,) = live_images(emu)
    assert image["status"] == "active" and image["size"] == len(Bucket.objects["/disk.raw"])
    assert_no_secret(log.read_text(), "the engine's event log")
    state = json.dumps(project.export())
    assert_no_secret(state, "pulumi stack export")
    assert "__source_url" in state and "ciphertext" in state, "the whole URL is stored encrypted, as a secret"
    for args in (("--json",), ("--json", "--show-secrets")):
        outputs = project.run("stack", "output", *args).stdout
        assert_no_secret(outputs, f"pulumi stack output {' '.join(args)}")
    source = json.loads(project.run("stack", "output", "--json", "--show-secrets").stdout)["source"]
    assert source == {"kind": "url", "location": f"http://***@{bucket}/disk.raw?***"}, source

    # a presigned URL generated again for the same object: no change at all
    project.write_program(program(asset(bucket, "/disk.raw", signature="SIGNED-AGAIN")))
    project.preview("--expect-no-changes")
    project.up("--expect-no-changes")

    # another object: a replacement, and the PR summary still shows no secret
    project.write_program(program(asset(bucket, "/disk2.raw")))
    changed_summary = summary(project)
    assert "disk2.raw" in changed_summary, changed_summary
    assert_no_secret(changed_summary, "the PR summary of the replacement")
    project.destroy()


def test_a_secret_url_that_answers_404_fails_in_one_line_without_its_secrets(tmp_path: Path, emu: Emulator,
                                                                              bucket: str, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    url = f"http://user:{PASSWORD}@{bucket}/missing.raw?X-Amz-Signature={SIGNATURE}"
    project = PulumiProject.create(tmp_path, program(f"pulumi.Output.secret({url!r})"), config=config,
                                   secrets=secrets)
    failed = project.up(check=False)
    assert failed.returncode != 0
    assert_no_secret(failed.output, "the output of the failed pulumi up")
    assert "Traceback" not in failed.output, failed.output
    lines = [x for x in failed.output.splitlines() if "answers HTTP 404" in x]
    assert lines and all(f"http://***@{bucket}/missing.raw?***" in x for x in lines), failed.output
    assert_no_secret(json.dumps(project.export()), "pulumi stack export")
