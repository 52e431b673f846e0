""".github/workflows/preview.yml: parsed and checked, then its run scripts executed for real.

The static tests check that the job wires the commands together (Python 3.11 and Go, ``make
setup``, the emulator or the secrets, ``pulumi preview --json`` piped to ``python -m
preview_summary``, the comment keyed by the marker the summary carries). The end-to-end
test runs the emulator, stack and preview steps' scripts with bash as the runner would
(``-eo pipefail``, ``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_STEP_SUMMARY`` files, step
``env:`` and ``if:`` evaluated) in a temporary workspace, with the real CLI.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.pulumi_cli import PULUMI, VENV

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "preview.yml"
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash`


def load() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def triggers(wf: Mapping[Any, Any]) -> Any:
    return wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true


def steps() -> list[dict[str, Any]]:
    (job,) = load()["jobs"].values()
    result: list[dict[str, Any]] = job["steps"]
    return result


def step(name_part: str) -> dict[str, Any]:
    (found,) = [s for s in steps() if name_part in s.get("name", "")]
    return found


# --- static checks ------------------------------------------------------------------------


@pytest.mark.unit
def test_runs_on_pull_requests_and_may_comment() -> None:
    wf = load()
    assert "pull_request" in triggers(wf)
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    (job,) = wf["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")


@pytest.mark.unit
def test_step_order_wires_the_commands_together() -> None:
    kinds = []
    for s in steps():
        uses, run = s.get("uses", ""), s.get("run", "")
        kinds.append(
            "checkout" if uses.startswith("actions/checkout@") else
            "python" if uses.startswith("actions/setup-python@") else
            "go" if uses.startswith("actions/setup-go@") else
            "cache" if uses.startswith("actions/cache@") else
            "setup" if "make setup" in run else
            "emulator" if "python -m ims_emulator" in run else
            "stack" if "pulumi stack select" in run else
            "preview" if "pulumi preview --json" in run else
            "comment" if uses.startswith("actions/github-script@") else
            "fail" if "exit 1" in run else uses or "?")
    assert kinds == ["checkout", "python", "go", "cache", "setup", "emulator", "stack", "preview", "comment", "fail"]
    assert str(step("Set up Python")["with"]["python-version"]) == "3.11"
    assert step("Set up Go")["with"]["go-version-file"] == "tools/langhost/go.mod"
    assert (REPO / "tools" / "langhost" / "go.mod").is_file()


@pytest.mark.unit
def test_emulator_unless_secrets_are_configured() -> None:
    (job,) = load()["jobs"].values()
    assert job["env"]["USE_CLOUD"] == "${{ secrets.HW_ACCESS_KEY != '' }}"
    assert step("Start the IMS emulator")["if"] == "env.USE_CLOUD != 'true'"
    target = step("Select the stack")
    assert target["env"]["EMULATOR_URL"] == "${{ steps.emulator.outputs.url }}"
    assert {"CLOUD_ACCESS_KEY", "CLOUD_SECRET_KEY", "CLOUD_PROJECT_ID"} <= set(target["env"])
    assert "pulumi config set --secret ims:accessKey" in target["run"]


@pytest.mark.unit
def test_preview_is_piped_to_the_summary_and_the_comment_uses_its_marker() -> None:
    wf = load()
    preview = step("pulumi preview")
    run = " ".join(preview["run"].replace("\\\n", " ").split())
    assert re.search(r"pulumi preview --json .*--stack \"\$STACK\" --cwd \"\$EXAMPLE_DIR\".*\| tee .*"
                     r"\| \.venv/bin/python -m ims_preview_summary .*--marker \"\$COMMENT_MARKER\"", run), run
    assert (REPO / wf["env"]["EXAMPLE_DIR"] / "Pulumi.yaml").is_file()
    comment = step("comment")
    assert comment["env"]["SUMMARY_FILE"] == "${{ steps.preview.outputs.summary }}"
    script = comment["with"]["script"]
    for needed in ("process.env.SUMMARY_FILE", "process.env.COMMENT_MARKER", "<!-- ${process.env.COMMENT_MARKER} -->",
                   "updateComment", "createComment", "github.paginate"):
        assert needed in script, needed
    assert "head.repo.full_name == github.repository" in comment["if"], "no comment attempt from forks"
    assert step("Fail")["if"] == "steps.preview.outputs.exit != '0'"


@pytest.mark.unit
def test_every_step_output_reference_is_written_by_an_earlier_step() -> None:
    seen: dict[str, str] = {}
    for s in steps():
        text = yaml.safe_dump({k: v for k, v in s.items() if k in ("if", "env", "with")})
        for ref_id, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", text):
            assert ref_id in seen, f"step {s.get('name')!r} reads steps.{ref_id} before it runs"
            assert re.search(rf'echo "{output}=', seen[ref_id]), f"steps.{ref_id} never writes {output!r}"
        if "id" in s:
            seen[s["id"]] = s.get("run", "")


@pytest.mark.unit
def test_no_expressions_inside_scripts() -> None:
    """Inputs reach scripts through env: no `${{ }}` in a run script (injection-safe and testable here)."""
    for s in steps():
        assert "${{" not in s.get("run", ""), s.get("name")


# --- the scripts, executed -------------------------------------------------------------------


@dataclass
class Runner:
    """Just enough of a GitHub runner to execute this workflow's run steps."""

    workspace: Path
    temp: Path
    env: dict[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: Path = field(init=False)

    def __post_init__(self) -> None:
        self.summary = self.temp / "step-summary.md"

    def value(self, text: str) -> str:
        """A value of an ``env:`` or ``with:`` entry: literal text with ``${{ }}`` expressions substituted."""
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: self.expr(m.group(1)), text, flags=re.S)

    def expr(self, text: str) -> str:
        """Evaluate an expression of the kinds this workflow uses (contexts, literals, ==, !=, ||).

        ``if:`` conditions are expressions with or without ``${{ }}``.
        """
        inner = text.strip()
        match = re.fullmatch(r"\$\{\{(.*)\}\}", inner, re.S)
        if match:
            inner = match.group(1).strip()

        def context(m: re.Match[str]) -> str:
            kind, rest = m.group(1), m.group(2)
            if kind in ("secrets", "vars"):
                return repr("")
            if kind == "env":
                return repr(self.env.get(rest, ""))
            ref_id, _, name = rest.split(".", 2)
            return repr(self.outputs.get(ref_id, {}).get(name, ""))

        python = re.sub(r"\b(secrets|vars|env|steps)\.([\w.-]+)", context, inner).replace("||", " or ")
        if re.search(r"\bgithub\.", python):
            raise NotImplementedError(python)
        value = eval(python, {"__builtins__": {}}, {})  # our own workflow's expressions only
        return str(value).lower() if isinstance(value, bool) else str(value)

    def run(self, s: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
        """Run one step's script; its outputs and GITHUB_ENV lines are recorded for the next steps."""
        files = {k: self.temp / f"{k.lower()}-{len(self.outputs)}" for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for path in files.values():
            path.write_text("")
        env = {**self.env, **{k: self.value(str(v)) for k, v in (s.get("env") or {}).items()},
               **{k: str(v) for k, v in files.items()}, "GITHUB_STEP_SUMMARY": str(self.summary)}
        proc = subprocess.run([*SHELL, "-c", s["run"]], cwd=self.workspace, env=env, capture_output=True, text=True,
                              timeout=600)
        self.outputs[s.get("id", s["name"])] = dict(
            line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if "=" in line)
        for line in files["GITHUB_ENV"].read_text().splitlines():
            key, _, value = line.partition("=")
            self.env[key] = value
        for line in files["GITHUB_PATH"].read_text().splitlines():
            self.env["PATH"] = f"{line}:{self.env['PATH']}"
        return proc


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    temp.mkdir()
    (workspace / "examples").mkdir(parents=True)
    (workspace / ".venv").symlink_to(VENV, target_is_directory=True)
    (workspace / "ims_preview_summary").symlink_to(REPO / "ims_preview_summary", target_is_directory=True)
    example = load()["env"]["EXAMPLE_DIR"]
    shutil.copytree(REPO / example, workspace / example, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HW_", "PULUMI_", "GITHUB_"))}
    base.update({"RUNNER_TEMP": str(temp), "GITHUB_WORKSPACE": str(workspace), "PULUMI_HOME": str(tmp_path / "home"),
                 "NO_COLOR": "1", "PATH": f"{PULUMI.parent}:{os.environ.get('PATH', '')}"})  # what `make setup` adds
    r = Runner(workspace, temp, base)
    wf = load()
    (job,) = wf["jobs"].values()
    r.env.update({k: r.value(str(v)) for k, v in wf["env"].items()})
    r.env.update({k: r.value(str(v)) for k, v in job["env"].items()})
    try:
        yield r
    finally:
        pid_file = temp / "emulator" / "pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)


@pytest.mark.e2e
def test_workflow_scripts_preview_the_example_and_write_the_comment(runner: Runner, pulumi_cli: None) -> None:
    assert 'echo "$GITHUB_WORKSPACE/.venv/bin" >> "$GITHUB_PATH"' in step("make setup")["run"]
    assert runner.env["USE_CLOUD"] == "false" and runner.env["STACK"] == "pr-preview"

    emulator = step("Start the IMS emulator")
    assert runner.expr(emulator["if"]) == "true"
    proc = runner.run(emulator)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert runner.outputs["emulator"]["url"].startswith("http://127.0.0.1:")

    proc = runner.run(step("Select the stack"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert runner.outputs["target"] == {"label": "local IMS emulator"}
    assert runner.env["PULUMI_BACKEND_URL"].startswith("file://")

    preview = step("pulumi preview")
    proc = runner.run(preview)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = runner.outputs["preview"]
    assert out["exit"] == "0" and runner.expr(step("Fail")["if"]) == "false"
    summary = Path(out["summary"]).read_text()
    first = summary.splitlines()[0]
    assert first == ("### Pulumi preview: examples/multi-image (pr-preview, local IMS emulator) "
                     "<!-- pulumi-preview-summary:examples/multi-image -->"), summary
    assert "**5 to create**" in summary  # the stack resource and four images
    for key in ("ubuntu-22", "debian-12", "euler-2", "windows-2019"):
        assert f"- `+` **create** `{key}` (ims:ImageMetadata)" in summary, summary
    assert runner.summary.read_text() == summary, "the job summary shows the same Markdown"
    assert f"<!-- {runner.env['COMMENT_MARKER']} -->" in first, "the comment step finds its comment by this"

    # a broken program: the preview fails, the comment says why, the last step fails the job
    main = runner.workspace / runner.env["EXAMPLE_DIR"] / "__main__.py"
    main.write_text(main.read_text().replace('name=f"{prefix}-debian-12"', 'name=f"{prefix}-debian<12>"'))
    proc = runner.run(preview)
    assert proc.returncode == 0, "the step itself succeeds so that the comment is still posted"
    assert runner.outputs["preview"]["exit"] != "0" and runner.expr(step("Fail")["if"]) == "true"
    summary = Path(runner.outputs["preview"]["summary"]).read_text()
    assert "**The preview failed**" in summary and "contains '<>'" in summary, summary

    # no plan at all (an unknown stack): the fallback comment carries the CLI's error
    runner.env["STACK"] = "no-such-stack"
    proc = runner.run(preview)
    assert proc.returncode == 0
    summary = Path(runner.outputs["preview"]["summary"]).read_text()
    assert "**The preview failed**" in summary and "no-such-stack" in summary, summary
    assert summary.splitlines()[0].endswith(f"<!-- {runner.env['COMMENT_MARKER']} -->")
