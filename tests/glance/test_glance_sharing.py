"""Sharing images between projects, against a REAL Glance 33.0.0 with several projects.

Glance runs in "trusted identity headers" mode (``scripts/glance/run_glance.py --auth
trusted-headers``) behind the authenticating proxy of ``tests/support/glance.py``: each token
stands for one project (A owns the images, B is the member, C is a stranger), the proxy turns it
into ``X-Identity-Status: Confirmed`` / ``X-Project-Id`` / ``X-Roles: member,reader`` and drops any
identity header the client sent. Everything below goes through the proxy with token auth, with
the project's own client (``ImsClient``) and sharing providers (``ImageMemberProvider`` on A's
side, ``ImageMemberAcceptanceProvider`` on B's and C's).

What Glance 33.0.0 answered (pinned by the assertions):

* A adds B to a ``shared`` image: 200, status ``pending``; adding B again: 409 "Member <B> is
  duplicated for image <id>" (the provider reads first and takes the membership over instead).
* B lists it with ``visibility=shared&member_status=pending``, not in its plain list nor with
  ``visibility=shared`` alone (``member_status`` defaults to ``accepted``) until it accepts.
* B's accept/reject: 200 with the new status. A rejected image leaves B's lists but B's GET by
  id still answers 200.
* C: the image is in none of its lists; GET of the image, of a membership and C's own PUT: 404.
* A removes B: 204 (again: 404, which the provider takes as done); then B's GET of the image and
  of its membership: 404.
* An image that is not ``shared`` (here ``private``): POST members answers 403
  "Not allowed to create members for image <id>." -- Glance raises "Only shared images have
  members." inside and replaces it with that text, so the word "shared" never reaches the client
  (the provider reads the image to give the hint to set visibility='shared'). The list of
  members says it: 403 "Not allowed to list members for image <id>: Only shared images have
  members."; GET of one membership: 404 "Only shared images have members.".
* A member cannot manage memberships: B adding C gets 403 "You are not authorized to complete
  add_member action.", B removing itself 403 "... delete_member action.", A accepting for B 403
  "... modify_member action.", B's PATCH of the image 403. Glance lets the owner add its own
  project as a member (200 ``pending``; IMS refuses with IMG.0076): the provider's check refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from pulumi.dynamic import CheckResult, CreateResult, ReadResult, UpdateResult

from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import AuthenticationFailed, Conflict, ImsError, NotFound
from ims_pulumi.core.profiles import GLANCE
from ims_pulumi.core.sharing import IMAGE_MEMBER_ACCEPTANCE
from ims_pulumi.core.transport import Credentials, Transport
from ims_pulumi.dynamic.provider import ImageMemberAcceptanceProvider, ImageMemberProvider
from tests.support.glance import AuthProxy, GlanceProjects, Identity, dechunk, free_port, is_identity_header

pytestmark = [pytest.mark.glance, pytest.mark.contract]

JSON = {"Accept": "application/json"}
PATCH_CT = "application/openstack-images-v2.1-json-patch"
HTML_NOISE = "<br /><br />"


@dataclass
class Project:
    """One project's view of the proxied Glance: its client and its providers."""

    name: str
    project_id: str
    token: str
    url: str
    client: ImsClient = field(init=False)
    context: ProviderContext = field(init=False)

    def __post_init__(self) -> None:
        self.client = ImsClient(Transport(self.url, Credentials(auth_token=self.token, project_id=self.project_id)))
        self.context = ProviderContext({"server": "glance", "endpoint": self.url, "authToken": self.token,
                                        "projectId": self.project_id}, environ={})

    def members(self) -> ImageMemberProvider:
        """The owner's side."""
        return ImageMemberProvider.with_context(self.context)

    def acceptance(self) -> ImageMemberAcceptanceProvider:
        """The consumer's side."""
        return ImageMemberAcceptanceProvider.with_context(self.context)

    def ids(self, **filters: str) -> set[str]:
        """Ids of the images this project lists with ``filters``."""
        return {image["id"] for image in self.client.list_images(list(filters.items()))}

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A plain request through the proxy with this project's token (to see Glance's own answer)."""
        headers = {**JSON, "X-Auth-Token": self.token, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def close(self) -> None:
        self.client.close()
        self.context.close()


@pytest.fixture(scope="module")
def projects(glance_projects: GlanceProjects) -> Iterator[dict[str, Project]]:
    """A (owner), B (member) and C (stranger), each with its client and providers."""
    made = {name: Project(name, glance_projects.project_id(name), glance_projects.token(name), glance_projects.url)
            for name in ("A", "B", "C")}
    yield made
    for project in made.values():
        project.close()


@pytest.fixture
def owner(projects: dict[str, Project]) -> Iterator[Project]:
    """Project A; every image it creates in a test is deleted afterwards."""
    a = projects["A"]
    before = a.ids()
    yield a
    for image_id in a.ids() - before:
        a.client.delete_image(image_id)


def create_image(project: Project, visibility: str = "shared", **extra: Any) -> dict[str, Any]:
    body = {"name": f"share-{uuid.uuid4().hex[:8]}", "disk_format": "raw", "container_format": "bare",
            "visibility": visibility, **extra}
    return project.client.create_image(body)


def checked(provider: ImageMemberProvider | ImageMemberAcceptanceProvider, news: dict[str, Any]) -> dict[str, Any]:
    """The provider's check of ``news``, which must pass; returns the inputs."""
    result: CheckResult = provider.check({}, news)
    assert not result.failures, [(f.property, f.reason) for f in result.failures]
    return dict(result.inputs)


