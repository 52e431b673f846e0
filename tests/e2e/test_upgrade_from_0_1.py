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

import base64
import json
import pickletools
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator import DEMO_SK, DEMO_TOKEN
from emulator.process import Emulator
from harness.pulumi_cli import PulumiProject, Result
from tests.support.images import live_by_id

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release-0.1"
#: The passphrase the fixture's secrets were encrypted with (documented in the fixture README).
FIXTURE_PASSPHRASE = "ims-release-0.1-fixture"
#: Project and stack of the fixture: URNs and create tokens depend on them.
PROJECT, STACK = "ims-image-metadata", "dev"
IMAGE_TYPE = "pulumi-python:dynamic/ims:ImageMetadata"
OLD_PROVIDER = "providers.ims.provider.ImageMetadataProvider"
NEW_PROVIDER = "ims_pulumi.provider.ImageMetadataProvider"
NAMES = ("ubuntu", "centos", "windows", "minimal")
#: The fields POST /v2/images documents; everything else is set by a PATCH afterwards.
POST_FIELDS = {"name": "name", "__os_version": "os_version", "visibility": "visibility", "protected": "protected",
               "container_format": "container_format", "disk_format": "disk_format", "tags": "tags",
               "min_ram": "min_ram", "min_disk": "min_disk"}
PATCH_V21 = "application/openstack-images-v2.1-json-patch"
#: Image attributes that differ between the 0.1 image and its re-creation by nature.
VOLATILE = {"id", "created_at", "updated_at", "self", "file"}
DESCRIPTION_OLD = 'description="Legacy workloads; retire by 2027"'
DESCRIPTION_NEW = 'description="Legacy workloads; retire by 2028"'


# --- helpers ----------------------------------------------------------------------------------


def pickled_class(value: str) -> str:
    """``module.Class`` of a pickled-by-reference provider (``__provider``: base64 of a dill pickle)."""
    strings: list[str] = []
    for op, arg, _pos in pickletools.genops(base64.b64decode(value)):
        if isinstance(arg, str):
            strings.append(arg)
        if op.name == "STACK_GLOBAL":
            return ".".join(strings[-2:])
        if op.name == "GLOBAL":
            return str(arg).replace(" ", ".")
    raise AssertionError(f"no class reference in the pickled provider {value!r}")


