"""Helpers of the SDK, YAML and migration tests of the ``ims`` plugin: where the CLI finds the plugin,
the SDKs generated on demand (``tools/sdkgen/build.sh``, as ``make sdk`` runs it), the toolchains
(npm, Go) that compile them.

The SDKs are generated once per test session into pytest's session temp folder (never into the
working tree's ``sdk/``, which is the user's ``make sdk`` output).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from harness import REPO_ROOT
from harness.pulumi_cli import VENV, PulumiProject

__all__ = ["GO_ENV", "NPM_PACKAGES", "PLUGIN_VERSION", "build_sdks", "install_plugin", "plugin_bin", "run_tool",
           "use_plugin_on_path"]

#: The package version (the schema's and the SDKs'; generated SDKs ask the engine for the plugin at it).
PLUGIN_VERSION: str = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]

#: What a TypeScript user installs beside the SDK: pinned, so the compile test is reproducible.
NPM_PACKAGES = ("@pulumi/pulumi@3.276.0", "typescript@5.9.3", "@types/node@20.19.43")

_CACHE = Path(os.environ.get("PULUMI_BUILD_CACHE") or Path.home() / ".cache" / "ims-pulumi")
#: Go's caches shared with ``make setup`` (the CLI build): the Pulumi SDK module is there already.
GO_ENV = {
    "GOMODCACHE": os.environ.get("GOMODCACHE") or str(_CACHE / "gomod"),
    "GOCACHE": os.environ.get("GOCACHE") or str(_CACHE / "gobuild"),
    "GOFLAGS": "-mod=mod",
    "GOTOOLCHAIN": "local",
    "CGO_ENABLED": "0",
}


def run_tool(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a build tool; its output is the failure message when it exits non-zero."""
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` exited {proc.returncode} in {cwd}\n{(proc.stdout + proc.stderr)[-6000:]}")
    return proc.stdout + proc.stderr


def build_sdks(factory: pytest.TempPathFactory) -> Path:
    """The SDKs of the current schema (``tools/sdkgen/build.sh``), generated once per session."""
    out = factory.getbasetemp() / "ims-sdk"
    done = out / ".complete"
    if not done.exists():
        if shutil.which("go") is None:
            pytest.fail("Go is needed to generate the SDKs (the same toolchain `make setup` builds the CLI with)")
        run_tool([str(REPO_ROOT / "tools" / "sdkgen" / "build.sh"), str(out)], cwd=REPO_ROOT,
                 env={"PY": str(VENV / "bin" / "python")})
        done.write_text("")
    return out


def plugin_bin(tmp: Path) -> Path:
    """A folder with an executable ``pulumi-resource-ims``, what ``pip install`` puts on a user's PATH.

    It is the package's console script when ``make setup`` installed one, else the same entry point
    through ``python -m ims_pulumi.plugin`` (a checkout whose virtualenv predates the script).
    """
    folder = tmp / "plugin-bin"
    folder.mkdir(exist_ok=True)
    target = folder / "pulumi-resource-ims"
    installed = VENV / "bin" / "pulumi-resource-ims"
    if installed.exists():
        shutil.copy2(installed, target)
    else:
        target.write_text(f'#!/bin/sh\nexec "{VENV / "bin" / "python"}" -m ims_pulumi.plugin "$@"\n')
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def use_plugin_on_path(project: PulumiProject, tmp: Path) -> None:
    """Let the project's CLI find the plugin the way a user's does: on ``PATH`` (ambient plugins on)."""
    project.env["PATH"] = f"{plugin_bin(tmp)}{os.pathsep}{project.env['PATH']}"
    project.env.pop("PULUMI_IGNORE_AMBIENT_PLUGINS", None)


def install_plugin(project: PulumiProject, tmp: Path) -> None:
    """``pulumi plugin install resource ims VERSION --file ...`` into the project's PULUMI_HOME."""
    script = plugin_bin(tmp) / "pulumi-resource-ims"
    project.run("plugin", "install", "resource", "ims", PLUGIN_VERSION, "--file", str(script))