def outs(result: CreateResult | ReadResult | UpdateResult) -> dict[str, Any]:
    """A provider result's outputs (never ``None`` here)."""
    assert result.outs is not None
    return dict(result.outs)


def message(response: requests.Response) -> str:
    """Glance's error message without its HTML noise."""
    return str(response.json()["message"]).split(HTML_NOISE)[0]


# --- the proxy and the mode ------------------------------------------------------------------------------


def test_glance_itself_refuses_requests_without_identity(glance_projects: GlanceProjects) -> None:
    direct = requests.get(glance_projects.glance.url + "/v2/images", headers=JSON, timeout=30)
    assert direct.status_code == 401, direct.text
    assert requests.get(glance_projects.glance.url + "/versions", headers=JSON, timeout=30).status_code == 200
    assert glance_projects.glance.auth == "trusted-headers"
    ids = [glance_projects.project_id(n) for n in "ABC"]
    assert len(set(ids)) == 3 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_proxy_refuses_missing_and_unknown_tokens(glance_projects: GlanceProjects) -> None:
    url = glance_projects.url + "/v2/images"
    for headers in ({}, {"X-Auth-Token": "not-a-token"},
                    {"X-Identity-Status": "Confirmed", "X-Project-Id": glance_projects.project_id("A")}):
        seen = len(glance_projects.proxy.exchanges)
        refused = requests.get(url, headers={**JSON, **headers}, timeout=30)
        assert refused.status_code == 401 and "requires authentication" in refused.json()["error"]["message"]
        assert refused.headers["WWW-Authenticate"].startswith("Keystone uri=")
        assert glance_projects.proxy.exchanges[seen:] == [glance_projects.proxy.exchanges[-1]]
        assert glance_projects.proxy.exchanges[-1].project is None
    bad = ImsClient(Transport(glance_projects.url, Credentials(auth_token="expired", project_id="x" * 32)))
    with pytest.raises(AuthenticationFailed, match="HTTP 401: The request you have made requires authentication"):
        bad.probe()
    bad.close()


