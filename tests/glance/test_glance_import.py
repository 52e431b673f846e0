"""A URL source on a real OpenStack Glance 33.0.0: handed to Glance's own ``web-download`` import
(``POST /v2/images/{id}/import``) where Glance offers it, streamed through the provider where it
does not, and never anything but streamed on IMS (the emulator).

The import runs as a Glance task, which needs a project (owner): these tests use the Glance of
``glance_projects`` (trusted identity headers behind the test's authenticating proxy, whose
``exchanges`` show every request the provider sent). The test Glance accepts ``web-download``
URLs on any port of 127.0.0.1 (``tests/support/glance.py``, ``IMPORT_FILTERING``); each test
serves its image from an :mod:`http.server` on an ephemeral loopback port and sees who fetched it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ims_emulator import DEMO_PROJECT_ID, DEMO_TOKEN
from ims_emulator.process import Emulator
from ims_pulumi.core import api_surface, content
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ImsError
from ims_pulumi.core.transport import Credentials, Response, Transport
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.support.glance import GlanceProjects, GlanceServer, glance_available
from tests.support.images import live_images
from tests.support.site import Site, serve

pytestmark = pytest.mark.contract
glance_test = pytest.mark.glance


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(tmp_path / "digests"))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with serve(Site(tmp_path / "www")) as served:
        yield served


def project_a(gp: GlanceProjects, **settings: str) -> ImageMetadataProvider:
    """A new provider process of project A (each call: a new process, as the next `pulumi up` is)."""
    return ImageMetadataProvider.with_context(ProviderContext(
        {"server": "glance", "endpoint": gp.url, "authToken": gp.token("A"), "projectId": gp.project_id("A"),
         **settings}, environ={}))


def inputs(p: ImageMetadataProvider, url: str, token: str, **extra: Any) -> dict[str, Any]:
    result = p.check({}, {"name": f"url-{token[:8]}", "disk_format": "raw", "container_format": "bare",
                          "source": content.describe(url), "__create_token": token, **extra})
    assert not result.failures, result.failures
    return dict(result.inputs)


def sent(gp: GlanceProjects, since: int, method: str, suffix: str) -> int:
    """How many ``method`` requests to a path ending in ``suffix`` the proxy passed since ``since``."""
    return sum(1 for e in gp.proxy.exchanges[since:] if e.method == method and e.target.split("?")[0].endswith(suffix))


def glance_image(gp: GlanceProjects, image_id: str) -> dict[str, Any]:
    image: dict[str, Any] = requests.get(f"{gp.url}/v2/images/{image_id}", timeout=30, headers={
        "Accept": "application/json", "X-Auth-Token": gp.token("A")}).json()
    return image


def images_of(gp: GlanceProjects, token: str) -> list[dict[str, Any]]:
    """Project A's images of the resource whose program token is ``token`` (by the name :func:`inputs`
    gives it: a new image's create token is derived from ``token``, see ``TokenTag``)."""
    client = ImsClient(Transport(gp.url, Credentials(auth_token=gp.token("A"), project_id=gp.project_id("A"))))
    try:
        return list(client.list_images([("name", f"url-{token[:8]}")]))
    finally:
        client.close()


@glance_test
def test_a_url_is_imported_by_glance_itself(glance_projects: GlanceProjects, site: Site) -> None:
    gp = glance_projects
    data = os.urandom(2 * 1024 * 1024 + 11)
    url = site.put("web.raw", data)
    token = os.urandom(16).hex()
    mark = len(gp.proxy.exchanges)
    p = project_a(gp)
    created = p.create(inputs(p, url, token, checksum="sha512:" + hashlib.sha512(data).hexdigest()))
    image = glance_image(gp, created.id)
    assert (image["status"], image["size"]) == ("active", len(data))
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert (image["os_hash_algo"], image["os_hash_value"]) == ("sha512", hashlib.sha512(data).hexdigest())
    assert (created.outs["status"], created.outs["size"]) == ("active", len(data))
    assert sent(gp, mark, "POST", f"/v2/images/{created.id}/import") == 1, "handed to Glance's import"
    assert sent(gp, mark, "PUT", "/file") == 0, "the provider sent no byte of the image"
    assert sent(gp, mark, "GET", "/v2/info/import") == 1
    assert [(path, code) for path, code, _ in site.fetches] == [("/web.raw", 200)], "fetched once, by Glance"
    assert "python-requests" not in site.fetches[0][2], "not by the provider"

    again = p.create(inputs(p, url, token))  # a repeated create finds the active image and imports nothing
    assert again.id == created.id and sent(gp, mark, "POST", "/import") == 1
    assert sent(gp, mark, "GET", "/v2/info/import") == 1, "the import methods are read once per process"
    p.delete(created.id, created.outs)


