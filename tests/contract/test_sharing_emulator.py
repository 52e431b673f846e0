"""Sharing providers over real HTTP against the emulator with three projects: add, accept,
reject, remove; what each side sees; a third project sees nothing; errors name the fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ImsError
from ims_pulumi.core.lookup import Lookups
from ims_pulumi.core.profiles import IMS
from ims_pulumi.dynamic.provider import ImageMemberAcceptanceProvider, ImageMemberProvider, TableProvider
from tests.emulator.projects import (
    MEMBER,
    MEMBER_AK,
    MEMBER_SK,
    OWNER,
    OWNER_AK,
    OWNER_SK,
    SHARING_ARGS,
    THIRD,
    THIRD_TOKEN,
)

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator.start(tmp_path_factory.mktemp("sharing"), *SHARING_ARGS) as emu:
        yield emu


def context(url: str, project: str, ak: str = "", sk: str = "", token: str = "") -> ProviderContext:
    raw = {"endpoint": url, "projectId": project, **({"accessKey": ak, "secretKey": sk} if ak else {}),
           **({"authToken": token} if token else {})}
    return ProviderContext(raw, environ={})


def checked(p: TableProvider, news: dict[str, Any]) -> dict[str, Any]:
    result = p.check({}, news)
    assert not result.failures, result.failures
    return dict(result.inputs)


def test_share_accept_reject_remove(server: Emulator) -> None:
    owner_ctx = context(server.url, OWNER, OWNER_AK, OWNER_SK)
    member_ctx = context(server.url, MEMBER, MEMBER_AK, MEMBER_SK)
    third = ImsClient.from_config(context(server.url, THIRD, token=THIRD_TOKEN).config)
    image = owner_ctx.client.create_image({"name": "golden", "disk_format": "qcow2"})

    share = ImageMemberProvider.with_context(owner_ctx)
    created = share.create(checked(share, {"image_id": image["id"], "member_id": MEMBER}))
    assert created.outs["status"] == "pending"
    again = share.create(checked(share, {"image_id": image["id"], "member_id": MEMBER}))
    assert again.id == created.id, "an existing membership is taken over"

    accept = ImageMemberAcceptanceProvider.with_context(member_ctx)
    inputs = checked(accept, {"image_id": image["id"]})
    assert inputs["member_id"] == MEMBER, "defaults to ims:projectId"
    accepted = accept.create(inputs)
    assert accepted.outs["status"] == "accepted"
    assert share.read(created.id, created.outs).outs["status"] == "accepted", "the owner's refresh sees the answer"
    found = Lookups(member_ctx.client, IMS).get_image(id=image["id"], member_status="accepted")
    assert (found.name, found.visibility, found.member_status) == ("golden", "shared", "accepted")
    assert third.get_image(image["id"]) is None, "a third project sees nothing"

    rejected = accept.update(accepted.id, accepted.outs, {**inputs, "status": "rejected"})
    assert rejected.outs["status"] == "rejected"
    assert [i["id"] for i in member_ctx.client.list_images([("visibility", "shared")])] == []
    assert member_ctx.client.get_image(image["id"]) is not None, "a rejected image can still be read"

    share.delete(created.id, created.outs)
    assert accept.read(accepted.id, accepted.outs).id == "", "the consumer's refresh shows the acceptance gone"
    accept.delete(accepted.id, accepted.outs)  # already gone: fine
    share.delete(created.id, created.outs)  # already gone: fine
    owner_ctx.client.delete_image(image["id"])


def test_accepting_an_image_that_is_not_shared_says_who_must_act(server: Emulator) -> None:
    owner_ctx = context(server.url, OWNER, OWNER_AK, OWNER_SK)
    image = owner_ctx.client.create_image({"name": "not-shared", "disk_format": "qcow2"})
    accept = ImageMemberAcceptanceProvider.with_context(context(server.url, MEMBER, MEMBER_AK, MEMBER_SK))
    with pytest.raises(ImsError, match=rf"not shared with project {MEMBER}: the image's owner must add it as a "
                                       rf"member first"):
        accept.create(checked(accept, {"image_id": image["id"]}))
    owner_ctx.client.delete_image(image["id"])


def test_sharing_with_ones_own_project_is_refused_at_preview(server: Emulator, tmp_path: Path) -> None:
    share = ImageMemberProvider.with_context(context(server.url, OWNER, OWNER_AK, OWNER_SK))
    failures = share.check({}, {"image_id": "x", "member_id": OWNER}).failures
    assert failures and "IMG.0076" in failures[0].reason
