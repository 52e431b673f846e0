"""docs/getting-started.md "Use it in your own project", run as written; the console scripts; the CLI by hand.

* The page's project is built from the page itself: its fenced blocks whose info string is
  ``<lang> own-project:<name>`` are the project's files (``Pulumi.yaml``, ``requirements.txt``,
  ``__main__.py``) and its steps (``install``, ``emulator``, ``deploy``, ``destroy``), run by
  bash in that order in a temporary folder, so the documentation cannot drift from what works.
  What stands in for a user's machine is spelled out in ``SUBSTITUTIONS`` and ``PRELUDE``: the
  repository copy for the git URL, a free port for 8790, offline pip (the approach of
  ``test_install.py``: a ``.pth`` view of ``.venv``'s site-packages, ``--no-index``), and
  ``.venv/bin/pulumi`` as the CLI, with a throwaway ``file://`` backend and passphrase.
* ``ims-emulator`` and ``ims-preview-summary`` are installed with the package and run from any
  folder.
* ``.venv/bin/activate`` only fills in defaults and never replaces a backend, login or
  passphrase of the user's; the CLI installed by ``scripts/install-pulumi.sh`` finds its plugins
  without that environment and without the ``using ... from $PATH`` warning.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.pulumi_cli import PULUMI, VENV
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from tests.support.readme import Block, commands, tagged

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "getting-started.md"
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
OWN = ("__editable__", "pulumi_ims_image_metadata", "__pycache__")
PASSPHRASE = "own-project-test-passphrase"
PLUGIN_WARNING = re.compile(r"using pulumi-[\w-]+ from \$PATH")

# --- the guide's blocks ------------------------------------------------------------------------

FILES = ("Pulumi.yaml", "requirements.txt", "__main__.py")
STEPS = ("install", "emulator", "deploy", "destroy")
GIT_URL = "git+https://github.com/<org>/pulumi-ims-image-metadata.git"
README_PORT = "8790"

#: (block, documented text, what the test uses instead). Each must occur in its block.
SUBSTITUTIONS = (
    ("requirements.txt", GIT_URL, "file://{source}"),          # the repository copy stands in for the git URL
    ("emulator", f"--port {README_PORT}", "--port 0"),          # a free port: 8790 may be someone else's
    ("deploy", f"http://127.0.0.1:{README_PORT}", "{emulator_url}"),
)

#: Sourced before every step: what "offline, on this machine" means, nothing else.
PRELUDE = r'''
set -euo pipefail
# A virtualenv without pip whose dependencies come from the project's .venv (offline).
python3() {
    if [ "${1:-}" = -m ] && [ "${2:-}" = venv ] && [ $# -eq 3 ]; then
        "$IMS_TEST_PYTHON" -m venv --without-pip "$3"
        printf '%s\n' "$IMS_TEST_DEPS" > "$3/$IMS_TEST_SITE/_project_deps.pth"
    else
        "$IMS_TEST_PYTHON" "$@"
    fi
}
# `pip install ...` into the active virtualenv, with the project's pip, from local sources only.
pip() {
    [ "${1:-}" = install ] || { echo "test prelude: only 'pip install' is supported" >&2; return 2; }
    shift
    "$IMS_TEST_PYTHON" -m pip --python "${VIRTUAL_ENV:?no virtualenv active}/bin/python" install \
        --no-index --no-build-isolation --disable-pip-version-check "$@"
}
'''


def readme_blocks(text: str | None = None) -> dict[str, Block]:
    """The ``own-project:`` blocks of the docs, by name (each name once; see tests/support/readme.py)."""
    return tagged("own-project", text)


def substituted(blocks: dict[str, Block], **values: str) -> dict[str, str]:
    """The blocks' text with SUBSTITUTIONS applied (the ones whose values are given)."""
    out = {name: block.body for name, block in blocks.items()}
    for name, old, new in SUBSTITUTIONS:
        assert old in out[name], f"block own-project:{name} no longer contains {old!r}; update SUBSTITUTIONS"
        try:
            out[name] = out[name].replace(old, new.format(**values))
        except KeyError:
            continue
    return out