@glance_test
def test_a_failed_import_is_reported_and_leaves_no_image_and_the_next_run_imports(
        glance_projects: GlanceProjects, site: Site) -> None:
    # The image a create made is deleted when the server cannot import its URL (issue 24): a
    # corrected URL gets another create token, so a queued image left behind would be an orphan.
    gp = glance_projects
    url = site.url("later.raw")  # 404 for now
    token = os.urandom(16).hex()
    p = project_a(gp)
    with pytest.raises(ImsError) as failed:
        p.create(inputs(p, url, token))
    assert images_of(gp, token) == [], "the queued image this create made was deleted"
    message = str(failed.value)
    assert "'queued'" in message and "was deleted" in message and url in message
    assert "answers 404" in message, "what the URL answers from here"
    assert "`pulumi up` again" in message and "ims:urlImport stream" in message, "what to do"

    data = os.urandom(512 * 1024)
    site.put("later.raw", data)
    mark = len(gp.proxy.exchanges)
    again = project_a(gp)  # the next `pulumi up`: a new provider process
    created = again.create(inputs(again, url, token))
    assert [(i["id"], i["status"]) for i in images_of(gp, token)] == [(created.id, "active")], "one image"
    assert glance_image(gp, created.id)["checksum"] == hashlib.md5(data).hexdigest()
    assert sent(gp, mark, "POST", "/import") == 1 and sent(gp, mark, "PUT", "/file") == 0
    again.delete(created.id, created.outs)


@glance_test
def test_imported_bytes_that_contradict_the_declared_checksum_leave_no_image(
        glance_projects: GlanceProjects, site: Site) -> None:
    gp = glance_projects
    url = site.put("other.raw", b"not the declared bytes" * 1000)
    token = os.urandom(16).hex()
    p = project_a(gp)
    declared = hashlib.md5(b"the declared bytes").hexdigest()
    with pytest.raises(ImsError, match=f"checksum declares md5 {declared}.*The image was deleted"):
        p.create(inputs(p, url, token, checksum=f"md5:{declared}"))
    assert images_of(gp, token) == [], "the image made in this step was deleted: the next run starts over"


@glance_test
def test_a_declared_sha256_is_checked_by_streaming_the_url(glance_projects: GlanceProjects, site: Site) -> None:
    gp = glance_projects
    data = os.urandom(300 * 1024)
    url = site.put("sha.raw", data)
    mark = len(gp.proxy.exchanges)
    p = project_a(gp)
    created = p.create(inputs(p, url, os.urandom(16).hex(), checksum="sha256:" + hashlib.sha256(data).hexdigest()))
    assert created.outs["status"] == "active"
    assert sent(gp, mark, "POST", "/import") == 0 and sent(gp, mark, "PUT", "/file") == 1, \
        "Glance reports no SHA-256: the provider streams the URL to check it"
    assert [ua for _, _, ua in site.fetches] and all("python-requests" in ua for _, _, ua in site.fetches)
    p.delete(created.id, created.outs)


@glance_test
def test_url_import_stream_streams_through_the_provider(glance_projects: GlanceProjects, site: Site) -> None:
    gp = glance_projects
    data = os.urandom(300 * 1024)
    url = site.put("s.raw", data)
    mark = len(gp.proxy.exchanges)
    p = project_a(gp, urlImport="stream")
    created = p.create(inputs(p, url, os.urandom(16).hex()))
    assert glance_image(gp, created.id)["checksum"] == hashlib.md5(data).hexdigest()
    assert sent(gp, mark, "PUT", "/file") == 1
    assert sent(gp, mark, "POST", "/import") == 0 and sent(gp, mark, "GET", "/v2/info/import") == 0, \
        "not even asked which methods Glance offers"
    p.delete(created.id, created.outs)


