"""Every code block of the documentation (README.md, docs/ and examples/*/README.md) is run by a test, or says
why it cannot be.

Each fenced block's info string carries a tag (``tests/support/readme.py``): ``own-project:``
blocks are run by ``test_own_project.py``; ``example:`` blocks are run here, as written, against
the emulator with the real CLI (TypeScript and Go are compiled against the generated SDK: no language
host for them can be built here); ``no-run:<reason>`` blocks name a reason of ``NO_RUN``. What stands in
for a user's machine is spelled out per example: the values the docs leave to the reader
(``SUBSTITUTIONS``), the files a program reads (``FILES``), a free port for 8790.

The block of ``examples/<folder>/README.md`` (``example:examples/<folder>``) is typed at the root of a
copy of the repository (``checkout``), in a shell with neither the CLI on ``PATH`` nor Pulumi settings
but a file backend of its own (``user_env``): the block's ``source .venv/bin/activate`` provides the rest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.pulumi_cli import PASSPHRASE, VENV, PulumiProject, ims_config
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN
from ims_emulator.process import Emulator
from tests.plugin.sdk_support import (
    GO_ENV,
    NPM_PACKAGES,
    build_sdks,
    install_plugin,
    install_python_sdk,
    run_tool,
    use_plugin_on_path,
)
from tests.support.glance import GlanceServer
from tests.support.images import glance_images, live_by_id
from tests.support.readme import Block, blocks, commands, pages, tagged

REPO = Path(__file__).resolve().parents[2]
README_PORT = "8790"

#: Why a block is not run, by the reason its tag names (``no-run:<reason>``).
NO_RUN = {
    "make": "this repository's own make targets: `make test` is the suite this test belongs to, and "
            "tests/package/test_make_up.py runs `make up` and `make down`",
    "cloud": "needs a Huawei Cloud account and region, which no test reaches; the same commands against the "
             "emulator are the own-project:deploy block",
    "install": "the git URL needs the network; a local clone and a wheel (found by the same glob) are installed by "
               "test_own_project.py::test_console_scripts_run_from_any_folder, and the glob is checked below",
    "killed-run": "needs a `pulumi up` killed mid-run: tests/reliability/test_crash_and_restart.py runs these "
                  "commands after killing one",
    "fragment": "a table row to paste into image_metadata.py, not a program: tests/unit/test_framework.py proves "
                "that rows like it work, with throwaway tables",
    "orphan-search": "reads a stack's state with jq and the API by hand after a half-committed create: "
                     "tests/reliability covers the create it is about",
    "install-short": "the README's one line of the `install` block (docs/getting-started.md), whose reason applies",
    "sdk-setup": "builds into and installs into this checkout (sdk/, .venv); tests/plugin/sdk_support.py runs the "
                 "same steps (tools/sdkgen/build.sh, pip install of sdk/python, pulumi plugin install --file) "
                 "into temporary folders, and the python-sdk example here uses them",
    "layout": "a drawing of the package's folders, not commands: test_the_layout_names_real_files checks that every "
              "file and folder it names exists",
    "migration": "placeholders for a stack's own URNs and ids: tests/plugin/test_migration.py runs these steps, in "
                 "this order, on a stack the dynamic provider deployed",
    "language-host": "`pulumi up` of a TypeScript or Go program needs its language host, which cannot be built here "
                     "(the Go module proxy does not serve it): test_typescript_compiles and test_go_builds compile "
                     "README.md's same programs against the generated SDK, tests/plugin/test_sdks.py the examples' files",
}

#: The example blocks, and the test that runs each.
EXAMPLES = {
    "intro": "test_intro_and_pr_summary", "pr-summary": "test_intro_and_pr_summary",
    "adopt": "test_adopt", "content": "test_content", "lookup": "test_lookup",
    "share-emulator": "test_sharing_two_projects", "share-owner": "test_sharing_two_projects",
    "share-consumer": "test_sharing_two_projects", "share-deploy": "test_sharing_two_projects",
    "python-sdk": "test_python_on_the_sdk", "yaml": "test_yaml_program",
    "typescript": "test_typescript_compiles", "go": "test_go_builds",
    "to-dynamic": "test_plugin_stack_moves_to_the_dynamic_provider",
    "to-dynamic-steps": "test_plugin_stack_moves_to_the_dynamic_provider",
    "examples/multi-image": "test_multi_image_and_its_readers", "examples/consumer": "test_multi_image_and_its_readers",
    "examples/lookup": "test_multi_image_and_its_readers", "examples/sharing": "test_sharing_readme",
    "examples/glance": "test_glance_readme", "examples/yaml": "test_yaml_readme",
    "examples/python-sdk": "test_python_sdk_readme",
}

#: A member project of the migration example (any 32 hex characters: the emulator accepts the share).
MEMBER = "b" * 32

#: Project B of examples/sharing: the second identity of its emulator (``--identity AK:SK:PROJECT``).
PROJECT_B = ("IMSPROJECTBKEY000002", "project-b-secret-key-0002", "2c3d4e5f60718293a4b5c6d7e8f90a1b")

#: (block, README text, what the test uses instead). Each must occur in its block.
SUBSTITUTIONS = (
    ("adopt", '"<existing id>"', '"{image_id}"'),   # an image the test makes first, as a user has one
    ("share-deploy", f"http://127.0.0.1:{README_PORT}", "{emulator_url}"),   # a free port: 8790 may be taken
    # the README's digest stands for the digest of the reader's file: the test's file's
    ("content", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha256:{sha256}"),
    # the ids of the image and the member the plugin's stack has
    ("to-dynamic", '"<image id>"', '"{image_id}"'),
    ("to-dynamic", '"<member project id>"', '"{member}"'),
    # examples/*/README.md. What `make emulator`, `make setup` and `make sdk` leave behind is there already:
    # the test's emulator, the checkout's .venv (linked into the copy) and the SDKs of the `sdk` fixture
    # (``pip install`` of the Python SDK: onto PYTHONPATH, the .venv is shared)
    ("examples/multi-image", "make emulator", "true"),
    ("examples/yaml", "make setup", "true"),
    ("examples/python-sdk", "make sdk", "true"),
    ("examples/python-sdk", ".venv/bin/pip install ./sdk/python", "true"),
    *((f"examples/{folder}", f"http://127.0.0.1:{README_PORT}", "{emulator_url}")
      for folder in ("multi-image", "consumer", "lookup", "sharing", "yaml", "python-sdk")),
    ("examples/glance", "http://127.0.0.1:9292", "{glance_url}"),   # the session's Glance
    # the placeholders the reader fills in: the emulator's demo identity (project A), the second one (B)
    *((f"examples/{folder}", old, new) for folder in ("yaml", "python-sdk") for old, new in (
        ("<project id to share with>", MEMBER), ("<project id>", DEMO_PROJECT_ID), ("<AK>", DEMO_AK),
        ("<SK>", DEMO_SK))),
    *(("examples/sharing", old, new) for old, new in (
        ("<project id of A>", DEMO_PROJECT_ID), ("<AK of A>", DEMO_AK), ("<SK of A>", DEMO_SK),
        ("<project id of B>", PROJECT_B[2]), ("<AK of B>", PROJECT_B[0]), ("<SK of B>", PROJECT_B[1]))),
)

#: Files an example reads, written into its project first (a user has them).
FILES = {
    # build/web.qcow2: a QCOW2 header (magic, version 3) and zeros, so that the format check at
    # preview finds the qcow2 the README declares
    "content": {"build/web.qcow2": b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(1016)},
}


def body(name: str, **values: str) -> str:
    """An example block's text with its SUBSTITUTIONS applied."""
    text = tagged("example")[name].body
    for block, old, new in SUBSTITUTIONS:
        if block == name:
            assert old in text, f"block example:{name} no longer contains {old!r}; update SUBSTITUTIONS"
            text = text.replace(old, new.format(**values))
    return text


