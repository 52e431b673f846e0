"""``PUT /v2/images/{id}/file``: streamed upload, digests, status flow, the AK/SK size limit, faults.

Most requests go through ``requests``; where the test must decide when body bytes are sent
(before the 413, during ``saving``, a body that breaks off, ``Expect: 100-continue``) it
talks HTTP/1.1 over a plain socket (:class:`RawUpload`).
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN, PLATFORM_PROJECT_ID
from ims_emulator.body import AKSK_BODY_LIMIT
from ims_emulator.faults import FaultRule
from ims_emulator.process import Emulator
from ims_pulumi.core.signer import (
    Authorization,
    canonical_request,
    format_date,
    sign,
    signature,
    signed_header_names,
    string_to_sign,
)
from tests.support.emulator_client import CONTROL, Api, error_code

pytestmark = pytest.mark.contract

OCTET = "application/octet-stream"
MIB = 1024 * 1024
EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def _data(size: int, seed: int = 7) -> bytes:
    """``size`` reproducible pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def _file_path(image_id: str) -> str:
    return f"/v2/images/{image_id}/file"


def _wait_status(api: Api, image_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
    """Poll the image until it has ``status`` (or the timeout passes); the last image seen."""
    deadline = time.monotonic() + timeout
    while True:
        image = dict(api.get(f"/v2/images/{image_id}").json())
        if image["status"] == status or time.monotonic() > deadline:
            return image
        time.sleep(0.02)


def _aksk_headers(url: str, image_id: str, body: bytes = b"\0", *, length: int | None = None) -> dict[str, str]:
    """Headers of an AK/SK upload signed as huaweicloudsdkcore signs it: ``UNSIGNED-PAYLOAD``.

    ``sign()`` adds ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` for the octet-stream body, so
    the body is never hashed; it only has to say whether the body is empty. ``length`` adds
    an (unsigned, as with the SDK) ``Content-Length``.
    """
    headers = {"Content-Type": OCTET, "X-Project-Id": DEMO_PROJECT_ID}
    signed = sign("PUT", url + _file_path(image_id), headers, body, DEMO_AK, DEMO_SK)
    return signed if length is None else {**signed, "Content-Length": str(length)}


def _payload_signed_headers(url: str, image_id: str, body: bytes) -> dict[str, str]:
    """AK/SK headers whose signature covers the SHA-256 of ``body`` (no ``X-Sdk-Content-Sha256``)."""
    headers = {
        "Content-Type": OCTET,
        "X-Project-Id": DEMO_PROJECT_ID,
        "X-Sdk-Date": format_date(),
        "Host": urlsplit(url).netloc,
    }
    names = signed_header_names(headers)
    canonical = canonical_request("PUT", _file_path(image_id), [], headers, names, body)
    sig = signature(DEMO_SK, string_to_sign(canonical, headers["X-Sdk-Date"]))
    return {**headers, "Authorization": Authorization(DEMO_AK, names, sig).header()}


def _token_headers(**extra: str) -> dict[str, str]:
    return {"X-Auth-Token": DEMO_TOKEN, "Content-Type": OCTET, **extra}


class RawUpload:
    """One ``PUT /v2/images/{id}/file`` over a plain socket: the test decides when body bytes go out."""

    def __init__(self, url: str, image_id: str, headers: dict[str, str], *, timeout: float = 30) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self._buffer = b""
        lines = [f"PUT {_file_path(image_id)} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        """Send body bytes."""
        self.sock.sendall(data)

    def head(self) -> tuple[int, dict[str, str]]:
        """The status line and headers of the next response (a ``100 Continue`` is one too)."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed; received {self._buffer!r}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers

    def response(self) -> tuple[int, bytes]:
        """The status and body of the next (final) response."""
        status, headers = self.head()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return status, body

    def closed_without_answer(self, timeout: float = 10) -> bool:
        """Whether the server closes the connection without sending anything."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@pytest.fixture
def token_api(emu: Emulator) -> Api:
    """A client of ``emu`` that authenticates with the demo token (no body limit)."""
    return Api(emu.url, token=DEMO_TOKEN)


# --- the table: sizes, credentials, outcome ----------------------------------------------------

# fmt: off
UPLOADS: dict[str, dict[str, Any]] = {
    "TokenEmpty": {"reason": "0 bytes is a (valid) empty image file", "auth": "token", "size": 0, "want": 204},
    "TokenFewBytes": {"reason": "a few bytes", "auth": "token", "size": 5, "want": 204},
    "TokenTwoChunks": {"reason": "just over one 1 MiB read: the digests span chunks", "auth": "token", "size": MIB + 1, "want": 204},
    "Token20MB": {"reason": "token uploads have no size limit", "auth": "token", "size": 20_000_000, "want": 204},
    "AkSkEmpty": {"reason": "an empty AK/SK body is signed with the empty-body hash", "auth": "aksk", "size": 0, "want": 204},
    "AkSkFewBytes": {"reason": "AK/SK with UNSIGNED-PAYLOAD, small body", "auth": "aksk", "size": 1000, "want": 204},
    "AkSkAtLimit": {"reason": "exactly 12,000,000 bytes is within the limit", "auth": "aksk", "size": AKSK_BODY_LIMIT, "want": 204},
    "AkSkOneOver": {"reason": "12,000,001 bytes is over it", "auth": "aksk", "size": AKSK_BODY_LIMIT + 1, "want": 413},
    "AkSk12MiB": {"reason": "12 MiB is over the stricter 12 MB reading (12 * 10^6)", "auth": "aksk", "size": 12 * MIB, "want": 413},
    "AkSk20MB": {"reason": "AK/SK bodies are limited to 12 MB (IMS upload docs)", "auth": "aksk", "size": 20_000_000, "want": 413},
}
# fmt: on


@pytest.mark.parametrize("case", UPLOADS.values(), ids=UPLOADS.keys())
def test_upload_sizes_and_credentials(emu: Emulator, api: Api, case: dict[str, Any]) -> None:
    image = api.create()
    data = _data(case["size"])
    client = Api(emu.url, token=DEMO_TOKEN) if case["auth"] == "token" else api
    response = client.put(_file_path(image["id"]), data=data, content_type=OCTET, timeout=60)
    assert response.status_code == case["want"], f"{case['reason']}: {response.text}"
    if case["want"] == 413:
        assert error_code(response) == "APIGW.0201", case["reason"]
        assert "Request entity too large" in response.json()["error_msg"]
        assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued", "a refused upload changes nothing"
        return
    done = _wait_status(api, image["id"], "active")
    assert done["status"] == "active", case["reason"]
    assert done["size"] == len(data) and done["__image_size"] == str(len(data))
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    assert done["os_hash_algo"] == "sha512" and done["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert done["virtual_size"] is None, "the emulator does not inspect the disk format"
    assert done["updated_at"] >= image["updated_at"] and done["active_at"]


def test_empty_upload_has_the_md5_of_nothing(token_api: Api) -> None:
    image = token_api.create()
    assert token_api.put(_file_path(image["id"]), data=b"", content_type=OCTET).status_code == 204
    done = _wait_status(token_api, image["id"], "active")
    assert (done["size"], done["checksum"], done["__image_size"]) == (0, EMPTY_MD5, "0")


# --- the AK/SK limit is applied before the body is read ----------------------------------------


@pytest.mark.parametrize("expect", [False, True], ids=["NoExpect", "Expect100Continue"])
def test_aksk_over_limit_is_413_before_any_body_byte(emu: Emulator, api: Api, expect: bool) -> None:
    image = api.create()
    headers = _aksk_headers(emu.url, image["id"], length=20_000_000)
    if expect:
        headers["Expect"] = "100-continue"
    upload = RawUpload(emu.url, image["id"], headers, timeout=5)
    try:
        status, body = upload.response()  # not one body byte was sent
    finally:
        upload.close()
    assert status == 413, "answered from the headers alone, without a 100 Continue first"
    assert b"APIGW.0201" in body
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_aksk_over_limit_wins_over_a_bad_signature(emu: Emulator, api: Api) -> None:
    image = api.create()
    headers = {**_aksk_headers(emu.url, image["id"]), "Authorization": "SDK-HMAC-SHA256 garbage"}
    headers["Content-Length"] = str(AKSK_BODY_LIMIT + 1)
    upload = RawUpload(emu.url, image["id"], headers, timeout=5)
    try:
        assert upload.response()[0] == 413, "the gateway checks the size before the credentials"
    finally:
        upload.close()


def test_aksk_chunked_upload_over_limit_is_413_once_the_limit_is_passed(emu: Emulator, api: Api) -> None:
    image = api.create()
    headers = _aksk_headers(emu.url, image["id"])  # no Content-Length: requests sends a generator chunked
    block = _data(MIB)

    def body() -> Iterator[bytes]:
        for _ in range(13):  # 13 MiB > 12,000,000 bytes
            yield block

    response = requests.put(emu.url + _file_path(image["id"]), data=body(), headers=headers, timeout=60)
    assert (response.status_code, error_code(response)) == (413, "APIGW.0201")
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued", "back to queued, uploadable again"


def test_aksk_chunked_upload_within_limit_is_streamed(emu: Emulator, api: Api) -> None:
    image = api.create()
    chunks = [_data(1000, seed=n) for n in range(5)]
    response = requests.put(
        emu.url + _file_path(image["id"]), data=iter(chunks), headers=_aksk_headers(emu.url, image["id"]), timeout=10
    )
    assert response.status_code == 204, response.text
    done = _wait_status(api, image["id"], "active")
    assert done["checksum"] == hashlib.md5(b"".join(chunks)).hexdigest()


def test_token_upload_over_the_aksk_limit_is_not_refused_early(emu: Emulator, token_api: Api) -> None:
    image = token_api.create()
    upload = RawUpload(emu.url, image["id"], _token_headers(**{"Content-Length": str(20_000_000)}))
    try:
        upload.send(b"x" * 1000)
        assert _wait_status(token_api, image["id"], "saving")["status"] == "saving", "token: streaming started"
    finally:
        upload.close()
    assert _wait_status(token_api, image["id"], "queued")["status"] == "queued"


# --- AK/SK signing of an upload --------------------------------------------------------------


def test_aksk_unsigned_payload_upload_is_verified_without_reading_the_body(emu: Emulator, api: Api) -> None:
    image = api.create()
    headers = _aksk_headers(emu.url, image["id"], length=100)
    assert headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert "x-sdk-content-sha256" in headers["Authorization"], "the header itself is signed"
    upload = RawUpload(emu.url, image["id"], headers)
    try:
        upload.send(b"y" * 10)
        assert _wait_status(api, image["id"], "saving")["status"] == "saving", "verified and streaming"
        upload.send(b"y" * 90)
        assert upload.response()[0] == 204
    finally:
        upload.close()
    assert _wait_status(api, image["id"], "active")["checksum"] == hashlib.md5(b"y" * 100).hexdigest()


def test_aksk_bad_signature_is_401_before_the_body(emu: Emulator, api: Api) -> None:
    image = api.create()
    headers = _aksk_headers(emu.url, image["id"], length=1_000_000)
    headers["X-Project-Id"] = "f" * 32  # signed header changed after signing
    upload = RawUpload(emu.url, image["id"], headers, timeout=5)
    try:
        status, body = upload.response()
    finally:
        upload.close()
    assert (status, b"APIGW.0301" in body) == (401, True)
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_aksk_signed_by_huaweicloudsdkcore_is_accepted(emu: Emulator, api: Api) -> None:
    image = api.create()
    data = _data(4096)
    parts = urlsplit(emu.url)
    request = SdkRequest(
        method="PUT",
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=_file_path(image["id"]),
        query_params=[],
        header_params={"Content-Type": OCTET, "X-Project-Id": DEMO_PROJECT_ID},
        body=data,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # datetime.utcnow inside the SDK
        Signer(BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID)).sign(request)
    assert request.header_params["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD", "the SDK's rule for non-JSON bodies"
    response = requests.put(emu.url + request.uri, data=data, headers=dict(request.header_params), timeout=10)
    assert response.status_code == 204, response.text
    assert _wait_status(api, image["id"], "active")["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_aksk_with_the_body_hash_signed_is_accepted(emu: Emulator, api: Api) -> None:
    image = api.create()
    data = _data(3000)
    headers = _payload_signed_headers(emu.url, image["id"], data)
    response = requests.put(emu.url + _file_path(image["id"]), data=data, headers=headers, timeout=10)
    assert response.status_code == 204, response.text
    assert _wait_status(api, image["id"], "active")["checksum"] == hashlib.md5(data).hexdigest()


def test_aksk_with_the_body_hash_signed_refuses_another_body(emu: Emulator, api: Api) -> None:
    image = api.create()
    headers = _payload_signed_headers(emu.url, image["id"], b"signed bytes")
    response = requests.put(emu.url + _file_path(image["id"]), data=b"other bytes!", headers=headers, timeout=10)
    assert (response.status_code, error_code(response)) == (401, "APIGW.0301")
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued", "nothing was stored"


# --- status flow -----------------------------------------------------------------------------


def test_saving_is_visible_while_a_slow_upload_streams(emu: Emulator, token_api: Api) -> None:
    image = token_api.create()
    data = _data(300_000)
    upload = RawUpload(emu.url, image["id"], _token_headers(**{"Content-Length": str(len(data))}))
    try:
        for start in range(0, len(data) - 100_000, 100_000):
            upload.send(data[start : start + 100_000])
            seen = _wait_status(token_api, image["id"], "saving")
            assert seen["status"] == "saving", f"after {start + 100_000} of {len(data)} bytes"
            assert seen["checksum"] is None, "no data recorded before the body is complete"
        upload.send(data[-100_000:])
        assert upload.response()[0] == 204
    finally:
        upload.close()
    done = _wait_status(token_api, image["id"], "active")
    assert done["checksum"] == hashlib.md5(data).hexdigest()


def _break_off(upload: RawUpload, how: str) -> None:
    if how == "close":
        upload.close()
    else:  # half-close: the server sees the end of a body shorter than its Content-Length
        upload.sock.shutdown(socket.SHUT_WR)
        assert upload.closed_without_answer(), "no response to an incomplete body"
        upload.close()


@pytest.mark.parametrize("how", ["close", "short"], ids=["ClientDisconnects", "ShorterThanContentLength"])
def test_broken_off_upload_goes_back_to_queued_and_can_be_retried(emu: Emulator, token_api: Api, how: str) -> None:
    image = token_api.create()
    upload = RawUpload(emu.url, image["id"], _token_headers(**{"Content-Length": "100000"}))
    upload.send(b"z" * 1000)
    assert _wait_status(token_api, image["id"], "saving")["status"] == "saving"
    _break_off(upload, how)
    broken = _wait_status(token_api, image["id"], "queued")
    assert broken["status"] == "queued" and broken["checksum"] is None and broken["size"] is None
    data = _data(100_000)
    assert token_api.put(_file_path(image["id"]), data=data, content_type=OCTET).status_code == 204
    assert _wait_status(token_api, image["id"], "active")["checksum"] == hashlib.md5(data).hexdigest()


def test_second_concurrent_upload_is_409(emu: Emulator, token_api: Api) -> None:
    image = token_api.create()
    upload = RawUpload(emu.url, image["id"], _token_headers(**{"Content-Length": "20"}))
    try:
        upload.send(b"0123456789")
        assert _wait_status(token_api, image["id"], "saving")["status"] == "saving"
        second = token_api.put(_file_path(image["id"]), data=b"other", content_type=OCTET)
        assert (second.status_code, error_code(second)) == (409, "IMG.0035"), "the image is saving"
        upload.send(b"0123456789")
        assert upload.response()[0] == 204, "the first upload is not disturbed"
    finally:
        upload.close()
    assert _wait_status(token_api, image["id"], "active")["size"] == 20


# fmt: off
REFUSALS: dict[str, dict[str, Any]] = {
    "JsonContentType": {"reason": "IMS requires application/octet-stream; 415 is Glance's answer", "content_type": "application/json", "want": (415, "IMG.0001")},
    "TextContentType": {"reason": "any other media type too", "content_type": "text/plain", "want": (415, "IMG.0001")},
    "NoContentType": {"reason": "a missing Content-Type is not octet-stream", "content_type": None, "want": (415, "IMG.0001")},
    "ActiveImage": {"reason": "data can be uploaded once, to a queued image (Glance: 409)", "setup": "active", "want": (409, "IMG.0035")},
    "KilledImage": {"reason": "a killed image takes no data", "setup": "killed", "want": (409, "IMG.0035")},
    "UnknownImage": {"reason": "no such image", "setup": "unknown", "want": (404, "IMG.0027")},
    "PublicImage": {"reason": "a public image belongs to the platform", "setup": "public", "want": (403, "IMG.0047")},
}
# fmt: on


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_upload_refusals(emu: Emulator, api: Api, case: dict[str, Any]) -> None:
    emu.configure(upload_delay=0)
    image = api.create()
    setup = case.get("setup")
    if setup == "active":
        assert api.put(_file_path(image["id"]), data=b"first", content_type=OCTET).status_code == 204
    elif setup == "killed":
        emu.set_faults([{"kind": "kill_upload", "count": 1}])
        assert api.put(_file_path(image["id"]), data=b"first", content_type=OCTET).status_code == 204
    image_id = {
        "unknown": "3f6a2335-69a9-437d-8322-d87e4600f516",
        "public": next(i["id"] for i in emu.images(PLATFORM_PROJECT_ID)),
    }.get(setup or "", image["id"])
    before = emu.images(public=True)
    response = api.put(_file_path(image_id), data=b"data", content_type=case.get("content_type", OCTET))
    assert (response.status_code, error_code(response)) == case["want"], case["reason"]
    assert emu.images(public=True) == before, "a refused upload changes nothing"


@pytest.mark.parametrize("content_type", ["application/json", None], ids=["Json", "None"])
def test_wrong_content_type_is_refused_before_any_body_byte(emu: Emulator, content_type: str | None) -> None:
    image = Api(emu.url, token=DEMO_TOKEN).create()
    headers = {"X-Auth-Token": DEMO_TOKEN, "Content-Length": "1000000", "Expect": "100-continue"}
    if content_type:
        headers["Content-Type"] = content_type
    upload = RawUpload(emu.url, image["id"], headers, timeout=5)
    try:
        assert upload.response()[0] == 415, "no 100 Continue: the body is never asked for"
    finally:
        upload.close()


def test_expect_100_continue_is_sent_once_the_upload_is_accepted(emu: Emulator, token_api: Api) -> None:
    image = token_api.create()
    upload = RawUpload(emu.url, image["id"], _token_headers(**{"Content-Length": "4", "Expect": "100-continue"}))
    try:
        assert upload.head()[0] == 100
        upload.send(b"data")
        assert upload.response()[0] == 204
    finally:
        upload.close()


def test_upload_digests_are_read_only(api: Api, emu: Emulator) -> None:
    image = api.create()
    for key in ("os_hash_algo", "os_hash_value", "checksum", "size"):
        response = api.patch(f"/v2/images/{image['id']}", [{"op": "add", "path": f"/{key}", "value": "x"}])
        assert (response.status_code, error_code(response)) == (403, "IMG.0001"), key


# --- constant memory --------------------------------------------------------------------------


@pytest.mark.slow
def test_one_gib_token_upload_streams_in_constant_memory(emu: Emulator, token_api: Api) -> None:
    assert emu.process is not None
    server = psutil.Process(emu.process.pid)
    warm = token_api.create()  # load every code path first, so only the upload itself is measured
    assert token_api.put(_file_path(warm["id"]), data=_data(3 * MIB), content_type=OCTET).status_code == 204
    image = token_api.create()
    size, block = 1024 * MIB, _data(MIB)
    before = server.memory_info().rss
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    md5 = hashlib.md5()
    upload = RawUpload(emu.url, image["id"], _token_headers(**{"Content-Length": str(size)}), timeout=120)
    try:
        for _ in range(size // MIB):
            upload.send(block)
            md5.update(block)
        status, _ = upload.response()
    finally:
        upload.close()
        stop.set()
        sampler.join()
    after = server.memory_info().rss
    assert status == 204
    assert peak - before < 50 * MIB, f"RSS grew by {(peak - before) / MIB:.1f} MiB during a 1 GiB upload"
    assert after - before < 50 * MIB
    done = _wait_status(token_api, image["id"], "active")
    assert (done["size"], done["checksum"]) == (size, md5.hexdigest())


# --- faults ---------------------------------------------------------------------------------


# fmt: off
CUTS: dict[str, dict[str, Any]] = {
    "Midway": {"reason": "the connection drops after 1000 of 5000 bytes", "after_bytes": 1000, "size": 5000},
    "AtOnce": {"reason": "after_bytes 0: before any byte is read", "after_bytes": 0, "size": 5000},
    "ShortBody": {"reason": "a body shorter than after_bytes is cut at its end: the upload never completes", "after_bytes": 10_000, "size": 5000},
    "EmptyBody": {"reason": "even an empty body is cut", "after_bytes": 1, "size": 0},
}
# fmt: on


@pytest.mark.parametrize("case", CUTS.values(), ids=CUTS.keys())
def test_cut_upload_fault(emu: Emulator, api: Api, case: dict[str, Any]) -> None:
    image = api.create()
    path = _file_path(image["id"])
    emu.set_faults(
        [
            {
                "kind": "cut_upload",
                "after_bytes": case["after_bytes"],
                "method": "PUT",
                "path": "/v2/images/{id}/file",
                "count": 1,
            }
        ]
    )
    with pytest.raises(requests.ConnectionError):
        api.put(path, data=_data(case["size"]), content_type=OCTET)
    assert _wait_status(api, image["id"], "queued")["status"] == "queued", case["reason"]
    assert emu.stats()["faults"] == {"cut_upload": 1}
    assert emu.faults()[0]["count"] == 0
    data = _data(case["size"], seed=3)
    assert api.put(path, data=data, content_type=OCTET).status_code == 204, "the count is used up: a retry works"
    assert _wait_status(api, image["id"], "active")["checksum"] == hashlib.md5(data).hexdigest()


def test_cut_upload_fault_touches_no_other_request(emu: Emulator, api: Api) -> None:
    emu.set_faults([{"kind": "cut_upload"}])  # no method, path or count: every upload, nothing else
    image = api.create()
    assert api.patch(f"/v2/images/{image['id']}", [{"op": "add", "path": "/k", "value": "v"}]).status_code == 200
    with pytest.raises(requests.ConnectionError):
        api.put(_file_path(image["id"]), data=b"abc", content_type=OCTET)


def test_kill_upload_fault(emu: Emulator, api: Api) -> None:
    image = api.create()
    emu.set_faults([{"kind": "kill_upload", "count": 1}])
    response = api.put(_file_path(image["id"]), data=_data(2000), content_type=OCTET)
    assert response.status_code == 204, "the data arrived; the failure comes later, as for an import"
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "saving", "saving for upload_delay"
    killed = _wait_status(api, image["id"], "killed")
    assert killed["status"] == "killed"
    assert (killed["checksum"], killed["size"], killed["__image_size"]) == (None, None, "0"), "no data recorded"
    again = api.put(_file_path(image["id"]), data=b"x", content_type=OCTET)
    assert (again.status_code, error_code(again)) == (409, "IMG.0035"), "a killed image takes no more data"
    other = api.create()
    assert api.put(_file_path(other["id"]), data=b"x", content_type=OCTET).status_code == 204
    assert _wait_status(api, other["id"], "active")["status"] == "active", "the count is used up"
    assert emu.stats()["faults"] == {"kill_upload": 1}


# fmt: off
BAD_RULES: dict[str, dict[str, Any]] = {
    "NegativeAfterBytes": {"reason": "after_bytes is a non-negative integer", "rule": {"kind": "cut_upload", "after_bytes": -1}},
    "FloatAfterBytes": {"reason": "after_bytes is an integer", "rule": {"kind": "cut_upload", "after_bytes": 1.5}},
    "KillTakesNoParameter": {"reason": "kill_upload has no parameter", "rule": {"kind": "kill_upload", "after_bytes": 1}},
}
# fmt: on


@pytest.mark.parametrize("case", BAD_RULES.values(), ids=BAD_RULES.keys())
def test_upload_fault_rules_are_validated(emu: Emulator, case: dict[str, Any]) -> None:
    response = requests.post(emu.url + "/_emulator/faults", json={"rules": [case["rule"]]}, headers=CONTROL, timeout=10)
    assert response.status_code == 400, case["reason"]


def test_upload_faults_on_the_command_line() -> None:
    rule = FaultRule.from_cli("cut_upload:after_bytes=1048576,count=2")
    assert rule.as_dict() == {"kind": "cut_upload", "after_bytes": 1048576, "count": 2}
    assert FaultRule.from_cli("kill_upload:method=PUT").as_dict() == {"kind": "kill_upload", "method": "PUT"}


# --- kept data --------------------------------------------------------------------------------


def test_kept_image_data_matches_what_was_sent(emu: Emulator, api: Api, token_api: Api) -> None:
    emu.configure(keep_image_data=True)
    image = api.create()
    data = _data(3 * MIB + 17)
    assert token_api.put(_file_path(image["id"]), data=data, content_type=OCTET).status_code == 204
    kept = requests.get(f"{emu.url}/_emulator/images/{image['id']}/file", timeout=10)
    assert kept.status_code == 200 and kept.content == data
    stored: Path = emu.data_dir / "images" / image["id"]
    assert stored.read_bytes() == data, "under --data, for any other check"
    assert api.delete(f"/v2/images/{image['id']}").status_code == 204
    assert not stored.exists(), "deleting the image deletes its data"


def test_kept_data_of_a_broken_or_killed_upload_is_removed(emu: Emulator, api: Api) -> None:
    emu.configure(keep_image_data=True, upload_delay=0)
    broken, killed = api.create(), api.create()
    emu.set_faults([{"kind": "cut_upload", "after_bytes": 10, "count": 1}])
    with pytest.raises(requests.ConnectionError):
        api.put(_file_path(broken["id"]), data=b"x" * 100, content_type=OCTET)
    emu.set_faults([{"kind": "kill_upload", "count": 1}])
    assert api.put(_file_path(killed["id"]), data=b"y" * 100, content_type=OCTET).status_code == 204
    assert _wait_status(api, broken["id"], "queued")["status"] == "queued"
    assert _wait_status(api, killed["id"], "killed")["status"] == "killed"
    images = emu.data_dir / "images"
    assert not images.exists() or list(images.iterdir()) == [], "no partial or killed data is left"


def test_data_is_not_kept_by_default(emu: Emulator, api: Api) -> None:
    image = api.create()
    assert emu.configure()["keep_image_data"] is False
    assert api.put(_file_path(image["id"]), data=b"abc", content_type=OCTET).status_code == 204
    assert requests.get(f"{emu.url}/_emulator/images/{image['id']}/file", timeout=10).status_code == 404
    assert not (emu.data_dir / "images" / image["id"]).exists()


def test_reset_forgets_kept_data(emu: Emulator, api: Api) -> None:
    emu.configure(keep_image_data=True)
    image = api.create()
    assert api.put(_file_path(image["id"]), data=b"abc", content_type=OCTET).status_code == 204
    assert (emu.data_dir / "images" / image["id"]).exists()
    emu.reset()
    assert not (emu.data_dir / "images").exists()
    assert emu.configure()["keep_image_data"] is False, "reset restores the start-up setting"


def test_restart_settles_uploads_and_drops_partial_data(tmp_path: Path) -> None:
    with Emulator.start(tmp_path, "--keep-image-data", "--upload-delay", "60") as emu:
        api = Api(emu.url)
        image = api.create()
        assert api.put(_file_path(image["id"]), data=b"complete", content_type=OCTET).status_code == 204
        assert api.get(f"/v2/images/{image['id']}").json()["status"] == "saving"
        leftover = tmp_path / "images" / "3f6a2335-69a9-437d-8322-d87e4600f516.part"
        leftover.write_bytes(b"what a killed process left")
        emu.restart()
        assert Api(emu.url).get(f"/v2/images/{image['id']}").json()["status"] == "active", "its body was complete"
        assert (tmp_path / "images" / image["id"]).read_bytes() == b"complete"
        assert not leftover.exists(), "partial data is removed at start-up"
