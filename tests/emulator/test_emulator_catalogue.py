"""The catalogue of public images: its data, who sees it, the list API over own + public images,
``--no-public-images``/``public_images``, and why no user can change it.

The big paging test (1,000 images) is in ``test_emulator_catalogue_paging.py``.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from ims_emulator import DEMO_PROJECT_ID, PLATFORM_PROJECT_ID
from ims_emulator.catalogue import CATALOGUE_NAMESPACE, ENTRIES, public_images
from ims_emulator.process import Emulator, EmulatorError
from ims_emulator.schemas import lookup_os_version
from tests.support.emulator_client import CONTROL, PATCH_V20, Api, error_code

pytestmark = pytest.mark.contract

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PUBLIC = public_images()
BY_NAME: dict[str, list[dict[str, Any]]] = {}
for _doc in PUBLIC:
    BY_NAME.setdefault(_doc["name"], []).append(_doc)
ALL_PUBLIC = [doc["name"] for doc in PUBLIC]

U2404 = "Ubuntu 24.04 server 64bit"
U2204_40 = "Ubuntu 22.04 server 64bit(40GB)"  # two builds of this name
GPU = "Ubuntu 20.04 server 64bit with Tesla Driver 470 and CUDA 11.4"
HCE, HCE_ARM = "Huawei Cloud EulerOS 2.0 Standard 64 bit", "Huawei Cloud EulerOS 2.0 Standard 64 bit ARM"
W19 = ["Windows Server 2019 Datacenter 64bit English", "Windows Server 2019 Datacenter 64bit Chinese"]
W22 = ["Windows Server 2022 Datacenter 64bit English", "Windows Server 2022 Datacenter 64bit Chinese"]
UBUNTU = [
    "Ubuntu 18.04 server 64bit",
    "Ubuntu 20.04 server 64bit",
    "Ubuntu 22.04 server 64bit",
    GPU,
    "Ubuntu 20.04 server 64bit(40GB)",
    U2204_40,
    "Ubuntu 22.04 server 64bit with ARM(40GB)",
    U2204_40,
    U2404,
]
LTS = ["Ubuntu 22.04 server 64bit", U2204_40, U2204_40, "Ubuntu 22.04 server 64bit with ARM(40GB)", U2404]
XEN = ["Ubuntu 18.04 server 64bit", *W19, "CentOS 7.9 64bit", "Ubuntu 20.04 server 64bit", "EulerOS 2.9 64bit"]
BIG = ["CentOS 7.9 64bit", "EulerOS 2.9 64bit"]
ARM = ["CentOS 7.6 64bit with ARM", HCE_ARM, "Ubuntu 22.04 server 64bit with ARM(40GB)"]

OWN_ALL = ["web", "win", "old32", U2404]


def _public_id(name: str, newest: bool = True) -> str:
    builds = sorted(BY_NAME[name], key=lambda doc: doc["created_at"])
    return str(builds[-1 if newest else 0]["id"])


def _names(images: list[dict[str, Any]]) -> list[str]:
    return sorted(image["name"] for image in images)


def _list_all(api: Api, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every image of a list, following ``next`` links exactly as written."""
    response = api.get("/v2/images", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    images = list(body["images"])
    while "next" in body:
        parts = urlsplit(body["next"])
        body = api.get(parts.path, params=parse_qsl(parts.query)).json()
        images += body["images"]
    return images


@pytest.fixture
def own(api: Api) -> dict[str, dict[str, Any]]:
    """Private images of the demo project that differ from the catalogue in telling ways."""
    return {
        "web": api.create(
            name="web",
            __os_version="Ubuntu 22.04 server 64bit",
            tags=["family=ubuntu", "team=web"],
            min_ram=1024,
            min_disk=40,
            protected=True,
        ),
        "win": api.create(name="win", __os_version="Windows Server 2019 Datacenter 64bit", disk_format="vhd"),
        "old32": api.create(name="old32", __os_version="CentOS 6.5 32bit"),
        # A private image with the very name of a public one.
        "twin": api.create(name=U2404, __os_version="Ubuntu 24.04 server 64bit"),
    }


# --- the data -------------------------------------------------------------------------------


def test_catalogue_size_and_kinds() -> None:
    assert 20 <= len(PUBLIC) <= 30
    platforms = {doc["__platform"] for doc in PUBLIC}
    assert {
        "Ubuntu",
        "CentOS",
        "Debian",
        "EulerOS",
        "Huawei Cloud EulerOS",
        "openEuler",
        "Rocky Linux",
        "Windows",
    } <= platforms
    assert len({doc["created_at"] for doc in BY_NAME[U2204_40]}) == 2, "two builds of one name"
    ubuntu_2204 = [doc for doc in PUBLIC if doc["__os_version"] == "Ubuntu 22.04 server 64bit"]
    assert len({doc["created_at"] for doc in ubuntu_2204}) >= 3, "several builds of Ubuntu 22.04"
    stamps = Counter(doc["created_at"] for doc in PUBLIC)
    assert sorted(n for n in stamps.values() if n > 1) == [2, 2], "two pairs with the same created_at"
    assert {doc["hw_firmware_type"] for doc in PUBLIC} == {"bios", "uefi"}
    assert any(doc["tags"] == [] for doc in PUBLIC) and any(doc["tags"] for doc in PUBLIC)
    assert {doc["min_ram"] for doc in PUBLIC} >= {0, 1024}


# fmt: off
INVARIANTS: dict[str, dict[str, Any]] = {
    "Visibility": {"reason": "public images are public", "key": "visibility", "want": "public"},
    "ImageType": {"reason": "IMS calls public images gold", "key": "__imagetype", "want": "gold"},
    "Registered": {"reason": "only registered images are listed", "key": "__isregistered", "want": "true"},
    "Protected": {"reason": "public images are protected", "key": "protected", "want": True},
    "Owner": {"reason": "owned by the platform project, no user's", "key": "owner", "want": PLATFORM_PROJECT_ID},
    "Status": {"reason": "ready to boot", "key": "status", "want": "active"},
    "DiskFormat": {"reason": "IMS stores public images as zvhd2", "key": "disk_format", "want": "zvhd2"},
    "ContainerFormat": {"reason": "bare like every IMS image", "key": "container_format", "want": "bare"},
    "Kvm": {"reason": "every current public image boots on KVM", "key": "__support_kvm", "want": "true"},
    "SourceType": {"reason": "stored in UDS", "key": "__image_source_type", "want": "uds"},
}
# fmt: on


@pytest.mark.parametrize("case", INVARIANTS.values(), ids=INVARIANTS.keys())
def test_catalogue_invariants(case: dict[str, Any]) -> None:
    assert {doc[case["key"]] for doc in PUBLIC} == {case["want"]}, case["reason"]


def test_catalogue_documents_are_consistent() -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = [doc["id"] for doc in PUBLIC]
    assert len(set(ids)) == len(ids)
    assert PLATFORM_PROJECT_ID != DEMO_PROJECT_ID
    for entry, doc in zip(ENTRIES, PUBLIC, strict=True):
        assert doc["id"] == str(uuid.uuid5(CATALOGUE_NAMESPACE, f"{doc['name']}@{doc['created_at']}")) == entry.id
        assert STAMP.match(doc["created_at"]) and STAMP.match(doc["updated_at"]), doc["name"]
        assert doc["created_at"] <= doc["updated_at"] < now, "fixed times in the past"
        row = lookup_os_version(doc["__os_version"])
        assert row is not None and row.version == doc["__os_version"], doc["name"]
        assert (doc["__platform"], doc["__os_type"], doc["__os_bit"]) == (row.platform, row.os_type, row.os_bit)
        assert doc["__image_size"] == str(doc["size"]) and doc["size"] > 10**9
        assert re.fullmatch(r"[0-9a-f]{32}", doc["checksum"])
        assert all(isinstance(v, str) for k, v in doc.items() if k.startswith("__")), "__* values are strings"
        assert all(re.fullmatch(r"[^=]+=[^=]*", tag) for tag in doc["tags"])
        assert doc["self"] == f"/v2/images/{doc['id']}" and doc["file"] == f"/v2/images/{doc['id']}/file"
    assert public_images() == PUBLIC, "deterministic"
    assert [doc["created_at"] for doc in PUBLIC] == sorted(doc["created_at"] for doc in PUBLIC), "kept oldest first"


# --- who sees it ----------------------------------------------------------------------------

P1, P2 = "33333333333333333333333333333333", "44444444444444444444444444444444"


@pytest.fixture(scope="module")
def two_projects() -> Iterator[Emulator]:
    """An emulator with two user projects (AK/SK for the first, a token for the second)."""
    with Emulator.start(None, "--identity", f"AKP1:SKP1:{P1}", "--token", f"TP2:{P2}") as emulator:
        yield emulator


def test_every_project_sees_the_catalogue_in_list_and_show(two_projects: Emulator) -> None:
    two_projects.reset()
    for api in (Api(two_projects.url, ak="AKP1", sk="SKP1", project=P1), Api(two_projects.url, token="TP2")):
        listed = api.get("/v2/images", params={"limit": "1000"}).json()["images"]
        assert sorted(listed, key=lambda i: i["id"]) == sorted(PUBLIC, key=lambda i: i["id"]), "the very documents"
        for doc in PUBLIC:
            response = api.get(f"/v2/images/{doc['id']}")
            assert (response.status_code, response.json()) == (200, doc)


def test_private_images_of_another_project_stay_invisible(two_projects: Emulator) -> None:
    two_projects.reset()
    one = Api(two_projects.url, ak="AKP1", sk="SKP1", project=P1)
    two = Api(two_projects.url, token="TP2")
    mine = one.create(name="mine", tags=["family=ubuntu"], __os_version="Ubuntu 22.04 server 64bit")
    theirs = two.create(name="theirs")
    for params, want in (
        ([("limit", "1000")], [*ALL_PUBLIC, "theirs"]),
        ([("owner", P1)], []),
        ([("visibility", "private")], ["theirs"]),
        ([("__imagetype", "private")], ["theirs"]),
        ([("name", "mine")], []),
        ([("id", mine["id"])], []),
        ([("tag", "family=ubuntu"), ("__platform", "Ubuntu")], [*LTS, "Ubuntu 20.04 server 64bit(40GB)"]),
    ):
        assert _names(_list_all(two, params)) == sorted(want), params
    assert two.get(f"/v2/images/{mine['id']}").status_code == 404
    assert two.get("/v2/images", params={"marker": mine["id"]}).status_code == 400
    assert _names(_list_all(one, [("visibility", "private")])) == ["mine"]
    assert two_projects.stats()["images"] == {P1: 1, P2: 1}, "the catalogue is no project's count"
    assert theirs["owner"] == P2


def test_the_platform_project_is_not_a_user_project() -> None:
    with pytest.raises(EmulatorError, match="exited with 2"):
        Emulator.start(None, "--identity", f"AK:SK:{PLATFORM_PROJECT_ID}").stop()


# --- filters over own + public images -------------------------------------------------------

HCE_DAY = "2023-03-28T02:00:00Z"
W22_TIME = "2024-03-12T09:00:00Z"

# "own" names the demo project's images of the ``own`` fixture ("twin" is listed by its name,
# U2404); "public" the catalogue images expected, by name (a name twice for two builds).
# fmt: off
FILTERS: dict[str, dict[str, Any]] = {
    "Unfiltered": {"reason": "own images next to the whole catalogue", "params": [], "own": OWN_ALL, "public": ALL_PUBLIC},
    "VisibilityPublic": {"reason": "visibility=public is the catalogue", "params": [("visibility", "public")], "own": [], "public": ALL_PUBLIC},
    "VisibilityPrivate": {"reason": "visibility=private is the caller's own", "params": [("visibility", "private")], "own": OWN_ALL, "public": []},
    "VisibilityShared": {"reason": "nothing is shared", "params": [("visibility", "shared")], "own": [], "public": []},
    "Gold": {"reason": "__imagetype=gold is the catalogue", "params": [("__imagetype", "gold")], "own": [], "public": ALL_PUBLIC},
    "ImageTypePrivate": {"reason": "__imagetype=private is the caller's own", "params": [("__imagetype", "private")], "own": OWN_ALL, "public": []},
    "DocumentedPublicQuery": {"reason": "the documented public-image query", "params": [("__imagetype", "gold"), ("visibility", "public"), ("protected", "true")], "own": [], "public": ALL_PUBLIC},
    "DocumentedPrivateQuery": {"reason": "the documented private-image query owner={project}", "params": [("owner", DEMO_PROJECT_ID)], "own": OWN_ALL, "public": []},
    "OwnerPlatform": {"reason": "the catalogue's owner", "params": [("owner", PLATFORM_PROJECT_ID)], "own": [], "public": ALL_PUBLIC},
    "OwnerOther": {"reason": "an owner nobody visible has", "params": [("owner", P1)], "own": [], "public": []},
    "NameExactInBoth": {"reason": "name is exact and matches own and public images alike", "params": [("name", U2404)], "own": [U2404], "public": [U2404]},
    "NameTwoBuilds": {"reason": "one public name, two builds", "params": [("name", U2204_40)], "own": [], "public": [U2204_40, U2204_40]},
    "NamePrefix": {"reason": "no prefix matching", "params": [("name", "Ubuntu")], "own": [], "public": []},
    "NameCase": {"reason": "no case folding", "params": [("name", U2404.lower())], "own": [], "public": []},
    "StatusActive": {"reason": "public images are active, own ones still queued", "params": [("status", "active")], "own": [], "public": ALL_PUBLIC},
    "StatusQueued": {"reason": "own images without data", "params": [("status", "queued")], "own": OWN_ALL, "public": []},
    "ContainerBare": {"reason": "every image is bare", "params": [("container_format", "bare")], "own": OWN_ALL, "public": ALL_PUBLIC},
    "DiskZvhd2": {"reason": "zvhd2: the catalogue and own images by default", "params": [("disk_format", "zvhd2")], "own": ["web", "old32", U2404], "public": ALL_PUBLIC},
    "DiskVhd": {"reason": "vhd: one own image", "params": [("disk_format", "vhd")], "own": ["win"], "public": []},
    "MinRam1024": {"reason": "min_ram is an exact value, not a bound", "params": [("min_ram", "1024")], "own": ["web"], "public": W19},
    "MinRam2048": {"reason": "min_ram exact", "params": [("min_ram", "2048")], "own": [], "public": W22},
    "MinRam0": {"reason": "min_ram exact (0)", "params": [("min_ram", "0")], "own": ["win", "old32", U2404], "public": [n for n in ALL_PUBLIC if n not in W19 + W22]},
    "MinDisk60": {"reason": "min_disk is an exact value", "params": [("min_disk", "60")], "own": [], "public": [GPU]},
    "MinDisk40": {"reason": "min_disk exact (own images without min_disk store 0)", "params": [("min_disk", "40")], "own": ["web"], "public": [n for n in ALL_PUBLIC if n != GPU]},
    "OsBit32": {"reason": "__os_bit is a string", "params": [("__os_bit", "32")], "own": ["old32"], "public": []},
    "OsBit64": {"reason": "every public image is 64 bit", "params": [("__os_bit", "64")], "own": ["web", "win", U2404], "public": ALL_PUBLIC},
    "OsTypeWindows": {"reason": "__os_type over both", "params": [("__os_type", "Windows")], "own": ["win"], "public": W19 + W22},
    "PlatformUbuntu": {"reason": "__platform over both", "params": [("__platform", "Ubuntu")], "own": ["web", U2404], "public": UBUNTU},
    "PlatformHce": {"reason": "a platform name with spaces", "params": [("__platform", "Huawei Cloud EulerOS")], "own": [], "public": [HCE, HCE_ARM]},
    "PlatformRocky": {"reason": "Rocky Linux", "params": [("__platform", "Rocky Linux")], "own": [], "public": ["Rocky Linux 8.5 64bit", "Rocky Linux 9.0 64bit"]},
    "PlatformEuler": {"reason": "EulerOS is not Huawei Cloud EulerOS nor openEuler", "params": [("__platform", "EulerOS")], "own": [], "public": ["EulerOS 2.9 64bit", "EulerOS 2.10 64bit"]},
    "PlatformCentOS": {"reason": "CentOS over both", "params": [("__platform", "CentOS")], "own": ["old32"], "public": ["CentOS 7.6 64bit with ARM", "CentOS 7.9 64bit"]},
    "PlatformDebian": {"reason": "Debian", "params": [("__platform", "Debian")], "own": [], "public": ["Debian 11.1.0 64bit", "Debian 12.0.0 64bit"]},
    "PlatformOpenEuler": {"reason": "openEuler", "params": [("__platform", "openEuler")], "own": [], "public": ["openEuler 22.03 64bit", "openEuler 24.03 64bit"]},
    "OneTag": {"reason": "tag=key=value over both", "params": [("tag", "family=ubuntu")], "own": ["web"], "public": [*LTS, "Ubuntu 20.04 server 64bit(40GB)"]},
    "TwoTags": {"reason": "repeated tags must all be present", "params": [("tag", "family=ubuntu"), ("tag", "lts=true")], "own": [], "public": LTS},
    "OwnTag": {"reason": "a tag only an own image has", "params": [("tag", "team=web")], "own": ["web"], "public": []},
    "TagKeyOnly": {"reason": "the whole tag must match, not its key", "params": [("tag", "family")], "own": [], "public": []},
    "ProtectedTrue": {"reason": "protected over both", "params": [("protected", "true")], "own": ["web"], "public": ALL_PUBLIC},
    "ProtectedFalse": {"reason": "no public image is unprotected", "params": [("protected", "false")], "own": ["win", "old32", U2404], "public": []},
    "Registered": {"reason": "every listed image is registered", "params": [("__isregistered", "true")], "own": OWN_ALL, "public": ALL_PUBLIC},
    "SupportKvm": {"reason": "__support_kvm: the catalogue only", "params": [("__support_kvm", "true")], "own": [], "public": ALL_PUBLIC},
    "SupportXen": {"reason": "the older images also boot on Xen", "params": [("__support_xen", "true")], "own": [], "public": XEN},
    "SupportLargeMemory": {"reason": "__support_largememory", "params": [("__support_largememory", "true")], "own": [], "public": BIG},
    "SupportDiskIntensive": {"reason": "__support_diskintensive", "params": [("__support_diskintensive", "true")], "own": [], "public": BIG},
    "SupportHighPerformance": {"reason": "__support_highperformance", "params": [("__support_highperformance", "true")], "own": [], "public": [*BIG, GPU]},
    "SupportKvmGpu": {"reason": "__support_kvm_gpu_type is a value, not a flag", "params": [("__support_kvm_gpu_type", "V100")], "own": [], "public": [GPU]},
    "SupportKvmGpuOther": {"reason": "another GPU type", "params": [("__support_kvm_gpu_type", "P100")], "own": [], "public": []},
    "SupportXenGpu": {"reason": "no Xen GPU image", "params": [("__support_xen_gpu_type", "M60")], "own": [], "public": []},
    "SupportXenHana": {"reason": "no HANA image", "params": [("__support_xen_hana", "true")], "own": [], "public": []},
    "SupportInfiniband": {"reason": "no InfiniBand image", "params": [("__support_kvm_infiniband", "true")], "own": [], "public": []},
    "SharedMembers": {"reason": "member_status with visibility=shared: nothing shared", "params": [("member_status", "accepted"), ("visibility", "shared")], "own": [], "public": []},
    "CreatedLt": {"reason": "created_at=lt: the oldest public images", "params": [("created_at", "lt:2021-01-01T00:00:00Z")], "own": [], "public": ["Ubuntu 18.04 server 64bit", "CentOS 7.6 64bit with ARM", *W19]},
    "CreatedGte": {"reason": "created_at=gte: inclusive, own images are newer", "params": [("created_at", "gte:2024-06-18T08:15:27Z")], "own": OWN_ALL, "public": [U2204_40, U2404, "openEuler 24.03 64bit"]},
    "CreatedGt": {"reason": "created_at=gt: exclusive", "params": [("created_at", "gt:2024-06-18T08:15:27Z")], "own": OWN_ALL, "public": [U2404, "openEuler 24.03 64bit"]},
    "CreatedEq": {"reason": "created_at=eq: both images of the same second", "params": [("created_at", f"eq:{W22_TIME}")], "own": [], "public": W22},
    "CreatedEqSpaced": {"reason": "the 'yyyy-MM-dd hh:mm:ss' form", "params": [("created_at", "eq:2023-03-28 02:00:00")], "own": [], "public": [HCE, HCE_ARM]},
    "CreatedNeq": {"reason": "created_at=neq", "params": [("created_at", f"neq:{HCE_DAY}")], "own": OWN_ALL, "public": [n for n in ALL_PUBLIC if n not in (HCE, HCE_ARM)]},
    "CreatedRange": {"reason": "two created_at filters make a range", "params": [("created_at", f"gt:{HCE_DAY}"), ("created_at", "lte:2023-11-21T08:15:27Z")], "own": [], "public": ["Ubuntu 20.04 server 64bit(40GB)", "Debian 12.0.0 64bit", U2204_40]},
    "UpdatedLte": {"reason": "updated_at=lte", "params": [("updated_at", "lte:2019-05-14T03:02:41Z")], "own": [], "public": ["Ubuntu 18.04 server 64bit"]},
    "UpdatedGt": {"reason": "updated_at=gt: own images were just made", "params": [("updated_at", "gt:2024-08-20T01:48:56Z")], "own": OWN_ALL, "public": ["openEuler 24.03 64bit"]},
    "Everything": {"reason": "many filters at once", "params": [("__platform", "Ubuntu"), ("__os_bit", "64"), ("visibility", "public"), ("status", "active"), ("tag", "lts=true"), ("created_at", "lt:2024-01-01T00:00:00Z")], "own": [], "public": ["Ubuntu 22.04 server 64bit", U2204_40, "Ubuntu 22.04 server 64bit with ARM(40GB)"]},
}
# fmt: on


@pytest.mark.parametrize("case", FILTERS.values(), ids=FILTERS.keys())
def test_filters_over_own_and_public_images(api: Api, own: dict[str, dict[str, Any]], case: dict[str, Any]) -> None:
    images = _list_all(api, [*case["params"], ("limit", "10")])
    assert len({image["id"] for image in images}) == len(images), "paged without repeats"
    assert _names(images) == sorted([*case["own"], *case["public"]]), case["reason"]


def test_filter_by_id_finds_public_and_own_images(api: Api, own: dict[str, dict[str, Any]]) -> None:
    public_id = _public_id(U2204_40, newest=False)
    assert [i["id"] for i in api.get("/v2/images", params={"id": public_id}).json()["images"]] == [public_id]
    own_id = own["web"]["id"]
    assert api.get("/v2/images", params={"id": own_id}).json()["images"] == [own["web"]]
    both = api.get("/v2/images", params=[("id", public_id), ("owner", DEMO_PROJECT_ID)]).json()["images"]
    assert both == [], "filters combine with AND"


def test_strict_list_refuses_filters_on_undocumented_attributes(api: Api) -> None:
    for key, value in (("image_family", "ubuntu-2204-server"), ("__support_arm", "true"), ("hw_firmware_type", "uefi")):
        response = api.get("/v2/images", params={key: value})
        assert (response.status_code, error_code(response)) == (400, "IMG.0001"), key


# fmt: off
LENIENT: dict[str, dict[str, Any]] = {
    "CustomAttribute": {"reason": "a custom attribute of the catalogue", "params": [("image_family", "ubuntu-2204-server")], "want": ["Ubuntu 22.04 server 64bit", U2204_40, U2204_40]},
    "SupportArm": {"reason": "an IMS attribute that is no documented filter", "params": [("__support_arm", "true")], "want": ARM},
    "Firmware": {"reason": "hw_firmware_type", "params": [("hw_firmware_type", "uefi"), ("__os_type", "Windows")], "want": W22},
    "OsVersion": {"reason": "__os_version", "params": [("__os_version", "Ubuntu 20.04 server 64bit")], "want": ["Ubuntu 20.04 server 64bit", GPU, "Ubuntu 20.04 server 64bit(40GB)"]},
}
# fmt: on


@pytest.mark.parametrize("case", LENIENT.values(), ids=LENIENT.keys())
def test_lenient_list_filters_the_catalogue_on_any_attribute(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.configure(lenient_list=True)
    assert _names(_list_all(api, case["params"])) == sorted(case["want"]), case["reason"]


# --- sorting and paging over own + public images ----------------------------------------------


def _sort_value(image: dict[str, Any], key: str) -> Any:
    value = image[key]
    return -1 if key == "size" and value is None else value  # un-uploaded images sort as the smallest


SORT_KEYS = ["name", "container_format", "disk_format", "status", "id", "size", "created_at"]
# fmt: off
SORTS: dict[str, dict[str, Any]] = {
    **{f"{key}-{direction}": {"reason": f"documented sort key {key}, {direction}, ties by id", "key": key, "dir": direction}
       for key in SORT_KEYS for direction in ("asc", "desc")},
    "default": {"reason": "no sort_key: created_at desc, ties by id desc", "key": None, "dir": None},
}
# fmt: on


@pytest.mark.parametrize("case", SORTS.values(), ids=SORTS.keys())
def test_sorting_and_paging_over_own_and_public(api: Api, own: dict[str, dict[str, Any]], case: dict[str, Any]) -> None:
    params = [("limit", "4")]
    if case["key"]:
        params += [("sort_key", case["key"]), ("sort_dir", case["dir"])]
    got = [image["id"] for image in _list_all(api, params)]
    key, reverse = case["key"] or "created_at", case["dir"] != "asc"
    everything = [*own.values(), *PUBLIC]
    want = sorted(everything, key=lambda i: (_sort_value(i, key), i["id"]), reverse=reverse)
    assert got == [image["id"] for image in want], case["reason"]


def test_sort_by_name_ascending(api: Api, own: dict[str, dict[str, Any]]) -> None:
    body = api.get("/v2/images", params={"sort_key": "name", "sort_dir": "asc", "limit": "1000"}).json()
    names = [image["name"] for image in body["images"]]
    assert names == sorted(names) and names[0] == "CentOS 7.6 64bit with ARM" and names[-1] == "win"
    pairs = [(i["name"], i["id"]) for i in body["images"]]
    assert pairs == sorted(pairs), "the same name twice is ordered by id"
    assert "next" not in body and body["first"] == "/v2/images?sort_dir=asc&sort_key=name&limit=1000"


def test_equal_created_at_is_ordered_by_id_both_ways(api: Api) -> None:
    english, chinese = (_public_id(name) for name in W22)
    params = [("created_at", f"eq:{W22_TIME}"), ("limit", "1")]
    desc = _list_all(api, params)
    asc = _list_all(api, [*params, ("sort_key", "created_at"), ("sort_dir", "asc")])
    assert [i["id"] for i in desc] == sorted([english, chinese], reverse=True)
    assert [i["id"] for i in asc] == sorted([english, chinese])


def test_next_link_repeats_filters_over_the_catalogue(api: Api, own: dict[str, dict[str, Any]]) -> None:
    body = api.get("/v2/images", params=[("__imagetype", "gold"), ("__platform", "Ubuntu"), ("limit", "4")]).json()
    assert body["first"] == "/v2/images?__imagetype=gold&__platform=Ubuntu&limit=4"
    seen = []
    while True:
        seen += [image["name"] for image in body["images"]]
        if "next" not in body:
            break
        last = body["images"][-1]["id"]
        assert body["next"] == f"/v2/images?__imagetype=gold&__platform=Ubuntu&marker={last}&limit=4"
        parts = urlsplit(body["next"])
        body = api.get(parts.path, params=parse_qsl(parts.query)).json()
    assert sorted(seen) == sorted(UBUNTU) and len(seen) == len(UBUNTU)


def test_a_public_image_is_a_valid_marker(api: Api, own: dict[str, dict[str, Any]]) -> None:
    marker = _public_id(HCE_ARM)
    after = api.get("/v2/images", params={"marker": marker, "limit": "1000"}).json()["images"]
    everything = sorted([*own.values(), *PUBLIC], key=lambda i: (i["created_at"], i["id"]), reverse=True)
    ids = [image["id"] for image in everything]
    assert [image["id"] for image in after] == ids[ids.index(marker) + 1 :]


# --- switching the catalogue off ----------------------------------------------------------------


def _assert_catalogue_hidden(api: Api, own_names: list[str]) -> None:
    assert _names(_list_all(api, [("limit", "100")])) == sorted(own_names)
    assert _list_all(api, [("__imagetype", "gold")]) == []
    hidden = _public_id(U2404)
    shown = api.get(f"/v2/images/{hidden}")
    assert (shown.status_code, error_code(shown)) == (404, "IMG.0027")
    assert api.get("/v2/images", params={"marker": hidden}).status_code == 400


def test_runtime_switch_hides_the_catalogue_until_reset(api: Api, emu: Emulator) -> None:
    api.create(name="mine")
    emu.configure(public_images=False)
    _assert_catalogue_hidden(api, ["mine"])
    emu.reset()
    assert emu.configure()["public_images"] is True, "reset restores the start-up value"
    assert _names(_list_all(api, [("limit", "100")])) == sorted(ALL_PUBLIC), "back, and the catalogue survived reset"


def test_no_public_images_flag() -> None:
    with Emulator.start(None, "--no-public-images") as emu:
        api = Api(emu.url)
        api.create(name="mine")
        _assert_catalogue_hidden(api, ["mine"])
        emu.reset()
        assert emu.configure()["public_images"] is False, "reset keeps the start-up value"
        _assert_catalogue_hidden(api, [])
        emu.configure(public_images=True)
        assert len(_list_all(api, [("limit", "100")])) == len(PUBLIC), "the switch turns it on at run time"


def test_public_images_switch_must_be_boolean(emu: Emulator) -> None:
    response = requests.patch(emu.url + "/_emulator/config", json={"public_images": "no"}, headers=CONTROL, timeout=10)
    assert response.status_code == 400 and emu.configure()["public_images"] is True


# --- no user can change the catalogue ------------------------------------------------------------

# fmt: off
WRITES: dict[str, dict[str, Any]] = {
    "PatchName": {"reason": "only the owner may rename", "method": "PATCH", "path": "", "ops": [{"op": "replace", "path": "/name", "value": "mine"}], "want": (403, "IMG.0047")},
    "PatchNothing": {"reason": "ownership is checked before the operations", "method": "PATCH", "path": "", "ops": [], "want": (403, "IMG.0047")},
    "PatchCustom": {"reason": "no custom attribute either", "method": "PATCH", "path": "", "ops": [{"op": "add", "path": "/team", "value": "x"}], "want": (403, "IMG.0047")},
    "PatchV20": {"reason": "the other JSON-patch dialect", "method": "PATCH", "path": "", "ops": [{"replace": "/name", "value": "mine"}], "dialect": PATCH_V20, "want": (403, "IMG.0047")},
    "Delete": {"reason": "IMG.0094: a public image cannot be deleted", "method": "DELETE", "path": "", "want": (403, "IMG.0094")},
    "DeleteWithBody": {"reason": "with the documented body too", "method": "DELETE", "path": "", "json": {"delete_backup": True}, "want": (403, "IMG.0094")},
    "DeleteProtected400": {"reason": "not the protected-image answer, whatever its status", "method": "DELETE", "path": "", "config": {"protected_delete_status": 400}, "want": (403, "IMG.0094")},
    "DeleteUnknown204": {"reason": "the image is known: no silent 204", "method": "DELETE", "path": "", "config": {"delete_unknown_204": True}, "want": (403, "IMG.0094")},
    "PutTag": {"reason": "only the owner may tag", "method": "PUT", "path": "/tags/mine", "want": (403, "IMG.0047")},
    "DeleteTag": {"reason": "ownership comes before 'tag not found'", "method": "DELETE", "path": "/tags/mine", "want": (403, "IMG.0047")},
    "BadTag": {"reason": "the tag in the path is validated first, as for own images", "method": "PUT", "path": "/tags/a%3Db", "want": (400, "IMG.0115")},
    "Upload": {"reason": "no data upload to a public image", "method": "PUT", "path": "/file", "data": b"x", "content_type": "application/octet-stream", "want": (403, "IMG.0047")},
}
# fmt: on


def _write(api: Api, image_id: str, case: dict[str, Any]) -> requests.Response:
    path = f"/v2/images/{image_id}{case['path']}"
    if case["method"] == "PATCH":
        return api.patch(path, case["ops"], **({"dialect": case["dialect"]} if "dialect" in case else {}))
    return api.request(
        case["method"], path, json=case.get("json"), data=case.get("data"), content_type=case.get("content_type")
    )


@pytest.mark.parametrize("case", WRITES.values(), ids=WRITES.keys())
def test_public_images_cannot_be_changed(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.configure(**case.get("config", {}))
    image_id = _public_id(U2404)
    response = _write(api, image_id, case)
    assert (response.status_code, error_code(response)) == case["want"], f"{case['reason']}: {response.text}"
    assert api.get(f"/v2/images/{image_id}").json() == BY_NAME[U2404][0], "unchanged"


@pytest.mark.parametrize("case", WRITES.values(), ids=WRITES.keys())
def test_hidden_public_images_are_unknown_to_writes(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.configure(public_images=False, **case.get("config", {}))
    response = _write(api, _public_id(U2404), case)
    if case["want"][0] == 400:
        want: tuple[int, str | None] = case["want"]
    elif case.get("config", {}).get("delete_unknown_204"):
        want = (204, None)
    else:
        want = (404, "IMG.0027")
    got = (response.status_code, error_code(response) if response.content else None)
    assert got == want, f"hidden, a public image is an unknown one ({case['reason']})"


# --- test controls -------------------------------------------------------------------------------


def test_controls_leave_the_catalogue_out(api: Api, emu: Emulator) -> None:
    assert emu.images() == [] and emu.stats()["images"] == {}, "a fresh emulator has no user images"
    assert emu.images(public=True) == sorted(PUBLIC, key=lambda i: (i["created_at"], i["id"]))
    assert emu.images(PLATFORM_PROJECT_ID) == emu.images(public=True), "asked for by its project"
    mine = api.create(name="mine")
    assert emu.images() == [mine] and emu.images(DEMO_PROJECT_ID) == [mine]
    assert emu.images(DEMO_PROJECT_ID, public=True)[-1] == mine and len(emu.images(public=True)) == len(PUBLIC) + 1
    assert emu.stats()["images"] == {DEMO_PROJECT_ID: 1}
    quota = api.get("/v1/cloudimages/quota").json()["quotas"]["resources"][0]
    assert quota["used"] == 1, "public images use no quota"
    assert emu.delete_images() == 1, "only user images are deleted"
    assert len(emu.images(public=True)) == len(PUBLIC)
    response = requests.get(emu.url + "/_emulator/images", params={"public": "maybe"}, timeout=10)
    assert response.status_code == 400


def test_public_images_do_not_clash_with_unique_names(api: Api, emu: Emulator) -> None:
    emu.configure(unique_names=True)
    assert api.post("/v2/images", json={"name": U2404}).status_code == 201, "names are unique per project only"
