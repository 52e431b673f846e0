"""Run one ``pulumi`` command and measure it: wall time, peak RSS of each process, load.

The CLI starts a language host, the program (``pulumi-language-python-exec``) and the
dynamic-provider process (``pulumi-resource-pulumi-python``, which execs
``python -u -c '... pulumi.dynamic ...'``), or the ``ims`` plugin (``pulumi-resource-ims``); a YAML
program runs inside its language host (``pulumi-language-yaml``), with no program process. A sampler
thread walks the CLI's process tree every 50 ms and reads ``VmHWM`` (the kernel's own peak-RSS
high-water mark) from ``/proc/PID/status``, so a short spike between two samples is not missed; only
growth in the last few milliseconds before a process exits could be.

Optionally ``py-spy record`` is attached to the provider and program processes as soon as
they appear (profiling runs only: sampling costs CPU on a 2-core machine).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.pulumi_cli import PULUMI, VENV, PulumiProject

ROLES = ("cli", "language_host", "program", "provider")
#: What a provider process's command line contains: the dynamic-provider process (the SDK's launcher or
#: the project's), or the ``ims`` plugin (its console script, or ``python -m ims_pulumi.plugin``).
PROVIDER_MARKS = ("pulumi.dynamic", "dynamic_server", "pulumi-resource-pulumi-python", "pulumi-resource-ims",
                  "ims_pulumi.plugin", "bench.sampler")


def role_of(proc: psutil.Process, cli_pid: int) -> str:
    """Which part of a Pulumi run a process is."""
    if proc.pid == cli_pid:
        return "cli"
    try:
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other"
    if "pulumi-language-python-exec" in cmdline:
        return "program"
    if any(mark in cmdline for mark in PROVIDER_MARKS):
        return "provider"
    if "pulumi-language-python" in cmdline or "pulumi-language-yaml" in cmdline:
        return "language_host"
    return "other"


def vm_hwm(pid: int) -> int:
    """Peak resident set size of ``pid`` in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


@dataclass
class CommandResult:
    """One measured CLI command."""

    args: list[str]
    seconds: float
    returncode: int
    output_tail: str
    peak_rss: dict[str, int]
    load: dict[str, float]
    profiles: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (output only when the command failed)."""
        out: dict[str, Any] = {
            "seconds": round(self.seconds, 3),
            "returncode": self.returncode,
            "peak_rss": self.peak_rss,
            "cpu_seconds": self.cpu,
            "load": self.load,
        }
        if self.returncode != 0:
            out["output_tail"] = self.output_tail
        if self.profiles:
            out["profiles"] = self.profiles
        return out


class _Sampler(threading.Thread):
    def __init__(self, cli: psutil.Process, profile_dir: Path | None, label: str) -> None:
        super().__init__(daemon=True)
        self.cli = cli
        self.peak: dict[str, int] = dict.fromkeys(ROLES, 0)
        self.cpu_by_pid: dict[int, tuple[str, float]] = {}
        self.stop_event = threading.Event()
        self.seen: dict[int, str] = {}
        self.profile_dir = profile_dir
        self.label = label
        self.spies: list[tuple[subprocess.Popen[bytes], str, Path]] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(0.05)
        self.sample()

    def sample(self) -> None:
        try:
            procs = [self.cli, *self.cli.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            procs = []
        for proc in procs:
            role = self.seen.get(proc.pid)
            if role is None or role == "other":
                role = role_of(proc, self.cli.pid)
                self.seen[proc.pid] = role
                if role in ("provider", "program") and self.profile_dir is not None and "python" in _exe(proc):
                    self._spy(proc.pid, role)
            if role in self.peak:
                self.peak[role] = max(self.peak[role], vm_hwm(proc.pid))
            try:
                times = proc.cpu_times()
                self.cpu_by_pid[proc.pid] = (role, times.user + times.system)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                pass

    def cpu(self) -> dict[str, float]:
        """CPU seconds used per role (as last sampled: up to 50 ms before each process ended)."""
        out = dict.fromkeys(ROLES, 0.0)
        for role, seconds in self.cpu_by_pid.values():
            if role in out:
                out[role] += seconds
        return {k: round(v, 2) for k, v in out.items()}

    def _spy(self, pid: int, role: str) -> None:
        assert self.profile_dir is not None
        py_spy = shutil.which("py-spy", path=str(VENV / "bin")) or shutil.which("py-spy")
        if py_spy is None or any(r == role for _, r, _ in self.spies):
            return
        out = self.profile_dir / f"{self.label}-{role}.txt"
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--nonblocking",
             "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.spies.append((spy, role, out))


def _exe(proc: psutil.Process) -> str:
    try:
        return proc.exe()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run_cli(
    project: PulumiProject,
    *args: str,
    extra_env: dict[str, str] | None = None,
    timeout: float = 4 * 3600,
    profile_dir: Path | None = None,
    label: str = "run",
) -> CommandResult:
    """Run ``pulumi ARGS`` as :meth:`PulumiProject.run` does, measuring it."""
    argv = [str(PULUMI), *args, "--non-interactive", "--color", "never", "--stack", project.stack]
    env = {**project.env, **(extra_env or {})}
    load_before = _load()
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=project.dir, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = _Sampler(psutil.Process(proc.pid), profile_dir, label)
        sampler.start()
        try:
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, and only it
            returncode = proc.wait()
        seconds = time.perf_counter() - started
        sampler.stop_event.set()
        sampler.join()
        profiles = {}
        for spy, role, path in sampler.spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
            if path.exists():
                profiles[role] = str(path)
        output.seek(0)
        text = output.read().decode(errors="replace")
    return CommandResult(argv[1:], seconds, returncode, text[-4000:], sampler.peak,
                         {"before": load_before, "after": _load()}, profiles, sampler.cpu())


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    pulumi_version = subprocess.run([str(PULUMI), "version"], capture_output=True, text=True).stdout.strip()
    import pulumi  # the SDK the program and the provider use

    sdk = getattr(pulumi, "__version__", "")
    if not sdk:
        from importlib.metadata import version

        sdk = version("pulumi")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pulumi_cli": pulumi_version,
        "pulumi_sdk": sdk,
        "python_executable": sys.executable,
        "load_at_start": list(os.getloadavg()),
    }
