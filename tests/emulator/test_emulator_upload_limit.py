"""The native upload's file size limit: ``PUT /v2/images/{id}/file`` takes files "smaller than 2 GB".

Huawei's current "Uploading an Image (Native OpenStack API)" page says the file must be smaller
than 2 GB and sends larger ones to registration from OBS (older and Open Telekom Cloud pages say
128 GB). The emulator's default is the stricter reading, 1,999,999,999 bytes (``upload_max_bytes``),
whatever the credentials: a token has no gateway body limit, but the file limit still applies.
The AK/SK body limit (12,000,000 bytes, 413) is tested in test_emulator_upload.py.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from ims_emulator import DEMO_TOKEN
from ims_emulator.process import Emulator
from tests.support.emulator_client import Api, error_code

pytestmark = [pytest.mark.contract]

OCTET = "application/octet-stream"


@pytest.fixture
def token_api(emu: Emulator) -> Api:
    """A client of ``emu`` that authenticates with the demo token (no gateway body limit)."""
    return Api(emu.url, token=DEMO_TOKEN)


def _status(api: Api, image_id: str) -> str:
    return str(api.get(f"/v2/images/{image_id}").json()["status"])


def _wait(api: Api, image_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = api.get(f"/v2/images/{image_id}").json()
        if image["status"] == status or time.monotonic() > deadline:
            return image
        time.sleep(0.02)


def test_the_default_limit_refuses_2_gb_before_any_body_byte(emu: Emulator, token_api: Api) -> None:
    """2,000,000,000 bytes is not "smaller than 2 GB": refused from the headers alone, naming the way out."""
    image = token_api.create()
    parts = urlsplit(emu.url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("PUT", f"/v2/images/{image['id']}/file")
        for name, value in {"X-Auth-Token": DEMO_TOKEN, "Content-Type": OCTET, "Content-Length": str(2 * 10**9),
                            "Expect": "100-continue"}.items():
            connection.putheader(name, value)
        connection.endheaders()  # no body byte is sent
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 400, "answered without a 100 Continue, so without the body"
    assert '"IMG.0059"' in body and "1,999,999,999" in body and "/v1/cloudimages/{image_id}/upload" in body
    assert _status(token_api, image["id"]) == "queued"


# (why, limit set, bytes sent, chunked transfer, expected status)
SIZES = [
    ("exactly the limit is accepted", 1000, 1000, False, 204),
    ("one byte over, told by Content-Length", 1000, 1001, False, 400),
    ("one byte over with chunked transfer: refused once byte 1001 arrives", 1000, 1001, True, 400),
    ("within the limit with chunked transfer", 1000, 999, True, 204),
]
# Every case with a token; the Content-Length ones with AK/SK too (the limit is the file's, not the
# credentials'). Chunked AK/SK signing is covered by test_emulator_upload.py.
CASES = [("token", *case) for case in SIZES] + [("aksk", *case) for case in SIZES if not case[3]]


@pytest.mark.parametrize(("auth", "limit", "size", "chunked", "want"), [(c[0], *c[2:]) for c in CASES],
                         ids=[f"{c[1]} ({c[0]})" for c in CASES])
def test_the_file_limit_applies_whatever_the_credentials(emu: Emulator, auth: str, limit: int, size: int,
                                                         chunked: bool, want: int) -> None:
    emu.configure(upload_max_bytes=limit)
    api = Api(emu.url, token=DEMO_TOKEN) if auth == "token" else Api(emu.url)
    image = api.create()
    data = b"x" * size
    if chunked:
        headers = {"X-Auth-Token": DEMO_TOKEN, "Content-Type": OCTET}

        def body() -> Iterator[bytes]:
            for start in range(0, size, 100):
                yield data[start : start + 100]

        response = requests.put(f"{emu.url}/v2/images/{image['id']}/file", data=body(), headers=headers, timeout=10)
    else:
        response = api.put(f"/v2/images/{image['id']}/file", data=data, content_type=OCTET)
    assert response.status_code == want, response.text
    if want == 400:
        assert error_code(response) == "IMG.0059"
        assert f"{limit:,}" in response.json()["error"]["message"]
        assert _status(api, image["id"]) == "queued", "back to queued, uploadable again"
    else:
        assert _wait(api, image["id"], "active")["size"] == size


def test_the_limit_is_a_command_line_option() -> None:
    with Emulator.start(None, "--upload-max-bytes", "10") as emu:
        api = Api(emu.url, token=DEMO_TOKEN)
        image = api.create()
        response = api.put(f"/v2/images/{image['id']}/file", data=b"x" * 11, content_type=OCTET)
        assert (response.status_code, error_code(response)) == (400, "IMG.0059")
        assert emu.configure()["upload_max_bytes"] == 10


@pytest.mark.parametrize("value", [-1, "big", True, 1.5], ids=["negative", "string", "bool", "float"])
def test_the_limit_setting_is_validated(emu: Emulator, value: object) -> None:
    with pytest.raises(requests.HTTPError):
        emu.configure(upload_max_bytes=value)
