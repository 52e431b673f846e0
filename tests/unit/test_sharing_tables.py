"""Sharing resources offline: what check refuses at preview, defaults, and update versus replace."""

from __future__ import annotations

from typing import Any

import pytest

from ims_pulumi.core.kinds import OfflineServices
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile
from ims_pulumi.core.sharing import IMAGE_MEMBER, IMAGE_MEMBER_ACCEPTANCE

pytestmark = pytest.mark.unit

OWN, OTHER = "0a1b2c3d4e5f40718293a4b5c6d7e8f9", "f" * 32


class Project(OfflineServices):
    def project_id(self) -> str:
        return OWN


# (reason, table, profile, inputs, failing field or None, text)
CASES: list[tuple[str, Any, ServerProfile, dict[str, Any], str | None, str]] = [
    ("a member on IMS", IMAGE_MEMBER, IMS, {"image_id": "img-1", "member_id": OTHER}, None, ""),
    ("IMS project ids are 32 hex characters", IMAGE_MEMBER, IMS, {"image_id": "img-1", "member_id": "prod"},
     "member_id", "32 lower-case hex characters"),
    ("Glance project ids are free-form", IMAGE_MEMBER, GLANCE, {"image_id": "img-1", "member_id": "prod"}, None, ""),
    ("sharing with one's own project (IMG.0076)", IMAGE_MEMBER, IMS, {"image_id": "img-1", "member_id": OWN},
     "member_id", "IMG.0076"),
    ("image_id is required", IMAGE_MEMBER, IMS, {"member_id": OTHER}, "image_id", "required"),
    ("status must be accepted or rejected", IMAGE_MEMBER_ACCEPTANCE, IMS, {"image_id": "img-1", "status": "pending"},
     "status", "accepted, rejected"),
    ("acceptance defaults to this project, accepted", IMAGE_MEMBER_ACCEPTANCE, IMS, {"image_id": "img-1"}, None, ""),
]


@pytest.mark.parametrize("reason,table,profile,inputs,field,text", CASES, ids=[c[0] for c in CASES])
def test_check(reason: str, table: Any, profile: ServerProfile, inputs: dict[str, Any], field: str | None,
               text: str) -> None:
    _, failures = table.check({}, inputs, profile, Project())
    if field is None:
        assert not failures, (reason, failures)
    else:
        assert [f.property for f in failures] == [field] and text in failures[0].reason, (reason, failures)


def test_acceptance_defaults() -> None:
    checked, _ = IMAGE_MEMBER_ACCEPTANCE.check({}, {"image_id": "img-1"}, IMS, Project())
    assert "status" not in checked, "a default is applied where it is used, not stored"
    checked = IMAGE_MEMBER_ACCEPTANCE.effective(checked, IMS)
    assert (checked["status"], checked["member_id"]) == ("accepted", OWN)
    _, failures = IMAGE_MEMBER_ACCEPTANCE.check({}, {"image_id": "img-1"}, IMS, OfflineServices())
    assert failures and "ims:projectId" in failures[0].reason, "no project configured: say what to set"


def test_status_changes_in_place_and_the_ids_replace() -> None:
    old = IMAGE_MEMBER_ACCEPTANCE.effective(IMAGE_MEMBER_ACCEPTANCE.check({}, {"image_id": "img-1"}, IMS, Project())[0],
                                            IMS)
    assert IMAGE_MEMBER_ACCEPTANCE.plan(old, {**old, "status": "rejected"}, IMS).replaces == []
    assert IMAGE_MEMBER_ACCEPTANCE.plan(old, {**old, "image_id": "img-2"}, IMS).replaces == ["image_id"]
    member, _ = IMAGE_MEMBER.check({}, {"image_id": "img-1", "member_id": OTHER}, IMS, Project())
    drifted = {**member, "status": "accepted"}
    assert not IMAGE_MEMBER.plan(drifted, member, IMS).changes, "the consumer's answer is an output, never a diff"
