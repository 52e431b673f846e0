"""The emulator against hostile or careless clients (issue 24, "smaller points").

* ``/_emulator/*`` calls that change something need ``X-Emulator-Control: 1``: a web page in a
  browser on the same machine can send a cross-origin GET or a form/``text/plain`` POST without
  asking, never a custom header (that needs a CORS preflight, which the emulator never grants).
* A non-loopback ``--host`` prints a warning on stderr.
* JSON nested too deeply is a 400 with an IMS error body, not a 500 with a traceback.
* A client that sends its request head slowly is disconnected (``--header-timeout``).
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from ims_emulator import __main__ as emulator_main
from ims_emulator.body import MAX_JSON_DEPTH
from ims_emulator.process import Emulator
from tests.support.emulator_client import CONTROL, Api, error_code

pytestmark = pytest.mark.contract

# --- control endpoints ------------------------------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = {"Content-Type": "text/plain"}
FAULTS = json.dumps({"rules": [{"kind": "error", "status": 503}]})

CONTROLS = [
    # (reason, method, path, headers, body, status)
    ("a form POST from a web page cannot reset the emulator", "POST", "/_emulator/reset", FORM, "a=1", 403),
    ("a bodiless POST (fetch with mode no-cors) cannot reset it", "POST", "/_emulator/reset", {}, None, 403),
    ("a text/plain POST (a form with enctype=text/plain) cannot install faults", "POST", "/_emulator/faults", TEXT,
     FAULTS, 403),
    ("DELETE needs the header too (only a preflight protected it)", "DELETE", "/_emulator/images", {}, None, 403),
    ("PATCH needs the header too", "PATCH", "/_emulator/config", {"Content-Type": "application/json"},
     '{"unique_names": true}', 403),
    ("a header with another value is not the control header", "POST", "/_emulator/reset",
     {"X-Emulator-Control": "yes"}, None, 403),
    ("with the header, reset works", "POST", "/_emulator/reset", CONTROL, None, 200),
    ("with the header, faults are installed", "POST", "/_emulator/faults", {**CONTROL, **TEXT}, FAULTS, 200),
    ("reads need nothing: a page cannot read the answer (CI's curl health check)", "GET", "/_emulator/health", {},
     None, 200),
    ("reads of the images need nothing either", "GET", "/_emulator/images", {}, None, 200),
]


@pytest.mark.parametrize(("reason", "method", "path", "headers", "body", "status"), CONTROLS,
                         ids=[c[0] for c in CONTROLS])
def test_control_calls_that_change_something_need_the_header(api: Api, emu: Emulator, reason: str, method: str,
                                                            path: str, headers: dict[str, str], body: str | None,
                                                            status: int) -> None:
    api.create(name="kept")
    response = requests.request(method, emu.url + path, headers=headers, data=body, timeout=10)
    assert response.status_code == status, f"{reason}: {response.status_code} {response.text}"
    if status == 403:
        assert "X-Emulator-Control: 1" in response.json()["error"]["message"], "the refusal says what to send"
        assert [i["name"] for i in emu.images()] == ["kept"], "nothing was deleted"
        assert emu.faults() == [], "no fault was installed"


# --- bind warning --------------------------------------------------------------------------------

BINDS = [
    # (reason, host, warns)
    ("the default, IPv4 loopback", "127.0.0.1", False),
    ("another IPv4 loopback address", "127.0.0.2", False),
    ("IPv6 loopback", "::1", False),
    ("localhost", "localhost", False),
    ("every IPv4 interface", "0.0.0.0", True),
    ("every IPv6 interface", "::", True),
    ("a LAN address", "192.168.1.5", True),
    ("a host name other than localhost", "emulator.example", True),
]


@pytest.mark.parametrize(("reason", "host", "warns"), BINDS, ids=[c[0] for c in BINDS])
def test_a_non_loopback_bind_warns(reason: str, host: str, warns: bool) -> None:
    warning = emulator_main.bind_warning(host)
    assert (warning is not None) == warns, reason
    if warning:
        assert host in warning and "127.0.0.1" in warning and "\n" not in warning


def test_main_prints_the_warning_on_stderr(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without binding anything (``serve`` replaced): tests bind 127.0.0.1 only."""
    seen: list[str] = []

    async def serve(args: Any) -> None:
        seen.append(args.host)

    monkeypatch.setattr(emulator_main, "serve", serve)
    assert emulator_main.main(["--host", "0.0.0.0"]) == 0
    assert seen == ["0.0.0.0"]
    captured = capsys.readouterr()
    assert "WARNING: listening on 0.0.0.0" in captured.err and captured.out == ""
    assert emulator_main.main(["--host", "127.0.0.1"]) == 0
    assert capsys.readouterr().err == "", "no warning on loopback"


