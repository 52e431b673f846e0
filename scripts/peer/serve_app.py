"""Serve one WSGI application with gunicorn on 127.0.0.1 until told to stop (the peer benchmark's servers).

    python scripts/peer/serve_app.py --venv VENV --app MODULE:NAME --logs DIR [--port 0] [--pythonpath P ...]
        [--env KEY=VALUE ...] [--workers 2] [--threads 4] [--ready PATH] [--parent-pid PID] [--url-file F]

Binds the port itself and hands the socket to gunicorn as ``fd://N`` (port 0: no pick-then-bind race),
starts gunicorn in its own process group, waits until ``GET URL+PATH`` (``--ready``, default ``/``) answers
anything below 500, then prints the base URL as the FIRST stdout line (and writes ``--url-file``). Runs
until SIGTERM/SIGINT/SIGHUP, until ``--parent-pid`` is gone or gunicorn exits; then stops gunicorn's
whole group. The same arrangement as ``scripts/glance/run_glance.py`` (which renders the test Glance's
own configuration and cannot take another): see its docstring for why each choice.

Only the standard library: any Python >= 3.10 runs this file. Exit codes: 0 clean stop, 2 bad usage,
4 not ready in time, 5 gunicorn died after start.
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


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the URL)."""
    print(f"[serve_app] {message}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of ``path`` (for error messages)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def status_of(url: str, timeout: float = 5.0) -> int | None:
    """HTTP status of ``GET url``, or None when nothing answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return None


def stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM gunicorn's process group (master and workers), SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log("gunicorn did not stop in time; SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # workers of a crashed master
        os.killpg(proc.pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, required=True, help="virtual environment with gunicorn and the app")
    parser.add_argument("--app", required=True, help="WSGI application, MODULE:NAME")
    parser.add_argument("--logs", type=Path, required=True, help="gunicorn.log and access.log go here")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 = a free one (default)")
    parser.add_argument("--pythonpath", action="append", default=[], help="directory added to the app's path")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the app's environment")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--ready", default="/", help="path whose GET must answer below 500 (default /)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    parser.add_argument("--url-file", type=Path, default=None, help="also write the base URL here when ready")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until stopped; the exit code of the module docstring."""
    args = parse_args(argv)
    gunicorn = args.venv / "bin" / "gunicorn"
    if not gunicorn.exists():
        log(f"{gunicorn} not found")
        return 2
    stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stop.append(signum))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    args.logs.mkdir(parents=True, exist_ok=True)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", args.port))
    except OSError as err:
        log(f"cannot bind 127.0.0.1:{args.port}: {err}")
        return 4
    sock.listen(256)
    sock.set_inheritable(True)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cmd = [str(gunicorn), "--bind", f"fd://{sock.fileno()}", "--workers", str(args.workers),
           "--threads", str(args.threads), "--timeout", "300", "--graceful-timeout", "5",
           "--no-control-socket",  # else every gunicorn shares $HOME/.gunicorn/gunicorn.ctl
           "--error-logfile", str(args.logs / "gunicorn.log"), "--access-logfile", str(args.logs / "access.log"),
           "--capture-output", *(f"--pythonpath={p}" for p in args.pythonpath), args.app]
    with (args.logs / "gunicorn.out").open("ab") as out:
        proc = subprocess.Popen(cmd, pass_fds=(sock.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(args.logs))
    sock.close()
    started = time.monotonic()
    original_ppid = os.getppid()
    try:
        while status_of(url + args.ready) not in range(100, 500):
            if stop:
                return 0
            if proc.poll() is not None:
                log(f"gunicorn exited with {proc.returncode} during startup:\n{tail(args.logs / 'gunicorn.log')}")
                return 4
            if time.monotonic() - started > args.startup_timeout:
                log(f"{args.app} not ready after {args.startup_timeout:.0f} s:\n{tail(args.logs / 'gunicorn.log')}")
                return 4
            time.sleep(0.25)
        log(f"{args.app} ready at {url} after {time.monotonic() - started:.1f} s (logs: {args.logs})")
        print(url, flush=True)
        if args.url_file is not None:
            args.url_file.write_text(url + "\n")
        while not stop:
            if proc.poll() is not None:
                log(f"gunicorn exited with {proc.returncode}:\n{tail(args.logs / 'gunicorn.log')}")
                return 5
            parent_gone = args.parent_pid is not None and (
                not alive(args.parent_pid) or (args.parent_pid == original_ppid and os.getppid() != original_ppid))
            if parent_gone:
                log(f"parent {args.parent_pid} is gone; stopping")
                break
            time.sleep(0.5)
        return 0
    finally:
        stop_group(proc)
        if args.url_file is not None:
            args.url_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
