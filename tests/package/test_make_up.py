"""``make up`` / ``make down`` use only the checkout's own emulator.

Two copies of the working tree (A and B), each with a fresh ``.venv`` whose dependencies come
from the project's ``.venv`` through a ``.pth`` view (offline, as in ``test_install.py``; pip runs
with ``PIP_NO_INDEX``), run the real ``make up`` / ``make down``, ``make setup`` included, with
the same preferred port. A gets it; B finds it taken by A's emulator, says so, and starts its
own on a free port: every image of B goes into B's database and none into A's; ``make down`` in
B stops B's emulator only. A port held by some other process, and a pid file naming a process
that is not the checkout's emulator, are handled the same way: left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from harness.pulumi_cli import PULUMI, VENV
from ims_emulator import DEMO_PROJECT_ID

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
OWN = ("__editable__", "pulumi_ims_image_metadata", "__pycache__")
EXAMPLE_IMAGES = 5  # the example stack (__main__.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive either
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def user_images(url: str) -> set[str]:
    """Ids of the demo project's live images in the emulator at ``url`` (control API)."""
    response = requests.get(f"{url}/_emulator/images", params={"project": DEMO_PROJECT_ID}, timeout=10)
    response.raise_for_status()
    return {i["id"] for i in response.json()["images"] if i.get("status") not in ("deleted", "killed")}


@dataclass
class Checkout:
    """A copy of the repository with its own .venv."""

    root: Path
    env: dict[str, str]

    def make(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["make", "--no-print-directory", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"make {' '.join(args)} in {self.root} exited {proc.returncode}:\n"
                        f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-5000:]}")
        return proc

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The copy's CLI with the state backend and PULUMI_HOME its Makefile uses."""
        env = {**self.env, "PULUMI_HOME": f"{self.root}/.state/pulumi-home",
               "PULUMI_BACKEND_URL": f"file://{self.root}/.state/backend"}
        return subprocess.run([str(self.root / ".venv" / "bin" / "pulumi"), *args], cwd=self.root, env=env,
                              capture_output=True, text=True, check=True, timeout=120)

    def recorded(self, name: str) -> str | None:
        path = self.root / ".emulator" / name
        return path.read_text().strip() if path.exists() else None

    @property
    def pid(self) -> int | None:
        text = self.recorded("pid")
        return int(text) if text else None

    @property
    def url(self) -> str | None:
        return self.recorded("url")

    def stop_leftovers(self) -> None:
        """After the test: stop this copy's emulator even if the test failed half way."""
        self.make("emulator-stop", check=False, timeout=60)
        pid = self.pid
        if pid and alive(pid) and f"{self.root}/.emulator/data" in Path(f"/proc/{pid}/cmdline").read_text("utf-8",
                                                                                                       "replace"):
            os.kill(pid, signal.SIGKILL)


def copy_tree(target: Path) -> None:
    """The working tree as it would be committed: tracked and new files, minus what .gitignore ignores."""
    listing = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout
    for rel in filter(None, listing.split("\0")):
        path = REPO / rel
        if path.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / rel)


