"""The one HTTP transport of the provider: session, timeouts, authentication and retries.

Retry rule (see :func:`should_retry`): a request is repeated only when repeating it cannot
do harm. Idempotent methods (GET, HEAD, PUT, DELETE) are retried on 429, 5xx and connection
failures. POST and PATCH are retried only when the server certainly did not act on them:
a 429 from the API gateway, or a connection that was never established. Every other
failure of a POST/PATCH is raised, and the caller reconciles by reading the server's state
(see ``client.ImsClient.create_image`` and ``update_image``), so that a retry never creates
a second image.

A TLS failure (untrusted certificate, wrong host name, handshake error) is never retried:
repeating it cannot succeed, and the message says which setting fixes it.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from . import signer
from .errors import ApiError, TransportError, error_for

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "pulumi-ims-image-metadata/0.3"


@dataclass(frozen=True)
class Credentials:
    """How requests are authenticated. Never printed: ``repr`` hides every secret."""

    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    security_token: str = field(default="", repr=False)
    auth_token: str = field(default="", repr=False)
    project_id: str = ""

    @property
    def mode(self) -> str:
        """``aksk``, ``token`` or ``none``."""
        if self.access_key and self.secret_key:
            return "aksk"
        return "token" if self.auth_token else "none"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff that honours ``Retry-After``."""

    max_attempts: int = 8  # per request
    max_failures: int = 24  # per operation, across all its requests and reconcile rounds
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    budget_seconds: float = 180.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after) + rng.uniform(0, self.base_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling)  # "equal jitter": never zero, never synchronised

    def budget(self) -> Budget:
        """A fresh allowance for one operation."""
        return Budget(self)


class Budget:
    """The retry allowance of one operation (one provider call such as "create image x").

    Every failed attempt of the operation spends from it, whoever handles the failure: the
    transport repeating an idempotent request, the client looking up a create whose response
    was lost, or the provider re-reading an image after a 409. So an operation makes at most
    ``max_failures`` failed attempts (and no single request more than ``max_attempts``) and
    waits at most ``budget_seconds`` in total, however its requests are nested.
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.failures = 0
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()

    def retry(self, delay: float, attempt: int) -> bool:
        """Record failed attempt number ``attempt`` of one request (or reconcile round); whether
        another attempt, ``delay`` seconds from now, is allowed."""
        with self._lock:
            self.failures += 1
            return (attempt < self.policy.max_attempts and self.failures < self.policy.max_failures
                    and self._clock() - self._started + delay <= self.policy.budget_seconds)


def should_retry(method: str, *, status: int | None = None, sent: bool = True) -> bool:
    """Whether a failed attempt may be repeated as is.

    ``status`` is the HTTP status of the response, or ``None`` when there was none;
    ``sent`` is False when the connection was never established.
    """
    method = method.upper()
    if status is None:
        return not sent or method in IDEMPOTENT_METHODS
    if status == 429:
        return True  # the gateway refused it before the service saw it
    return status in RETRY_STATUSES and method in IDEMPOTENT_METHODS


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass
class Response:
    """What the client needs of a response."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    @property
    def request_id(self) -> str:
        """The request id the server assigned (``X-Request-Id`` / ``X-Openstack-Request-Id``)."""
        for name in ("X-Request-Id", "X-Openstack-Request-Id", "X-Compute-Request-Id"):
            if self.headers.get(name):
                return str(self.headers[name])
        return ""

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


