"""``PULUMI_SKIP_CHECKPOINTS=true`` and a crash: a stack of images converges after a SIGKILL (issue 27).

With that setting the engine writes the state once, at the end of a command, instead of after every
step (``docs/large-stacks.md``). A command killed part-way therefore leaves the state exactly as it was
before it started (and the stack locked): whatever it did to the server is unknown to the state. It is
safe for a stack of this provider's resources because what the next command repeats converges:

* a create sends the resource's **create token** (a tag; from project, stack and resource name, plus the
  digest of the values that replace) and first looks it up: an image an earlier, killed run created is
  found and adopted, never made twice; a ``queued`` one (killed before its upload) gets its upload;
* an update is computed from the state's view of the image; when that view is stale (the killed run
  changed the image already) the server answers 409 and the PATCH is recomputed from what it has; tag
  calls are idempotent;
* a share's create reads the membership first and takes over one that exists;
* a delete of an image that is already gone counts as done.

Each case runs a command with ``PULUMI_SKIP_CHECKPOINTS=true`` against a slowed emulator, SIGKILLs the
CLI and every process under it once some of its steps are done (with requests in flight), checks the
state is the one from before the command, then runs the user's recovery (``pulumi cancel --yes`` for the
lock the killed run left, then the command again, still without checkpoints) and checks that exactly the
declared images exist, no duplicate, nothing lost, nothing left over, and that a preview shows no change.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core.transport import Credentials, Transport
from tests.plugin.sdk_support import use_plugin_on_path
from tests.reliability.helpers import assert_converged, kill_session, start_cli, wait_for
from tests.support.images import live_images, user_tags

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SKIP = {"PULUMI_SKIP_CHECKPOINTS": "true"}
PREFIX = "skipck"
CONSUMER = "c" * 32  # the project the share case shares every image with
N = 20
#: Steps done before the kill: enough that the server holds work the state does not know about.
KILL_AFTER = 6
#: Every API request slowed, so that a run of N images is still going when the test acts on it.
SLOW = [{"kind": "latency", "path": "/v2/*", "ms": 250, "jitter_ms": 200}]
DISK = bytes(range(256)) * 4  # 1 KiB: two whole 512-byte sectors of raw content

#: The dynamic provider's program; what changes between runs comes from stack config.
PROGRAM = f'''
import pulumi
from ims_pulumi import ImageMember, ImageMetadata

config = pulumi.Config("crash")
n = config.require_int("n")
purpose = config.get("purpose")
for i in range(n):
    image = ImageMetadata(f"img-{{i:03d}}", name=f"{PREFIX}-{{i:03d}}", disk_format="raw",
                          min_disk=config.require_int("minDisk"), description=config.require("description"),
                          tags=["team=crash"], properties={{"purpose": purpose}} if purpose else {{}},
                          source=pulumi.FileAsset("disk.raw"))
    if config.get_bool("share"):
        ImageMember(f"share-{{i:03d}}", image_id=image.id, member_id="{CONSUMER}")
'''


def yaml_program(settings: dict[str, str]) -> str:
    """The same stack as :data:`PROGRAM` for the ``ims`` plugin: a generated YAML program (no loops in YAML)."""
    lines = ["name: e2e", "runtime: yaml", "resources:"]
    for i in range(int(settings["n"])):
        lines += [f"  img-{i:03d}:", "    type: ims:index:ImageMetadata", "    properties:",
                  f"      name: {PREFIX}-{i:03d}", "      diskFormat: raw", f"      minDisk: {settings['minDisk']}",
                  f"      description: {settings['description']}", "      tags: [team=crash]", "      source:",
                  "        fn::fileAsset: ./disk.raw"]
        if settings.get("purpose"):
            lines += ["      properties:", f"        purpose: {settings['purpose']}"]
    return "\n".join(lines) + "\n"


BASE = {"n": str(N), "minDisk": "1", "description": "rev 1", "purpose": "crash"}


def _live(emu: Emulator) -> list[dict[str, Any]]:
    return live_images(emu, PREFIX)


def created(emu: Emulator) -> int:
    """Images that exist (any status: a ``queued`` one was created, its upload may not have happened)."""
    return len(_live(emu))


def updated(emu: Emulator) -> int:
    """Images that have the new description (in place on IMS; a tag change would replace)."""
    return sum(1 for i in _live(emu) if i.get("__description") == "rev 2")


def replaced(emu: Emulator) -> int:
    """Replacement images (``min_disk`` is a replace field)."""
    return sum(1 for i in _live(emu) if i.get("min_disk") == 2)


def shared(emu: Emulator) -> int:
    """Shares the server made (answered 200 to ``POST .../members``; counted since the stats were reset)."""
    return int(emu.stats()["responses"].get("POST /v2/images/{id}/members 200", 0))


def deleted(emu: Emulator) -> int:
    """Images the destroy removed."""
    return N - len(_live(emu))


@dataclass(frozen=True)
class Case:
    """A command killed part-way, without checkpoints."""

    name: str
    program: str  # "dynamic" (Python program, dynamic provider) or "plugin-yaml" (YAML program, ims plugin)
    before: dict[str, str] | None  # the stack's settings brought up (with checkpoints) first; None: a new stack
    command: str  # "up" or "destroy"
    progress: Callable[[Emulator], int]  # steps of the killed command done on the server
    reason: str
    after: dict[str, str] = field(default_factory=dict)  # the settings the killed `up` brings up
    #: An answer the recovery must meet (the path the reason names is taken), by "METHOD route status".
    recovery_meets: str | None = None


CASES = [
    Case("create-new-stack", "dynamic", None, "up", created,
         "nothing is in the state after the kill (no checkpoint was written); the next up creates every resource "
         "again: each create finds the image of its token (active, or queued and then uploaded) and adopts it",
         after=BASE),
    Case("create-grow-stack", "dynamic", {**BASE, "n": "6"}, "up", lambda e: created(e) - 6,
         "the state keeps the 6 images it had; the 14 new ones are found by token as in a new stack",
         after=BASE),
    Case("update-in-place", "dynamic", BASE, "up", updated,
         "the state still holds the old description and property: the PATCH computed from it meets images "
         "already changed (409 on the removed property) and is recomputed from what the server has",
         after={**BASE, "description": "rev 2", "purpose": ""}, recovery_meets="PATCH /v2/images/{id} 409"),
    Case("replace", "dynamic", BASE, "up", replaced,
         "create-before-delete: a new image (new token: min_disk replaces) already made is adopted, an old "
         "one already deleted counts as deleted when the next up deletes it again",
         after={**BASE, "minDisk": "2"}),
    Case("share", "dynamic", BASE, "up", shared,
         "the state has no share: each create of an ImageMember reads the membership first and takes over the "
         "one the killed run made; only the others are posted",
         after={**BASE, "share": "true"}),
    Case("destroy", "dynamic", BASE, "destroy", deleted,
         "the state still lists every image; destroy again deletes those left, and those already gone count as "
         "deleted"),
    Case("plugin-create-new-stack", "plugin-yaml", None, "up", created,
         "the plugin's create token comes from the URN (check): the same adoption as the dynamic provider's",
         after=BASE),
    Case("plugin-destroy", "plugin-yaml", BASE, "destroy", deleted,
         "the plugin's delete converges as the dynamic provider's"),
]


def stack(tmp_path: Path, emu: Emulator, case: Case) -> PulumiProject:
    """A stack of the case's program on a file backend, checkpoints on (each command chooses)."""
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, PROGRAM if case.program == "dynamic" else "", config=config,
                                   secrets=secrets, extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp_path / "digests")})
    (project.dir / "disk.raw").write_bytes(DISK)
    if case.program == "plugin-yaml":
        (project.dir / "__main__.py").unlink()
        use_plugin_on_path(project, tmp_path)
    return project