@pytest.mark.unit
def test_readme_has_the_own_project_blocks() -> None:
    blocks = readme_blocks()
    assert set(blocks) == set(FILES) | set(STEPS), sorted(blocks)
    assert [b.lang for b in blocks.values() if b.name in STEPS] == ["sh"] * len(STEPS)
    assert {b.page for b in blocks.values()} == {"docs/getting-started.md"}, "the blocks are on one page"
    text = GUIDE.read_text()
    start = text.index("\n## Use it in your own project\n")
    section = text[start:text.index("\n## ", start + 1)]
    assert text.index("\n## Quick start\n") < start
    assert all(f"own-project:{name}" in section for name in blocks), "the blocks belong to the section"
    substituted(blocks)  # every substitution still finds its text
    assert "from ims_pulumi import ImageMetadata" in blocks["__main__.py"].body
    assert commands(blocks["emulator"]) == [f"ims-emulator --port {README_PORT} --data ./emu-data"]
    deploy = "\n".join(commands(blocks["deploy"]))
    for needed in ("pulumi config set ims:endpoint", "pulumi config set --secret ims:accessKey",
                   "pulumi config set --secret ims:secretKey", "pulumi up", "pulumi preview --expect-no-changes"):
        assert needed in deploy, needed
    assert commands(blocks["destroy"]) == ["pulumi destroy"]
    # the section documents the other ways in, too
    for needed in ("pip install ./path/to/a/clone", "pip wheel", "[emulator]", "https://get.pulumi.com",
                   "scripts/install-pulumi.sh", "HW_ACCESS_KEY", "ims-preview-summary", "--secret"):
        assert needed in section, needed


@pytest.mark.unit
def test_block_parser_sees_only_tagged_blocks() -> None:
    text = ("```sh\nuntagged\n```\n"
            "```sh own-project:install\npip install x\n# comment\n\n```\n"
            "```yaml own-project:Pulumi.yaml\nname: a\n```\n")
    blocks = readme_blocks(text)
    assert set(blocks) == {"install", "Pulumi.yaml"}
    assert commands(blocks["install"]) == ["pip install x"]
    with pytest.raises(AssertionError, match="two blocks"):
        readme_blocks(text + "```sh own-project:install\nx\n```\n")


# --- fresh virtualenvs, offline (as in test_install.py) ----------------------------------------


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, input=input, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the project's or a user's Pulumi/IMS settings or an active virtualenv."""
    drop = ("PULUMI_", "HW_", "_IMS_DEFAULT_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    venv_bins = {str(VENV / "bin"), str(REPO / ".venv" / "bin")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p not in venv_bins)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("own-project")


@pytest.fixture(scope="module")
def source(workdir: Path) -> Path:
    """The working tree as it would be committed (tracked and new, non-ignored files)."""
    listing = run("git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    target = workdir / "src"
    for rel in filter(None, listing.split("\0")):
        path = REPO / rel
        if path.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / rel)
    return target


@pytest.fixture(scope="module")
def deps_view(workdir: Path) -> Path:
    """``.venv``'s site-packages as symlinks, without this project's editable install or .pth hooks."""
    view = workdir / "deps"
    view.mkdir()
    for entry in (VENV / SITE).iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    return view


# --- the documented project ----------------------------------------------------------------------


@dataclass
class Project:
    dir: Path
    env: dict[str, str]

    def step(self, name: str, text: str) -> subprocess.CompletedProcess[str]:
        """Run a documented step (its text as substituted) with bash, after PRELUDE, in the project folder."""
        script = f"{PRELUDE}\nset -x\n{text}"
        proc = subprocess.run(["bash", "-c", script], cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"step own-project:{name} exited {proc.returncode}:\n{text}\n"
                        f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-5000:]}")
        return proc


def user_images(url: str) -> list[dict[str, Any]]:
    """The demo project's images in the emulator at ``url`` (control API, no auth)."""
    response = requests.get(f"{url}/_emulator/images", params={"project": DEMO_PROJECT_ID}, timeout=10)
    response.raise_for_status()
    return [i for i in response.json()["images"] if i.get("status") not in ("deleted", "killed")]