class Transport:
    """Sends requests to one endpoint with one set of credentials.

    Thread-safe: the provider serves many resources at once from one instance.
    """

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials,
        *,
        verify: bool | str = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        pool_size: int = 64,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._host = urlsplit(self.endpoint).netloc
        self._credentials = credentials
        self._timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.verify = verify
        self.session.trust_env = False  # proxies from the environment are not for loopback emulators

    @property
    def project_id(self) -> str:
        """The project of the credentials ("" when not configured: a token carries its own)."""
        return self._credentials.project_id

    def _headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": USER_AGENT, **headers}
        creds = self._credentials
        if creds.project_id:
            out["X-Project-Id"] = creds.project_id
        if creds.mode == "aksk":
            if creds.security_token:
                out["X-Security-Token"] = creds.security_token
            return signer.sign(method, url, out, body, creds.access_key, creds.secret_key)
        if creds.mode == "token":
            out["X-Auth-Token"] = creds.auth_token
        return out

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        query: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        content_type: str = "application/json",
        ok: Sequence[int] = (200, 201, 202, 204),
        budget: Budget | None = None,
    ) -> Response:
        """Send one logical request, retrying as :func:`should_retry` allows.

        Raises :class:`ApiError` (a subclass per status/code) or :class:`TransportError`.
        ``operation`` names the request in error messages ("create image 'x'"); ``budget`` is
        the operation's retry allowance (a fresh one per request when not given).
        """
        budget = budget or self.retry.budget()
        url = self.endpoint + path
        if query:
            url += "?" + signer.canonical_query(query)  # the signed query is the sent query
        body = b"" if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        extra = {"Content-Type": content_type} if body else {}
        attempt = 0
        while True:
            attempt += 1
            # Sign on every attempt: X-Sdk-Date must be fresh.
            headers = self._headers(method, url, extra, body)
            retry_after: float | None = None
            try:
                raw = self.session.request(method, url, data=body or None, headers=headers, timeout=self._timeout)
            except requests.exceptions.SSLError as exc:
                # Permanent, and nothing was sent: the handshake failed before the request.
                reason, hint = _describe_tls(exc)
                raise TransportError(f"{operation} failed: {reason} ({self.endpoint}). {hint}", sent=False) from exc
            except requests.exceptions.ConnectionError as exc:
                sent = not _never_connected(exc)
                failure: ApiError | TransportError = TransportError(_describe(exc), sent=sent)
                retryable = should_retry(method, sent=sent)
            except requests.exceptions.Timeout as exc:
                failure = TransportError(
                    f"no response within {self._timeout[1]:.0f}s",
                    sent=not isinstance(exc, requests.exceptions.ConnectTimeout),
                )
                retryable = should_retry(method, sent=failure.sent)
            else:
                resp = Response(raw.status_code, raw.content, raw.headers)
                if raw.status_code in ok:
                    return resp
                failure = error_for(operation, raw.status_code, raw.content, resp.request_id)
                retryable = should_retry(method, status=raw.status_code)
                retry_after = parse_retry_after(raw.headers.get("Retry-After"))
            delay = self.backoff(attempt, retry_after) if retryable else 0.0
            if not retryable or not budget.retry(delay, attempt):
                if isinstance(failure, TransportError):
                    failure = self._unreachable(operation, str(failure), failure.sent, attempt)
                raise failure
            self._sleep(delay)

    def upload(self, path: str, chunks: Iterable[bytes], size: int | None, *, operation: str,
               read_timeout: float = 300.0) -> Response:
        """``PUT`` a stream of bytes (``application/octet-stream``) once, in constant memory.

        Never repeated here: the stream cannot be rewound, and the caller decides from the
        image's status what a failure means. AK/SK signing covers the headers; the body is
        sent as ``UNSIGNED-PAYLOAD``, as Huawei's SDK signs non-JSON bodies.
        """
        url = self.endpoint + path
        extra = {"Content-Type": "application/octet-stream"}
        if size is not None:
            extra["Content-Length"] = str(size)
        # the signer hashes the body only to tell an empty one from the rest
        headers = self._headers("PUT", url, extra, b"" if size == 0 else b"\0")
        body: Any = b"" if size == 0 else (chunks if size is None else _SizedStream(chunks, size))
        try:
            raw = self.session.put(url, data=body, headers=headers, timeout=(self._timeout[0], read_timeout))
        except requests.exceptions.SSLError as exc:
            reason, hint = _describe_tls(exc)
            raise TransportError(f"{operation} failed: {reason} ({self.endpoint}). {hint}", sent=False) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            sent = not (isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc))
            raise TransportError(f"{operation} failed: {_describe(exc)} ({self.endpoint})", sent=sent) from exc
        resp = Response(raw.status_code, raw.content, raw.headers)
        if raw.status_code not in (200, 201, 204):
            raise error_for(operation, raw.status_code, raw.content, resp.request_id)
        return resp

    def _unreachable(self, operation: str, reason: str, sent: bool, attempts: int) -> TransportError:
        """The final error of a request that got no HTTP response: what, where, how often, what to do."""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return TransportError(
            f"{operation} failed{tries}: {reason} ({self.endpoint}). Check that ims:endpoint is right and "
            "reachable from this machine, then run the command again (safe: an image whose create reached the "
            "server is found by its create token, not made twice)", sent=sent)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (jittered; ``Retry-After`` wins)."""
        with self._rng_lock:
            return self.retry.delay(attempt, retry_after, self._rng)

    def sleep(self, seconds: float) -> None:
        """Wait (the injected clock of tests; for callers that repeat a whole operation)."""
        self._sleep(seconds)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


class _SizedStream:
    """Chunks as a readable file of known length: sent with ``Content-Length``, read as it goes
    (a bare iterator would be sent with ``Transfer-Encoding: chunked``). No ``tell``: requests
    would take its answer as the length still to send."""

    def __init__(self, chunks: Iterable[bytes], size: int) -> None:
        self._chunks = iter(chunks)
        self._size = size
        self._buffer = b""

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(io.DEFAULT_BUFFER_SIZE * 8):
            yield chunk

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        out, self._buffer = (self._buffer, b"") if n < 0 else (self._buffer[:n], self._buffer[n:])
        return out


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: ``__cause__``/``__context__``, urllib3's ``reason``
    and exceptions passed as arguments (requests wraps urllib3's ``MaxRetryError`` that way)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        linked = [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
        todo.extend(x for x in linked if isinstance(x, BaseException))


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP/TLS connection was never established (the request cannot have arrived)."""
    return any(isinstance(c, _NOT_CONNECTED) for c in causes(exc))


