"""The peer benchmark: OpenTofu + terraform-provider-openstack against this provider, on the same real Glance.

Run from the repository root (``make setup`` first; Go >= 1.24 on PATH for the peer's first build)::

    .venv/bin/python -m bench.peer.run                    # N = 100, 300, 1000, every variant of ours (hours on 2 cores)
    .venv/bin/python -m bench.peer.run --quick            # N = 10: a smoke run, a few minutes once built
    .venv/bin/python -m bench.peer.run --sizes 100,300 --ours dynamic,dynamic-skip --out /tmp/peer

For every N, every side creates N images of the same 1 KiB file with parallelism 10, then plans/previews
with and without refresh, then destroys; the sides take turns command by command (peer, ours, ours...), so
that a change in machine load falls on all of them:

=================  ==============================================  ===============================================
phase              peer (tofu + TPO)                               ours (pulumi + the provider)
=================  ==============================================  ===============================================
``apply``          ``tofu apply -auto-approve -parallelism=10``    ``pulumi up --yes --skip-preview --parallel 10``
``plan_refresh``   ``tofu plan -detailed-exitcode`` (refreshes)    ``pulumi preview --refresh --expect-no-changes``
``plan``           ``tofu plan -refresh=false -detailed-exitcode``  ``pulumi preview --expect-no-changes``
``destroy``        ``tofu destroy -auto-approve`` (refreshes)      ``pulumi destroy --yes --skip-preview`` (does not)
=================  ==============================================  ===============================================

Ours comes in variants (``--ours``, default all of :data:`OURS`): the dynamic provider from a Python program,
or the ``ims`` plugin (``pulumi-resource-ims``) from a YAML program, each with the engine's default
checkpoints (the whole state written at every step) or with ``PULUMI_SKIP_CHECKPOINTS=true`` (written once,
at the end; docs/large-stacks.md says when that is safe).

Each command: wall time, client CPU (user + sys of the CLI and every process under it: plugins, program,
provider), the requests Glance and Keystone logged meanwhile, and the servers' own CPU. After ``apply`` the
benchmark checks that Glance holds exactly N active images of each side, after ``destroy`` none.

The servers (``scripts/peer/servers.py``): Glance 33 on PostgreSQL (SQLite answers "database is locked" to
parallel writes) behind keystonemiddleware, and Keystone 30 (SQLite, fernet) whose catalog points the peer at
that Glance. The peer's binaries come from ``scripts/peer/build-peer.sh`` (the Go module proxy, cached in
``~/.cache/ims-pulumi/peer``). Every side logs in as the same Keystone user: the peer with its password at
every command (as TPO does), ours with a token issued at the start (``ims:authToken``: the provider takes one).

Results: a table on stdout and ``peer-results.json`` in ``--out`` (default ``bench/peer/results/``,
git-ignored). A figure, never an assertion: the exit code is non-zero only when a command failed or a
check of the images' count did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `python bench/peer/run.py` as well as `python -m bench.peer.run`
    sys.path.insert(0, str(REPO_ROOT))

from bench.peer import programs  # noqa: E402
from bench.peer.measure import AccessLog, pulumi_role, run_measured, tofu_role  # noqa: E402
from harness.pulumi_cli import PULUMI, PulumiProject  # noqa: E402
from scripts.peer.servers import Credentials, PeerServers, http_json  # noqa: E402

BUILD_SCRIPT = REPO_ROOT / "scripts" / "peer" / "build-peer.sh"
DEFAULT_SIZES = (100, 300, 1000)
PHASES = ("apply", "plan_refresh", "plan", "destroy")
PHASE_LABELS = {
    "apply": ("tofu apply", "pulumi up"),
    "plan_refresh": ("tofu plan", "pulumi preview --refresh"),
    "plan": ("tofu plan -refresh=false", "pulumi preview"),
    "destroy": ("tofu destroy", "pulumi destroy"),
}
PEER = "tofu"
SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}


@dataclass(frozen=True)
class Variant:
    """One way of running our side: which provider, from which program, with which engine settings."""

    program: str  # "dynamic" (Python program, dynamic provider) or "plugin-yaml" (YAML program, ims plugin)
    env: dict[str, str]
    label: str


#: Our variants, by the name ``--ours`` takes; each is a side of its own (own stack, own image names).
OURS = {
    "dynamic": Variant("dynamic", {}, "dynamic provider, Python program"),
    "dynamic-skip": Variant("dynamic", SKIP_CHECKPOINTS, "dynamic provider, Python program, skip checkpoints"),
    "plugin-yaml": Variant("plugin-yaml", {}, "ims plugin, YAML program"),
    "plugin-yaml-skip": Variant("plugin-yaml", SKIP_CHECKPOINTS, "ims plugin, YAML program, skip checkpoints"),
}
IMAGE_BYTES = random.Random(27).randbytes(1024)  # the same 1 KiB on both sides and in every run


def log(message: str) -> None:
    """Progress on stderr (stdout is for the table)."""
    print(f"[peer {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def build_peer() -> dict[str, Path]:
    """The tofu and TPO binaries (built once, then cached): ``{"tofu": path, "tpo": path}``."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT), "all"], stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{BUILD_SCRIPT} failed (its messages are above)")
    return {name: Path(path) for name, path in (line.split(" ", 1) for line in done.stdout.splitlines() if line)}