def test_proxy_replaces_identity_headers_the_client_sent(glance_projects: GlanceProjects,
                                                         projects: dict[str, Project], owner: Project) -> None:
    a, b = projects["A"], projects["B"]
    spoofed = {"X-Project-Id": b.project_id, "X-Tenant-Id": b.project_id, "X-Roles": "admin",
               "X-Identity-Status": "Confirmed", "X-User-Id": "admin", "X-Is-Admin-Project": "True",
               "OpenStack-System-Scope": "all", "X-Service-Roles": "service"}
    made = a.raw("POST", "/v2/images", json={"name": "spoof", "disk_format": "raw", "container_format": "bare"},
                 headers=spoofed)
    assert made.status_code == 201, made.text
    assert made.json()["owner"] == a.project_id, "the token decides the project, not X-Project-Id"
    public = a.raw("POST", "/v2/images", json={"name": "spoof-public", "visibility": "public"}, headers=spoofed)
    assert public.status_code == 403, "X-Roles: admin from the client is dropped: publicize_image is refused"
    # the project's client sends X-Project-Id itself: with B's id but A's token it still acts as A
    mixed = ImsClient(Transport(glance_projects.url, Credentials(auth_token=a.token, project_id=b.project_id)))
    image = mixed.create_image({"name": "mixed", "disk_format": "raw", "container_format": "bare"})
    mixed.close()
    assert image["owner"] == a.project_id
    assert glance_projects.proxy.exchanges[-1].project == a.project_id


