"""The resource framework on its own: a new field is one row, and every derived behaviour
(check, plan, create body, PATCH, outputs, docs) follows from that row with no other change."""

from __future__ import annotations

from typing import Any

import pytest

from ims_pulumi.core.framework import REPLACE, UPDATE, Apply, ByProfile, Field, Role, Table, json_patch
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.kinds import Choice, Computed, Integer, Text
from ims_pulumi.core.profiles import GLANCE, IMS

pytestmark = pytest.mark.unit


def _arch(value: Any, profile: Any) -> str | None:
    return None if value in ("x86_64", "aarch64") else "must be x86_64 or aarch64"


# A copy of the real table with three throwaway rows: an updatable text, a replacing integer
# and a computed output. Nothing else is touched.
TABLE = Table("ImageMetadata", (
    *IMAGE_METADATA.fields,
    Field("architecture", Text(_arch), "CPU architecture.", "hw_architecture", change=UPDATE,
          default=lambda p: "x86_64"),
    Field("cores", Integer("cores", 1, 64), "CPU cores.", "hw_cores", change=REPLACE),
    Field("region_hint", Computed(), "Where the image lives.", "__region", role=Role.OUTPUT),
))


def checked(**news: Any) -> dict[str, Any]:
    """The inputs check stores, with the defaults applied (what create and the outputs see)."""
    inputs, failures = TABLE.check({}, {"name": "img", **news}, IMS)
    assert not failures, failures
    return TABLE.effective(inputs, IMS)


def test_check_fills_the_default_and_validates_with_the_rows_rule() -> None:
    assert checked()["architecture"] == "x86_64"
    assert checked(cores=8.0)["cores"] == 8, "the integer kind normalises Pulumi's floats"
    _, failures = TABLE.check({}, {"name": "img", "architecture": "sparc", "cores": 100}, IMS)
    assert {f.property: f.reason for f in failures} == {
        "architecture": "architecture 'sparc' must be x86_64 or aarch64",
        "cores": "cores 100 must be a whole number of cores from 1 to 64 on IMS",
    }


def test_plan_follows_the_change_rule() -> None:
    old = checked(cores=2)
    assert TABLE.plan(old, {**old, "architecture": "aarch64"}, IMS).replaces == []
    assert TABLE.plan(old, {**old, "architecture": "aarch64"}, IMS).changed == ["architecture"]
    assert TABLE.plan(old, {**old, "cores": 4}, IMS).replaces == ["cores"]


def test_create_body_patch_and_outputs_use_the_wire_name() -> None:
    old = checked(cores=2)
    body = TABLE.create_body(old, GLANCE)
    assert (body["hw_architecture"], body["hw_cores"]) == ("x86_64", 2)
    # IMS documents nine create fields: the new ones wait for the PATCH right after the create
    assert "hw_architecture" not in TABLE.create_body(old, IMS)
    created = {"id": "i", "name": "img"}
    keys = TABLE.managed_keys(IMS, old, old)
    assert {"op": "add", "path": "/hw_architecture", "value": "x86_64"} in json_patch(
        TABLE.image_wire(created, keys, IMS), TABLE.patch_body(old, IMS), keys)
    new = {**old, "architecture": "aarch64"}
    keys = TABLE.managed_keys(IMS, old, new)
    assert "hw_architecture" in keys and "hw_cores" not in keys, "replacing fields are never patched"
    assert json_patch(TABLE.patch_body(old, IMS), TABLE.patch_body(new, IMS), keys) == [
        {"op": "replace", "path": "/hw_architecture", "value": "aarch64"}]
    image = {"id": "i", "name": "img", "hw_architecture": "aarch64", "hw_cores": 2, "__region": "cn-north-4"}
    outs = TABLE.outputs_from_image(image, new)
    assert (outs["architecture"], outs["cores"], outs["region_hint"]) == ("aarch64", 2, "cn-north-4")
    assert TABLE.outputs_from_image({"id": "i"}, new)["region_hint"] == "", "a missing computed string is empty"
    assert "architecture" not in TABLE.check({}, {"name": "img"}, IMS)[0], "the row's default is not stored"


def test_docs_rows_come_from_the_row() -> None:
    inputs = {row[0]: row for row in TABLE.input_rows((IMS, GLANCE))}
    assert inputs["`architecture`"] == ("`architecture`", "str", "`x86_64`", "update in place", "CPU architecture.")
    assert inputs["`cores`"][3] == "replace"
    assert ("`region_hint`", "`__region`", "str", "Where the image lives.") in TABLE.output_rows()


@pytest.mark.parametrize("rule,ims,glance,reason", [
    (UPDATE, Apply.PATCH, Apply.PATCH, "a PATCH everywhere"),
    (REPLACE, Apply.REPLACE, Apply.REPLACE, "a replacement everywhere"),
    (ByProfile(Apply.TAGS, flag="tags_in_place"), Apply.REPLACE, Apply.TAGS, "IMS tag API refuses key=value tags"),
    (ByProfile(Apply.PATCH, flag="protected_in_place"), Apply.REPLACE, Apply.PATCH, "IMS PATCH refuses /protected"),
])
def test_change_rules_by_profile(rule: Any, ims: Apply, glance: Apply, reason: str) -> None:
    assert (rule.apply(IMS), rule.apply(GLANCE)) == (ims, glance), reason


def test_profile_override_flips_a_profile_rule() -> None:
    rule = ByProfile(Apply.PATCH, flag="protected_in_place", setting="ims:protectedInPlace")
    assert rule.apply(IMS.with_overrides(protected_in_place=True)) is Apply.PATCH
    assert rule.describe((IMS, GLANCE)) == (
        "replace on IMS, in place on Glance (`ims:protectedInPlace true`: in place on IMS)")


def test_duplicate_field_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Table("X", (Field("a", Text(), "a", "a"), Field("a", Choice("disk_formats"), "a", "a")))