def version_of(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull})
    return (done.stdout.strip().splitlines() or ["?"])[0]


@dataclass
class Side:
    """One side's working directory, environment and commands for one N."""

    name: str
    dir: Path
    env: dict[str, str]
    commands: dict[str, list[str]]
    role_of: Any
    expect_rc: dict[str, int] = field(default_factory=dict)


def tofu_side(root: Path, n: int, tofu: Path, tpo: Path, image: Path, creds: Credentials, parallel: int) -> Side:
    """The peer: ``main.tf`` of N images, TPO from its build directory (``dev_overrides``: no ``tofu init``)."""
    work = root / "tofu"
    work.mkdir(parents=True)
    (work / "main.tf").write_text(programs.tofu_main(n, image))
    (work / "cli.tfrc").write_text(programs.tofu_cli_config(tpo.parent))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TF_"))}
    env.update({
        "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"),  # the machine's may name a file that does not exist
        "TF_IN_AUTOMATION": "1",
        "OS_AUTH_URL": creds.auth_url, "OS_USERNAME": creds.user, "OS_PASSWORD": creds.password,
        "OS_PROJECT_NAME": creds.project, "OS_USER_DOMAIN_NAME": creds.domain,
        "OS_PROJECT_DOMAIN_NAME": creds.domain, "OS_REGION_NAME": creds.region,
    })
    t, p, common = str(tofu), f"-parallelism={parallel}", ("-input=false", "-no-color")
    return Side("tofu", work, env, {
        "apply": [t, "apply", "-auto-approve", p, *common],
        "plan_refresh": [t, "plan", "-detailed-exitcode", p, *common],
        "plan": [t, "plan", "-refresh=false", "-detailed-exitcode", p, *common],
        "destroy": [t, "destroy", "-auto-approve", p, *common],
    }, tofu_role)


