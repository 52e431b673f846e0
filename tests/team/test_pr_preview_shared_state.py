"""The PR workflow's scripts (.github/workflows/preview.yml) with the state in a shared PostgreSQL backend.

Its steps run as a GitHub runner would run them (bash ``-eo pipefail``, ``GITHUB_OUTPUT``/``GITHUB_ENV``
files, step ``env:`` with the secrets substituted), each "job" in a fresh checkout of the pull request:

* no shared backend: every resource a create, and the comment says why, under its heading;
* a shared backend without the stack: the same, said differently, and nothing is created there;
* the stack deployed from main in the shared backend, a changed program in the pull request: the
  comment shows updates and replacements, no creates, and the job writes nothing to the backend (it
  logs in with a role that may only read the state table);
* a shared backend that cannot be reached: the comment says so, with the CLI's error (the backend's
  address left out).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.pulumi_cli import PULUMI, VENV, PulumiProject
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from scripts.postgres import free_port
from tests.support.images import GONE_STATUSES
from tests.team.conftest import Database

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "preview.yml"
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash`
PASSPHRASE = "team-state-passphrase"


def workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def step(name_part: str) -> dict[str, Any]:
    (job,) = workflow()["jobs"].values()
    (found,) = [s for s in job["steps"] if name_part in s.get("name", "")]
    return found


@dataclass
class Runner:
    """Just enough of a GitHub runner for this workflow's run steps, with repository secrets."""

    workspace: Path
    temp: Path
    base_env: dict[str, str]
    secrets: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def expr(self, text: str) -> str:
        inner = text.strip()
        match = re.fullmatch(r"\$\{\{(.*)\}\}", inner, re.S)
        inner = match.group(1).strip() if match else inner

        def context(m: re.Match[str]) -> str:
            kind, rest = m.group(1), m.group(2)
            if kind == "secrets":
                return repr(self.secrets.get(rest, ""))
            if kind == "vars":
                return repr("")
            if kind == "env":
                return repr(self.env.get(rest, ""))
            ref_id, _, name = rest.split(".", 2)
            return repr(self.outputs.get(ref_id, {}).get(name, ""))

        python = re.sub(r"\b(secrets|vars|env|steps)\.([\w.-]+)", context, inner).replace("||", " or ")
        value = eval(python, {"__builtins__": {}}, {})  # our own workflow's expressions only
        return str(value).lower() if isinstance(value, bool) else str(value)

    def value(self, text: str) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: self.expr(m.group(1)), text, flags=re.S)

    def new_job(self) -> None:
        """A new run of the job: a fresh checkout of the PR's example, fresh runner files and env."""
        example = self.workspace / workflow()["env"]["EXAMPLE_DIR"]
        for stack_file in example.glob("Pulumi.*.yaml"):  # git-ignored: never in a fresh checkout
            stack_file.unlink()
        shutil.rmtree(self.temp / "pulumi-state", ignore_errors=True)
        shutil.rmtree(self.temp / "preview", ignore_errors=True)
        self.env = dict(self.base_env)
        wf = workflow()
        (job,) = wf["jobs"].values()
        self.env.update({k: self.value(str(v)) for k, v in wf["env"].items()})
        self.env.update({k: self.value(str(v)) for k, v in job["env"].items()})
        self.outputs = {k: v for k, v in self.outputs.items() if k == "emulator"}

    def run(self, s: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
        files = {k: self.temp / f"{k.lower()}-{len(self.outputs)}" for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for path in files.values():
            path.write_text("")
        env = {**self.env, **{k: self.value(str(v)) for k, v in (s.get("env") or {}).items()},
               **{k: str(v) for k, v in files.items()}, "GITHUB_STEP_SUMMARY": str(self.temp / "step-summary.md")}
        proc = subprocess.run([*SHELL, "-c", s["run"]], cwd=self.workspace, env=env, capture_output=True, text=True,
                              timeout=600)
        self.outputs[s.get("id", s["name"])] = dict(
            line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if "=" in line)
        for line in files["GITHUB_ENV"].read_text().splitlines():
            key, _, value = line.partition("=")
            self.env[key] = value
        return proc

    def preview_job(self) -> tuple[str, str]:
        """The stack and preview steps of one job: (the comment's Markdown, the preview step's exit)."""
        self.new_job()
        target = self.run(step("Select the stack"))
        assert target.returncode == 0, target.stdout + target.stderr
        assert self.outputs["target"] == {"label": "local IMS emulator"}
        preview = self.run(step("pulumi preview"))
        assert preview.returncode == 0, preview.stdout + preview.stderr
        return Path(self.outputs["preview"]["summary"]).read_text(), self.outputs["preview"]["exit"]


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    temp.mkdir()
    (workspace / "examples").mkdir(parents=True)
    (workspace / ".venv").symlink_to(VENV, target_is_directory=True)
    (workspace / "ims_preview_summary").symlink_to(REPO / "ims_preview_summary", target_is_directory=True)
    example = workflow()["env"]["EXAMPLE_DIR"]
    shutil.copytree(REPO / example, workspace / example, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HW_", "PULUMI_", "GITHUB_", "PG"))}
    base.update({"RUNNER_TEMP": str(temp), "GITHUB_WORKSPACE": str(workspace), "PULUMI_HOME": str(tmp_path / "home"),
                 "NO_COLOR": "1", "PATH": f"{PULUMI.parent}:{os.environ.get('PATH', '')}"})
    r = Runner(workspace, temp, base, secrets={})
    try:
        yield r
    finally:
        pid_file = temp / "emulator" / "pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], check=False)


def deploy_main(tmp_path: Path, runner: Runner, db: Database) -> PulumiProject:
    """The stack as the main branch deployed it: examples/multi-image, unchanged, into the shared backend."""
    root = tmp_path / "main-checkout"
    example = workflow()["env"]["EXAMPLE_DIR"]
    shutil.copytree(REPO / example, root / example, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (root / ".venv").symlink_to(VENV, target_is_directory=True)
    home = tmp_path / "deployer-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HW_", "PULUMI_", "PG"))}
    env.update({"PATH": f"{PULUMI.parent}:{os.environ.get('PATH', '')}", "PULUMI_HOME": str(home),
                "PULUMI_BACKEND_URL": db.url, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_IGNORE_AMBIENT_PLUGINS": "true", "NO_COLOR": "1"})
    project = PulumiProject(root, root / example, runner.env["STACK"], env)
    project.run("stack", "init", project.stack)
    project.run("config", "set", "ims:endpoint", runner.outputs["emulator"]["url"])
    project.run("config", "set", "ims:projectId", DEMO_PROJECT_ID)
    project.run("config", "set", "--secret", "ims:accessKey", DEMO_AK)
    project.run("config", "set", "--secret", "ims:secretKey", DEMO_SK)
    project.up()
    return project


def read_only_url(db: Database, tmp_path: Path) -> str:
    """The backend URL of a role that may only read the state table (README "Team setup")."""
    role = "pulumi_reader"
    server = db.server
    if not server.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"):
        server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{server.password()}'")
    db.rows(f"GRANT SELECT ON pulumi_state TO {role}")
    passfile = tmp_path / "reader.pgpass"
    passfile.write_text(f"127.0.0.1:*:*:{role}:{server.password()}\n")
    passfile.chmod(0o600)
    return f"postgres://{role}@127.0.0.1:{server.port}/{db.name}?sslmode=disable&passfile={passfile}"


def note(summary: str) -> str:
    """The state note: the blockquote right under the heading."""
    lines = summary.splitlines()
    assert lines[1] == "" and lines[2].startswith("> "), summary
    return lines[2][2:]


def test_pr_preview_against_the_deployed_stack_in_postgres(tmp_path: Path, runner: Runner, pg_db: Database,
                                                           pulumi_cli: None) -> None:
    runner.new_job()
    assert runner.env["USE_CLOUD"] == "false" and runner.env["STACK"] == "pr-preview"
    emulator = runner.run(step("Start the IMS emulator"))
    assert emulator.returncode == 0, emulator.stdout + emulator.stderr
    marker = f"<!-- {runner.env['COMMENT_MARKER']} -->"
    heading = f"### Pulumi preview: examples/multi-image (pr-preview, local IMS emulator) {marker}"

    # 1. No shared backend: all creates, and the comment says why right under its heading.
    summary, code = runner.preview_job()
    assert code == "0" and summary.splitlines()[0] == heading, summary
    assert note(summary).startswith("**No shared state backend**") and "every resource shows as a create" in summary
    assert "**5 to create**" in summary

    # 2. A shared backend that has no such stack: all creates, said so; nothing created in the backend.
    runner.secrets = {"PULUMI_BACKEND_URL": pg_db.url, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    summary, code = runner.preview_job()
    assert code == "0" and summary.splitlines()[0] == heading, summary
    assert note(summary).startswith("**The stack `pr-preview` is not in the shared state backend**"), summary
    assert "**5 to create**" in summary
    assert pg_db.keys("%/.pulumi/stacks/%") == [], "the PR job created no stack in the shared backend"
    assert runner.env["PULUMI_BACKEND_URL"].startswith("file://")

    # 3. Deployed from main; the pull request changes the program: updates and replacements only.
    deployed = deploy_main(tmp_path, runner, pg_db)
    ids = {r["urn"].rsplit("::", 1)[1]: r["id"] for r in deployed.resources()}
    assert len(live_images_of(runner)) == 4
    main = runner.workspace / runner.env["EXAMPLE_DIR"] / "__main__.py"
    program = main.read_text()
    changed = program.replace('description="Base image for Linux services"',
                              'description="Base image for Linux services, 2027"')  # in place
    changed = changed.replace("min_disk=20,", "min_disk=30,")  # debian-12: a replacement
    assert changed.count("2027") == 1 and "min_disk=30," in changed
    main.write_text(changed)
    before = pg_db.snapshot()
    runner.secrets["PULUMI_BACKEND_URL"] = read_only_url(pg_db, tmp_path)  # what a PR job needs, no more
    summary, code = runner.preview_job()
    assert code == "0" and summary.splitlines()[0] == heading, summary
    assert note(summary) == ("Compared with the deployed stack `pr-preview` in the shared state backend "
                             "(6 resources in its state)."), summary
    assert runner.env["PULUMI_BACKEND_URL"] == runner.secrets["PULUMI_BACKEND_URL"]
    assert "**1 to update · 1 to replace · 3 unchanged**" in summary, summary
    assert "- `~` **update** `ubuntu-22` (ims:ImageMetadata)" in summary, summary
    assert '`description`: `"Base image for Linux services"` → `"Base image for Linux services, 2027"`' in summary
    assert (f"- `+-` **replace** `debian-12` (ims:ImageMetadata) — because `min_disk` changes · id `{ids['debian-12']}`"
            in summary), summary
    assert "to create" not in summary and "**create**" not in summary, summary
    assert pg_db.snapshot() == before, "a PR preview writes nothing to the shared backend"
    assert pg_db.locks() == []

    # 4. The shared backend cannot be reached: the comment says so, with the CLI's error; the job fails.
    port = free_port()
    runner.secrets["PULUMI_BACKEND_URL"] = f"postgres://pulumi@127.0.0.1:{port}/pulumi?sslmode=disable"
    summary, code = runner.preview_job()
    assert code != "0", summary
    assert summary.splitlines()[0] == heading, summary
    assert note(summary).startswith("**The shared state backend could not be read**"), summary
    assert "**The preview failed**" in summary, summary
    assert 'unable to open state database "<the shared state backend>": failed to ping PostgreSQL' in summary, summary
    assert "dial tcp <host>: connect: connection refused" in summary, summary
    assert str(port) not in summary and "127.0.0.1" not in summary, "the backend's address stays out of the comment"
    assert runner.expr(step("Fail")["if"]) == "true"
    deployed.preview("--expect-no-changes")  # main's checkout: its stack is as it deployed it


def live_images_of(runner: Runner) -> list[dict[str, Any]]:
    """The demo project's live images in the job's emulator (its control API)."""
    url = runner.outputs["emulator"]["url"]
    response = requests.get(f"{url}/_emulator/images", params={"project": DEMO_PROJECT_ID}, timeout=10)
    response.raise_for_status()
    return [i for i in response.json()["images"] if i.get("status") not in GONE_STATUSES]
