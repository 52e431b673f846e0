"""GET /v2/images: paging with first/next, filters, sorting and parameter errors.

These tests pin the list mechanics over a known set of the caller's own images, so the
catalogue of public images is turned off here (``public_images``). The same filters,
sorting and paging over the combined set (own + public images) are in
``test_emulator_catalogue.py`` and ``test_emulator_catalogue_paging.py``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.support.emulator_client import Api, error_code

pytestmark = pytest.mark.contract


@pytest.fixture(autouse=True)
def _own_images_only(emu: Any) -> None:
    """Only the caller's images are listed: the catalogue of public images is off."""
    emu.configure(public_images=False)


def _follow(api: Api, link: str) -> dict[str, Any]:
    """GET a ``first``/``next`` link exactly as the server wrote it (the query is already canonical)."""
    parts = urlsplit(link)
    response = api.get(parts.path, params=parse_qsl(parts.query))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _all_pages(api: Api, params: list[tuple[str, str]]) -> list[list[str]]:
    pages = []
    body = api.get("/v2/images", params=params).json()
    while True:
        pages.append([image["id"] for image in body["images"]])
        if "next" not in body:
            return pages
        body = _follow(api, body["next"])


def test_paging_visits_every_image_once(api: Api) -> None:
    created = [api.create(name=f"img-{i}")["id"] for i in range(7)]
    pages = _all_pages(api, [("limit", "3")])
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [image_id for page in pages for image_id in page]
    assert sorted(seen) == sorted(created) and len(set(seen)) == 7


def test_default_order_is_created_at_desc_then_id(api: Api) -> None:
    first = api.create(name="old")
    time.sleep(1.05)
    later = [api.create(name=f"new{i}") for i in range(3)]
    images = api.get("/v2/images").json()["images"]
    expected_new = sorted((i["id"] for i in later), reverse=True)
    assert [i["id"] for i in images] == [*expected_new, first["id"]]


def test_links_repeat_filters(api: Api) -> None:
    for _ in range(3):
        api.create(name="same", tags=["k=v"])
    body = api.get("/v2/images", params=[("name", "same"), ("tag", "k=v"), ("limit", "2")]).json()
    assert body["schema"] == "/v2/schemas/images"
    assert body["first"] == "/v2/images?name=same&tag=k%3Dv&limit=2"
    assert body["next"] == f"/v2/images?name=same&tag=k%3Dv&marker={body['images'][-1]['id']}&limit=2"
    last = _follow(api, body["next"])
    assert len(last["images"]) == 1 and "next" not in last


def test_default_limit_is_25(api: Api, emu: Any) -> None:
    for _ in range(27):
        api.create()
    body = api.get("/v2/images").json()
    assert len(body["images"]) == 25
    assert body["first"] == "/v2/images?limit=25"
    assert len(_follow(api, body["next"])["images"]) == 2


def test_limit_is_capped_at_1000(api: Api) -> None:
    api.create()
    assert api.get("/v2/images", params={"limit": "5000"}).json()["first"] == "/v2/images?limit=1000"


@pytest.fixture
def catalog(api: Api) -> dict[str, dict[str, Any]]:
    """Four images that differ in every filterable way."""
    return {
        "ubuntu": api.create(
            name="ubuntu",
            __os_version="Ubuntu 22.04 server 64bit",
            tags=["env=prod", "team=a"],
            min_ram=1024,
            min_disk=40,
            disk_format="qcow2",
        ),
        "windows": api.create(
            name="windows",
            __os_version="Windows Server 2019 Datacenter 64bit",
            tags=["env=prod"],
            protected=True,
            disk_format="vhd",
        ),
        "centos32": api.create(name="centos32", __os_version="CentOS 6.5 32bit", tags=["env=dev"]),
        "plain": api.create(name="plain"),
    }


