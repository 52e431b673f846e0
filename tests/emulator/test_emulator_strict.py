"""Strict-documents mode (the default): create takes only what IMS documents; the OS list.

Each case says why it holds. The lenient cases switch ``lenient_create`` on at run time,
which is what ``--lenient-create`` does at start-up.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ims_emulator.process import Emulator
from ims_emulator.schemas import EXTRA_OS_VERSIONS
from ims_pulumi.core.os_versions import lookup as provider_lookup
from tests.support.emulator_client import CONTROL, Api, error_code

pytestmark = pytest.mark.contract

UUID = "3f6a2335-69a9-437d-8322-d87e4600f516"
ALLOWED_KEYS = "__os_version, container_format, disk_format, min_disk, min_ram, name, protected, tags, visibility"

# --- create: refused in strict mode --------------------------------------------------------------

# fmt: off
STRICT_CREATE_ERRORS: dict[str, dict[str, Any]] = {
    "ExtraKey": {"reason": "a custom attribute is not one of the nine documented fields", "body": {"name": "a", "creation_token": "t-1"}, "code": "IMG.0001", "says": ["'creation_token'", ALLOWED_KEYS]},
    "Description": {"reason": "__description is not a create field (IMS sets it by PATCH)", "body": {"__description": "text"}, "code": "IMG.0001", "says": ["'__description'"]},
    "TwoExtraKeys": {"reason": "every undocumented key is named", "body": {"b": "2", "a": "1"}, "code": "IMG.0001", "says": ["parameters 'a', 'b' are not supported"]},
    "ReadOnlyKey": {"reason": "strict: a read-only key is just an undocumented key (400, not Glance's 403)", "body": {"id": UUID}, "code": "IMG.0001", "says": ["'id'"]},
    "ServerKey": {"reason": "a derived __* attribute is not a create field", "body": {"__os_type": "Linux"}, "code": "IMG.0001", "says": ["'__os_type'"]},
    "ReservedKey": {"reason": "Glance's reserved keys are undocumented keys too", "body": {"locations": []}, "code": "IMG.0001", "says": ["'locations'"]},
    "MinDiskZero": {"reason": "min_disk is documented as 1..1024; 0 is not in the range", "body": {"min_disk": 0}, "code": "IMG.0055", "says": ["from 1 to 1024"]},
    "MinDisk1025": {"reason": "1024 GB is the upper bound", "body": {"min_disk": 1025}, "code": "IMG.0055", "says": ["from 1 to 1024"]},
    "MinDiskNegative": {"reason": "negative sizes are out of the range", "body": {"min_disk": -1}, "code": "IMG.0055", "says": ["from 1 to 1024"]},
    "MinDiskFraction": {"reason": "min_disk is an integer", "body": {"min_disk": 40.5}, "code": "IMG.0055", "says": ["integer"]},
    "MinDiskString": {"reason": "a numeric string is not an integer", "body": {"min_disk": "40"}, "code": "IMG.0055", "says": ["integer"]},
    "DuplicateTag": {"reason": "strict: a tag given twice is refused (Glance would merge)", "body": {"tags": ["a=b", "a=b"]}, "code": "IMG.0115", "says": ["'a=b'"]},
    "NameAngleBracket": {"reason": "'<' is not a letter, digit, space, '-', '.' or '_'", "body": {"name": "a<b"}, "code": "IMG.0003", "says": []},
    "NameTrailingSpace": {"reason": "no trailing space", "body": {"name": "x "}, "code": "IMG.0003", "says": []},
    "NameLeadingSpaceChinese": {"reason": "no leading space, whatever the letters", "body": {"name": " 镜像"}, "code": "IMG.0003", "says": []},
    "Name129": {"reason": "at most 128 characters", "body": {"name": "n" * 129}, "code": "IMG.0002", "says": []},
    "ChineseName129": {"reason": "Chinese characters count one each: 129 is too many", "body": {"name": "镜" * 129}, "code": "IMG.0002", "says": []},
    "NameKatakana": {"reason": "only the CJK unified ideographs (U+4E00-U+9FFF) count as Chinese letters", "body": {"name": "イメージ"}, "code": "IMG.0003", "says": []},
    "NameFullwidthComma": {"reason": "CJK punctuation is not a letter", "body": {"name": "生产\uff0c镜像"}, "code": "IMG.0003", "says": []},
}
# fmt: on


@pytest.mark.parametrize("case", STRICT_CREATE_ERRORS.values(), ids=STRICT_CREATE_ERRORS.keys())
def test_strict_create_refuses(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    response = api.post("/v2/images", json=case["body"])
    assert (response.status_code, error_code(response)) == (400, case["code"]), f"{case['reason']}: {response.text}"
    message = response.json()["error"]["message"]
    for text in case["says"]:
        assert text in message, f"{case['reason']}: {message!r} lacks {text!r}"
    assert emu.images() == [], "a refused create stores nothing"


def test_strict_refusal_starts_with_the_documented_message(api: Api) -> None:
    message = api.post("/v2/images", json={"x": "1"}).json()["error"]["message"]
    assert message.startswith("The request message format is invalid: parameter 'x' is not supported")


# --- create: accepted in strict mode -------------------------------------------------------------

# fmt: off
STRICT_CREATE_ACCEPTED: dict[str, dict[str, Any]] = {
    "OnlyName": {"reason": "name is a create field", "body": {"name": "web"}, "expect": {"name": "web"}},
    "OnlyOsVersion": {"reason": "__os_version is a create field", "body": {"__os_version": "CentOS 7.6 64bit"}, "expect": {"__os_version": "CentOS 7.6 64bit", "__platform": "CentOS"}},
    "OnlyVisibility": {"reason": "visibility is a create field (private only)", "body": {"visibility": "private"}, "expect": {"visibility": "private"}},
    "OnlyProtected": {"reason": "protected is a create field", "body": {"protected": True}, "expect": {"protected": True}},
    "OnlyContainerFormat": {"reason": "container_format is a create field", "body": {"container_format": "bare"}, "expect": {"container_format": "bare"}},
    "OnlyDiskFormat": {"reason": "disk_format is a create field", "body": {"disk_format": "raw"}, "expect": {"disk_format": "raw"}},
    "OnlyTags": {"reason": "tags is a create field", "body": {"tags": ["k=v"]}, "expect": {"tags": ["k=v"]}},
    "OnlyMinRam": {"reason": "min_ram is a create field", "body": {"min_ram": 512}, "expect": {"min_ram": 512}},
    "OnlyMinDisk": {"reason": "min_disk is a create field", "body": {"min_disk": 40}, "expect": {"min_disk": 40}},
    "MinDisk1": {"reason": "1 GB is the lower bound", "body": {"min_disk": 1}, "expect": {"min_disk": 1}},
    "MinDisk1024": {"reason": "1024 GB is the upper bound", "body": {"min_disk": 1024}, "expect": {"min_disk": 1024}},
    "MinDiskUnset": {"reason": "left out, the server applies its default (0 here; the value is inferred)", "body": {"name": "no-disk"}, "expect": {"min_disk": 0}},
    "AllNine": {"reason": "all nine documented fields together", "body": {"__os_version": "Ubuntu 22.04 server 64bit", "visibility": "private", "name": "all", "protected": False, "container_format": "bare", "disk_format": "zvhd2", "tags": ["a=b"], "min_ram": 1024, "min_disk": 40}, "expect": {"name": "all", "min_disk": 40}},
    "ChineseName": {"reason": "letters include Chinese characters", "body": {"name": "生产-基础镜像"}, "expect": {"name": "生产-基础镜像"}},
    "ChineseName128": {"reason": "128 Chinese characters are within the limit", "body": {"name": "镜" * 128}, "expect": {"name": "镜" * 128}},
    "EveryAllowedCharacter": {"reason": "ASCII letters, digits, space, '-', '.', '_' and Chinese", "body": {"name": "Az09 -._一龥"}, "expect": {"name": "Az09 -._一龥"}},
}
# fmt: on


@pytest.mark.parametrize("case", STRICT_CREATE_ACCEPTED.values(), ids=STRICT_CREATE_ACCEPTED.keys())
def test_strict_create_accepts(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    response = api.post("/v2/images", json=case["body"])
    assert response.status_code == 201, f"{case['reason']}: {response.text}"
    image = response.json()
    assert {k: image[k] for k in case["expect"]} == case["expect"], case["reason"]
    assert emu.images() == [image]


def test_strict_create_stores_no_custom_attribute(api: Api) -> None:
    image = api.create(name="plain")
    assert "__description" not in image, "no description unless one is set by PATCH"


def test_description_and_custom_attributes_are_set_by_patch(api: Api) -> None:
    """What a client does on strict IMS: create with the nine fields, then PATCH the rest."""
    image = api.create(name="two-step")
    ops = [{"op": "add", "path": "/__description", "value": "text"}, {"op": "add", "path": "/token", "value": "t"}]
    patched = api.patch(f"/v2/images/{image['id']}", ops)
    assert patched.status_code == 200
    assert (patched.json()["__description"], patched.json()["token"]) == ("text", "t")


# --- create: lenient mode (Glance-like) ----------------------------------------------------------

# fmt: off
LENIENT_CREATE: dict[str, dict[str, Any]] = {
    "ExtraKey": {"reason": "extra keys are custom attributes, as in Glance", "body": {"creation_token": "t-1"}, "status": 201, "expect": {"creation_token": "t-1"}},
    "Description": {"reason": "__description is the description", "body": {"__description": "Base image"}, "status": 201, "expect": {"__description": "Base image"}},
    "MinDiskZero": {"reason": "min_disk 0 ('no minimum') is accepted", "body": {"min_disk": 0}, "status": 201, "expect": {"min_disk": 0}},
    "DuplicateTags": {"reason": "duplicate tags merge, as Glance keeps a set", "body": {"tags": ["a=b", "a=b"]}, "status": 201, "expect": {"tags": ["a=b"]}},
    "MinDisk1025": {"reason": "the upper bound still holds", "body": {"min_disk": 1025}, "status": 400, "code": "IMG.0055"},
    "CustomNotString": {"reason": "custom attributes are still strings", "body": {"build": 1}, "status": 400, "code": "IMG.0001"},
    "ReadOnlyKey": {"reason": "a read-only key is Glance's 403", "body": {"id": UUID}, "status": 403, "code": "IMG.0001"},
    "BadNameStillRefused": {"reason": "the name rules do not depend on the switch", "body": {"name": "a<b"}, "status": 400, "code": "IMG.0003"},
}
# fmt: on


@pytest.mark.parametrize("case", LENIENT_CREATE.values(), ids=LENIENT_CREATE.keys())
def test_lenient_create(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.configure(lenient_create=True)
    response = api.post("/v2/images", json=case["body"])
    assert response.status_code == case["status"], f"{case['reason']}: {response.text}"
    if case["status"] == 201:
        image = response.json()
        assert {k: image[k] for k in case["expect"]} == case["expect"], case["reason"]
    else:
        assert error_code(response) == case["code"], case["reason"]


def test_lenient_create_flag_at_start_up() -> None:
    with Emulator.start(None, "--lenient-create") as emu:
        image = Api(emu.url).create(name="glance-like", __description="d", pulumi_create_token="t", min_disk=0)
        assert (image["__description"], image["pulumi_create_token"], image["min_disk"]) == ("d", "t", 0)
        emu.reset()
        assert requests.get(emu.url + "/_emulator/config", timeout=10).json()["lenient_create"] is True


def test_strict_is_the_default_and_reset_restores_it(emu: Emulator) -> None:
    config = requests.get(emu.url + "/_emulator/config", timeout=10).json()
    assert {k: config[k] for k in ("lenient_create", "lenient_patch", "lenient_list")} == dict.fromkeys(
        ("lenient_create", "lenient_patch", "lenient_list"), False
    )
    emu.configure(lenient_create=True)
    emu.reset()
    assert requests.get(emu.url + "/_emulator/config", timeout=10).json()["lenient_create"] is False


def test_lenient_switch_must_be_boolean(emu: Emulator) -> None:
    response = requests.patch(emu.url + "/_emulator/config", json={"lenient_create": "yes"}, headers=CONTROL, timeout=10)
    assert response.status_code == 400


# --- OS versions newer than the provider's table -------------------------------------------------

NEWER = ["Ubuntu 24.04 server 64bit", "Debian 12.0.0 64bit", "Rocky Linux 9.0 64bit"]


def _os_rows(api: Api) -> dict[str, dict[str, Any]]:
    groups = api.get("/v1/cloudimages/os_version").json()
    return {row["os_version"]: row for group in groups for row in group["version_list"]}


def test_extra_versions_are_unknown_to_the_provider() -> None:
    """Their point: a server newer than the provider's built-in table."""
    assert {"Ubuntu 24.04 server 64bit", *NEWER} <= {row.version for row in EXTRA_OS_VERSIONS}
    known = [row.version for row in EXTRA_OS_VERSIONS if provider_lookup(row.version) is not None]
    assert known == [], "pick newer versions: the provider's table has these now"