def pulumi_side(root: Path, name: str, variant: Variant, n: int, image: Path, glance_url: str, token: str,
                project_id: str, parallel: int, extra_env: dict[str, str]) -> Side:
    """One of ours through the harness (file backend, throwaway PULUMI_HOME): N ``ImageMetadata``.

    Each variant has its own stack (named after it): the create tokens (from project, stack and resource
    name) must differ between variants, or one variant's creates would adopt another's images.
    """
    config = {"ims:server": "glance", "ims:endpoint": glance_url, "ims:projectId": project_id}
    if variant.program == "dynamic":
        config.update({"bench:n": str(n), "bench:file": str(image), "bench:prefix": programs.prefix(name)})
    project = PulumiProject.create(
        root / name, programs.PULUMI_PROGRAM if variant.program == "dynamic" else "", name="peer", stack=name,
        config=config, secrets={"ims:authToken": token},
        extra_env={"IMS_PULUMI_DIGEST_CACHE": str(root / name / "digests"), **variant.env, **extra_env})
    if variant.program == "plugin-yaml":
        # The plugin as a user's CLI finds it after `pip install`: `pulumi-resource-ims` on PATH (the
        # harness's PATH starts with .venv/bin), ambient plugins allowed. The YAML host is beside `pulumi`.
        (project.dir / "__main__.py").unlink()
        (project.dir / "Pulumi.yaml").write_text(programs.yaml_program(n, image, programs.prefix(name), "peer"))
        project.env.pop("PULUMI_IGNORE_AMBIENT_PLUGINS", None)
    cli, p = str(PULUMI), ("--parallel", str(parallel))
    tail = ("--non-interactive", "--color", "never", "--stack", project.stack)
    return Side(name, project.dir, project.env, {
        "apply": [cli, "up", "--yes", "--skip-preview", *p, *tail],
        "plan_refresh": [cli, "preview", "--refresh", "--expect-no-changes", *p, *tail],
        "plan": [cli, "preview", "--expect-no-changes", *p, *tail],
        "destroy": [cli, "destroy", "--yes", "--skip-preview", *p, *tail],
    }, pulumi_role)


def glance_images(glance_url: str, token: str, prefix: str) -> dict[str, str]:
    """id -> status of the bench project's images named ``prefix`` + digits (``peer-dynamic-00001``, not
    ``peer-dynamic-skip-00001``: one variant's prefix may begin another's)."""
    out: dict[str, str] = {}
    url: str | None = f"{glance_url}/v2/images?limit=1000"
    while url:
        status, _, page = http_json("GET", url, token=token)
        if status != 200:
            raise RuntimeError(f"GET {url} answered {status}: {page}")
        out.update({i["id"]: i["status"] for i in page.get("images", [])
                    if str(i.get("name", "")).startswith(prefix) and str(i["name"])[len(prefix):].isdigit()})
        nxt = page.get("next")
        url = urllib.parse.urljoin(glance_url, nxt) if nxt else None
    return out


def check_images(glance_url: str, token: str, prefix: str, want: int) -> str | None:
    """None when Glance holds exactly ``want`` images named ``prefix`` + digits, all active; else what is wrong."""
    images = glance_images(glance_url, token, prefix)
    statuses = sorted(set(images.values()))
    if len(images) != want or (want and statuses != ["active"]):
        return f"{len(images)} images named {prefix}* (statuses {statuses}), expected {want} active"
    return None


