"""scripts/postgres.py keeps the database password to itself (issue 24, "smaller points").

Before: ``CREATE ROLE pulumi LOGIN PASSWORD '<password>'`` went to psql as ``-c`` (every user sees
it in the process list) and a failing query printed it; the password file was written first and
restricted to 0600 after (``touch``, write, ``chmod``), so an existing wider file held it readable.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts import postgres
from scripts.postgres import ROLE, LocalPostgres, PostgresError, redact_sql, scram_verifier, write_secret

pytestmark = pytest.mark.contract

SECRET = "pw-that-must-never-show-0123456789"


def test_the_role_logs_in_with_the_password_file_and_stores_a_verifier(postgres_server: LocalPostgres) -> None:
    """The role is created from a SCRAM verifier computed locally: the password never travels in SQL."""
    assert postgres_server.sql("SELECT current_user", database="pulumi", user=ROLE) == [[ROLE]]
    (stored,) = postgres_server.sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{ROLE}'")
    assert stored[0].startswith("SCRAM-SHA-256$4096:")


def test_queries_go_to_psql_on_stdin(postgres_server: LocalPostgres, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], Any]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((argv, kwargs.get("input")))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(postgres.subprocess, "run", run)
    postgres_server.sql(f"ALTER ROLE {ROLE} PASSWORD '{SECRET}'")
    ((argv, stdin),) = calls
    assert not any(SECRET in arg for arg in argv), f"the password is on psql's command line: {argv}"
    assert SECRET in stdin


def test_a_failing_query_never_shows_the_password(postgres_server: LocalPostgres) -> None:
    """psql echoes the failing line (``LINE 1: ...``) on stderr: the message masks it there too."""
    with pytest.raises(PostgresError) as failed:
        postgres_server.sql(f"CREATE ROLE nobody_here LOGIN PASSWORD '{SECRET}' NOT VALID SQL")
    message = str(failed.value)
    assert SECRET not in message and "PASSWORD '***'" in message and "syntax error" in message, message


REDACTIONS = [
    # (reason, text, shown)
    ("a quoted password", "CREATE ROLE r PASSWORD 'abc'", "CREATE ROLE r PASSWORD '***'"),
    ("lower case and several spaces", "alter role r password   'abc' valid until 'x'",
     "alter role r password   '***' valid until 'x'"),
    ("a doubled quote inside the literal", "ALTER ROLE r PASSWORD 'a''b'", "ALTER ROLE r PASSWORD '***'"),
    ("other literals stay", "SELECT 'keep'", "SELECT 'keep'"),
]


@pytest.mark.parametrize(("reason", "text", "shown"), REDACTIONS, ids=[c[0] for c in REDACTIONS])
def test_redact_sql(reason: str, text: str, shown: str) -> None:
    assert redact_sql(text) == shown, reason


def test_scram_verifier_matches_the_rfc_7677_computation() -> None:
    """The known-answer shape: iterations, 16-byte salt, 32-byte keys, base64 (PostgreSQL's format)."""
    verifier = scram_verifier("pencil", salt=b"0123456789abcdef")
    head, keys = verifier.split("$", 2)[1:]
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    stored, server = keys.split(":")
    assert len(stored) == len(server) == 44 and head == "4096:MDEyMzQ1Njc4OWFiY2RlZg=="
    assert scram_verifier("pencil", salt=b"0123456789abcdef") == verifier, "deterministic for one salt"
    assert scram_verifier("pencil") != scram_verifier("pencil"), "a fresh salt each time"


SECRET_FILES = [
    # (reason, existing mode or None, umask)
    ("a new file", None, 0o022),
    ("a permissive umask", None, 0o000),
    ("an existing world-readable file (from an older run or a copy) is replaced, not written in place", 0o644, 0o022),
]


@pytest.mark.parametrize(("reason", "existing", "umask"), SECRET_FILES, ids=[c[0] for c in SECRET_FILES])
def test_secret_files_are_created_with_their_final_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reason: str,
                                                        existing: int | None, umask: int) -> None:
    path = tmp_path / "pgpass"
    if existing is not None:
        path.write_text("old\n")
        os.chmod(path, existing)
    modes: list[int] = []
    real_open = os.open

    def watched_open(file: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        fd = real_open(file, flags, mode, *args, **kwargs)
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no chmod after the write: the file is created with its final mode")

    monkeypatch.setattr(postgres.os, "open", watched_open)
    monkeypatch.setattr(postgres.os, "chmod", no_chmod)
    old = os.umask(umask)
    try:
        write_secret(path, SECRET + "\n")
    finally:
        os.umask(old)
    assert modes == [0o600], f"{reason}: the file holding the secret was created with {[oct(m) for m in modes]}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == SECRET + "\n", reason
    assert [p.name for p in tmp_path.iterdir()] == ["pgpass"], "no temporary file left behind"
