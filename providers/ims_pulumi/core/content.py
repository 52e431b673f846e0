"""Image content: describing a source (file or URL), hashing it, streaming it to the server.

A ``pulumi.FileAsset`` cannot be an input of a Python dynamic resource (pulumi/pulumi#6802: every
run after the first fails in ``diff``), so the resource class turns ``source`` into a plain map
before it registers: where the bytes are, how many there are and their SHA-256 and MD5. The
digests identify the content: moving or touching a file with the same bytes changes nothing,
different bytes do. Hashing a large file on every preview would be slow, so a file's digests are
cached on disk by (device, inode, size, modification time): an unchanged file is hashed once.

A URL's user information (``user:password@``) and query string (the signature of a presigned
object-store URL) are secrets: the map keeps only the redacted URL (``https://***@host/path?***``,
see :func:`redact_url`), and the resource class registers the whole URL separately, as a Pulumi
secret under :data:`SECRET_URL_KEY` (encrypted in the state, ``[secret]`` in every display), from
where the provider reads it at ``up`` (:func:`with_url`). A URL source is identified by the URL
without them (:func:`url_identity`) plus the digest a declared ``checksum`` gives: a presigned URL
generated again for the same object is no change.

An OBS object, ``obs://bucket/key``, is a source too (kind ``obs``): IMS registers it where it is
(``transfer``), and it is identified like a URL, by its location plus a declared checksum's digest.

The bytes sent are exactly the source's: a URL is asked for the identity encoding and read raw (a
server that compresses anyway is refused), and a source that yields more or fewer bytes than it
announced (``Content-Length``, a file's size when opened) fails before the server has received
the declared size (:func:`exactly`), so the image is never ``active`` with other bytes.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests

from .errors import SourceError

CHUNK = 1024 * 1024
#: From this size a file's two digests are computed on two threads (below it a thread costs more than it saves).
PARALLEL_HASH_BYTES = 16 * CHUNK
#: AK/SK-signed requests to IMS carry at most 12 MB ("Uploading an Image"); the stricter
#: reading (10^6 bytes per MB) is used, so a file that passes here passes on IMS.
AKSK_BODY_LIMIT = 12 * 1000 * 1000
CHECKSUM_PATTERN = re.compile(r"^(md5|sha256|sha512):([0-9a-fA-F]+)$")
CHECKSUM_LENGTH = {"md5": 32, "sha256": 64, "sha512": 128}
PROGRESS_EVERY = float(os.environ.get("IMS_PULUMI_PROGRESS_EVERY") or 5.0)  # seconds between progress lines
#: The input under which the resource class registers a URL source's whole URL, as a Pulumi secret,
#: when it has user information, a query string or a fragment (the ``source`` map has it redacted).
SECRET_URL_KEY = "__source_url"
#: What stands for the user information and the query string of a URL in messages, state and outputs.
REDACTED = "***"


def cache_dir() -> Path:
    """Where file digests are cached (outside the project; safe to delete)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("IMS_PULUMI_DIGEST_CACHE") or Path(base) / "ims-pulumi" / "digests")


def file_digests(path: Path, *, cache: Path | None = None) -> dict[str, Any]:
    """``size``, ``sha256`` and ``md5`` of a file, from the cache when the file is unchanged."""
    st = path.stat()
    key = hashlib.sha256(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{path}".encode()).hexdigest()
    where = (cache or cache_dir()) / f"{key}.json"
    try:
        cached: dict[str, Any] = json.loads(where.read_text())
        if cached.get("size") == st.st_size:
            return cached
    except (OSError, ValueError):
        pass
    # A large file's MD5 on a thread of its own: hashlib releases the GIL, so the two digests overlap
    # and a preview of a 10 GB image takes about the time of its MD5 instead of MD5 plus SHA-256.
    apart = st.st_size >= PARALLEL_HASH_BYTES
    hashes = Hashes(("sha256",) if apart else ("md5", "sha256"))
    md5 = Hasher(Hashes(("md5",))) if apart else None
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if md5 is not None:
                    md5.feed(chunk)
                hashes.update(chunk)
    finally:
        md5_of = md5.finish() if md5 is not None else hashes
    found = {"size": hashes.size, "sha256": hashes.hexdigest("sha256"), "md5": md5_of.hexdigest("md5")}
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = where.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found))
        tmp.replace(where)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return found


