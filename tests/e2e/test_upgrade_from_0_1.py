"""Upgrade from release 0.1: a stack that 0.1 wrote keeps working with the current code.

Release 0.1 (commit 8bd8330) imported the provider as ``providers.ims`` and pickled
``providers.ims.provider.ImageMetadataProvider`` into every resource's state. The fixture in
``tests/fixtures/release-0.1/`` (see its README) is that release's example stack, exported after
``pulumi up`` by the 0.1 code itself: the state, the program and the stack config file.

This test imports the state into a fresh stack (with the images recreated in the emulator exactly
as 0.1 made them) and runs the current code on it: no spurious diff at preview, after refresh or
up; a real change is an in-place update; destroy, which unpickles the 0.1 reference still stored
in the outputs of untouched resources, deletes every image.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject
from ims_emulator.process import Emulator
from tests.support import upgrade
from tests.support.images import live_by_id
from tests.support.upgrade import (
    api,
    by_name,
    deployed,
    last_changes,
    preview_json,
    providers_of,
    recreate,
    rewrite_state,
    user_inputs,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release-0.1"
#: The passphrase the fixture's secrets were encrypted with (documented in the fixture README).
FIXTURE_PASSPHRASE = "ims-release-0.1-fixture"
#: Project and stack of the fixture: URNs and create tokens depend on them.
PROJECT, STACK = "ims-image-metadata", "dev"
OLD_PROVIDER = "providers.ims.provider.ImageMetadataProvider"
NEW_PROVIDER = "ims_pulumi.provider.ImageMetadataProvider"
NAMES = ("ubuntu", "centos", "windows", "minimal")
#: Image attributes that differ between the 0.1 image and its re-creation by nature.
VOLATILE = {"id", "created_at", "updated_at", "self", "file"}
DESCRIPTION_OLD = 'description="Legacy workloads; retire by 2027"'
DESCRIPTION_NEW = 'description="Legacy workloads; retire by 2028"'


# --- helpers (shared with the other upgrade tests: tests/support/upgrade.py) ------------------


def assert_no_changes(project: PulumiProject, when: str) -> None:
    """``pulumi preview --expect-no-changes`` on the 0.1 stack: its 5 resources unchanged."""
    upgrade.assert_no_changes(project, when, release="0.1", resources=5)


# --- the test -----------------------------------------------------------------------------------


def test_stack_of_release_0_1_upgrades_in_place(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    state_text = (FIXTURE / "state.json").read_text()
    state = json.loads(state_text)
    old = by_name(state["deployment"]["resources"])
    old_images = {i["id"]: i for i in json.loads((FIXTURE / "emulator-images.json").read_text())["images"]}

    # The fixture is what 0.1 wrote: its provider reference everywhere, one image per resource.
    assert sorted(old) == sorted(NAMES), f"fixture resources: {sorted(old)}"
    assert set(providers_of(old, "inputs").values()) == {OLD_PROVIDER}, providers_of(old, "inputs")
    assert set(providers_of(old, "outputs").values()) == {OLD_PROVIDER}, providers_of(old, "outputs")
    assert sorted(r["id"] for r in old.values()) == sorted(old_images), "state and emulator dump disagree"
    (default_provider,) = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi:providers:pulumi-python"]
    old_endpoint = default_provider["inputs"]["ims:endpoint"]

    # 1. The images exist again, with the attributes 0.1 gave them; the state points at them.
    http = api()
    new_ids: dict[str, str] = {}
    for name, resource in old.items():
        image = recreate(http, emu.url, resource["outputs"])
        before = old_images[resource["id"]]
        same = {k: v for k, v in image.items() if k not in VOLATILE}
        expected = {k: v for k, v in before.items() if k not in VOLATILE}
        assert same == expected, f"{name}: the re-created image differs from the one 0.1 made"
        new_ids[name] = image["id"]
    state_text = rewrite_state(state_text, old, new_ids, old_endpoint, emu.url, min_count=3)
    imported = tmp_path / "state-0.1.json"
    imported.write_text(state_text)
    expected_outputs = by_name(json.loads(state_text)["deployment"]["resources"])

    program_text = (FIXTURE / "program.py").read_text()
    assert "from providers.ims import ImageMetadata" in program_text
    project = upgrade.import_fixture(tmp_path, FIXTURE, program_text, imported, emu.url, project_name=PROJECT,
                                     stack=STACK, passphrase=FIXTURE_PASSPHRASE, release="0.1")
    assert {n: r["id"] for n, r in deployed(project).items()} == new_ids

    # 2. The current code sees nothing to do, and a preview changes nothing on the server.
    emu.reset_stats()
    assert_no_changes(project, "preview right after the upgrade")
    assert emu.stats()["writes"] == 0, f"preview wrote to the API: {emu.stats()['requests']}"

    # 3. refresh (reads through the unpickled 0.1 provider reference): nothing drifts.
    project.refresh()
    stats = emu.stats()
    assert stats["writes"] == 0, f"refresh wrote to the API: {stats['requests']}"
    assert stats["requests"].get("GET /v2/images/{id}", 0) >= 4, f"refresh did not read the images: {stats}"
    refreshed = deployed(project)
    assert {n: r["id"] for n, r in refreshed.items()} == new_ids, "refresh changed image ids"
    for name in NAMES:
        assert user_inputs(refreshed[name]) == user_inputs(old[name]), f"{name}: refresh changed the inputs"
        now, then = refreshed[name]["outputs"], expected_outputs[name]["outputs"]
        drift = upgrade.output_drift(now, then, frozenset({"created_at", "updated_at"}))
        assert drift == [], f"{name}: refresh read outputs that differ from the 0.1 state: {drift}"
    assert set(providers_of(refreshed, "outputs").values()) == {OLD_PROVIDER}
    assert_no_changes(project, "preview after refresh")

    # 4. up: every resource the same, nothing created, replaced or deleted, ids unchanged.
    project.up()
    changes = last_changes(project)
    assert changes == {"same": 5}, f"`pulumi up` after the upgrade changed resources: {changes}"
    upped = deployed(project)
    assert {n: r["id"] for n, r in upped.items()} == new_ids, "up changed image ids"
    assert sorted(live_by_id(emu)) == sorted(new_ids.values()), "up created or deleted images"
    assert {k: project.outputs()[f"{k}_id"] for k in NAMES} == new_ids
    # The program now registers the current class; the untouched outputs keep the 0.1 reference.
    assert set(providers_of(upped, "inputs").values()) == {NEW_PROVIDER}, providers_of(upped, "inputs")
    assert set(providers_of(upped, "outputs").values()) == {OLD_PROVIDER}, providers_of(upped, "outputs")
    assert_no_changes(project, "preview after up")

    # 5. A real change of an updatable field is an in-place update of that one resource.
    assert DESCRIPTION_OLD in program_text
    project.write_program(program_text.replace(DESCRIPTION_OLD, DESCRIPTION_NEW))
    summary, found, result = preview_json(project)
    assert result.returncode == 0, f"preview of the changed program failed:\n{result.output[-6000:]}"
    assert summary == {"same": 4, "update": 1}, f"preview summary of a description change: {summary}"
    ops = {name: step["op"] for name, step in found.items() if step["op"] != "same"}
    assert ops == {"centos": "update"}, f"a description change must update centos in place, nothing else: {ops}"
    centos = found["centos"]
    assert not centos.get("replaceReasons"), f"centos: {centos.get('replaceReasons')}"
    before, after = user_inputs(centos["oldState"]), user_inputs(centos["newState"])
    differing = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert differing == ["description"], f"centos: inputs that change: {differing}"
    assert after["description"] == "Legacy workloads; retire by 2028", after
    project.up()
    assert last_changes(project) == {"same": 4, "update": 1}, last_changes(project)
    updated = deployed(project)
    assert {n: r["id"] for n, r in updated.items()} == new_ids, "the update changed image ids"
    assert live_by_id(emu)[new_ids["centos"]]["__description"] == "Legacy workloads; retire by 2028"
    assert providers_of(updated, "outputs") == {"ubuntu": OLD_PROVIDER, "centos": NEW_PROVIDER,
                                                "windows": OLD_PROVIDER, "minimal": OLD_PROVIDER}
    assert_no_changes(project, "preview after the in-place update")

    # 6. destroy unpickles the 0.1 reference of three resources and the current one of the fourth.
    project.destroy()
    assert last_changes(project, "destroy") == {"delete": 5}, last_changes(project, "destroy")
    assert live_by_id(emu) == {}, f"images left after destroy: {sorted(live_by_id(emu))}"
    assert deployed(project) == {}