def start_readme_emulator(project: Project, line: str) -> tuple[subprocess.Popen[str], str]:
    """Start the documented emulator command (the virtualenv activated) and read its URL."""
    proc = subprocess.Popen(["bash", "-c", f". venv/bin/activate && exec {line}"], cwd=project.dir, env=project.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the documented emulator command did not start: {line}\n{err[-3000:]}")
    return proc, url


@pytest.mark.e2e
def test_the_readme_project_runs_as_written(source: Path, deps_view: Path, tmp_path: Path,
                                            pulumi_cli: None) -> None:
    blocks = readme_blocks()
    project_dir = tmp_path / "my-images"
    project_dir.mkdir()
    cli_dir = tmp_path / "cli"  # the CLI as a user has it on PATH: .venv/bin/pulumi, nothing else
    cli_dir.mkdir()
    (cli_dir / "pulumi").symlink_to(PULUMI)
    state = tmp_path / "state"
    state.mkdir()
    env = clean_env(
        PATH=f"{cli_dir}{os.pathsep}{clean_env()['PATH']}",
        PULUMI_BACKEND_URL=f"file://{state}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_SKIP_CONFIRMATIONS="true",  # `pulumi up` / `pulumi destroy` without a terminal to answer
        IMS_TEST_PYTHON=sys.executable,
        IMS_TEST_DEPS=str(deps_view),
        IMS_TEST_SITE=SITE,
    )
    project = Project(project_dir, env)

    files = substituted(blocks, source=str(source))
    for name in FILES:
        (project_dir / name).write_text(files[name])

    outputs = [project.step("install", files["install"])]
    site = project_dir / "venv" / SITE
    assert (site / "ims_pulumi" / "__init__.py").is_file(), "the package is installed into the project's venv"
    assert (project_dir / "venv" / "bin" / "ims-emulator").is_file()

    (line,) = commands(blocks["emulator"])
    line = line.replace(f"--port {README_PORT}", "--port 0")
    emulator_proc, url = start_readme_emulator(project, line)
    try:
        steps = substituted(blocks, source=str(source), emulator_url=url)
        deploy = project.step("deploy", steps["deploy"])
        outputs.append(deploy)
        images = user_images(url)
        assert len(images) == 1 and images[0]["name"] == "my-app-base", images
        assert images[0]["id"] in deploy.stdout, "`pulumi stack output` shows the image id"
        assert "Ubuntu" in deploy.stdout
        assert (project_dir / "emu-data").is_dir(), "the emulator keeps its data where the docs say"
        out = deploy.stdout + deploy.stderr
        assert "+ 2 created" in out, out[-3000:]
        assert "2 unchanged" in out, "the second look (`--expect-no-changes`) finds nothing to change"

        outputs.append(project.step("destroy", steps["destroy"]))
        assert user_images(url) == [], "pulumi destroy removed the image"
        assert "2 deleted" in outputs[-1].stdout
    finally:
        emulator_proc.terminate()
        emulator_proc.wait(10)
    for proc in outputs:
        assert not PLUGIN_WARNING.search(proc.stdout + proc.stderr), (proc.stdout + proc.stderr)[-3000:]


# --- console scripts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(source: Path, workdir: Path) -> Path:
    out = workdir / "wheelhouse"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "-w", out, source)
    (whl,) = out.glob("*.whl")
    return whl


