"""Start a real S3-compatible object server (versitygw, POSIX backend) that plays Huawei OBS in tests.

The server is the project's own: ``scripts/s3/install-versitygw.sh`` builds versitygw once into
a cache outside the repo (about 2-5 minutes the first time, from the Go module proxy; nothing
afterwards), and ``scripts/s3/serve.sh run`` serves a state directory of the caller's choosing
on a free 127.0.0.1 port (about 0.3 s). The process is tied to the test process (it gets
SIGTERM when the test process dies, even by SIGKILL), so no run leaks a server.

Typical use::

    ok, why = s3_available()
    if not ok:
        pytest.fail(why)
    with S3Server.start(tmp_path / "s3") as s3:
        client = s3.client()
        s3.make_bucket("ims-staging")
        client.put_object(Bucket="ims-staging", Key="disk.qcow2", Body=data)

Credentials: the emulator's public demo AK/SK (``ims_emulator.DEMO_AK``/``DEMO_SK``), the
default of ``scripts/s3/serve.sh``: OBS takes the account's AK/SK, so the demo stack signs IMS
and OBS requests with one pair. Region ``us-east-1`` (SigV4 requests must be signed for it).

Environment variables:

* ``VERSITYGW_CACHE``, ``VERSITYGW_VERSION``, ``VERSITYGW_BIN``: see ``scripts/s3/install-versitygw.sh``.
* ``IMS_SKIP_S3=1``: :func:`s3_available` says no (fixtures skip instead of failing).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ims_emulator import DEMO_AK, DEMO_SK

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts" / "s3"
INSTALL_SH = SCRIPTS / "install-versitygw.sh"
SERVE_SH = SCRIPTS / "serve.sh"

ACCESS_KEY = DEMO_AK
SECRET_KEY = DEMO_SK
REGION = "us-east-1"
VERSION = os.environ.get("VERSITYGW_VERSION", "v1.8.0")

INSTALL_TIMEOUT = 1800.0
"""Seconds allowed for a first build (``go install`` of versitygw, ~2-5 min on 2 busy cores)."""
STARTUP_TIMEOUT = 30.0
"""Seconds allowed until the server answers HTTP."""
STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1


class S3Error(RuntimeError):
    """The object server could not be installed, started or stopped."""


def cache_dir() -> Path:
    """Where ``install-versitygw.sh`` keeps its builds."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ims-pulumi"
    return Path(os.environ.get("VERSITYGW_CACHE") or default)


def cached_binary() -> Path:
    """The cached build of :data:`VERSION` (it may not exist yet)."""
    return cache_dir() / f"versitygw-{VERSION}" / "bin" / "versitygw"


def s3_available() -> tuple[bool, str]:
    """Whether a local object server can be used here, cheaply (nothing is built).

    ``(True, reason)`` when the scripts exist and a versitygw is built (or ``VERSITYGW_BIN``
    names one), or Go is there to build it; ``(False, reason)`` otherwise or when ``IMS_SKIP_S3``
    is set. The reason says which.
    """
    if os.environ.get("IMS_SKIP_S3", "").strip() not in ("", "0"):
        return False, "IMS_SKIP_S3 is set"
    if not os.path.exists("/proc/self"):
        return False, "the local object server needs Linux"
    for script in (INSTALL_SH, SERVE_SH):
        if not script.is_file():
            return False, f"missing {script}"
    for tool in ("bash", "flock", "python3"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` not found"
    given = os.environ.get("VERSITYGW_BIN")
    if given:
        return (True, f"VERSITYGW_BIN={given}") if os.access(given, os.X_OK) else (False, f"VERSITYGW_BIN={given} "
                                                                                     "is not executable")
    if os.access(cached_binary(), os.X_OK):
        return True, f"versitygw {VERSION} built at {cached_binary()}"
    if shutil.which("go") is None:
        return False, f"versitygw {VERSION} is not built ({cached_binary()}) and there is no Go toolchain to build it"
    return True, f"versitygw {VERSION} not built yet: the first start builds it with Go (~2-5 min)"


def install() -> Path:
    """Build versitygw if needed (``scripts/s3/install-versitygw.sh``); its path."""
    try:
        done = subprocess.run(["bash", str(INSTALL_SH)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise S3Error(f"install-versitygw.sh did not finish within {INSTALL_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        raise S3Error(f"install-versitygw.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The child gets SIGTERM when the process that started it dies (Linux ``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class S3Server:
    """A running versitygw (``scripts/s3/serve.sh run STATE_DIR``) and a boto3 client for it."""

    def __init__(self, state_dir: Path, process: subprocess.Popen[bytes], url: str) -> None:
        self.state_dir = state_dir
        self.process: subprocess.Popen[bytes] | None = process
        self.url = url
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self._client: S3Client | None = None

    @property
    def data_dir(self) -> Path:
        """The folder whose sub-folders are the buckets."""
        return self.state_dir / "data"

    @property
    def credentials(self) -> str:
        """``AK:SK``, as ``--obs-credentials`` of the emulator takes them."""
        return f"{self.access_key}:{self.secret_key}"

    @classmethod
    def start(cls, state_dir: Path, port: int = 0) -> S3Server:
        """Build versitygw if needed, serve ``state_dir`` on ``port`` (0: a free one), wait until it answers."""
        install()
        state_dir.mkdir(parents=True, exist_ok=True)
        log = (state_dir / "versitygw.log").open("ab")
        try:
            process = subprocess.Popen(
                ["bash", str(SERVE_SH), "run", str(state_dir), str(port)],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        try:
            url = cls._read_url(process)
            server = cls(state_dir, process, url)
            server._wait_ready()
        except BaseException:
            process.kill()
            process.wait()
            raise
        return server

    @staticmethod
    def _read_url(process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        line = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise S3Error(f"serve.sh printed no URL within {STARTUP_TIMEOUT:.0f} s")
                if selector.select(remaining):
                    chunk = os.read(process.stdout.fileno(), 4096)
                    if not chunk:
                        raise S3Error(f"serve.sh exited with {process.wait()} before printing its URL")
                    line += chunk
        return line.decode().strip()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise S3Error(f"versitygw exited with {self.process.returncode}; see {self.state_dir / 'versitygw.log'}")
            try:
                urllib.request.urlopen(self.url, timeout=1)  # our own loopback server
                return
            except urllib.error.HTTPError:
                return  # 403 for an anonymous request: it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise S3Error(f"versitygw did not answer on {self.url} within {STARTUP_TIMEOUT:.0f} s") from None
                time.sleep(0.1)

    def client(self) -> S3Client:
        """A boto3 S3 client with the server's credentials (path-style, SigV4), made once."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key, region_name=self.region,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                              retries={"mode": "standard", "max_attempts": 3}),
            )
        return self._client

    def make_bucket(self, name: str) -> str:
        """Create bucket ``name`` unless it exists; returns the name."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", []) if "Name" in b}
        if name not in existing:
            client.create_bucket(Bucket=name)
        return name

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL as a fallback; the exit code (``None`` if it was not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if self._client is not None:
            self._client.close()
            self._client = None
        return process.returncode

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
