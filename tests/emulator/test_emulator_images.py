"""Create, show, delete, tags, upload and the static endpoints of the emulator."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ims_emulator import DEMO_PROJECT_ID, DEMO_TOKEN
from ims_emulator.process import Emulator
from tests.support.emulator_client import Api, error_code

pytestmark = pytest.mark.contract

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_create_applies_documented_defaults(api: Api) -> None:
    image = api.create()
    image_id = image["id"]
    assert UUID.match(image_id)
    assert STAMP.match(image["created_at"]) and image["updated_at"] == image["created_at"]
    expected = {
        "name": "",
        "status": "queued",
        "visibility": "private",
        "protected": False,
        "container_format": "bare",
        "disk_format": "zvhd2",
        "min_ram": 0,
        "min_disk": 0,
        "tags": [],
        "owner": DEMO_PROJECT_ID,
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
        "checksum": None,
        "size": None,
        "virtual_size": None,
        "virtual_env_type": "FusionCompute",
        "__os_version": "Other Linux(64 bit)",
        "__os_type": "Linux",
        "__platform": "Other",
        "__os_bit": "64",
        "__imagetype": "private",
        "__isregistered": "true",
        "__image_size": "0",
        "__image_source_type": "uds",
        "__root_origin": "file",
    }
    assert {k: image[k] for k in expected} == expected
    assert set(image) == {"id", "created_at", "updated_at", *expected}


def test_create_takes_every_documented_field(api: Api) -> None:
    image = api.create(
        name="web-01.base_image",
        __os_version="  ubuntu 22.04 SERVER 64bit ",
        visibility="private",
        protected=True,
        container_format="bare",
        disk_format="qcow2",
        tags=["env=prod", "team=core"],
        min_ram=2048,
        min_disk=40,
    )
    assert image["name"] == "web-01.base_image"
    assert image["__os_version"] == "Ubuntu 22.04 server 64bit", "the table's own spelling is stored"
    assert (image["__os_type"], image["__platform"], image["__os_bit"]) == ("Linux", "Ubuntu", "64")
    assert image["protected"] is True and image["disk_format"] == "qcow2"
    assert image["tags"] == ["env=prod", "team=core"]
    assert (image["min_ram"], image["min_disk"]) == (2048, 40)
    assert all(isinstance(v, str) for k, v in image.items() if k.startswith("__"))


def test_lenient_create_takes_custom_properties_like_glance(api: Api, emu: Emulator) -> None:
    """Glance-like behaviour, so the emulator runs with ``lenient_create`` (``--lenient-create``)."""
    emu.configure(lenient_create=True)
    image = api.create(
        name="web-01",
        tags=["env=prod", "team=core", "env=prod"],
        min_disk=0,
        __description="Base image",
        creation_token="tok-1",
    )
    assert image["tags"] == ["env=prod", "team=core"], "duplicate tags collapse as in Glance"
    assert image["min_disk"] == 0
    assert image["__description"] == "Base image" and image["creation_token"] == "tok-1"


def test_create_derives_os_fields_for_windows_32bit(api: Api) -> None:
    image = api.create(__os_version="Windows 7 Professional 32bit")
    assert (image["__os_type"], image["__platform"], image["__os_bit"]) == ("Windows", "Windows", "32")


# fmt: off
CREATE_ERRORS: dict[str, dict[str, Any]] = {
    "NotAnObject": {"reason": "the body must be a JSON object", "body": [], "status": 400, "code": "IMG.0001"},
    "NameTooLong": {"reason": "names are limited to 128 characters by default", "body": {"name": "a" * 129}, "status": 400, "code": "IMG.0002"},
    "NameWithSlash": {"reason": "only letters, digits, '-', '.', '_' and space", "body": {"name": "a/b"}, "status": 400, "code": "IMG.0003"},
    "NameUnicode": {"reason": "letters other than ASCII and Chinese ones are refused (strict reading)", "body": {"name": "bild-ä"}, "status": 400, "code": "IMG.0003"},
    "NameLeadingSpace": {"reason": "no leading or trailing space", "body": {"name": " web"}, "status": 400, "code": "IMG.0003"},
    "NameEmpty": {"reason": "an explicit name must have 1..128 characters", "body": {"name": ""}, "status": 400, "code": "IMG.0003"},
    "NameNotString": {"reason": "name is a string", "body": {"name": 7}, "status": 400, "code": "IMG.0001"},
    "UnknownOsVersion": {"reason": "__os_version must be in the OS table", "body": {"__os_version": "Windows 95"}, "status": 400, "code": "IMG.0056"},
    "OsVersionNotString": {"reason": "__os_version is a string", "body": {"__os_version": 64}, "status": 400, "code": "IMG.0001"},
    "PublicVisibility": {"reason": "only private images can be created", "body": {"visibility": "public"}, "status": 400, "code": "IMG.0001"},
    "ProtectedNotBool": {"reason": "protected is a boolean", "body": {"protected": "yes"}, "status": 400, "code": "IMG.0001"},
    "DiskFormatVmdk": {"reason": "vmdk is not an IMS disk format", "body": {"disk_format": "vmdk"}, "status": 400, "code": "IMG.0072"},
    "ContainerOvf": {"reason": "container_format must be bare", "body": {"container_format": "ovf"}, "status": 400, "code": "IMG.0072"},
    "NegativeMinRam": {"reason": "min_ram >= 0", "body": {"min_ram": -1}, "status": 400, "code": "IMG.0055"},
    "FloatMinRam": {"reason": "min_ram is an integer", "body": {"min_ram": 1.5}, "status": 400, "code": "IMG.0055"},
    "MinDiskTooLarge": {"reason": "min_disk is at most 1024 GB", "body": {"min_disk": 1025}, "status": 400, "code": "IMG.0055"},
    "MinDiskBool": {"reason": "a boolean is not an integer", "body": {"min_disk": True}, "status": 400, "code": "IMG.0055"},
    "TagsNotList": {"reason": "tags is a list", "body": {"tags": "a=b"}, "status": 400, "code": "IMG.0001"},
    "TagWithoutEquals": {"reason": "create-body tags have the key=value form", "body": {"tags": ["plain"]}, "status": 400, "code": "IMG.0115"},
    "TagEmptyKey": {"reason": "the key of a tag is not empty", "body": {"tags": ["=v"]}, "status": 400, "code": "IMG.0115"},
    "TagTooLong": {"reason": "tags have at most 255 characters", "body": {"tags": ["k=" + "v" * 254]}, "status": 400, "code": "IMG.0115"},
    "TagNotString": {"reason": "tags are strings", "body": {"tags": [1]}, "status": 400, "code": "IMG.0115"},
    "ElevenTags": {"reason": "at most 10 tags per image", "body": {"tags": [f"k{i}=v" for i in range(11)]}, "status": 400, "code": "IMG.0116"},
}
# fmt: on


@pytest.mark.parametrize("case", CREATE_ERRORS.values(), ids=CREATE_ERRORS.keys())
def test_create_rejects_invalid_bodies(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    response = api.post("/v2/images", json=case["body"])
    assert (response.status_code, error_code(response)) == (case["status"], case["code"]), case["reason"]
    assert response.json()["error"]["message"]
    assert emu.images() == [], "a rejected create stores nothing"


# The rules of keys only a Glance-like create takes: run with lenient_create (--lenient-create).
# fmt: off
LENIENT_CREATE_ERRORS: dict[str, dict[str, Any]] = {
    "CustomNotString": {"reason": "custom attributes are strings", "body": {"build": 42}, "status": 400, "code": "IMG.0001"},
    "DescriptionTooLong": {"reason": "__description is at most 1024 characters", "body": {"__description": "x" * 1025}, "status": 400, "code": "IMG.0004"},
    "DescriptionAngleBrackets": {"reason": "__description may not contain < or >", "body": {"__description": "<b>"}, "status": 400, "code": "IMG.0054"},
    "DescriptionCarriageReturn": {"reason": "__description may not contain CR", "body": {"__description": "a\rb"}, "status": 400, "code": "IMG.0054"},
    "ReadOnlyId": {"reason": "the id is chosen by the server", "body": {"id": "3f6a2335-69a9-437d-8322-d87e4600f516"}, "status": 403, "code": "IMG.0001"},
    "ReadOnlyStatus": {"reason": "status is server-managed", "body": {"status": "active"}, "status": 403, "code": "IMG.0001"},
    "ReadOnlyServerProperty": {"reason": "derived __* attributes are server-managed", "body": {"__platform": "Ubuntu"}, "status": 403, "code": "IMG.0001"},
    "ReservedLocations": {"reason": "Glance reserves locations", "body": {"locations": []}, "status": 403, "code": "IMG.0001"},
    "MinDiskNegative": {"reason": "min_disk 0 is allowed, below it is not", "body": {"min_disk": -1}, "status": 400, "code": "IMG.0055"},
}
# fmt: on


@pytest.mark.parametrize("case", LENIENT_CREATE_ERRORS.values(), ids=LENIENT_CREATE_ERRORS.keys())
def test_lenient_create_rejects_invalid_bodies(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.configure(lenient_create=True)
    response = api.post("/v2/images", json=case["body"])
    assert (response.status_code, error_code(response)) == (case["status"], case["code"]), case["reason"]
    assert emu.images() == [], "a rejected create stores nothing"


RAW_ERRORS = {
    "EmptyBody": {"reason": "no body at all is IMG.0007", "data": b"", "code": "IMG.0007"},
    "InvalidJson": {"reason": "a body that is not JSON", "data": b"{", "code": "IMG.0001"},
    "NotUtf8": {"reason": "JSON must be UTF-8", "data": b'{"name": "\xff"}', "code": "IMG.0001"},
}


@pytest.mark.parametrize("case", RAW_ERRORS.values(), ids=RAW_ERRORS.keys())
def test_create_rejects_unparseable_bodies(api: Api, case: dict[str, Any]) -> None:
    response = api.post("/v2/images", data=case["data"], content_type="application/json")
    assert (response.status_code, error_code(response)) == (400, case["code"]), case["reason"]


# fmt: off
CREATE_EDGES = {
    "Name128": {"reason": "exactly 128 characters is fine", "body": {"name": "n" * 128}},
    "NameInnerSpaces": {"reason": "inner spaces are allowed", "body": {"name": "my base image 1.0"}},
    "MinDiskMax": {"reason": "1024 GB is the upper bound", "body": {"min_disk": 1024}},
    "TagEmptyValue": {"reason": "key= has an empty value", "body": {"tags": ["k="]}},
    "TenTags": {"reason": "10 tags is the limit", "body": {"tags": [f"k{i}=v" for i in range(10)]}},
    "DiskFormatIso": {"reason": "iso is documented", "body": {"disk_format": "iso"}},
    "OsVersionOtherSpacing": {"reason": "'Other Linux (64 bit)' matches ignoring spaces", "body": {"__os_version": "Other Linux (64 bit)"}},
}
# fmt: on


@pytest.mark.parametrize("case", CREATE_EDGES.values(), ids=CREATE_EDGES.keys())
def test_create_accepts_edge_values(api: Api, case: dict[str, Any]) -> None:
    response = api.post("/v2/images", json=case["body"])
    assert response.status_code == 201, f"{case['reason']}: {response.text}"


def test_show_returns_the_created_image(api: Api) -> None:
    image = api.create(name="shown")
    response = api.get(f"/v2/images/{image['id']}")
    assert response.status_code == 200
    assert response.json() == image


@pytest.mark.parametrize(
    "image_id",
    ["3f6a2335-69a9-437d-8322-d87e4600f516", "not-a-uuid"],
    ids=["UnknownUuid", "Malformed"],
)
def test_show_unknown_image_is_404(api: Api, image_id: str) -> None:
    response = api.get(f"/v2/images/{image_id}")
    assert (response.status_code, error_code(response)) == (404, "IMG.0027")


def test_delete_removes_the_image(api: Api) -> None:
    image = api.create()
    assert api.delete(f"/v2/images/{image['id']}").status_code == 204
    assert api.get(f"/v2/images/{image['id']}").status_code == 404
    again = api.delete(f"/v2/images/{image['id']}")
    assert (again.status_code, error_code(again)) == (404, "IMG.0027"), "a repeated DELETE is a 404"


def test_delete_accepts_the_delete_backup_body(api: Api) -> None:
    image = api.create()
    assert api.delete(f"/v2/images/{image['id']}", json={"delete_backup": False}).status_code == 204


def test_delete_rejects_a_bad_body(api: Api) -> None:
    image = api.create()
    response = api.delete(f"/v2/images/{image['id']}", json={"delete_backup": "yes"})
    assert (response.status_code, error_code(response)) == (400, "IMG.0001")


def test_delete_of_a_protected_image_is_refused(api: Api, emu: Emulator) -> None:
    image = api.create(protected=True)
    response = api.delete(f"/v2/images/{image['id']}")
    assert (response.status_code, error_code(response)) == (403, "IMG.0028")
    assert response.json()["error"]["message"] == "The image in the request is protected."
    assert len(emu.images()) == 1


def test_tags_can_be_added_and_removed(api: Api) -> None:
    image = api.create(tags=["a=b"])
    path = f"/v2/images/{image['id']}/tags"
    assert api.put(f"{path}/blue_team-1").status_code == 204
    assert api.put(f"{path}/blue_team-1").status_code == 204, "adding a present tag is a no-op"
    assert api.get(f"/v2/images/{image['id']}").json()["tags"] == ["a=b", "blue_team-1"]
    assert api.delete(f"{path}/blue_team-1").status_code == 204
    missing = api.delete(f"{path}/blue_team-1")
    assert missing.status_code == 404, "deleting a missing tag is a 404"
    assert api.get(f"/v2/images/{image['id']}").json()["tags"] == ["a=b"]


def test_key_value_tag_deleted_by_path_only_with_the_switch(api: Api, emu: Emulator) -> None:
    image = api.create(tags=["a=b"])
    path = f"/v2/images/{image['id']}/tags/a%3Db"
    refused = api.delete(path)
    assert (refused.status_code, error_code(refused)) == (400, "IMG.0115"), "the path tag API refuses '=' on DELETE too"
    emu.configure(tag_api_allow_equals=True)
    assert api.delete(path).status_code == 204, "with --tag-api-allow-equals a key=value tag can be deleted by path"
    assert api.get(f"/v2/images/{image['id']}").json()["tags"] == []


TAG_PATH_ERRORS = {
    "Equals": {"reason": "the tag path API refuses '='", "tag": "k%3Dv", "status": 400, "code": "IMG.0115"},
    "Dot": {"reason": "the tag path API refuses '.'", "tag": "v1.2", "status": 400, "code": "IMG.0115"},
    "Space": {"reason": "only letters, digits, '_' and '-'", "tag": "a%20b", "status": 400, "code": "IMG.0115"},
    "TooLong": {"reason": "at most 255 characters", "tag": "t" * 256, "status": 400, "code": "IMG.0115"},
}


@pytest.mark.parametrize("case", TAG_PATH_ERRORS.values(), ids=TAG_PATH_ERRORS.keys())
def test_tag_path_rules(api: Api, case: dict[str, Any]) -> None:
    image = api.create()
    response = api.put(f"/v2/images/{image['id']}/tags/{case['tag']}")
    assert (response.status_code, error_code(response)) == (case["status"], case["code"]), case["reason"]


def test_eleventh_tag_is_refused(api: Api) -> None:
    image = api.create(tags=[f"k{i}=v" for i in range(10)])
    response = api.put(f"/v2/images/{image['id']}/tags/extra")
    assert (response.status_code, error_code(response)) == (400, "IMG.0116")


def test_tag_calls_on_unknown_image_are_404(api: Api) -> None:
    unknown = "/v2/images/3f6a2335-69a9-437d-8322-d87e4600f516/tags/x"
    assert api.put(unknown).status_code == 404
    assert api.delete(unknown).status_code == 404


def _wait_status(api: Api, image_id: str, status: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image = dict(api.get(f"/v2/images/{image_id}").json())
        if image["status"] == status or time.monotonic() > deadline:
            return image
        time.sleep(0.02)


def test_upload_goes_queued_saving_active(api: Api) -> None:
    image = api.create()
    data = b"\x00image-bytes" * 1000
    response = api.put(f"/v2/images/{image['id']}/file", data=data, content_type="application/octet-stream")
    assert response.status_code == 204
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "saving", "saving for upload_delay after the 204"
    done = _wait_status(api, image["id"], "active")
    assert done["status"] == "active"
    assert done["size"] == len(data)
    assert done["virtual_size"] is None, "the emulator does not inspect the disk format"
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    assert (done["os_hash_algo"], done["os_hash_value"]) == ("sha512", hashlib.sha512(data).hexdigest())
    assert done["__image_size"] == str(len(data))
    assert STAMP.match(done["active_at"])
    again = api.put(f"/v2/images/{image['id']}/file", data=b"x", content_type="application/octet-stream")
    assert (again.status_code, error_code(again)) == (409, "IMG.0035"), "data can only be uploaded once"


def test_upload_status_is_saving_while_the_body_streams(emu: Emulator) -> None:
    api = Api(emu.url, token=DEMO_TOKEN)  # token auth: the body is streamed, not read for signing
    image = api.create()
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"first chunk"
        release.wait(5)
        yield b"second chunk"

    result: dict[str, int] = {}
    uploader = threading.Thread(
        target=lambda: result.update(
            status=api.session.put(
                f"{emu.url}/v2/images/{image['id']}/file",
                data=body(),
                headers={"X-Auth-Token": DEMO_TOKEN, "Content-Type": "application/octet-stream"},
                timeout=10,
            ).status_code
        )
    )
    uploader.start()
    try:
        assert _wait_status(api, image["id"], "saving")["status"] == "saving"
    finally:
        release.set()
        uploader.join(10)
    assert result["status"] == 204
    done = _wait_status(api, image["id"], "active")
    assert done["size"] == len(b"first chunksecond chunk")


def test_upload_needs_octet_stream(api: Api) -> None:
    image = api.create()
    response = api.put(f"/v2/images/{image['id']}/file", json={"x": 1})
    assert response.status_code == 415
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_upload_to_unknown_image_is_404(api: Api) -> None:
    response = api.put(
        "/v2/images/3f6a2335-69a9-437d-8322-d87e4600f516/file", data=b"x", content_type="application/octet-stream"
    )
    assert response.status_code == 404


def test_upload_immediately_active_without_delay(api: Api, emu: Emulator) -> None:
    emu.configure(upload_delay=0)
    image = api.create()
    api.put(f"/v2/images/{image['id']}/file", data=b"abc", content_type="application/octet-stream")
    assert api.get(f"/v2/images/{image['id']}").json()["status"] == "active"


def test_image_schemas(api: Api) -> None:
    image = api.get("/v2/schemas/image").json()
    assert image["name"] == "image" and image["additionalProperties"] == {"type": "string"}
    assert {link["rel"] for link in image["links"]} == {"self", "enclosure", "describedby"}
    assert image["properties"]["name"]["maxLength"] == 255
    images = api.get("/v2/schemas/images").json()
    assert images["name"] == "images"
    assert {link["rel"] for link in images["links"]} == {"first", "next", "describedby"}


def test_os_version_list_groups_the_table(api: Api) -> None:
    groups = api.get("/v1/cloudimages/os_version").json()
    by_platform = {g["platform"]: g["version_list"] for g in groups}
    ubuntu = {v["os_version"]: v for v in by_platform["Ubuntu"]}
    assert ubuntu["Ubuntu 14.04 server 32bit"] == {
        "platform": "Ubuntu",
        "os_version_key": "Ubuntu 14.04 server 32bit",
        "os_version": "Ubuntu 14.04 server 32bit",
        "os_bit": 32,
        "os_type": "Linux",
    }
    assert all(isinstance(v["os_bit"], int) for vs in by_platform.values() for v in vs)


def test_quota_reports_usage(api: Api) -> None:
    api.create()
    api.create()
    body = api.get("/v1/cloudimages/quota").json()
    assert body == {"quotas": {"resources": [{"type": "image", "used": 2, "quota": 100, "min": 1, "max": 1000}]}}


def test_quota_is_enforced(api: Api, emu: Emulator) -> None:
    emu.configure(quota=2)
    api.create()
    api.create()
    response = api.post("/v2/images", json={})
    assert (response.status_code, error_code(response)) == (400, "IMG.0015")


def test_versions_document(api: Api, emu: Emulator) -> None:
    response = api.get("/")
    assert response.status_code == 300
    versions = {v["id"]: v for v in response.json()["versions"]}
    assert versions["v2.2"]["status"] == "CURRENT"
    assert versions["v2.2"]["links"] == [{"href": f"{emu.url}/v2/", "rel": "self"}]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v3/images"), ("POST", "/v2/images/x"), ("GET", "/_emulator/nothing")],
    ids=["UnknownPath", "UnknownMethod", "UnknownControl"],
)
def test_unknown_routes_are_gateway_404(api: Api, method: str, path: str) -> None:
    response = api.request(method, path)
    assert (response.status_code, error_code(response)) == (404, "APIGW.0101")


def test_every_response_carries_request_ids(api: Api) -> None:
    for response in (api.post("/v2/images", json={}), api.get("/v2/images/nope"), api.get("/_emulator/health")):
        request_id = response.headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        assert response.headers["X-Openstack-Request-Id"].replace("-", "") == f"req{request_id}"
