"""Start a real OpenStack Glance 33.0.0 (no Keystone) for tests.

The Glance venv is installed once into a cache outside the repo by
``scripts/glance/install.sh`` (about 40 s and 260 MB the first time, well under
a second afterwards); each server is started by ``scripts/glance/run_glance.py``
with its config, SQLite database, image store and logs in a state directory of
the caller's choosing, on a free 127.0.0.1 port (about 5 s on a busy 2-core box).

Typical use::

    ok, why = glance_available()
    if not ok:
        pytest.skip(why)
    with GlanceServer.start(tmp_path / "glance") as glance:
        requests.get(glance.url + "/v2/images", headers={"Accept": "application/json"})

Environment variables:

* ``GLANCE_CACHE``: cache dir of the venv (default
  ``${XDG_CACHE_HOME:-~/.cache}/ims-pulumi/glance-33.0.0``).
* ``IMS_SKIP_GLANCE=1``: :func:`glance_available` says no (tests skip).
* ``GLANCE_PYTHON``: interpreter used to build the venv (default ``python3``, >= 3.11).

Image import (``web-download``): every server started here takes ``web-download`` URLs on any
port of ``127.0.0.1``/``localhost`` (see :data:`IMPORT_FILTERING`), so a test can serve an image
from an :mod:`http.server` on an ephemeral loopback port; ``GlanceServer.start(web_download=False)``
starts one that neither offers nor accepts ``web-download``. An import runs as a Glance task, which
needs a project: without identities (``auth="none"``) Glance offers ``web-download`` but answers
the import request 500 ("NOT NULL constraint failed: tasks.owner"); use :class:`GlanceProjects`.

Several projects (``auth="trusted-headers"``): Glance runs as if behind an authenticating
proxy (the paste ``context`` filter, no ``authtoken``, ``policy.yaml`` ``{}``) and takes each
request's identity from ``X-Identity-Status``/``X-Project-Id``/``X-Roles`` headers.
:class:`AuthProxy` is that proxy: it maps an ``X-Auth-Token`` to an :class:`Identity`, strips
any identity header the client sent and forwards the rest. :class:`GlanceProjects` starts
both, with one token per project::

    with GlanceProjects.start(tmp_path / "glance-projects") as gp:
        requests.get(gp.url + "/v2/images", headers={"X-Auth-Token": gp.token("A")})
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts" / "glance"
INSTALL_SH = SCRIPTS / "install.sh"
RUN_GLANCE = SCRIPTS / "run_glance.py"

INSTALL_TIMEOUT = 1800.0
"""Seconds allowed for a first install (pip download + build of ~120 packages)."""
STARTUP_TIMEOUT = 180.0
"""Seconds allowed for db_sync + gunicorn start until ``/v2/images`` answers."""


AUTH_NONE = "none"
"""``GlanceServer.start(auth=...)``: every request is an admin with no project (the default)."""
AUTH_TRUSTED_HEADERS = "trusted-headers"
"""``GlanceServer.start(auth=...)``: identity from trusted headers; put an :class:`AuthProxy` in front."""


IMPORT_CONFIG = "glance-image-import.conf"
"""The optional config file Glance's WSGI app reads (before ``glance-api.conf``) from
``$OS_GLANCE_CONFIG_DIR`` (``glance/common/wsgi_app.py``): the launcher renders the templates into
``STATE/etc`` and leaves this file alone, so the settings below are added without touching them."""

IMPORT_FILTERING = {
    # Glance 33's defaults only allow ports 80 and 443, and drop loopback addresses unless the
    # host is in allowed_hosts (glance/common/utils.py resolve_pinned_address). An empty
    # allowed_ports list means "every port not in disallowed_ports" (also empty).
    "allowed_schemes": "[http, https]",
    "allowed_hosts": "[127.0.0.1, localhost]",
    "allowed_ports": "[]",
    "disallowed_ports": "[]",
}
"""``[import_filtering_opts]`` of the test Glance (``glance/async_/flows/_internal_plugins/__init__.py``):
``web-download`` from an HTTP server on any port of the loopback host, as tests start them."""

ALL_IMPORT_METHODS = "[glance-direct, web-download, copy-image]"
"""Glance 33's default ``enabled_import_methods``."""
WITHOUT_WEB_DOWNLOAD = "[glance-direct, copy-image]"


