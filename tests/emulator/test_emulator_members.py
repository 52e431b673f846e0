"""Image members (sharing) across projects: ``/v2/images/{id}/members`` and what each side sees.

The emulator of these tests knows three projects (``tests/emulator/projects.py``): the owner
and the member sign with AK/SK, a third project uses a token and is never a member.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ims_emulator import rules
from ims_emulator.catalogue import ENTRIES
from ims_emulator.process import Emulator
from ims_emulator.store import Store
from tests.emulator.projects import MEMBER, MEMBER_AK, MEMBER_SK, OWNER, OWNER_AK, OWNER_SK, THIRD
from tests.support.emulator_client import Api, error_code

pytestmark = pytest.mark.contract

PUBLIC_ID = ENTRIES[0].id
UNKNOWN_ID = "3f6a2335-69a9-437d-8322-d87e4600f516"
OTHER = "d4" * 16  # a project nobody signs as; the emulator does not check that a member exists
MEMBER_KEYS = {"status", "created_at", "updated_at", "image_id", "member_id", "schema"}


def _members(image_id: str, member_id: str | None = None) -> str:
    return f"/v2/images/{image_id}/members" + (f"/{member_id}" if member_id else "")


def _share(owner: Api, image_id: str, member_id: str = MEMBER) -> dict[str, Any]:
    response = owner.post(_members(image_id), json={"member": member_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _answer(member: Api, image_id: str, status: str) -> dict[str, Any]:
    response = member.put(_members(image_id, MEMBER), json={"status": status})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _listed(client: Api, params: Any = ()) -> list[str]:
    """Ids of every image ``client`` lists with ``params`` (all pages)."""
    ids: list[str] = []
    marker = None
    while True:
        page_params = [*(params.items() if isinstance(params, dict) else params), ("limit", "100")]
        if marker:
            page_params.append(("marker", marker))
        response = client.get("/v2/images", params=page_params)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [image["id"] for image in body["images"]]
        if "next" not in body:
            return ids
        marker = body["images"][-1]["id"]


@pytest.fixture
def image(owner: Api) -> dict[str, Any]:
    """An image of the owner project, shared with nobody."""
    return owner.create(name="golden", tags=["team=platform"])


# --- adding a member --------------------------------------------------------------------------


def test_add_member_answers_a_pending_member(owner: Api, image: dict[str, Any]) -> None:
    response = owner.post(_members(image["id"]), json={"member": MEMBER})
    assert response.status_code == 200, "IMS documents 200 with the member object"
    member = response.json()
    assert set(member) == MEMBER_KEYS
    assert (member["status"], member["image_id"], member["member_id"]) == ("pending", image["id"], MEMBER)
    assert member["schema"] == "/v2/schemas/member"
    assert member["created_at"] == member["updated_at"] and member["created_at"].endswith("Z")


# fmt: off
#: POST /v2/images/{id}/members refused. "as": who asks; "image": whose image (own, shared with
#: the caller, unknown, a public catalogue image); "body": the JSON body (None: no body).
ADD_ERRORS: dict[str, dict[str, Any]] = {
    "SelfShare": {"reason": "IMG.0076: an image cannot be shared with its owner's project", "as": "owner", "image": "own", "body": {"member": OWNER}, "want": (400, "IMG.0076")},
    "AlreadyMember": {"reason": "Glance's 409 for a member added twice (IMS documents nothing)", "as": "owner", "image": "shared", "body": {"member": MEMBER}, "want": (409, "IMG.0035")},
    "NotAProjectId": {"reason": "a project id is 32 hex characters", "as": "owner", "image": "own", "body": {"member": "prod-project"}, "want": (400, "IMG.0001")},
    "UpperCaseHex": {"reason": "IAM project ids are lower-case", "as": "owner", "image": "own", "body": {"member": MEMBER.upper()}, "want": (400, "IMG.0001")},
    "TooShort": {"reason": "31 hex characters are no project id", "as": "owner", "image": "own", "body": {"member": MEMBER[:-1]}, "want": (400, "IMG.0001")},
    "NotAString": {"reason": "member is a string", "as": "owner", "image": "own", "body": {"member": 42}, "want": (400, "IMG.0001")},
    "MissingMember": {"reason": "member is required", "as": "owner", "image": "own", "body": {}, "want": (400, "IMG.0001")},
    "ExtraKey": {"reason": "strict: the body takes only member", "as": "owner", "image": "own", "body": {"member": MEMBER, "member_type": "project"}, "want": (400, "IMG.0001")},
    "NotAnObject": {"reason": "the body is a JSON object", "as": "owner", "image": "own", "body": [MEMBER], "want": (400, "IMG.0001")},
    "NoBody": {"reason": "IMG.0007: the request body is empty", "as": "owner", "image": "own", "body": None, "want": (400, "IMG.0007")},
    "ByMember": {"reason": "only the owner shares (IMG.0047, 403 as for other writes it may not make)", "as": "member", "image": "shared", "body": {"member": OTHER}, "want": (403, "IMG.0047")},
    "ByThird": {"reason": "a project that does not see the image gets 404 for the image", "as": "third", "image": "shared", "body": {"member": OTHER}, "want": (404, "IMG.0027")},
    "UnknownImage": {"reason": "no such image", "as": "owner", "image": "unknown", "body": {"member": MEMBER}, "want": (404, "IMG.0027")},
    "PublicImage": {"reason": "IMG.0089: a public image cannot be shared (IMS error table, 400)", "as": "owner", "image": "public", "body": {"member": MEMBER}, "want": (400, "IMG.0089")},
}
# fmt: on


@pytest.mark.parametrize("case", ADD_ERRORS.values(), ids=ADD_ERRORS.keys())
def test_add_member_errors(
    owner: Api, member: Api, third: Api, image: dict[str, Any], case: dict[str, Any]
) -> None:
    _share(owner, image["id"])
    image_id = {"own": image["id"], "shared": image["id"], "unknown": UNKNOWN_ID, "public": PUBLIC_ID}[case["image"]]
    client = {"owner": owner, "member": member, "third": third}[case["as"]]
    response = client.post(_members(image_id), json=case["body"])
    assert (response.status_code, error_code(response)) == case["want"], f"{case['reason']}: {response.text}"
    members = owner.get(_members(image["id"])).json()["members"]
    assert [m["member_id"] for m in members] == [MEMBER], "a refused add changes nothing"


def test_self_share_message_is_the_documented_one(owner: Api, image: dict[str, Any]) -> None:
    response = owner.post(_members(image["id"]), json={"member": OWNER})
    assert response.json()["error"]["message"] == "You cannot share an image with yourself."


def test_member_limit(owner: Api, image: dict[str, Any], sharing_emu: Emulator) -> None:
    sharing_emu.configure(member_limit=2)
    _share(owner, image["id"], MEMBER)
    _share(owner, image["id"], THIRD)
    response = owner.post(_members(image["id"]), json={"member": OTHER})
    assert (response.status_code, error_code(response)) == (400, "IMG.0088"), response.text
    assert response.json()["error"]["message"].startswith(
        "The number of shared images has reached the maximum allowed."
    ), "the documented text first"
    assert owner.delete(_members(image["id"], THIRD)).status_code == 204
    assert _share(owner, image["id"], OTHER)["status"] == "pending", "a freed place can be used again"


def test_member_limit_is_per_image(owner: Api, sharing_emu: Emulator) -> None:
    sharing_emu.configure(member_limit=1)
    first, second = owner.create(name="first"), owner.create(name="second")
    _share(owner, first["id"])
    assert _share(owner, second["id"])["member_id"] == MEMBER, "another image has its own limit"


def test_default_member_limit_is_256(sharing_emu: Emulator) -> None:
    assert sharing_emu.configure()["member_limit"] == 256, "IMS: 256 members per system- or data-disk image"


def test_concurrent_adds_respect_the_member_limit_exactly(owner: Api, image: dict[str, Any], sharing_emu: Emulator) -> None:
    sharing_emu.configure(member_limit=5)
    projects = [f"{n:032x}" for n in range(1, 13)]

    def add(project: str) -> tuple[int, str]:
        client = Api(sharing_emu.url, ak=OWNER_AK, sk=OWNER_SK, project=OWNER)
        response = client.post(_members(image["id"]), json={"member": project})
        return response.status_code, "" if response.status_code == 200 else error_code(response)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(add, projects))
    assert sorted(results) == [(200, "")] * 5 + [(400, "IMG.0088")] * 7
    assert len(owner.get(_members(image["id"])).json()["members"]) == 5


# --- what each side sees ----------------------------------------------------------------------


def test_member_shows_the_image_as_shared_with_its_status(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    shown = member.get(f"/v2/images/{image['id']}")
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert (view["visibility"], view["__imagetype"], view["member_status"]) == ("shared", "shared", "pending")
    assert view["owner"] == OWNER, "the owner stays visible to the member"
    same = {k: v for k, v in view.items() if k not in ("visibility", "__imagetype", "member_status")}
    assert same == {k: v for k, v in image.items() if k not in ("visibility", "__imagetype")}, "otherwise the same image"


def test_owner_view_is_unchanged_by_sharing(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    _answer(member, image["id"], "accepted")
    view = owner.get(f"/v2/images/{image['id']}").json()
    assert view == image, "the owner still sees its private image (visibility private, no member_status)"
    assert image["id"] in _listed(owner, {"visibility": "private"}), "the owner's private list keeps it"
    assert image["id"] not in _listed(owner, {"visibility": "shared"}), "visibility=shared lists images shared with the caller"


# fmt: off
#: What the member lists, per membership status. "in": the statuses with which the shared
#: image is in the list; "own": whether the member's own image (same name and tag) is too.
MEMBER_LISTS: dict[str, dict[str, Any]] = {
    "Default": {"reason": "Glance's default member_status=accepted; IMS: accepted images are in the list, rejected ones not", "params": [], "in": ["accepted"], "own": True},
    "VisibilityShared": {"reason": "visibility=shared alone: accepted only (Glance's default member_status)", "params": [("visibility", "shared")], "in": ["accepted"], "own": False},
    "SharedPending": {"reason": "member_status=pending", "params": [("visibility", "shared"), ("member_status", "pending")], "in": ["pending"], "own": False},
    "SharedAccepted": {"reason": "member_status=accepted", "params": [("visibility", "shared"), ("member_status", "accepted")], "in": ["accepted"], "own": False},
    "SharedRejected": {"reason": "member_status=rejected finds what the default list hides", "params": [("visibility", "shared"), ("member_status", "rejected")], "in": ["rejected"], "own": False},
    "DocumentedSharedQuery": {"reason": "IMS's documented shared-image query", "params": [("member_status", "pending"), ("visibility", "shared"), ("__imagetype", "shared")], "in": ["pending"], "own": False},
    "ImageTypeShared": {"reason": "__imagetype=shared is the member's view", "params": [("__imagetype", "shared")], "in": ["accepted"], "own": False},
    "ImageTypePrivate": {"reason": "to the member the image is not private", "params": [("__imagetype", "private")], "in": [], "own": True},
    "VisibilityPrivate": {"reason": "visibility=private: own images only", "params": [("visibility", "private")], "in": [], "own": True},
    "VisibilityPublic": {"reason": "visibility=public: the catalogue only", "params": [("visibility", "public")], "in": [], "own": False},
    "ByOwner": {"reason": "owner=<the owner's project> finds images shared by it", "params": [("owner", OWNER)], "in": ["accepted"], "own": False},
    "ByOwnerPending": {"reason": "owner= with member_status", "params": [("owner", OWNER), ("visibility", "shared"), ("member_status", "pending")], "in": ["pending"], "own": False},
    "ByName": {"reason": "other filters apply to the shared image as to any other", "params": [("name", "golden")], "in": ["accepted"], "own": True},
    "ByTag": {"reason": "tags too", "params": [("tag", "team=platform")], "in": ["accepted"], "own": True},
    "OtherName": {"reason": "a filter it does not match", "params": [("name", "other")], "in": [], "own": False},
}
# fmt: on


@pytest.mark.parametrize("status", ["pending", "accepted", "rejected"])
@pytest.mark.parametrize("case", MEMBER_LISTS.values(), ids=MEMBER_LISTS.keys())
def test_member_lists(owner: Api, member: Api, image: dict[str, Any], case: dict[str, Any], status: str) -> None:
    _share(owner, image["id"])
    if status != "pending":
        _answer(member, image["id"], status)
    own = member.create(name="golden", tags=["team=platform"])
    listed = _listed(member, case["params"])
    assert (image["id"] in listed) == (status in case["in"]), f"{case['reason']} (membership {status})"
    assert (own["id"] in listed) == case["own"], f"{case['reason']}: the member's own image"
    if image["id"] in listed:
        item = member.get("/v2/images", params=[*case["params"], ("id", image["id"])]).json()["images"][0]
        assert (item["visibility"], item["__imagetype"], item["member_status"]) == ("shared", "shared", status)


@pytest.mark.parametrize("status", ["pending", "accepted", "rejected"])
def test_member_shows_the_image_whatever_its_status(owner: Api, member: Api, image: dict[str, Any], status: str) -> None:
    """IMS: a rejected image leaves the member's list but can still boot servers, so show works."""
    _share(owner, image["id"])
    if status != "pending":
        _answer(member, image["id"], status)
    response = member.get(f"/v2/images/{image['id']}")
    assert response.status_code == 200 and response.json()["member_status"] == status