# --- the tags --------------------------------------------------------------------------------------


@pytest.mark.unit
def test_every_block_is_run_or_says_why_not() -> None:
    untagged = [(b.where, b.lang) for b in blocks() if b.kind not in ("own-project", "example", "no-run")]
    assert not untagged, f"blocks without own-project:/example:/no-run: (page:line, language): {untagged}"
    reasons = {b.name for b in blocks() if b.kind == "no-run"}
    assert reasons <= set(NO_RUN), f"no-run reasons without an explanation in NO_RUN: {reasons - set(NO_RUN)}"
    assert set(tagged("example")) == set(EXAMPLES), "every example block has its test, and only those"
    for block, old, _ in SUBSTITUTIONS:
        assert old in tagged("example")[block].body, (block, old)


@pytest.mark.unit
def test_programs_are_complete() -> None:
    """A Python example imports what it uses: it runs as a project's __main__.py as written."""
    for name, block in tagged("example").items():
        if block.lang == "python":
            compile(block.body, f"example:{name}", "exec")
            assert "from ims_pulumi import" in block.body or "import pulumi_ims as ims" in block.body, name
            if "pulumi." in block.body:
                assert re.search(r"^import pulumi$", block.body, re.M), f"example:{name} uses pulumi without importing it"


@pytest.mark.unit
def test_one_example_per_language_in_the_readme() -> None:
    """The README shows the dynamic provider and the plugin from every language the plugin serves."""
    readme = {b.name: b.lang for b in blocks((REPO / "README.md").read_text()) if b.kind == "example"}
    assert readme == {"intro": "python", "python-sdk": "python", "typescript": "typescript", "go": "go",
                      "yaml": "yaml"}, readme


