"""Drive the real ``pulumi`` CLI (tests, benchmarks): a throwaway project, backend and PULUMI_HOME.

    config, secrets = ims_config(emu.url)        # the provider pointed at an emulator
    project = PulumiProject.create(tmp_path, PROGRAM, config=config, secrets=secrets)
    project.up(); project.preview("--expect-no-changes"); project.destroy()

The CLI is the one ``make setup`` put in ``.venv/bin``; the environment keeps it offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK

__all__ = ["PASSPHRASE", "PULUMI", "VENV", "CommandFailed", "PulumiProject", "Result", "cli_available", "ims_config"]

VENV = REPO_ROOT / ".venv"
PULUMI = VENV / "bin" / "pulumi"
PASSPHRASE = "e2e-test-passphrase"


def ims_config(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Stack config (plain, secret) that points the provider at an emulator with the demo identity."""
    return ({"ims:endpoint": url, "ims:projectId": DEMO_PROJECT_ID},
            {"ims:accessKey": DEMO_AK, "ims:secretKey": DEMO_SK})


def cli_available() -> tuple[bool, str]:
    """Whether the Pulumi CLI is installed (``make setup``)."""
    if not PULUMI.exists():
        return False, f"{PULUMI} missing: run `make setup`"
    return True, ""


@dataclass
class Result:
    """One CLI run."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


class CommandFailed(AssertionError):
    """A CLI command that was expected to succeed failed."""


@dataclass
class PulumiProject:
    """A project directory with its own state backend and PULUMI_HOME."""

    root: Path
    dir: Path
    stack: str
    env: dict[str, str]

    @classmethod
    def create(
        cls,
        tmp: Path,
        program: str,
        *,
        name: str = "e2e",
        stack: str = "dev",
        config: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        files: dict[str, str] | None = None,
        backend: Path | None = None,
        extra_env: dict[str, str] | None = None,
        backend_url: str | None = None,
    ) -> PulumiProject:
        """Write the project, init the stack and set its config.

        The state goes to the file backend ``backend`` (default ``tmp/state``), or to
        ``backend_url`` when given (any backend URL: ``postgres://...``, ``s3://...``).
        """
        project_dir = tmp / name
        project_dir.mkdir(parents=True, exist_ok=True)
        (project_dir / "Pulumi.yaml").write_text(
            f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {VENV}\n"
        )
        (project_dir / "__main__.py").write_text(textwrap.dedent(program))
        for rel, text in (files or {}).items():
            (project_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (project_dir / rel).write_text(textwrap.dedent(text))
        state = backend or tmp / "state"
        if backend_url is None:
            state.mkdir(parents=True, exist_ok=True)
        home = tmp / "pulumi-home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HW_", "PULUMI_"))}
        env.update({
            "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": backend_url or f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "true",
            "PULUMI_PYTHON_CMD": str(VENV / "bin" / "python"),
            "NO_COLOR": "1",
        })
        env.update(extra_env or {})
        project = cls(tmp, project_dir, stack, env)
        project.run("stack", "init", stack)
        for key, value in (config or {}).items():
            project.run("config", "set", key, value)
        for key, value in (secrets or {}).items():
            project.run("config", "set", "--secret", key, value)
        return project

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> Result:
        """Run ``pulumi ARGS --non-interactive`` in the project directory."""
        argv = [str(PULUMI), *args, "--non-interactive", "--color", "never"]
        if (args and args[0] not in ("stack", "config", "version", "about")) or args[:2] == ("stack", "output"):
            argv += ["--stack", self.stack]
        proc = subprocess.run(argv, cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout)
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise CommandFailed(f"`pulumi {' '.join(args)}` exited {proc.returncode}\n{result.output[-6000:]}")
        return result

    def up(self, *args: str, check: bool = True) -> Result:
        """``pulumi up --yes --skip-preview``."""
        return self.run("up", "--yes", "--skip-preview", *args, check=check)

    def preview(self, *args: str, check: bool = True) -> Result:
        """``pulumi preview``."""
        return self.run("preview", *args, check=check)

    def refresh(self, *args: str, check: bool = True) -> Result:
        """``pulumi refresh --yes``."""
        return self.run("refresh", "--yes", "--skip-preview", *args, check=check)

    def destroy(self, *args: str, check: bool = True) -> Result:
        """``pulumi destroy --yes``."""
        return self.run("destroy", "--yes", "--skip-preview", *args, check=check)

    def outputs(self) -> dict[str, Any]:
        """Stack outputs (secrets shown)."""
        out: dict[str, Any] = json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout)
        return out

    def export(self, *args: str) -> dict[str, Any]:
        """``pulumi stack export``."""
        data: dict[str, Any] = json.loads(self.run("stack", "export", "--stack", self.stack, *args).stdout)
        return data

    def resources(self, type_suffix: str = "ImageMetadata") -> list[dict[str, Any]]:
        """Resources of the stack whose type ends with ``type_suffix``."""
        deployment = self.export().get("deployment", {})
        return [r for r in deployment.get("resources") or [] if r.get("type", "").endswith(type_suffix)]

    def write_program(self, program: str) -> None:
        """Replace ``__main__.py``."""
        (self.dir / "__main__.py").write_text(textwrap.dedent(program))
