"""Exact bytes and secret-safe URL sources against the emulator and a local HTTP server (issue 24).

Before the fix, ``requests`` asked the web server for gzip and decoded it: the upload announced the
compressed length and sent the decoded bytes, and the emulator made the first bytes an ``active``
image. A file that grew while it was sent went out beyond its ``Content-Length`` (the image became
``active`` with the old prefix); one that shrank left the server waiting for the rest; a short
answer from a web server was reported as a broken connection to the IMS endpoint and sent again.
A URL's password and signature reached the outputs and, on a 404, a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness.pulumi_cli import ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core import content
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ImsError, SourceError
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.support.images import live_images

pytestmark = pytest.mark.contract

#: Compressible like a real disk image (long runs): gzip makes it a few hundred bytes.
DATA = b"".join(b"block %06d " % i + b"\0" * 500 for i in range(200))
USER, PASSWORD, SIGNATURE = "reader", "pa55word-XYZ", "SECRET-5ig-0123456789"


class Site(http.server.BaseHTTPRequestHandler):
    """``/plain.raw``: compressed when the client accepts gzip (as many web servers do);
    ``/always-gzip.raw``: compressed whatever the client accepts; ``/short.raw``: announces more
    bytes than it sends, then closes; ``/signed.raw``: needs the user information and the
    signature; anything else: 404."""

    data: ClassVar[bytes] = DATA
    missing: ClassVar[int] = 1000  # how many bytes /short.raw announces but does not send
    requests: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        Site.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        path, _, query = self.path.partition("?")
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if path == "/plain.raw":
            self.answer(gzip.compress(self.data) if accepts_gzip else self.data, gzipped=accepts_gzip)
        elif path == "/always-gzip.raw":
            self.answer(gzip.compress(self.data), gzipped=True)
        elif path == "/short.raw":
            self.answer(self.data, length=len(self.data) + self.missing)
        elif path == "/signed.raw" and f"X-Amz-Signature={SIGNATURE}" in query and self.headers.get("Authorization"):
            self.answer(self.data)
        else:
            self.send_error(404 if path != "/signed.raw" else 403)

    def answer(self, body: bytes, *, gzipped: bool = False, length: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    Site.data, Site.requests, Site.missing = DATA, [], 1000
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)  # HTTP/1.0: closed after each answer
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(tmp_path / "digests"))


def provider(emu: Emulator) -> ImageMetadataProvider:
    config, secrets = ims_config(emu.url)
    raw = {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()}
    return ImageMetadataProvider.with_context(ProviderContext(raw, environ={}))


def inputs(p: ImageMetadataProvider, source: str, **extra: Any) -> dict[str, Any]:
    """The checked inputs the resource class's registration of ``source`` gives (a URL's secret part included)."""
    url = content.secret_url(source)
    registered = {"name": "src", "disk_format": "raw", "source": content.describe(source, extra.get("checksum")),
                  "__create_token": "s" * 32, **extra, **({content.SECRET_URL_KEY: url} if url else {})}
    result = p.check({}, registered)
    assert not result.failures, result.failures
    return dict(result.inputs)


def never_active(emu: Emulator) -> None:
    """After a source that could not be sent as announced: no image holds data (the one the create
    made is ``queued`` again, or was deleted because its source cannot be read)."""
    assert [i["status"] for i in live_images(emu) if i["status"] != "queued"] == [], live_images(emu)


def converged(emu: Emulator, data: bytes) -> None:
    """The next run's outcome: exactly one image, active with ``data``."""
    (image,) = live_images(emu)
    assert (image["status"], image["size"], image["checksum"]) == ("active", len(data), hashlib.md5(data).hexdigest())


def assert_one_line_without_secrets(text: str) -> None:
    assert "\n" not in text and "Traceback" not in text, text
    assert PASSWORD not in text and SIGNATURE not in text and USER not in text, text


# --- exact bytes --------------------------------------------------------------------------------


def test_a_url_that_compresses_on_request_is_uploaded_byte_for_byte(emu: Emulator, site: str) -> None:
    p = provider(emu)
    created = p.create(inputs(p, site + "/plain.raw"))
    converged(emu, DATA)
    assert (created.outs or {})["size"] == len(DATA)
    assert Site.requests[-1]["accept-encoding"] == "identity", "only the identity encoding is asked for"


def test_a_url_compressed_although_identity_was_asked_is_refused(emu: Emulator, site: str) -> None:
    p = provider(emu)
    emu.reset_stats()
    with pytest.raises(SourceError, match="Content-Encoding 'gzip'") as caught:
        p.create(inputs(p, site + "/always-gzip.raw"))
    assert_one_line_without_secrets(str(caught.value))
    assert "PUT /v2/images/{id}/file" not in emu.stats()["requests"], "nothing was sent"
    never_active(emu)


