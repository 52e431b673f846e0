"""Helpers of the upgrade tests (``tests/e2e/test_upgrade_from_*.py``): a stack saved by an earlier
release (``tests/fixtures/release-*/``) imported into a fresh stack against the test's emulator.

The images the release made are created again through the API (:func:`recreate`, :func:`upload`),
the state is pointed at them (:func:`rewrite_state`), and the current code is run on it.
"""

from __future__ import annotations

import base64
import json
import pickletools
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

from harness.pulumi_cli import PulumiProject, Result
from ims_emulator import DEMO_SK, DEMO_TOKEN

__all__ = [
    "IMAGE_TYPE", "PATCH_V21", "POST_FIELDS", "api", "assert_no_changes", "by_name", "deployed", "last_changes",
    "pickled_class", "preview_json", "providers_of", "recreate", "rewrite_state", "upload", "user_inputs",
]

IMAGE_TYPE = "pulumi-python:dynamic/ims:ImageMetadata"
#: The fields POST /v2/images documents (wire name: output name); everything else is set by a PATCH afterwards.
POST_FIELDS = {"name": "name", "__os_version": "os_version", "visibility": "visibility", "protected": "protected",
               "container_format": "container_format", "disk_format": "disk_format", "tags": "tags",
               "min_ram": "min_ram", "min_disk": "min_disk"}
PATCH_V21 = "application/openstack-images-v2.1-json-patch"


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


