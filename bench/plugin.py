"""Issue 25: what the benchmark needs to run the ``ims`` provider plugin as a user would.

* :func:`python_sdk`: the Python SDK generated from the plugin's schema (``tools/sdkgen/build.sh``, what
  ``make sdk`` runs), installed into a folder of its own for the program's ``PYTHONPATH``;
* :func:`plugin_bin`: a folder with an executable ``pulumi-resource-ims`` (the package's console script);
* :func:`find_plugin`: the project names that folder in ``Pulumi.yaml`` (``plugins: providers:``), so the
  CLI runs that plugin with the environment every other kind has (ambient plugins stay ignored);
* :data:`IDENTITY`: the plugin kinds' own emulator project, so that the create-token look-ups of one kind
  never scan the images of another (the emulator filters tags within a project's images).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from harness.pulumi_cli import VENV, PulumiProject

REPO_ROOT = Path(__file__).resolve().parents[1]

#: AK, SK and project of the plugin kinds (``--identity AK:SK:PROJECT_ID`` of the emulator); the same
#: lengths as the demo identity the dynamic provider uses, so nothing but the project differs.
IDENTITY = ("IMSBENCHPLUGINKEY001", "ims-bench-plugin-secret-key-not-for-production",
            "1b2c3d4e5f60718293a4b5c6d7e8f90a")


def emulator_args() -> tuple[str, ...]:
    """The emulator arguments that add :data:`IDENTITY`."""
    return ("--identity", ":".join(IDENTITY))


def plugin_config(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Stack config (plain, secret) of the plugin kinds: the emulator at ``url`` as :data:`IDENTITY`."""
    ak, sk, project = IDENTITY
    return ({"ims:endpoint": url, "ims:projectId": project}, {"ims:accessKey": ak, "ims:secretKey": sk})


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` exited {proc.returncode}\n{(proc.stdout + proc.stderr)[-4000:]}")


def python_sdk(work: Path) -> Path:
    """Generate the SDKs into ``work/sdk`` and ``pip install`` the Python one into ``work/pulumi-ims-site``.

    Installed, not only put on the path: the SDK reads its version from its distribution's metadata.
    ``--no-deps --no-index``: its dependencies are the virtualenv's own; nothing is downloaded.
    """
    sdk, site = work / "sdk", work / "pulumi-ims-site"
    if (site / "pulumi_ims").is_dir():
        return site
    _run([str(REPO_ROOT / "tools" / "sdkgen" / "build.sh"), str(sdk)], cwd=REPO_ROOT,
         env={"PY": str(VENV / "bin" / "python")})
    _run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "--target", str(site), str(sdk / "python")], cwd=sdk / "python")
    return site


def plugin_bin(work: Path, profile_dir: Path | None = None) -> Path:
    """A folder with an executable ``pulumi-resource-ims``: the console script ``make setup`` installed,
    else the same entry point through ``python -m ims_pulumi.plugin``; with ``profile_dir``, the plugin
    under the benchmark's sampling profiler (:mod:`bench.sampler`), writing there."""
    folder = work / ("plugin-bin-profiled" if profile_dir else "plugin-bin")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "pulumi-resource-ims"
    installed = VENV / "bin" / "pulumi-resource-ims"
    python = VENV / "bin" / "python"
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
                          f'exec "{python}" -m bench.sampler "{profile_dir}" "$@"\n')
    elif installed.exists():
        shutil.copy2(installed, target)
    else:
        target.write_text(f'#!/bin/sh\nexec "{python}" -m ims_pulumi.plugin "$@"\n')
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def find_plugin(project: PulumiProject, folder: Path) -> None:
    """Name the plugin's folder in the project's ``Pulumi.yaml`` (``plugins: providers:``)."""
    meta = project.dir / "Pulumi.yaml"
    meta.write_text(meta.read_text().rstrip("\n") + f"\nplugins:\n  providers:\n    - name: ims\n      path: {folder}\n")
