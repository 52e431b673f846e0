"""A deterministic profile of every thread of the ``ims`` plugin process (py-spy is not installed here,
and ``cProfile`` alone sees only the thread it is enabled in, while the plugin works on its event loop
*and* in worker threads).

Each thread gets its own ``cProfile.Profile`` timed by that thread's CPU clock (so a thread that
waits for the network or for the GIL adds nothing) (``threading.Thread.run`` is wrapped
before the plugin starts its pool; the main thread's is enabled first), and at exit the profiles are
merged into one ``pstats`` file, ``DIR/plugin-PID.prof``: seconds in it are CPU seconds. The engine stops a plugin
with SIGINT (seen here; SIGTERM and SIGHUP are handled the same way): the handler writes the file, then
ends the process as the signal would have. A plugin killed outright (SIGKILL) leaves no profile.

Deterministic profiling slows the profiled process (about 1.5-2x for this code), so the run that
profiles is never a timed one; the split between functions is what it is for.

``python -m bench.sampler DIR ENGINE`` runs ``ims_pulumi.plugin.server.main`` (what
``pulumi-resource-ims ENGINE`` runs) so profiled; ``bench/plugin.py: plugin_bin(profile_dir=...)``
writes that as the plugin's executable. :data:`SITECUSTOMIZE` profiles a Python program the same way.
:func:`summarize` reads a profile back.
"""

from __future__ import annotations

import atexit
import cProfile
import io
import os
import pstats
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

_PROFILES: list[cProfile.Profile] = []
_LOCK = threading.Lock()
_STARTED = time.monotonic()


def _thread_profile() -> cProfile.Profile:
    """A profile timed by the CPU clock of the calling thread, read by its id: the profile's pending calls
    are closed at dump time by another thread, and must still be timed on this thread's clock."""
    clock = time.pthread_getcpuclockid(threading.get_ident())
    return cProfile.Profile(lambda: time.clock_gettime(clock))


def _profiled_run(original: Any) -> Any:
    def run(self: threading.Thread) -> None:
        profile = _thread_profile()
        with _LOCK:
            _PROFILES.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    return run


def start(out: Path) -> None:
    """Profile this thread and every thread started from now on; write the merged stats to ``out`` at exit."""
    threading.Thread.run = _profiled_run(threading.Thread.run)  # type: ignore[method-assign]
    main = _thread_profile()
    _PROFILES.append(main)
    done = threading.Event()

    def dump() -> None:
        if done.is_set():
            return
        done.set()
        for profile in list(_PROFILES):
            profile.disable()
        with _LOCK:
            stats = [p for p in _PROFILES if getattr(p, "getstats", None) and p.getstats()]
        if not stats:
            return
        merged = pstats.Stats(stats[0], stream=io.StringIO())
        for other in stats[1:]:
            merged.add(other)
        merged.dump_stats(str(out))
        cpu = sum(os.times()[:2])
        out.with_suffix(".txt").write_text(f"threads={len(stats)} seconds={time.monotonic() - _STARTED:.1f} "
                                           f"cpu={cpu:.2f}\n")

    def on_signal(signum: int, _frame: Any) -> None:
        dump()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    atexit.register(dump)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    main.enable()


def summarize(path: Path, top: int = 20) -> dict[str, Any]:
    """A merged profile: totals, and the functions with the most own and the most cumulative CPU time
    (seconds, and the share of the profiled total)."""
    stats = pstats.Stats(str(path), stream=io.StringIO())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    header_file = path.with_suffix(".txt")
    header = dict(kv.split("=", 1) for kv in header_file.read_text().split()) if header_file.exists() else {}

    def name(func: tuple[str, int, str]) -> str:
        file, _line, fn = func
        return f"{fn} ({os.path.basename(file)})" if file != "~" else fn

    def rows(index: int) -> list[tuple[str, int, float, float]]:
        ranked = sorted(raw.items(), key=lambda kv: kv[1][index], reverse=True)[:top]
        return [(name(func), int(v[1]), round(float(v[index]), 3), round(100 * float(v[index]) / max(total, 1e-9), 1))
                for func, v in ranked]

    return {"header": header, "profiled_seconds": round(total, 3), "own": rows(2), "cumulative": rows(3)}


#: ``sitecustomize.py`` for a Python *program* (``pulumi-language-python-exec``) under the same profiler:
#: on ``PYTHONPATH`` with ``BENCH_PROGRAM_PROFILE_DIR`` set, the program writes ``DIR/program-PID.prof`` when it
#: ends (normally: at exit); any other Python process started with that path is left alone.
SITECUSTOMIZE = f"""
import os, sys
if sys.argv and sys.argv[0].endswith("pulumi-language-python-exec") and os.environ.get("BENCH_PROGRAM_PROFILE_DIR"):
    sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
    from pathlib import Path
    from bench.sampler import start
    start(Path(os.environ["BENCH_PROGRAM_PROFILE_DIR"]) / f"program-{{os.getpid()}}.prof")
"""


def main() -> None:
    """``python -m bench.sampler DIR [ARGS...]``: the ``ims`` plugin, profiled into ``DIR/plugin-PID.prof``
    (the engine may start more than one plugin process in a command)."""
    out = Path(sys.argv[1]) / f"plugin-{os.getpid()}.prof"
    del sys.argv[1]
    start(out)
    from ims_pulumi.plugin.server import main as plugin_main

    plugin_main(sys.argv[1:])


if __name__ == "__main__":
    main()