def by_name(resources: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Image resources of a deployment, by resource name."""
    return {r["urn"].rsplit("::", 1)[1]: r for r in resources if r["type"] == IMAGE_TYPE}


def deployed(project: PulumiProject) -> dict[str, dict[str, Any]]:
    """The image resources of the project's stack now, by resource name."""
    return by_name(project.export()["deployment"].get("resources") or [])


def providers_of(resources: Mapping[str, dict[str, Any]], where: str) -> dict[str, str]:
    """Resource name -> the provider class pickled into its ``inputs`` or ``outputs``."""
    return {name: pickled_class(r[where]["__provider"]) for name, r in resources.items()}


def user_inputs(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A resource's inputs without the pickled provider (which legitimately changes)."""
    return {k: v for k, v in resource["inputs"].items() if k != "__provider"}


def api() -> requests.Session:
    """A session with the emulator's demo token, never through a proxy."""
    session = requests.Session()
    session.trust_env = False
    session.headers["X-Auth-Token"] = DEMO_TOKEN
    return session


def recreate(http: requests.Session, url: str, outputs: Mapping[str, Any], *, token_tag: bool = False) -> dict[str, Any]:
    """An image a release created, made again from its state outputs: POST the documented fields, PATCH the rest.

    The create token (``create_token`` or ``__create_token`` of the outputs) goes where the release
    put it: the ``pulumi_create_token`` property (0.1), or a ``pulumi-create-token=...`` tag sent
    with the POST (``token_tag``, 0.2).
    """
    token = outputs.get("create_token") or outputs["__create_token"]
    body = {wire: outputs[name] for wire, name in POST_FIELDS.items()}
    body["min_ram"], body["min_disk"] = int(body["min_ram"]), int(body["min_disk"])
    if body["min_disk"] == 0:
        del body["min_disk"]  # IMS documents 1-1024, and no value gives the server's default (0)
    if token_tag:
        body["tags"] = [*body["tags"], f"pulumi-create-token={token}"]
    created = http.post(f"{url}/v2/images", json=body, timeout=10)
    assert created.status_code == 201, f"POST {body}: {created.status_code} {created.text}"
    ops = [{"op": "add", "path": f"/{key}", "value": value} for key, value in sorted(outputs["properties"].items())]
    if outputs.get("description"):
        ops.append({"op": "add", "path": "/__description", "value": outputs["description"]})
    if not token_tag:
        ops.append({"op": "add", "path": "/pulumi_create_token", "value": token})
    image: dict[str, Any] = created.json()
    if ops:
        patched = http.patch(f"{url}/v2/images/{image['id']}", data=json.dumps(ops),
                             headers={"Content-Type": PATCH_V21}, timeout=10)
        assert patched.status_code == 200, f"PATCH {ops}: {patched.status_code} {patched.text}"
        image = patched.json()
    return image


def upload(http: requests.Session, url: str, image_id: str, data: bytes, timeout: float = 30) -> dict[str, Any]:
    """``PUT /v2/images/{id}/file`` with ``data``, then wait until the image is ``active``; the image."""
    put = http.put(f"{url}/v2/images/{image_id}/file", data=data,
                   headers={"Content-Type": "application/octet-stream"}, timeout=timeout)
    assert put.status_code == 204, f"PUT file of {image_id}: {put.status_code} {put.text}"
    deadline = time.monotonic() + timeout
    while True:
        got = http.get(f"{url}/v2/images/{image_id}", timeout=10)
        assert got.status_code == 200, f"GET {image_id}: {got.status_code} {got.text}"
        image: dict[str, Any] = got.json()
        if image.get("status") != "saving" or time.monotonic() > deadline:
            assert image.get("status") == "active", f"image {image_id} after the upload: {image.get('status')}"
            return image
        time.sleep(0.05)


def rewrite_state(state_text: str, resources: Mapping[str, dict[str, Any]], new_ids: Mapping[str, str],
                  old_endpoint: str, new_endpoint: str, *, min_count: int = 3) -> str:
    """The saved state pointed at the re-created images (``new_ids``, by resource name) and at the
    test's emulator. Every id must occur at least ``min_count`` times (``id``, links, stack outputs)."""
    for name, resource in resources.items():
        found = state_text.count(resource["id"])
        assert found >= min_count, f"{name}: its id is in the state {found} times, expected at least {min_count}"
        state_text = state_text.replace(resource["id"], new_ids[name])
    assert old_endpoint in state_text
    return state_text.replace(old_endpoint, new_endpoint)  # the same endpoint, before and after the upgrade


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


def assert_no_changes(project: PulumiProject, when: str, *, release: str, resources: int) -> None:
    """``pulumi preview --expect-no-changes``, with the offending steps in the message if it fails;
    ``resources``: how many the stack holds (all of them ``same``)."""
    summary, found, result = preview_json(project, "--expect-no-changes")
    changed = {name: (s["op"], s.get("diffReasons"), s.get("replaceReasons"))
               for name, s in found.items() if s["op"] != "same"}
    assert not changed, (f"{when}: the current code wants to change {release} resources: {changed}\n"
                         f"{result.output[-4000:]}")
    assert summary == {"same": resources}, (f"{when}: preview summary {summary}, expected {resources} unchanged\n"
                                            f"{result.output[-4000:]}")
    assert result.returncode == 0, f"{when}: `pulumi preview --expect-no-changes` failed:\n{result.output[-6000:]}"


def last_changes(project: PulumiProject, kind: str = "update") -> dict[str, int]:
    """``resourceChanges`` of the latest operation of ``kind`` in ``pulumi stack history``."""
    history = json.loads(project.run("stack", "history", "--json", "--stack", project.stack).stdout)
    updates = [h for h in history if h.get("kind") == kind]
    assert updates, f"no {kind} in the stack history: {history}"
    latest = max(updates, key=lambda h: h.get("version", 0))
    changes: dict[str, int] = latest.get("resourceChanges") or {}
    return changes


#: Outputs of releases 0.1 and 0.2 that the current code no longer writes (README "Changelog"):
#: derivable from the id, region constants (still in a lookup's ImageInfo), or empty values.
REMOVED_OUTPUTS = frozenset({"self_link", "file", "schema", "image_type", "virtual_env_type", "is_registered",
                             "image_size", "image_source_type", "root_origin"})


def output_drift(now: dict[str, Any], then: dict[str, Any], ignore: frozenset[str] = frozenset()) -> list[str]:
    """Outputs that changed between an old release's state (``then``) and a refresh by the current
    code (``now``): a different value, a new key, or a key gone that the changelog does not list."""
    keys = (now.keys() | then.keys()) - ignore - {"__provider"}
    return sorted(k for k in keys
                  if (k in now and now[k] != then.get(k))
                  or (k not in now and k not in REMOVED_OUTPUTS))


def import_fixture(tmp_path: Path, fixture: Path, program_text: str, state_file: Path, endpoint: str, *,
                   project_name: str, stack: str, passphrase: str, release: str) -> PulumiProject:
    """A fresh project running a release's program, its stack config (decrypted with the fixture's
    passphrase), ``endpoint`` as ``ims:endpoint``, and the release's state imported from ``state_file``."""
    project = PulumiProject.create(
        tmp_path, program_text, name=project_name, stack=stack,
        files={f"Pulumi.{stack}.yaml": (fixture / f"Pulumi.{stack}.yaml").read_text()},
        extra_env={"PULUMI_CONFIG_PASSPHRASE": passphrase},
    )
    assert (project.dir / "__main__.py").read_text() == program_text
    project.run("config", "set", "ims:endpoint", endpoint, "--stack", stack)
    secret = project.run("config", "get", "ims:secretKey", "--stack", stack).stdout.strip()
    assert secret == DEMO_SK, f"the {release} stack config does not decrypt with the documented passphrase"
    project.run("stack", "import", "--file", str(state_file), "--stack", stack)
    return project
