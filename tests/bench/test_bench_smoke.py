"""The benchmark keeps working: ``python -m bench.run --smoke`` end to end (a handful of resources).

Figures are never asserted as times (they depend on the machine and its load); only that
every part ran, that the JSON has the keys ``BENCHMARKS.md`` is built from, and that the
provider's API calls are exactly the expected counts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCENARIOS = ("up", "preview", "refresh", "update", "destroy")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: None) -> dict[str, object]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"bench --smoke exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert "## Goals" in proc.stdout, proc.stdout
    assert "## Issue 16: lean resources" in proc.stdout, proc.stdout
    assert (out / "chart.png").stat().st_size > 1000
    results: dict[str, object] = json.loads((out / "results.json").read_text())
    return results


def test_results_have_every_part(smoke: dict[str, object]) -> None:
    assert {"meta", "settings", "lifecycles", "api_floor", "summary", "economy", "growth", "memory_mb", "state",
            "concurrency", "provider_calls", "goals", "lean_runs", "lean_program_side", "lean"} <= set(smoke)
    assert {"cpu", "cores", "memory_gib", "python", "pulumi_cli", "pulumi_sdk"} <= set(smoke["meta"]["machine"])
    assert set(smoke["goals"]) == {"overhead", "economy", "concurrency", "scale", "memory"}
    n = str(smoke["settings"]["sizes"][0])
    row = smoke["summary"]["checkpoints"][n]
    for scenario in SCENARIOS:
        cell = row[scenario]
        assert cell["provider"] is not None and cell["floor"] is not None and cell["ratio"] is not None, (scenario, cell)
        assert cell["api_floor"] is not None, (scenario, cell)
    assert all(r["ok"] for r in smoke["lifecycles"]), [r for r in smoke["lifecycles"] if not r["ok"]]
    assert smoke["goals"]["scale"]["all_succeeded_at_largest"] is True
    assert smoke["memory_mb"]["provider"]["checkpoints"][n] > 0
    assert smoke["state"][f"provider/{n}"]["file_bytes_per_image"] > 0
    conc = smoke["concurrency"]["runs"]
    assert conc and all(r["ok"] and r["up_seconds"] > 0 for r in conc), conc
    assert {"check", "diff_no_change", "create", "read", "update", "delete"} <= set(smoke["provider_calls"]["phases"])


LEAN_KINDS = {"provider", "minimal", "floor", "floor_sized"}
LEAN_SCENARIOS = ("up", "update", "refresh", "destroy")


def test_lean_part_measures_every_kind_and_command(smoke: dict[str, object]) -> None:
    """Issue 16: ImageMetadata, the minimal no-op and the two older floors through the four commands (counts only)."""
    runs = smoke["lean_runs"]
    assert {r["kind"] for r in runs} == LEAN_KINDS
    assert all(r["ok"] for r in runs), [r for r in runs if not r["ok"]]
    n = smoke["settings"]["lean"]["sizes"][0]
    lean = smoke["lean"]
    for scenario in LEAN_SCENARIOS:
        cell = lean["times"]["checkpoints"][str(n)][scenario]
        assert set(cell) == LEAN_KINDS, (scenario, cell)
        for kind, c in cell.items():
            assert c["k"] == 1 and c["min"] > 0 and c["ratio_to_minimal"] is not None, (scenario, kind, c)
            assert set(c["cpu_seconds"]) >= {"cli", "program", "provider", "emulator"}, c
        assert "gap_to_minimal" in cell["provider"]
    for kind in LEAN_KINDS:
        state = lean["state"][str(n)][kind]
        assert state["resources"] == n and state["entry_bytes"] > 0, (kind, state)
        anatomy = lean["anatomy"][kind]
        parts = ("inputs", "outputs", "stackTrace", "sourcePosition", "propertyDependencies", "rest")
        assert sum(anatomy[p] for p in parts) == anatomy["total"], anatomy
        assert anatomy["registered"] >= 4, anatomy
    # The minimal no-op registers its three inputs and the SDK's provider reference, and stores them as such.
    assert lean["program_side"]["minimal"]["registered"] == 4
    assert lean["anatomy"]["minimal"]["input_keys"] == lean["anatomy"]["minimal"]["output_keys"] == 4
    assert set(lean["goals"]) == {"time", "state", "program_cpu"}
    assert set(lean["goals"]["time"]["checkpoints"][str(n)]) == set(LEAN_SCENARIOS)
    from bench import report

    side_by_side = report.lean_compare(lean, lean)  # what --lean-before prints (before and after)
    assert sum(1 for line in side_by_side if line.startswith("| checkpoints")) == len(LEAN_SCENARIOS)


def test_api_economy_is_exact(smoke: dict[str, object]) -> None:
    n = smoke["settings"]["sizes"][0]
    economy = smoke["economy"][str(n)]
    assert set(economy) == set(SCENARIOS)
    observed = {scenario: economy[scenario]["observed"] for scenario in SCENARIOS}
    assert observed == {
        # one create-token lookup per image; the PATCH sets the custom property after the documented create
        # + 1 GET per run: the credentials check of the first check()
        "up": {"POST /v2/images": n, "GET /v2/images": n + 1, "PATCH /v2/images/{id}": n},
        "preview": {"GET /v2/images": 1},  # the credentials check, once per preview run
        "refresh": {"GET /v2/images/{id}": n},
        "update": {"PATCH /v2/images/{id}": n, "GET /v2/images": 1},
        "destroy": {"DELETE /v2/images/{id}": n, "GET /v2/images/{id}": n},
    }
    assert smoke["goals"]["economy"]["exact"] is True
    for run in smoke["concurrency"]["runs"]:
        assert run["requests"]["POST /v2/images"] == smoke["settings"]["concurrency"]["n"], run
    api = smoke["api_floor"][0]["scenarios"]
    assert api["up"]["requests"] == {"POST /v2/images": n, "PATCH /v2/images/{id}": n}
    assert api["update"]["requests"] == {"PATCH /v2/images/{id}": n}