def _location(source: Any) -> str:
    location = getattr(source, "path", None) or getattr(source, "uri", None) or source
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"source must be a pulumi.FileAsset, a pulumi.RemoteAsset or a path, not {type(source).__name__}")
    return os.fspath(location)


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL (a source read over the network)."""
    return urlsplit(text).scheme.lower() in ("http", "https")


def is_obs(text: str) -> bool:
    """Whether ``text`` names an object in OBS (``obs://bucket/key``), registered without a transfer."""
    return text[:6].lower() == "obs://"


def describe(source: Any, checksum: Any = None) -> dict[str, Any]:
    """The plain map a ``source`` argument becomes: ``location``, ``kind`` and, for files, digests.

    Accepts ``pulumi.FileAsset``, ``pulumi.RemoteAsset`` (http/https), a path, a URL string or an
    OBS object ``obs://bucket/key`` (kind ``obs``: IMS registers it where it is). A URL's
    ``location`` is redacted (:func:`redact_url`; the whole URL is :func:`secret_url`), and for a URL
    or an OBS object a valid declared ``checksum`` adds its digest (``{"sha256": ...}``): with it, the
    identity covers the bytes, not only where they are.
    """
    text = _location(source)
    if is_url(text) or is_obs(text):
        described: dict[str, Any] = ({"kind": "url", "location": redact_url(text)} if is_url(text) else
                                     {"kind": "obs", "location": text})
        if isinstance(checksum, str) and checksum_problem(checksum) is None:
            algorithm, digest = parse_checksum(checksum)
            described[algorithm] = digest
        return described
    scheme = urlsplit(text).scheme
    if scheme == "file":
        text = urlsplit(text).path
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        return {"kind": "file", "location": str(path), "missing": True}
    return {"kind": "file", "location": str(path), **file_digests(path)}


def secret_url(source: Any) -> str | None:
    """The whole URL of a URL source when its redacted form hides something (user information, query
    string, fragment), else ``None``: what the resource class registers, as a secret, under
    :data:`SECRET_URL_KEY`."""
    text = _location(source)
    return text if is_url(text) and redact_url(text) != text else None


def redact_url(url: str) -> str:
    """``url`` without its secrets: the user information becomes ``***@``, a query string ``?***``,
    a fragment is dropped (``http://user:pw@host:8080/a.raw?X-Amz-Signature=s`` ->
    ``http://***@host:8080/a.raw?***``). A URL without any of them is returned as it is."""
    parts = urlsplit(url)
    if "@" not in parts.netloc and "?" not in url and "#" not in url:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{REDACTED}@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, parts.path, REDACTED if parts.query else "", ""))


def url_identity(url: str) -> str:
    """What identifies a URL source besides a declared checksum: scheme, host, port and path, without
    user information, query string or fragment (the parts a regenerated presigned URL changes)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2].lower()
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", "", ""))


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, a server's answer) with every secret part of ``url`` replaced: the
    whole URL by its redacted form, then its user information, password, query string and query values."""
    if not url:
        return text
    out = text.replace(url, redact_url(url))
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    pieces = [userinfo, parts.password or "", parts.query, parts.fragment,
              *(value for _, value in parse_qsl(parts.query, keep_blank_values=True))]
    for piece in sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True):
        out = out.replace(piece, REDACTED)
    return out


def with_url(source: Any, url: Any) -> Any:
    """The source map the provider reads from: ``source`` plus ``url``, the whole URL registered under
    :data:`SECRET_URL_KEY` (when there is one). Never stored: built for one create or update."""
    if isinstance(source, Mapping) and isinstance(url, str) and url:
        return {**source, "url": url}
    return source


def fetch_url(source: Mapping[str, Any]) -> str:
    """The URL to read a URL source from: the whole URL where the provider has it, else its location."""
    return str(source.get("url") or source.get("location") or "")


def parse_checksum(value: str) -> tuple[str, str]:
    """``(algorithm, lower-case hex)`` of ``md5:...``, ``sha256:...`` or ``sha512:...``."""
    found = CHECKSUM_PATTERN.match(value.strip())
    if not found:
        raise ValueError(value)
    return found.group(1), found.group(2).lower()


def checksum_problem(value: Any) -> str | None:
    """What is wrong with a declared checksum, or ``None``."""
    if not isinstance(value, str):
        return "must be a string like 'sha256:<64 hex digits>'"
    try:
        algorithm, digest = parse_checksum(value)
    except ValueError:
        return "must be 'md5:', 'sha256:' or 'sha512:' followed by the hex digest"
    if len(digest) != CHECKSUM_LENGTH[algorithm]:
        return f"has {len(digest)} hex digits; {algorithm} has {CHECKSUM_LENGTH[algorithm]}"
    return None


class Hashes:
    """Digests of bytes as they pass: MD5 (IMS ``checksum``), SHA-256 (the source's identity) and,
    where the server reports it, SHA-512 (Glance's ``os_hash_value``)."""

    def __init__(self, algorithms: tuple[str, ...] = ("md5", "sha256", "sha512")) -> None:
        self.algorithms = algorithms
        self._digests = {a: hashlib.new(a, usedforsecurity=False) for a in algorithms}
        self.size = 0

    def update(self, chunk: bytes | bytearray) -> None:
        """Add bytes."""
        for digest in self._digests.values():
            digest.update(chunk)
        self.size += len(chunk)

    def hexdigest(self, algorithm: str) -> str:
        """The hex digest of one of ``algorithms``."""
        return self._digests[algorithm].hexdigest()


