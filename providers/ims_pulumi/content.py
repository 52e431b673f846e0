"""Image content: describing a source (file or URL), hashing it, streaming it to the server.

A ``pulumi.FileAsset`` cannot be an input of a Python dynamic resource (pulumi/pulumi#6802: every
run after the first fails in ``diff``), so the resource class turns ``source`` into a plain map
before it registers: where the bytes are, how many there are and their SHA-256 and MD5. The
digests identify the content: moving or touching a file with the same bytes changes nothing,
different bytes do. Hashing a large file on every preview would be slow, so a file's digests are
cached on disk by (device, inode, size, modification time): an unchanged file is hashed once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

CHUNK = 1024 * 1024
#: AK/SK-signed requests to IMS carry at most 12 MB ("Uploading an Image"); the stricter
#: reading (10^6 bytes per MB) is used, so a file that passes here passes on IMS.
AKSK_BODY_LIMIT = 12 * 1000 * 1000
CHECKSUM_PATTERN = re.compile(r"^(md5|sha256|sha512):([0-9a-fA-F]+)$")
CHECKSUM_LENGTH = {"md5": 32, "sha256": 64, "sha512": 128}
PROGRESS_EVERY = float(os.environ.get("IMS_PULUMI_PROGRESS_EVERY") or 5.0)  # seconds between progress lines


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
    hashes = Hashes(("md5", "sha256"))
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hashes.update(chunk)
    found = {"size": hashes.size, "sha256": hashes.hexdigest("sha256"), "md5": hashes.hexdigest("md5")}
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = where.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found))
        tmp.replace(where)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return found


def describe(source: Any) -> dict[str, Any]:
    """The plain map a ``source`` argument becomes: ``location``, ``kind`` and, for files, digests.

    Accepts ``pulumi.FileAsset``, ``pulumi.RemoteAsset`` (http/https), a path or a URL string.
    """
    location = getattr(source, "path", None) or getattr(source, "uri", None) or source
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"source must be a pulumi.FileAsset, a pulumi.RemoteAsset or a path, not {source!r}")
    text = os.fspath(location)
    scheme = urlsplit(text).scheme
    if scheme in ("http", "https"):
        return {"kind": "url", "location": text}
    if scheme == "file":
        text = urlsplit(text).path
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        return {"kind": "file", "location": str(path), "missing": True}
    return {"kind": "file", "location": str(path), **file_digests(path)}


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

    def update(self, chunk: bytes) -> None:
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

    def feed(self, chunk: bytes) -> None:
        """Hash ``chunk`` after the ones fed before it (one worker keeps the order)."""
        self._pending.append(self._pool.submit(self.hashes.update, chunk))
        while len(self._pending) > self._ahead:
            self._pending.popleft().result()

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


def open_source(source: dict[str, Any], *, timeout: float = 60.0) -> Stream:
    """Open a source for streaming: a local file, or an http(s) URL read as it is sent on."""
    if source.get("kind") == "url":
        response = requests.get(source["location"], stream=True, timeout=timeout)
        response.raise_for_status()
        length = response.headers.get("Content-Length")
        return Stream(response.iter_content(CHUNK), int(length) if length and length.isdigit() else None,
                      response.close)
    path = Path(source["location"])
    return Stream(read_file(path), path.stat().st_size, lambda: None)


class Progress:
    """Progress messages of an upload: bytes, percent and rate.

    The first message goes out with the first bytes (so even a short upload shows one), the next ones
    at most every ``PROGRESS_EVERY`` seconds, and a last one, with the exact byte count and the time
    taken, when all bytes are sent (or at :meth:`finish` when the size is unknown). By default they
    are the resource's status in the ``pulumi up`` display (ephemeral messages through the engine,
    when this runs in a Create/Update call of :mod:`ims_pulumi.dynamic_server`), else stderr lines.
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


def _progress_out() -> Callable[[str], None]:
    """The resource's status line when a Create/Update call of the provider server is current, else stderr."""
    from .dynamic_server import status_sink  # the process's server wrapper knows the call's URN

    return status_sink() or _to_stderr


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"