def run_size(n: int, args: argparse.Namespace, servers: PeerServers, binaries: dict[str, Path], image: Path,
             token: str, project_id: str, root: Path) -> dict[str, Any]:
    """Every phase of both sides for one N; the JSON of that N."""
    info = servers.info()
    assert servers.bench is not None and servers.glance is not None and servers.keystone is not None
    work = root / f"n{n}"
    extra_env = dict(kv.split("=", 1) for kv in args.pulumi_env)
    sides = {PEER: tofu_side(work, n, binaries["tofu"], binaries["tpo"], image, servers.bench, args.parallel)}
    sides.update({name: pulumi_side(work, name, OURS[name], n, image, info.glance_url, token, project_id,
                                    args.parallel, extra_env) for name in args.ours})
    prefixes = {PEER: programs.TOFU_PREFIX, **{name: programs.prefix(name) for name in args.ours}}
    order = [PEER, *args.ours] if args.order == "tofu-first" else [*args.ours, PEER]
    logs = {"glance": AccessLog(Path(info.glance_access_log)), "keystone": AccessLog(Path(info.keystone_access_log))}
    pg = servers.pg.pid_and_port()
    server_pids = {"glance": [servers.glance.process.pid], "keystone": [servers.keystone.process.pid],
                   "postgres": [pg[0]] if pg else []}
    result: dict[str, Any] = {"n": n, "phases": {}, "checks": []}
    for phase in PHASES:
        result["phases"][phase] = {}
        for side_name in order:
            side = sides[side_name]
            log(f"N={n} {side_name} {phase}: {Path(side.commands[phase][0]).name} "
                f"{' '.join(side.commands[phase][1:])}")
            measured = run_measured(side.commands[phase], cwd=side.dir, env=side.env, role_of=side.role_of,
                                    logs=logs, servers=server_pids)
            result["phases"][phase][side_name] = measured.as_dict()
            log(f"  {measured.seconds:.1f} s, client CPU {measured.cpu:.1f} s, "
                f"{measured.requests['glance']['total']} Glance requests, rc {measured.returncode}")
            if measured.returncode != 0:
                log(f"  FAILED (exit {measured.returncode}):\n{measured.output_tail[-3000:]}")
                result["checks"].append(f"{side_name} {phase} exited {measured.returncode}")
            if phase in ("apply", "destroy"):
                problem = check_images(info.glance_url, token, prefixes[side_name], n if phase == "apply" else 0)
                if problem:
                    log(f"  CHECK FAILED after {side_name} {phase}: {problem}")
                    result["checks"].append(f"after {side_name} {phase}: {problem}")
    return result


def fmt_requests(measured: dict[str, Any]) -> str:
    """``POST img 100, PUT img/{id}/file 100, ...`` (Glance), errors appended."""
    glance = measured["requests"]["glance"]
    parts = [f"{count} {key.replace('/v2/images', 'img')}" for key, count in glance["by_route"].items()]
    errors = glance["errors"]
    return ", ".join(parts) + (f"; errors: {errors}" if errors else "")


def flag(measured: dict[str, Any]) -> str:
    """`` (failed)`` after the figure of a command that failed."""
    return "" if measured["returncode"] == 0 else " (failed)"


#: The processes of each side's client CPU, in the table's order (``cpu_by_role`` of the JSON).
ROLES = {PEER: ("tofu", "provider"), "ours": ("cli", "language_host", "program", "provider")}


def cpu_split(side: str, measured: dict[str, Any]) -> str:
    """``61.2 · 0.4 · 20.1 · 9.8``: the sampled CPU seconds of each process role (see :data:`ROLES`)."""
    roles = ROLES[PEER if side == PEER else "ours"]
    by_role = measured.get("cpu_by_role", {})
    return " · ".join(f"{by_role.get(role, 0.0):.1f}" for role in roles)