@pytest.mark.unit
def test_the_docs_name_no_version_of_their_own() -> None:
    """The version is pyproject's: the wheel name is a glob that matches the wheel built from it, the plugin
    version given to `pulumi plugin install` is the package's, and so is the Changelog's current release."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for path in pages():
        text = path.read_text()
        assert not re.search(r"pulumi_ims_image_metadata-\d", text), f"a hard-coded wheel version in {path}"
        for named in re.findall(r"plugin install resource ims (\S+)", text):
            assert named == version, f"{path}: `pulumi plugin install resource ims {named}`, the package is {version}"
    (install,) = [b for b in blocks() if b.kind == "no-run" and b.name == "install"]
    (pattern,) = re.findall(r"dist/(pulumi_ims_image_metadata-\S*\.whl)", install.body)
    assert fnmatch.fnmatch(f"pulumi_ims_image_metadata-{version}-py3-none-any.whl", pattern)
    (short,) = [b for b in blocks() if b.kind == "no-run" and b.name == "install-short"]
    assert commands(short)[0] in install.body, "the README's install line is the first way of the full block"
    major_minor = ".".join(version.split(".")[:2])
    changelog = (REPO / "docs" / "changelog.md").read_text()
    assert f"\n## {major_minor} (this release)" in changelog, "the Changelog's current release is pyproject's version"


# --- running the examples ------------------------------------------------------------------------


def project(tmp_path: Path, emu: Emulator, name: str, program: str, **kwargs: Any) -> PulumiProject:
    config, secrets = ims_config(emu.url)
    made = PulumiProject.create(tmp_path, program, name=name, config=config, secrets=secrets, **kwargs)
    assert (made.dir / "__main__.py").read_text() == program
    return made


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A documented command sequence, run as written by bash (stops at the first failing command)."""
    proc = subprocess.run(["bash", "-c", f"set -euo pipefail\n{script}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"documented commands failed:\n{script}\n--- stdout\n{proc.stdout[-5000:]}\n" \
                                 f"--- stderr\n{proc.stderr[-5000:]}"
    return proc


def shell_env(p: PulumiProject) -> dict[str, str]:
    """The environment of a user with the CLI and the package's commands on PATH (no terminal to confirm)."""
    return {**p.env, "PATH": f"{VENV / 'bin'}{os.pathsep}{p.env['PATH']}", "PULUMI_SKIP_CONFIRMATIONS": "true"}


@pytest.mark.e2e
def test_intro_and_pr_summary(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    p = project(tmp_path, emu, "intro", body("intro"))
    p.up()
    out = p.outputs()
    image = live_by_id(emu)[out["image_id"]]
    assert image["name"] == "ubuntu-22-base" and out["os_type"] == "Linux"
    p.preview("--expect-no-changes")
    # the PR summary of a change to it, as "Pull-request previews" shows the command
    p.write_program(body("intro").replace('"env=dev"', '"env=test"'))
    bash(body("pr-summary"), p.dir, shell_env(p))
    comment = (p.dir / "comment.md").read_text()
    assert "Image changes" in comment and "replace" in comment, comment
    p.destroy()
    assert live_by_id(emu) == {}


@pytest.mark.e2e
def test_adopt(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    http = requests.Session()
    http.trust_env = False
    made = http.post(f"{emu.url}/v2/images", headers={"X-Auth-Token": DEMO_TOKEN}, timeout=10,
                     json={"name": "made-by-hand", "disk_format": "qcow2", "container_format": "bare"})
    assert made.status_code == 201, made.text
    image_id = made.json()["id"]
    p = project(tmp_path, emu, "adopt", body("adopt", image_id=image_id))
    p.preview()
    p.up()
    assert list(live_by_id(emu)) == [image_id], "adopted, not created"
    assert live_by_id(emu)[image_id]["name"] == "legacy-image", "brought to the declared name in place"
    assert {r["id"] for r in p.resources()} == {image_id}
    p.preview("--expect-no-changes")
    p.destroy()
    assert live_by_id(emu) == {}, "the adopted image is managed: destroy deletes it"


@pytest.mark.e2e
def test_content(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    ((path, data),) = FILES["content"].items()
    p = project(tmp_path, emu, "content", body("content", sha256=hashlib.sha256(data).hexdigest()))
    (p.dir / path).parent.mkdir(parents=True)
    (p.dir / path).write_bytes(data)
    p.up()
    assert p.outputs() == {"status": "active", "size": len(data)}
    p.preview("--expect-no-changes")
    p.destroy()


@pytest.mark.e2e
def test_lookup(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    p = project(tmp_path, emu, "lookup", body("lookup"))
    p.preview()  # the first preview: golden waits for `web`, which does not exist yet
    p.up()
    out = p.outputs()
    (web,) = p.resources()
    assert out["golden_id"] == web["id"]
    public = requests.get(f"{emu.url}/_emulator/images", params={"public": "true"}, timeout=10).json()["images"]
    ubuntu = {i["id"]: i for i in public}.get(out["ubuntu_id"]) or {}
    assert ubuntu.get("visibility") == "public" and ubuntu.get("name", "").startswith("Ubuntu 22.04"), ubuntu
    p.preview("--expect-no-changes")
    p.destroy()


@pytest.mark.e2e
def test_sharing_two_projects(tmp_path: Path, pulumi_cli: None) -> None:
    """The owner and the consumer of "Sharing images between projects", first deploy included."""
    (line,) = commands(tagged("example")["share-emulator"])
    argv = shlex.split(line)
    assert argv[:3] == ["ims-emulator", "--port", README_PORT], argv
    with Emulator.start(tmp_path / "emu", *argv[3:]) as emu:
        folder = tmp_path / "work"
        owner = PulumiProject.create(folder, body("share-owner"), name="images", stack="setup",
                                     backend=tmp_path / "state")
        consumer = PulumiProject.create(folder, body("share-consumer"), name="consumer", stack="setup",
                                        backend=tmp_path / "state")
        for p in (owner, consumer):  # the docs create their own stacks: drop the helper's
            p.run("stack", "rm", "--yes", "setup")
        env = shell_env(owner)
        deploy = bash(body("share-deploy", emulator_url=emu.url), folder, env)
        assert deploy.stdout.strip().endswith("golden-2026.11"), deploy.stdout[-2000:]
        consumer.stack = "dev"
        owner.stack = "prod"
        found = consumer.outputs()["found_name"]
        assert found == "golden-2026.11"
        consumer.preview("--expect-no-changes")
        owner.preview("--expect-no-changes")
        consumer.destroy()
        owner.destroy()
        assert live_by_id(emu) == {}


# --- examples/*/README.md ------------------------------------------------------------------------


def checkout(tmp: Path, *folders: str) -> Path:
    """``tmp/repo``: a copy of the repository's layout for the examples' commands (their ``Pulumi.yaml`` name
    ``../../.venv``): ``.venv`` linked, and the committed files of each ``examples/<folder>``."""
    repo = tmp / "repo"
    repo.mkdir()
    (repo / ".venv").symlink_to(VENV, target_is_directory=True)
    for folder in folders:
        tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", f"examples/{folder}"], capture_output=True,
                                 text=True, check=True).stdout.split()
        assert tracked, folder
        for name in tracked:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    return repo


def user_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A new shell of a user whose backend is a folder of ``tmp`` (with its passphrase): no Pulumi settings, no
    CLI on ``PATH`` (the block's ``source .venv/bin/activate`` puts it there), no terminal to confirm on."""
    venv_bin = (VENV / "bin").resolve()
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != venv_bin]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HW_", "PULUMI_", "VIRTUAL_ENV"))}
    (tmp / "state").mkdir()
    env.update({"PATH": os.pathsep.join(path), "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
                "PULUMI_HOME": str(tmp / "pulumi-home"), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "PULUMI_SKIP_CONFIRMATIONS": "true", "NO_COLOR": "1", **extra})
    return env


def run_readme(folder: str, repo: Path, env: dict[str, str], **values: str) -> str:
    """The block of ``examples/<folder>/README.md`` (SUBSTITUTIONS applied), run by bash at ``repo``; its stdout."""
    return bash(body(f"examples/{folder}", **values), repo, env).stdout


def stack_of(repo: Path, folder: str, stack: str, env: dict[str, str]) -> PulumiProject:
    """The CLI on a stack the block made, for the checks (the activated venv's settings)."""
    activated = {**env, "PATH": f"{VENV / 'bin'}{os.pathsep}{env['PATH']}", "PULUMI_SKIP_UPDATE_CHECK": "true",
                 "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}
    return PulumiProject(repo.parent, repo / "examples" / folder, stack, activated)


def created_then_destroyed(p: PulumiProject) -> int:
    """For a block that ends with its own ``pulumi destroy``: the stack's history is one ``up`` and one
    ``destroy`` that deleted what the up created; the number of resources created (the stack's own included)."""
    history = json.loads(p.run("stack", "history", "--json", "--stack", p.stack).stdout)
    updates = [(u["kind"], u["result"], u.get("resourceChanges") or {}) for u in reversed(history)]
    assert [u[:2] for u in updates] == [("update", "succeeded"), ("destroy", "succeeded")], updates
    created: int = updates[0][2].get("create", 0)
    assert updates[1][2].get("delete", 0) == created, updates
    return created


@pytest.mark.e2e
def test_multi_image_and_its_readers(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    """examples/multi-image, then the two examples that read its stack (consumer, lookup): each README's block
    from the repository's root, in a new shell."""
    repo = checkout(tmp_path, "multi-image", "consumer", "lookup")
    env = user_env(tmp_path)
    run_readme("multi-image", repo, env, emulator_url=emu.url)
    images = stack_of(repo, "multi-image", "dev", env)
    ids: dict[str, str] = images.outputs()["image_ids"]
    assert sorted(ids) == ["debian-12", "euler-2", "ubuntu-22", "windows-2019"]
    assert set(live_by_id(emu)) == set(ids.values())

    shown = run_readme("consumer", repo, env, emulator_url=emu.url)   # ends with its own `pulumi destroy`
    assert ids["ubuntu-22"] in shown, "the consumer's up exported the base image's id"
    consumer = stack_of(repo, "consumer", "dev", env)
    assert created_then_destroyed(consumer) == 1, "the stack only: the image is read, not created"
    assert set(live_by_id(emu)) == set(ids.values()), "the images are still there afterwards"

    run_readme("lookup", repo, env, emulator_url=emu.url)
    lookup = stack_of(repo, "lookup", "dev", env)
    found = lookup.outputs()
    assert found["debian_id"] == found["debian_id_from_output"] == ids["debian-12"]
    assert found["ubuntu_name"].startswith("Ubuntu 22.04")
    lookup.destroy()
    images.destroy()
    assert live_by_id(emu) == {}


@pytest.mark.e2e
def test_sharing_readme(tmp_path: Path, pulumi_cli: None) -> None:
    """Both stacks of examples/sharing on an emulator that knows project B beside the demo project (A)."""
    with Emulator.start(tmp_path / "emu", "--identity", ":".join(PROJECT_B)) as emu:
        repo = checkout(tmp_path, "sharing")
        env = user_env(tmp_path)
        run_readme("sharing", repo, env, emulator_url=emu.url)
        owner = stack_of(repo, "sharing", "owner", env)
        consumer = stack_of(repo, "sharing", "consumer", env)
        assert owner.outputs()["share_status"] == "accepted", "the owner's refresh read B's answer"
        assert consumer.outputs()["found_name"] == "golden-2026.11"
        assert list(live_by_id(emu)) == [owner.outputs()["golden_id"]]
        consumer.destroy()
        owner.destroy()
        assert live_by_id(emu) == {}


@pytest.mark.e2e
@pytest.mark.glance
@pytest.mark.slow
def test_glance_readme(tmp_path: Path, glance: GlanceServer, pulumi_cli: None) -> None:
    """examples/glance on the session's Glance; the block ends with its own `pulumi destroy`."""
    repo = checkout(tmp_path, "glance")
    env = user_env(tmp_path)
    run_readme("glance", repo, env, glance_url=glance.url)
    p = stack_of(repo, "glance", "dev", env)
    assert created_then_destroyed(p) == 3, "the stack and its two images"
    left = [i["name"] for i in glance_images(glance.url) if i["name"].startswith("glance-demo-")]
    assert not left, left


@pytest.mark.e2e
@pytest.mark.slow
def test_yaml_readme(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    """examples/yaml on the plugin the activated venv puts on PATH; the block ends with its own `pulumi destroy`."""
    repo = checkout(tmp_path, "yaml")
    env = user_env(tmp_path)
    shown = run_readme("yaml", repo, env, emulator_url=emu.url)
    p = stack_of(repo, "yaml", "dev", env)
    assert created_then_destroyed(p) == 3, "the stack, the image and its share"
    assert "foundName" in shown and "shareStatus" in shown, shown[-3000:]
    assert live_by_id(emu) == {}


@pytest.mark.e2e
@pytest.mark.slow
def test_python_sdk_readme(sdk: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, emu: Emulator,
                           pulumi_cli: None) -> None:
    """examples/python-sdk with the generated SDK installed (PYTHONPATH) and the plugin installed by the block."""
    repo = checkout(tmp_path, "python-sdk")
    env = user_env(tmp_path, PYTHONPATH=str(install_python_sdk(sdk, tmp_path_factory)))
    run_readme("python-sdk", repo, env, emulator_url=emu.url)
    p = stack_of(repo, "python-sdk", "dev", env)
    out = p.outputs()
    assert out["share_status"] == "pending" and out["found_name"] == live_by_id(emu)[out["image_id"]]["name"], out
    assert {r["type"] for r in p.resources("")} >= {"ims:index:ImageMetadata", "ims:index:ImageMember"}
    p.destroy()
    assert live_by_id(emu) == {}


# --- the plugin: one example per language ----------------------------------------------------------


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SDKs of the current schema (``tools/sdkgen``, as ``make sdk`` runs it), once per session."""
    return build_sdks(tmp_path_factory)


@pytest.mark.e2e
@pytest.mark.slow
def test_python_on_the_sdk(sdk: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, emu: Emulator,
                           pulumi_cli: None) -> None:
    site = install_python_sdk(sdk, tmp_path_factory)
    p = project(tmp_path, emu, "python-sdk", body("python-sdk"), extra_env={"PYTHONPATH": str(site)})
    install_plugin(p, tmp_path)
    p.up()
    out = p.outputs()
    image = live_by_id(emu)[out["image_id"]]
    assert (image["name"], image["disk_format"]) == ("ubuntu-22-base", "qcow2")
    assert out["newest_ubuntu"].startswith("Ubuntu"), "the plugin's getImage found a public image"
    (resource,) = p.resources("ImageMetadata")
    assert resource["type"] == "ims:index:ImageMetadata"
    p.preview("--expect-no-changes")
    p.destroy()
    assert live_by_id(emu) == {}


@pytest.mark.e2e
@pytest.mark.slow
def test_yaml_program(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    text = body("yaml")
    config, secrets = ims_config(emu.url)
    p = PulumiProject.create(tmp_path, "", name=yaml.safe_load(text)["name"], config=config, secrets=secrets)
    (p.dir / "__main__.py").unlink()
    (p.dir / "Pulumi.yaml").write_text(text)  # the block is the whole project file
    use_plugin_on_path(p, tmp_path)
    p.up()
    out = p.outputs()
    image = live_by_id(emu)[out["imageId"]]
    assert (image["name"], image["disk_format"]) == ("ubuntu-22-base", "qcow2")
    assert out["newestUbuntu"].startswith("Ubuntu"), "fn::invoke found a public image"
    p.preview("--expect-no-changes")
    p.destroy()
    assert live_by_id(emu) == {}


@pytest.mark.slow
def test_typescript_compiles(sdk: Path, tmp_path: Path) -> None:
    """``index.ts`` as written, beside the example's ``tsconfig.json``, passes ``tsc`` against the generated SDK."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to compile the TypeScript example")
    root = tmp_path / "ts"
    root.mkdir()
    (root / "package.json").write_text('{"private": true}\n')  # one node_modules for the SDK and the program
    run_tool(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", *NPM_PACKAGES],
             cwd=root)
    tsc = str(root / "node_modules" / ".bin" / "tsc")
    shutil.copytree(sdk / "nodejs", root / "sdk")
    run_tool([tsc, "-p", "."], cwd=root / "sdk")
    shutil.copy2(root / "sdk" / "package.json", root / "sdk" / "bin" / "package.json")  # as npm publishes it
    (root / "node_modules" / "@ims").mkdir()
    (root / "node_modules" / "@ims" / "pulumi").symlink_to(root / "sdk" / "bin", target_is_directory=True)
    program = root / "program"
    program.mkdir()
    shutil.copy2(REPO / "examples" / "typescript" / "tsconfig.json", program / "tsconfig.json")
    (program / "index.ts").write_text(body("typescript"))
    run_tool([tsc, "--noEmit", "-p", "."], cwd=program)


@pytest.mark.slow
def test_go_builds(sdk: Path, tmp_path: Path) -> None:
    """``main.go`` as written, with the example's ``go.mod``, passes ``go build`` against the generated SDK."""
    if shutil.which("go") is None:
        pytest.fail("Go is needed to build the Go example")
    module = tmp_path / "sdk" / "go"
    shutil.copytree(sdk / "go", module)
    # the CLI's release of the Pulumi Go SDK, as tests/plugin/test_sdks.py builds the SDK
    run_tool(["go", "mod", "edit", "-require=github.com/pulumi/pulumi/sdk/v3@v3.274.1"], cwd=module, env=GO_ENV)
    run_tool(["go", "mod", "tidy"], cwd=module, env=GO_ENV)
    program = tmp_path / "examples" / "go"  # the example's go.mod replaces the SDK with ../../sdk/go
    program.mkdir(parents=True)
    for name in ("go.mod", "go.sum"):
        shutil.copy2(REPO / "examples" / "go" / name, program / name)
    (program / "main.go").write_text(body("go"))
    run_tool(["go", "build", "-o", str(tmp_path / "program"), "."], cwd=program, env=GO_ENV)
    assert (tmp_path / "program").is_file()


# --- migrating ------------------------------------------------------------------------------------

#: The plugin's stack the migration starts from: the image and share of the example, in YAML.
PLUGIN_STACK = f"""name: my-images
runtime: yaml
resources:
  app:
    type: ims:index:ImageMetadata
    properties: {{name: app-2026.12, osVersion: Ubuntu 22.04 server 64bit, diskFormat: raw, minDisk: 1}}
  share:
    type: ims:index:ImageMember
    properties: {{imageId: "${{app.id}}", memberId: "{MEMBER}"}}
outputs:
  imageId: ${{app.id}}
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_plugin_stack_moves_to_the_dynamic_provider(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    """docs/migrating.md, from the plugin to the dynamic provider: same image, same share, a clean preview."""
    config, secrets = ims_config(emu.url)
    p = PulumiProject.create(tmp_path, "", name="my-images", config=config, secrets=secrets)
    python_project = (p.dir / "Pulumi.yaml").read_text()
    (p.dir / "Pulumi.yaml").write_text(PLUGIN_STACK)
    use_plugin_on_path(p, tmp_path)
    p.up()
    image_id = p.outputs()["imageId"]
    before = live_by_id(emu)
    assert list(before) == [image_id]
    assert {r["type"] for r in p.resources("")} >= {"ims:index:ImageMetadata", "ims:index:ImageMember"}

    # the documented program and steps (the stack `dev` of `my-images` is selected, as after `stack init`)
    (p.dir / "Pulumi.yaml").write_text(python_project)
    p.write_program(body("to-dynamic", image_id=image_id, member=MEMBER))
    bash(body("to-dynamic-steps"), p.dir, shell_env(p))

    after = live_by_id(emu)
    assert list(after) == [image_id], "adopted, not recreated"
    members = requests.get(f"{emu.url}/v2/images/{image_id}/members", headers={"X-Auth-Token": DEMO_TOKEN},
                           timeout=10).json()["members"]
    assert [m["member_id"] for m in members] == [MEMBER], "the share was taken over"
    types = {r["type"] for r in p.resources("")}
    assert not [t for t in types if t.startswith("ims:index:")], f"nothing of the plugin left: {types}"
    assert p.outputs() == {"image_id": image_id}
    p.destroy()
    assert live_by_id(emu) == {}


@pytest.mark.unit
def test_block_parser() -> None:
    text = ("```sh\nplain\n```\n"
            "```python example:one\nimport pulumi\n```\n"
            "* item\n\n   ```python no-run:fragment\n   x = 1\n   ```\n")
    found = blocks(text)
    assert [(b.lang, b.kind, b.name) for b in found] == [("sh", "", ""), ("python", "example", "one"),
                                                           ("python", "no-run", "fragment")]
    assert found[2].body == "x = 1\n", "an indented block is dedented"
    assert isinstance(found[0], Block)


def test_the_layout_names_real_files() -> None:
    """The contributing guide's drawing of the package names only files that exist, and every module of the
    core and of both adapters (a moved or new module shows up here)."""
    (drawing,) = [b.body for b in blocks() if (b.kind, b.name) == ("no-run", "layout")]
    package = REPO / "providers" / "ims_pulumi"
    folder = package
    named: set[Path] = set()
    for line in drawing.splitlines()[1:]:  # the first line is the package itself
        words = [w.strip(",()+") for w in line.split()]
        if not words:
            continue
        indent = len(line) - len(line.lstrip())
        if words[0].endswith("/"):  # a folder, and its first files
            folder = package / words[0].rstrip("/")
        elif indent <= 2:  # a file of the package itself
            folder = package
        named.update(folder / w for w in words if w.endswith(".py"))
    missing = sorted(str(p.relative_to(REPO)) for p in named if not p.exists())
    assert not missing, f"the layout names files that do not exist: {missing}"
    modules = {p for sub in ("core", "dynamic", "plugin") for p in (package / sub).glob("*.py") if p.name != "__init__.py"
               and p.name != "__main__.py"}
    unnamed = sorted(str(p.relative_to(REPO)) for p in modules - named)
    assert not unnamed, f"modules the layout does not show: {unnamed}"
