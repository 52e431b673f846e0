"""Smoke test of the engine set-up: the real CLI runs a Python program with a dynamic resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject

pytestmark = [pytest.mark.e2e]

PROVIDER = '''
import pulumi.dynamic as dyn


class CounterProvider(dyn.ResourceProvider):
    def create(self, props):
        return dyn.CreateResult(id_="counter-" + props["label"], outs={**props, "doubled": props["n"] * 2})

    def diff(self, _id, olds, news):
        return dyn.DiffResult(changes=olds.get("n") != news.get("n") or olds.get("label") != news.get("label"))

    def update(self, _id, olds, news):
        return dyn.UpdateResult(outs={**news, "doubled": news["n"] * 2})


class Counter(dyn.Resource):
    def __init__(self, name, label, n, opts=None):
        super().__init__(CounterProvider(), name, {"label": label, "n": n, "doubled": None}, opts)
'''

PROGRAM = '''
import pulumi
from counter import Counter

config = pulumi.Config()
c = Counter("c", config.get("label") or "smoke", int(config.get("n") or 21))
pulumi.export("doubled", c.doubled)
pulumi.export("id", c.id)
'''


def test_up_preview_destroy_with_the_real_cli(tmp_path: Path, pulumi_cli: None) -> None:
    project = PulumiProject.create(tmp_path, PROGRAM, name="smoke", files={"counter.py": PROVIDER})
    version = project.run("version").stdout.strip()
    assert version.startswith("v3.27"), version
    up = project.up()
    assert "+ 2 created" in up.stdout or "2 created" in up.stdout, up.output
    assert project.outputs() == {"doubled": 42, "id": "counter-smoke"}
    project.preview("--expect-no-changes")
    project.run("config", "set", "n", "5")
    changed = project.preview("--expect-no-changes", check=False)
    assert changed.returncode != 0, "a changed input must show a change"
    project.up()
    assert project.outputs()["doubled"] == 10
    project.destroy()
    assert project.resources("Resource") == []


def test_program_errors_fail_the_run(tmp_path: Path, pulumi_cli: None) -> None:
    project = PulumiProject.create(tmp_path, "raise ValueError('boom from the program')\n", name="broken")
    result = project.preview(check=False)
    assert result.returncode != 0 and "boom from the program" in result.output
