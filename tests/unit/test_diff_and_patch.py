"""diff (update versus replace for every field) and json-patch building, offline."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.output import Unknown

from ims_pulumi.core.framework import json_patch
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile

check_inputs = IMAGE_METADATA.check
plan = IMAGE_METADATA.plan


def patch_ops(old: dict[str, Any], new: dict[str, Any], profile: ServerProfile) -> list[dict[str, Any]]:
    """The PATCH from state ``old`` to inputs ``new``, as the provider's first attempt computes it."""
    keys = IMAGE_METADATA.managed_keys(profile, old, new)
    return json_patch(IMAGE_METADATA.patch_body(old, profile), IMAGE_METADATA.patch_body(new, profile), keys)

pytestmark = pytest.mark.unit

def stored(raw: dict[str, Any], profile: ServerProfile) -> dict[str, Any]:
    """What the state holds after a create: outputs echo every input with its default applied."""
    return IMAGE_METADATA.effective(check_inputs({}, raw, profile)[0], profile)


OLD = stored({"name": "img", "tags": ["a=1"], "properties": {"k": "v"}, "description": "d"}, IMS)

# (field, new value, on IMS: "update"|"replace", on Glance: ..., reason)
CHANGES = [
    ("name", "img2", "update", "update", "PATCH /name"),
    ("description", "new", "update", "update", "PATCH /__description"),
    ("properties", {"k": "w"}, "update", "update", "custom attributes are patchable"),
    ("os_version", "CentOS 7.9 64bit", "replace", "replace", "IMS derives OS fields at create only"),
    ("disk_format", "qcow2", "replace", "replace", "not updatable"),
    ("container_format", "bare", None, "replace", "bare is already the IMS default; Glance has none"),
    ("min_disk", 40, "replace", "replace", "not updatable on IMS"),
    ("min_ram", 2048, "replace", "replace", "not updatable on IMS"),
    ("visibility", "private", None, "replace", "private is the IMS default already"),
    ("tags", ["a=1", "b=2"], "replace", "update", "IMS tag API refuses '='; Glance tag API takes any tag"),
    ("protected", True, "replace", "update", "IMS PATCH refuses /protected; Glance allows it"),
    ("adopt_id", "0b6e6a3a-aaaa", None, None, "adding adopt_id to an existing resource changes nothing"),
]


@pytest.mark.parametrize("field,new,ims,glance,reason", CHANGES, ids=[c[0] for c in CHANGES])
def test_update_or_replace_per_field(field: str, new: Any, ims: str | None, glance: str, reason: str) -> None:
    for profile, expected in ((IMS, ims), (GLANCE, glance)):
        old = stored({"name": "img", "tags": ["a=1"], "properties": {"k": "v"}, "description": "d"}, profile)
        result = plan(old, {**old, field: new}, profile)
        if expected is None:
            assert not result.changes, reason
            continue
        assert result.changed == [field], reason
        assert result.replaces == ([field] if expected == "replace" else []), f"{profile.kind}: {reason}"


@pytest.mark.parametrize("old,new,replaces,reason", [
    ("a", "b", ["adopt_id"], "adopting another image replaces"),
    ("a", None, [], "dropping adopt_id after the adoption changes nothing"),
    (None, "a", [], "adopt_id only matters at creation"),
    ("a", "a", [], "unchanged"),
])
def test_adopt_id_changes(old: str | None, new: str | None, replaces: list[str], reason: str) -> None:
    result = plan({**OLD, "adopt_id": old}, {**OLD, "adopt_id": new}, IMS)
    assert result.replaces == replaces and result.changes == bool(replaces), reason


def test_no_change_no_diff() -> None:
    assert not plan(OLD, dict(OLD), IMS).changes


def test_server_added_attributes_never_diff() -> None:
    olds = {**OLD, "status": "active", "os_type": "Linux", "updated_at": "2030-01-01T00:00:00Z", "size": 5}
    assert not plan(olds, dict(OLD), IMS).changes


def test_tag_order_never_diffs() -> None:
    olds = {**OLD, "tags": ["b=2", "a=1"]}
    assert not plan(olds, {**OLD, "tags": ["a=1", "b=2"]}, GLANCE).changes


def test_unknown_counts_as_change_and_replaces_when_the_field_replaces() -> None:
    result = plan(OLD, {**OLD, "name": Unknown(), "min_disk": Unknown()}, IMS)
    assert result.changed == ["name", "min_disk"] and result.replaces == ["min_disk"]


def test_bookkeeping_inputs_do_not_diff() -> None:
    assert not plan({**OLD, "__create_token": "a"}, {**OLD, "__create_token": "b"}, IMS).changes


