"""Issue 16 ("lean resources"): what one resource costs in the state and in the program.

* :func:`export_state`: ``pulumi stack export`` of a benchmark stack: bytes per resource entry
  (compact JSON, the unit the engine rewrites at every checkpoint) and the anatomy of one entry.
* :func:`entry_anatomy`: bytes of ``inputs``, ``outputs``, ``stackTrace``, ``sourcePosition``,
  ``propertyDependencies`` and the rest of one state entry.
* :func:`program_side`: how many properties the program registers per resource, for each kind,
  with the SDK's mocks in a child process (``python -m bench.lean --program-side DIR``).

The timed part (ImageMetadata, the minimal no-op and the two older floors through up, the in-place
change, refresh and destroy) is ``Bench.lean`` in ``bench/run.py``; the figures are analysed by
``bench/report.py: analyse_lean``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import workloads

#: The types of the benchmark's resources: every dynamic resource, and the plugin's ImageMetadata.
TYPE_PREFIX = ("pulumi-python:dynamic/", workloads.PLUGIN_TYPE)

#: The top-level keys of a state entry reported on their own; the rest is ``rest``.
ANATOMY_KEYS = ("inputs", "outputs", "stackTrace", "sourcePosition", "propertyDependencies")


def _compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def entry_anatomy(entry: dict[str, Any]) -> dict[str, Any]:
    """Bytes of one state entry (compact JSON), split by field.

    A field's bytes include its key, its quotes, the colon and one comma: the parts add up to
    ``total``, the rest (``urn``, ``type``, ``id``, ``provider``, timestamps...) is ``rest``.
    """
    total = _compact(entry)
    parts = {k: _compact({k: entry[k]}) - 2 + 1 if k in entry else 0 for k in ANATOMY_KEYS}
    inputs, outputs = entry.get("inputs") or {}, entry.get("outputs") or {}
    return {
        "total": total,
        **parts,
        "rest": total - sum(parts.values()),
        "input_keys": len(inputs),
        "output_keys": len(outputs),
        "provider_reference": _compact(inputs.get("__provider", "")),
        "stack_frames": len(entry.get("stackTrace") or []),
        "rest_keys": sorted(k for k in entry if k not in ANATOMY_KEYS),
    }


def export_state(project: Any, n: int, *, sample: bool = False) -> dict[str, Any]:
    """``pulumi stack export`` of ``project``'s stack: bytes per resource and one entry's anatomy."""
    path = project.root / f"export-{uuid.uuid4().hex[:8]}.json"
    result = project.run("stack", "export", "--file", str(path), check=False, timeout=900)
    if result.returncode != 0 or not path.exists():
        return {"error": result.output[-1000:]}
    data = path.read_bytes()
    path.unlink()
    resources = json.loads(data).get("deployment", {}).get("resources") or []
    ours = [r for r in resources if r.get("type", "").startswith(TYPE_PREFIX)]
    sizes = [_compact(r) for r in ours]
    out: dict[str, Any] = {
        "export_bytes": len(data),
        "resources": len(ours),
        "all_resources": len(resources),
        "export_bytes_per_resource": round(len(data) / max(1, n)),
        "entry_bytes": round(statistics.mean(sizes)) if sizes else 0,
        "entry_bytes_min": min(sizes, default=0),
        "entry_bytes_max": max(sizes, default=0),
        "anatomy": entry_anatomy(ours[0]) if ours else {},
    }
    if sample and ours:
        out["sample_entry"] = ours[0]
    return out


# --- program side: registered properties per resource (SDK mocks, child process) -------------------


def program_side(timeout: float = 300) -> dict[str, Any]:
    """Properties registered per resource of each kind, from a child process with the SDK's mocks.

    The child imports the same code the benchmark programs import (``ims_pulumi`` as the
    interpreter resolves it, and the floors' modules written to a temporary directory).
    """
    with tempfile.TemporaryDirectory(prefix="ims-bench-lean-") as tmp:
        Path(tmp, "noop.py").write_text(workloads.NOOP_MODULE)
        Path(tmp, "minimal_noop.py").write_text(workloads.MINIMAL_MODULE)
        repo = Path(__file__).resolve().parents[1]
        proc = subprocess.run([sys.executable, "-m", "bench.lean", "--program-side", tmp], cwd=repo,
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": "bench"})
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr)[-3000:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _child(modules: str) -> dict[str, Any]:
    """Run in the child: construct one resource of each kind under mocks and count what it registers."""
    sys.path.insert(0, modules)
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
            return {}

    pulumi.runtime.set_mocks(Mocks(), project="benchims", stack="dev", preview=False)
    registered: list[tuple[str, dict[str, Any]]] = []
    original = pulumi.CustomResource.__init__

    def recording_init(self: Any, t: str, name: str, props: Any = None, *args: Any, **kwargs: Any) -> None:
        registered.append((t, dict(props or {})))
        original(self, t, name, props, *args, **kwargs)

    pulumi.CustomResource.__init__ = recording_init  # type: ignore[method-assign]

    from minimal_noop import Minimal  # type: ignore[import-not-found]
    from noop import Noop  # type: ignore[import-not-found]

    import ims_pulumi

    bench_args: dict[str, Any] = eval(f"dict({workloads.RESOURCE_ARGS})", {"i": 0, "generation": "1"})
    makers: dict[str, Callable[[], Any]] = {
        "provider": lambda: ims_pulumi.ImageMetadata("img-00000", **bench_args),
        "floor": lambda: Noop("img-00000", **bench_args),
        "minimal": lambda: Minimal("img-00000", name="bench-00000", generation="1", size=40),
    }
    out: dict[str, Any] = {"ims_pulumi_file": ims_pulumi.__file__}
    for kind, make in makers.items():
        registered.clear()
        resource = make()
        _type, props = registered[-1]
        attributes = [k for k, v in vars(resource).items() if isinstance(v, pulumi.Output) and k not in ("urn", "id")]
        out[kind] = {
            "registered": len(props),
            "none_placeholders": sum(1 for v in props.values() if v is None),
            "with_value": sum(1 for v in props.values() if v is not None),
            "internal": sorted(k for k in props if k.startswith("__")),
            "output_attributes": len(attributes),
            "keys": sorted(props),
        }
    out["floor_sized"] = {**out["floor"], "note": "the 9-property floor's program (only its outputs differ)"}
    out["minimal_nostack"] = {**out["minimal"], "note": "the minimal no-op's program (without stack traces)"}
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--program-side":
        print(json.dumps(_child(sys.argv[2])))
    else:
        sys.exit("usage: python -m bench.lean --program-side DIR")