def test_wheel_ships_preview_summary_and_the_commands(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {"ims_preview_summary/__init__.py", "ims_preview_summary/__main__.py", "ims_emulator/__main__.py",
            "ims_emulator/README.md", "ims_pulumi/py.typed", "providers/ims/provider.py"} <= names
    # No generic top-level names (they would clash with a user's own `emulator` or `preview_summary`).
    assert not {n.split("/")[0] for n in names} & {"emulator", "preview_summary", "tests", "harness", "bench"}, names
    assert "ims-emulator = ims_emulator.__main__:main" in entry_points, entry_points
    assert "ims-preview-summary = ims_preview_summary.__main__:main" in entry_points, entry_points
    assert "ims-os-versions = ims_pulumi.core.os_versions:main" in entry_points, entry_points


@pytest.mark.parametrize("how", ["wheel", "path"])
def test_console_scripts_run_from_any_folder(how: str, wheel: Path, source: Path, deps_view: Path,
                                             tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    (venv / SITE / "_project_deps.pth").write_text(f"{deps_view}\n")
    target = f"{wheel}[emulator]" if how == "wheel" else f"{source}[emulator]"
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-index",
        "--no-build-isolation", "--disable-pip-version-check", target)
    elsewhere = tmp_path / "elsewhere"  # not the repository: nothing importable from the working directory
    elsewhere.mkdir()
    env = clean_env()
    summary = run(venv / "bin" / "ims-preview-summary", "--help", cwd=elsewhere, env=env)
    assert "pulumi preview --json" in summary.stdout
    emulator = run(venv / "bin" / "ims-emulator", "--help", cwd=elsewhere, env=env)
    assert "--port" in emulator.stdout and "--data" in emulator.stdout
    # the emulator's manual is reachable from the installed package: --help says how, --readme prints it
    assert "ims-emulator --readme" in " ".join(emulator.stdout.split()), emulator.stdout[-800:]
    manual = run(venv / "bin" / "ims-emulator", "--readme", cwd=elsewhere, env=env).stdout
    assert manual.startswith("# IMS emulator") and "--no-demo-identity" in manual
    versions = run(venv / "bin" / "ims-os-versions", "--json", cwd=elsewhere, env=env).stdout
    assert "Ubuntu 22.04 server 64bit" in versions
    # and they work, not only parse their options
    empty = run(venv / "bin" / "ims-preview-summary", cwd=elsewhere, env=env,
                input=json.dumps({"steps": [], "diagnostics": [], "changeSummary": {}}))
    assert empty.stdout.strip(), "a summary is printed"
    where = run(venv / "bin" / "python", "-c", "import ims_preview_summary, ims_emulator; print(ims_preview_summary.__file__)",
                cwd=elsewhere, env=env).stdout
    assert where.startswith(str(venv / SITE)), where


# --- .venv/bin/activate ----------------------------------------------------------------------------

@dataclass
class Activate:
    """A virtualenv whose activate script has the project's block, for a checkout at ``root``."""

    venv: Path
    root: Path
    home: Path

    def env_after(self, script: str, **env: str) -> list[dict[str, str]]:
        """Run ``script`` in bash; each ``dump`` in it records the PULUMI_* variables at that point."""
        dump = "printf '%s\\n' '---'; env | grep -E '^PULUMI_' || true"
        base = clean_env(HOME=str(self.home), **env)
        proc = run("bash", "-c", f"dump() {{ {dump}; }}\n{script}", cwd=self.root, env=base)
        states: list[dict[str, str]] = []
        for chunk in proc.stdout.split("---\n")[1:]:
            states.append(dict(line.split("=", 1) for line in chunk.splitlines() if "=" in line))
        return states

    def activated(self, **env: str) -> dict[str, str]:
        (state,) = self.env_after(f". {shlex.quote(str(self.venv))}/bin/activate; dump", **env)
        return state

    def login(self, where: Path, url: str) -> None:
        where.mkdir(parents=True, exist_ok=True)
        (where / "credentials.json").write_text(json.dumps({"current": url, "accessTokens": {url: ""}}))


@pytest.fixture
def activate(tmp_path: Path) -> Activate:
    venv, root, home = tmp_path / "checkout" / ".venv", tmp_path / "checkout", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    run(REPO / "scripts" / "venv-activate-env.sh", venv, root)
    return Activate(venv, root, home)


def local_defaults(root: Path) -> dict[str, str]:
    return {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "true",
        "PULUMI_HOME": f"{root}/.state/pulumi-home",
        "PULUMI_BACKEND_URL": f"file://{root}/.state/backend",
        "PULUMI_CONFIG_PASSPHRASE": "ims-demo-passphrase",
    }


QUIET = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
         "PULUMI_IGNORE_AMBIENT_PLUGINS": "true"}


@pytest.mark.unit
def test_activate_without_user_settings_uses_the_checkout_state(activate: Activate) -> None:
    assert activate.activated() == local_defaults(activate.root)
    assert (activate.root / ".state" / "backend").is_dir()


@pytest.mark.unit
@pytest.mark.parametrize(("user", "expected_extra"), [
    ({"PULUMI_BACKEND_URL": "s3://team-state"}, {}),
    ({"PULUMI_ACCESS_TOKEN": "pul-123"}, {}),
    ({"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE_FILE": "/secrets/pass"}, {}),
    ({"PULUMI_BACKEND_URL": "file:///mine", "PULUMI_CONFIG_PASSPHRASE": "mine", "PULUMI_HOME": "/h"}, {}),
], ids=["backend", "access-token", "backend+passphrase-file", "everything"])
def test_activate_never_replaces_a_users_backend(activate: Activate, user: dict[str, str],
                                                 expected_extra: dict[str, str]) -> None:
    state = activate.activated(**user)
    # the user's settings as they were; no demo passphrase, no local backend, no PULUMI_HOME
    assert state == {**QUIET, **user, **expected_extra}, state