def table(results: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table (one row per N, phase and side), then the requests per command."""
    lines = ["| N | phase | side | wall | client CPU | ÷ peer's CPU | CPU by process (s) | Glance requests |",
             "|---|---|---|---|---|---|---|---|"]
    detail = []
    for res in results:
        for phase in PHASES:
            sides = res["phases"].get(phase, {})
            peer = sides.get(PEER)
            for side, measured in sorted(sides.items(), key=lambda kv: (kv[0] != PEER, list(OURS).index(kv[0])
                                                                        if kv[0] in OURS else 0)):
                label = PHASE_LABELS[phase][0 if side == PEER else 1]
                ratio = (f"{measured['cpu_seconds'] / peer['cpu_seconds']:.1f}x"
                         if peer and peer["cpu_seconds"] and side != PEER else "")
                roles = "tofu · TPO" if side == PEER else "CLI · host · program · provider"
                lines.append(f"| {res['n']} | `{label}` | {side} | {measured['seconds']:.1f} s{flag(measured)} "
                             f"| {measured['cpu_seconds']:.1f} s | {ratio} "
                             f"| {roles}: {cpu_split(side, measured)} | {measured['requests']['glance']['total']} |")
                load = measured.get("load_before_after", [])
                detail.append(f"N={res['n']} {phase} {side}: {fmt_requests(measured)}"
                              + (f" (load {load[0]} -> {load[1]})" if load else ""))
    return "\n".join(lines) + "\n\n" + "\n".join(detail)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peer.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="N values (default 100,300,1000)")
    parser.add_argument("--quick", action="store_true", help="N = 10 only (a smoke run)")
    parser.add_argument("--parallel", type=int, default=10, help="-parallelism / --parallel of both CLIs (10)")
    parser.add_argument("--order", choices=("tofu-first", "pulumi-first"), default="tofu-first",
                        help="which side runs each phase first")
    parser.add_argument("--ours", default=",".join(OURS),
                        help=f"our variants, in the order they run (default {','.join(OURS)})")
    parser.add_argument("--pulumi-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of every variant's CLI (e.g. PULUMI_DIY_BACKEND_GZIP=true)")
    parser.add_argument("--glance-workers", type=int, default=2, help="gunicorn workers of Glance (2)")
    parser.add_argument("--glance-threads", type=int, default=8, help="threads per Glance worker (8)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "peer" / "results")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="servers' and stacks' files (default: a new directory in /tmp, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep --workdir (logs, states) at the end")
    args = parser.parse_args(argv)
    args.sizes = [10] if args.quick else [int(s) for s in str(args.sizes).split(",") if s.strip()]
    args.ours = [v.strip() for v in str(args.ours).split(",") if v.strip()]
    unknown = [v for v in args.ours if v not in OURS]
    if unknown or not args.ours or len(set(args.ours)) != len(args.ours):
        parser.error(f"--ours {','.join(args.ours)}: a list of distinct variants among {', '.join(OURS)}")
    for kv in args.pulumi_env:
        if "=" not in kv:
            parser.error(f"--pulumi-env {kv!r}: expected KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every command succeeded and every check held."""
    args = parse_args(argv)
    if not PULUMI.exists():
        log(f"{PULUMI} is missing: run `make setup`")
        return 2
    binaries = build_peer()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="ims-peer-"))
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # PostgreSQL, run as `nobody` under root, must reach its files
    image = root / "image.raw"
    image.write_bytes(IMAGE_BYTES)
    log(f"sizes {args.sizes}, parallelism {args.parallel}; files in {root}")
    results: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    try:
        with PeerServers.start(root / "servers", glance_workers=args.glance_workers,
                               glance_threads=args.glance_threads) as servers:
            assert servers.bench is not None
            token, body = servers.bench.token()  # ours: one token for the whole run (it lasts 24 h)
            project_id = body["project"]["id"]
            meta = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
                "cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0], "parallel": args.parallel,
                "image_bytes": len(IMAGE_BYTES), "pulumi_env": args.pulumi_env,
                "ours": {name: {"program": OURS[name].program, "env": OURS[name].env, "label": OURS[name].label}
                         for name in args.ours},
                "versions": {"tofu": version_of([str(binaries["tofu"]), "version"]),
                             "tpo": binaries["tpo"].parent.parent.name, "pulumi": version_of([str(PULUMI), "version"]),
                             "glance": "33.0.0 (PostgreSQL, keystonemiddleware)", "keystone": "30.0.0"},
                "glance": {"workers": args.glance_workers, "threads": args.glance_threads},
            }
            for n in args.sizes:
                results.append(run_size(n, args, servers, binaries, image, token, project_id, root))
                write(args.out, meta, results)
    finally:
        if args.keep or args.workdir:
            log(f"files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(table(results))
    problems = [c for r in results for c in r["checks"]]
    log(f"results in {args.out / 'peer-results.json'}" + (f"; {len(problems)} problem(s)" if problems else ""))
    return 1 if problems else 0


def write(out: Path, meta: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """``peer-results.json`` (rewritten after every N, so a run cut short keeps what it measured)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "peer-results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
