"""Upgrade from releases 0.2 and 0.3: a stack either wrote keeps working with the current code.

Release 0.2 (commit d50dbd4) stores in every image resource the inputs with the defaults filled in
(``container_format``, ``min_ram``, ``protected``, empty ``description``/``properties``/``tags``...)
and outputs that include ``self_link``, ``file``, ``schema`` and empty values. Release 0.3 (commit
6414d4e) stores lean state (only declared inputs; no ``self_link``, ``file``, ``schema`` or region
constants) and is the last release with the top-level packages ``emulator`` and ``preview_summary``
(now ``ims_emulator`` and ``ims_preview_summary``, built by hatchling). In both, ``tiny`` holds its
uploaded ``source`` (a 1 MiB raw file: kind, location, size, md5, sha256). Each fixture in
``tests/fixtures/release-0.N/`` (see its README) is that release's example stack, exported after
``pulumi up`` by that release's code itself: the state, the program, the stack config file and the
images.

The test imports the state into a fresh stack (the images re-created in the emulator as the release
made them, ``tiny`` with the same bytes, so ``active`` with the same checksum) and runs the current
code on it: no spurious diff and no API write at preview, refresh or up, no id changes; a real change
is an in-place update of one resource; destroy deletes every image. Outputs that the current code
deliberately no longer writes are tolerated: refresh is compared on the keys it does write.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject
from ims_emulator.process import Emulator
from tests.support import upgrade
from tests.support.images import live_by_id, user_tags
from tests.support.upgrade import (
    api,
    by_name,
    deployed,
    last_changes,
    preview_json,
    providers_of,
    recreate,
    rewrite_state,
    upload,
    user_inputs,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class Release:
    """A saved release stack and what its state holds."""

    version: str
    #: Places each image id stands in the state: `id` and the output `<name>_id`, plus `self_link`
    #: and `file` in 0.2.
    id_places: int

    @property
    def fixture(self) -> Path:
        return FIXTURES / f"release-{self.version}"

    @property
    def passphrase(self) -> str:
        """The passphrase the fixture's secrets were encrypted with (documented in the fixture README)."""
        return f"ims-release-{self.version}-fixture"


RELEASES = [Release("0.2", id_places=4), Release("0.3", id_places=2)]
#: Project and stack of the fixture: URNs and create tokens depend on them.
PROJECT, STACK = "ims-image-metadata", "dev"
PROVIDER = "ims_pulumi.provider.ImageMetadataProvider"
NAMES = ("ubuntu", "centos", "windows", "minimal", "tiny")
#: The stack resource and the five images (the default provider is not counted by the CLI).
RESOURCES = 1 + len(NAMES)
#: The bytes the release's program wrote to build/tiny.raw and uploaded into ``tiny`` (its ``tiny_disk``).
TINY_BYTES = b"ims-pulumi example disk\n".ljust(512, b"\0") * 2048
#: Image attributes that differ between the release's image and its re-creation by nature.
VOLATILE = {"id", "created_at", "updated_at", "active_at", "self", "file"}
#: Outputs that differ between the release's state and the re-created images by nature.
OUTPUT_TIMES = {"created_at", "updated_at"}
DESCRIPTION_OLD = 'description="Legacy workloads; retire by 2027"'
DESCRIPTION_NEW = 'description="Legacy workloads; retire by 2028"'
UPLOAD = "PUT /v2/images/{id}/file"


def assert_no_changes(project: PulumiProject, when: str, release: Release) -> None:
    """``pulumi preview --expect-no-changes`` on the release's stack: its 6 resources unchanged."""
    upgrade.assert_no_changes(project, when, release=release.version, resources=RESOURCES)


