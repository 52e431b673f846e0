"""The repository as a package other projects install: wheel contents, ``pip install`` of a path
and of a git URL into a fresh virtualenv, strict type checking of the public API from outside,
and a Pulumi project outside the repository that uses the installed copy.

Offline and fast: the fresh virtualenvs get the project's already-installed dependencies
(pulumi, requests, setuptools...) through a ``.pth`` file that points at a view of
``.venv``'s site-packages *without* this project's own editable install, and pip runs with
``--no-index --no-build-isolation``. pip still resolves the declared dependencies against
them, so a dependency missing from ``pyproject.toml`` or a version range the pins do not
satisfy fails here. Builds use a copy of the working tree (tracked and new, non-ignored
files), never the repository itself, so nothing is written into it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from harness.pulumi_cli import VENV, PulumiProject, ims_config
from ims_emulator import DEMO_PROJECT_ID
from ims_emulator.process import Emulator

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIST = "pulumi-ims-image-metadata"
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
OWN = ("__editable__", "pulumi_ims_image_metadata", "__pycache__")


def run(*argv: str | Path, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass
class Venv:
    """A fresh virtualenv whose dependencies come from the project's ``.venv``."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def pip_install(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """``pip install --no-index --no-build-isolation ARGS`` with the project's pip, into this venv."""
        return run(sys.executable, "-m", "pip", "--python", self.python, "install", "--no-index",
                   "--no-build-isolation", "--disable-pip-version-check", *args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("package")


@pytest.fixture(scope="module")
def source(workdir: Path) -> Path:
    """The working tree as it would be committed: tracked and new files, minus what .gitignore ignores."""
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


@pytest.fixture(scope="module")
def new_venv(workdir: Path, deps_view: Path) -> Callable[[], Venv]:
    """Factory of fresh virtualenvs (without pip: the project's pip installs into them with ``--python``)."""
    count = 0

    def make() -> Venv:
        nonlocal count
        count += 1
        venv = Venv(workdir / f"venv{count}")
        run(sys.executable, "-m", "venv", "--without-pip", venv.path)
        (venv.path / SITE / "_project_deps.pth").write_text(f"{deps_view}\n")
        return venv

    return make


@pytest.fixture(scope="module")
def wheel(source: Path, workdir: Path) -> Path:
    out = workdir / "wheelhouse"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "-w", out, source)
    (whl,) = out.glob("*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(new_venv: Callable[[], Venv], source: Path) -> Venv:
    """A fresh venv with ``pip install <path of the repository copy>`` (dependencies resolved too)."""
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    venv = new_venv()
    venv.pip_install(source)
    # Installing from a path must not change the source tree (setuptools wrote build/ and *.egg-info there).
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before, "pip install wrote into the source tree"
    return venv


def imported_from(venv: Venv, cwd: Path) -> dict[str, str]:
    """Where the venv's Python, started outside the repository, imports the package from."""
    code = ("import json, importlib.metadata as m, ims_pulumi as ims, providers.ims.provider as legacy; "
            "print(json.dumps({'legacy': legacy.__file__, 'ims': ims.__file__, "
            "'legacy_class': legacy.ImageMetadataProvider.__module__, "
            f"'version': m.version('{DIST}'), 'api': sorted(ims.__all__)}}))")
    result: dict[str, str] = json.loads(run(venv.python, "-c", code, cwd=cwd).stdout)
    return result


# --- the wheel ---------------------------------------------------------------------------------


def test_wheel_contents(wheel: Path, source: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = Parser().parsestr(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    modules = {f"ims_pulumi/{p.name}" for p in (source / "providers" / "ims_pulumi").glob("*.py")}
    assert modules <= names, f"provider modules missing from the wheel: {sorted(modules - names)}"
    assert {"ims_pulumi/py.typed", "providers/ims/__init__.py", "providers/ims/provider.py"} <= names
    # `providers` stays a namespace package: a user's own `providers` package must win over it.
    assert "providers/__init__.py" not in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "scripts/", "bench/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert metadata["Name"] == DIST
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("pulumi") and "extra" not in r for r in requires), requires
    assert any(r.startswith("requests") and "extra" not in r for r in requires), requires
    assert metadata["Requires-Python"], "the supported Python versions are declared"


# --- pip install --------------------------------------------------------------------------------


def test_pip_install_of_the_repository_path(installed: Venv, workdir: Path) -> None:
    where = imported_from(installed, cwd=workdir)
    site = str(installed.path / SITE)
    assert where["ims"].startswith(site) and where["legacy"].startswith(site), where
    # state written by 0.1 holds `providers.ims.provider.ImageMetadataProvider`: it resolves to the current class
    assert where["legacy_class"] == "ims_pulumi.provider", where
    assert where["version"] == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert {"ImageMetadata", "ImageMetadataArgs"} <= set(where["api"])
    assert (installed.path / SITE / "ims_pulumi" / "py.typed").is_file()


def test_pip_install_of_a_git_url(new_venv: Callable[[], Venv], workdir: Path) -> None:
    """``pip install git+URL`` installs the committed HEAD (here through a file:// URL)."""
    venv = new_venv()
    venv.pip_install(f"git+file://{REPO}")
    where = imported_from(venv, cwd=workdir)
    assert where["ims"].startswith(str(venv.path / SITE)), where
    direct = json.loads(next((venv.path / SITE).glob("pulumi_ims_image_metadata-*.dist-info")).joinpath(
        "direct_url.json").read_text())
    assert direct["vcs_info"]["vcs"] == "git" and len(direct["vcs_info"]["commit_id"]) == 40


def test_wheel_installs_too(new_venv: Callable[[], Venv], wheel: Path, workdir: Path) -> None:
    venv = new_venv()
    venv.pip_install(wheel)
    assert imported_from(venv, cwd=workdir)["ims"].startswith(str(venv.path / SITE))


# --- types, from the consumer's side ---------------------------------------------------------

CONSUMER = '''
import pulumi

from ims_pulumi import ImageMetadata, ImageMetadataArgs

image = ImageMetadata("app", ImageMetadataArgs(name="app", min_disk=10, tags=["team=app"]))
same = ImageMetadata("kw", name="kw", os_version="Ubuntu 22.04 server 64bit", protected=False)
ref = ImageMetadata.get("ref", image.id)
name: pulumi.Output[str] = image.name
size: pulumi.Output[int | None] = ref.size
pulumi.export("id", image.id)
'''
WRONG = '''
from ims_pulumi import ImageMetadataArgs

args = ImageMetadataArgs(min_disk="ten")
'''


def test_installed_public_api_passes_strict_type_checking(installed: Venv, workdir: Path) -> None:
    """py.typed is shipped, so mypy --strict in a consumer project checks against the real annotations."""
    project = workdir / "typed-consumer"
    project.mkdir()
    (project / "good.py").write_text(CONSUMER)
    (project / "wrong.py").write_text(WRONG)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-executable", str(installed.python)]
    result = subprocess.run([*mypy, "good.py", "wrong.py"], cwd=project, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if e.startswith("good.py")], result.stdout + result.stderr
    assert len(errors) == 1 and errors[0].startswith("wrong.py:4:"), result.stdout + result.stderr
    assert '"min_disk"' in errors[0] and "[arg-type]" in errors[0], "the annotations are used, not Any"


# --- a Pulumi project outside the repository ----------------------------------------------------


@pytest.mark.e2e
def test_installed_package_in_another_pulumi_project(installed: Venv, tmp_path: Path, emu: Emulator,
                                                     pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, '''
import pulumi
import ims_pulumi
from ims_pulumi import ImageMetadata
from providers.mine import MARKER  # the user's own `providers` package wins over the legacy path

image = ImageMetadata("from-package", name="installed-package", os_version="Ubuntu 22.04 server 64bit")
pulumi.export("image_id", image.id)
pulumi.export("platform", image.platform)
pulumi.export("imported_from", ims_pulumi.__file__)
pulumi.export("marker", MARKER)
''', name="outside", config=config, secrets=secrets, extra_env={"PULUMI_PYTHON_CMD": str(installed.python)},
        files={"providers/__init__.py": "", "providers/mine.py": "MARKER = 'users-own-providers'\n"})
    (project.dir / "Pulumi.yaml").write_text(
        f"name: outside\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {installed.path}\n")
    project.up()
    out = project.outputs()
    assert out["imported_from"].startswith(str(installed.path / SITE)), out
    assert out["platform"] == "Ubuntu"
    assert out["marker"] == "users-own-providers"
    assert [i["id"] for i in emu.images(DEMO_PROJECT_ID)] == [out["image_id"]]
    project.preview("--expect-no-changes")
    project.destroy()
    assert [i for i in emu.images(DEMO_PROJECT_ID) if i.get("status") not in ("deleted", "killed")] == []
