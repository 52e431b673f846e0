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
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts" / "glance"
INSTALL_SH = SCRIPTS / "install.sh"
RUN_GLANCE = SCRIPTS / "run_glance.py"

INSTALL_TIMEOUT = 1800.0
"""Seconds allowed for a first install (pip download + build of ~120 packages)."""
STARTUP_TIMEOUT = 180.0
"""Seconds allowed for db_sync + gunicorn start until ``/v2/images`` answers."""


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

    def __init__(self, url: str, state_dir: Path, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.state_dir = state_dir
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
    ) -> GlanceServer:
        """Install Glance if needed, then start it with its state in ``state_dir``.

        Args:
            state_dir: created if missing; reusing one keeps its images.
            port: loopback TCP port, 0 for a free one.
            workers: gunicorn worker processes.
            threads: threads per worker.
            timeout: seconds to wait until Glance answers.

        Raises:
            GlanceError: install or startup failed (the message has the log tail).
        """
        venv = install()
        state_dir = Path(state_dir).resolve()
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
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
        return cls(url, state_dir, process)

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
        return f"GlanceServer(url={self.url!r}, state_dir={str(self.state_dir)!r}, running={self.running})"


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
