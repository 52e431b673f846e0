"""Benchmark the ImageMetadata provider against the engine floor and the API floor.

Run from the repository root (``make setup`` first)::

    .venv/bin/python -m bench.run                       # N = 10, 100, 1000, 3000: about an hour on 2 cores
    .venv/bin/python -m bench.run --sizes 10,100 --skip concurrency
    .venv/bin/python -m bench.run --smoke               # a handful of resources, for CI

For every N it runs the five scenarios (``up`` creating all, a no-change ``preview``,
``refresh``, ``up`` changing one in-place field on all, ``destroy``) three ways: with the
provider against the local emulator, with a no-op dynamic provider (the engine floor),
and with the project's ``ImsClient`` directly (the API floor). It also measures
concurrency under injected latency, peak RSS and state size, calls the provider's methods
in-process under cProfile and, with ``--profile``, samples the provider and program
processes with py-spy. ``--only lean`` runs issue 16's comparison alone: ImageMetadata
against a minimal no-op resource and the two older floors (see ``bench/README.md``).
Results: a table on stdout, ``results.json`` and ``chart.png`` in
``--out`` (default ``bench/results/``, git-ignored). See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

from bench import lean, report, sampler, workloads  # noqa: E402
from bench import plugin as plugin_kit  # noqa: E402
from bench.api_floor import api_floor, provider_calls, raw_config  # noqa: E402
from bench.measure import CommandResult, machine, run_cli  # noqa: E402
from harness.pulumi_cli import PulumiProject, ims_config  # noqa: E402
from ims_emulator.process import Emulator  # noqa: E402

SCENARIOS = ("up", "preview", "refresh", "update", "destroy")
KINDS = ("provider", "floor")
MODES = {"checkpoints": {}, "skip_checkpoints": {"PULUMI_SKIP_CHECKPOINTS": "true"}}
EMULATOR_ARGS = ("--quota", "1000000")  # the default private-image quota (100) would stop N = 1,000

TYPE_PREFIX = lean.TYPE_PREFIX

#: The parts of a run, in the order they run (``--skip``, ``--only``).
PARTS = ("concurrency", "calls", "sizes", "shape", "lean", "plugin", "plugin_profile", "profile")
#: Issue 16: the kinds compared (each command runs on every kind before the next command) and the
#: commands, in the order they run on one stack.
LEAN_KINDS = ("provider", "minimal", "floor", "floor_sized")
#: Also accepted by --lean-kinds (not run by default): the minimal no-op without the SDK's stack trace.
LEAN_EXTRA_KINDS = ("minimal_nostack",)
LEAN_SCENARIOS = ("up", "refresh", "update", "destroy")
#: Issue 25: the ``ims`` plugin from a Python program on the generated SDK (``plugin``) and from a YAML
#: program (``plugin_yaml``), against the dynamic provider (``provider``) and the minimal no-op.
PLUGIN_KINDS = ("plugin", "plugin_yaml", "provider", "minimal")
#: The kinds that run the plugin (their own emulator project, the generated SDK or a YAML program).
PLUGIN_ONLY_KINDS = ("plugin", "plugin_yaml")
#: The kinds that call the API (the emulator's request counters are recorded around their commands).
API_KINDS = ("provider", *PLUGIN_ONLY_KINDS)


def log(message: str) -> None:
    """Progress on stderr (stdout is for the table)."""
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def scenario_args(scenario: str, parallel: int) -> tuple[str, ...]:
    """CLI arguments of a scenario (``update`` is ``up`` after ``bench:generation`` changed)."""
    p = ("--parallel", str(parallel))
    return {
        "up": ("up", "--yes", "--skip-preview", *p),
        "preview": ("preview", "--expect-no-changes", *p),
        "refresh": ("refresh", "--yes", "--skip-preview", *p),
        "update": ("up", "--yes", "--skip-preview", *p),
        "destroy": ("destroy", "--yes", "--skip-preview", *p),
    }[scenario]


class Bench:
    """One benchmark run: an emulator, a work directory and the results collected so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="ims-bench-"))
        self.emu = Emulator.start(None, *EMULATOR_ARGS, *plugin_kit.emulator_args())
        self.config, self.secrets = ims_config(self.emu.url)
        self.plugin_config, self.plugin_secrets = plugin_kit.plugin_config(self.emu.url)
        self._plugin_site: Path | None = None
        self.raw = raw_config(self.config, self.secrets)
        self.results: dict[str, Any] = {
            "schema": 1,
            "meta": {
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
                "machine": machine(),
            },
            "settings": {
                "sizes": args.sizes,
                "modes": args.modes,
                "repeat": args.repeat,
                "repeat_max_n": args.repeat_max_n,
                "checkpoints_max_n": args.checkpoints_max_n,
                "parallel": args.parallel,
                "smoke": args.smoke,
                "lean": {"sizes": args.lean_sizes, "modes": args.lean_modes, "kinds": args.lean_kinds,
                         "repeat": args.lean_repeat, "repeat_max_n": args.lean_repeat_max_n,
                         "repeat_large": args.lean_repeat_large, "first_repeat": args.lean_first_repeat,
                         "update_checkpoints_max_n": args.lean_update_checkpoints_max_n},
                "plugin": {"sizes": args.plugin_sizes, "modes": args.plugin_modes, "kinds": args.plugin_kinds,
                           "repeat": args.plugin_repeat, "repeat_max_n": args.plugin_repeat_max_n,
                           "repeat_large": args.plugin_repeat_large, "first_repeat": args.plugin_first_repeat,
                           "update_checkpoints_max_n": args.plugin_update_checkpoints_max_n},
                "concurrency": {"n": args.concurrency_n, "latency_ms": args.latency_ms,
                                "parallel": args.concurrency_parallel, "repeat": args.concurrency_repeat},
            },
            "lifecycles": [],
            "api_floor": [],
        }

    def close(self) -> None:
        """Stop the emulator and remove the work directory."""
        self.emu.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def save(self) -> None:
        """Write what is known so far (a long run that dies keeps its partial figures)."""
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, sort_keys=False) + "\n")

    # --- one lifecycle -----------------------------------------------------------------

    def project(self, kind: str, n: int, label: str, extra_env: dict[str, str]) -> PulumiProject:
        """A fresh project and stack (own backend) for ``kind`` with ``n`` resources."""
        tmp = self.work / label
        if kind in PLUGIN_ONLY_KINDS:
            return self.plugin_project(kind, n, tmp, extra_env)
        if kind == "provider":
            return PulumiProject.create(tmp, workloads.PROVIDER_PROGRAM, name="benchims",
                                        config={**self.config, "bench:n": str(n)}, secrets=self.secrets,
                                        extra_env=extra_env)
        if kind == "minimal_nostack":  # the same, without the SDK's per-resource stack trace (not supported)
            extra_env = {**extra_env, "BENCH_NO_STACK_TRACE": "1"}
        if kind in ("minimal", "minimal_nostack"):  # issue 16's floor: three inputs echoed, nothing else
            return PulumiProject.create(tmp, workloads.MINIMAL_PROGRAM, name="benchmin", config={"bench:n": str(n)},
                                        files={"minimal_noop.py": workloads.MINIMAL_MODULE}, extra_env=extra_env)
        if kind == "floor_sized":  # the floor with outputs shaped like ImageMetadata's
            extra_env = {**extra_env, "BENCH_NOOP_SHAPE": "image"}
        return PulumiProject.create(tmp, workloads.FLOOR_PROGRAM, name="benchfloor", config={"bench:n": str(n)},
                                    files={"noop.py": workloads.NOOP_MODULE}, extra_env=extra_env)

    def plugin_project(self, kind: str, n: int, tmp: Path, extra_env: dict[str, str],
                       profile_dir: Path | None = None) -> PulumiProject:
        """A fresh project of the ``ims`` plugin: a Python program on the generated SDK, or a YAML program
        (``profile_dir``: the plugin profiled, :mod:`bench.sampler`)."""
        if kind == "plugin":
            site = self._plugin_site = self._plugin_site or plugin_kit.python_sdk(self.work)
            env = {**extra_env, "PYTHONPATH": str(site)}
            if profile_dir is not None:  # the program profiled too (bench.sampler.SITECUSTOMIZE)
                hook = self.work / "program-profiler"
                hook.mkdir(exist_ok=True)
                (hook / "sitecustomize.py").write_text(sampler.SITECUSTOMIZE)
                env.update(PYTHONPATH=f"{site}{os.pathsep}{hook}", BENCH_PROGRAM_PROFILE_DIR=str(profile_dir))
            project = PulumiProject.create(tmp, workloads.PLUGIN_PROGRAM, name="benchplugin",
                                           config={**self.plugin_config, "bench:n": str(n)},
                                           secrets=self.plugin_secrets, extra_env=env)
        else:  # the project is "bench", so that its own config key `generation` is bench:generation
            project = PulumiProject.create(tmp, "", name="bench", config=self.plugin_config,
                                           secrets=self.plugin_secrets, extra_env=extra_env)
            (project.dir / "__main__.py").unlink()
            (project.dir / "Pulumi.yaml").write_text(workloads.yaml_program("bench", n))
        plugin_kit.find_plugin(project, plugin_kit.plugin_bin(self.work, profile_dir))
        return project

    def lifecycle(self, kind: str, n: int, mode: str, repeat: int, **kwargs: Any) -> dict[str, Any]:
        """One stack of ``kind`` through the scenarios (see :meth:`lifecycles`)."""
        return self.lifecycles((kind,), n, mode, repeat, **kwargs)[0]

    def lifecycles(self, kinds: tuple[str, ...], n: int, mode: str, repeat: int, *,
                   scenarios: tuple[str, ...] = SCENARIOS, parallel: int | None = None,
                   extra_env: dict[str, str] | None = None, faults: list[dict[str, Any]] | None = None,
                   profile: bool = False, tag: str = "", export: bool = False) -> list[dict[str, Any]]:
        """Fresh stacks of ``kinds`` through ``scenarios``, alternating: scenario 1 on each, then 2, ...

        Alternating command by command keeps a change of machine load from falling on one
        kind only. A failed step stops that stack's remaining steps (then it is cleaned up).
        ``export``: after ``up`` and ``update``, also ``pulumi stack export`` (bytes per entry, anatomy).
        """
        parallel = parallel or self.args.parallel
        env = {**MODES[mode], **(extra_env or {})}
        profile_dir = self.out / "profiles" if profile else None
        if profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
        stacks: list[tuple[str, str, PulumiProject, dict[str, Any]]] = []
        self.emu.reset()
        try:
            for kind in kinds:
                label = f"{kind}-n{n}-{mode}-r{repeat}{tag}"
                record: dict[str, Any] = {"kind": kind, "n": n, "mode": mode, "repeat": repeat, "parallel": parallel,
                                          "env": env, "ok": True, "scenarios": {}}
                if tag:
                    record["tag"] = tag
                stacks.append((kind, label, self.project(kind, n, label, env), record))
            for scenario in scenarios:
                for kind, label, project, record in stacks:
                    if record["ok"]:
                        self._step(kind, label, project, record, scenario, n, parallel, faults, profile_dir,
                                   export)
        finally:
            for _kind, label, project, record in stacks:
                if not record["ok"] or scenarios[-1] != "destroy":
                    self._cleanup(project)
                if not self.args.keep:
                    shutil.rmtree(self.work / label, ignore_errors=True)
            self.emu.reset()
        return [record for *_, record in stacks]

    def _step(self, kind: str, label: str, project: PulumiProject, record: dict[str, Any], scenario: str, n: int,
              parallel: int, faults: list[dict[str, Any]] | None, profile_dir: Path | None,
              export: bool = False) -> None:
        if scenario == "update":
            project.run("config", "set", "bench:generation", "2")
        if faults and scenario == "up":
            self.emu.set_faults(faults)
        self.emu.reset_stats()
        emulator_cpu = self._emulator_cpu()
        result = run_cli(project, *scenario_args(scenario, parallel), profile_dir=profile_dir,
                         label=f"{label}-{scenario}")
        result.cpu["emulator"] = round(self._emulator_cpu() - emulator_cpu, 2)
        if faults:
            self.emu.clear_faults()
        entry = result.as_dict()
        if kind in API_KINDS:
            entry["requests"] = self.emu.stats()["requests"]
        if scenario in ("up", "update"):
            entry["state"] = state_size(project, n)
            if export and result.returncode == 0:
                entry["export"] = lean.export_state(project, n, sample=scenario == "up" and record["repeat"] == 0)
        record["scenarios"][scenario] = entry
        log(f"{label} {scenario}: {result.seconds:.2f}s rc={result.returncode} "
            f"provider-rss={result.peak_rss['provider'] / 2**20:.0f}MB"
            + (f" requests={entry['requests']}" if kind in API_KINDS else ""))
        if result.returncode != 0:
            record["ok"] = False
            log(f"{label} {scenario} FAILED:\n{result.output_tail[-2500:]}")

    def _emulator_cpu(self) -> float:
        """CPU seconds the emulator process has used so far."""
        assert self.emu.process is not None
        times = psutil.Process(self.emu.process.pid).cpu_times()
        return float(times.user + times.system)

    def _cleanup(self, project: PulumiProject) -> None:
        self.emu.clear_faults()
        result: CommandResult = run_cli(project, *scenario_args("destroy", 32))
        if result.returncode != 0:
            log(f"cleanup destroy failed:\n{result.output_tail[-1500:]}")

    # --- the parts of a run ------------------------------------------------------------

    def sizes(self) -> None:
        """Goals 1, 2, 4, 5: every scenario at every size, provider and floor alternating command by command."""
        for n in self.args.sizes:
            repeats = self.args.repeat if n <= self.args.repeat_max_n else 1
            modes = [m for m in self.args.modes
                     if m != "checkpoints" or not self.args.checkpoints_max_n or n <= self.args.checkpoints_max_n]
            for repeat in range(repeats):
                for mode in modes:
                    self.results["lifecycles"] += self.lifecycles(KINDS, n, mode, repeat)
                    self.save()
                log(f"api floor n={n}")
                self.results["api_floor"].append(
                    {**api_floor(self.emu, self.raw, n, self.args.parallel), "repeat": repeat})
                self.save()

    def concurrency(self) -> None:
        """Goal 3: ``up`` of N images with injected latency at each --parallel value.

        Per --parallel and repeat: the engine floor, the provider without latency, with latency
        on ``POST /v2/images`` only and with latency on every request; at the widest
        --parallel also with the SDK's 4-thread provider pool. Interleaved, so that a change of
        machine load hits all of them alike.
        """
        a = self.args
        n, latency = a.concurrency_n, a.latency_ms
        post_only = [{"kind": "latency", "ms": latency, "jitter_ms": 0, "method": "POST", "path": "/v2/images"}]
        every = [{"kind": "latency", "ms": latency, "jitter_ms": 0}]
        widest = max(a.concurrency_parallel)
        runs: list[dict[str, Any]] = self.results.setdefault("concurrency_runs", [])
        for repeat in range(a.concurrency_repeat):
            for parallel in a.concurrency_parallel:
                variants: list[tuple[str, str, list[dict[str, Any]] | None, dict[str, str] | None]] = [
                    ("floor", "", None, None), ("provider", "-post", post_only, None)]
                if a.concurrency_variants:
                    variants += [("provider", "-none", None, None), ("provider", "-every", every, None)]
                    if parallel == widest:
                        variants.append(("provider", "-post-sdk4", post_only, {"PULUMI_DYNAMIC_PROVIDER_THREADS": "4"}))
                for kind, suffix, faults, env in variants:
                    runs.append(self.lifecycle(kind, n, "checkpoints", repeat, scenarios=("up", "destroy"),
                                               parallel=parallel, faults=faults, extra_env=env,
                                               tag=f"-conc-p{parallel}{suffix}"))
                    self.save()

    def shape(self) -> None:
        """Provider, floor and a floor whose state is shaped like the provider's, alternating.

        Tells how much of the provider's overhead with checkpoints is only its larger state:
        another repeat at ``--shape-n`` with a third kind, ``floor_sized``.
        """
        n = self.args.shape_n
        log(f"shape n={n}")
        self.results["lifecycles"] += self.lifecycles(("provider", "floor", "floor_sized"), n, "checkpoints",
                                                      self.args.shape_repeat)
        self.save()

    def lean(self) -> None:
        """Issue 16: ImageMetadata against the minimal no-op resource and the two older floors.

        See :meth:`versus_minimal`; then the properties each kind registers per resource (SDK mocks).
        """
        a = self.args
        self.versus_minimal("lean_runs", "lean", a.lean_kinds, a.lean_sizes, a.lean_modes, a.lean_repeat,
                            a.lean_repeat_max_n, a.lean_repeat_large, a.lean_first_repeat,
                            a.lean_update_checkpoints_max_n)
        log("lean: properties registered per resource (SDK mocks)")
        self.results["lean_program_side"] = lean.program_side()
        self.save()

    def plugin(self) -> None:
        """Issue 25: the ``ims`` plugin (Python SDK, YAML), the dynamic provider and the minimal no-op."""
        a = self.args
        self.versus_minimal("plugin_runs", "plugin", a.plugin_kinds, a.plugin_sizes, a.plugin_modes, a.plugin_repeat,
                            a.plugin_repeat_max_n, a.plugin_repeat_large, a.plugin_first_repeat,
                            a.plugin_update_checkpoints_max_n)

    def plugin_profile(self) -> None:
        """The plugin process and the program under cProfile in every thread (:mod:`bench.sampler`), one
        stack of the Python SDK kind at ``--plugin-profile-n`` through the four commands, without
        checkpoints (the plugin does the same work either way; checkpoints only lengthen the run). Not
        timed: profiling slows both. ``pstats`` files in ``OUT/profiles/plugin/COMMAND/``
        (``plugin-PID.prof``, ``program-PID.prof``), summaries in the JSON."""
        n, parallel = self.args.plugin_profile_n, self.args.parallel
        log(f"plugin profile n={n}")
        root = self.out / "profiles" / "plugin"
        shutil.rmtree(root, ignore_errors=True)
        current = root / "current"
        project = self.plugin_project("plugin", n, self.work / "plugin-profile", dict(MODES["skip_checkpoints"]),
                                      profile_dir=current)
        summary: dict[str, Any] = {"n": n, "commands": {}}
        self.emu.reset()
        try:
            for scenario in LEAN_SCENARIOS:
                if scenario == "update":
                    project.run("config", "set", "bench:generation", "2")
                result = run_cli(project, *scenario_args(scenario, parallel))
                time.sleep(0.5)  # the plugin writes its last samples as it exits
                folder = root / scenario
                current.rename(folder)
                current.mkdir()
                summary["commands"][scenario] = {
                    "seconds": round(result.seconds, 2), "returncode": result.returncode, "cpu_seconds": result.cpu,
                    "profiles": {f.name: sampler.summarize(f) for f in sorted(folder.glob("*.prof"))}}
                log(f"plugin profile {scenario}: {result.seconds:.2f}s rc={result.returncode}")
                if result.returncode != 0:
                    log(result.output_tail[-2500:])
                    self._cleanup(project)
                    break
        finally:
            self.emu.reset()
        self.results["plugin_profile"] = summary
        self.save()

    def versus_minimal(self, key: str, part: str, kinds: list[str], sizes: list[int], modes: list[str],
                       repeat: int, repeat_max_n: int, repeat_large: int, first_repeat: int,
                       update_checkpoints_max_n: int) -> None:
        """Kinds against the minimal no-op, into ``results[key]``.

        Per N of ``sizes``, repeat and mode, one fresh stack per kind, through ``up``, ``refresh``, the
        in-place change and ``destroy``, command by command across the kinds (their order reversed on
        odd repeats, so no kind always runs first). With checkpoints, sizes above
        ``update_checkpoints_max_n`` leave out the in-place change (the longest command). After ``up``
        and the in-place change the stack is exported (bytes per entry).
        """
        runs: list[dict[str, Any]] = self.results.setdefault(key, [])
        for n in sizes:
            repeats = repeat if n <= repeat_max_n else repeat_large
            for r in range(first_repeat, first_repeat + repeats):
                for mode in modes:
                    scenarios: tuple[str, ...] = LEAN_SCENARIOS
                    if mode == "checkpoints" and n > update_checkpoints_max_n:
                        scenarios = tuple(s for s in LEAN_SCENARIOS if s != "update")
                    order = tuple(kinds if r % 2 == 0 else reversed(kinds))
                    log(f"{part} n={n} {mode} repeat {r}: {', '.join(order)}; {', '.join(scenarios)}")
                    runs += self.lifecycles(order, n, mode, r, scenarios=scenarios, tag=f"-{part}", export=True)
                    self.save()

    def calls(self) -> None:
        """The provider's methods in-process under cProfile, at the profile size."""
        n = self.args.profile_n
        log(f"provider calls in-process n={n}")
        self.results["provider_calls"] = provider_calls(self.emu, self.raw, n)
        self.save()

    def profile(self) -> None:
        """py-spy on the provider and program processes during one lifecycle (not timed)."""
        n = self.args.profile_n
        log(f"py-spy profile n={n}")
        # Without checkpoints: the provider and the program do the same work either way, and the
        # engine's checkpoint writes (Go, invisible to py-spy) would only make the run longer.
        record = self.lifecycle("provider", n, "skip_checkpoints", 0, profile=True, tag="-pyspy")
        self.results["pyspy"] = {"n": n, "record": record,
                                 "summary": report.summarize_pyspy(self.out / "profiles")}
        self.save()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10,100,1000,3000", help="comma-separated N (default 10,100,1000,3000)")
    p.add_argument("--smoke", action="store_true",
                   help="a handful of resources, every part once: checks that the benchmark works (CI)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results", help="results directory")
    p.add_argument("--repeat", type=int, default=3, help="lifecycles per size and mode (default 3); figures are medians")
    p.add_argument("--repeat-max-n", type=int, default=100, help="sizes above this run once (default 100)")
    p.add_argument("--checkpoints-max-n", type=int, default=1000,
                   help="sizes above this run only with PULUMI_SKIP_CHECKPOINTS=true (default 1000; 0: no limit; "
                        "with checkpoints N = 3,000 takes hours on 2 cores)")
    p.add_argument("--modes", default="checkpoints,skip_checkpoints",
                   help="checkpoints (CLI default) and/or skip_checkpoints (PULUMI_SKIP_CHECKPOINTS=true)")
    p.add_argument("--parallel", type=int, default=8, help="pulumi --parallel and API-floor threads (default 8, "
                   "the CLI's own default on 2 cores)")
    p.add_argument("--concurrency-n", type=int, default=256)
    p.add_argument("--latency-ms", type=int, default=500)
    p.add_argument("--concurrency-parallel", default="32,4")
    p.add_argument("--concurrency-repeat", type=int, default=2, help="repeats of the concurrency runs (medians)")
    p.add_argument("--profile-n", type=int, default=1000, help="N of the in-process calls and py-spy runs")
    p.add_argument("--profile", action="store_true", help="also run one lifecycle under py-spy (not timed)")
    p.add_argument("--skip", default="", help=f"parts to leave out, of {','.join(PARTS)}")
    p.add_argument("--only", default="", help=f"run only these parts, of {','.join(PARTS)}; e.g. --only lean: "
                   "issue 16's comparison alone, --only plugin,plugin_profile: issue 25's")
    p.add_argument("--lean-sizes", default="100,1000", help="issue 16: N of the lean comparison (default 100,1000)")
    p.add_argument("--lean-modes", default="checkpoints,skip_checkpoints", help="issue 16: checkpoint modes")
    p.add_argument("--lean-kinds", default=",".join(LEAN_KINDS),
                   help="issue 16: kinds compared (provider = ImageMetadata, minimal = the minimal no-op, "
                        "floor = the 9-property floor, floor_sized = the state-shaped floor; also "
                        "minimal_nostack: the minimal no-op without the SDK's per-resource stack trace)")
    p.add_argument("--lean-repeat", type=int, default=3, help="issue 16: repeats for N <= --lean-repeat-max-n "
                   "(figures: min of the repeats)")
    p.add_argument("--lean-repeat-max-n", type=int, default=100)
    p.add_argument("--lean-repeat-large", type=int, default=1, help="issue 16: repeats above --lean-repeat-max-n")
    p.add_argument("--lean-first-repeat", type=int, default=0,
                   help="issue 16: index of the first repeat (more repeats in another run, merged with --merge)")
    p.add_argument("--lean-update-checkpoints-max-n", type=int, default=100,
                   help="issue 16: with checkpoints, sizes above this leave out the in-place change "
                        "(at N = 1,000 it takes about 4 min per kind); 0: no limit")
    p.add_argument("--plugin-sizes", default="100,1000", help="issue 25: N of the plugin comparison (default 100,1000)")
    p.add_argument("--plugin-modes", default="checkpoints,skip_checkpoints", help="issue 25: checkpoint modes")
    p.add_argument("--plugin-kinds", default=",".join(PLUGIN_KINDS),
                   help="issue 25: kinds compared (plugin = the ims plugin from a Python program on the generated "
                        "SDK, plugin_yaml = the same from a YAML program, provider = the dynamic provider, "
                        "minimal = the minimal no-op)")
    p.add_argument("--plugin-repeat", type=int, default=3, help="issue 25: repeats for N <= --plugin-repeat-max-n")
    p.add_argument("--plugin-repeat-max-n", type=int, default=100)
    p.add_argument("--plugin-repeat-large", type=int, default=1, help="issue 25: repeats above --plugin-repeat-max-n")
    p.add_argument("--plugin-first-repeat", type=int, default=0,
                   help="issue 25: index of the first repeat (more repeats in another run, merged with --merge)")
    p.add_argument("--plugin-update-checkpoints-max-n", type=int, default=100,
                   help="issue 25: with checkpoints, sizes above this leave out the in-place change; 0: no limit")
    p.add_argument("--plugin-profile-n", type=int, default=1000,
                   help="issue 25: N of the plugin's profiled lifecycle (part plugin_profile, not timed)")
    p.add_argument("--shape-n", type=int, default=1000,
                   help="N of the provider / floor / state-shaped floor comparison (with checkpoints)")
    p.add_argument("--shape-repeat", type=int, default=1, help="repeat index recorded for the shape part")
    p.add_argument("--chart", type=Path, help="also write the chart here (e.g. bench/chart.png)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (projects and state)")
    p.add_argument("--report-only", action="store_true",
                   help="only re-analyse OUT/results.json (e.g. of an interrupted run) and redraw the chart")
    p.add_argument("--lean-before", type=Path,
                   help="issue 16: a results.json of an earlier run (e.g. bench/figures/provider.json): also print "
                        "its lean figures and this run's side by side")
    p.add_argument("--merge", type=Path, action="append", default=[],
                   help="with --report-only: add the raw records of DIR/results.json (another run's parts)")
    args = p.parse_args(argv)
    args.concurrency_variants = True
    if args.smoke:
        args.sizes, args.repeat, args.modes, args.concurrency_repeat = "3", 1, "checkpoints", 1
        args.concurrency_n, args.latency_ms, args.concurrency_parallel = 4, 300, "4,1"
        args.concurrency_variants = False
        args.profile_n = args.shape_n = args.plugin_profile_n = 5
        args.lean_sizes, args.lean_modes, args.lean_repeat, args.lean_repeat_large = "3", "checkpoints", 1, 1
        args.plugin_sizes, args.plugin_modes, args.plugin_repeat, args.plugin_repeat_large = "3", "checkpoints", 1, 1
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s]
    args.modes = [m for m in str(args.modes).split(",") if m]
    args.concurrency_parallel = [int(s) for s in str(args.concurrency_parallel).split(",") if s]
    args.skip = {s for s in args.skip.split(",") if s}
    only = {s for s in args.only.split(",") if s}
    if only:
        if only - set(PARTS):
            p.error(f"unknown part(s) {sorted(only - set(PARTS))}; choose from {list(PARTS)}")
        args.skip |= set(PARTS) - only
        args.profile = "profile" in only
    args.lean_sizes = [int(s) for s in str(args.lean_sizes).split(",") if s]
    args.lean_modes = [m for m in str(args.lean_modes).split(",") if m]
    args.lean_kinds = [k for k in str(args.lean_kinds).split(",") if k]
    if not args.lean_update_checkpoints_max_n:
        args.lean_update_checkpoints_max_n = max(args.lean_sizes, default=0)
    args.plugin_sizes = [int(s) for s in str(args.plugin_sizes).split(",") if s]
    args.plugin_modes = [m for m in str(args.plugin_modes).split(",") if m]
    args.plugin_kinds = [k for k in str(args.plugin_kinds).split(",") if k]
    if not args.plugin_update_checkpoints_max_n:
        args.plugin_update_checkpoints_max_n = max(args.plugin_sizes, default=0)
    if set(args.plugin_modes) - set(MODES):
        p.error(f"unknown plugin mode(s) {sorted(set(args.plugin_modes) - set(MODES))}; choose from {sorted(MODES)}")
    if set(args.plugin_kinds) - set(PLUGIN_KINDS) or "minimal" not in args.plugin_kinds:
        p.error(f"--plugin-kinds: choose from {list(PLUGIN_KINDS)}, minimal included")
    if set(args.lean_modes) - set(MODES):
        p.error(f"unknown lean mode(s) {sorted(set(args.lean_modes) - set(MODES))}; choose from {sorted(MODES)}")
    if set(args.lean_kinds) - set(LEAN_KINDS + LEAN_EXTRA_KINDS) or "minimal" not in args.lean_kinds:
        p.error(f"--lean-kinds: choose from {list(LEAN_KINDS + LEAN_EXTRA_KINDS)}, minimal included")
    unknown = set(args.modes) - set(MODES)
    if unknown:
        p.error(f"unknown mode(s) {sorted(unknown)}; choose from {sorted(MODES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every command succeeded (goals missed do not fail it)."""
    args = parse_args(argv)
    results = json.loads((args.out / "results.json").read_text()) if args.report_only else measure(args)
    for other in args.merge:
        merge(results, json.loads((other / "results.json").read_text()), str(other))
    results.update(report.analyse(results))
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(report.table(results))
    if args.lean_before:
        before = json.loads(args.lean_before.read_text())
        print("\n".join(report.lean_compare(report.analyse_lean(before), results.get("lean") or {})))
    charts = [args.out / "chart.png", *([args.chart] if args.chart else [])]
    for path in charts:
        report.chart(results, path)
    log(f"wrote {args.out / 'results.json'} and {', '.join(str(c) for c in charts)}")
    failed = [r for r in results["lifecycles"] + results.get("concurrency_runs", []) + results.get("lean_runs", [])
              + results.get("plugin_runs", []) if not r["ok"]]
    return 1 if failed else 0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the parts asked for; the raw records (saved after every step)."""
    started = time.monotonic()
    bench = Bench(args)
    try:
        if "concurrency" not in args.skip:
            bench.concurrency()
        if "calls" not in args.skip:
            bench.calls()
        if "sizes" not in args.skip:
            bench.sizes()
        if "shape" not in args.skip:
            bench.shape()
        if "lean" not in args.skip:
            bench.lean()
        if "plugin" not in args.skip:
            bench.plugin()
        if "plugin_profile" not in args.skip:
            bench.plugin_profile()
        if args.profile and "profile" not in args.skip:
            bench.profile()
    finally:
        bench.results["meta"]["seconds"] = round(time.monotonic() - started, 1)
        bench.results["meta"]["load_at_end"] = list(os.getloadavg())
        bench.close()
        bench.save()
    return bench.results


def merge(results: dict[str, Any], other: dict[str, Any], source: str) -> None:
    """Put another run's raw records into ``results``, replacing what they measure again.

    Lifecycles replace those of the same kind, N, mode and repeat; API floors those of the same N; a
    concurrency part replaces this run's. So a part can be re-run alone (say, N = 1,000 on a
    quieter machine, or the concurrency runs with repeats) and merged with ``--merge``.
    """
    lifecycles = other.get("lifecycles") or []
    again = {(r["kind"], r["n"], r["mode"], r["repeat"]) for r in lifecycles}
    results["lifecycles"] = [r for r in results.get("lifecycles", [])
                             if (r["kind"], r["n"], r["mode"], r["repeat"]) not in again]
    results["lifecycles"] += [{**r, "source": source} for r in lifecycles]
    floors = other.get("api_floor") or []
    sizes = {r["n"] for r in floors}
    results["api_floor"] = [r for r in results.get("api_floor", []) if r["n"] not in sizes]
    results["api_floor"] += [{**r, "source": source} for r in floors]
    if other.get("concurrency_runs"):
        results["concurrency_runs"] = [{**r, "source": source} for r in other["concurrency_runs"]]
        results["settings"]["concurrency"] = other["settings"]["concurrency"]
    for key in ("lean_runs", "plugin_runs"):
        runs = other.get(key) or []
        again_runs = {(r["kind"], r["n"], r["mode"], r["repeat"]) for r in runs}
        results[key] = [r for r in results.get(key, []) if (r["kind"], r["n"], r["mode"], r["repeat"]) not in again_runs]
        results[key] += [{**r, "source": source} for r in runs]
    for key in ("provider_calls", "pyspy", "lean_program_side", "plugin_profile"):
        if key in other:
            results[key] = other[key]
    merged = [m for m in results["meta"].get("merged", []) if m["source"] != source]
    merged.append({"source": source, "command": other["meta"]["command"], "started": other["meta"]["started"],
                   "seconds": other["meta"].get("seconds"), "load_at_start": other["meta"]["machine"]["load_at_start"],
                   "load_at_end": other["meta"].get("load_at_end")})
    results["meta"]["merged"] = merged


def state_size(project: PulumiProject, n: int) -> dict[str, Any]:
    """Size of the stack's state file, per image, and of one compact resource entry."""
    path = project.root / "state" / ".pulumi" / "stacks" / project.dir.name / f"{project.stack}.json"
    if not path.exists():
        return {}
    data = path.read_bytes()
    resources = json.loads(data).get("checkpoint", {}).get("latest", {}).get("resources") or []
    ours = [r for r in resources if r.get("type", "").startswith(TYPE_PREFIX)]
    compact = [len(json.dumps(r, separators=(",", ":"))) for r in ours]
    return {
        "file_bytes": len(data),
        "resources": len(ours),
        "file_bytes_per_image": round(len(data) / max(1, n)),
        "compact_bytes_per_image": round(statistics.mean(compact)) if compact else 0,
        "provider_field_bytes": len(str((ours[0].get("inputs") or {}).get("__provider", ""))) if ours else 0,
    }


if __name__ == "__main__":
    sys.exit(main())
