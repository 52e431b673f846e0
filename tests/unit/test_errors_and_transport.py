"""Error parsing and mapping, the retry decision, backoff, and the transport's retry loop."""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import urllib3

from ims_pulumi.core import errors, transport
from ims_pulumi.core.transport import Budget, Credentials, RetryPolicy, Transport, parse_retry_after, should_retry

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("body,code,message,reason", [
    ('{"error": {"code": "IMG.0056", "message": "Invalid OS version."}}', "IMG.0056", "Invalid OS version.",
     "IMS style, nested"),
    ('{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information", "request_id": "r"}',
     "APIGW.0301", "Incorrect IAM authentication information", "API gateway style"),
    ('{"code": "404 Not Found", "title": "Not Found", "message": "No image found with ID x"}', "",
     "No image found with ID x", "Glance/WebOb: the status line is not an API code"),
    ("<html><body><h1>403 Forbidden</h1>Image is protected</body></html>", "",
     "403 Forbidden Image is protected", "HTML is reduced to its text"),
    (r'{"message": "Image x is protected and cannot be deleted.<br /><br />\n\n\n", "code": "403 Forbidden"}', "",
     "Image x is protected and cannot be deleted.", "Glance's JSON messages carry HTML line breaks"),
    ("", "", "", "empty body"),
])
def test_parse_error_body(body: str, code: str, message: str, reason: str) -> None:
    assert errors.parse_error_body(body) == (code, message), reason


@pytest.mark.parametrize("status,body,cls,reason", [
    (400, '{"error":{"code":"IMG.0015","message":"quota"}}', errors.QuotaExceeded, "quota by code"),
    (400, '{"error":{"code":"IMG.0009","message":"name exists"}}', errors.NameConflict, "name conflict by code"),
    (400, '{"error":{"code":"IMG.0028","message":"protected"}}', errors.ImageProtected, "IMS protected code"),
    (403, '{"message":"Image x is protected and cannot be deleted.","code":"403 Forbidden"}', errors.ImageProtected,
     "Glance protected 403"),
    (401, '{"error_code":"APIGW.0301","error_msg":"bad signature"}', errors.AuthenticationFailed, "401"),
    (403, '{"error":{"code":"IMG.0026","message":"role invalid"}}', errors.PermissionDenied, "403"),
    (404, "", errors.NotFound, "404"),
    (409, "", errors.Conflict, "409"),
    (429, '{"error_code":"APIGW.0308","error_msg":"throttled"}', errors.RateLimited, "429"),
    (503, "", errors.ServerError, "5xx"),
])
def test_error_mapping(status: int, body: str, cls: type, reason: str) -> None:
    err = errors.error_for("create image 'x'", status, body, "req-123")
    assert type(err) is cls, reason


def test_error_message_is_actionable() -> None:
    err = errors.error_for("create image 'x'", 400, '{"error":{"code":"IMG.0015","message":"Quota."}}', "req-9")
    text = str(err)
    for part in ("create image 'x'", "HTTP 400", "IMG.0015", "Quota", "request id req-9", "Delete unused"):
        assert part in text


@pytest.mark.parametrize("method,status,sent,expected,reason", [
    ("GET", 503, True, True, "idempotent on 5xx"),
    ("DELETE", 500, True, True, "idempotent on 5xx"),
    ("PUT", None, True, True, "idempotent after a lost connection"),
    ("POST", 503, True, False, "POST may have been applied: caller reconciles"),
    ("PATCH", 500, True, False, "PATCH may have been applied: caller reconciles"),
    ("POST", None, True, False, "connection lost after sending"),
    ("POST", None, False, True, "never connected: safe"),
    ("POST", 429, True, True, "gateway throttled before the service saw it"),
    ("GET", 400, True, False, "client errors are final"),
    ("GET", 404, True, False, "not found is an answer"),
    ("DELETE", 409, True, False, "conflicts are final"),
])
def test_should_retry(method: str, status: int | None, sent: bool, expected: bool, reason: str) -> None:
    assert should_retry(method, status=status, sent=sent) is expected, reason


def test_backoff_is_bounded_jittered_and_honours_retry_after() -> None:
    policy, rng = RetryPolicy(base_delay=0.5, max_delay=4.0), random.Random(1)
    delays = [policy.delay(a, None, rng) for a in range(1, 10)]
    assert all(0 < d <= 4.0 for d in delays)
    assert delays[0] <= 0.5 and max(delays) > 2.0
    assert 3.0 <= policy.delay(1, 3.0, rng) <= 3.5
    assert policy.delay(1, 999.0, rng) <= policy.max_retry_after + policy.base_delay


