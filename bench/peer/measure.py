"""Measure one CLI command: wall time, client CPU (the CLI and every process under it), server requests.

Client CPU is taken two ways, and the larger is reported (each can only miss, never add):

* ``getrusage(RUSAGE_CHILDREN)`` before and after: user + sys of every descendant that has exited and
  been waited for (the CLI waits for its plugins, they for theirs); exact, but blind to a process
  that is never reaped by its parent;
* psutil: the process tree sampled every 100 ms, the last CPU times seen per process, summed; it gives
  the split per role (CLI, provider, program...) but misses up to 100 ms of each process's end.

The servers run in other process groups started before the command; their CPU is not the client's (it
is reported apart, from the same sampling of their processes before and after).

Requests come from the servers' access logs (gunicorn writes one line per answered request): the
lines appended while the command ran, by method and route (ids replaced by ``{id}``) and by status.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]

from scripts.peer.servers import USER_AGENT

_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|^[0-9a-f]{32}$")


class AccessLog:
    """A gunicorn access log, read from an offset (the requests of one command)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        """Where the log ends now."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def since(self, offset: int) -> list[tuple[str, str, int]]:
        """(method, route, status) of every request logged after ``offset``, but the benchmark's own (its
        checks, logged as they end: a check's line can come after the next command's start)."""
        with self.path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
        out = []
        for line in text.splitlines():
            match = _LINE.search(line)
            if match and f'"{USER_AGENT}' not in line:  # the benchmark's own checks
                out.append((match["method"], route(match["target"]), int(match["status"])))
        return out


def route(target: str) -> str:
    """``/v2/images/<uuid>/file?x=1`` -> ``/v2/images/{id}/file``."""
    path = target.split("?", 1)[0]
    return "/".join("{id}" if _UUID.match(part) else part for part in path.split("/"))


def summarize(requests: Iterable[tuple[str, str, int]]) -> dict[str, Any]:
    """Total, by ``METHOD route``, and the count of answers >= 400 (by ``METHOD route status``)."""
    requests = list(requests)
    by_route = Counter(f"{m} {r}" for m, r, _ in requests)
    errors = Counter(f"{m} {r} {s}" for m, r, s in requests if s >= 400)
    return {"total": len(requests), "by_route": dict(by_route.most_common()), "errors": dict(errors.most_common())}


def tree_cpu(pids: Iterable[int]) -> float:
    """User + sys seconds of these processes and all their descendants, now."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in (root, *root.children(recursive=True)):
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return total


@dataclass
class Measured:
    """One measured command."""

    argv: list[str]
    seconds: float
    returncode: int
    cpu: float  # client CPU: max(rusage, sampled)
    cpu_rusage: float
    cpu_sampled: float
    cpu_by_role: dict[str, float]
    output_tail: str
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_cpu: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after (the cores are shared)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "argv": self.argv, "seconds": round(self.seconds, 3), "returncode": self.returncode,
            "cpu_seconds": round(self.cpu, 3), "cpu_rusage": round(self.cpu_rusage, 3),
            "cpu_sampled": round(self.cpu_sampled, 3), "cpu_by_role": self.cpu_by_role,
            "requests": self.requests, "server_cpu_seconds": self.server_cpu,
            "load_before_after": [round(x, 2) for x in self.load],
        }
        if self.returncode != 0:
            out["output_tail"] = self.output_tail
        return out


class _Sampler(threading.Thread):
    """CPU times of every process under ``root``, by role, sampled until stopped."""

    def __init__(self, root: psutil.Process, role_of: Callable[[psutil.Process], str]) -> None:
        super().__init__(daemon=True)
        self.root, self.role_of = root, role_of
        self.last: dict[int, tuple[str, float]] = {}
        self.roles: dict[int, str] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(0.1)

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return
        for proc in procs:
            try:
                role = self.roles.get(proc.pid) or self.role_of(proc)
                self.roles[proc.pid] = role
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            self.last[proc.pid] = (role, times.user + times.system)

    def by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for role, seconds in self.last.values():
            out[role] = out.get(role, 0.0) + seconds
        return {k: round(v, 3) for k, v in sorted(out.items())}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(argv: list[str], *, cwd: Path, env: dict[str, str], role_of: Callable[[psutil.Process], str],
                 logs: dict[str, AccessLog], servers: dict[str, list[int]], timeout: float = 4 * 3600) -> Measured:
    """Run ``argv`` to completion (no other child of this process may end meanwhile), measured."""
    offsets = {name: log.offset() for name, log in logs.items()}
    load_before = os.getloadavg()[0]
    server_before = {name: tree_cpu(pids) for name, pids in servers.items()}
    with tempfile.TemporaryFile() as output:
        rusage_before = _children_cpu()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        sampler = _Sampler(psutil.Process(proc.pid), role_of)
        sampler.start()
        try:
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, and only it
            returncode = proc.wait()
        seconds = time.perf_counter() - started
        sampler.stop_event.set()
        sampler.join()
        cpu_rusage = _children_cpu() - rusage_before
        output.seek(0)
        tail = output.read().decode(errors="replace")[-6000:]
    time.sleep(0.2)  # gunicorn logs a request just after answering it
    by_role = sampler.by_role()
    sampled = sum(by_role.values())
    return Measured(
        argv=argv, seconds=seconds, returncode=returncode, cpu=max(cpu_rusage, sampled), cpu_rusage=cpu_rusage,
        cpu_sampled=sampled, cpu_by_role=by_role, output_tail=tail,
        requests={name: summarize(log.since(offsets[name])) for name, log in logs.items()},
        server_cpu={name: round(tree_cpu(pids) - server_before[name], 3) for name, pids in servers.items()},
        load=(load_before, os.getloadavg()[0]),
    )


def tofu_role(proc: psutil.Process) -> str:
    """``tofu`` or ``provider`` (terraform-provider-openstack) or ``other``."""
    try:
        name = Path(proc.exe()).name
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other"
    return {"tofu": "tofu", "terraform-provider-openstack": "provider"}.get(name, "other")


def pulumi_role(proc: psutil.Process) -> str:
    """``cli``, ``language_host``, ``program``, ``provider`` (the dynamic provider or the ``ims`` plugin) or
    ``other``. The YAML host evaluates the program itself: ``program``."""
    try:
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other"
    if "pulumi-language-python-exec" in cmdline or "pulumi-language-yaml" in cmdline:
        return "program"
    if ("pulumi.dynamic" in cmdline or "dynamic_server" in cmdline or "pulumi-resource-pulumi-python" in cmdline
            or "pulumi-resource-ims" in cmdline or "ims_pulumi.plugin" in cmdline):
        return "provider"
    if "pulumi-language-python" in cmdline:
        return "language_host"
    try:
        if Path(proc.exe()).name == "pulumi":
            return "cli"
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        pass
    return "other"