@pytest.mark.parametrize("old,new,expected,reason", [
    ({"name": "a"}, {"name": "b"}, [{"op": "replace", "path": "/name", "value": "b"}], "existing attribute: replace"),
    ({"description": ""}, {"description": "x"}, [{"op": "add", "path": "/__description", "value": "x"}],
     "attribute not set yet: add"),
    ({"description": "x"}, {"description": "y"}, [{"op": "replace", "path": "/__description", "value": "y"}],
     "description already set: replace"),
    ({"description": "x"}, {"description": ""}, [{"op": "remove", "path": "/__description"}],
     "cleared description: remove"),
    ({"properties": {"a": "1", "b": "2"}}, {"properties": {"b": "3", "c": "4"}},
     [{"op": "remove", "path": "/a"}, {"op": "replace", "path": "/b", "value": "3"},
      {"op": "add", "path": "/c", "value": "4"}], "managed properties: remove, replace, add"),
    ({"protected": False}, {"protected": True}, [], "protected is not patched on IMS (replace instead)"),
    ({"tags": ["a=1"]}, {"tags": ["b=2"]}, [], "tags never go through PATCH"),
])
def test_patch_ops(old: dict[str, Any], new: dict[str, Any], expected: list[dict[str, Any]], reason: str) -> None:
    assert patch_ops(old, new, IMS) == expected, reason


def test_protected_is_patched_on_glance() -> None:
    assert patch_ops({"protected": True}, {"protected": False}, GLANCE) == [
        {"op": "replace", "path": "/protected", "value": False}]


def apply_patch(image: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The json-patch semantics IMS documents (v2.1: add on an existing attribute replaces)."""
    out = copy.deepcopy(image)
    for op in ops:
        key = op["path"].lstrip("/")
        if op["op"] == "remove":
            assert key in out, f"remove of missing {key}"
            del out[key]
        elif op["op"] == "replace":
            assert key in out, f"replace of missing {key}"
            out[key] = op["value"]
        else:
            out[key] = op["value"]
    return out


def as_image(inputs: dict[str, Any]) -> dict[str, Any]:
    image = {"id": "i", "status": "queued", "name": inputs["name"], "protected": False, "tags": []}
    if inputs.get("description"):
        image["__description"] = inputs["description"]
    image.update(inputs.get("properties") or {})
    image["unmanaged_by_others"] = "keep me"
    return image


names = st.text(alphabet="abcxyz019-._ ", min_size=1, max_size=12).map(lambda s: "n" + s.strip() + "n")
props = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.text(alphabet="xyz", max_size=3), max_size=4)


@settings(max_examples=300, deadline=None)
@given(old_name=names, new_name=names, old_desc=st.sampled_from(["", "d1", "d2"]),
       new_desc=st.sampled_from(["", "d1", "d2"]), old_props=props, new_props=props)
def test_property_patch_turns_old_image_into_desired(old_name: str, new_name: str, old_desc: str, new_desc: str,
                                                     old_props: dict[str, str], new_props: dict[str, str]) -> None:
    old = {"name": old_name, "description": old_desc, "properties": old_props}
    new = {"name": new_name, "description": new_desc, "properties": new_props}
    image = as_image(old)
    # from the state (the provider's first attempt) and from the image itself (after a 409)
    current = IMAGE_METADATA.outputs_from_image(image, old)
    assert apply_patch(image, patch_ops(current, new, IMS)) == as_image(new)
    keys = IMAGE_METADATA.managed_keys(IMS, old, new)
    ops = json_patch(IMAGE_METADATA.image_wire(image, keys, IMS), IMAGE_METADATA.patch_body(new, IMS), keys)
    assert apply_patch(image, ops) == as_image(new)


@pytest.mark.parametrize("profile", [IMS, GLANCE], ids=["ims", "glance"])
def test_empty_values_stay_outputs_so_that_references_are_known_at_preview(profile: ServerProfile) -> None:
    # Review finding: an output missing from the state is *unknown* at preview for the SDK, so
    # ImageMetadata("copy", tags=base.tags) of a base without tags would diff at every preview.
    # Empty strings, lists and maps stay; only None (a number not set yet) is left out.
    inputs = IMAGE_METADATA.effective(check_inputs({}, {"name": "img", "__create_token": "t"}, profile)[0], profile)
    image = {"id": "i", "name": "img", "__os_version": inputs["os_version"], "__description": "", "tags": [],
             "status": "queued", "min_ram": 0, "protected": False, "disk_format": inputs.get("disk_format"),
             "container_format": inputs.get("container_format"), "visibility": inputs["visibility"],
             "size": None}
    outs = IMAGE_METADATA.outputs_from_image(image, inputs)
    assert (outs["description"], outs["tags"], outs["properties"], outs["os_type"]) == ("", [], {}, "")
    assert outs["checksum"] == "", "no data yet: empty, not missing"
    assert "size" not in outs, "None is no value"
    assert (outs["min_ram"], outs["protected"]) == (0, False)
    assert not IMAGE_METADATA.plan(outs, inputs, profile).changes
