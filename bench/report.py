"""Turn raw benchmark records into figures: medians, ratios, goals, a table and a chart."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

SCENARIOS = ("up", "preview", "refresh", "update", "destroy")
LABELS = {"up": "up (create)", "preview": "preview (no change)", "refresh": "refresh",
          "update": "up (in-place change)", "destroy": "destroy"}

GOAL_OVERHEAD = 1.15
GOAL_CONCURRENCY = 24.0
GOAL_GROWTH = 1.1
GOAL_RSS_MB = 150.0


# --- expected API calls -------------------------------------------------------------------


def expected_requests(scenario: str, n: int) -> dict[str, int]:
    """The exact requests the provider should send for ``n`` images against the emulator.

    ``up`` includes one ``GET /v2/images?tag=pulumi-create-token=...`` per image: the create-token
    lookup that keeps a create idempotent after a lost response or a crash; and one ``PATCH`` per
    image, because the benchmark images declare a custom property, which IMS documents for update
    only (the create request carries its nine documented fields). ``preview`` sends one request
    per run, whatever N: the credentials check (``ims:skipCredentialsValidation`` turns it off).
    ``destroy`` confirms each
    delete with GETs until the image is gone; the emulator deletes synchronously, so that
    is exactly one GET per image (bounded by ``ims:deleteTimeout`` on a real cloud).
    """
    return {
        "up": {"POST /v2/images": n, "GET /v2/images": n + 1, "PATCH /v2/images/{id}": n},
        "preview": {"GET /v2/images": 1},
        "refresh": {"GET /v2/images/{id}": n},
        "update": {"PATCH /v2/images/{id}": n, "GET /v2/images": 1},
        "destroy": {"DELETE /v2/images/{id}": n, "GET /v2/images/{id}": n},
    }[scenario]


# --- analysis -----------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def analyse(results: dict[str, Any]) -> dict[str, Any]:
    """Summary, economy, concurrency, memory, state and goals from the raw records."""
    samples: dict[tuple[str, str, int, str], list[float]] = defaultdict(list)
    rss: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    rss_program: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    rss_cli: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    ok: dict[tuple[str, str, int], bool] = {}
    state: dict[tuple[str, int], dict[str, Any]] = {}
    economy: dict[str, dict[str, Any]] = {}
    # The runs that had a state-shaped floor beside them (same repeat) are shown on their own, like
    # for like; the main summary keeps to the provider/floor pairs of the sizes part.
    with_sized = {(r["n"], r["mode"], r["repeat"]) for r in results.get("lifecycles", []) if r["kind"] == "floor_sized"}
    for rec in results.get("lifecycles", []):
        kind, mode, n = rec["kind"], rec["mode"], rec["n"]
        ok[(kind, mode, n)] = ok.get((kind, mode, n), True) and rec["ok"] and len(rec["scenarios"]) == len(SCENARIOS)
        for scenario, entry in rec["scenarios"].items():
            if entry["returncode"] == 0 and (n, mode, rec["repeat"]) not in with_sized:
                samples[(kind, mode, n, scenario)].append(entry["seconds"])
            rss[(kind, mode, n)].append(entry["peak_rss"]["provider"])
            rss_program[(kind, mode, n)].append(entry["peak_rss"].get("program", 0))
            rss_cli[(kind, mode, n)].append(entry["peak_rss"].get("cli", 0))
            if scenario == "up" and entry.get("state") and mode == "checkpoints":
                state.setdefault((kind, n), entry["state"])
            if kind == "provider" and "requests" in entry:
                want = expected_requests(scenario, n)
                got = {k: v for k, v in entry["requests"].items() if v}
                cell = economy.setdefault(str(n), {}).setdefault(scenario, {"expected": want, "observed": got,
                                                                            "exact": True, "runs": 0})
                cell["runs"] += 1
                if got != want:
                    cell["exact"] = False
                    cell["observed"] = got
    api: dict[tuple[int, str], list[float]] = defaultdict(list)
    lookup: dict[int, list[float]] = defaultdict(list)
    for rec in results.get("api_floor", []):
        for scenario, entry in rec["scenarios"].items():
            api[(rec["n"], scenario)].append(entry["seconds"])
        if "create_with_lookup" in rec:
            lookup[rec["n"]].append(rec["create_with_lookup"]["seconds"])

    paired: dict[tuple[str, str, int, str], list[float]] = defaultdict(list)
    paired_cpu: dict[tuple[str, str, int, str], dict[str, float]] = {}
    for rec in results.get("lifecycles", []):
        if (rec["n"], rec["mode"], rec["repeat"]) in with_sized:
            for scenario, entry in rec["scenarios"].items():
                if entry["returncode"] == 0:
                    paired[(rec["kind"], rec["mode"], rec["n"], scenario)].append(entry["seconds"])
                    if entry.get("cpu_seconds"):
                        paired_cpu[(rec["kind"], rec["mode"], rec["n"], scenario)] = entry["cpu_seconds"]
    shaped: dict[str, Any] = {}
    sizes = sorted({n for (_, _, n, _) in samples})
    modes = [m for m in ("checkpoints", "skip_checkpoints") if any(k[1] == m for k in samples)]
    summary: dict[str, Any] = {}
    for mode in modes:
        for n in sizes:
            row: dict[str, Any] = {}
            for scenario in SCENARIOS:
                prov = _median(samples.get(("provider", mode, n, scenario), []))
                floor = _median(samples.get(("floor", mode, n, scenario), []))
                row[scenario] = {
                    "provider": prov,
                    "floor": floor,
                    "api_floor": _median(api.get((n, scenario), [])),
                    "ratio": _ratio(prov, floor),
                    "samples": len(samples.get(("provider", mode, n, scenario), [])),
                }
            if lookup.get(n):
                row["up"]["api_floor_with_lookup"] = _median(lookup[n])
            summary.setdefault(mode, {})[str(n)] = row

    def peaks(table: dict[tuple[str, str, int], list[int]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (kind, mode, n), values in sorted(table.items()):
            if values:
                out.setdefault(kind, {}).setdefault(mode, {})[str(n)] = round(max(values) / 2**20, 1)
        return out

    for n, mode, _repeat in sorted(with_sized):
        for scenario in SCENARIOS:
            sized = _median(paired.get(("floor_sized", mode, n, scenario), []))
            if sized is not None:
                shaped.setdefault(mode, {}).setdefault(str(n), {})[scenario] = {
                    "provider": _median(paired.get(("provider", mode, n, scenario), [])),
                    "floor": _median(paired.get(("floor", mode, n, scenario), [])),
                    "floor_sized": sized,
                    "cpu_seconds": {kind: paired_cpu.get((kind, mode, n, scenario))
                                    for kind in ("provider", "floor", "floor_sized")},
                }

    memory = peaks(rss)

    growth: dict[str, Any] = {}
    for mode in modes:
        if "100" in summary.get(mode, {}) and "1000" in summary[mode]:
            for scenario in SCENARIOS:
                small, big = summary[mode]["100"][scenario], summary[mode]["1000"][scenario]
                gp, gf = _ratio(big["provider"], small["provider"]), _ratio(big["floor"], small["floor"])
                growth.setdefault(mode, {})[scenario] = {"provider": gp, "floor": gf, "relative": _ratio(gp, gf)}

    projection: dict[str, Any] = {}
    if "checkpoints" in summary:
        for kind in ("provider", "floor"):
            for scenario in ("up", "update", "destroy"):  # the scenarios that write a checkpoint per step
                pts = [(int(n), row[scenario][kind]) for n, row in summary["checkpoints"].items()
                       if row[scenario][kind] is not None]
                fit = quadratic_fit(pts)
                if fit is not None:
                    a, b, c = fit
                    projection.setdefault(kind, {})[scenario] = {
                        "fit_seconds": {"a": round(a, 3), "b_per_n": round(b, 6), "c_per_n2": c},
                        "projected_3000": round(a + b * 3000 + c * 3000**2, 1),
                        "from_sizes": [n for n, _ in pts],
                    }

    concurrency = analyse_concurrency(results)
    out: dict[str, Any] = {
        "summary": summary,
        "economy": economy,
        "growth": growth,
        "memory_mb": memory,
        "memory_mb_program": peaks(rss_program),
        "memory_mb_cli": peaks(rss_cli),
        "state": {f"{kind}/{n}": s for (kind, n), s in sorted(state.items())},
        "all_succeeded": {f"{k}/{m}/{n}": v for (k, m, n), v in sorted(ok.items())},
        "concurrency": concurrency,
        "checkpoints_projection": projection,
        "state_shaped_floor": shaped,
    }
    out["goals"] = goals(out, sizes)
    out["lean"] = analyse_lean(results)
    out["plugin"] = analyse_plugin(results)
    return out


def quadratic_fit(points: list[tuple[int, float]]) -> tuple[float, float, float] | None:
    """Least-squares ``t = a + b*N + c*N^2`` through ``points`` (at least three sizes), or ``None``."""
    if len({n for n, _ in points}) < 3:
        return None
    # normal equations, solved by Gaussian elimination (no numpy needed)
    rows = [[float(n**i) for i in range(3)] for n, _ in points]
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    atb = [sum(r[i] * t for r, (_, t) in zip(rows, points, strict=True)) for i in range(3)]
    m = [ata[i] + [atb[i]] for i in range(3)]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if m[col][col] == 0:
            return None
        for r in range(3):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    a, b, c = (m[i][3] / m[i][i] for i in range(3))
    return a, b, c


def analyse_concurrency(results: dict[str, Any]) -> dict[str, Any]:
    """Effective concurrency of ``up`` = N x latency / (up time - engine floor at the same --parallel).

    Medians over repeats. Also against the provider's own ``up`` without latency at the same
    --parallel (``effective_vs_no_latency``), which isolates the time the latency adds.
    """
    runs = results.get("concurrency_runs") or []
    settings = results.get("settings", {}).get("concurrency", {})
    latency = settings.get("latency_ms", 0) / 1000
    n = settings.get("n")
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        up = r["scenarios"].get("up")
        if up is None:
            continue
        tag = r.get("tag", "")
        variant = tag.rsplit(f"-p{r['parallel']}", 1)[-1].lstrip("-") or "none"
        groups[(r["kind"], r["parallel"], variant)].append({**up, "env": r.get("env", {}), "ok": r["ok"]})

    def med(kind: str, parallel: int, variant: str) -> float | None:
        ups = [u["seconds"] for u in groups.get((kind, parallel, variant), []) if u["returncode"] == 0]
        return _median(ups)

    out: dict[str, Any] = {"latency_ms": settings.get("latency_ms"), "n": n, "floor_up": {}, "runs": []}
    for (kind, parallel, variant), ups in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0], kv[0][2])):
        if kind == "floor":
            out["floor_up"][str(parallel)] = med(kind, parallel, variant)
            continue
        if variant == "none":
            continue
        floor, plain, up = med("floor", parallel, "none"), med("provider", parallel, "none"), med(kind, parallel,
                                                                                                    variant)
        requests: Counter[str] = Counter()
        for u in ups:
            requests.update({k: v for k, v in (u.get("requests") or {}).items() if v})
        requests = Counter({k: v // len(ups) for k, v in requests.items()})
        every = variant.startswith("every")
        per_create = latency * (sum(requests.values()) / n if every and n else 1)
        extra = up - floor if up is not None and floor is not None else None
        extra_plain = up - plain if up is not None and plain is not None else None
        out["runs"].append({
            "parallel": parallel,
            "latency_on": "every request" if every else "POST /v2/images only",
            "provider_threads": ups[0]["env"].get("PULUMI_DYNAMIC_PROVIDER_THREADS", "64 (default)"),
            "samples": len(ups),
            "up_seconds": up,
            "floor_seconds": floor,
            "no_latency_seconds": plain,
            "requests": dict(requests),
            "ok": all(u["ok"] for u in ups),
            "effective": round(n * latency / extra, 2) if extra and extra > 0 else None,
            "latency_per_create_s": round(per_create, 3),
            "effective_per_create": round(n * per_create / extra, 2) if extra and extra > 0 else None,
            "effective_vs_no_latency": round(n * per_create / extra_plain, 2) if extra_plain and extra_plain > 0
            else None,
        })
    return out


def goals(a: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    """Each goal of issue 7: the figure, the target and whether it is met."""
    g: dict[str, Any] = {}
    ck = a["summary"].get("checkpoints", {})
    g["overhead"] = {str(n): {"ratio": ck[str(n)]["up"]["ratio"], "target": GOAL_OVERHEAD,
                              "met": _le(ck[str(n)]["up"]["ratio"], GOAL_OVERHEAD)}
                     for n in (100, 1000) if str(n) in ck}
    g["economy"] = {"exact": all(c["exact"] for cells in a["economy"].values() for c in cells.values()),
                    "checked": sum(len(cells) for cells in a["economy"].values())}
    conc = {}
    for run in a["concurrency"]["runs"]:
        key = f"p{run['parallel']}/{'every' if run['latency_on'] == 'every request' else 'post'}" + (
            "/sdk4" if run["provider_threads"] == "4" else "")
        conc[key] = {"effective": run["effective"], "effective_per_create": run["effective_per_create"],
                     "effective_vs_no_latency": run["effective_vs_no_latency"]}
    widest = max((r["parallel"] for r in a["concurrency"]["runs"]), default=None)
    main = conc.get(f"p{widest}/post", {})
    g["concurrency"] = {"effective": conc, "target": GOAL_CONCURRENCY,
                        "met": _ge(main.get("effective"), GOAL_CONCURRENCY) if widest else None}
    biggest = max(sizes) if sizes else None
    g["scale"] = {
        "largest_n": biggest,
        "all_succeeded_at_largest": all(v for k, v in a["all_succeeded"].items() if k.endswith(f"/{biggest}")),
        "growth_1000_over_100": a["growth"].get("checkpoints", {}),
        "target_relative_growth": GOAL_GROWTH,
        "met": {s: _le(v["relative"], GOAL_GROWTH) for s, v in a["growth"].get("checkpoints", {}).items()},
    }
    mem = a["memory_mb"].get("provider", {})
    at_1000 = max((m.get("1000") or 0 for m in mem.values()), default=None) if any("1000" in m for m in mem.values()) \
        else None
    g["memory"] = {"provider_peak_rss_mb_at_1000": at_1000, "target_mb": GOAL_RSS_MB,
                   "met": _le(at_1000, GOAL_RSS_MB),
                   "state_bytes_per_image": {k: v.get("file_bytes_per_image") for k, v in a["state"].items()}}
    return g


def _le(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def _ge(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


# --- table ----------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _requests(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "-"
    got = cell["observed"]
    text = ", ".join(f"{v} {k}" for k, v in sorted(got.items())) or "none"
    return text + ("" if cell["exact"] else " (UNEXPECTED)")


def table(results: dict[str, Any]) -> str:
    """The human-readable report (markdown tables)."""
    lines: list[str] = []
    m = results["meta"]["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
                 f"pulumi CLI {m['pulumi_cli']}, SDK {m['pulumi_sdk']}; --parallel {results['settings']['parallel']}")
    for mode, by_n in results["summary"].items():
        lines.append("")
        lines.append(f"## {mode} (seconds; median of the runs)")
        lines.append("| N | scenario | runs | provider | engine floor | provider / floor | API floor | "
                     "requests (provider) |")
        lines.append("|---:|---|---:|---:|---:|---:|---:|---|")
        for n, row in by_n.items():
            if not any(row[scenario]["samples"] for scenario in SCENARIOS):
                lines.append(f"| {n} | (not run in this mode) | | | | | | |")
                continue
            for scenario in SCENARIOS:
                c = row[scenario]
                eco = results["economy"].get(n, {}).get(scenario)
                lines.append(f"| {n} | {LABELS[scenario]} | {c['samples']} | {_s(c['provider'])} | {_s(c['floor'])} | "
                             f"{_s(c['ratio'])} | {_s(c['api_floor'])} | {_requests(eco) if eco else ''} |")
    conc = results["concurrency"]
    if conc["runs"]:
        lines.append("")
        lines.append(f"## Concurrency: up of N={conc['n']} with {conc['latency_ms']} ms injected latency")
        lines.append("| --parallel | latency on | provider threads | runs | up s | engine floor s | "
                     "up without latency s | effective = N x latency / (up - floor) | latency per create s | "
                     "effective per create | effective vs no-latency up |")
        lines.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in conc["runs"]:
            lines.append(f"| {r['parallel']} | {r['latency_on']} | {r['provider_threads']} | {r['samples']} | "
                         f"{_s(r['up_seconds'])} | {_s(r['floor_seconds'])} | {_s(r['no_latency_seconds'])} | "
                         f"{_s(r['effective'])} | {r['latency_per_create_s']} | {_s(r['effective_per_create'])} | "
                         f"{_s(r['effective_vs_no_latency'])} |")
    if results["growth"]:
        lines.append("")
        lines.append("## Growth time(1000) / time(100)")
        lines.append("| mode | scenario | provider | engine floor | provider / floor growth |")
        lines.append("|---|---|---:|---:|---:|")
        for mode, rows in results["growth"].items():
            for scenario, g in rows.items():
                lines.append(f"| {mode} | {LABELS[scenario]} | {_s(g['provider'])} | {_s(g['floor'])} | "
                             f"{_s(g['relative'])} |")
    shaped = results.get("state_shaped_floor") or {}
    for mode, by_n in shaped.items():
        for n, rows in by_n.items():
            lines.append("")
            lines.append(f"## Same run, N={n}, {mode}: provider vs floor vs floor with provider-shaped state (s)")
            lines.append("| scenario | provider | engine floor | floor, state shaped like the provider's | "
                         "provider / shaped floor |")
            lines.append("|---|---:|---:|---:|---:|")
            for scenario, c in rows.items():
                lines.append(f"| {LABELS[scenario]} | {_s(c['provider'])} | {_s(c['floor'])} | {_s(c['floor_sized'])} "
                             f"| {_s(_ratio(c['provider'], c['floor_sized']))} |")
            if any(any(v for v in c.get("cpu_seconds", {}).values()) for c in rows.values()):
                lines.append("")
                lines.append("CPU seconds per process (cli / program / provider process / emulator):")
                lines.append("")
                lines.append("| scenario | provider | engine floor | floor, state shaped like the provider's |")
                lines.append("|---|---|---|---|")
                for scenario, c in rows.items():
                    cells = []
                    for kind in ("provider", "floor", "floor_sized"):
                        cpu = (c.get("cpu_seconds") or {}).get(kind) or {}
                        cells.append(" / ".join(_s(cpu.get(r)) for r in ("cli", "program", "provider", "emulator")))
                    lines.append(f"| {LABELS[scenario]} | {' | '.join(cells)} |")
    proj = results.get("checkpoints_projection") or {}
    if proj:
        lines.append("")
        lines.append("## With checkpoints at N=3000, projected (t = a + b*N + c*N^2 fitted to the measured sizes)")
        lines.append("| scenario | provider s | engine floor s |")
        lines.append("|---|---:|---:|")
        for scenario in ("up", "update", "destroy"):
            pp, pf = proj.get("provider", {}).get(scenario), proj.get("floor", {}).get(scenario)
            lines.append(f"| {LABELS[scenario]} | {pp['projected_3000'] if pp else '-'} | "
                         f"{pf['projected_3000'] if pf else '-'} |")
    lines.append("")
    lines.append("## Memory (peak RSS of the dynamic-provider process, MB) and state size")
    for kind, modes in results["memory_mb"].items():
        for mode, by_n in modes.items():
            lines.append(f"- {kind} / {mode}: " + ", ".join(f"N={n}: {mb}" for n, mb in by_n.items()))
    for label, table_ in (("program (the user's __main__.py)", "memory_mb_program"), ("CLI", "memory_mb_cli")):
        for kind, modes in (results.get(table_) or {}).items():
            for mode, by_n in modes.items():
                lines.append(f"- {label}, {kind} / {mode}: " + ", ".join(f"N={n}: {mb}" for n, mb in by_n.items()))
    for key, s in results["state"].items():
        lines.append(f"- state {key}: {s.get('file_bytes_per_image')} bytes/image in the stack file "
                     f"({s.get('compact_bytes_per_image')} compact JSON per resource)")
    calls = results.get("provider_calls")
    if calls:
        lines.append("")
        lines.append(f"## Provider methods in-process (N={calls['n']}, us per call)")
        lines.append(", ".join(f"{k}: {v['us_per_call']}" for k, v in calls["phases"].items()))
    lines.append("")
    lines.append("## Goals")
    for name, goal in results["goals"].items():
        lines.append(f"- {name}: {goal}")
    lines += lean_table(results.get("lean") or {})
    lines += plugin_table(results.get("plugin") or {})
    lines += plugin_profile_table(results.get("plugin_profile"))
    return "\n".join(lines)


# --- chart ----------------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> None:
    """Seconds against N per scenario (log-log): provider, engine floor, API floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results["summary"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.8), dpi=72)
    styles = {
        ("checkpoints", "provider"): ("provider", "C0", "-", "o"),
        ("checkpoints", "floor"): ("engine floor", "C1", "-", "s"),
        ("skip_checkpoints", "provider"): ("provider, skip checkpoints", "C0", "--", "o"),
        ("skip_checkpoints", "floor"): ("engine floor, skip checkpoints", "C1", "--", "s"),
    }
    for ax, scenario in zip(axes.flat, SCENARIOS, strict=False):
        for (mode, kind), (label, color, line, marker) in styles.items():
            rows = summary.get(mode, {})
            pts = [(int(n), r[scenario][kind]) for n, r in rows.items() if r[scenario][kind]]
            if pts:
                ax.plot(*zip(*pts, strict=True), line, color=color, marker=marker, ms=4, label=label)
        rows = summary.get("checkpoints") or next(iter(summary.values()), {})
        pts = [(int(n), r[scenario]["api_floor"]) for n, r in rows.items() if r[scenario]["api_floor"]]
        if pts:
            ax.plot(*zip(*pts, strict=True), ":", color="C2", marker="^", ms=4, label="API floor (client only)")
        ax.set_title(LABELS[scenario], fontsize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N images", fontsize=8)
        ax.set_ylabel("seconds", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    ax = axes.flat[5]
    for mode, line in (("checkpoints", "-"), ("skip_checkpoints", "--")):
        rows = summary.get(mode, {})
        for i, scenario in enumerate(SCENARIOS):
            pts = [(int(n), r[scenario]["ratio"]) for n, r in rows.items() if r[scenario]["ratio"]]
            if pts:
                ax.plot(*zip(*pts, strict=True), line, color=f"C{i + 3}", marker=".",
                        label=f"{scenario}" if mode == "checkpoints" else None)
    ax.axhline(GOAL_OVERHEAD, color="red", lw=0.8, ls=":", label="goal 1.15 (up)")
    ax.set_xscale("log")
    ax.set_title("provider / engine floor (dashed: skip checkpoints)", fontsize=10)
    ax.set_xlabel("N images", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    m = results["meta"]["machine"]
    fig.suptitle(f"ImageMetadata provider vs engine and API floors — {m['cores']} cores, pulumi {m['pulumi_cli']}, "
                 f"--parallel {results['settings']['parallel']}", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)


# --- py-spy -----------------------------------------------------------------------------------


def summarize_pyspy(directory: Path, top: int = 15) -> dict[str, Any]:
    """Per collapsed-stack file: samples, top own-time frames, and provider code inclusive time."""
    out: dict[str, Any] = {}
    for path in sorted(directory.glob("*.txt")):
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = stack.split(";")
            own[_frame(frames[-1])] += count
            for frame in {_frame(f) for f in frames if "providers/ims" in f or "bench" in f}:
                inclusive[frame] += count
        out[path.stem] = {
            "samples": total,
            "top_own": [{"frame": f, "share": round(c / total, 3)} for f, c in own.most_common(top)] if total else [],
            "provider_code_inclusive": [{"frame": f, "share": round(c / total, 3)}
                                        for f, c in inclusive.most_common(top)] if total else [],
        }
    return out


def _frame(frame: str) -> str:
    """``func (path/to/file.py:line)`` shortened to ``func (file.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit("/", 1)[-1].split(":")[0] if where else ""
    for marker in ("site-packages/", "providers/", "lib/python3.11/"):
        if marker in where:
            file = where.split(marker, 1)[1].split(":")[0]
            break
    return f"{name} ({file})" if file else name


# --- issue 16: lean resources -------------------------------------------------------------------

LEAN_KINDS = ("provider", "minimal", "floor", "floor_sized", "minimal_nostack")
LEAN_SCENARIOS = ("up", "update", "refresh", "destroy")
LEAN_NAMES = {"provider": "ImageMetadata", "minimal": "minimal no-op", "floor": "9-property floor",
              "floor_sized": "state-shaped floor", "minimal_nostack": "minimal, no stackTrace"}
LEAN_MODES = {"checkpoints": "checkpoints", "skip_checkpoints": "PULUMI_SKIP_CHECKPOINTS"}
LEAN_CPU_ROLES = ("cli", "language_host", "program", "provider", "emulator")
GOAL_LEAN_TIME = 1.20
GOAL_LEAN_STATE = 1.25
GOAL_LEAN_PROGRAM_CPU = 1.5


def versus_minimal(runs: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, Any]:
    """Each kind of ``runs`` against the minimal no-op, per mode, N and command: ``times`` and ``state``.

    Seconds are the minimum over the repeats (``k``; also their median, and the median of the ratios
    paired by repeat); CPU seconds per process are medians. State bytes come from ``pulumi stack
    export`` after ``up`` (checkpoint mode preferred; the entry is the same in both modes).
    """
    entries: dict[tuple[str, int, str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    exports: dict[tuple[str, int], dict[str, Any]] = {}
    ok: dict[str, bool] = {}
    for rec in runs:
        kind, mode, n = rec["kind"], rec["mode"], rec["n"]
        ok[f"{kind}/{mode}/{n}"] = ok.get(f"{kind}/{mode}/{n}", True) and rec["ok"]
        for scenario, entry in rec["scenarios"].items():
            if entry["returncode"] != 0:
                continue
            entries[(mode, n, scenario, kind)].append((rec["repeat"], entry))
            exp = entry.get("export")
            if scenario == "up" and exp and "error" not in exp:
                prev = exports.get((kind, n))
                if prev is None or (mode == "checkpoints" and prev["mode"] != "checkpoints"):
                    exports[(kind, n)] = {**{k: v for k, v in exp.items() if k != "sample_entry"}, "mode": mode,
                                          "file_bytes_per_resource": (entry.get("state") or {}).get(
                                              "file_bytes_per_image")}
    modes = [m for m in LEAN_MODES if any(key[0] == m for key in entries)]
    sizes = sorted({key[1] for key in entries})
    times: dict[str, Any] = {}
    for mode in modes:
        for n in sizes:
            for scenario in LEAN_SCENARIOS:
                cell: dict[str, Any] = {}
                for kind in kinds:
                    got = entries.get((mode, n, scenario, kind))
                    if not got:
                        continue
                    secs = [e["seconds"] for _, e in got]
                    cpu = {r: _median([float((e.get("cpu_seconds") or {}).get(r) or 0) for _, e in got])
                           for r in LEAN_CPU_ROLES}
                    cell[kind] = {
                        "k": len(secs), "min": round(min(secs), 3), "median": _median(secs), "all": secs,
                        "cpu_seconds": cpu,
                        "program_cpu_ms_per_resource": round(1000 * (cpu["program"] or 0) / n, 3),
                        "provider_rss_mb": round(max(e["peak_rss"].get("provider", 0) for _, e in got) / 2**20, 1),
                        "load": [e.get("load", {}).get("before") for _, e in got],
                        # CPU of every process of the command on this machine; less sensitive to other
                        # load than wall time ("client": without the emulator, the server's share)
                        "cpu_total_s": round(sum(v or 0 for v in cpu.values()), 2),
                        "cpu_client_s": round(sum(v or 0 for r, v in cpu.items() if r != "emulator"), 2),
                    }
                    requests = [e["requests"] for _, e in got if "requests" in e]
                    if requests:
                        want = expected_requests(scenario, n)
                        got_counts = [{k: v for k, v in r.items() if v} for r in requests]
                        cell[kind]["requests"] = got_counts[0]
                        cell[kind]["requests_exact"] = all(g == want for g in got_counts)
                base = cell.get("minimal")
                if base:
                    base_by_repeat = {r: e["seconds"] for r, e in entries[(mode, n, scenario, "minimal")]}
                    for kind, c in cell.items():
                        c["ratio_to_minimal"] = _ratio(c["min"], base["min"])
                        c["cpu_ratio_to_minimal"] = _ratio(c["cpu_total_s"], base["cpu_total_s"])
                        c["client_cpu_ratio_to_minimal"] = _ratio(c["cpu_client_s"], base["cpu_client_s"])
                        paired = [e["seconds"] / base_by_repeat[r] for r, e in entries[(mode, n, scenario, kind)]
                                  if base_by_repeat.get(r)]
                        c["paired_ratio_median"] = round(statistics.median(paired), 3) if paired else None
                        if scenario in ("up", "update"):
                            c["program_cpu_ratio_to_minimal"] = _ratio(c["cpu_seconds"]["program"],
                                                                       base["cpu_seconds"]["program"])
                        if kind != "minimal":  # where the gap goes: the kind minus the minimal no-op, per process
                            c["gap_to_minimal"] = {
                                "wall_s": round(c["min"] - base["min"], 2),
                                "cpu_s": {r: round((c["cpu_seconds"][r] or 0) - (base["cpu_seconds"][r] or 0), 2)
                                          for r in LEAN_CPU_ROLES},
                            }
                prov = cell.get("provider")
                if prov:
                    for floor in ("floor", "floor_sized"):
                        if floor in cell:
                            prov[f"ratio_to_{floor}"] = _ratio(prov["min"], cell[floor]["min"])
                if cell:
                    times.setdefault(mode, {}).setdefault(str(n), {})[scenario] = cell
    state: dict[str, Any] = {}
    for (kind, n), exp in sorted(exports.items(), key=lambda kv: (kv[0][1], kinds.index(kv[0][0]))):
        base_exp = exports.get(("minimal", n))
        state.setdefault(str(n), {})[kind] = {
            "entry_bytes": exp["entry_bytes"],
            "ratio_to_minimal": _ratio(exp["entry_bytes"], base_exp["entry_bytes"]) if base_exp else None,
            "export_bytes_per_resource": exp["export_bytes_per_resource"],
            "file_bytes_per_resource": exp["file_bytes_per_resource"],
            "resources": exp["resources"],
            "anatomy": exp["anatomy"],
        }
    return {"times": times, "state": state, "all_succeeded": ok}


def analyse_lean(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 16's figures from ``lean_runs``: each kind against the minimal no-op (:func:`versus_minimal`),
    the anatomy of one entry, the properties registered per resource and the goals."""
    runs = results.get("lean_runs") or []
    if not runs:
        return {}
    compared = versus_minimal(runs, LEAN_KINDS)
    times, state, ok = compared["times"], compared["state"], compared["all_succeeded"]
    program_side = results.get("lean_program_side") or {}
    anatomy: dict[str, Any] = {}
    if state:
        smallest = state[min(state, key=int)]
        for kind, s in smallest.items():
            anatomy[kind] = {**s["anatomy"], "registered": (program_side.get(kind) or {}).get("registered"),
                             "none_placeholders": (program_side.get(kind) or {}).get("none_placeholders")}
    goals_: dict[str, Any] = {"time": {}, "state": {}, "program_cpu": {}}
    for mode, by_n in times.items():
        for n, rows in by_n.items():
            for scenario, cell in rows.items():
                r = (cell.get("provider") or {}).get("ratio_to_minimal")
                goals_["time"].setdefault(mode, {}).setdefault(n, {})[scenario] = {
                    "ratio": r, "target": GOAL_LEAN_TIME, "met": _le(r, GOAL_LEAN_TIME)}
                if scenario in ("up", "update"):
                    rc = (cell.get("provider") or {}).get("program_cpu_ratio_to_minimal")
                    goals_["program_cpu"].setdefault(mode, {}).setdefault(n, {})[scenario] = {
                        "ratio": rc, "target": GOAL_LEAN_PROGRAM_CPU, "met": _le(rc, GOAL_LEAN_PROGRAM_CPU)}
    for n, kinds in state.items():
        r = (kinds.get("provider") or {}).get("ratio_to_minimal")
        goals_["state"][n] = {"ratio": r, "target": GOAL_LEAN_STATE, "met": _le(r, GOAL_LEAN_STATE)}
    return {"times": times, "state": state, "anatomy": anatomy, "program_side": program_side,
            "all_succeeded": ok, "goals": goals_}


def lean_table(lean: dict[str, Any]) -> list[str]:
    """Issue 16's tables (markdown)."""
    if not lean:
        return []
    present = [k for k in LEAN_KINDS if any(k in cell for by_n in lean["times"].values() for rows in by_n.values()
                                            for cell in rows.values())]
    others = [k for k in present if k != "minimal"]
    floors = [f for f in ("floor", "floor_sized") if f in present and "provider" in present]
    lines = ["", "## Issue 16: lean resources: ImageMetadata against the minimal no-op (seconds, min of k runs)",
             "| mode | N | command | k | " + " | ".join(LEAN_NAMES[k] for k in present) + " | "
             + " | ".join(f"**{LEAN_NAMES[k]} ÷ minimal**" if k == "provider" else f"{LEAN_NAMES[k]} ÷ minimal"
                          for k in others)
             + "".join(f" | ImageMetadata ÷ {LEAN_NAMES[f]}" for f in floors) + " |",
             "|---|---:|---|---:|" + "---:|" * (len(present) + len(others) + len(floors))]
    for mode, by_n in lean["times"].items():
        for n, rows in by_n.items():
            for scenario, cell in rows.items():
                k = min(c["k"] for c in cell.values())
                secs = [_s(cell[kind]["min"]) if kind in cell else "-" for kind in present]
                ratios = [_s(cell.get(kind, {}).get("ratio_to_minimal")) for kind in others]
                ratios = [f"**{r}**" if kind == "provider" else r for kind, r in zip(others, ratios, strict=True)]
                vs_floors = [_s(cell.get("provider", {}).get(f"ratio_to_{f}")) for f in floors]
                lines.append(f"| {LEAN_MODES[mode]} | {n} | {LABELS[scenario]} | {k} | "
                             + " | ".join(secs + ratios + vs_floors) + " |")
    lines += ["", "### Per resource: state entry (stack export, compact JSON), program CPU, provider process",
              "| N | kind | state entry bytes | ÷ minimal | checkpoint file bytes ÷ N | "
              "program CPU ms/resource, up (checkpoints / skip) | ÷ minimal | "
              "in-place change (checkpoints / skip) | ÷ minimal | provider peak RSS MB |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    times = lean["times"]
    for n in sorted({n for by_n in times.values() for n in by_n} | set(lean["state"]), key=int):
        for kind in LEAN_KINDS:
            s = lean["state"].get(n, {}).get(kind)
            cells = {(m, sc): times.get(m, {}).get(n, {}).get(sc, {}).get(kind) for m in LEAN_MODES
                     for sc in ("up", "update")}
            if s is None and not any(cells.values()):
                continue

            def cpu(sc: str, key: str, cells: dict[tuple[str, str], Any] = cells) -> str:
                return " / ".join(_s((cells[(m, sc)] or {}).get(key)) for m in LEAN_MODES)

            rss = max((c or {}).get("provider_rss_mb") or 0 for c in cells.values())
            lines.append(f"| {n} | {LEAN_NAMES[kind]} | {s['entry_bytes'] if s else '-'} | "
                         f"{_s(s['ratio_to_minimal']) if s else '-'} | "
                         f"{(s or {}).get('file_bytes_per_resource') or '-'} | "
                         f"{cpu('up', 'program_cpu_ms_per_resource')} | {cpu('up', 'program_cpu_ratio_to_minimal')} | "
                         f"{cpu('update', 'program_cpu_ms_per_resource')} | "
                         f"{cpu('update', 'program_cpu_ratio_to_minimal')} | {rss or '-'} |")
    gaps = []
    for mode, by_n in times.items():
        for n, rows in by_n.items():
            for scenario, cell in rows.items():
                gap = (cell.get("provider") or {}).get("gap_to_minimal")
                if gap:
                    cpu_gap = " | ".join(_s(gap["cpu_s"][r]) for r in LEAN_CPU_ROLES)
                    gaps.append(f"| {LEAN_MODES[mode]} | {n} | {LABELS[scenario]} | {_s(gap['wall_s'])} | {cpu_gap} |")
    if gaps:
        lines += ["", "### Where ImageMetadata's extra time goes: ImageMetadata minus minimal no-op "
                  "(wall s, min; CPU s per process, medians)",
                  "| mode | N | command | wall | CLI (engine) | language host | program | provider process | emulator |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|", *gaps]
    if lean["anatomy"]:
        lines += ["", "### State entry anatomy (bytes of compact JSON, one resource) and properties registered",
                  "| kind | entry | inputs (keys) | outputs (keys) | stackTrace (frames) | sourcePosition | "
                  "propertyDependencies | rest | registered by the program (of which None placeholders) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for kind in LEAN_KINDS:
            a = lean["anatomy"].get(kind)
            if a:
                lines.append(f"| {LEAN_NAMES[kind]} | {a['total']} | {a['inputs']} ({a['input_keys']}) | "
                             f"{a['outputs']} ({a['output_keys']}) | {a['stackTrace']} ({a['stack_frames']}) | "
                             f"{a['sourcePosition']} | {a['propertyDependencies']} | {a['rest']} | "
                             f"{a.get('registered')} ({a.get('none_placeholders')}) |")
    g = lean["goals"]
    lines += ["", "### Goals (issue 16)"]
    for mode, by_n in g["time"].items():
        for n, rows in by_n.items():
            lines.append(f"- {LEAN_MODES[mode]}, N={n}: ImageMetadata ÷ minimal ≤ {GOAL_LEAN_TIME}: " + ", ".join(
                f"{sc} {_s(v['ratio'])} ({_met(v['met'])})" for sc, v in rows.items()))
    for n, v in g["state"].items():
        lines.append(f"- state entry ÷ minimal's ≤ {GOAL_LEAN_STATE}, N={n}: {_s(v['ratio'])} ({_met(v['met'])})")
    for mode, by_n in g["program_cpu"].items():
        for n, rows in by_n.items():
            lines.append(f"- program CPU per resource ÷ minimal's ≤ {GOAL_LEAN_PROGRAM_CPU}, {LEAN_MODES[mode]}, "
                         f"N={n}: " + ", ".join(f"{sc} {_s(v['ratio'])} ({_met(v['met'])})" for sc, v in rows.items()))
    return lines


# --- issue 25: the ims provider plugin -------------------------------------------------------------

PLUGIN_KINDS = ("plugin", "plugin_yaml", "provider", "minimal")
PLUGIN_NAMES = {"plugin": "plugin (Python SDK)", "plugin_yaml": "plugin (YAML)", "provider": "dynamic provider",
                "minimal": "minimal no-op"}
GOAL_PLUGIN_TIME = 1.20
GOAL_PLUGIN_STATE = 1.25
#: The N of the goals (the time goal is for ``up``; the figures of every N and command are reported).
GOAL_PLUGIN_N = "1000"


def analyse_plugin(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 25's figures from ``plugin_runs``: the plugin (Python SDK and YAML programs), the dynamic
    provider and the minimal no-op (:func:`versus_minimal`); the plugin process's peak RSS; the goals."""
    runs = results.get("plugin_runs") or []
    if not runs:
        return {}
    compared = versus_minimal(runs, PLUGIN_KINDS)
    times, state = compared["times"], compared["state"]
    rss: dict[str, dict[str, float]] = {}
    for by_n in times.values():
        for n, rows in by_n.items():
            for cell in rows.values():
                for kind, c in cell.items():
                    prev = rss.setdefault(kind, {}).get(n, 0.0)
                    rss[kind][n] = max(prev, c["provider_rss_mb"])
    goals_: dict[str, Any] = {"time": {}, "state": {}}
    for kind in ("plugin", "plugin_yaml"):
        for mode, by_n in times.items():
            for n, rows in by_n.items():
                r = (rows.get("up", {}).get(kind) or {}).get("ratio_to_minimal")
                if r is not None:
                    goals_["time"].setdefault(kind, {}).setdefault(mode, {})[n] = {
                        "ratio": r, "target": GOAL_PLUGIN_TIME, "met": _le(r, GOAL_PLUGIN_TIME),
                        "goal": n == GOAL_PLUGIN_N}
        for n, kinds in state.items():
            r = (kinds.get(kind) or {}).get("ratio_to_minimal")
            if r is not None:
                goals_["state"].setdefault(kind, {})[n] = {"ratio": r, "target": GOAL_PLUGIN_STATE,
                                                          "met": _le(r, GOAL_PLUGIN_STATE)}
    return {**compared, "provider_rss_mb": rss, "goals": goals_}


def plugin_table(plugin: dict[str, Any]) -> list[str]:
    """Issue 25's tables (markdown)."""
    if not plugin:
        return []
    times, state = plugin["times"], plugin["state"]
    present = [k for k in PLUGIN_KINDS if any(k in cell for by_n in times.values() for rows in by_n.values()
                                              for cell in rows.values())]
    others = [k for k in present if k != "minimal"]
    lines = ["", "## Issue 25: the ims plugin, the dynamic provider and the minimal no-op (seconds, min of k runs)",
             "| mode | N | command | k | " + " | ".join([PLUGIN_NAMES[k] for k in present] + [
                 f"**{PLUGIN_NAMES[k]} ÷ minimal**" if k == "plugin" else f"{PLUGIN_NAMES[k]} ÷ minimal"
                 for k in others]) + " | load before |",
             "|---|---:|---|---:|" + "---:|" * (len(present) + len(others)) + "---|"]
    for mode, by_n in times.items():
        for n, rows in by_n.items():
            for scenario, cell in rows.items():
                k = min(c["k"] for c in cell.values())
                secs = [_s(cell[kind]["min"]) if kind in cell else "-" for kind in present]
                ratios = [_s(cell.get(kind, {}).get("ratio_to_minimal")) for kind in others]
                ratios = [f"**{r}**" if kind == "plugin" else r for kind, r in zip(others, ratios, strict=True)]
                loads = [x for c in cell.values() for x in c.get("load") or [] if x is not None]
                load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"
                lines.append(f"| {LEAN_MODES[mode]} | {n} | {LABELS[scenario]} | {k} | "
                             + " | ".join(secs + ratios) + f" | {load} |")
    lines += ["", "### Per resource: state entry (stack export, compact JSON) and the provider process",
              "| N | kind | state entry bytes | ÷ minimal | checkpoint file bytes ÷ N | provider process peak RSS MB |",
              "|---:|---|---:|---:|---:|---:|"]
    for n in sorted({n for by_n in times.values() for n in by_n} | set(state), key=int):
        for kind in present:
            st = state.get(n, {}).get(kind)
            rss = plugin["provider_rss_mb"].get(kind, {}).get(n)
            lines.append(f"| {n} | {PLUGIN_NAMES[kind]} | {st['entry_bytes'] if st else '-'} | "
                         f"{_s(st['ratio_to_minimal']) if st else '-'} | "
                         f"{(st or {}).get('file_bytes_per_resource') or '-'} | {rss or '-'} |")
    lines += ["", "### CPU seconds per process (medians) and the gap to the minimal no-op (kind minus minimal)",
              "| mode | N | command | kind | wall gap s | CLI (engine) | language host | program | provider process | "
              "emulator | all processes (÷ minimal) | without the emulator (÷ minimal) | requests exact |",
              "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for mode, by_n in times.items():
        for n, rows in by_n.items():
            for scenario, cell in rows.items():
                for kind in present:
                    c = cell.get(kind)
                    if not c:
                        continue
                    gap = c.get("gap_to_minimal")
                    cpu = " | ".join(_s(c["cpu_seconds"][r]) + (f" ({gap['cpu_s'][r]:+.2f})" if gap else "")
                                     for r in LEAN_CPU_ROLES)
                    exact = "-" if "requests_exact" not in c else "yes" if c["requests_exact"] else \
                        f"no: {c['requests']}"
                    totals = (f"{_s(c['cpu_total_s'])} ({_s(c.get('cpu_ratio_to_minimal'))}) | "
                              f"{_s(c['cpu_client_s'])} ({_s(c.get('client_cpu_ratio_to_minimal'))})")
                    lines.append(f"| {LEAN_MODES[mode]} | {n} | {LABELS[scenario]} | {PLUGIN_NAMES[kind]} | "
                                 f"{_s(gap['wall_s']) if gap else '-'} | {cpu} | {totals} | {exact} |")
    if state:
        smallest = state[min(state, key=int)]
        lines += ["", "### State entry anatomy (bytes of compact JSON, one resource)",
                  "| kind | entry | inputs (keys) | outputs (keys) | stackTrace (frames) | sourcePosition | "
                  "propertyDependencies | rest |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for kind in present:
            a = (smallest.get(kind) or {}).get("anatomy")
            if a:
                lines.append(f"| {PLUGIN_NAMES[kind]} | {a['total']} | {a['inputs']} ({a['input_keys']}) | "
                             f"{a['outputs']} ({a['output_keys']}) | {a['stackTrace']} ({a['stack_frames']}) | "
                             f"{a['sourcePosition']} | {a['propertyDependencies']} | {a['rest']} |")
    lines += ["", "### Goals (issue 25)"]
    for kind, by_mode in plugin["goals"]["time"].items():
        for mode, by_n in by_mode.items():
            lines.append(f"- {PLUGIN_NAMES[kind]}, up ÷ minimal ≤ {GOAL_PLUGIN_TIME}, {LEAN_MODES[mode]}: " + ", ".join(
                f"N={n} {_s(v['ratio'])} ({_met(v['met'])}{'' if v['goal'] else ', not the goal N'})"
                for n, v in by_n.items()))
    for kind, by_n in plugin["goals"]["state"].items():
        lines.append(f"- {PLUGIN_NAMES[kind]}, state entry ÷ minimal's ≤ {GOAL_PLUGIN_STATE}: " + ", ".join(
            f"N={n} {_s(v['ratio'])} ({_met(v['met'])})" for n, v in by_n.items()))
    return lines


def plugin_profile_table(profile: dict[str, Any] | None, top: int = 15) -> list[str]:
    """The plugin process's and the program's CPU per function and command (part ``plugin_profile``): own
    and cumulative."""
    if not profile:
        return []
    lines = ["", f"## Issue 25: where the plugin process and the program spend CPU (cProfile on thread CPU time, "
             f"N={profile['n']}, without checkpoints; profiling slows them)"]
    for scenario, cmd in profile["commands"].items():
        for name, summary in cmd["profiles"].items():
            h = summary["header"]
            lines += ["", f"### {LABELS[scenario]}: {name}: {summary['profiled_seconds']} s of profiled CPU in "
                      f"{h.get('threads')} threads; process CPU {h.get('cpu')} s in {h.get('seconds')} s "
                      f"(command {cmd['seconds']} s)",
                      "| own CPU: function | calls | s | % | cumulative: function | calls | s | % |",
                      "|---|---:|---:|---:|---|---:|---:|---:|"]
            rows = zip(summary["own"][:top], summary["cumulative"][:top], strict=False)
            lines += [f"| {o[0]} | {o[1]} | {o[2]} | {o[3]} | {c[0]} | {c[1]} | {c[2]} | {c[3]} |" for o, c in rows]
    return lines


def _met(value: bool | None) -> str:
    return "not measured" if value is None else "met" if value else "missed"


def lean_compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Issue 16 before and after, side by side: ImageMetadata ÷ minimal no-op per mode, N and command."""
    if not before or not after:
        return []
    lines = ["", "## Issue 16: before and after (ImageMetadata ÷ minimal no-op; seconds, min of k runs)",
             "| mode | N | command | before: ImageMetadata | minimal | **ratio** | after: ImageMetadata | minimal | "
             "**ratio** | target |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    keys = {(mode, n, sc) for side in (before, after) for mode, by_n in side["times"].items()
            for n, rows in by_n.items() for sc in rows}
    for mode, n, sc in sorted(keys, key=lambda k: (list(LEAN_MODES).index(k[0]), int(k[1]),
                                                   LEAN_SCENARIOS.index(k[2]))):
        cells = []
        for side in (before, after):
            cell = side["times"].get(mode, {}).get(n, {}).get(sc, {})
            prov, base = cell.get("provider") or {}, cell.get("minimal") or {}
            cells += [_s(prov.get("min")), _s(base.get("min")), f"**{_s(prov.get('ratio_to_minimal'))}**"]
        lines.append(f"| {LEAN_MODES[mode]} | {n} | {LABELS[sc]} | {' | '.join(cells)} | ≤ {GOAL_LEAN_TIME} |")
    lines += ["", "| per resource | N | before | after | target |", "|---|---:|---:|---:|---:|"]
    for n in sorted(set(before["state"]) | set(after["state"]), key=int):
        b, a = ((side["state"].get(n) or {}).get("provider") or {} for side in (before, after))
        lines.append(f"| state entry bytes ÷ minimal's (ImageMetadata bytes) | {n} | {_s(b.get('ratio_to_minimal'))} "
                     f"({b.get('entry_bytes', '-')}) | {_s(a.get('ratio_to_minimal'))} ({a.get('entry_bytes', '-')}) "
                     f"| ≤ {GOAL_LEAN_STATE} |")
    for mode in LEAN_MODES:
        for n in sorted({n for side in (before, after) for n in side["times"].get(mode, {})}, key=int):
            b, a = ((side["times"].get(mode, {}).get(n, {}).get("up", {}).get("provider") or {})
                    for side in (before, after))
            lines.append(f"| program CPU per resource ÷ minimal's, up, {LEAN_MODES[mode]} (ms) | {n} | "
                         f"{_s(b.get('program_cpu_ratio_to_minimal'))} ({_s(b.get('program_cpu_ms_per_resource'))}) | "
                         f"{_s(a.get('program_cpu_ratio_to_minimal'))} ({_s(a.get('program_cpu_ms_per_resource'))}) | "
                         f"≤ {GOAL_LEAN_PROGRAM_CPU} |")
    ba, aa = (side.get("anatomy", {}).get("provider") or {} for side in (before, after))
    if ba or aa:
        lines.append(f"| properties registered per ImageMetadata (None placeholders) | | {ba.get('registered')} "
                     f"({ba.get('none_placeholders')}) | {aa.get('registered')} ({aa.get('none_placeholders')}) | |")
    return lines
