"""Image content against a real OpenStack Glance 33.0.0: the provider's streamed upload, Glance's
own MD5 and SHA-512 compared with the bytes sent, and a URL source streamed through (Glance's own
``web-download`` import of a URL: ``test_glance_import.py``)."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from ims_pulumi.core import content
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.support.glance import GlanceServer

pytestmark = [pytest.mark.glance, pytest.mark.contract]


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(tmp_path / "digests"))


def provider(glance: GlanceServer, **settings: str) -> ImageMetadataProvider:
    return ImageMetadataProvider.with_context(ProviderContext({"server": "glance", "endpoint": glance.url, **settings},
                                                              environ={}))


def create(p: ImageMetadataProvider, name: str, source: str) -> Any:
    result = p.check({}, {"name": name, "disk_format": "raw", "container_format": "bare",
                          "source": content.describe(source), "__create_token": os.urandom(16).hex()})
    assert not result.failures, result.failures
    return p.create(dict(result.inputs))


def test_file_upload_is_verified_against_glances_hashes(glance: GlanceServer, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    src = tmp_path / "disk.raw"
    src.write_bytes(data)
    p = provider(glance)
    created = create(p, f"up-{os.urandom(4).hex()}", str(src))
    image = requests.get(f"{glance.url}/v2/images/{created.id}", headers={"Accept": "application/json"},
                         timeout=30).json()
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert (image["os_hash_algo"], image["os_hash_value"]) == ("sha512", hashlib.sha512(data).hexdigest())
    assert created.outs["status"] == "active"
    p.delete(created.id, created.outs)


# The session's Glance runs without identities (no project): it offers web-download, but cannot run
# the import task (500, "NOT NULL constraint failed: tasks.owner"). With `auto` the provider tries
# the import, is refused, warns and streams; with `stream` it does not try.
@pytest.mark.parametrize("url_import", ["stream", "auto"])
def test_url_source_is_streamed_through_the_provider(glance: GlanceServer, tmp_path: Path, url_import: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "www"
    root.mkdir()
    data = os.urandom(1024 * 1024)
    (root / "web.raw").write_bytes(data)
    agents: list[str] = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            agents.append(self.headers.get("User-Agent", ""))

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        p = provider(glance, urlImport=url_import)
        created = create(p, f"url-{os.urandom(4).hex()}", f"http://127.0.0.1:{httpd.server_port}/web.raw")
        assert created.outs["status"] == "active" and created.outs["checksum"] == hashlib.md5(data).hexdigest()
        assert agents and all(a.startswith("python-requests") for a in agents), "the provider read the URL"
        refused = "the server refused to import" in capsys.readouterr().err
        assert refused == (url_import == "auto")
        p.delete(created.id, created.outs)
    finally:
        httpd.shutdown()
        httpd.server_close()
