"""check: validation and defaults, offline. One case per rule, each with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from ims_pulumi.core.image_metadata import CREATE_TOKEN_PROPERTY, IMAGE_METADATA
from ims_pulumi.core.profiles import GLANCE, IMS

check_inputs = IMAGE_METADATA.check

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {"name": "img-1"}

INVALID = [
    # (reason, inputs, failing field, text the message must contain)
    ("name is required", {}, "name", "required"),
    ("name must be a string", {"name": 5}, "name", "string"),
    ("name too long for IMS (128)", {"name": "a" * 129}, "name", "1-128"),
    ("empty name", {"name": ""}, "name", "1-128"),
    ("name with a character IMS refuses", {"name": "bad/name"}, "name", "letters (Chinese characters included)"),
    ("name with '<'", {"name": "a<b"}, "name", "allowed"),
    ("name with a leading space", {"name": " x"}, "name", "space"),
    ("name with a trailing space", {"name": "x "}, "name", "space"),
    ("accented letters are not in the documented set", {"name": "café"}, "name", "allowed"),
    ("name of Chinese characters with a trailing space", {"name": "镜像 "}, "name", "space"),
    ("unknown os_version", {"os_version": "Ubuntu 99.04 server 64bit"}, "os_version", "not an IMS OS version"),
    ("os_version must be a string", {"os_version": 22}, "os_version", "string"),
    ("unknown disk_format", {"disk_format": "vmdk"}, "disk_format", "zvhd2"),
    ("disk_format case matters", {"disk_format": "QCOW2"}, "disk_format", "one of"),
    ("unknown container_format", {"container_format": "ovf"}, "container_format", "bare"),
    ("visibility other than private on IMS", {"visibility": "public"}, "visibility", "private"),
    ("visibility shared on IMS", {"visibility": "shared"}, "visibility", "private"),
    ("min_ram negative", {"min_ram": -1}, "min_ram", "0 to"),
    ("min_ram beyond a 32-bit integer (IMS documents no other bound)", {"min_ram": 2**31}, "min_ram", "0 to"),
    ("min_ram fractional", {"min_ram": 1.5}, "min_ram", "whole number"),
    ("min_ram as a string", {"min_ram": "1024"}, "min_ram", "whole number"),
    ("min_ram as a bool", {"min_ram": True}, "min_ram", "whole number"),
    ("min_disk over 1024 on IMS", {"min_disk": 1025}, "min_disk", "1 to 1024"),
    ("min_disk 0 on IMS: the create document's range is 1-1024", {"min_disk": 0}, "min_disk", "1 to 1024"),
    ("min_disk negative", {"min_disk": -1}, "min_disk", "1 to 1024"),
    ("protected as a string", {"protected": "yes"}, "protected", "true or false"),
    ("tags not a list", {"tags": "a=b"}, "tags", "list"),
    ("tag without '='", {"tags": ["team"]}, "tags", "key=value"),
    ("tag with an empty key", {"tags": ["=v"]}, "tags", "non-empty key"),
    ("tag longer than 255", {"tags": ["k=" + "v" * 254]}, "tags", "1-255"),
    ("tag not a string", {"tags": [1]}, "tags", "string"),
    ("10 tags on IMS: one of the 10 carries the create token", {"tags": [f"k{i}=v" for i in range(10)]}, "tags",
     "at most 9"),
    ("a tag with the create token's key", {"tags": ["pulumi-create-token=x"]}, "tags", "reserves"),
    ("a tag with spaces around its key", {"tags": ["team = legacy"]}, "tags", "spaces around its key"),
    ("description too long", {"description": "d" * 1025}, "description", "1024"),
    ("description with '<'", {"description": "<b>"}, "description", "'<'"),
    ("description with CR", {"description": "a\rb"}, "description", "carriage return"),
    ("properties not a map", {"properties": ["a"]}, "properties", "map"),
    ("property value not a string", {"properties": {"k": 1}}, "properties", "must be a string"),
    ("property value a bool", {"properties": {"k": True}}, "properties", "quote numbers"),
    ("property key of an input's attribute", {"properties": {"name": "x"}}, "properties", "set that input instead"),
    ("property key of an attribute the server sets (no such input)", {"properties": {"owner": "x"}}, "properties",
     "an image attribute the server sets"),
    ("property key reserved: __ prefix", {"properties": {"__os_type": "x"}}, "properties", "reserved"),
    ("property key reserved: os_glance_", {"properties": {"os_glance_x": "1"}}, "properties", "reserved"),
    ("property key reserved: create token", {"properties": {CREATE_TOKEN_PROPERTY: "x"}}, "properties",
     "reserved"),
    ("property value too long", {"properties": {"k": "v" * 1025}}, "properties", "1024"),
    ("adopt_id with bad characters", {"adopt_id": "../x"}, "adopt_id", "existing image"),
    ("unknown input (typo)", {"min_mem": 1}, "min_mem", "unknown input"),
]


@pytest.mark.parametrize("reason,inputs,field,text", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_inputs_fail_with_an_actionable_message(reason: str, inputs: dict[str, Any], field: str,
                                                        text: str) -> None:
    _, failures = check_inputs({}, {**BASE, **inputs} if field != "name" or "name" in inputs else inputs, IMS)
    assert [f.property for f in failures] == [field], reason
    assert text in failures[0].reason, f"{reason}: {failures[0].reason}"
    assert field in failures[0].reason, "the message names the field"


def test_defaults_are_what_ims_applies() -> None:
    inputs, failures = check_inputs({}, {"name": "x"}, IMS)
    assert not failures
    effective = IMAGE_METADATA.effective(inputs, IMS)
    assert {k: v for k, v in effective.items() if k != "name"} == {
        "os_version": "Other Linux(64 bit)", "disk_format": "zvhd2", "container_format": "bare", "min_ram": 0, "tags": [], "protected": False, "visibility": "private", "description": "", "properties": {},
    }


def test_defaults_are_not_stored_in_inputs() -> None:
    # Issue 16: a default is a fact of the table and the server; storing it in every resource's
    # inputs cost state bytes at every step. Only what the program declares is stored.
    inputs, failures = check_inputs({}, {"name": "x", "min_ram": 0}, IMS)
    assert not failures
    assert inputs == {"name": "x", "min_ram": 0}, "declared values are kept, even when equal to the default"


def test_glance_defaults_leave_formats_unset() -> None:
    inputs, _ = check_inputs({}, {"name": "x"}, GLANCE)
    effective = IMAGE_METADATA.effective(inputs, GLANCE)
    assert "disk_format" not in effective and effective["visibility"] == "shared"


@pytest.mark.parametrize("field,value,normalised,reason", [
    ("os_version", "ubuntu 22.04 SERVER 64bit", "Ubuntu 22.04 server 64bit", "IMS spelling, so refresh shows no diff"),
    ("tags", ["b=2", "a=1", "b=2"], ["a=1", "b=2"], "tag order and duplicates never cause a diff"),
    ("min_ram", 1024.0, 1024, "Pulumi numbers arrive as floats"),
])
def test_normalisation(field: str, value: Any, normalised: Any, reason: str) -> None:
    inputs, failures = check_inputs({}, {"name": "x", field: value}, IMS)
    assert not failures and inputs[field] == normalised, reason


@pytest.mark.parametrize("field,value,reason", [
    ("name", "生产-基础镜像", "Huawei's current rule: letters including Chinese characters"),
    ("name", "web 2.0_base-image", "ASCII letters, digits, spaces, '-', '.', '_'"),
    ("min_disk", 1, "the lower end of 1-1024"),
    ("min_disk", 1024, "the upper end of 1-1024"),
    ("tags", [f"k{i}=v" for i in range(9)], "nine tags and the create token make IMS's ten"),
])
def test_ims_accepts_what_its_documents_allow(field: str, value: Any, reason: str) -> None:
    _, failures = check_inputs({}, {"name": "x", field: value}, IMS)
    assert not failures, reason


def test_min_disk_not_set_is_not_sent() -> None:
    inputs, _ = check_inputs({}, {"name": "x"}, IMS)
    assert "min_disk" not in inputs and "min_disk" not in IMAGE_METADATA.create_body(inputs, IMS)


@pytest.mark.parametrize("field,value,reason", [
    ("name", "名前 with / slash", "Glance accepts any characters"),
    ("min_disk", 0, "Glance: 0 means no minimum"),
    ("disk_format", "vmdk", "a Glance disk format"),
    ("visibility", "public", "Glance visibility"),
    ("tags", ["plain-tag", "another"], "Glance tags need no '='"),
    ("min_disk", 4096, "no 1024 limit on Glance"),
])
def test_glance_accepts_what_glance_accepts(field: str, value: Any, reason: str) -> None:
    _, failures = check_inputs({}, {"name": "x", field: value}, GLANCE)
    assert not failures, reason


def test_unknown_values_pass_through_untouched() -> None:
    unknown = Unknown()
    inputs, failures = check_inputs({}, {"name": unknown, "tags": unknown, "min_disk": unknown}, IMS)
    assert not failures
    assert inputs["name"] is unknown and inputs["tags"] is unknown and inputs["min_disk"] is unknown


def test_nested_unknowns_pass_through() -> None:
    unknown = Unknown()
    inputs, failures = check_inputs({}, {"name": "x", "tags": [unknown, "a=b"], "properties": {"k": unknown}}, IMS)
    assert not failures and inputs["tags"][0] is unknown and inputs["properties"]["k"] is unknown


def test_engine_keys_are_kept() -> None:
    inputs, _ = check_inputs({}, {"name": "x", "__provider": "pickled"}, IMS)
    assert inputs["__provider"] == "pickled"


def test_output_placeholders_are_not_unknown_inputs() -> None:
    _, failures = check_inputs({}, {"name": "x", "status": None, "os_type": None}, IMS)
    assert not failures


class TestImpossibleChanges:
    """Changes with no path fail at preview, with what to do."""

    RAW = {"name": "x", "protected": True, "disk_format": "qcow2"}
    OLD = IMAGE_METADATA.effective(check_inputs({}, RAW, IMS)[0], IMS)  # olds: outputs, with defaults

    def test_unprotect_on_ims_fails_with_guidance(self) -> None:
        _, failures = check_inputs(self.OLD, {**self.OLD, "protected": False}, IMS)
        assert failures and failures[0].property == "protected"
        assert "ims:protectedInPlace" in failures[0].reason

    def test_unprotect_on_glance_is_an_update(self) -> None:
        old = IMAGE_METADATA.effective(check_inputs({}, self.RAW, GLANCE)[0], GLANCE)
        _, failures = check_inputs(old, {**old, "protected": False}, GLANCE)
        assert not failures

    def test_replacing_a_protected_image_fails_with_two_step_advice(self) -> None:
        old = IMAGE_METADATA.effective(check_inputs({}, self.RAW, GLANCE)[0], GLANCE)
        _, failures = check_inputs(old, {**old, "disk_format": "raw"}, GLANCE)
        assert failures and "first run `pulumi up` with only protected=False" in failures[0].reason

    def test_replacing_an_unprotected_image_is_fine(self) -> None:
        old = {**self.OLD, "protected": False}
        _, failures = check_inputs(old, {**old, "disk_format": "raw"}, IMS)
        assert not failures

    # check() has the previous inputs, not the image's state: it refuses only what is certain.
    @pytest.mark.parametrize("change,reason", [
        ({"source": {"kind": "url", "location": "https://example.com/x.qcow2"}},
         "adding a source to a protected queued image is an upload in place (whether it would replace "
         "depends on the status, which only diff sees)"),
        ({"disk_format": Unknown()}, "a replace-only field from another resource's output may keep its value"),
    ], ids=["source added", "unknown value"])
    def test_protected_images_are_refused_only_for_certain_replacements(self, change: dict[str, Any],
                                                                      reason: str) -> None:
        stored = check_inputs({}, self.RAW, IMS)[0]  # what check() gets as olds: the stored inputs
        _, failures = check_inputs(stored, {**self.RAW, **change}, IMS)
        assert not failures, f"{reason}: {failures}"