@glance_test
def test_a_url_glance_refuses_to_fetch_is_streamed_instead(glance_projects: GlanceProjects, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # 127.0.0.2 is loopback too, but not one of the hosts the test Glance may fetch from: Glance
    # answers 400 "URI for web-download does not pass filtering", as a production Glance does for
    # a port other than 80 and 443.
    gp = glance_projects
    with serve(Site(tmp_path / "www2", host="127.0.0.2")) as site:
        data = os.urandom(200 * 1024)
        url = site.put("f.raw", data)
        mark = len(gp.proxy.exchanges)
        p = project_a(gp)
        created = p.create(inputs(p, url, os.urandom(16).hex()))
        assert glance_image(gp, created.id)["checksum"] == hashlib.md5(data).hexdigest()
        assert sent(gp, mark, "POST", "/import") == 1 and sent(gp, mark, "PUT", "/file") == 1
        assert "does not pass filtering" in capsys.readouterr().err, "the warning says why"
        p.delete(created.id, created.outs)


class Recording(Transport):
    """A transport that notes every request (method, path, JSON body) and upload it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        self.sent.append((method, path, kwargs.get("json_body")))
        return super().request(method, path, **kwargs)

    def upload(self, path: str, chunks: Any, size: int | None, **kwargs: Any) -> Response:
        self.sent.append(("PUT", path, None))
        return super().upload(path, chunks, size, **kwargs)


@pytest.fixture(scope="module")
def glance_without_web_download(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlanceServer]:
    """A Glance whose ``enabled_import_methods`` leave ``web-download`` out."""
    ok, why = glance_available()
    if not ok:
        if "IMS_SKIP_GLANCE" in why:
            pytest.skip(why)
        pytest.fail(f"real Glance unavailable: {why}")
    with GlanceServer.start(tmp_path_factory.mktemp("glance-no-web-download"), workers=1, threads=4,
                            web_download=False) as server:
        yield server


@glance_test
def test_a_glance_that_does_not_offer_web_download_gets_the_url_streamed(
        glance_without_web_download: GlanceServer, site: Site) -> None:
    glance = glance_without_web_download
    info = requests.get(f"{glance.url}/v2/info/import", headers={"Accept": "application/json"}, timeout=30).json()
    assert "web-download" not in info["import-methods"]["value"]
    data = os.urandom(256 * 1024)
    url = site.put("n.raw", data)
    transport = Recording(glance.url, Credentials())
    p = ImageMetadataProvider.with_context(ProviderContext({"server": "glance", "endpoint": glance.url}, environ={},
                                                           client=ImsClient(transport)))
    created = p.create(inputs(p, url, os.urandom(16).hex()))
    assert created.outs["status"] == "active" and created.outs["checksum"] == hashlib.md5(data).hexdigest()
    calls = [(m, path) for m, path, _ in transport.sent]
    assert ("GET", "/v2/info/import") in calls and ("PUT", f"/v2/images/{created.id}/file") in calls
    assert not [c for c in calls if c[1].endswith("/import") and c[0] == "POST"], "no import request"
    p.delete(created.id, created.outs)


def test_on_ims_a_url_is_streamed_with_documented_requests_only(emu: Emulator, site: Site) -> None:
    data = os.urandom(700 * 1024)
    url = site.put("ims.raw", data)
    transport = Recording(emu.url, Credentials(auth_token=DEMO_TOKEN, project_id=DEMO_PROJECT_ID))
    raw = {"endpoint": emu.url, "projectId": DEMO_PROJECT_ID, "authToken": DEMO_TOKEN, "urlImport": "auto"}
    p = ImageMetadataProvider.with_context(ProviderContext(raw, environ={}, client=ImsClient(transport)))
    created = p.create(inputs(p, url, os.urandom(16).hex(), checksum="md5:" + hashlib.md5(data).hexdigest()))
    (image,) = live_images(emu)
    assert (image["status"], image["size"], image["checksum"]) == ("active", len(data), hashlib.md5(data).hexdigest())
    assert created.outs["status"] == "active"
    assert ("PUT", f"/v2/images/{created.id}/file", None) in transport.sent, "streamed by the provider"
    for method, path, body in transport.sent:
        assert api_surface.problems(method, path, body) == [], (method, path, body)
    assert not [path for _, path, _ in transport.sent if "import" in path], "IMS is never asked about imports"
    assert api_surface.problems("POST", f"/v2/images/{created.id}/import",
                                {"method": {"name": "web-download", "uri": url}}), "not an IMS request"
    p.delete(created.id, created.outs)
