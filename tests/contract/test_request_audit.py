"""Every request of a full lifecycle on the IMS profile is one that Huawei documents, carrying
only documented fields and parameters (``ims_pulumi.core.api_surface``, the README's table)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core import api_surface
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.transport import Credentials, Response, Transport
from ims_pulumi.dynamic.provider import ImageMetadataProvider

pytestmark = pytest.mark.contract


class Recording(Transport):
    """A transport that notes every request it sends (method, path with query, JSON body)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        query = kwargs.get("query") or ()
        self.sent.append((method, path + (f"?{urlencode(list(query))}" if query else ""), kwargs.get("json_body")))
        return super().request(method, path, **kwargs)


@pytest.fixture
def recorded(emu: Emulator) -> tuple[ImageMetadataProvider, Recording]:
    transport = Recording(emu.url, Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID))
    raw = {"endpoint": emu.url, "projectId": DEMO_PROJECT_ID, "accessKey": DEMO_AK, "secretKey": DEMO_SK}
    return ImageMetadataProvider.with_context(ProviderContext(raw, client=ImsClient(transport))), transport


def check(p: ImageMetadataProvider, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    result = p.check(olds, news)
    assert not result.failures, result.failures
    return dict(result.inputs)


def test_a_full_lifecycle_sends_only_documented_requests(recorded: tuple[ImageMetadataProvider, Recording],
                                                         emu: Emulator) -> None:
    p, transport = recorded
    declared = {"name": "audit", "os_version": "Ubuntu 24.04 server 64bit", "disk_format": "qcow2", "min_disk": 40,
                "tags": ["team=audit"], "description": "audited image", "properties": {"role": "web", "tier": "1"},
                "__create_token": "a" * 32}
    # create: an OS version only the region's list knows, custom properties and a description
    inputs = check(p, {}, declared)
    created = p.create(inputs)
    image = ImsClient(Transport(emu.url, Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID))).get_image(
        created.id)
    assert image is not None and (image["role"], image["__description"]) == ("web", "audited image")
    assert created.outs["platform"] == "Ubuntu" and created.outs["tags"] == ["team=audit"]
    # refresh
    assert p.read(created.id, created.outs).id == created.id
    # in-place update: name, description, properties (one changed, one dropped, one added)
    changed = {**declared, "name": "audit-2", "description": "", "properties": {"role": "api", "zone": "b"}}
    news = check(p, inputs, changed)
    assert not p.diff(created.id, created.outs, news).replaces
    updated = p.update(created.id, created.outs, news).outs
    # a tag change replaces on IMS: the engine deletes, checks again without olds, creates
    retagged = {**changed, "tags": ["team=audit", "env=prod"]}
    assert p.diff(created.id, updated, check(p, news, retagged)).replaces == ["tags"]
    p.delete(created.id, updated)
    replacement = p.create(check(p, {}, retagged))
    p.delete(replacement.id, replacement.outs)

    sent = transport.sent
    for method, url, body in sent:
        assert api_surface.problems(method, url, body) == [], (method, url, body)
    posts = [body for method, _, body in sent if method == "POST"]
    assert posts and all("__description" not in b and "role" not in b for b in posts), "set by PATCH, not on create"
    used = {r.path + r.method for r in api_surface.IMS_REQUESTS for m, u, _ in sent if r.matches(m, u.split("?")[0])}
    images = {r.path + r.method for r in api_surface.IMS_REQUESTS if r.group == "image"}
    assert used == images, "every image row of the table is exercised"
    assert sum(1 for m, u, _ in sent if u.startswith("/v1/cloudimages/os_version")) == 1, "read once per process"


def test_recovering_from_a_half_committed_create_sends_only_documented_requests(
        recorded: tuple[ImageMetadataProvider, Recording], emu: Emulator) -> None:
    # Issue 23 on IMS: the token look-up, then name + created_at (documented filters), the delete of
    # the image stored without its tags, and the POST again: nothing the table does not list.
    p, transport = recorded
    p.context.client.transport.sleep = lambda seconds: None  # type: ignore[method-assign]
    emu.set_faults([{"kind": "half_commit", "method": "POST", "path": "/v2/images", "count": 1}])
    created = p.create(check(p, {}, {"name": "audit-half", "tags": ["team=audit"], "__create_token": "h" * 32}))
    assert [i["id"] for i in emu.images()] == [created.id]
    for method, url, body in transport.sent:
        assert api_surface.problems(method, url, body) == [], (method, url, body)
    lookups = [u for m, u, _ in transport.sent if m == "GET" and "created_at=gte" in u]
    assert len(lookups) == 1 and "name=audit-half" in lookups[0]
    assert [m for m, u, _ in transport.sent if m in ("POST", "DELETE")] == ["POST", "DELETE", "POST"]


# (reason, method, url, body, what the audit must say)
VIOLATIONS = [
    ("a custom property in the create body", "POST", "/v2/images", {"name": "x", "role": "web"}, "'role'"),
    ("the description in the create body", "POST", "/v2/images", {"name": "x", "__description": "d"},
     "'__description'"),
    ("a list parameter the provider does not use", "GET", "/v2/images?sort_key=name&limit=1", None, "'sort_key'"),
    ("a PATCH of a read-only attribute", "PATCH", "/v2/images/abc", [{"op": "replace", "path": "/min_disk",
                                                                       "value": 1}], "'/min_disk'"),
    ("the tag API, which the IMS profile never uses", "PUT", "/v2/images/abc/tags/x", None, "not a documented"),
    ("a body on a GET", "GET", "/v2/images/abc", {"x": 1}, "body field"),
]


@pytest.mark.parametrize("reason,method,url,body,text", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_the_audit_refuses_what_the_table_does_not_list(reason: str, method: str, url: str, body: Any,
                                                        text: str) -> None:
    found = api_surface.problems(method, url, body)
    assert found and text in found[0], (reason, found)