def drift(now: dict[str, Any], then: dict[str, Any], ignore: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Keys of ``now`` (what the current code writes) whose value differs from ``then`` (the release's)."""
    return sorted(k for k in now if k not in ignore and k != "__provider" and now[k] != then.get(k))


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"release-{r.version}")
def test_stack_of_an_earlier_release_upgrades_in_place(release: Release, tmp_path: Path, emu: Emulator,
                                                       pulumi_cli: None) -> None:
    fixture = release.fixture
    state_text = (fixture / "state.json").read_text()
    state = json.loads(state_text)
    old = by_name(state["deployment"]["resources"])
    old_images = {i["id"]: i for i in json.loads((fixture / "emulator-images.json").read_text())["images"]}
    md5 = hashlib.md5(TINY_BYTES).hexdigest()

    # The fixture is what the release wrote: its provider class everywhere, one image per resource, tiny's bytes.
    assert sorted(old) == sorted(NAMES), f"fixture resources: {sorted(old)}"
    assert set(providers_of(old, "inputs").values()) == {PROVIDER}, providers_of(old, "inputs")
    assert set(providers_of(old, "outputs").values()) == {PROVIDER}, providers_of(old, "outputs")
    assert sorted(r["id"] for r in old.values()) == sorted(old_images), "state and emulator dump disagree"
    tiny_source = old["tiny"]["inputs"]["source"]
    assert tiny_source["md5"] == md5 and tiny_source["size"] == len(TINY_BYTES), tiny_source
    assert tiny_source["sha256"] == hashlib.sha256(TINY_BYTES).hexdigest(), tiny_source
    assert old["tiny"]["outputs"]["checksum"] == md5 and old["tiny"]["outputs"]["status"] == "active"
    assert old_images[old["tiny"]["id"]]["checksum"] == md5
    # Nothing in the state names the packages that were renamed after 0.3.
    assert '"emulator.' not in state_text and "preview_summary" not in state_text
    (default_provider,) = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi:providers:pulumi-python"]
    old_endpoint = default_provider["inputs"]["ims:endpoint"]

    # 1. The images exist again, with the attributes (and for tiny the bytes) the release gave them.
    http = api()
    new_ids: dict[str, str] = {}
    for name, resource in old.items():
        image = recreate(http, emu.url, resource["outputs"], token_tag=True)
        if name == "tiny":
            image = upload(http, emu.url, image["id"], TINY_BYTES)
        before = old_images[resource["id"]]
        same = {k: v for k, v in image.items() if k not in VOLATILE}
        expected = {k: v for k, v in before.items() if k not in VOLATILE}
        assert same == expected, f"{name}: the re-created image differs from the one the release made"
        new_ids[name] = image["id"]
    state_text = rewrite_state(state_text, old, new_ids, old_endpoint, emu.url, min_count=release.id_places)
    imported = tmp_path / f"state-{release.version}.json"
    imported.write_text(state_text)
    expected = by_name(json.loads(state_text)["deployment"]["resources"])

    program_text = (fixture / "program.py").read_text()
    assert "from ims_pulumi import ImageMetadata" in program_text and "source=pulumi.FileAsset(" in program_text
    project = upgrade.import_fixture(tmp_path, fixture, program_text, imported, emu.url, project_name=PROJECT,
                                     stack=STACK, passphrase=release.passphrase, release=release.version)
    assert {n: r["id"] for n, r in deployed(project).items()} == new_ids

    # 2. The current code sees nothing to do, and a preview changes nothing on the server. The
    #    program writes its disk file in this project (not where the release's state says): same bytes, no diff.
    emu.reset_stats()
    assert_no_changes(project, release=release, when="preview right after the upgrade")
    assert emu.stats()["writes"] == 0, f"preview wrote to the API: {emu.stats()['requests']}"
    assert (project.dir / "build" / "tiny.raw").read_bytes() == TINY_BYTES
    assert str(project.dir) not in tiny_source["location"]

    # 3. refresh: nothing drifts in what the current code writes, no write, no id change.
    project.refresh()
    stats = emu.stats()
    assert stats["writes"] == 0, f"refresh wrote to the API: {stats['requests']}"
    assert stats["requests"].get("GET /v2/images/{id}", 0) >= len(NAMES), f"refresh did not read the images: {stats}"
    refreshed = deployed(project)
    assert {n: r["id"] for n, r in refreshed.items()} == new_ids, "refresh changed image ids"
    for name in NAMES:
        # An input the release did not store (minimal's undeclared min_disk) may be read back from the server:
        # then it must be the value it recorded in the outputs.
        now_in = user_inputs(refreshed[name])
        then_in = {**expected[name]["outputs"], **user_inputs(expected[name])}
        assert drift(now_in, then_in) == [], f"{name}: refresh changed inputs: {drift(now_in, then_in)}"
        now, then = refreshed[name]["outputs"], expected[name]["outputs"]
        changed = upgrade.output_drift(now, then, frozenset(OUTPUT_TIMES))
        assert changed == [], f"{name}: refresh read outputs that differ from the release's state: {changed}"
    assert refreshed["tiny"]["outputs"]["checksum"] == md5 and refreshed["tiny"]["outputs"]["status"] == "active"
    assert set(providers_of(refreshed, "outputs").values()) == {PROVIDER}
    assert_no_changes(project, release=release, when="preview after refresh")
    assert emu.stats()["writes"] == 0, f"preview after refresh wrote to the API: {emu.stats()['requests']}"

    # 4. up: every resource the same, nothing created, replaced, deleted or uploaded, ids unchanged.
    emu.reset_stats()
    project.up()
    changes = last_changes(project)
    assert changes == {"same": RESOURCES}, f"`pulumi up` after the upgrade changed resources: {changes}"
    assert emu.stats()["writes"] == 0, f"up wrote to the API: {emu.stats()['requests']}"
    upped = deployed(project)
    assert {n: r["id"] for n, r in upped.items()} == new_ids, "up changed image ids"
    live = live_by_id(emu)
    assert sorted(live) == sorted(new_ids.values()), "up created or deleted images"
    assert live[new_ids["tiny"]]["status"] == "active" and live[new_ids["tiny"]]["checksum"] == md5
    outputs = project.outputs()
    assert {k: outputs[f"{k}_id"] for k in NAMES} == new_ids
    assert (outputs["tiny_checksum"], outputs["tiny_size"], outputs["tiny_status"]) == (md5, len(TINY_BYTES), "active")
    assert set(providers_of(upped, "inputs").values()) == {PROVIDER}, providers_of(upped, "inputs")
    assert_no_changes(project, release=release, when="preview after up")

    # 5. A real change of an updatable field is an in-place update of that one resource.
    assert DESCRIPTION_OLD in program_text
    project.write_program(program_text.replace(DESCRIPTION_OLD, DESCRIPTION_NEW))
    summary, found, result = preview_json(project)
    assert result.returncode == 0, f"preview of the changed program failed:\n{result.output[-6000:]}"
    assert summary == {"same": RESOURCES - 1, "update": 1}, f"preview summary of a description change: {summary}"
    ops = {name: step["op"] for name, step in found.items() if step["op"] != "same"}
    assert ops == {"centos": "update"}, f"a description change must update centos in place, nothing else: {ops}"
    centos = found["centos"]
    assert not centos.get("replaceReasons"), f"centos: {centos.get('replaceReasons')}"
    before, after = user_inputs(centos["oldState"]), user_inputs(centos["newState"])
    differing = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert differing == ["description"], f"centos: inputs that change: {differing}"
    assert after["description"] == "Legacy workloads; retire by 2028", after
    emu.reset_stats()
    project.up()
    assert last_changes(project) == {"same": RESOURCES - 1, "update": 1}, last_changes(project)
    assert UPLOAD not in emu.stats()["requests"], f"the update uploaded: {emu.stats()['requests']}"
    updated = deployed(project)
    assert {n: r["id"] for n, r in updated.items()} == new_ids, "the update changed image ids"
    live = live_by_id(emu)
    assert live[new_ids["centos"]]["__description"] == "Legacy workloads; retire by 2028"
    assert user_tags(live[new_ids["centos"]]) == ["team=platform"]
    assert live[new_ids["tiny"]]["checksum"] == md5
    assert_no_changes(project, release=release, when="preview after the in-place update")

    # 6. destroy deletes every image.
    project.destroy()
    assert last_changes(project, "destroy") == {"delete": RESOURCES}, last_changes(project, "destroy")
    assert live_by_id(emu) == {}, f"images left after destroy: {sorted(live_by_id(emu))}"
    assert deployed(project) == {}
