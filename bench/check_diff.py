"""Microbenchmark of the offline provider methods: ``check`` and ``diff`` per resource.

    .venv/bin/python -m bench.check_diff [--n 2000] [--repeat 5]

Prints microseconds per call (best of ``--repeat`` rounds) for a create-time check, an
update-time check (with previous inputs), a no-change diff and a changed diff, over the
inputs the benchmark stacks declare. Pure CPU, no I/O: these run in the engine's serial
Check/Diff loop for every resource of every preview and update.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.profiles import IMS


def user_inputs(i: int) -> dict[str, Any]:
    """What one resource of the benchmark stacks declares."""
    return {"name": f"bench-{i:05d}", "os_version": "Ubuntu 22.04 server 64bit", "disk_format": "qcow2",
            "min_disk": 40, "min_ram": 1024, "tags": ["team=bench", f"idx={i % 7}"],
            "properties": {"owner_team": "bench"}, "description": "benchmark image", "__create_token": f"{i:032d}"}


def best(fn: Callable[[], None], n: int, repeat: int) -> float:
    """Best microseconds per call over ``repeat`` rounds of ``n`` calls."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return min(rounds)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raw = [user_inputs(i) for i in range(args.n)]
    checked = [IMAGE_METADATA.check({}, r, IMS)[0] for r in raw]
    changed = [{**c, "name": c["name"] + "-x"} for c in checked]
    figures = {
        "check (create)": lambda: [IMAGE_METADATA.check({}, r, IMS) for r in raw],
        "check (update)": lambda: [IMAGE_METADATA.check(c, r, IMS) for c, r in zip(checked, raw, strict=True)],
        "diff (no change)": lambda: [IMAGE_METADATA.plan(c, c, IMS) for c in checked],
        "diff (changed)": lambda: [IMAGE_METADATA.plan(c, d, IMS) for c, d in zip(checked, changed, strict=True)],
    }
    for label, fn in figures.items():
        print(f"{label:18} {best(fn, args.n, args.repeat):7.1f} us per resource")


if __name__ == "__main__":
    main()