def settle(project: PulumiProject, case: Case, settings: dict[str, str]) -> None:
    """Point the program at ``settings`` (stack config for the Python program, the YAML program rewritten)."""
    if case.program == "plugin-yaml":
        (project.dir / "Pulumi.yaml").write_text(yaml_program(settings))
        return
    for key, value in settings.items():
        if value:
            project.run("config", "set", f"crash:{key}", value)
        else:
            project.run("config", "rm", f"crash:{key}", check=False)


def state_ids(project: PulumiProject) -> dict[str, str]:
    """Resource name -> id of the stack's images and shares, and nothing may be pending."""
    deployment = project.export().get("deployment", {})
    assert not deployment.get("pending_operations"), "no checkpoint was written, so no pending operation either"
    return {r["urn"].rsplit("::", 1)[1]: r["id"] for r in deployment.get("resources") or []
            if r.get("type", "").rsplit(":", 1)[-1] in ("ImageMetadata", "ImageMember")}


def quiet(emu: Emulator, period: float = 1.0) -> bool:
    """Nothing arriving and nothing answered for ``period`` seconds (longer than the slowest request's
    latency): the server has finished what the killed processes sent. A request whose client is gone
    may never count as answered, so the counters are compared over time, not with each other."""
    before = emu.stats()
    time.sleep(period)
    after = emu.stats()
    return bool(after["requests"] == before["requests"] and after["responses"] == before["responses"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_killed_command_without_checkpoints_converges(tmp_path: Path, emu: Emulator, pulumi_cli: None,
                                                        case: Case) -> None:
    project = stack(tmp_path, emu, case)
    if case.before is not None:
        settle(project, case, case.before)
        project.up()
    if case.command == "up":
        settle(project, case, case.after)
    before = state_ids(project)

    project.env.update(SKIP)
    emu.reset_stats()
    emu.set_faults(SLOW)
    with (tmp_path / "killed.log").open("w") as log:
        proc = start_cli(project, log, case.command, "--yes", "--skip-preview")
        wait_for(lambda: case.progress(emu) >= KILL_AFTER or proc.poll() is not None, 180,
                 f"{KILL_AFTER} steps of `pulumi {case.command}` on the server")
        killed = kill_session(proc)
    assert proc.returncode == -9, f"the command ended by itself before the kill:\n{(tmp_path / 'killed.log').read_text()}"
    assert len(killed) >= 3, f"the CLI, its language host and the provider must all be killed: {killed}"
    wait_for(lambda: quiet(emu), 60, "the requests in flight at the kill to finish")
    emu.clear_faults()
    done = case.progress(emu)
    assert KILL_AFTER <= done < N, f"the kill must land part-way ({done} of {N} steps done)"
    print(f"at the kill: {done} of {N} steps done; images by status: "  # shown when the test fails (or with -s)
          f"{dict(Counter(str(i.get('status')) for i in _live(emu)))}")
    want = case.after
    # images the recovery must not post again: those of the declared values that the server holds already
    present = sum(1 for i in _live(emu) if case.command == "up" and i.get("min_disk") == int(want["minDisk"]))

    # The state of a killed run without checkpoints: the one from before the command, nothing pending.
    assert state_ids(project) == before, "a killed run without checkpoints leaves the state as it was"

    # The user's recovery: the lock the killed run left, then the same command again.
    locked = project.run(case.command, "--yes", "--skip-preview", check=False)
    assert locked.returncode != 0 and "locked" in locked.output, locked.output[-2000:]
    assert "canceled" in project.run("cancel", "--yes").stdout
    emu.reset_stats()
    project.run(case.command, "--yes", "--skip-preview")  # still without checkpoints
    stats = emu.stats()
    posts = stats["requests"].get("POST /v2/images", 0)
    if case.recovery_meets:
        assert stats["responses"].get(case.recovery_meets), f"no {case.recovery_meets}: {stats['responses']}"

    if case.command == "destroy":
        assert _live(emu) == [], "destroy again removes what the killed one left, and nothing else is left"
        assert state_ids(project) == {}
        return
    assert posts == N - present, \
        f"{present} images existed: those are adopted by token, only the rest is created ({posts} POSTs)"
    assert_converged(project, emu, N, PREFIX)
    for image in _live(emu):
        assert image["status"] == "active", image
        assert image["min_disk"] == int(want["minDisk"]), image
        assert image.get("__description") == want["description"], image
        assert user_tags(image) == ["team=crash"], image
        assert image.get("purpose") == (want["purpose"] or None), image
        assert image["size"] == len(DISK), image
    if want.get("share"):
        assert shared(emu) == N - done, f"{done} shares existed: those are taken over, only the rest is posted"
        owner = Transport(emu.url, Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID))
        images = {i["id"] for i in _live(emu)}
        for image_id in images:
            members = owner.request("GET", f"/v2/images/{image_id}/members", operation="list members").json()
            assert [m["member_id"] for m in members["members"]] == [CONSUMER], image_id
        shares = [r for r in project.resources("ImageMember") if r["type"].endswith(":ImageMember")]
        assert sorted(r["id"] for r in shares) == sorted(f"{i}/{CONSUMER}" for i in images)
    project.preview("--expect-no-changes")


def test_the_case_table_names_each_case_once() -> None:
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.command for c in CASES} == {"up", "destroy"}
    assert all(c.reason for c in CASES)
    assert all((c.command == "up") == bool(c.after) for c in CASES), "an up brings settings up, a destroy none"