class Hasher:
    """Feeds :class:`Hashes` on a worker thread while the caller sends the same chunks: hashlib
    releases the GIL for large buffers, so hashing and sending overlap. At most ``ahead`` chunks
    wait for the hasher, so memory stays bounded."""

    def __init__(self, hashes: Hashes, ahead: int = 4) -> None:
        self.hashes = hashes
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ims-hash")
        self._pending: deque[Future[None]] = deque()
        self._ahead = ahead

    def feed(self, chunk: bytes | bytearray) -> Future[None]:
        """Hash ``chunk`` after the ones fed before it (one worker keeps the order); done when it is
        hashed (a caller that reuses the buffer waits for it)."""
        hashed = self._pool.submit(self.hashes.update, chunk)
        self._pending.append(hashed)
        while len(self._pending) > self._ahead:
            self._pending.popleft().result()
        return hashed

    def finish(self) -> Hashes:
        """Wait for every chunk fed; the digests."""
        while self._pending:
            self._pending.popleft().result()
        self._pool.shutdown(wait=True)
        return self.hashes


def verify_declared(source: dict[str, Any], checksum: str) -> str | None:
    """Compare a declared checksum with a file's bytes before anything is sent; a problem or ``None``."""
    algorithm, want = parse_checksum(checksum)
    if algorithm in ("sha256", "md5") and source.get(algorithm):
        have = str(source[algorithm])
    else:
        hashes = Hashes((algorithm,))
        for chunk in read_file(Path(source["location"])):
            hashes.update(chunk)
        have = hashes.hexdigest(algorithm)
    if have != want:
        return (f"the bytes of {source['location']} have {algorithm} {have}, but checksum declares {want}: "
                "fix the file or the checksum; nothing was uploaded")
    return None


def read_file(path: Path) -> Iterator[bytes]:
    """A file's bytes in chunks (constant memory)."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


@dataclass
class Stream:
    """The bytes of a source as chunks, with their size when known."""

    chunks: Iterator[bytes]
    size: int | None
    close: Callable[[], None]


def open_source(source: Mapping[str, Any], *, timeout: float = 60.0) -> Stream:
    """Open a source for streaming: a local file, or an http(s) URL read as it is sent on.

    Its chunks are exactly the announced size (:func:`exactly`): a URL's ``Content-Length``, a
    file's size when opened. A URL is asked for the identity encoding and read raw (never decoded).
    Raises :class:`SourceError` (URL redacted) when the source cannot be read.
    """
    if source.get("kind") == "url":
        return _open_url(fetch_url(source), timeout)
    location = str(source.get("location"))
    try:
        handle = Path(location).open("rb")  # noqa: SIM115 (closed by Stream.close, after the upload)
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise SourceError(f"cannot read the source {location}: {exc.strerror or exc}. Check that the file exists "
                          "and is readable, then run `pulumi up` again") from None
    return Stream(exactly(iter(lambda: handle.read(CHUNK), b""), size, location, "its size when it was opened"),
                  size, handle.close)


def _open_url(url: str, timeout: float) -> Stream:
    shown = redact_url(url)
    try:
        response = requests.get(url, stream=True, timeout=timeout, headers={"Accept-Encoding": "identity"})
    except requests.RequestException as exc:
        raise SourceError(f"cannot read the source {shown}: {_reason(exc, url)}. Check that the URL is right and "
                          "reachable from this machine, then run `pulumi up` again") from None
    if response.status_code != 200:
        response.close()
        expired = " (a presigned URL may have expired: generate a new one)" if response.status_code in (401, 403) \
            else ""
        raise SourceError(f"cannot read the source {shown}: it answers HTTP {response.status_code} "
                          f"{scrub(response.reason or '', url)}{expired}. Fix the URL, then run `pulumi up` again")
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        response.close()
        raise SourceError(f"the source {shown} answers with Content-Encoding {encoding!r} although only the identity "
                          "encoding was accepted: its bytes would not be the file's. Serve the file without "
                          "compression, or download it and declare it as a pulumi.FileAsset")
    length = response.headers.get("Content-Length", "").strip()
    size = int(length) if length.isdigit() else None
    raw = response.raw.stream(CHUNK, decode_content=False)
    return Stream(exactly(raw, size, shown, "its Content-Length", lambda exc: _reason(exc, url)), size,
                  response.close)


def _reason(exc: BaseException, url: str) -> str:
    """Why reading a URL failed, in words, without the URL's secrets."""
    from .transport import _describe  # the transport's words for connection failures

    text = _describe(exc) if isinstance(exc, Exception) else str(exc)
    return scrub(text or type(exc).__name__, url)