def test_os_list_has_the_newer_versions(api: Api) -> None:
    rows = _os_rows(api)
    for row in EXTRA_OS_VERSIONS:
        assert rows[row.version] == {
            "platform": row.platform,
            "os_version_key": row.version,
            "os_version": row.version,
            "os_bit": int(row.os_bit),
            "os_type": row.os_type,
        }
    assert "Ubuntu 22.04 server 64bit" in rows, "the provider's table is still listed"


def test_os_list_keeps_the_documented_shape(api: Api) -> None:
    groups = api.get("/v1/cloudimages/os_version").json()
    platforms = [group["platform"] for group in groups]
    assert len(platforms) == len(set(platforms)), "one group per platform"
    for group in groups:
        assert set(group) == {"platform", "version_list"}
        for row in group["version_list"]:
            assert set(row) == {"platform", "os_version_key", "os_version", "os_bit", "os_type"}
            assert row["platform"] == group["platform"]
            assert type(row["os_bit"]) is int and row["os_bit"] in (32, 64)
    ubuntu = next(group for group in groups if group["platform"] == "Ubuntu")["version_list"]
    assert "Ubuntu 24.04 server 64bit" in [row["os_version"] for row in ubuntu], "grouped with its platform"


def test_image_with_ubuntu_24_04_derives_its_os_fields(api: Api) -> None:
    image = api.create(name="noble", __os_version="Ubuntu 24.04 server 64bit")
    assert image["__os_version"] == "Ubuntu 24.04 server 64bit"
    assert (image["__os_type"], image["__platform"], image["__os_bit"]) == ("Linux", "Ubuntu", "64")


@pytest.mark.parametrize("row", EXTRA_OS_VERSIONS, ids=[row.version for row in EXTRA_OS_VERSIONS])
def test_every_newer_version_can_be_created(api: Api, row: Any) -> None:
    image = api.create(__os_version=row.version.upper())
    assert image["__os_version"] == row.version, "stored in the list's own spelling"
    assert (image["__os_type"], image["__platform"], image["__os_bit"]) == (row.os_type, row.platform, row.os_bit)
