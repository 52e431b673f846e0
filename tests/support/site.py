"""A loopback HTTP server of files for tests that need a URL source (``pulumi.RemoteAsset``, web-download)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Site:
    """A loopback HTTP server of files in ``root``; ``fetches`` lists (path, status, User-Agent)."""

    root: Path
    host: str = "127.0.0.1"
    fetches: list[tuple[str, int, str]] = field(default_factory=list)
    httpd: http.server.ThreadingHTTPServer | None = None

    def url(self, name: str) -> str:
        assert self.httpd is not None
        return f"http://{self.host}:{self.httpd.server_port}/{name}"

    def put(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return self.url(name)


@contextlib.contextmanager
def serve(site: Site) -> Iterator[Site]:
    """Serve ``site.root`` on an ephemeral port of ``site.host`` until the block ends."""
    site.root.mkdir(parents=True, exist_ok=True)
    fetches = site.fetches

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site.root), **kwargs)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            fetches.append((self.path, int(code), self.headers.get("User-Agent", "")))

        def log_message(self, *args: Any) -> None:
            pass

    site.httpd = http.server.ThreadingHTTPServer((site.host, 0), Handler)
    thread = threading.Thread(target=site.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.httpd.shutdown()
        site.httpd.server_close()
