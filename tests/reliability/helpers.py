"""Helpers of the reliability tests: programs of N images, convergence checks, CLI processes, diagnostics."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import trustme

from harness.pulumi_cli import PULUMI, PulumiProject
from ims_emulator import DEMO_PROJECT_ID
from ims_emulator.process import Emulator
from ims_pulumi.core.client import create_token_tag
from tests.support.images import live_images

OS_VERSION = "Ubuntu 22.04 server 64bit"
#: How the provider quotes the emulator's request id (``X-Request-Id``, uuid4 hex) in a message.
REQUEST_ID = re.compile(r"\(request id [0-9a-f]{32}\)")


def images_program(count: int, prefix: str, *, extra: str = "") -> str:
    """A program declaring ``count`` images named ``{prefix}-000``... as resources ``img-000``..."""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

for i in range({count}):
    ImageMetadata(f"img-{{i:03d}}", name=f"{prefix}-{{i:03d}}", os_version="{OS_VERSION}",
                  disk_format="qcow2", min_disk=40, tags=["team=reliability", f"index={{i}}"],
                  properties={{"purpose": "reliability"}}{extra})
'''


def state_resources(project: PulumiProject) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(ImageMetadata resources of the stack by resource name, the whole deployment)."""
    deployment = project.export().get("deployment", {})
    resources = {r["urn"].rsplit("::", 1)[1]: r for r in deployment.get("resources") or []
                 if r.get("type", "").endswith("ImageMetadata")}
    return resources, deployment


def assert_consistent(project: PulumiProject, emu: Emulator, prefix: str,
                      project_id: str = DEMO_PROJECT_ID) -> dict[str, dict[str, Any]]:
    """The state says exactly what the server has: no duplicates, no orphans, nothing pending.

    Returns the ImageMetadata resources of the state by resource name.
    """
    images = live_images(emu, prefix, project_id)
    duplicates = {n: c for n, c in Counter(i["name"] for i in images).items() if c > 1}
    assert not duplicates, f"duplicate images on the server: {duplicates}"
    resources, deployment = state_resources(project)
    by_id = {i["id"]: i for i in images}
    state_ids = {r["id"] for r in resources.values()}
    assert len(state_ids) == len(resources), "two resources share one image"
    assert state_ids == set(by_id), (
        f"orphans (on the server only): {sorted(set(by_id) - state_ids)}; "
        f"dangling (in the state only): {sorted(state_ids - set(by_id))}")
    for name, resource in resources.items():
        image = by_id[resource["id"]]
        assert image["name"] == resource["outputs"]["name"] == f"{prefix}-{name.split('-')[-1]}", name
        if not resource["inputs"].get("adopt_id"):
            assert create_token_tag(resource["inputs"]["__create_token"]) in image["tags"], name
    assert not deployment.get("pending_operations"), deployment.get("pending_operations")
    return resources


def assert_converged(project: PulumiProject, emu: Emulator, count: int, prefix: str,
                     project_id: str = DEMO_PROJECT_ID) -> None:
    """Exactly one image per resource, ``count`` of them, and the state says what the server has."""
    resources = assert_consistent(project, emu, prefix, project_id)
    assert len(resources) == count, f"{len(resources)} resources in the state, expected {count}"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.02)


def start_cli(project: PulumiProject, log: IO[str], *args: str) -> subprocess.Popen[str]:
    """``pulumi ARGS`` as :meth:`PulumiProject.run` runs it, but in the background, in a session of its own.

    Output goes to ``log`` (a pipe nobody reads could block the CLI).
    """
    argv = [str(PULUMI), *args, "--non-interactive", "--color", "never", "--stack", project.stack]
    return subprocess.Popen(argv, cwd=project.dir, env=project.env, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def session_members(session: int) -> list[int]:
    """Live (non-zombie) processes of a session.

    The CLI puts its plugins (language host, the dynamic provider) in process groups of
    their own, so killing the CLI's group would leave the provider running: the session,
    which they all inherit, is what holds them together.
    """
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, _pgrp, sid = stat.rsplit(")", 1)[1].split()[:4]
        if int(sid) == session and state != "Z":
            pids.append(int(entry))
    return pids


def kill_session(proc: subprocess.Popen[str]) -> list[int]:
    """SIGKILL the CLI and every process it started (by pid), as a power cut would; the pids killed."""
    killed: list[int] = []
    deadline = time.monotonic() + 10
    while members := session_members(proc.pid):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed += members
        assert time.monotonic() < deadline, f"processes survive SIGKILL: {members}"
        time.sleep(0.05)
    proc.wait()
    return killed


def diagnostics(output: str) -> dict[str, list[str]]:
    """The CLI's ``Diagnostics:`` section: resource name -> its messages (``error: ...``, ``warning: ...``)."""
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    inside = False
    for line in output.split("\n"):  # not splitlines(): a value may hold a carriage return
        if line.startswith("Diagnostics:"):
            inside = True
            continue
        if not inside:
            continue
        if re.match(r"^(Resources|Outputs|Duration|Policies|Policy Violations):", line):
            break
        header = re.match(r"^  \S+ \((.+)\):$", line)
        if header:
            current = header.group(1)
            blocks.setdefault(current, [])
        elif current is not None and line.strip():
            # A message line, or its continuation (also unindented: a value with a line break in it).
            text = line[4:] if line.startswith("    ") else line
            if re.match(r"^(error|warning|info): ", text) or not blocks[current]:
                blocks[current].append(text)
            else:
                blocks[current][-1] += "\n" + text
    return blocks


def assert_actionable(messages: list[str], *, what: str, code: str, todo: str, request_id: bool = True) -> str:
    """One error message that says what failed, the API code, the request id and what to do; returns it."""
    errors = [m for m in messages if m.startswith("error: ")]
    assert len(errors) == 1, f"expected one error message, got {messages}"
    message = errors[0]
    assert what in message, f"does not say what failed ({what!r}): {message}"
    assert code in message, f"no code {code!r}: {message}"
    assert not request_id or REQUEST_ID.search(message), f"no request id: {message}"
    assert todo in message, f"does not say what to do ({todo!r}): {message}"
    assert "Traceback" not in message and "File \"" not in message, message
    return message


def make_certificates(directory: Path, ca: trustme.CA | None = None) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1/localhost signed by a fresh CA: (server PEM with its key, CA PEM)."""
    ca = ca or trustme.CA()
    server, ca_file = directory / "server.pem", directory / "ca.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(server))
    ca.cert_pem.write_to_path(str(ca_file))
    return server, ca_file


def stats_total(stats: dict[str, Any], prefix: str = "") -> int:
    """Requests counted by the emulator whose ``METHOD /route`` starts with ``prefix``."""
    return sum(n for key, n in stats["requests"].items() if key.startswith(prefix))