# urllib3's NewConnectionError (refused, unreachable, DNS) derives from ConnectTimeoutError.
_NOT_CONNECTED = (urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError, socket.gaierror)
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (socket.gaierror, "unknown host"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset by the server"),
    (http.client.RemoteDisconnected, "the server closed the connection without a response"),
    (http.client.IncompleteRead, "the server closed the connection in the middle of the response"),
)


def _describe(exc: Exception) -> str:
    found = list(causes(exc))
    for kind, words in _REASONS:
        if any(isinstance(c, kind) for c in found):
            return words
    text = str(exc)
    return text.split("(Caused by", 1)[-1].strip(" )") if "(Caused by" in text else text


def _describe_tls(exc: requests.exceptions.SSLError) -> tuple[str, str]:
    """What went wrong in the TLS handshake, and which setting fixes it."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        found = re.search(r"certificate verify failed: ([^()]+?)\s*\(_ssl", text)
        why = f": {found.group(1).strip()}" if found else ""
        return (f"TLS certificate verification failed{why}",
                "Set ims:caBundle (HW_CA_BUNDLE) to a PEM file with the CA that signed the server's certificate "
                "(ims:insecure true skips verification: for test endpoints only)")
    found = re.search(r"SSLError\(.*?\] ([^()]+?)\s*\(_ssl", text)
    why = found.group(1).strip() if found else text.split("(Caused by", 1)[-1].strip(" )")
    return f"TLS handshake failed: {why}", "Check that ims:endpoint has the right scheme (https or http) and port"


def warn(message: str) -> None:
    """Print a warning the CLI shows as a diagnostic."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def inform(message: str) -> None:
    """Print a line of information the CLI shows as a diagnostic (not a warning)."""
    print(message, file=sys.stderr, flush=True)


def warn_insecure(endpoint: str) -> None:
    """Warn that TLS verification is off for ``endpoint`` (``ims:insecure``)."""
    warn(f"TLS certificate verification is disabled for {endpoint} (ims:insecure); "
         "do not use this against a real cloud")
