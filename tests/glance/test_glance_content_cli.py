"""Image content end to end on a real OpenStack Glance 33.0.0, with the real ``pulumi`` CLI.

The stack talks to the Glance of ``glance_projects`` (trusted identity headers behind the test's
authenticating proxy, token auth as project A), so that both ways data reaches Glance run:
a ``pulumi.FileAsset`` is streamed (``PUT /v2/images/{id}/file``) and a ``pulumi.RemoteAsset``
is handed to Glance's ``web-download`` import (``POST /v2/images/{id}/import``). The proxy's
request log shows which one the provider used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject
from tests.support.glance import GlanceProjects
from tests.support.images import glance_images
from tests.support.site import Site, serve

pytestmark = [pytest.mark.glance, pytest.mark.e2e]

FILE_BYTES = os.urandom(3 * 1024 * 1024 + 17)
URL_BYTES = os.urandom(2 * 1024 * 1024 + 5)


def program(file: str, url: str | None) -> str:
    remote = "" if url is None else f'''
web = ImageMetadata("web", name="e2e-web", disk_format="raw", container_format="bare", visibility="private",
    source=pulumi.RemoteAsset("{url}"), checksum="md5:{hashlib.md5(URL_BYTES).hexdigest()}")
pulumi.export("web_id", web.id)
pulumi.export("web_status", web.status)
'''
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

disk = ImageMetadata("disk", name="e2e-disk", disk_format="raw", container_format="bare", visibility="private",
    source=pulumi.FileAsset("{file}"))
pulumi.export("disk_id", disk.id)
pulumi.export("disk_status", disk.status)
pulumi.export("disk_size", disk.size)
pulumi.export("disk_checksum", disk.checksum)
''' + remote


def images(gp: GlanceProjects) -> dict[str, dict[str, Any]]:
    """Project A's images that are not gone, by id (read through the proxy, as A; see ``glance_images``)."""
    return {i["id"]: i for i in glance_images(gp.url, {"X-Auth-Token": gp.token("A")})
            if i.get("owner") == gp.project_id("A")}


def sent(gp: GlanceProjects, since: int) -> list[tuple[str, str]]:
    """Method and path (ids replaced) of every request the proxy handled since ``since``."""
    out = []
    for exchange in gp.proxy.exchanges[since:]:
        path = exchange.target.split("?", 1)[0]
        parts = ["{id}" if len(p) == 36 and p.count("-") == 4 else p for p in path.split("/")]
        out.append((exchange.method, "/".join(parts)))
    return out


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve(Site(tmp_path / "www")) as served:
        yield served


def test_file_and_url_sources_on_glance(tmp_path: Path, glance_projects: GlanceProjects, site: Site,
                                        pulumi_cli: None) -> None:
    gp = glance_projects
    before = set(images(gp))
    disk = tmp_path / "build" / "disk.raw"
    disk.parent.mkdir()
    disk.write_bytes(FILE_BYTES)
    url = site.put("web.raw", URL_BYTES)
    project = PulumiProject.create(
        tmp_path / "stack", program(str(disk), url),
        config={"ims:server": "glance", "ims:endpoint": gp.url, "ims:projectId": gp.project_id("A")},
        secrets={"ims:authToken": gp.token("A")},
        extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "digests")})

    # 1. up: both images active, the file streamed and verified, the URL imported by Glance itself.
    # One resource at a time: the test Glance keeps its database in SQLite, which answers "database is
    # locked" (500) when an import task and an upload write at once (the provider retries an upload,
    # but not Glance's own import task).
    seen = len(gp.proxy.exchanges)
    project.up("--parallel", "1")
    out = project.outputs()
    assert (out["disk_status"], out["web_status"]) == ("active", "active"), out
    assert out["disk_size"] == len(FILE_BYTES) and out["disk_checksum"] == hashlib.md5(FILE_BYTES).hexdigest()
    live = images(gp)
    assert set(live) - before == {out["disk_id"], out["web_id"]}, "exactly one image per resource"
    assert live[out["web_id"]]["checksum"] == hashlib.md5(URL_BYTES).hexdigest()
    assert live[out["web_id"]]["size"] == len(URL_BYTES)
    requests_sent = sent(gp, seen)
    assert requests_sent.count(("PUT", "/v2/images/{id}/file")) == 1, "the file is streamed once"
    assert requests_sent.count(("POST", "/v2/images/{id}/import")) == 1, "the URL goes to web-download"
    assert [f for f in site.fetches if f[0] == "/web.raw"], "Glance fetched the URL"

    # 2. Nothing to do afterwards, and moving the file (same bytes) is no change.
    project.preview("--expect-no-changes")
    moved = tmp_path / "elsewhere" / "disk-copy.raw"
    moved.parent.mkdir()
    moved.write_bytes(FILE_BYTES)
    project.write_program(program(str(moved), url))
    project.preview("--expect-no-changes")

    # 3. One byte changed: the image is replaced (an active image's data cannot be replaced in place).
    changed = bytearray(FILE_BYTES)
    changed[len(changed) // 2] ^= 0xFF
    moved.write_bytes(bytes(changed))
    preview = json.loads(project.preview("--json").stdout)
    ops: dict[str, set[str]] = {}
    for step in preview.get("steps", []):
        if step["op"] != "same":
            ops.setdefault(step["urn"].rsplit("::", 1)[1], set()).add(step["op"])
    assert set(ops) == {"disk"}, f"only the file's image changes: {ops}"
    assert "replace" in ops["disk"] or "create-replacement" in ops["disk"], ops
    project.up("--parallel", "1")
    out2 = project.outputs()
    assert out2["disk_id"] != out["disk_id"] and out2["web_id"] == out["web_id"]
    assert out2["disk_checksum"] == hashlib.md5(bytes(changed)).hexdigest()
    assert set(images(gp)) - before == {out2["disk_id"], out["web_id"]}, "the old image was deleted, no third one"

    # 4. destroy leaves nothing behind.
    project.destroy()
    # This stack's images (by name: the shared test Glance holds other tests' images too); a leftover
    # is described by name and status, so that an intermittent one says what it is.
    left = {i: (v.get("name"), v.get("status")) for i, v in images(gp).items()
            if i not in before and v.get("name") in ("e2e-disk", "e2e-web")}
    assert left == {}, f"images of this stack left after destroy: {left}"
    others = {i: (v.get("name"), v.get("status")) for i, v in images(gp).items() if i not in before}
    if others:  # shown with -rA / on failure: what else wrote to the shared Glance meanwhile
        print(f"images of another origin appeared during the test: {others}")