@pytest.fixture(scope="module")
def deps_view(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``.venv``'s site-packages as symlinks, without this project's editable install or .pth hooks."""
    view = tmp_path_factory.mktemp("deps")
    for entry in (VENV / SITE).iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    return view


def make_env() -> dict[str, str]:
    drop = ("PULUMI_", "HW_", "_IMS_DEFAULT_", "VIRTUAL_ENV", "PYTHONPATH", "MAKE", "MFLAGS", "GNUMAKEFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    # the already-built CLI is on PATH, so `make setup` links it instead of building one
    env["PATH"] = f"{PULUMI.resolve().parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update({"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_COLOR": "1"})
    return env


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory, deps_view: Path, pulumi_cli: None) -> Iterator[
        tuple[Checkout, Checkout]]:
    made: list[Checkout] = []
    try:
        for name in ("a", "b"):
            root = tmp_path_factory.mktemp(f"checkout-{name}")
            copy_tree(root)
            # What `make setup` would create with pip from PyPI: a venv whose packages are the project's.
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
            (root / ".venv" / SITE / "_project_deps.pth").write_text(f"{deps_view}\n")
            made.append(Checkout(root, make_env()))
        yield made[0], made[1]
    finally:
        for checkout in made:
            checkout.stop_leftovers()


def outputs_printed(out: str) -> bool:
    return all(f"{name}_id" in out for name in ("ubuntu", "centos", "windows", "minimal"))


def test_two_checkouts_each_use_their_own_emulator(checkouts: tuple[Checkout, Checkout]) -> None:
    a, b = checkouts
    port = free_port()

    first = a.make("up", f"EMU_PORT={port}")
    assert a.url == f"http://127.0.0.1:{port}" and a.recorded("port") == str(port), first.stderr
    assert a.pid and alive(a.pid)
    assert (a.root / ".venv" / ".deps-stamp").exists(), "make up ran make setup in the fresh copy"
    assert outputs_printed(first.stdout), first.stdout
    a_images = user_images(a.url)
    assert len(a_images) == EXAMPLE_IMAGES

    # B prefers the same port: it is A's, so B says so and starts its own elsewhere
    second = b.make("up", f"EMU_PORT={port}")
    assert re.search(rf"port {port} is taken by another process, pid {a.pid}\b", second.stderr), second.stderr
    assert "not this checkout's" in second.stderr, second.stderr
    assert b.url and b.url != a.url and b.pid != a.pid and b.pid and alive(b.pid)
    assert b.recorded("port") == b.url.rsplit(":", 1)[1]
    b_images = user_images(b.url)
    assert len(b_images) == EXAMPLE_IMAGES and not b_images & a_images
    assert user_images(a.url) == a_images, "nothing of B went into A's database"
    assert outputs_printed(second.stdout), second.stdout
    endpoint = b.pulumi("config", "get", "ims:endpoint", "--stack", "dev").stdout.strip()
    assert endpoint == b.url, "ims:endpoint follows the emulator's port"

    # a second `make up` in B: the same emulator, no changes, the outputs again
    b_pid, b_url = b.pid, b.url
    again = b.make("up", f"EMU_PORT={port}")
    assert f"running at {b_url} (pid {b_pid}, this checkout's)" in again.stderr, again.stderr
    assert f"{EXAMPLE_IMAGES + 1} unchanged" in again.stdout, again.stdout
    assert not re.search(r"\b\d+ (created|updated|replaced|deleted)\b", again.stdout), again.stdout
    assert outputs_printed(again.stdout)
    assert (b.pid, b.url) == (b_pid, b_url) and user_images(b_url) == b_images

    # `make down` in B: B's stack destroyed in B's emulator, B's emulator stopped, A untouched
    down = b.make("down", f"EMU_PORT={port}")
    assert f"{EXAMPLE_IMAGES + 1} deleted" in down.stdout, down.stdout
    assert f"stopped pid {b_pid}" in down.stderr, down.stderr
    assert not alive(b_pid) and b.pid is None and b.url is None
    assert a.pid and alive(a.pid) and user_images(a.url) == a_images

    a_pid = a.pid
    a.make("down", f"EMU_PORT={port}")
    assert not alive(a_pid) and a.pid is None


def test_a_port_held_by_another_process_is_left_alone(checkouts: tuple[Checkout, Checkout]) -> None:
    a, _ = checkouts
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = a.make("emulator", f"EMU_PORT={port}")
        try:
            assert re.search(rf"port {port} is taken by another process, pid {os.getpid()}\b", started.stderr), \
                started.stderr
            assert "free port" in started.stderr
            assert a.url and a.url != f"http://127.0.0.1:{port}" and user_images(a.url) == set()
            holder.settimeout(0.2)
            with pytest.raises(TimeoutError):
                holder.accept()  # nobody connected to it: it is not an emulator, so not even a health probe
        finally:
            pid = a.pid
            a.make("emulator-stop")
        assert pid and not alive(pid)


def test_a_pid_file_naming_another_process_is_never_killed(checkouts: tuple[Checkout, Checkout]) -> None:
    a, _ = checkouts
    (a.root / ".emulator").mkdir(exist_ok=True)
    with subprocess.Popen(["sleep", "60"]) as stranger:
        try:
            (a.root / ".emulator" / "pid").write_text(f"{stranger.pid}\n")
            stop = a.make("emulator-stop")
            assert "not this checkout's emulator" in stop.stderr, stop.stderr
            assert stranger.poll() is None, "make emulator-stop left the process alone"
            assert a.pid is None, "the stale pid file is gone"
            # and `make emulator` with such a pid file starts a fresh emulator of its own
            (a.root / ".emulator" / "pid").write_text(f"{stranger.pid}\n")
            started = a.make("emulator", f"EMU_PORT={free_port()}")
            assert "started at" in started.stderr and a.pid not in (None, stranger.pid), started.stderr
            assert stranger.poll() is None
            pid = a.pid
            a.make("emulator-stop")
            assert pid and not alive(pid)
        finally:
            stranger.kill()