# fmt: off
FILTERS: dict[str, dict[str, Any]] = {
    "NameExact": {"reason": "name is an exact match", "params": [("name", "ubuntu")], "want": ["ubuntu"]},
    "NamePrefixIsNoMatch": {"reason": "no prefix matching", "params": [("name", "ubu")], "want": []},
    "OneTag": {"reason": "tag=key=value", "params": [("tag", "env=prod")], "want": ["ubuntu", "windows"]},
    "TwoTags": {"reason": "repeated tags must all be present", "params": [("tag", "env=prod"), ("tag", "team=a")], "want": ["ubuntu"]},
    "OsType": {"reason": "derived __os_type", "params": [("__os_type", "Windows")], "want": ["windows"]},
    "Platform": {"reason": "derived __platform", "params": [("__platform", "CentOS")], "want": ["centos32"]},
    "OsBit": {"reason": "derived __os_bit is a string", "params": [("__os_bit", "32")], "want": ["centos32"]},
    "Protected": {"reason": "protected=true", "params": [("protected", "true")], "want": ["windows"]},
    "NotProtected": {"reason": "protected=false", "params": [("protected", "false")], "want": ["ubuntu", "centos32", "plain"]},
    "MinRam": {"reason": "min_ram is an integer", "params": [("min_ram", "1024")], "want": ["ubuntu"]},
    "MinDisk": {"reason": "min_disk is an integer", "params": [("min_disk", "40")], "want": ["ubuntu"]},
    "DiskFormat": {"reason": "disk_format", "params": [("disk_format", "vhd")], "want": ["windows"]},
    "Status": {"reason": "status", "params": [("status", "queued")], "want": ["ubuntu", "windows", "centos32", "plain"]},
    "StatusActive": {"reason": "no active image yet", "params": [("status", "active")], "want": []},
    "RegisteredPrivate": {"reason": "the documented private-image query", "params": [("__isregistered", "true"), ("__imagetype", "private")], "want": ["ubuntu", "windows", "centos32", "plain"]},
    "Gold": {"reason": "the catalogue is off: no public image", "params": [("__imagetype", "gold")], "want": []},
    "PublicVisibility": {"reason": "the catalogue is off: no public image", "params": [("visibility", "public")], "want": []},
    "OtherOwner": {"reason": "only the caller's images are listed", "params": [("owner", "someone-else")], "want": []},
    "SupportFlag": {"reason": "a documented __support_* filter no image matches", "params": [("__support_kvm", "true")], "want": []},
    "SharedMembers": {"reason": "member_status with visibility=shared, as documented", "params": [("member_status", "accepted"), ("visibility", "shared")], "want": []},
}
# fmt: on


@pytest.mark.parametrize("case", FILTERS.values(), ids=FILTERS.keys())
def test_filters(api: Api, catalog: dict[str, dict[str, Any]], case: dict[str, Any]) -> None:
    images = api.get("/v2/images", params=case["params"]).json()["images"]
    names = {image["name"] for image in images}
    assert names == set(case["want"]), case["reason"]


def test_filter_by_id_and_owner(api: Api, catalog: dict[str, dict[str, Any]]) -> None:
    ubuntu = catalog["ubuntu"]
    images = api.get("/v2/images", params=[("id", ubuntu["id"]), ("owner", ubuntu["owner"])]).json()["images"]
    assert images == [ubuntu]


def test_filter_by_time(api: Api) -> None:
    old = api.create(name="old")
    time.sleep(1.05)
    new = api.create(name="new")
    after = api.get("/v2/images", params={"created_at": f"gt:{old['created_at']}"}).json()["images"]
    assert [i["id"] for i in after] == [new["id"]]
    spaced = old["created_at"].replace("T", " ").rstrip("Z")
    upto = api.get("/v2/images", params={"created_at": f"lte:{spaced}"}).json()["images"]
    assert [i["id"] for i in upto] == [old["id"]]


# fmt: off
SORTS = {
    "NameAsc": {"reason": "sort by name ascending", "params": {"sort_key": "name", "sort_dir": "asc"}, "key": "name", "reverse": False},
    "NameDesc": {"reason": "sort by name descending", "params": {"sort_key": "name"}, "key": "name", "reverse": True},
    "DiskFormatAsc": {"reason": "sort by disk_format", "params": {"sort_key": "disk_format", "sort_dir": "asc"}, "key": "disk_format", "reverse": False},
    "IdAsc": {"reason": "sort by id", "params": {"sort_key": "id", "sort_dir": "asc"}, "key": "id", "reverse": False},
}
# fmt: on


@pytest.mark.parametrize("case", SORTS.values(), ids=SORTS.keys())
def test_sorting_with_paging(api: Api, catalog: dict[str, dict[str, Any]], case: dict[str, Any]) -> None:
    pages = _all_pages(api, [*case["params"].items(), ("limit", "1")])
    got = [image_id for page in pages for image_id in page]
    ordered = sorted(catalog.values(), key=lambda i: (i[case["key"]], i["id"]), reverse=case["reverse"])
    assert got == [i["id"] for i in ordered], case["reason"]


def test_sort_by_size_puts_unuploaded_first_ascending(api: Api, emu: Any) -> None:
    emu.configure(upload_delay=0)
    small, big, none = api.create(name="small"), api.create(name="big"), api.create(name="none")
    for image, data in ((small, b"x"), (big, b"x" * 100)):
        api.put(f"/v2/images/{image['id']}/file", data=data, content_type="application/octet-stream")
    images = api.get("/v2/images", params={"sort_key": "size", "sort_dir": "asc"}).json()["images"]
    assert [i["name"] for i in images] == ["none", "small", "big"]
    assert none["size"] is None


