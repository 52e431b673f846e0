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
from harness.pulumi_cli import PULUMI, VENV, PulumiProject

__all__ = ["GO_ENV", "NPM_PACKAGES", "PLUGIN_VERSION", "PY_ENV", "build_sdks", "install_plugin", "install_python_sdk",
           "plugin_bin", "run_tool", "use_plugin_on_path"]

#: The package version (the schema's and the SDKs'; generated SDKs ask the engine for the plugin at it).
PLUGIN_VERSION: str = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]

#: What a TypeScript user installs beside the SDK: pinned, so the compile test is reproducible.
NPM_PACKAGES = ("@pulumi/pulumi@3.276.0", "typescript@5.9.3", "@types/node@20.19.43")

_CACHE = Path(os.environ.get("PULUMI_BUILD_CACHE") or Path.home() / ".cache" / "ims-pulumi")
#: Go's caches and build flags shared with ``make setup`` (the CLI build): the Pulumi SDK module is there
#: already, and packages compiled with the same flags are reused.
GO_ENV = {
    "GOMODCACHE": os.environ.get("GOMODCACHE") or str(_CACHE / "gomod"),
    "GOCACHE": os.environ.get("GOCACHE") or str(_CACHE / "gobuild"),
    "GOFLAGS": "-mod=mod -trimpath -tags=osusergo,grpcnotrace",
    "GOTOOLCHAIN": "local",
    "CGO_ENABLED": "0",
}

#: The Python that generates the schema in tools/sdkgen/build.sh.
PY_ENV = {"PY": str(VENV / "bin" / "python")}


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
        run_tool([str(REPO_ROOT / "tools" / "sdkgen" / "build.sh"), str(out)], cwd=REPO_ROOT, env=PY_ENV)
        done.write_text("")
    return out


def install_python_sdk(sdk: Path, factory: pytest.TempPathFactory) -> Path:
    """``pip install`` of the generated Python SDK into a folder of its own, for ``PYTHONPATH`` (once per session).

    Installed, not only put on the path: the SDK reads its version from its distribution's metadata.
    ``--target`` leaves the project's virtualenv alone; ``--no-deps --no-index``: its dependencies
    (``pulumi``, ``semver``, ``packaging``) are the virtualenv's own, nothing is downloaded.
    """
    site = factory.getbasetemp() / "pulumi-ims-site"
    done = site / ".complete"
    if not done.exists():
        source = factory.mktemp("pulumi-ims-src")
        shutil.copytree(sdk / "python", source, dirs_exist_ok=True)  # the build writes into its source folder
        run_tool([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                  "--no-index", "--target", str(site), str(source)], cwd=source)
        done.write_text("")
    return site


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
    argv = [str(PULUMI), "plugin", "install", "resource", "ims", PLUGIN_VERSION, "--file", str(script),
            "--non-interactive"]  # not project.run: that adds --stack, which `plugin install` refuses
    proc = subprocess.run(argv, cwd=project.dir, env=project.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
