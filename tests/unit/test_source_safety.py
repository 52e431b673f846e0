"""Sources offline (issue 24): a URL's secrets are redacted everywhere but in the secret input the
provider reads, a regenerated presigned URL is no change, and a source yields exactly the bytes it
announced or fails before the last of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from ims_pulumi.core import content, workflow
from ims_pulumi.core.errors import BadRequest, ImsError, SourceError
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.dynamic.resource import source_props
from tests.unit.test_url_import import FakeApi

pytestmark = pytest.mark.unit

SIGNED = "https://user:pa55word@bucket.obs.example.com:8443/images/disk.raw?X-Amz-Signature=5ecret5ig&X-Amz-Expires=600"

REDACTIONS = [
    # (url, redacted, why)
    (SIGNED, "https://***@bucket.obs.example.com:8443/images/disk.raw?***", "user information and query both hidden"),
    ("http://user@host/a.raw", "http://***@host/a.raw", "a user name alone is hidden too"),
    ("http://host/a.raw?token=abcd", "http://host/a.raw?***", "any query string may carry a credential"),
    ("http://host/a.raw#part", "http://host/a.raw", "a fragment is never sent: dropped"),
    ("http://host:8080/a.raw", "http://host:8080/a.raw", "nothing secret: unchanged (the state of 0.3 stays equal)"),
    ("http://[::1]:8080/a.raw?s=1", "http://[::1]:8080/a.raw?***", "an IPv6 host keeps its brackets"),
]


@pytest.mark.parametrize(("url", "redacted", "why"), REDACTIONS, ids=[r[2] for r in REDACTIONS])
def test_redact_url(url: str, redacted: str, why: str) -> None:
    assert content.redact_url(url) == redacted, why
    assert content.redact_url(redacted) == redacted, "redacting twice changes nothing"


IDENTITIES = [
    # (old, new, same, why)
    (SIGNED, SIGNED.replace("5ecret5ig", "other519"), True, "a presigned URL generated again for the same object"),
    (SIGNED, SIGNED.replace("pa55word", "rotated1"), True, "rotated credentials, the same object"),
    ("http://host/a.raw", "http://HOST/a.raw?x=1", True, "host case and a query do not identify the object"),
    (SIGNED, SIGNED.replace("disk.raw", "disk2.raw"), False, "another object (path)"),
    ("http://host/a.raw", "https://host/a.raw", False, "another scheme may be another server"),
    ("http://host:1/a.raw", "http://host:2/a.raw", False, "another port is another server"),
]


@pytest.mark.parametrize(("old", "new", "same", "why"), IDENTITIES, ids=[r[3] for r in IDENTITIES])
def test_url_identity_without_secrets(old: str, new: str, same: bool, why: str) -> None:
    kind = IMAGE_METADATA.by_name["source"].kind
    # what release 0.3 stored (the whole URL) and what this release stores (redacted) compare alike
    for stored in (content.describe(old), {"kind": "url", "location": old}):
        assert kind.same(stored, content.describe(new)) is same, why


DIGESTS = [
    # (old checksum, new checksum, same, why)
    ("sha256:" + "a" * 64, "sha256:" + "a" * 64, True, "the same declared bytes"),
    ("sha256:" + "a" * 64, "sha256:" + "b" * 64, False, "a new object at the same URL, declared by its checksum"),
    (None, "sha256:" + "b" * 64, True, "a checksum added to a stack of 0.3: the URL decides, no replacement"),
    ("md5:" + "a" * 32, "sha256:" + "b" * 64, True, "no common algorithm: the URL decides"),
]


@pytest.mark.parametrize(("old", "new", "same", "why"), DIGESTS, ids=[r[3] for r in DIGESTS])
def test_a_declared_checksum_is_part_of_a_urls_identity(old: str | None, new: str, same: bool, why: str) -> None:
    kind = IMAGE_METADATA.by_name["source"].kind
    assert kind.same(content.describe(SIGNED, old), content.describe(SIGNED, new)) is same, why


def test_the_descriptor_has_no_secret_and_the_secret_url_is_the_whole_url() -> None:
    described = content.describe(pulumi.RemoteAsset(SIGNED), "sha256:" + "c" * 64)
    assert described == {"kind": "url", "location": "https://***@bucket.obs.example.com:8443/images/disk.raw?***",
                         "sha256": "c" * 64}
    assert content.secret_url(pulumi.RemoteAsset(SIGNED)) == SIGNED
    assert content.secret_url("http://host/a.raw") is None, "nothing to hide: no secret input"
    assert content.secret_url("/tmp/disk.raw") is None
    assert content.with_url(described, SIGNED)["url"] == SIGNED and "url" not in described
    assert content.fetch_url(content.with_url(described, SIGNED)) == SIGNED
    assert content.fetch_url({"kind": "url", "location": "http://host/a.raw"}) == "http://host/a.raw", \
        "a URL without secrets (and a stack of 0.3) is read from its location"


def test_source_props_register_the_whole_url_as_a_secret() -> None:
    props = source_props(pulumi.RemoteAsset(SIGNED))
    assert "pa55word" not in repr(props["source"]) and "5ecret5ig" not in repr(props["source"])
    secret = props[content.SECRET_URL_KEY]
    assert isinstance(secret, pulumi.Output)
    assert source_props(pulumi.RemoteAsset("http://host/a.raw")) == {
        "source": {"kind": "url", "location": "http://host/a.raw"}}, "nothing secret: nothing extra"


SCRUBS = [
    # (text, why)
    (f"GET {SIGNED} failed", "the whole URL"),
    ("HTTPSConnectionPool(host='bucket.obs.example.com', port=8443): Max retries exceeded with url: "
     "/images/disk.raw?X-Amz-Signature=5ecret5ig&X-Amz-Expires=600", "requests' path and query"),
    ("auth user:pa55word refused", "the user information"),
    ("signature 5ecret5ig expired", "one query value"),
]


@pytest.mark.parametrize(("text", "why"), SCRUBS, ids=[s[1] for s in SCRUBS])
def test_scrub_removes_every_secret_part(text: str, why: str) -> None:
    out = content.scrub(text, SIGNED)
    assert "pa55word" not in out and "5ecret5ig" not in out, (why, out)


def chunks_of(*parts: bytes) -> Iterator[bytes]:
    yield from parts


EXACT = [
    # (chunks, size, sent, error, why)
    ([b"abc", b"def"], 6, [b"abc", b"def"], None, "exactly the announced bytes"),
    ([b"abc", b"def"], None, [b"abc", b"def"], None, "no size announced (chunked): passed on"),
    ([b"abc", b"defg"], 6, [b"abc"], "yields more bytes", "a chunk beyond the size is never passed on"),
    ([b"abc", b"def", b"g"], 6, [b"abc"], "yields more bytes", "the chunk that reaches the size waits for the end"),
    ([b"abc"], 6, [b"abc"], "yields 3 fewer bytes", "a short source fails before the receiver has the size"),
    ([], 0, [], None, "an empty source of size 0"),
]


@pytest.mark.parametrize(("parts", "size", "sent", "error", "why"), EXACT, ids=[e[4] for e in EXACT])
def test_exactly(parts: list[bytes], size: int | None, sent: list[bytes], error: str | None, why: str) -> None:
    got: list[bytes] = []
    if error is None:
        got = list(content.exactly(chunks_of(*parts), size, "src"))
    else:
        with pytest.raises(SourceError, match=error):
            for chunk in content.exactly(chunks_of(*parts), size, "src"):
                got.append(chunk)
    assert got == sent, why


def test_a_read_that_breaks_off_is_a_source_error_without_the_url() -> None:
    def broken() -> Iterator[bytes]:
        yield b"abc"
        raise OSError(f"connection reset while reading {SIGNED}")

    with pytest.raises(SourceError) as caught:
        list(content.exactly(broken(), 10, content.redact_url(SIGNED), "its Content-Length",
                             lambda exc: content.scrub(str(exc), SIGNED)))
    text = str(caught.value)
    assert "7 fewer bytes" in text and "connection reset" in text and isinstance(caught.value, ImsError)
    assert "pa55word" not in text and "5ecret5ig" not in text and "\n" not in text, text


def test_a_missing_file_is_a_source_error(tmp_path: Any) -> None:
    with pytest.raises(SourceError, match=r"cannot read the source .*nope\.raw"):
        content.open_source({"kind": "file", "location": str(tmp_path / "nope.raw")})


def test_refresh_and_update_store_a_url_of_an_earlier_release_redacted() -> None:
    stored = {"kind": "url", "location": SIGNED}  # what release 0.3 kept in inputs and outputs
    outs = IMAGE_METADATA.outputs_from_image({"id": "i1", "status": "active"}, {"source": stored})
    assert outs["source"] == {"kind": "url", "location": content.redact_url(SIGNED)}
    assert IMAGE_METADATA.inputs_from_image({"id": "i1"}, {"source": stored, "name": "x"})["source"] == outs["source"]
    assert IMAGE_METADATA.by_name["source"].kind.same(stored, outs["source"]), "and no change for the diff"


def test_the_secret_url_is_never_an_output_nor_kept_by_refresh() -> None:
    inputs = {"source": content.describe(SIGNED), content.SECRET_URL_KEY: SIGNED, "name": "x"}
    assert content.SECRET_URL_KEY not in IMAGE_METADATA.outputs_from_image({"id": "i1"}, inputs)
    assert content.SECRET_URL_KEY not in IMAGE_METADATA.inputs_from_image({"id": "i1"}, inputs)


IMPORT_OUTCOMES = [
    # (refusal, ends, why)
    (BadRequest(operation="import", status=400, message=f"URI {SIGNED} does not pass filtering"), None,
     "a refused import (warned, then streamed) with the URL echoed by the server"),
    (None, {"id": "i1", "status": "queued", "os_glance_failed_import": "fs"}, "a failed import task"),
]


@pytest.mark.parametrize(("refusal", "ends", "why"), IMPORT_OUTCOMES, ids=[o[2] for o in IMPORT_OUTCOMES])
def test_glance_gets_the_whole_url_and_messages_only_the_redacted_one(
        refusal: ImsError | None, ends: dict[str, Any] | None, why: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "_probe", lambda url: "from the provider's machine the URL answers 404 Not Found")
    api = FakeApi(refuse=refusal, ends=ends)
    source = content.with_url(content.describe(SIGNED), SIGNED)
    text = ""
    try:
        workflow._import(api, {"id": "i1", "name": "web", "status": "queued"}, source, None, 60.0, True)  # type: ignore[arg-type]
    except ImsError as exc:
        text = str(exc)
    text += capsys.readouterr().err
    assert api.calls[0] == f"import {SIGNED}", "the server is given the URL it can read"
    assert content.redact_url(SIGNED) in text, (why, text)
    assert "pa55word" not in text and "5ecret5ig" not in text, (why, text)
