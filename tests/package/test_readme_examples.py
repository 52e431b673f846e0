"""Every code block of README.md is run by a test, or says why it cannot be.

Each fenced block's info string carries a tag (``tests/support/readme.py``): ``own-project:``
blocks are run by ``test_own_project.py``; ``example:`` blocks are run here, as written, against
the emulator with the real CLI; ``no-run:<reason>`` blocks name a reason of ``NO_RUN``. What stands
in for a user's machine is spelled out per example: the values the README leaves to the reader
(``SUBSTITUTIONS``), the files a program reads (``FILES``), a free port for 8790.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.pulumi_cli import VENV, PulumiProject, ims_config
from ims_emulator import DEMO_TOKEN
from ims_emulator.process import Emulator
from tests.support.images import live_by_id
from tests.support.readme import README, Block, blocks, commands, tagged

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
}

#: The example blocks, and the test that runs each.
EXAMPLES = {
    "intro": "test_intro_and_pr_summary", "pr-summary": "test_intro_and_pr_summary",
    "adopt": "test_adopt", "content": "test_content", "lookup": "test_lookup",
    "share-emulator": "test_sharing_two_projects", "share-owner": "test_sharing_two_projects",
    "share-consumer": "test_sharing_two_projects", "share-deploy": "test_sharing_two_projects",
}

#: (block, README text, what the test uses instead). Each must occur in its block.
SUBSTITUTIONS = (
    ("adopt", '"<existing id>"', '"{image_id}"'),   # an image the test makes first, as a user has one
    ("share-deploy", f"http://127.0.0.1:{README_PORT}", "{emulator_url}"),   # a free port: 8790 may be taken
    # the README's digest stands for the digest of the reader's file: the test's file's
    ("content", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha256:{sha256}"),
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
            assert old in text, f"README block example:{name} no longer contains {old!r}; update SUBSTITUTIONS"
            text = text.replace(old, new.format(**values))
    return text


# --- the tags --------------------------------------------------------------------------------------


@pytest.mark.unit
def test_every_block_is_run_or_says_why_not() -> None:
    untagged = [(b.line, b.lang) for b in blocks() if b.kind not in ("own-project", "example", "no-run")]
    assert not untagged, f"README blocks without own-project:/example:/no-run: (line, language): {untagged}"
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
            compile(block.body, f"README example:{name}", "exec")
            assert "from ims_pulumi import" in block.body, name
            if "pulumi." in block.body:
                assert re.search(r"^import pulumi$", block.body, re.M), f"example:{name} uses pulumi without importing it"


@pytest.mark.unit
def test_the_readme_names_no_version_of_its_own() -> None:
    """The version is pyproject's: the README's wheel name is a glob that matches the wheel built from it."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    text = README.read_text()
    assert not re.search(r"pulumi_ims_image_metadata-\d", text), "a hard-coded wheel version in the README"
    (install,) = [b for b in blocks() if b.kind == "no-run" and b.name == "install"]
    (pattern,) = re.findall(r"dist/(pulumi_ims_image_metadata-\S*\.whl)", install.body)
    assert fnmatch.fnmatch(f"pulumi_ims_image_metadata-{version}-py3-none-any.whl", pattern)
    major_minor = ".".join(version.split(".")[:2])
    assert f"### {major_minor} (this release)" in text, "the Changelog's current release is pyproject's version"


# --- running the examples ------------------------------------------------------------------------


def project(tmp_path: Path, emu: Emulator, name: str, program: str, **kwargs: Any) -> PulumiProject:
    config, secrets = ims_config(emu.url)
    made = PulumiProject.create(tmp_path, program, name=name, config=config, secrets=secrets, **kwargs)
    assert (made.dir / "__main__.py").read_text() == program
    return made


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A README command sequence, run as written by bash (stops at the first failing command)."""
    proc = subprocess.run(["bash", "-c", f"set -euo pipefail\n{script}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"README commands failed:\n{script}\n--- stdout\n{proc.stdout[-5000:]}\n" \
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
        for p in (owner, consumer):  # the README creates its own stacks: drop the helper's
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