@pytest.mark.unit
@pytest.mark.parametrize("user", [
    {"PULUMI_CONFIG_PASSPHRASE": "my own"},
    {"PULUMI_CONFIG_PASSPHRASE": ""},  # an empty passphrase is a choice too
    {"PULUMI_CONFIG_PASSPHRASE_FILE": "/secrets/pass"},
    {"PULUMI_HOME": "/somewhere/pulumi-home", "PULUMI_SKIP_UPDATE_CHECK": "false"},
], ids=["passphrase", "empty-passphrase", "passphrase-file", "home+update-check"])
def test_activate_keeps_a_users_passphrase_and_home(activate: Activate, user: dict[str, str]) -> None:
    state = activate.activated(**user)
    expected = {**local_defaults(activate.root), **user}
    if "PULUMI_CONFIG_PASSPHRASE_FILE" in user:
        del expected["PULUMI_CONFIG_PASSPHRASE"]
    assert state == expected


@pytest.mark.unit
def test_activate_respects_a_pulumi_login(activate: Activate, tmp_path: Path) -> None:
    activate.login(activate.home / ".pulumi", "https://api.pulumi.com")
    assert activate.activated() == QUIET, "a login in ~/.pulumi/credentials.json: no backend, home or passphrase"
    own_home = tmp_path / "own-home"
    activate.login(own_home, f"file://{tmp_path}/user-state")
    assert activate.activated(PULUMI_HOME=str(own_home)) == {**QUIET, "PULUMI_HOME": str(own_home)}
    creds = tmp_path / "creds"
    activate.login(creds, "s3://team-state")
    assert activate.activated(PULUMI_CREDENTIALS_PATH=str(creds)) == {**QUIET, "PULUMI_CREDENTIALS_PATH": str(creds)}
    # logged out (`pulumi logout` leaves "current" empty): the checkout's defaults again
    activate.login(activate.home / ".pulumi", "")
    assert activate.activated() == local_defaults(activate.root)


@pytest.mark.e2e
def test_activate_with_a_login_the_cli_uses_the_users_backend(activate: Activate, tmp_path: Path,
                                                              pulumi_cli: None) -> None:
    """The real CLI after activation: a user's login wins; without one, the checkout's state."""
    user_state, own_home = tmp_path / "user-state", tmp_path / "own-home"
    user_state.mkdir()
    activate.login(own_home, f"file://{user_state}")
    whoami = f". {shlex.quote(str(activate.venv))}/bin/activate && {shlex.quote(str(PULUMI))} whoami -v"
    env = clean_env(HOME=str(activate.home), PULUMI_HOME=str(own_home))
    assert f"Backend URL: file://{user_state}\n" in run("bash", "-c", whoami, env=env, cwd=tmp_path).stdout
    activate.login(own_home, "")  # `pulumi logout`
    out = run("bash", "-c", whoami, env=env, cwd=tmp_path).stdout
    assert f"Backend URL: file://{activate.root}/.state/backend\n" in out, out