@pytest.mark.parametrize("value,expected", [("3", 3.0), ("0", 0.0), (None, None), ("soon", None)])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


class _Script(BaseHTTPRequestHandler):
    """Answers each request with the next scripted status."""

    script: list[int] = []
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(self.command)
        status = self.script.pop(0) if self.script else 200
        body = b'{"error_code":"APIGW.0308","error_msg":"slow down"}' if status == 429 else b"{}"
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("X-Request-Id", f"rid-{len(self.seen)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Script)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Script.seen = []
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def _transport(url: str) -> Transport:
    return Transport(url, Credentials(auth_token="t"), sleep=lambda s: None, retry=RetryPolicy(max_attempts=4))


def test_transport_retries_get_until_success(server: str) -> None:
    _Script.script = [503, 500, 200]
    assert _transport(server).request("GET", "/x", operation="read").status == 200
    assert _Script.seen == ["GET"] * 3


def test_transport_does_not_repeat_post_on_5xx(server: str) -> None:
    _Script.script = [500]
    with pytest.raises(errors.ServerError) as info:
        _transport(server).request("POST", "/x", operation="create", json_body={})
    assert _Script.seen == ["POST"] and "request id rid-1" in str(info.value)


def test_transport_repeats_post_on_429(server: str) -> None:
    _Script.script = [429, 429, 201]
    assert _transport(server).request("POST", "/x", operation="create", json_body={}).status == 201


def test_transport_gives_up_after_max_attempts(server: str) -> None:
    _Script.script = [503] * 10
    with pytest.raises(errors.ServerError):
        _transport(server).request("DELETE", "/x", operation="delete")
    assert len(_Script.seen) == 4


def test_connection_refused_is_a_transport_error_that_was_not_sent() -> None:
    t = Transport("http://127.0.0.1:9", Credentials(), sleep=lambda s: None, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(errors.TransportError) as info:
        t.request("POST", "/v2/images", operation="create image 'x'", json_body={})
    assert info.value.sent is False and "connection refused" in str(info.value)


def test_credentials_repr_hides_secrets() -> None:
    text = repr(Credentials("AKID", "SECRETKEY", "STS", "TOKEN", "proj"))
    assert "SECRETKEY" not in text and "AKID" not in text and "TOKEN" not in text and "proj" in text


def test_one_budget_spans_every_request_of_an_operation(server: str) -> None:
    """Two GETs of one operation share its allowance of four failed attempts: the second GET gets
    two tries, not four, because the first one already failed twice."""
    t = Transport(server, Credentials(auth_token="t"), sleep=lambda s: None,
                  retry=RetryPolicy(max_attempts=4, max_failures=4))
    budget = t.retry.budget()
    _Script.script = [503, 503, 200, 503, 503]
    assert t.request("GET", "/a", operation="read", budget=budget).status == 200
    with pytest.raises(errors.ServerError):
        t.request("GET", "/b", operation="read", budget=budget)
    assert _Script.seen == ["GET"] * 5 and budget.failures == 4


def test_budget_counts_time_too() -> None:
    now = [0.0]
    budget = Budget(RetryPolicy(max_attempts=100, budget_seconds=10), clock=lambda: now[0])
    assert budget.retry(5.0, 1)
    now[0] = 6.0
    assert not budget.retry(5.0, 2), "another attempt would end after the operation's budget"


# (reason, exception as requests raises it, never connected?)
CONNECTION_FAILURES = [
    ("refused: urllib3 NewConnectionError inside MaxRetryError",
     requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
         None, "/", urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection"))), True),
    ("DNS failure: NameResolutionError is a NewConnectionError",
     requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
         None, "/", urllib3.exceptions.NameResolutionError("h", None, socket.gaierror(-2, "unknown")))), True),
    ("connect timeout", requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, "/", urllib3.exceptions.ConnectTimeoutError(None, "timed out"))), True),
    ("server closed the connection after the request was sent",
     requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
         "Connection aborted.", http.client.RemoteDisconnected("closed"))), False),
    ("reset while reading the response", requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", ConnectionResetError(104, "reset"))), False),
    ("a message that merely mentions 'Connection refused' is not a refusal",
     requests.exceptions.ConnectionError("upstream said: Connection refused"), False),
]


@pytest.mark.parametrize("reason,exc,never", CONNECTION_FAILURES, ids=[c[0] for c in CONNECTION_FAILURES])
def test_never_connected_is_decided_by_exception_type(reason: str, exc: requests.exceptions.ConnectionError,
                                                      never: bool) -> None:
    assert transport._never_connected(exc) is never, reason