# fmt: off
LIST_ERRORS = {
    "LimitNotInt": {"reason": "limit is an integer", "params": {"limit": "ten"}},
    "LimitZero": {"reason": "limit is positive", "params": {"limit": "0"}},
    "LimitNegative": {"reason": "limit is positive", "params": {"limit": "-1"}},
    "UnknownMarker": {"reason": "the marker must be an image of the caller", "params": {"marker": "3f6a2335-69a9-437d-8322-d87e4600f516"}},
    "BadSortKey": {"reason": "only documented sort keys", "params": {"sort_key": "owner"}},
    "BadSortDir": {"reason": "asc or desc", "params": {"sort_dir": "up"}},
    "TwoSortKeys": {"reason": "one sort key", "params": [("sort_key", "name"), ("sort_key", "id")]},
    "MinRamNotInt": {"reason": "min_ram filter is an integer", "params": {"min_ram": "lots"}},
    "ProtectedNotBool": {"reason": "protected filter is a boolean", "params": {"protected": "maybe"}},
    "BadTimeOperator": {"reason": "op:time with a known op", "params": {"created_at": "after:2024-01-01T00:00:00Z"}},
    "BadTime": {"reason": "a parseable time", "params": {"updated_at": "gt:yesterday"}},
    "BadFilterKey": {"reason": "filter names are attribute names", "params": {'we"ird': "x"}},
    "UndocumentedFilter": {"reason": "strict: only the documented query parameters", "params": {"nothing": "x"}},
    "CustomAttributeFilter": {"reason": "strict: custom attributes are not documented filters", "params": {"creation_token": "t-1"}},
    "OsVersionFilter": {"reason": "strict: __os_version is not a documented filter", "params": {"__os_version": "CentOS 6.5 32bit"}},
    "SortByUpdatedAt": {"reason": "strict: updated_at is not a documented sort key", "params": {"sort_key": "updated_at"}},
    "VisibilityValue": {"reason": "strict: visibility is public, private or shared", "params": {"visibility": "community"}},
    "StatusValue": {"reason": "strict: status is one of the five documented ones", "params": {"status": "pending_delete"}},
    "ImageTypeValue": {"reason": "strict: __imagetype is gold, private, shared or market", "params": {"__imagetype": "public"}},
    "MemberStatusAlone": {"reason": "strict: member_status needs visibility=shared", "params": {"member_status": "accepted"}},
}
# fmt: on


@pytest.mark.parametrize("case", LIST_ERRORS.values(), ids=LIST_ERRORS.keys())
def test_list_parameter_errors(api: Api, case: dict[str, Any]) -> None:
    response = api.get("/v2/images", params=case["params"])
    assert (response.status_code, error_code(response)) == (400, "IMG.0001"), case["reason"]


def test_unsupported_parameter_is_named(api: Api) -> None:
    response = api.get("/v2/images", params={"creation_token": "t-1"})
    assert "'creation_token'" in response.json()["error"]["message"]


# Glance-like behaviour, so these run with lenient_list (--lenient-list); the custom attribute
# itself needs lenient_create (--lenient-create).
# fmt: off
LENIENT_FILTERS: dict[str, dict[str, Any]] = {
    "CustomProperty": {"reason": "custom attributes filter by exact value", "params": [("creation_token", "t-2")], "want": ["centos32"]},
    "UnknownProperty": {"reason": "an attribute no image has", "params": [("nothing", "x")], "want": []},
    "OsVersion": {"reason": "any attribute, __os_version too", "params": [("__os_version", "CentOS 6.5 32bit")], "want": ["centos32"]},
    "AnyVisibility": {"reason": "any value of an enumerated filter", "params": [("visibility", "community")], "want": []},
    "MemberStatusAlone": {"reason": "member_status without visibility=shared", "params": [("member_status", "accepted")], "want": []},
}
# fmt: on


@pytest.mark.parametrize("case", LENIENT_FILTERS.values(), ids=LENIENT_FILTERS.keys())
def test_lenient_list_filters(api: Api, emu: Any, case: dict[str, Any]) -> None:
    emu.configure(lenient_create=True, lenient_list=True)
    api.create(name="ubuntu", creation_token="t-1")
    api.create(name="centos32", __os_version="CentOS 6.5 32bit", creation_token="t-2")
    images = api.get("/v2/images", params=case["params"]).json()["images"]
    assert {image["name"] for image in images} == set(case["want"]), case["reason"]


def test_lenient_list_sorts_by_updated_at(api: Api, emu: Any) -> None:
    emu.configure(lenient_list=True)
    first, second = api.create(name="first"), api.create(name="second")
    time.sleep(1.05)
    api.patch(f"/v2/images/{first['id']}", [{"op": "replace", "path": "/name", "value": "first2"}])
    images = api.get("/v2/images", params={"sort_key": "updated_at"}).json()["images"]
    assert [i["id"] for i in images] == [first["id"], second["id"]], "the most recently updated first"


def test_marker_of_a_deleted_image_is_400(api: Api) -> None:
    for _ in range(3):
        api.create()
    marker = api.get("/v2/images", params={"limit": "1"}).json()["images"][0]["id"]
    api.delete(f"/v2/images/{marker}")
    assert api.get("/v2/images", params={"marker": marker}).status_code == 400