def exactly(chunks: Iterator[bytes], size: int | None, shown: str, announced: str = "its size",
            reason: Callable[[BaseException], str] = str) -> Iterator[bytes]:
    """``chunks`` passed on while they total at most ``size`` bytes; a :class:`SourceError` as soon as
    they yield more, or when they end short of it. The chunk that reaches ``size`` is held until
    the source has shown it ends there, so a receiver of a body of ``size`` bytes never gets all of
    them from a source that yields more or fewer: it sees the body break off. ``size`` ``None``
    (a URL without ``Content-Length``): passed on as they come. A failure to read (a connection
    that breaks off) is a :class:`SourceError` as well, described by ``reason``. ``announced`` names
    where ``size`` comes from, for the message."""
    count = 0
    broke: list[str] = []  # why reading stopped early, if it did

    def more() -> bytes:
        try:
            return next(chunks, b"")
        except SourceError:
            raise
        except Exception as exc:  # urllib3's ProtocolError/ReadTimeoutError, a file's OSError
            broke.append(reason(exc))
            return b""

    def wrong(have: str) -> SourceError:
        why = f" (reading broke off: {broke[0]})" if broke else ""
        return SourceError(f"the source {shown} yields {have} bytes than the {size:,} of {announced}{why}: the upload "
                           "was stopped before the server received them all, so the image stays without data. If the "
                           "file changed while it was read, let it settle; if the server sends a wrong Content-Length, "
                           "fix the server; then run `pulumi up` again")

    while chunk := more():
        count += len(chunk)
        if size is not None:
            if count > size:
                raise wrong("more")
            if count == size and more():
                raise wrong("more")
        yield chunk
    if size is not None and count < size:
        raise wrong(f"{size - count:,} fewer")
    if broke:
        raise SourceError(f"reading the source {shown} broke off after {count:,} bytes ({broke[0]}): the upload was "
                          "stopped. Run `pulumi up` again once the source can be read")


class Progress:
    """Progress messages of an upload: bytes, percent and rate.

    The first message goes out with the first bytes (so even a short upload shows one), the next ones
    at most every ``PROGRESS_EVERY`` seconds, and a last one, with the exact byte count and the time
    taken, when all bytes are sent (or at :meth:`finish` when the size is unknown). By default they
    are the resource's status in the ``pulumi up`` display (ephemeral messages through the engine,
    when an adapter set :data:`STATUS_SINK` for the call), else stderr lines.
    """

    def __init__(self, label: str, total: int | None, clock: Callable[[], float] = time.monotonic,
                 out: Callable[[str], None] | None = None) -> None:
        self.label, self.total, self.clock = label, total, clock
        # chosen now, in the thread of the provider call that owns the URN
        self.out = out if out is not None else _progress_out()
        self.started = clock()
        self.last: float | None = None  # when the last message went out (None: none yet)
        self.done = 0
        self.finished = False

    def advance(self, count: int) -> None:
        """Note ``count`` more bytes sent; send a message when it is time."""
        self.done += count
        if self.finished:
            return
        now = self.clock()
        if self.total is not None and self.done >= self.total:
            self.finish(now)
        elif self.last is None or now - self.last >= max(0.0, PROGRESS_EVERY):
            self.out(self.line(now))
            self.last = now

    def finish(self, now: float | None = None) -> None:
        """Send the last message (once): everything sent, how many bytes and how long it took."""
        if not self.finished:
            self.finished = True
            now = self.clock() if now is None else now
            self.out(f"{self.line(now, rate=True)} ({self.done:,} bytes in {now - self.started:.2f} s)")

    def line(self, now: float, *, rate: bool | None = None) -> str:
        """The current progress as one line; the rate is left out of the first (nothing measured yet)."""
        of = f" of {_size(self.total)} ({100 * self.done / self.total:.0f}%)" if self.total else ""
        with_rate = self.last is not None if rate is None else rate
        speed = f" at {_size(self.done / max(now - self.started, 1e-6))}/s" if with_rate else ""
        return f"{self.label}: uploaded {_size(self.done)}{of}{speed}"


#: Where the progress lines of the current provider call go: an adapter's server sets it for the
#: call's duration (the resource's status line); unset, they go to stderr.
STATUS_SINK: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "ims_pulumi_status_sink", default=None)


def _progress_out() -> Callable[[str], None]:
    """The current call's status line (:data:`STATUS_SINK`), else stderr."""
    return STATUS_SINK.get() or _to_stderr


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"