@pytest.mark.unit
def test_deactivate_and_reactivation_remove_only_what_the_block_set(activate: Activate, tmp_path: Path) -> None:
    act = f". {shlex.quote(str(activate.venv))}/bin/activate"
    other = tmp_path / "other"
    other.mkdir()
    other_venv = other / ".venv"
    run(sys.executable, "-m", "venv", "--without-pip", other_venv)
    run(REPO / "scripts" / "venv-activate-env.sh", other_venv, other)
    states = activate.env_after("\n".join([
        act, "dump", "deactivate", "dump",                         # 0: defaults; 1: all gone
        act, "export PULUMI_BACKEND_URL=file:///chosen-later", act, "dump",   # 2: a later choice wins
        "deactivate", "dump",                                      # 3: only the user's choice remains
        "unset PULUMI_BACKEND_URL", act, f". {shlex.quote(str(other_venv))}/bin/activate", "dump",  # 4: other's
    ]), PULUMI_CONFIG_PASSPHRASE_FILE="/secrets/pass")
    user = {"PULUMI_CONFIG_PASSPHRASE_FILE": "/secrets/pass"}
    no_passphrase = {k: v for k, v in local_defaults(activate.root).items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    assert states[0] == {**no_passphrase, **user}
    assert states[1] == user
    assert states[2] == {**QUIET, **user, "PULUMI_BACKEND_URL": "file:///chosen-later"}
    assert states[3] == {**user, "PULUMI_BACKEND_URL": "file:///chosen-later"}
    other_defaults = {k: v for k, v in local_defaults(other).items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    assert states[4] == {**other_defaults, **user}, "another checkout's venv replaces this one's defaults"


@pytest.mark.unit
def test_activate_block_is_written_once_and_replaced_when_it_changes(activate: Activate) -> None:
    script = activate.venv / "bin" / "activate"
    marker = "# >>> ims-image-metadata environment >>>"
    run(REPO / "scripts" / "venv-activate-env.sh", activate.venv, activate.root)
    assert script.read_text().count(marker) == 1
    # a block written by an earlier version (which overrode everything) is replaced
    text = script.read_text()
    start, end = text.index(marker), text.index("# <<< ims-image-metadata environment <<<")
    script.write_text(text[:start] + marker + "\nexport PULUMI_BACKEND_URL=file:///old\n" + text[end:])
    run(REPO / "scripts" / "venv-activate-env.sh", activate.venv, activate.root)
    assert script.read_text() == text
    assert activate.activated(PULUMI_BACKEND_URL="s3://mine")["PULUMI_BACKEND_URL"] == "s3://mine"


# --- the CLI without the activate environment ----------------------------------------------------

PROGRAM = '''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("plain", name="plain-cli")
pulumi.export("id", image.id)
'''


@pytest.fixture(scope="module")
def installed_cli(workdir: Path) -> Path:
    """``scripts/install-pulumi.sh DIR``, as ``make setup`` runs it (the already-built CLI is on PATH)."""
    dest = workdir / "cli-bin"
    env = clean_env()
    env["PATH"] = f"{PULUMI.resolve().parent}{os.pathsep}{env['PATH']}"
    run(REPO / "scripts" / "install-pulumi.sh", dest, env=env)
    return dest


def plain_project(tmp_path: Path, url: str) -> tuple[Path, dict[str, str]]:
    """A project and the environment of a user who did not source the activate script."""
    project = tmp_path / "plain"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: plain\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {VENV}\n")
    (project / "__main__.py").write_text(PROGRAM)
    (tmp_path / "state").mkdir()
    env = clean_env(PULUMI_BACKEND_URL=f"file://{tmp_path / 'state'}", PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
                    PULUMI_HOME=str(tmp_path / "home"), PULUMI_SKIP_UPDATE_CHECK="true",
                    HW_IMS_ENDPOINT=url, HW_PROJECT_ID=DEMO_PROJECT_ID, HW_ACCESS_KEY=DEMO_AK, HW_SECRET_KEY=DEMO_SK)
    return project, env


def preview(cli: Path, project: Path, env: dict[str, str], path_first: Path | None) -> str:
    env = dict(env)
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    run(cli, "stack", "select", "--create", "dev", "--non-interactive", cwd=project, env=env)
    proc = run(cli, "preview", "--non-interactive", "--color", "never", cwd=project, env=env)
    return proc.stdout + proc.stderr


@pytest.mark.e2e
def test_installed_cli_finds_its_plugins_without_the_activate_environment(installed_cli: Path, emu: Emulator,
                                                                         tmp_path: Path) -> None:
    for name in ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        path = installed_cli / name
        assert path.is_file() and not path.is_symlink(), f"{path} is a real file beside pulumi"
    assert (installed_cli / "pulumi-resource-pulumi-python").read_bytes() == \
        (REPO / "scripts" / "pulumi-resource-pulumi-python").read_bytes(), "our launcher, not the stock one"
    project, env = plain_project(tmp_path, emu.url)
    assert "PULUMI_IGNORE_AMBIENT_PLUGINS" not in env
    link_dir = tmp_path / "link"
    link_dir.mkdir()
    (link_dir / "pulumi").symlink_to(installed_cli / "pulumi")
    # its folder on PATH (an activated venv, CI's GITHUB_PATH), not on PATH, reached through a symlink
    for cli, first in ((installed_cli / "pulumi", installed_cli), (installed_cli / "pulumi", None),
                       (link_dir / "pulumi", link_dir)):
        out = preview(cli, project, env, first)
        assert "+ 2 to create" in out, out[-3000:]
        assert not PLUGIN_WARNING.search(out), out[-3000:]


@pytest.mark.e2e
def test_the_old_symlink_layout_did_warn(installed_cli: Path, emu: Emulator, tmp_path: Path) -> None:
    """The check above can fail: a CLI symlinked elsewhere with the launcher as a real file warns."""
    old = tmp_path / "old-bin"
    old.mkdir()
    for name in ("pulumi", "pulumi-language-python", "pulumi-language-python-exec"):
        (old / name).symlink_to(installed_cli / name)
    shutil.copy2(REPO / "scripts" / "pulumi-resource-pulumi-python", old / "pulumi-resource-pulumi-python")
    project, env = plain_project(tmp_path, emu.url)
    out = preview(old / "pulumi", project, env, old)
    assert PLUGIN_WARNING.search(out), out[-3000:]