# --- JSON depth ------------------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A JSON array nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


DEEP = [
    # (reason, path, method, body)
    ("far beyond the decoder's own recursion limit: was a 500 with a traceback", "/v2/images", "POST",
     nested(100_000)),
    ("just beyond the emulator's limit", "/v2/images", "POST", nested(MAX_JSON_DEPTH + 1)),
    ("deep inside an otherwise valid create body", "/v2/images", "POST",
     '{"name": "x", "tags": ' + nested(5_000) + "}"),
    ("a JSON-patch body", "/v2/images/{id}", "PATCH", nested(100_000)),
]


@pytest.mark.parametrize(("reason", "path", "method", "body"), DEEP, ids=[c[0] for c in DEEP])
def test_deeply_nested_json_is_a_400_with_an_ims_error(api: Api, emu: Emulator, reason: str, path: str, method: str,
                                                       body: str) -> None:
    image = api.create(name="base")
    content_type = "application/openstack-images-v2.1-json-patch" if method == "PATCH" else None
    response = api.request(method, path.replace("{id}", image["id"]), data=body.encode(), content_type=content_type)
    assert response.status_code == 400, f"{reason}: {response.status_code} {response.text[:300]}"
    assert error_code(response) == "IMG.0001" and "levels deep" in response.json()["error"]["message"], reason
    assert len(emu.images()) == 1


def test_deeply_nested_control_body_is_a_400(emu: Emulator) -> None:
    response = requests.post(emu.url + "/_emulator/faults", data=nested(100_000), headers=CONTROL, timeout=10)
    assert response.status_code == 400 and "levels deep" in response.text


def test_ordinary_nesting_is_fine(api: Api) -> None:
    image = api.create(name="base")
    value = json.dumps({"a": [{"b": [1]}]})  # a custom attribute whose value is a string holding JSON
    ops = [{"op": "add", "path": "/doc", "value": value}]
    assert api.patch(f"/v2/images/{image['id']}", ops).status_code == 200


# --- slow request heads ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient() -> Iterator[Emulator]:
    """An emulator that gives a connection half a second to send a complete request head."""
    with Emulator.start(None, "--header-timeout", "0.5") as emu:
        yield emu


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (without blocking)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096) == b""
    except ConnectionError:
        return True


def test_a_client_sending_its_headers_slowly_is_disconnected(impatient: Emulator) -> None:
    """Slowloris: a header line every 50 ms keeps bytes coming, but the head never completes.

    No timed assertion: the client dribbles until the server closes the connection; the deadline
    only turns a server that never does into a failure instead of a hang.
    """
    url = urlsplit(impatient.url)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 60
        sent = 0
        while not _closed(sock):
            assert time.monotonic() < deadline, f"still connected after {sent} header lines"
            try:
                sock.sendall(f"X-Slow-{sent}: 1\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.05)
    # an ordinary client is served by the same emulator
    assert requests.get(impatient.url + "/_emulator/health", timeout=10).json() == {"status": "ok"}


def test_the_header_timeout_does_not_cut_a_slow_upload(impatient: Emulator) -> None:
    """The limit is on the request head: a body that takes longer than it still arrives."""
    api = Api(impatient.url, token="ims-demo-token", project=None)
    image = api.create(name="slow", disk_format="raw", container_format="bare")

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            time.sleep(0.3)  # 1.2 s in all, more than the 0.5 s head limit
            yield b"x" * 1024

    response = api.session.put(f"{impatient.url}/v2/images/{image['id']}/file", data=chunks(),
                               headers={"X-Auth-Token": "ims-demo-token", "Content-Type": "application/octet-stream"},
                               timeout=30)
    assert response.status_code == 204, response.text
