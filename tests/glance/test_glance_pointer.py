"""JSON Pointer escaping against a real OpenStack Glance 33.0.0: Glance reads ``~1`` as ``/`` and
``~0`` as ``~`` exactly as the provider writes them and as the emulator reads them, and refuses the
unescaped forms the provider used to send (issue 24)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests

from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.framework import json_pointer
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.support.glance import GlanceServer

pytestmark = [pytest.mark.glance, pytest.mark.contract]

PATCH_V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}

KEYS = {"a/b": "slash", "x~1": "tilde-one", "c~d": "tilde", "build id": "space", "équipe-镜像": "non-ASCII"}


def _image(glance: GlanceServer) -> dict[str, Any]:
    response = requests.post(f"{glance.url}/v2/images", json={"name": "pointer", "disk_format": "raw",
                                                              "container_format": "bare"}, timeout=30)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _patch(glance: GlanceServer, image_id: str, ops: list[dict[str, Any]]) -> requests.Response:
    return requests.patch(f"{glance.url}/v2/images/{image_id}", json=ops, headers=PATCH_V21, timeout=30)


@pytest.mark.parametrize("key", list(KEYS), ids=list(KEYS.values()))
def test_glance_reads_the_escaped_pointer_as_the_key(glance: GlanceServer, key: str) -> None:
    image = _image(glance)
    try:
        response = _patch(glance, image["id"], [{"op": "add", "path": json_pointer(key), "value": "v"}])
        assert response.status_code == 200, response.text
        assert response.json()[key] == "v", "stored under the declared key"
        removed = _patch(glance, image["id"], [{"op": "remove", "path": json_pointer(key)}])
        assert removed.status_code == 200 and key not in removed.json(), "the same pointer removes it"
    finally:
        requests.delete(f"{glance.url}/v2/images/{image['id']}", timeout=30)


UNESCAPED = [
    # (reason, path, what Glance does)
    ("an unescaped '/' names a nested attribute: 400", "/a/b", 400),
    ("'~2' is no escape: 400 (the emulator refuses it the same way)", "/a~2b", 400),
    ("a trailing '~' is no escape: 400", "/a~", 400),
]


@pytest.mark.parametrize(("reason", "path", "status"), UNESCAPED, ids=[c[0] for c in UNESCAPED])
def test_glance_refuses_what_the_emulator_refuses(glance: GlanceServer, reason: str, path: str, status: int) -> None:
    image = _image(glance)
    try:
        response = _patch(glance, image["id"], [{"op": "add", "path": path, "value": "v"}])
        assert response.status_code == status, f"{reason}: {response.status_code} {response.text}"
    finally:
        requests.delete(f"{glance.url}/v2/images/{image['id']}", timeout=30)


def test_the_provider_converges_on_glance(glance: GlanceServer) -> None:
    p = ImageMetadataProvider.with_context(ProviderContext({"server": "glance", "endpoint": glance.url}, environ={}))
    result = p.check({}, {"name": "keys", "properties": KEYS, "__create_token": os.urandom(16).hex()})
    assert not result.failures, result.failures
    inputs = dict(result.inputs)
    created = p.create(inputs)
    outs = created.outs or {}
    try:
        image = requests.get(f"{glance.url}/v2/images/{created.id}", timeout=30).json()
        assert {k: image.get(k) for k in KEYS} == KEYS, "each key stored as declared"
        assert not p.diff(created.id, outs, inputs).changes, "a second plan shows no change"
        news = dict(p.check({}, {**inputs, "properties": {"a/b": "changed", "new/~key": "1"}}).inputs)
        updated = p.update(created.id, outs, news).outs or {}
        image = requests.get(f"{glance.url}/v2/images/{created.id}", timeout=30).json()
        assert (image["a/b"], image["new/~key"]) == ("changed", "1") and "x~1" not in image
        assert not p.diff(created.id, updated, news).changes, "converged after the update"
    finally:
        p.delete(created.id, outs)


def test_glance_strips_spaces_around_a_pointer_token(glance: GlanceServer) -> None:
    """Why check refuses a property key with surrounding spaces: Glance stores another key."""
    image = _image(glance)
    try:
        response = _patch(glance, image["id"], [{"op": "add", "path": json_pointer(" team "), "value": "v"}])
        assert response.status_code == 200, response.text
        assert response.json().get("team") == "v" and " team " not in response.json()
    finally:
        requests.delete(f"{glance.url}/v2/images/{image['id']}", timeout=30)