def test_rejected_image_comes_back_when_accepted(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    _answer(member, image["id"], "rejected")
    assert image["id"] not in _listed(member)
    _answer(member, image["id"], "accepted")
    assert image["id"] in _listed(member), "a member may change its answer"


# fmt: off
#: With lenient_list (Glance-like), member_status needs no visibility=shared and takes "all".
LENIENT_MEMBER_LISTS: dict[str, dict[str, Any]] = {
    "MemberStatusAlone": {"reason": "member_status alone: shared images with that status only", "params": [("member_status", "rejected")], "in": ["rejected"], "own": False},
    "MemberStatusAll": {"reason": "Glance's member_status=all: every shared image", "params": [("member_status", "all")], "in": ["pending", "accepted", "rejected"], "own": False},
    "TwoStatuses": {"reason": "every filter must match: two statuses match nothing", "params": [("member_status", "pending"), ("member_status", "accepted")], "in": [], "own": False},
}
# fmt: on


@pytest.mark.parametrize("status", ["pending", "accepted", "rejected"])
@pytest.mark.parametrize("case", LENIENT_MEMBER_LISTS.values(), ids=LENIENT_MEMBER_LISTS.keys())
def test_member_lists_lenient(
    owner: Api, member: Api, image: dict[str, Any], sharing_emu: Emulator, case: dict[str, Any], status: str
) -> None:
    sharing_emu.configure(lenient_list=True)
    _share(owner, image["id"])
    if status != "pending":
        _answer(member, image["id"], status)
    own = member.create(name="own")
    listed = _listed(member, case["params"])
    assert (image["id"] in listed) == (status in case["in"]), f"{case['reason']} (membership {status})"
    assert (own["id"] in listed) == case["own"], case["reason"]


def test_member_status_needs_visibility_shared_by_default(member: Api) -> None:
    response = member.get("/v2/images", params={"member_status": "accepted"})
    assert (response.status_code, error_code(response)) == (400, "IMG.0001"), "strict, as documented"


def test_member_pages_over_own_and_shared_images(owner: Api, member: Api) -> None:
    shared = [owner.create(name=f"shared-{n}", tags=["page=yes"]) for n in range(3)]
    for image in shared:
        _share(owner, image["id"])
        _answer(member, image["id"], "accepted")
    own = [member.create(name=f"own-{n}", tags=["page=yes"]) for n in range(2)]
    seen: list[str] = []
    marker = None
    while True:
        params = [("tag", "page=yes"), ("sort_key", "name"), ("limit", "2")] + ([("marker", marker)] if marker else [])
        response = member.get("/v2/images", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [image["id"] for image in body["images"]]
        if "next" not in body:
            break
        marker = body["images"][-1]["id"]
    names = {i["id"]: i["name"] for i in [*shared, *own]}
    assert [names[i] for i in seen] == sorted(names.values(), reverse=True), "a shared image is a marker like any other"


def test_third_project_sees_nothing(owner: Api, member: Api, third: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    _answer(member, image["id"], "accepted")
    image_id = image["id"]
    for method, path in [
        ("GET", f"/v2/images/{image_id}"),
        ("GET", _members(image_id)),
        ("GET", _members(image_id, MEMBER)),
        ("GET", _members(image_id, THIRD)),
        ("DELETE", _members(image_id, MEMBER)),
    ]:
        response = third.request(method, path)
        assert (response.status_code, error_code(response)) == (404, "IMG.0027"), f"{method} {path}"
        assert "member" not in response.json()["error"]["message"].lower(), "404 for the image as a whole"
    response = third.put(_members(image_id, THIRD), json={"status": "accepted"})
    assert (response.status_code, error_code(response)) == (404, "IMG.0027"), "a third project cannot accept itself in"
    for params in ([], [("visibility", "shared")], *([("visibility", "shared"), ("member_status", s)] for s in ("pending", "accepted", "rejected"))):
        assert image_id not in _listed(third, params), params
    assert image_id not in _listed(third, [("id", image_id)])
    assert image_id not in _listed(third, [("owner", OWNER)])


# --- the member's status ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["accepted", "rejected"])
def test_member_sets_its_status_and_the_owner_sees_it(owner: Api, member: Api, image: dict[str, Any], status: str) -> None:
    added = _share(owner, image["id"])
    updated = _answer(member, image["id"], status)
    assert set(updated) == MEMBER_KEYS
    assert (updated["status"], updated["created_at"]) == (status, added["created_at"])
    assert updated["updated_at"] >= added["updated_at"]
    assert owner.get(_members(image["id"], MEMBER)).json()["status"] == status, "the owner sees the answer"
    assert [m["status"] for m in owner.get(_members(image["id"])).json()["members"]] == [status]
    assert member.get(_members(image["id"], MEMBER)).json()["status"] == status


def test_vault_id_is_accepted_and_ignored(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    response = member.put(_members(image["id"], MEMBER), json={"status": "accepted", "vault_id": "6yhtb5df-vault"})
    assert response.status_code == 200, response.text
    assert set(response.json()) == MEMBER_KEYS, "vault_id is not kept"


# fmt: off
#: PUT /v2/images/{id}/members/{member_id} refused.
UPDATE_ERRORS: dict[str, dict[str, Any]] = {
    "OwnerSetsStatus": {"reason": "only the member project answers; the owner gets Glance's 403", "as": "owner", "member": MEMBER, "body": {"status": "accepted"}, "want": (403, "IMG.0001")},
    "OwnerSetsUnknownMember": {"reason": "Glance looks the member up first: 404", "as": "owner", "member": OTHER, "body": {"status": "accepted"}, "want": (404, "IMG.0027")},
    "MemberSetsAnother": {"reason": "a member sees no other membership: 404", "as": "member", "member": THIRD, "body": {"status": "accepted"}, "want": (404, "IMG.0027")},
    "BackToPending": {"reason": "IMS documents accepted and rejected only", "as": "member", "member": MEMBER, "body": {"status": "pending"}, "want": (400, "IMG.0001")},
    "UnknownStatus": {"reason": "a status IMS does not know", "as": "member", "member": MEMBER, "body": {"status": "yes"}, "want": (400, "IMG.0001")},
    "MissingStatus": {"reason": "status is required", "as": "member", "member": MEMBER, "body": {"vault_id": "v"}, "want": (400, "IMG.0001")},
    "ExtraKey": {"reason": "strict: only status and vault_id", "as": "member", "member": MEMBER, "body": {"status": "accepted", "member": MEMBER}, "want": (400, "IMG.0001")},
    "VaultIdNotAString": {"reason": "vault_id is a string", "as": "member", "member": MEMBER, "body": {"status": "accepted", "vault_id": 7}, "want": (400, "IMG.0001")},
    "NoBody": {"reason": "IMG.0007", "as": "member", "member": MEMBER, "body": None, "want": (400, "IMG.0007")},
}
# fmt: on


@pytest.mark.parametrize("case", UPDATE_ERRORS.values(), ids=UPDATE_ERRORS.keys())
def test_update_member_errors(owner: Api, member: Api, image: dict[str, Any], case: dict[str, Any]) -> None:
    _share(owner, image["id"], MEMBER)
    _share(owner, image["id"], THIRD)
    client = {"owner": owner, "member": member}[case["as"]]
    response = client.put(_members(image["id"], case["member"]), json=case["body"])
    assert (response.status_code, error_code(response)) == case["want"], f"{case['reason']}: {response.text}"
    statuses = {m["member_id"]: m["status"] for m in owner.get(_members(image["id"])).json()["members"]}
    assert statuses == {MEMBER: "pending", THIRD: "pending"}, "a refused update changes nothing"


# --- listing and showing members ----------------------------------------------------------------


def test_owner_sees_every_member_and_a_member_only_itself(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"], MEMBER)
    _share(owner, image["id"], THIRD)
    everyone = owner.get(_members(image["id"])).json()
    assert everyone["schema"] == "/v2/schemas/members"
    assert sorted(m["member_id"] for m in everyone["members"]) == sorted([MEMBER, THIRD])
    assert everyone["page_info"] == {"current_count": 2}
    mine = member.get(_members(image["id"])).json()
    assert [m["member_id"] for m in mine["members"]] == [MEMBER]
    assert mine["page_info"] == {"current_count": 1}
    other = member.get(_members(image["id"], THIRD))
    assert (other.status_code, error_code(other)) == (404, "IMG.0027"), "another member's membership is not shown"
    assert "not found in the member list" in other.json()["error"]["message"]


def test_members_of_an_unshared_and_a_public_image(owner: Api, image: dict[str, Any]) -> None:
    assert owner.get(_members(image["id"])).json()["members"] == []
    public = owner.get(_members(PUBLIC_ID))
    assert public.status_code == 200 and public.json()["members"] == [], "a public image has no members"
    assert owner.get(_members(PUBLIC_ID, OWNER)).status_code == 404
    response = owner.put(_members(PUBLIC_ID, OWNER), json={"status": "accepted"})
    assert response.status_code == 404, "nobody is a member of a public image"
    response = owner.delete(_members(PUBLIC_ID, MEMBER))
    assert (response.status_code, error_code(response)) == (403, "IMG.0047"), "as other writes to a public image"


def test_show_member_of_a_project_that_is_not_one(owner: Api, image: dict[str, Any]) -> None:
    response = owner.get(_members(image["id"], MEMBER))
    assert (response.status_code, error_code(response)) == (404, "IMG.0027")
    assert response.json()["error"]["message"] == f"Member {MEMBER} not found in the member list of image {image['id']}."


def test_members_page_with_limit_and_marker(owner: Api, image: dict[str, Any]) -> None:
    projects = [f"{n:032x}" for n in range(1, 6)]
    for project in projects:
        _share(owner, image["id"], project)
    first = owner.get(_members(image["id"]), params={"limit": "2"}).json()
    assert [m["member_id"] for m in first["members"]] == projects[:2], "oldest first, ties by member id"
    assert first["page_info"]["current_count"] == 2
    marker = first["page_info"]["next_marker"]
    assert base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)).decode() == projects[1], "base64, as documented"
    second = owner.get(_members(image["id"]), params={"limit": "2", "marker": marker}).json()
    assert [m["member_id"] for m in second["members"]] == projects[2:4]
    last = owner.get(_members(image["id"]), params={"limit": "2", "marker": second["page_info"]["next_marker"]}).json()
    assert [m["member_id"] for m in last["members"]] == projects[4:]
    assert last["page_info"] == {"current_count": 1}, "no next_marker on the last page"


# fmt: off
MEMBER_LIST_ERRORS: dict[str, dict[str, Any]] = {
    "LimitZero": {"reason": "limit is 1..1000", "params": {"limit": "0"}},
    "LimitTooBig": {"reason": "limit is 1..1000", "params": {"limit": "1001"}},
    "LimitNotANumber": {"reason": "limit is an integer", "params": {"limit": "ten"}},
    "MarkerNotBase64": {"reason": "the marker is base64", "params": {"marker": "%%%"}},
    "MarkerOfNoMember": {"reason": "the marker names no member of the list", "params": {"marker": base64.urlsafe_b64encode(OTHER.encode()).decode()}},
    "UnknownParameter": {"reason": "strict: only limit and marker", "params": {"status": "accepted"}},
}
# fmt: on


@pytest.mark.parametrize("case", MEMBER_LIST_ERRORS.values(), ids=MEMBER_LIST_ERRORS.keys())
def test_member_list_parameter_errors(owner: Api, image: dict[str, Any], case: dict[str, Any]) -> None:
    _share(owner, image["id"])
    response = owner.get(_members(image["id"]), params=case["params"])
    assert (response.status_code, error_code(response)) == (400, "IMG.0001"), f"{case['reason']}: {response.text}"


# --- the member cannot change the image -------------------------------------------------------

# fmt: off
#: Writes a member project may not make; the image stays as it was. Codes are IMS's, the 403 is inferred (Glance).
MEMBER_WRITES: dict[str, dict[str, Any]] = {
    "Patch": {"reason": "PATCH: owner only", "method": "PATCH", "path": "", "want": (403, "IMG.0047")},
    "AddTag": {"reason": "tags: owner only", "method": "PUT", "path": "/tags/extra", "want": (403, "IMG.0047")},
    "DeleteTag": {"reason": "tags: owner only", "method": "DELETE", "path": "/tags/extra", "want": (403, "IMG.0047")},
    "Upload": {"reason": "data: owner only", "method": "PUT", "path": "/file", "want": (403, "IMG.0047")},
    "Delete": {"reason": "IMG.0092: the image can only be deleted by the owner", "method": "DELETE", "path": "", "want": (403, "IMG.0092")},
    "ShareOn": {"reason": "a member cannot share the image further", "method": "POST", "path": "/members", "want": (403, "IMG.0047")},
    "RemoveItself": {"reason": "removing members is the owner's; a member rejects instead", "method": "DELETE", "path": f"/members/{MEMBER}", "want": (403, "IMG.0047")},
}
# fmt: on


@pytest.mark.parametrize("status", ["pending", "accepted", "rejected"])
@pytest.mark.parametrize("case", MEMBER_WRITES.values(), ids=MEMBER_WRITES.keys())
def test_member_cannot_change_the_image(
    owner: Api, member: Api, image: dict[str, Any], case: dict[str, Any], status: str
) -> None:
    _share(owner, image["id"])
    if status != "pending":
        _answer(member, image["id"], status)
    path = f"/v2/images/{image['id']}{case['path']}"
    if case["method"] == "PATCH":
        response = member.patch(path, [{"op": "replace", "path": "/name", "value": "taken"}])
    elif case["path"] == "/file":
        response = member.put(path, data=b"disk", content_type="application/octet-stream")
    elif case["method"] == "POST":
        response = member.post(path, json={"member": OTHER})
    else:
        response = member.request(case["method"], path)
    assert (response.status_code, error_code(response)) == case["want"], f"{case['reason']}: {response.text}"
    assert owner.get(f"/v2/images/{image['id']}").json() == image, "the image is unchanged"
    assert [m["member_id"] for m in owner.get(_members(image["id"])).json()["members"]] == [MEMBER]


def test_member_cannot_delete_a_protected_image_either(owner: Api, member: Api) -> None:
    protected = owner.create(name="keep", protected=True)
    _share(owner, protected["id"])
    response = member.delete(f"/v2/images/{protected['id']}")
    assert (response.status_code, error_code(response)) == (403, "IMG.0092"), "ownership is checked before protection"


def test_member_delete_is_403_even_with_delete_unknown_204(
    owner: Api, member: Api, image: dict[str, Any], sharing_emu: Emulator
) -> None:
    sharing_emu.configure(delete_unknown_204=True)
    _share(owner, image["id"])
    response = member.delete(f"/v2/images/{image['id']}")
    assert (response.status_code, error_code(response)) == (403, "IMG.0092"), "the member knows the image"


# --- removing access ----------------------------------------------------------------------------


def test_removing_the_member_removes_access(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    _answer(member, image["id"], "accepted")
    assert owner.delete(_members(image["id"], MEMBER)).status_code == 204
    assert member.get(f"/v2/images/{image['id']}").status_code == 404
    assert member.get(_members(image["id"], MEMBER)).status_code == 404
    assert image["id"] not in _listed(member)
    assert image["id"] not in _listed(member, [("visibility", "shared"), ("member_status", "accepted")])
    assert owner.get(_members(image["id"])).json()["members"] == []
    again = owner.delete(_members(image["id"], MEMBER))
    assert (again.status_code, error_code(again)) == (404, "IMG.0027"), "not a member any more"
    assert _share(owner, image["id"])["status"] == "pending", "sharing again starts over"


def test_deleting_the_image_removes_its_members(owner: Api, member: Api, image: dict[str, Any]) -> None:
    _share(owner, image["id"])
    _answer(member, image["id"], "accepted")
    assert owner.delete(f"/v2/images/{image['id']}").status_code == 204
    for path in (f"/v2/images/{image['id']}", _members(image["id"]), _members(image["id"], MEMBER)):
        response = member.get(path)
        assert (response.status_code, error_code(response)) == (404, "IMG.0027"), path
    assert image["id"] not in _listed(member)
    assert owner.get(_members(image["id"])).status_code == 404


def test_reset_removes_members(owner: Api, member: Api, image: dict[str, Any], sharing_emu: Emulator) -> None:
    _share(owner, image["id"])
    sharing_emu.reset()
    assert member.get(f"/v2/images/{image['id']}").status_code == 404


def test_members_survive_a_restart(sharing_emu: Emulator) -> None:
    owner = Api(sharing_emu.url, ak=OWNER_AK, sk=OWNER_SK, project=OWNER)
    image = owner.create(name="kept")
    _share(owner, image["id"])
    sharing_emu.restart()
    member = Api(sharing_emu.url, ak=MEMBER_AK, sk=MEMBER_SK, project=MEMBER)
    assert member.get(f"/v2/images/{image['id']}").json()["member_status"] == "pending"


def test_members_are_counted_in_stats(owner: Api, member: Api, image: dict[str, Any], sharing_emu: Emulator) -> None:
    sharing_emu.reset_stats()
    _share(owner, image["id"])
    _answer(member, image["id"], "accepted")
    stats = sharing_emu.stats()
    assert stats["requests"]["POST /v2/images/{id}/members"] == 1
    assert stats["responses"]["PUT /v2/images/{id}/members/{member_id} 200"] == 1
    assert stats["writes"] == 2


def test_member_schemas(owner: Api) -> None:
    member_schema = owner.get("/v2/schemas/member").json()
    assert member_schema["name"] == "member"
    assert member_schema["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members_schema = owner.get("/v2/schemas/members").json()
    assert members_schema["name"] == "members"
    assert members_schema["properties"]["members"]["items"] == member_schema


def test_store_deletes_members_with_their_image(tmp_path: Path) -> None:
    """The foreign key cascades: no orphan membership is left behind (nothing the API could show)."""
    store = Store(tmp_path)
    try:
        for image_id in ("kept", "gone"):
            store.insert(OWNER, {"id": image_id, "owner": OWNER, "created_at": "2024-01-01T00:00:00Z"})
            store.add_member(rules.new_member(image_id, MEMBER))
        store.delete("gone")
        assert store.member("gone", MEMBER) is None and store.count_members("gone") == 0
        assert store.member("kept", MEMBER) is not None, "other images keep their members"
        assert store.delete_all() == 1 and store.count_members("kept") == 0, "delete_all cascades too"
    finally:
        store.close()