def test_a_wrong_content_length_stops_the_upload_and_the_next_run_converges(emu: Emulator, site: str) -> None:
    p = provider(emu)
    with pytest.raises(SourceError, match=r"yields 1,000 fewer bytes than the [0-9,]+ of its Content-Length") as caught:
        p.create(inputs(p, site + "/short.raw"))
    assert_one_line_without_secrets(str(caught.value))
    never_active(emu)
    Site.missing = 0  # the server fixed: its Content-Length is right now
    provider(emu).create(inputs(p, site + "/short.raw"))
    converged(emu, Site.data)


def upload_then(p: ImageMetadataProvider, change: Any) -> None:
    """Make the provider's upload call ``change()`` once the first chunk of the file is on its way."""
    api = p.context.client
    upload = api.upload_file

    def with_change(image_id: str, chunks: Iterable[bytes], size: int | None) -> None:
        def changing() -> Iterator[bytes]:
            for number, chunk in enumerate(chunks):
                yield chunk
                if number == 0:
                    change()

        upload(image_id, changing(), size)

    api.upload_file = with_change  # type: ignore[method-assign]


CHANGES = [
    # (change to the file during the upload, error, why)
    (lambda f: f.open("ab").write(b"appended" * 1000), "yields more bytes than the 262,144 of its size when it was "
     "opened", "a file that grows while it is sent (a build still writing it)"),
    (lambda f: f.open("r+b").truncate(100_000), r"yields 162,144 fewer bytes than the 262,144",
     "a file that shrinks while it is sent"),
]


@pytest.mark.parametrize(("change", "error", "why"), CHANGES, ids=[c[2] for c in CHANGES])
def test_a_file_that_changes_while_it_is_sent_never_makes_the_image_active(
        emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any, error: str, why: str) -> None:
    monkeypatch.setattr(content, "CHUNK", 64 * 1024)
    disk = tmp_path / "disk.raw"
    disk.write_bytes(bytes(range(256)) * 1024)  # 262,144 bytes: four chunks
    p = provider(emu)
    checked = inputs(p, str(disk))
    upload_then(p, lambda: change(disk))
    with pytest.raises(SourceError, match=error) as caught:
        p.create(checked)
    assert_one_line_without_secrets(str(caught.value))
    never_active(emu)
    # the next run describes the file as it is now and uploads it
    provider(emu).create(inputs(p, str(disk)))
    converged(emu, disk.read_bytes())


# --- secret-safe URLs ---------------------------------------------------------------------------


def signed(site: str) -> str:
    return site.replace("http://", f"http://{USER}:{PASSWORD}@") + f"/signed.raw?X-Amz-Signature={SIGNATURE}"


def test_a_presigned_url_with_credentials_is_read_but_never_stored_or_shown(emu: Emulator, site: str) -> None:
    p = provider(emu)
    checked = inputs(p, signed(site))
    assert checked[content.SECRET_URL_KEY] == signed(site), "the provider gets the whole URL (a secret input)"
    created = p.create(checked)
    outs = created.outs or {}
    assert outs["source"] == {"kind": "url",
                                      "location": site.replace("http://", "http://***@") + "/signed.raw?***"}
    assert_one_line_without_secrets(repr(outs).replace("\n", " "))
    assert content.SECRET_URL_KEY not in outs, "the whole URL is an input only, never an output"
    converged(emu, DATA)
    (image,) = live_images(emu)
    assert PASSWORD not in repr(image) and SIGNATURE not in repr(image)
    # a regenerated presigned URL for the same object: no change at all
    again = inputs(p, signed(site).replace(SIGNATURE, "another-signature"))
    assert not p.diff(created.id, outs, again).changes


@pytest.mark.parametrize(("path", "status"), [("/missing.raw", "404"), ("/signed.raw", "403")],
                         ids=["404: no such object", "403: an expired signature"])
def test_an_unreadable_url_fails_in_one_line_without_its_secrets(emu: Emulator, site: str, path: str,
                                                                 status: str) -> None:
    url = site.replace("http://", f"http://{USER}:{PASSWORD}@") + f"{path}?X-Amz-Signature=wrong-{SIGNATURE}"
    p = provider(emu)
    with pytest.raises(ImsError, match=f"answers HTTP {status}") as caught:
        p.create(inputs(p, url))
    assert_one_line_without_secrets(str(caught.value))
    assert "http://***@127.0.0.1:" in str(caught.value), "the URL is named, redacted"


def test_an_unreachable_url_fails_in_one_line_without_its_secrets(emu: Emulator) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:9/disk.raw?X-Amz-Signature={SIGNATURE}"  # port 9: refused
    p = provider(emu)
    with pytest.raises(SourceError, match=re.escape(
            "cannot read the source http://***@127.0.0.1:9/disk.raw?***: connection refused")) as caught:
        p.create(inputs(p, url))
    assert_one_line_without_secrets(str(caught.value))
