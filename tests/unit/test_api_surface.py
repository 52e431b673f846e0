"""Offline half of the request audit: whatever a program declares, the create body and the
PATCH the provider builds on the IMS profile carry only what Huawei documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_pulumi.core import api_surface
from ims_pulumi.core.framework import json_patch
from ims_pulumi.core.image_metadata import IMAGE_METADATA as TABLE
from ims_pulumi.core.profiles import IMS

pytestmark = pytest.mark.unit

names = st.text(alphabet="abcXYZ019-._ 镜像", min_size=1, max_size=20).map(lambda s: "n" + s.strip() + "n")
props = st.dictionaries(st.sampled_from(["role", "tier", "zone", "owner_team"]), st.text(alphabet="xyz1", max_size=4),
                        max_size=3)
declared = st.fixed_dictionaries({"name": names}, optional={
    "description": st.sampled_from(["", "d", "a longer description"]), "properties": props,
    "tags": st.lists(st.sampled_from(["a=1", "b=2", "team=x"]), max_size=3, unique=True),
    "min_disk": st.integers(1, 1024), "min_ram": st.integers(0, 4096), "protected": st.booleans(),
    "os_version": st.sampled_from(["Ubuntu 22.04 server 64bit", "CentOS 7.9 64bit"]),
    "disk_format": st.sampled_from(["zvhd2", "qcow2", "raw"])})


@settings(max_examples=200, deadline=None)
@given(old=declared, new=declared)
def test_create_and_patch_bodies_are_documented(old: dict[str, Any], new: dict[str, Any]) -> None:
    before, failures = TABLE.check({}, {**old, "__create_token": "t" * 32}, IMS)
    assert not failures, failures
    body = TABLE.create_body(before, IMS)
    assert api_surface.problems("POST", "/v2/images", body) == []
    after, failures = TABLE.check(before, {**new, "__create_token": "t" * 32}, IMS)
    if failures:
        return  # e.g. unprotecting on IMS: refused at preview, never sent
    keys = TABLE.managed_keys(IMS, before, after)
    ops = json_patch(TABLE.patch_body(before, IMS), TABLE.patch_body(after, IMS), keys)
    assert api_surface.problems("PATCH", "/v2/images/i", ops) == []