def test_proxy_streams_bodies_both_ways(glance_projects: GlanceProjects, owner: Project) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    sized = create_image(owner, "private")
    owner.client.upload_file(sized["id"], (data[i:i + 65536] for i in range(0, len(data), 65536)), len(data))
    assert owner.client.wait_for_data(sized["id"], 60)["status"] == "active"
    # a chunked upload (no Content-Length): the proxy re-chunks it to Glance
    chunked = create_image(owner, "private")
    put = owner.raw("PUT", f"/v2/images/{chunked['id']}/file", data=(data[i:i + 100000] for i in range(0, len(data),
                    100000)), headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 204, put.text
    for image_id in (sized["id"], chunked["id"]):
        got = owner.raw("GET", f"/v2/images/{image_id}/file", stream=True)
        assert got.status_code == 200
        digest = hashlib.sha256()
        for piece in got.iter_content(65536):
            digest.update(piece)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        image = owner.client.get_image(image_id)
        assert image is not None and image["size"] == len(data)
        assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()


class _Echo(BaseHTTPRequestHandler):
    """An upstream that answers what it received (method, target, headers, body digest), chunked."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b"".join(dechunk(self.rfile))
        else:
            body = self.rfile.read(length)
        seen = {"method": self.command, "target": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                "body_sha256": hashlib.sha256(body).hexdigest(), "body_length": len(body)}
        payload = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")  # no Content-Length: the proxy re-chunks
        self.send_header("X-Upstream", "echo")
        self.end_headers()
        for i in range(0, len(payload), 7):
            piece = payload[i:i + 7]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo


def test_proxy_forwards_everything_but_identity_headers() -> None:
    """Against an echoing upstream: exactly what reaches "Glance" and what comes back."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    identity = Identity("e" * 32, ("member", "reader"), user_id="user-e")
    body = os.urandom(200_000)
    try:
        with AuthProxy.start(f"http://127.0.0.1:{upstream.server_address[1]}", {"tok-e": identity}) as proxy:
            session = requests.Session()
            sent = {"X-Auth-Token": "tok-e", "X-Project-Id": "f" * 32, "x-roles": "admin", "X-Role": "admin",
                    "X-Tenant": "t", "X-User-Name": "root", "X-Service-Catalog": "[]", "X-Domain-Id": "default",
                    "OpenStack-System-Scope": "all", "X-Identity-Status": "Invalid", "X-Custom": "kept",
                    "Content-Type": "application/octet-stream", "X-Openstack-Request-Id": "req-client"}
            answers = [session.request(method, proxy.url + "/v2/images/x/file?a=1&b=%2F", data=data, headers=sent,
                                       timeout=30)
                       for method, data in (("PUT", body), ("PATCH", iter([body[:1000], body[1000:]])),
                                            ("GET", None))]
    finally:
        upstream.shutdown()
        upstream.server_close()
    for answer, method in zip(answers, ("PUT", "PATCH", "GET"), strict=True):
        assert answer.status_code == 200 and answer.headers["X-Upstream"] == "echo"
        assert answer.headers.get("Transfer-Encoding") == "chunked", "no length from upstream: chunked to the client"
        seen = answer.json()
        assert (seen["method"], seen["target"]) == (method, "/v2/images/x/file?a=1&b=%2F")
        headers = {k.lower(): v for k, v in seen["headers"]}
        assert len(headers) == len(seen["headers"]), "each identity header once"
        identity_seen = {k: v for k, v in headers.items() if is_identity_header(k)}
        assert identity_seen == {"x-identity-status": "Confirmed", "x-project-id": "e" * 32,
                                 "x-roles": "member,reader", "x-is-admin-project": "False", "x-user-id": "user-e"}
        assert headers["x-custom"] == "kept" and headers["x-auth-token"] == "tok-e"
        assert headers["x-openstack-request-id"] == "req-client"
        assert headers["host"] == proxy.url.removeprefix("http://"), "the client's Host is kept"
        if method == "GET":
            assert seen["body_length"] == 0
        else:
            assert (seen["body_length"], seen["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
            assert ("transfer-encoding" in headers) == (method == "PATCH"), "chunked in, chunked out"
    assert [e.status for e in proxy.exchanges] == [200, 200, 200]


def test_proxy_answers_502_when_glance_does_not(glance_projects: GlanceProjects) -> None:
    with AuthProxy.start(f"http://127.0.0.1:{free_port()}", {"t": Identity("d" * 32)}) as proxy:
        answer = requests.get(proxy.url + "/v2/images", headers={**JSON, "X-Auth-Token": "t"}, timeout=30)
    assert answer.status_code == 502 and "Glance did not answer" in answer.json()["message"]


# --- sharing: A owns, B is the member, C a stranger -------------------------------------------------------


def test_share_accept_reject_remove(projects: dict[str, Project], owner: Project) -> None:
    a, b = owner, projects["B"]
    image = create_image(a)
    assert (image["visibility"], image["owner"]) == ("shared", a.project_id)
    image_id = image["id"]
    assert image_id in a.ids() and image_id in a.ids(visibility="shared"), "the owner sees its shared image"

    # A adds B (ImageMember create): pending
    share = a.members()
    inputs = checked(share, {"image_id": image_id, "member_id": b.project_id})
    created = share.create(inputs)
    assert created.id == f"{image_id}/{b.project_id}"
    assert outs(created)["status"] == "pending" and "schema" not in outs(created), "a constant is no output"
    assert outs(created)["member_id"] == b.project_id and outs(created)["created_at"]

    # B: only the pending list shows it
    assert image_id in b.ids(visibility="shared", member_status="pending")
    assert image_id not in b.ids()
    assert image_id not in b.ids(visibility="shared"), "member_status defaults to accepted"
    assert image_id in b.ids(visibility="shared", member_status="all")

    # B accepts (ImageMemberAcceptance create): its plain list shows it
    accept = b.acceptance()
    acc_inputs = checked(accept, {"image_id": image_id})
    assert acc_inputs["member_id"] == b.project_id and "status" not in acc_inputs, "derived; default not stored"
    assert IMAGE_MEMBER_ACCEPTANCE.effective(acc_inputs, GLANCE)["status"] == "accepted", "the default"
    accepted = accept.create(acc_inputs)
    assert accepted.id == f"{image_id}/{b.project_id}" and outs(accepted)["status"] == "accepted"
    assert image_id in b.ids() and image_id in b.ids(visibility="shared")
    assert image_id not in b.ids(visibility="shared", member_status="pending")
    seen_by_b = b.client.get_image(image_id)
    assert seen_by_b is not None and seen_by_b["owner"] == a.project_id

    # A's refresh of its ImageMember: accepted (an output; the inputs do not change)
    read = share.read(created.id, outs(created))
    assert read.id == created.id and outs(read)["status"] == "accepted"
    assert read.inputs == {"image_id": image_id, "member_id": b.project_id}

    # B changes its mind (update in place): rejected, out of its lists, still readable by id
    news = {**acc_inputs, "status": "rejected"}
    diff = accept.diff(accepted.id, {**acc_inputs, **outs(accepted)}, news)
    assert diff.changes and not diff.replaces
    updated = accept.update(accepted.id, {**acc_inputs, **outs(accepted)}, news)
    assert outs(updated)["status"] == "rejected"
    assert image_id not in b.ids() and image_id not in b.ids(visibility="shared")
    assert image_id in b.ids(visibility="shared", member_status="rejected")
    assert b.client.get_image(image_id) is not None, "a rejected image stays readable by id (booted servers)"
    assert outs(share.read(created.id, outs(created)))["status"] == "rejected"
    back = accept.read(accepted.id, {**news, **outs(updated)})
    assert back.inputs is not None and back.inputs["status"] == "rejected", "drift flows back as an input"

    # B accepts again (update); destroying the acceptance sets it back to rejected; accepting anew works
    assert outs(accept.update(accepted.id, news, acc_inputs))["status"] == "accepted"
    assert image_id in b.ids()
    accept.delete(accepted.id, {**acc_inputs, **outs(accepted)})
    assert b.client.get_member(image_id, b.project_id)["status"] == "rejected"  # type: ignore[index]
    assert image_id not in b.ids()
    accepted = accept.create(acc_inputs)
    assert outs(accepted)["status"] == "accepted" and image_id in b.ids()

    # A removes the member (ImageMember delete): gone for B
    share.delete(created.id, outs(created))
    assert a.raw("GET", f"/v2/images/{image_id}/members/{b.project_id}").status_code == 404
    assert image_id not in b.ids(visibility="shared", member_status="all")
    gone = b.raw("GET", f"/v2/images/{image_id}")
    assert gone.status_code == 404 and message(gone) == f"No image found with ID {image_id}"
    assert b.client.get_image(image_id) is None
    assert accept.read(accepted.id, {**acc_inputs, **outs(accepted)}).id == "", "the acceptance reports it gone"
    assert share.read(created.id, outs(created)).id == "", "and so does the owner's ImageMember"

    # deleting what is already gone is fine on both sides
    again = a.raw("DELETE", f"/v2/images/{image_id}/members/{b.project_id}")
    assert again.status_code == 404
    assert message(again) == f"{b.project_id} not found in the member list of the image {image_id}."
    share.delete(created.id, outs(created))
    accept.delete(accepted.id, {**acc_inputs, **outs(accepted)})
    assert image_id in a.ids(), "the image itself is untouched"


def test_a_third_project_sees_nothing(projects: dict[str, Project], owner: Project) -> None:
    a, b, c = owner, projects["B"], projects["C"]
    image_id = create_image(a)["id"]
    share = a.members()
    created = share.create(checked(share, {"image_id": image_id, "member_id": b.project_id}))
    for status in ("pending", "accepted", "rejected"):
        if status != "pending":
            b.client.set_member_status(image_id, b.project_id, status)
        for filters in ({}, {"visibility": "shared"}, {"visibility": "shared", "member_status": "all"},
                        {"visibility": "shared", "member_status": status}):
            assert image_id not in c.ids(**filters), (status, filters)
        assert c.client.get_image(image_id) is None
        direct = c.raw("GET", f"/v2/images/{image_id}")
        assert direct.status_code == 404 and message(direct) == f"No image found with ID {image_id}"
        for path in (f"/v2/images/{image_id}/members", f"/v2/images/{image_id}/members/{b.project_id}",
                     f"/v2/images/{image_id}/members/{c.project_id}"):
            hidden = c.raw("GET", path)
            assert hidden.status_code == 404 and message(hidden) == f"Image {image_id} not found.", path
    # C's ImageMemberAcceptance: 404 from Glance, told that the owner must share it first
    accept = c.acceptance()
    with pytest.raises(ImsError) as refused:
        accept.create(checked(accept, {"image_id": image_id}))
    assert isinstance(refused.value.__cause__, NotFound)
    text = str(refused.value)
    assert f"HTTP 404: Image {image_id} not found" in text
    assert f"Image {image_id} is not shared with project {c.project_id}: the image's owner must add it" in text
    assert c.acceptance().read(f"{image_id}/{c.project_id}", {"image_id": image_id,
                                                              "member_id": c.project_id}).id == ""
    share.delete(created.id, outs(created))


def test_member_on_an_image_that_is_not_shared_glance_answer(owner: Project, projects: dict[str, Project]) -> None:
    """Pins Glance 33's real answer: a 403 that does not say why (the provider reads the image to tell)."""
    b = projects["B"]
    image_id = create_image(owner, "private")["id"]
    raw = owner.raw("POST", f"/v2/images/{image_id}/members", json={"member": b.project_id})
    assert raw.status_code == 403
    assert message(raw) == f"Not allowed to create members for image {image_id}."
    assert "shared" not in raw.text.lower() and "visibility" not in raw.text.lower()
    # Glance's other member calls do tell why (the provider's GET of the membership, first, gets the 404)
    listed = owner.raw("GET", f"/v2/images/{image_id}/members")
    assert listed.status_code == 403
    assert message(listed) == f"Not allowed to list members for image {image_id}: Only shared images have members."
    shown = owner.raw("GET", f"/v2/images/{image_id}/members/{b.project_id}")
    assert shown.status_code == 404 and message(shown) == "Only shared images have members."


def test_member_on_an_image_that_is_not_shared_says_set_visibility_shared(owner: Project,
                                                                          projects: dict[str, Project]) -> None:
    """Found by the test above: Glance's 403 says nothing about visibility, so the provider reads the
    image and names the fix (this failed before the provider did)."""
    image_id = create_image(owner, "private")["id"]
    share = owner.members()
    with pytest.raises(ImsError, match=r"has visibility='private'; on Glance only images with visibility='shared' "
                                       r"have members: set visibility='shared' on its ImageMetadata"):
        share.create(checked(share, {"image_id": image_id, "member_id": projects["B"].project_id}))


def test_sharing_again_takes_the_membership_over(owner: Project, projects: dict[str, Project]) -> None:
    b = projects["B"]
    image_id = create_image(owner)["id"]
    share = owner.members()
    inputs = checked(share, {"image_id": image_id, "member_id": b.project_id})
    first = share.create(inputs)
    duplicate = owner.raw("POST", f"/v2/images/{image_id}/members", json={"member": b.project_id})
    assert duplicate.status_code == 409
    assert message(duplicate) == f"Member {b.project_id} is duplicated for image {image_id}"
    with pytest.raises(Conflict):
        owner.client.add_member(image_id, b.project_id)
    second = share.create(inputs)
    assert (second.id, second.outs) == (first.id, first.outs), "taken over as it is, no second POST"
    b.client.set_member_status(image_id, b.project_id, "accepted")
    third = share.create(inputs)
    assert third.id == first.id and outs(third)["status"] == "accepted", "the member's answer is kept"
    members = owner.raw("GET", f"/v2/images/{image_id}/members").json()["members"]
    assert [m["member_id"] for m in members] == [b.project_id]
    share.delete(first.id, outs(first))


def test_only_the_owner_manages_members_and_only_the_member_answers(owner: Project,
                                                                    projects: dict[str, Project]) -> None:
    b, c = projects["B"], projects["C"]
    image_id = create_image(owner)["id"]
    owner.client.add_member(image_id, b.project_id)
    b.client.set_member_status(image_id, b.project_id, "accepted")
    cases = [
        (b.raw("POST", f"/v2/images/{image_id}/members", json={"member": c.project_id}), "add_member"),
        (b.raw("DELETE", f"/v2/images/{image_id}/members/{b.project_id}"), "delete_member"),
        (owner.raw("PUT", f"/v2/images/{image_id}/members/{b.project_id}", json={"status": "rejected"}),
         "modify_member"),
    ]
    for answer, action in cases:
        assert answer.status_code == 403, (action, answer.text)
        assert message(answer) == f"You are not authorized to complete {action} action."
    patched = b.raw("PATCH", f"/v2/images/{image_id}", data='[{"op": "replace", "path": "/name", "value": "x"}]',
                    headers={"Content-Type": PATCH_CT})
    assert patched.status_code == 403, patched.text
    assert owner.client.get_member(image_id, b.project_id)["status"] == "accepted"  # type: ignore[index]
    # The owner's own project: Glance accepts it as a member (IMS: IMG.0076); the provider's check refuses it
    own = owner.raw("POST", f"/v2/images/{image_id}/members", json={"member": owner.project_id})
    assert own.status_code == 200 and own.json()["status"] == "pending"
    result = owner.members().check({}, {"image_id": image_id, "member_id": owner.project_id})
    assert [f.property for f in result.failures] == ["member_id"]
    assert "this stack's own project" in result.failures[0].reason
