"""Huawei's official SDK (``huaweicloudsdkims``) shares an image through the emulator, signed as two projects.

The owner's client and the member's client are built as in ``test_emulator_sdk.py``
(``BasicCredentials`` with each project's AK/SK and project id); the five native member
calls are the SDK's own, unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import ImsClient
from huaweicloudsdkims.v2.model import (
    GlanceAddImageMemberRequest,
    GlanceAddImageMemberRequestBody,
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceDeleteImageMemberRequest,
    GlanceListImageMemberSchemasRequest,
    GlanceListImageMembersRequest,
    GlanceListImagesRequest,
    GlanceShowImageMemberRequest,
    GlanceShowImageMemberSchemasRequest,
    GlanceShowImageRequest,
    GlanceUpdateImageMemberRequest,
    GlanceUpdateImageMemberRequestBody,
)

from ims_emulator.process import Emulator
from tests.emulator.projects import MEMBER, MEMBER_AK, MEMBER_SK, OWNER, OWNER_AK, OWNER_SK, THIRD

pytestmark = [pytest.mark.contract, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _client(url: str, ak: str, sk: str, project: str) -> ImsClient:
    credentials = BasicCredentials(ak, sk, project)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoints([url]).build()


@pytest.fixture
def owner_sdk(sharing_emu: Emulator) -> ImsClient:
    """The SDK signed as the owner project."""
    return _client(sharing_emu.url, OWNER_AK, OWNER_SK, OWNER)


@pytest.fixture
def member_sdk(sharing_emu: Emulator) -> ImsClient:
    """The SDK signed as the member project."""
    return _client(sharing_emu.url, MEMBER_AK, MEMBER_SK, MEMBER)


@pytest.fixture
def image_id(owner_sdk: ImsClient) -> str:
    body = GlanceCreateImageMetadataRequestBody(name="sdk-shared", os_version="CentOS 7.6 64bit")
    return str(owner_sdk.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body)).id)


def _add(sdk: ImsClient, image_id: str, member_id: str) -> Any:
    body = GlanceAddImageMemberRequestBody(member=member_id)
    return sdk.glance_add_image_member(GlanceAddImageMemberRequest(image_id=image_id, body=body))


def _update(sdk: ImsClient, image_id: str, member_id: str, status: str, vault_id: str | None = None) -> Any:
    body = GlanceUpdateImageMemberRequestBody(status=status, vault_id=vault_id)
    return sdk.glance_update_image_member(GlanceUpdateImageMemberRequest(image_id=image_id, member_id=member_id, body=body))


def _show(sdk: ImsClient, image_id: str, member_id: str) -> Any:
    return sdk.glance_show_image_member(GlanceShowImageMemberRequest(image_id=image_id, member_id=member_id))


def _refused(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientRequestException) as caught:
        call()
    return caught.value.status_code, caught.value.error_code


def test_sdk_member_lifecycle_signed_as_both_projects(owner_sdk: ImsClient, member_sdk: ImsClient, image_id: str) -> None:
    added = _add(owner_sdk, image_id, MEMBER)
    assert (added.status, added.image_id, added.member_id, added.schema) == ("pending", image_id, MEMBER, "/v2/schemas/member")

    mine = member_sdk.glance_list_image_members(GlanceListImageMembersRequest(image_id=image_id))
    assert [m.member_id for m in mine.members] == [MEMBER] and mine.schema == "/v2/schemas/members"
    assert _show(member_sdk, image_id, MEMBER).status == "pending"

    accepted = _update(member_sdk, image_id, MEMBER, "accepted")
    assert (accepted.status, accepted.member_id) == ("accepted", MEMBER)
    assert _show(owner_sdk, image_id, MEMBER).status == "accepted", "the owner sees the member's answer"

    shared = member_sdk.glance_list_images(GlanceListImagesRequest(visibility="shared", member_status="accepted", imagetype="shared"))
    assert [(i.id, i.visibility, i.imagetype) for i in shared.images] == [(image_id, "shared", "shared")]
    shown = member_sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert (shown.owner, shown.visibility) == (OWNER, "shared")

    rejected = _update(member_sdk, image_id, MEMBER, "rejected", vault_id="ignored-vault")
    assert rejected.status == "rejected"
    assert member_sdk.glance_list_images(GlanceListImagesRequest(visibility="shared")).images == [], "rejected: out of the list"

    deleted = owner_sdk.glance_delete_image_member(GlanceDeleteImageMemberRequest(image_id=image_id, member_id=MEMBER))
    assert deleted.status_code == 204
    assert _refused(lambda: _show(member_sdk, image_id, MEMBER)) == (404, "IMG.0027")
    assert _refused(lambda: member_sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))) == (404, "IMG.0027")


def test_sdk_owner_lists_every_member_with_paging(owner_sdk: ImsClient, image_id: str) -> None:
    for project in (MEMBER, THIRD):
        _add(owner_sdk, image_id, project)
    first = owner_sdk.glance_list_image_members(GlanceListImageMembersRequest(image_id=image_id, limit=1))
    assert [m.member_id for m in first.members] == [MEMBER]
    assert first.page_info.current_count == 1 and first.page_info.next_marker
    second = owner_sdk.glance_list_image_members(
        GlanceListImageMembersRequest(image_id=image_id, limit=1, marker=first.page_info.next_marker)
    )
    assert [m.member_id for m in second.members] == [THIRD]
    assert second.page_info.next_marker is None


# fmt: off
#: Refusals the SDK surfaces as ClientRequestException with the IMS code.
SDK_ERRORS: dict[str, dict[str, Any]] = {
    "SelfShare": {"reason": "IMG.0076: not with the owner's own project", "call": lambda o, m, i: _add(o, i, OWNER), "want": (400, "IMG.0076")},
    "AddTwice": {"reason": "Glance's 409 for an existing member", "call": lambda o, m, i: _add(o, i, MEMBER), "want": (409, "IMG.0035")},
    "MemberShares": {"reason": "only the owner adds members", "call": lambda o, m, i: _add(m, i, THIRD), "want": (403, "IMG.0047")},
    "OwnerAccepts": {"reason": "only the member sets its status", "call": lambda o, m, i: _update(o, i, MEMBER, "accepted"), "want": (403, "IMG.0001")},
    "MemberRemovesItself": {"reason": "only the owner removes members", "call": lambda o, m, i: m.glance_delete_image_member(GlanceDeleteImageMemberRequest(image_id=i, member_id=MEMBER)), "want": (403, "IMG.0047")},
    "ShowOtherMember": {"reason": "a member sees only its own membership", "call": lambda o, m, i: _show(m, i, THIRD), "want": (404, "IMG.0027")},
}
# fmt: on


@pytest.mark.parametrize("case", SDK_ERRORS.values(), ids=SDK_ERRORS.keys())
def test_sdk_member_errors(owner_sdk: ImsClient, member_sdk: ImsClient, image_id: str, case: dict[str, Any]) -> None:
    _add(owner_sdk, image_id, MEMBER)
    _add(owner_sdk, image_id, THIRD)
    assert _refused(lambda: case["call"](owner_sdk, member_sdk, image_id)) == case["want"], case["reason"]


def test_sdk_member_schema_calls(owner_sdk: ImsClient) -> None:
    assert owner_sdk.glance_show_image_member_schemas(GlanceShowImageMemberSchemasRequest()).name == "member"
    members = owner_sdk.glance_list_image_member_schemas(GlanceListImageMemberSchemasRequest())
    assert members.name == "members" and members.links[0].rel == "describedby"
