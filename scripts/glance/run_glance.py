#!/usr/bin/env python3
"""Run a real OpenStack Glance 33.0.0 API on a loopback port, without Keystone.

Usage::

    python3 scripts/glance/run_glance.py --state-dir DIR [--port 0] [--install] [--auth none|trusted-headers]

Steps: render the config templates of ``scripts/glance/templates`` into
``DIR/etc``, run ``glance-manage db_sync`` (SQLite ``DIR/glance.sqlite``), start
gunicorn serving ``glance.wsgi.api:application`` on ``127.0.0.1:PORT`` (port 0 =
a free port, bound here and handed to gunicorn as ``fd://N`` so there is no
race), wait until ``GET /versions`` and ``GET /v2/images`` answer 200, then print
the base URL (``http://127.0.0.1:PORT``) as the FIRST stdout line. Everything
else goes to stderr or to ``DIR/logs``. Runs in the foreground until SIGTERM,
SIGINT or SIGHUP (or until ``--parent-pid`` dies, or gunicorn exits), then stops
gunicorn's whole process group and exits 0.

Two modes (``--auth``):

* ``none`` (default): the ``unauthenticated-context`` pipeline; every request is an admin
  context with no user and no project (``templates/``).
* ``trusted-headers``: as if behind an authenticating proxy. The pipeline has the
  ``context`` filter instead (no ``authtoken``) and ``policy.yaml`` is ``{}`` (upstream
  defaults): each request's identity comes from ``X-Identity-Status: Confirmed``,
  ``X-Project-Id``, ``X-Roles`` (and ``X-User-Id``) headers, and a request without them gets
  401 (``templates/trusted-headers/`` overrides those two files). Readiness is then checked
  with a probe identity, and a request without identity must get 401.

``--fault-file PATH`` serves Glance through ``glance_faults.py`` (test faults, read from the JSON
file ``PATH`` at every create; none while the file is missing): see that file.

Only the standard library is used, so any Python 3.10+ can run this file; the
Glance venv (``install.sh``) provides ``glance-manage`` and ``gunicorn``.
Exit codes: 0 clean stop, 2 bad usage / venv missing, 3 db_sync failed,
4 Glance did not start, 5 gunicorn died after start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
TEMPLATE_FILES = ("glance-api.conf", "glance-api-paste.ini", "policy.yaml")
AUTH_NONE = "none"
AUTH_TRUSTED_HEADERS = "trusted-headers"
AUTH_MODES = (AUTH_NONE, AUTH_TRUSTED_HEADERS)
"""``--auth`` values; a mode other than ``none`` may override templates in ``templates/<mode>/``."""
PROBE_IDENTITY = {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": "00000000000000000000000000000000",
    "X-User-Id": "run-glance-readiness-probe",
    "X-Roles": "reader",
}
"""Identity headers of the readiness probe in ``trusted-headers`` mode (reads only; no image has this owner)."""
GLANCE_VERSION = "33.0.0"
FAULT_FILE_ENV = "IMS_GLANCE_FAULT_FILE"
"""How ``--fault-file`` reaches ``glance_faults.py`` in the gunicorn workers."""


def default_cache_dir() -> Path:
    """The cache dir used by install.sh when none is given."""
    if os.environ.get("GLANCE_CACHE"):
        return Path(os.environ["GLANCE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ims-pulumi" / f"glance-{GLANCE_VERSION}"


def log(msg: str) -> None:
    print(f"[run_glance] {msg}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def template(name: str, auth: str = AUTH_NONE) -> Path:
    """The template file ``name`` of mode ``auth``: ``templates/<auth>/name`` if it exists, else ``templates/name``."""
    override = TEMPLATES / auth / name
    return override if auth != AUTH_NONE and override.is_file() else TEMPLATES / name


def render_config(state_dir: Path, auth: str = AUTH_NONE) -> Path:
    """Write glance-api.conf, glance-api-paste.ini and policy.yaml (of mode ``auth``) into STATE/etc."""
    if auth not in AUTH_MODES:
        raise ValueError(f"unknown auth mode {auth!r}: use one of {', '.join(AUTH_MODES)}")
    etc = state_dir / "etc"
    for sub in ("etc", "logs", "images", "staging", "tasks", "lock"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE_FILES:
        text = template(name, auth).read_text()
        text = text.replace("@STATE_DIR@", str(state_dir)).replace("@ETC_DIR@", str(etc))
        (etc / name).write_text(text)
    return etc


def clean_env(etc: Path) -> dict[str, str]:
    """Environment for Glance processes: config dir set, no foreign venv leaking in."""
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(var, None)
    env["OS_GLANCE_CONFIG_DIR"] = str(etc)
    return env


def db_sync(venv: Path, etc: Path, state_dir: Path, env: dict[str, str]) -> None:
    """Create or upgrade the SQLite schema (idempotent, about 2 s)."""
    logfile = state_dir / "logs" / "db_sync.log"
    started = time.monotonic()
    with logfile.open("wb") as out:
        rc = subprocess.call(
            [str(venv / "bin" / "glance-manage"), "--config-file", str(etc / "glance-api.conf"), "db_sync"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=600,
        )
    if rc != 0:
        log(f"glance-manage db_sync failed ({rc}):\n{tail(logfile)}")
        raise SystemExit(3)
    log(f"db_sync done in {time.monotonic() - started:.1f} s")


def http_status(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> int | None:
    """Status code of GET url (with extra ``headers``), or None when nothing answers."""
    req = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return None


def stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM gunicorn's process group (master + workers), SIGKILL after `grace` s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log("gunicorn did not stop in time; SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # Workers left behind by a crashed master are in the same group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--state-dir", required=True, type=Path, help="config, sqlite db, image store and logs go here")
    p.add_argument("--port", type=int, default=0, help="TCP port on --host; 0 = pick a free one (default)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--venv", type=Path, default=None, help="Glance venv (default: CACHE/venv of install.sh)")
    p.add_argument("--install", action="store_true", help="run install.sh first (no-op when already installed)")
    p.add_argument("--auth", choices=AUTH_MODES, default=AUTH_NONE,
                   help="none (default): every request is an unauthenticated admin; trusted-headers: identity "
                        "from X-Identity-Status/X-Project-Id/X-Roles headers set by an authenticating proxy")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p.add_argument("--threads", type=int, default=2, help="threads per worker (default 2)")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for readiness")
    p.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    p.add_argument("--url-file", type=Path, default=None, help="also write the base URL here when ready")
    p.add_argument("--pid-file", type=Path, default=None, help="write this launcher's pid here")
    p.add_argument("--fault-file", type=Path, default=None,
                   help="serve Glance through glance_faults.py, which reads this JSON file at every create: "
                        '{"half_commit_rate": R} stores that share of new images without their tags and answers '
                        "500 (no file or rate 0: no fault). Off unless given")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)

    if args.install:
        installed = subprocess.run(["bash", str(HERE / "install.sh")], stdout=subprocess.PIPE, text=True, check=False)
        if installed.returncode != 0:
            log("install.sh failed")
            return 2
        venv = Path(installed.stdout.strip().splitlines()[-1])
    else:
        venv = args.venv or Path(os.environ.get("GLANCE_VENV") or default_cache_dir() / "venv")
    venv = venv.resolve()
    gunicorn = venv / "bin" / "gunicorn"
    if not gunicorn.exists():
        log(f"{gunicorn} not found: run scripts/glance/install.sh first (or pass --install)")
        return 2

    stop_requested: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_requested.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    for stale in (args.url_file, state_dir / "gunicorn.pid"):
        if stale is not None:
            stale.unlink(missing_ok=True)

    original_ppid = os.getppid()
    started = time.monotonic()
    etc = render_config(state_dir, args.auth)
    env = clean_env(etc)
    app = "glance.wsgi.api:application"
    if args.fault_file is not None:
        env[FAULT_FILE_ENV] = str(args.fault_file.resolve())
        app = "glance_faults:application"  # Glance's application with the test faults of glance_faults.py
    db_sync(venv, etc, state_dir, env)

    # Bind here and pass the listening fd: port 0 has no pick-then-bind race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as err:
        log(f"cannot bind {args.host}:{args.port}: {err}")
        return 4
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    url = f"http://{args.host}:{port}"

    logs = state_dir / "logs"
    cmd = [
        str(gunicorn),
        "--bind",
        f"fd://{sock.fileno()}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--timeout",
        "300",  # app import takes several seconds on a busy 2-core box
        "--graceful-timeout",
        "5",
        "--no-control-socket",  # else every gunicorn shares $HOME/.gunicorn/gunicorn.ctl
        "--pid",
        str(state_dir / "gunicorn.pid"),
        "--error-logfile",
        str(logs / "gunicorn.log"),
        "--access-logfile",
        str(logs / "access.log"),
        "--capture-output",
        *(["--pythonpath", str(HERE)] if args.fault_file is not None else []),
        app,
    ]
    with (logs / "gunicorn.out").open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            pass_fds=(sock.fileno(),),
            start_new_session=True,  # own process group: killpg stops master + workers
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(state_dir),
        )
    sock.close()
    log(f"gunicorn pid {proc.pid} on {url}; waiting for Glance ...")

    rc = 0
    try:
        deadline = time.monotonic() + args.startup_timeout
        while True:
            if stop_requested:
                log("stop requested during startup")
                return 0
            if proc.poll() is not None:
                log(
                    f"gunicorn exited with {proc.returncode} during startup:\n"
                    f"{tail(logs / 'gunicorn.log')}\n{tail(logs / 'glance-api.log', 20)}"
                )
                rc = 4
                return rc
            if ready(url, args.auth):
                break
            if time.monotonic() > deadline:
                log(f"Glance not ready after {args.startup_timeout:.0f} s:\n{tail(logs / 'gunicorn.log')}")
                rc = 4
                return rc
            time.sleep(0.25)

        if args.auth == AUTH_TRUSTED_HEADERS:
            anonymous = http_status(url + "/v2/images")
            if anonymous != 401:  # the mode must really be in effect: no identity, no access
                log(f"--auth {args.auth}: GET /v2/images without identity headers answered {anonymous}, not 401; "
                    f"check {etc / 'glance-api-paste.ini'}")
                rc = 4
                return rc
        log(f"Glance ready at {url} (auth {args.auth}) after {time.monotonic() - started:.1f} s (logs: {logs})")
        print(url, flush=True)
        if args.url_file:
            tmp = args.url_file.with_name(args.url_file.name + ".tmp")
            tmp.write_text(url + "\n")
            tmp.replace(args.url_file)

        while not stop_requested:
            if proc.poll() is not None:
                log(f"gunicorn exited with {proc.returncode}:\n{tail(logs / 'gunicorn.log')}")
                rc = 5
                break
            if args.parent_pid is not None and _parent_gone(args.parent_pid, original_ppid):
                log(f"parent {args.parent_pid} is gone; stopping")
                break
            time.sleep(0.5)
        return rc
    finally:
        stop_group(proc)
        if args.url_file:
            args.url_file.unlink(missing_ok=True)
        if args.pid_file:
            args.pid_file.unlink(missing_ok=True)
        log("stopped")


def ready(url: str, auth: str) -> bool:
    """Glance answers: ``/versions`` and ``/v2/images`` give 200 (in ``trusted-headers`` mode the
    list is asked with the probe identity)."""
    if http_status(url + "/versions") != 200:
        return False
    return http_status(url + "/v2/images", headers=PROBE_IDENTITY if auth == AUTH_TRUSTED_HEADERS else None) == 200


def _parent_gone(pid: int, original_ppid: int) -> bool:
    """True when `pid` no longer runs (or, being our parent, we were re-parented)."""
    if pid == original_ppid and os.getppid() != pid:
        return True
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