def by_name(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Image resources of a deployment, by resource name."""
    return {r["urn"].rsplit("::", 1)[1]: r for r in resources if r["type"] == IMAGE_TYPE}


def deployed(project: PulumiProject) -> dict[str, dict[str, Any]]:
    """The image resources of the project's stack now, by resource name."""
    return by_name(project.export()["deployment"].get("resources") or [])


def providers_of(resources: dict[str, dict[str, Any]], where: str) -> dict[str, str]:
    """Resource name -> the provider class pickled into its ``inputs`` or ``outputs``."""
    return {name: pickled_class(r[where]["__provider"]) for name, r in resources.items()}


def user_inputs(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's inputs without the pickled provider (which legitimately changes)."""
    return {k: v for k, v in resource["inputs"].items() if k != "__provider"}


def api() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers["X-Auth-Token"] = DEMO_TOKEN
    return session


def recreate(http: requests.Session, url: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The image 0.1 created, made again from its state outputs: POST the documented fields, PATCH the rest."""
    body = {wire: outputs[name] for wire, name in POST_FIELDS.items()}
    body["min_ram"], body["min_disk"] = int(body["min_ram"]), int(body["min_disk"])
    if body["min_disk"] == 0:
        del body["min_disk"]  # 0.1 sent 0; IMS documents 1-1024, and no value gives the server's default (0)
    created = http.post(f"{url}/v2/images", json=body, timeout=10)
    assert created.status_code == 201, f"POST {body}: {created.status_code} {created.text}"
    ops = [{"op": "add", "path": f"/{key}", "value": value} for key, value in sorted(outputs["properties"].items())]
    if outputs.get("description"):
        ops.append({"op": "add", "path": "/__description", "value": outputs["description"]})
    ops.append({"op": "add", "path": "/pulumi_create_token", "value": outputs["create_token"]})
    patched = http.patch(f"{url}/v2/images/{created.json()['id']}", data=json.dumps(ops),
                         headers={"Content-Type": PATCH_V21}, timeout=10)
    assert patched.status_code == 200, f"PATCH {ops}: {patched.status_code} {patched.text}"
    image: dict[str, Any] = patched.json()
    return image


def preview_json(project: PulumiProject, *args: str) -> tuple[dict[str, int], dict[str, dict[str, Any]], Result]:
    """``pulumi preview --json ARGS``: the change summary, the image steps that do something (by resource
    name; ``same`` steps are not listed by the CLI), and the run."""
    result = project.preview("--json", *args, check=False)
    try:
        digest = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"`pulumi preview --json {' '.join(args)}` printed no JSON:\n"
                             f"{result.output[-6000:]}") from None
    found = {s["urn"].rsplit("::", 1)[1]: s for s in digest.get("steps", []) if f"::{IMAGE_TYPE}::" in s["urn"]}
    return digest.get("changeSummary") or {}, found, result


def assert_no_changes(project: PulumiProject, when: str) -> None:
    """``pulumi preview --expect-no-changes``, with the offending steps in the message if it fails."""
    summary, found, result = preview_json(project, "--expect-no-changes")
    changed = {name: (s["op"], s.get("diffReasons"), s.get("replaceReasons"))
               for name, s in found.items() if s["op"] != "same"}
    assert not changed, f"{when}: the current code wants to change 0.1 resources: {changed}\n{result.output[-4000:]}"
    assert summary == {"same": 5}, f"{when}: preview summary {summary}, expected 5 unchanged\n{result.output[-4000:]}"
    assert result.returncode == 0, f"{when}: `pulumi preview --expect-no-changes` failed:\n{result.output[-6000:]}"


def last_changes(project: PulumiProject, kind: str = "update") -> dict[str, int]:
    """``resourceChanges`` of the latest operation of ``kind`` in ``pulumi stack history``."""
    history = json.loads(project.run("stack", "history", "--json", "--stack", project.stack).stdout)
    updates = [h for h in history if h.get("kind") == kind]
    assert updates, f"no {kind} in the stack history: {history}"
    latest = max(updates, key=lambda h: h.get("version", 0))
    changes: dict[str, int] = latest.get("resourceChanges") or {}
    return changes


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
    for name, resource in old.items():
        assert state_text.count(resource["id"]) >= 3, f"{name}: its id is not where expected in the state"
        state_text = state_text.replace(resource["id"], new_ids[name])
    assert old_endpoint in state_text
    state_text = state_text.replace(old_endpoint, emu.url)  # the same endpoint, before and after the upgrade
    imported = tmp_path / "state-0.1.json"
    imported.write_text(state_text)
    expected_outputs = by_name(json.loads(state_text)["deployment"]["resources"])

    program_text = (FIXTURE / "program.py").read_text()
    assert "from providers.ims import ImageMetadata" in program_text
    project = PulumiProject.create(
        tmp_path, program_text, name=PROJECT, stack=STACK,
        files={f"Pulumi.{STACK}.yaml": (FIXTURE / f"Pulumi.{STACK}.yaml").read_text()},
        extra_env={"PULUMI_CONFIG_PASSPHRASE": FIXTURE_PASSPHRASE},
    )
    assert (project.dir / "__main__.py").read_text() == program_text
    project.run("config", "set", "ims:endpoint", emu.url, "--stack", STACK)
    secret = project.run("config", "get", "ims:secretKey", "--stack", STACK).stdout.strip()
    assert secret == DEMO_SK, "the 0.1 stack config does not decrypt with the documented passphrase"
    project.run("stack", "import", "--file", str(imported), "--stack", STACK)
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
        drift = sorted(k for k in now.keys() | then.keys()
                       if k not in ("created_at", "updated_at") and now.get(k) != then.get(k))
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
