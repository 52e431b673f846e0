"""PATCH /v2/images/{id}: both JSON-patch dialects, IMS update rules, atomicity."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ims_emulator.process import Emulator
from tests.support.emulator_client import PATCH_V20, PATCH_V21, Api, error_code

pytestmark = pytest.mark.contract


def v21(op: str, path: str, value: Any = None) -> dict[str, Any]:
    """A v2.1 operation (``value`` left out for remove)."""
    return {"op": op, "path": path} if op == "remove" else {"op": op, "path": path, "value": value}


def v20(op: str, path: str, value: Any = None) -> dict[str, Any]:
    """A v2.0 operation."""
    return {op: path} if op == "remove" else {op: path, "value": value}


def _base(api: Api) -> dict[str, Any]:
    """An image with a description and a custom attribute, set the documented way: PATCH after create."""
    image = api.create(name="base")
    ops = [v21("add", "/__description", "old"), v21("add", "/build", "1")]
    response = api.patch(f"/v2/images/{image['id']}", ops)
    assert response.status_code == 200, response.text
    return dict(response.json())


# fmt: off
PATCHES: dict[str, dict[str, Any]] = {
    "V21ReplaceName": {"reason": "the name can change", "dialect": PATCH_V21, "ops": [v21("replace", "/name", "new")], "status": 200, "expect": {"name": "new"}},
    "V21AddExistingNameReplaces": {"reason": "IMS: add on an existing attribute acts as replace", "dialect": PATCH_V21, "ops": [v21("add", "/name", "new")], "status": 200, "expect": {"name": "new"}},
    "V21AddCustom": {"reason": "custom attributes can be added", "dialect": PATCH_V21, "ops": [v21("add", "/owner_team", "core")], "status": 200, "expect": {"owner_team": "core"}},
    "V21ReplaceCustom": {"reason": "custom attributes can change", "dialect": PATCH_V21, "ops": [v21("replace", "/build", "2")], "status": 200, "expect": {"build": "2"}},
    "V21RemoveCustom": {"reason": "custom attributes can be removed", "dialect": PATCH_V21, "ops": [v21("remove", "/build")], "status": 200, "absent": "build"},
    "V21ReplaceDescription": {"reason": "__description can change", "dialect": PATCH_V21, "ops": [v21("replace", "/__description", "new text")], "status": 200, "expect": {"__description": "new text"}},
    "V21RemoveDescription": {"reason": "__description can be removed", "dialect": PATCH_V21, "ops": [v21("remove", "/__description")], "status": 200, "absent": "__description"},
    "V21SeveralOps": {"reason": "operations apply in order", "dialect": PATCH_V21, "ops": [v21("add", "/a", "1"), v21("replace", "/a", "2"), v21("replace", "/name", "n2")], "status": 200, "expect": {"a": "2", "name": "n2"}},
    "V21EscapedPointer": {"reason": "~1 in a pointer is '/'", "dialect": PATCH_V21, "ops": [v21("add", "/x~1y", "v")], "status": 200, "expect": {"x/y": "v"}},
    "V20ReplaceName": {"reason": "the v2.0 dialect is understood", "dialect": PATCH_V20, "ops": [v20("replace", "/name", "v20")], "status": 200, "expect": {"name": "v20"}},
    "V20AddCustom": {"reason": "v2.0 add of a new attribute", "dialect": PATCH_V20, "ops": [v20("add", "/k", "v")], "status": 200, "expect": {"k": "v"}},
    "V20RemoveCustom": {"reason": "v2.0 remove", "dialect": PATCH_V20, "ops": [v20("remove", "/build")], "status": 200, "absent": "build"},
    "V20AddExistingConflicts": {"reason": "Glance v2.0: add of a present attribute is a conflict", "dialect": PATCH_V20, "ops": [v20("add", "/build", "2")], "status": 409, "code": "IMG.0035"},
    "V21ReplaceMissingConflicts": {"reason": "replace needs an existing attribute", "dialect": PATCH_V21, "ops": [v21("replace", "/nothing", "x")], "status": 409, "code": "IMG.0035"},
    "V21RemoveMissingConflicts": {"reason": "remove needs an existing attribute", "dialect": PATCH_V21, "ops": [v21("remove", "/nothing")], "status": 409, "code": "IMG.0035"},
    "V20ReplaceMissingConflicts": {"reason": "replace needs an existing attribute (v2.0)", "dialect": PATCH_V20, "ops": [v20("replace", "/nothing", "x")], "status": 409, "code": "IMG.0035"},
    "RemoveNameForbidden": {"reason": "base attributes may not be removed", "dialect": PATCH_V21, "ops": [v21("remove", "/name")], "status": 403, "code": "IMG.0001"},
    "ProtectedReadOnly": {"reason": "IMS: only name, description and custom attributes change", "dialect": PATCH_V21, "ops": [v21("replace", "/protected", True)], "status": 403, "code": "IMG.0001"},
    "NestedTagPath": {"reason": "a pointer into a read-only attribute is still read-only", "dialect": PATCH_V21, "ops": [v21("add", "/tags/0", "a=b")], "status": 403, "code": "IMG.0001"},
    "ReservedLocations": {"reason": "Glance reserved attribute", "dialect": PATCH_V21, "ops": [v21("add", "/locations", [])], "status": 403, "code": "IMG.0001"},
    "NestedCustomPath": {"reason": "only top-level attributes exist", "dialect": PATCH_V21, "ops": [v21("add", "/a/b", "x")], "status": 400, "code": "IMG.0001"},
    "BadName": {"reason": "name rules apply to PATCH too", "dialect": PATCH_V21, "ops": [v21("replace", "/name", "bad/name")], "status": 400, "code": "IMG.0003"},
    "ChineseName": {"reason": "letters include Chinese characters", "dialect": PATCH_V21, "ops": [v21("replace", "/name", "生产-基础镜像")], "status": 200, "expect": {"name": "生产-基础镜像"}},
    "AngleBracketName": {"reason": "'<' is not allowed in a name", "dialect": PATCH_V21, "ops": [v21("replace", "/name", "a<b")], "status": 400, "code": "IMG.0003"},
    "TrailingSpaceName": {"reason": "no trailing space in a name", "dialect": PATCH_V21, "ops": [v21("replace", "/name", "x ")], "status": 400, "code": "IMG.0003"},
    "ImsSupportFlag": {"reason": "strict: __support_* is IMS's attribute, not a custom one", "dialect": PATCH_V21, "ops": [v21("add", "/__support_kvm", "true")], "status": 403, "code": "IMG.0001"},
    "ImsPrefixedKey": {"reason": "strict: '__' keys other than __description belong to IMS", "dialect": PATCH_V21, "ops": [v21("add", "/__anything", "x")], "status": 403, "code": "IMG.0001"},
    "ImsFirmwareType": {"reason": "strict: hw_firmware_type is IMS's attribute", "dialect": PATCH_V21, "ops": [v21("add", "/hw_firmware_type", "uefi")], "status": 403, "code": "IMG.0001"},
    "LongName": {"reason": "name length applies to PATCH too", "dialect": PATCH_V21, "ops": [v21("replace", "/name", "n" * 129)], "status": 400, "code": "IMG.0002"},
    "DescriptionTooLong": {"reason": "__description <= 1024", "dialect": PATCH_V21, "ops": [v21("replace", "/__description", "d" * 1025)], "status": 400, "code": "IMG.0004"},
    "DescriptionBadChar": {"reason": "no '<' in __description", "dialect": PATCH_V21, "ops": [v21("replace", "/__description", "a<b")], "status": 400, "code": "IMG.0054"},
    "CustomNotString": {"reason": "custom values are strings", "dialect": PATCH_V21, "ops": [v21("add", "/n", 1)], "status": 400, "code": "IMG.0001"},
    "BodyNotList": {"reason": "the body is a list", "dialect": PATCH_V21, "ops": {"op": "replace"}, "status": 400, "code": "IMG.0001"},
    "ItemNotObject": {"reason": "each operation is an object", "dialect": PATCH_V21, "ops": ["replace"], "status": 400, "code": "IMG.0001"},
    "UnknownOp": {"reason": "only add, replace, remove", "dialect": PATCH_V21, "ops": [{"op": "move", "from": "/a", "path": "/b"}], "status": 400, "code": "IMG.0001"},
    "MissingValue": {"reason": "replace needs a value", "dialect": PATCH_V21, "ops": [{"op": "replace", "path": "/name"}], "status": 400, "code": "IMG.0001"},
    "RelativePath": {"reason": "a pointer starts with '/'", "dialect": PATCH_V21, "ops": [v21("replace", "name", "x")], "status": 400, "code": "IMG.0001"},
    "V20TwoOps": {"reason": "a v2.0 item names exactly one operation", "dialect": PATCH_V20, "ops": [{"add": "/a", "replace": "/b", "value": "x"}], "status": 400, "code": "IMG.0001"},
    "V21BodyInV20Dialect": {"reason": "the Content-Type picks the dialect", "dialect": PATCH_V20, "ops": [v21("replace", "/name", "x")], "status": 400, "code": "IMG.0001"},
}
# fmt: on

# fmt: off
READ_ONLY = [
    "id", "status", "checksum", "size", "virtual_size", "created_at", "updated_at", "file", "self", "schema",
    "owner", "visibility", "container_format", "disk_format", "min_ram", "min_disk", "tags", "protected",
    "virtual_env_type", "__os_version", "__os_type", "__platform", "__os_bit", "__imagetype", "__isregistered",
    "__image_size", "__image_source_type", "__root_origin",
]
# fmt: on


@pytest.mark.parametrize("case", PATCHES.values(), ids=PATCHES.keys())
def test_patch_rules(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    image = _base(api)
    response = api.patch(f"/v2/images/{image['id']}", case["ops"], dialect=case["dialect"])
    assert response.status_code == case["status"], f"{case['reason']}: {response.text}"
    stored = emu.images()[0]
    if case["status"] != 200:
        assert error_code(response) == case["code"], case["reason"]
        assert stored == image, "a refused PATCH changes nothing"
        return
    assert response.json() == stored, "the response is the stored image"
    for key, value in case.get("expect", {}).items():
        assert stored[key] == value, case["reason"]
    if "absent" in case:
        assert case["absent"] not in stored, case["reason"]


# Glance-like behaviour, so these run with lenient_patch (--lenient-patch).
LENIENT_PATCHES = {
    "SupportFlag": {"reason": "a __support_* key is a custom attribute to Glance", "key": "__support_kvm"},
    "PrefixedKey": {"reason": "any '__' key is a custom attribute to Glance", "key": "__anything"},
    "FirmwareType": {"reason": "hw_firmware_type is a custom attribute to Glance", "key": "hw_firmware_type"},
}


@pytest.mark.parametrize("case", LENIENT_PATCHES.values(), ids=LENIENT_PATCHES.keys())
def test_lenient_patch_takes_ims_attributes(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.configure(lenient_patch=True)
    image = api.create()
    key = case["key"]
    added = api.patch(f"/v2/images/{image['id']}", [v21("add", f"/{key}", "v")])
    assert added.status_code == 200 and added.json()[key] == "v", case["reason"]
    removed = api.patch(f"/v2/images/{image['id']}", [v21("remove", f"/{key}")])
    assert removed.status_code == 200 and key not in removed.json(), case["reason"]


def test_lenient_patch_keeps_server_attributes_read_only(api: Api, emu: Emulator) -> None:
    emu.configure(lenient_patch=True)
    image = api.create()
    response = api.patch(f"/v2/images/{image['id']}", [v21("replace", "/__os_type", "Windows")])
    assert (response.status_code, error_code(response)) == (403, "IMG.0001")


@pytest.mark.parametrize("key", READ_ONLY)
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
def test_read_only_attributes_answer_403(api: Api, key: str, op: str) -> None:
    image = api.create()
    response = api.patch(f"/v2/images/{image['id']}", [v21(op, f"/{key}", "x")])
    assert (response.status_code, error_code(response)) == (403, "IMG.0001")
    assert response.json()["error"]["message"] == f"Attribute '{key}' is read-only."


def test_patch_is_all_or_nothing(api: Api, emu: Emulator) -> None:
    image = api.create(name="keep")
    ops = [v21("replace", "/name", "changed"), v21("add", "/k", "v"), v21("replace", "/status", "active")]
    response = api.patch(f"/v2/images/{image['id']}", ops)
    assert response.status_code == 403
    assert emu.images() == [image]


def test_patch_bumps_updated_at(api: Api) -> None:
    image = api.create(name="t")
    time.sleep(1.05)  # timestamps have one-second resolution
    patched = api.patch(f"/v2/images/{image['id']}", [v21("replace", "/name", "t2")]).json()
    assert patched["updated_at"] > image["updated_at"]
    assert patched["created_at"] == image["created_at"]


def test_empty_patch_changes_nothing(api: Api, emu: Emulator) -> None:
    image = api.create()
    response = api.patch(f"/v2/images/{image['id']}", [])
    assert response.status_code == 200 and response.json() == image
    assert emu.images() == [image]


@pytest.mark.parametrize("content_type", ["application/json", "application/json-patch+json", "text/plain"])
def test_other_content_types_are_415(api: Api, content_type: str) -> None:
    image = api.create()
    response = api.patch(f"/v2/images/{image['id']}", [v21("replace", "/name", "x")], dialect=content_type)
    assert response.status_code == 415
    assert response.headers["Accept-Patch"] == f"{PATCH_V21}, {PATCH_V20}"


def test_patch_unknown_image_is_404(api: Api) -> None:
    response = api.patch("/v2/images/3f6a2335-69a9-437d-8322-d87e4600f516", [v21("replace", "/name", "x")])
    assert (response.status_code, error_code(response)) == (404, "IMG.0027")


def test_allow_protected_patch_switch(api: Api, emu: Emulator) -> None:
    emu.configure(allow_protected_patch=True)
    image = api.create()
    response = api.patch(f"/v2/images/{image['id']}", [v21("replace", "/protected", True)])
    assert response.status_code == 200 and response.json()["protected"] is True
    assert api.delete(f"/v2/images/{image['id']}").status_code == 403
    not_bool = api.patch(f"/v2/images/{image['id']}", [v21("replace", "/protected", "false")])
    assert not_bool.status_code == 400
    removed = api.patch(f"/v2/images/{image['id']}", [v21("remove", "/protected")])
    assert removed.status_code == 403, "protected is a base attribute"
    api.patch(f"/v2/images/{image['id']}", [v21("replace", "/protected", False)])
    assert api.delete(f"/v2/images/{image['id']}").status_code == 204