def write_import_config(etc: Path, *, web_download: bool = True) -> Path:
    """Write ``etc/glance-image-import.conf``: the import filtering of :data:`IMPORT_FILTERING`
    and the enabled import methods (without ``web-download`` when ``web_download`` is false)."""
    etc.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by tests/support/glance.py: web-download from test HTTP servers on loopback ports.",
             "[DEFAULT]",
             f"enabled_import_methods = {ALL_IMPORT_METHODS if web_download else WITHOUT_WEB_DOWNLOAD}",
             "",
             "[import_filtering_opts]",
             *(f"{key} = {value}" for key, value in IMPORT_FILTERING.items()),
             ""]
    path = etc / IMPORT_CONFIG
    path.write_text("\n".join(lines))
    return path


FAULT_FILE = "faults.json"
"""The fault file of a Glance started with ``faults=True`` (in its state dir)."""


class GlanceError(RuntimeError):
    """Glance could not be installed, started or stopped."""


def glance_available() -> tuple[bool, str]:
    """Tell whether a local Glance can be used here, cheaply (nothing is installed).

    Returns ``(True, reason)`` when the scripts exist and a suitable Python
    (>= 3.11 with ``venv``) and ``bash``/``flock`` are present, ``(False, reason)``
    otherwise or when ``IMS_SKIP_GLANCE`` is set. The reason says which, and
    whether the venv is already installed (else the first start installs it).
    """
    if os.environ.get("IMS_SKIP_GLANCE", "").strip() not in ("", "0"):
        return False, "IMS_SKIP_GLANCE is set"
    if os.name != "posix":
        return False, "the local Glance needs a POSIX system"
    for script in (INSTALL_SH, RUN_GLANCE):
        if not script.is_file():
            return False, f"missing {script}"
    for tool in ("bash", "flock", "sha256sum"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` not found"
    venv = cache_dir() / "venv"
    if (venv / "bin" / "gunicorn").exists() and (venv / ".ims-glance-stamp").exists():
        return True, f"Glance venv installed at {venv}"
    python = os.environ.get("GLANCE_PYTHON", "python3")
    if shutil.which(python) is None:
        return False, f"{python} not found (needed to build the Glance venv)"
    probe = subprocess.run(
        [python, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return False, f"{python} is not Python >= 3.11 with venv/ensurepip"
    return True, f"Glance not installed yet; the first start installs it into {venv} (~40 s, needs PyPI)"


def cache_dir() -> Path:
    """The cache dir of the Glance venv (same rule as ``install.sh``)."""
    if os.environ.get("GLANCE_CACHE"):
        return Path(os.environ["GLANCE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ims-pulumi" / "glance-33.0.0"


def install(timeout: float = INSTALL_TIMEOUT) -> Path:
    """Run ``install.sh`` (a no-op when up to date) and return the venv path.

    Raises :class:`GlanceError` with the script's output when it fails.
    """
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL_SH)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise GlanceError(f"install.sh did not finish in {timeout:.0f} s") from err
    if proc.returncode != 0:
        raise GlanceError(f"install.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise GlanceError(f"install.sh printed no venv path:\n{proc.stderr[-4000:]}")
    return Path(lines[-1])


class GlanceServer:
    """A running Glance API; stop it with :meth:`stop` or by leaving a ``with`` block.

    Attributes:
        url: base URL without trailing slash, e.g. ``http://127.0.0.1:40151``
            (the image API is under ``url + "/v2"``).
        state_dir: directory with ``etc/``, ``glance.sqlite``, ``images/`` and ``logs/``.
    """

    def __init__(self, url: str, state_dir: Path, process: subprocess.Popen[str], auth: str = AUTH_NONE) -> None:
        self.url = url
        self.state_dir = state_dir
        #: ``none`` or ``trusted-headers`` (see :data:`AUTH_TRUSTED_HEADERS`).
        self.auth = auth
        self._process = process
        self._stopped = False
        atexit.register(self.stop)

    @property
    def logs_dir(self) -> Path:
        """Where ``glance-api.log``, ``gunicorn.log``, ``access.log`` and ``run_glance.log`` are."""
        return self.state_dir / "logs"

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        port: int = 0,
        workers: int = 2,
        threads: int = 2,
        timeout: float = STARTUP_TIMEOUT,
        auth: str = AUTH_NONE,
        web_download: bool = True,
        faults: bool = False,
    ) -> GlanceServer:
        """Install Glance if needed, then start it with its state in ``state_dir``.

        Args:
            state_dir: created if missing; reusing one keeps its images.
            port: loopback TCP port, 0 for a free one.
            workers: gunicorn worker processes.
            threads: threads per worker.
            timeout: seconds to wait until Glance answers.
            auth: ``none`` (default: no identity, every request an admin) or ``trusted-headers``
                (identity from ``X-Identity-Status``/``X-Project-Id``/``X-Roles``; 401 without).
            web_download: offer the ``web-download`` import method (Glance's default); its URLs
                may name any port of the loopback host either way (:data:`IMPORT_FILTERING`).
            faults: serve Glance through ``scripts/glance/glance_faults.py`` with the fault file
                ``state_dir/faults.json`` (no fault until :meth:`half_commit` writes it).

        Raises:
            GlanceError: install or startup failed (the message has the log tail).
        """
        venv = install()
        state_dir = Path(state_dir).resolve()
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        write_import_config(state_dir / "etc", web_download=web_download)
        launcher_log = state_dir / "logs" / "run_glance.log"
        cmd = [
            sys.executable,
            str(RUN_GLANCE),
            "--venv",
            str(venv),
            "--state-dir",
            str(state_dir),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--startup-timeout",
            str(timeout),
            "--parent-pid",
            str(os.getpid()),
        ]
        if auth != AUTH_NONE:
            cmd += ["--auth", auth]
        if faults:
            (state_dir / FAULT_FILE).unlink(missing_ok=True)
            cmd += ["--fault-file", str(state_dir / FAULT_FILE)]
        with launcher_log.open("a") as err:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,  # a Ctrl-C in the test terminal is not sent to it
            )
        url = _first_line(process, timeout + 60.0)
        if not url.startswith("http://"):
            _terminate(process, 30.0)
            raise GlanceError(f"Glance did not start (launcher exit {process.returncode}):\n" + _tail(launcher_log))
        return cls(url, state_dir, process, auth)

    @contextlib.contextmanager
    def half_commit(self, rate: float) -> Iterator[None]:
        """While inside: a share ``rate`` of ``POST /v2/images`` stores the image without its tags and
        answers 500 (the half-committed create of issue 23). Needs ``start(..., faults=True)``."""
        path = self.state_dir / FAULT_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"half_commit_rate": rate}))
        tmp.replace(path)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def half_commits(self) -> int:
        """How many creates the fault has half-committed so far (``faults.json.fired``: one line each)."""
        fired = self.state_dir / (FAULT_FILE + ".fired")
        return len(fired.read_text().splitlines()) if fired.exists() else 0

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gunicorn and the launcher; idempotent. Kills whatever is left after ``timeout`` s."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _terminate(self._process, timeout)
        if self._process.stdout is not None:
            self._process.stdout.close()
        _kill_leftover_gunicorn(self.state_dir / "gunicorn.pid")

    @property
    def running(self) -> bool:
        """True while the launcher (and so gunicorn) runs."""
        return not self._stopped and self._process.poll() is None

    def __enter__(self) -> GlanceServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"GlanceServer(url={self.url!r}, state_dir={str(self.state_dir)!r}, auth={self.auth!r}, "
                f"running={self.running})")


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """First stdout line of ``process`` ('' on EOF or timeout)."""
    assert process.stdout is not None
    result: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        result.append(process.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""


def _terminate(process: subprocess.Popen[str], timeout: float) -> None:
    """SIGTERM the launcher (it stops gunicorn's group), SIGKILL its group after ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _kill_leftover_gunicorn(pid_file: Path) -> None:
    """Kill gunicorn's process group if its pid file survived (launcher was killed)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"gunicorn" not in cmdline:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


# --- several projects: Glance behind an authenticating proxy ------------------------------------------

IDENTITY_HEADER_PREFIXES = (
    "x-identity-status",
    "x-service-",  # X-Service-Identity-Status, -Catalog, -Token, -Roles, -Project-Id, -User-Id, ...
    "x-project-",
    "x-tenant",  # X-Tenant, X-Tenant-Id, X-Tenant-Name (deprecated names)
    "x-user",  # X-User, X-User-Id, X-User-Name, X-User-Domain-Id, ...
    "x-role",  # X-Role, X-Roles
    "x-domain-",
    "x-is-admin-project",
    "openstack-system-scope",
)
"""Lower-case prefixes of the headers that carry an identity to Glance (what keystonemiddleware's
``auth_token`` sets or removes, plus ``OpenStack-System-Scope``). The proxy drops every client
header that starts with one of them, so a client cannot claim another project, a role or a scope."""

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "expect",
})
"""Headers that belong to one connection and are not forwarded (``Expect`` is answered by the proxy)."""

CHUNK = 64 * 1024


def is_identity_header(name: str) -> bool:
    """Whether ``name`` is an identity header that only the proxy may set."""
    return name.strip().lower().startswith(IDENTITY_HEADER_PREFIXES)


def new_project_id() -> str:
    """A fresh project id as Keystone and IAM make them: 32 lower-case hex characters."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Identity:
    """Who a token stands for: the headers an authenticating proxy gives Glance."""

    project_id: str
    roles: tuple[str, ...] = ("member", "reader")
    user_id: str = ""

    def headers(self) -> dict[str, str]:
        """``X-Identity-Status: Confirmed``, ``X-Project-Id``, ``X-Roles`` (and ``X-User-Id``), as
        keystonemiddleware sets them for a valid project-scoped token of a non-admin project."""
        out = {
            "X-Identity-Status": "Confirmed",
            "X-Project-Id": self.project_id,
            "X-Roles": ",".join(self.roles),
            "X-Is-Admin-Project": "False",
        }
        if self.user_id:
            out["X-User-Id"] = self.user_id
        return out


@dataclass(frozen=True)
class Exchange:
    """One request the proxy handled: ``project`` is ``None`` when the token was refused (401 from the
    proxy), ``status`` is what the client got (502 when Glance did not answer)."""

    method: str
    target: str
    project: str | None
    status: int


class AuthProxy:
    """A tiny authenticating reverse proxy in front of a Glance in ``trusted-headers`` mode.

    Runs a threaded :mod:`http.server` (HTTP/1.1, keep-alive) on a loopback port, in a thread of
    this process. For each request:

    * ``X-Auth-Token`` must be one of ``tokens``; a missing or unknown token gets 401 from the proxy
      itself (a keystonemiddleware-like JSON body, ``WWW-Authenticate``), Glance is not asked.
    * Every identity header the client sent is dropped (:func:`is_identity_header`), then the
      token's :meth:`Identity.headers` are added: ``X-Identity-Status: Confirmed``,
      ``X-Project-Id``, ``X-Roles``, ``X-Is-Admin-Project: False`` (and ``X-User-Id``).
    * Method, path and query (as sent), the other headers (``Host`` included, hop-by-hop ones
      excepted) and the body go to Glance; the body is streamed in 64 KiB pieces, with its
      ``Content-Length``, or re-chunked when the client sent it chunked.
    * Glance's status, reason, headers and body come back streamed the same way (chunked to the
      client when Glance gave no length). One upstream connection per request.

    ``exchanges`` lists what it handled, in order. Use as a context manager or call :meth:`stop`.
    """

    def __init__(self, upstream: str, tokens: Mapping[str, Identity] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, timeout: float = 300.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._upstream_addr = (parts.hostname, parts.port or 80)
        self.timeout = timeout
        self._tokens: dict[str, Identity] = dict(tokens or {})
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self._server = _ProxyServer((host, port), _ProxyHandler, self)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"auth-proxy-{self._server.server_address[1]}", daemon=True)
        self._stopped = False

    @classmethod
    def start(cls, upstream: str, tokens: Mapping[str, Identity] | None = None, *, host: str = "127.0.0.1",
              port: int = 0, timeout: float = 300.0) -> AuthProxy:
        """Listen and serve in a background thread; ``url`` is where to send requests."""
        proxy = cls(upstream, tokens, host=host, port=port, timeout=timeout)
        proxy._thread.start()
        atexit.register(proxy.stop)
        return proxy

    def add_token(self, token: str, identity: Identity) -> None:
        """Accept ``token`` from now on, for ``identity``."""
        with self._lock:
            self._tokens[token] = identity

    def identity_for(self, token: str | None) -> Identity | None:
        """The identity of ``token``, or ``None`` (refused)."""
        with self._lock:
            return self._tokens.get(token or "")

    def record(self, exchange: Exchange) -> None:
        """Note one handled request (thread-safe)."""
        with self._lock:
            self.exchanges.append(exchange)

    def upstream_connection(self) -> http.client.HTTPConnection:
        """A new connection to Glance."""
        return http.client.HTTPConnection(*self._upstream_addr, timeout=self.timeout)

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(10)
        self._server.server_close()

    def __enter__(self) -> AuthProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"AuthProxy(url={self.url!r}, upstream={self.upstream!r}, tokens={len(self._tokens)})"


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: AuthProxy) -> None:
        self.proxy = proxy
        super().__init__(address, handler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's session reuses its connections
    server: _ProxyServer
    server_version = "ims-test-auth-proxy"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: ``AuthProxy.exchanges`` records what happened."""

    def _handle(self) -> None:
        proxy = self.server.proxy
        identity = proxy.identity_for(self.headers.get("X-Auth-Token"))
        if identity is None:
            for _ in self._request_body():  # read it, so that the connection stays usable
                pass
            # recorded before answering: a client that has its answer finds the exchange recorded
            proxy.record(Exchange(self.command, self.path, None, 401))
            self._refuse()
            return
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and not is_identity_header(k)]
        headers += identity.headers().items()
        chunked = self._client_sent_chunked()
        conn = proxy.upstream_connection()
        try:
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for piece in self._request_body():
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                if chunked:
                    conn.send(b"0\r\n\r\n")
                upstream = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self.close_connection = True
                proxy.record(Exchange(self.command, self.path, identity.project_id, 502))
                self._json_error(502, "Bad Gateway", f"Glance did not answer: {exc}")
                return
            proxy.record(Exchange(self.command, self.path, identity.project_id, upstream.status))
            self._relay(upstream)
        finally:
            conn.close()

    def _relay(self, upstream: http.client.HTTPResponse) -> None:
        """Glance's answer to the client: status, end-to-end headers, body streamed."""
        self.send_response_only(upstream.status, upstream.reason)
        for name, value in upstream.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        has_body = self.command != "HEAD" and upstream.status not in (204, 304) and upstream.status >= 200
        rechunk = has_body and upstream.getheader("Content-Length") is None
        if rechunk:
            if self.request_version == "HTTP/1.1":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                rechunk, self.close_connection = False, True  # HTTP/1.0: the end of the body is the close
        self.end_headers()
        if not has_body:
            return
        while piece := upstream.read1(CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if rechunk else piece)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _client_sent_chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _request_body(self) -> Iterator[bytes]:
        """The client's body, piece by piece, as it arrives (chunked framing removed)."""
        if self._client_sent_chunked():
            yield from dechunk(self.rfile)
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            piece = self.rfile.read(min(CHUNK, remaining))
            if not piece:
                raise ConnectionError("the client closed the connection in the middle of the body")
            remaining -= len(piece)
            yield piece

    def _refuse(self) -> None:
        """401 as keystonemiddleware's auth_token answers a missing or invalid token."""
        body = json.dumps({"error": {"code": 401, "title": "Unauthorized",
                                     "message": "The request you have made requires authentication."}}).encode()
        self.send_response_only(401, "Unauthorized")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("WWW-Authenticate", f'Keystone uri="{self.server.proxy.url}"')
        self.end_headers()
        self.wfile.write(body)

    def _json_error(self, status: int, title: str, message: str) -> None:
        body = json.dumps({"message": message, "code": f"{status} {title}", "title": title}).encode()
        self.send_response_only(status, title)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle


def dechunk(stream: io.BufferedIOBase) -> Iterator[bytes]:
    """The data of an HTTP/1.1 chunked body read from ``stream`` (trailers are read and dropped)."""
    read_line, read = stream.readline, stream.read
    while True:
        size_line = read_line(65537)
        if not size_line:
            raise ConnectionError("the client closed the connection in the middle of a chunked body")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while read_line(65537) not in (b"\r\n", b"\n", b""):
                pass
            return
        remaining = size
        while remaining > 0:
            piece = read(min(CHUNK, remaining))
            if not piece:
                raise ConnectionError("the client closed the connection in the middle of a chunk")
            remaining -= len(piece)
            yield piece
        read_line(3)  # the CRLF after the chunk


@dataclass
class GlanceProjects:
    """A Glance in ``trusted-headers`` mode behind an :class:`AuthProxy`, with one token per project.

    Attributes:
        glance: the Glance server (its ``url`` answers 401 to requests without identity headers).
        proxy: the authenticating proxy; ``url`` is where clients go, with ``X-Auth-Token``.
        identities: project name ("A", "B", ...) -> :class:`Identity` (32-hex project ids).
        tokens: project name -> its token.
    """

    glance: GlanceServer
    proxy: AuthProxy
    identities: dict[str, Identity] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, state_dir: Path, names: Iterable[str] = ("A", "B", "C"), *, workers: int = 1,
              threads: int = 4, timeout: float = STARTUP_TIMEOUT) -> GlanceProjects:
        """Start Glance (``auth="trusted-headers"``) and the proxy; one fresh project and token per name."""
        glance = GlanceServer.start(state_dir, workers=workers, threads=threads, timeout=timeout,
                                    auth=AUTH_TRUSTED_HEADERS)
        try:
            proxy = AuthProxy.start(glance.url)
        except OSError:
            glance.stop()
            raise
        projects = cls(glance, proxy)
        for name in names:
            projects.add_project(name)
        return projects

    def add_project(self, name: str, roles: tuple[str, ...] = ("member", "reader")) -> str:
        """A new project ``name`` with a fresh id and token; returns the token."""
        identity = Identity(new_project_id(), roles, user_id=f"user-{name.lower()}")
        token = f"tok-{name.lower()}-{secrets.token_hex(16)}"
        self.proxy.add_token(token, identity)
        self.identities[name] = identity
        self.tokens[name] = token
        return token

    @property
    def url(self) -> str:
        """The proxy's base URL: the endpoint clients use."""
        return self.proxy.url

    def token(self, name: str) -> str:
        """The token of project ``name``."""
        return self.tokens[name]

    def project_id(self, name: str) -> str:
        """The project id of ``name``."""
        return self.identities[name].project_id

    def stop(self) -> None:
        """Stop the proxy, then Glance; idempotent."""
        self.proxy.stop()
        self.glance.stop()

    def __enter__(self) -> GlanceProjects:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for tests that need a closed one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
