"""Sharing images between projects, on the members API of the image service: the tables and
operations of ``ImageMember`` (the owner's side) and ``ImageMemberAcceptance`` (the consumer's side).

The owner adds a project as a member (``pending``); the member project accepts or rejects it.
A rejected image disappears from the consumer's image list, but servers already booted from it
keep working.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from .context import Operations, ProviderContext, check_resource
from .errors import (
    ApiError,
    NotFound,
    NotShareable,
    NotShared,
    PermissionDenied,
    SharingError,
)
from .framework import REPLACE, UPDATE, Failure, Field, Role, Table, contains_unknown
from .kinds import Computed, ProjectDefault, Services, Text, unshown_character
from .profiles import ServerProfile

MEMBER_STATUSES = ("accepted", "rejected")


_IMAGE_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


_PROJECT_ID = re.compile(r"[0-9a-f]{32}")


def _v_image_id(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str) or not _IMAGE_ID.fullmatch(value):
        return "must be the id of an image (letters, digits and '-')"
    return None


def _v_project_id(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a project id"
    if problem := unshown_character(value):
        return problem  # Glance takes any member id: it goes into URL paths and every preview
    if p.kind == "ims" and not _PROJECT_ID.fullmatch(value):
        return "must be an IMS project id: 32 lower-case hex characters (the project's ID in the IAM console)"
    return None


def _v_status(value: Any, p: ServerProfile) -> str | None:
    return None if value in MEMBER_STATUSES else f"must be one of {', '.join(MEMBER_STATUSES)}"


def _not_own_project(inputs: Mapping[str, Any], profile: ServerProfile, services: Services,
                     olds: Mapping[str, Any]) -> list[Failure]:
    member, own = inputs.get("member_id"), services.project_id()
    if isinstance(member, str) and own and member == own and not contains_unknown(member):
        return [Failure("member_id", f"member_id {member!r} is this stack's own project (ims:projectId): an image "
                                     "cannot be shared with the project that owns it (IMS IMG.0076)")]
    return []


def _member_known(inputs: Mapping[str, Any], profile: ServerProfile, services: Services,
                  olds: Mapping[str, Any]) -> list[Failure]:
    if inputs.get("member_id") is None:
        return [Failure("member_id", "member_id is not set and ims:projectId is not configured: set one of them")]
    return []


_MEMBER_OUTPUTS = tuple(
    Field(name, Computed(), doc, name, role=Role.OUTPUT) for name, doc in (
        ("status", "The member project's answer: `pending`, `accepted` or `rejected`."),
        ("created_at", "When the image was shared, UTC."),
        ("updated_at", "When the membership last changed, UTC."),
    ))


IMAGE_MEMBER = Table("ImageMember", (
    Field("image_id", Text(_v_image_id), "Id of the image to share (an `ImageMetadata`'s `id`).", "image_id",
          change=REPLACE, required=True),
    Field("member_id", Text(_v_project_id), "Project id to share the image with (IMS: 32 hex characters; not the "
          "owner's own project).", "member_id", change=REPLACE, required=True),
    *_MEMBER_OUTPUTS,
), relations=(_not_own_project,))


IMAGE_MEMBER_ACCEPTANCE = Table("ImageMemberAcceptance", (
    Field("image_id", Text(_v_image_id), "Id of the image shared with this project.", "image_id", change=REPLACE,
          required=True),
    Field("status", Text(_v_status), "`accepted` or `rejected`, changed in place.", "status", change=UPDATE,
          default=lambda p: "accepted"),
    Field("member_id", ProjectDefault(_v_project_id), "The member project (default: this stack's ims:projectId).",
          "member_id", change=REPLACE),
    *(f for f in _MEMBER_OUTPUTS if f.name != "status"),
), relations=(_member_known,))


def _member_outputs(table: Table, member: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    return table.outputs_from_image(member, inputs)


def create_member(ctx: ProviderContext, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Share the image; a membership that already exists is taken over (safe to repeat)."""
    api = ctx.client
    image_id, member_id = str(props["image_id"]), str(props["member_id"])
    member = api.get_member(image_id, member_id)
    if member is None:
        try:
            member = api.add_member(image_id, member_id)
        except PermissionDenied as exc:
            raise _explain_refused_share(exc, api.get_image(image_id), image_id) from exc
    return f"{image_id}/{member_id}", _member_outputs(IMAGE_MEMBER, member, props)


def read_member(ctx: ProviderContext, id_: str,
                props: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """The membership as it is now (its status is an output, never a diff); ``None`` if removed.
    ``id_`` is ``IMAGE_ID/MEMBER_ID`` (``pulumi import`` needs nothing else)."""
    image_id, member_id = _split(id_, props)
    member = ctx.client.get_member(image_id, member_id)
    if member is None:
        return None
    inputs = {"image_id": image_id, "member_id": member_id}
    return id_, _member_outputs(IMAGE_MEMBER, member, inputs), inputs


def delete_member(ctx: ProviderContext, id_: str, props: Mapping[str, Any]) -> None:
    """Stop sharing; a membership or image already gone counts as deleted."""
    image_id, member_id = _split(id_, props)
    ctx.client.remove_member(image_id, member_id)


def _set_status(ctx: ProviderContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    api, table = ctx.client, IMAGE_MEMBER_ACCEPTANCE
    props = table.effective(inputs, ctx.profile)
    image_id, member_id, status = str(props["image_id"]), str(props["member_id"]), str(props["status"])
    try:
        member = api.set_member_status(image_id, member_id, status)
    except (NotFound, PermissionDenied) as exc:
        raise _not_shared(exc, api.get_image(image_id), image_id, member_id) from exc
    return _member_outputs(table, member, props)


def create_acceptance(ctx: ProviderContext, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Accept (or reject) the shared image."""
    return f"{props['image_id']}/{props['member_id']}", _set_status(ctx, props)


def update_acceptance(ctx: ProviderContext, id_: str, olds: Mapping[str, Any],
                      news: Mapping[str, Any]) -> dict[str, Any]:
    """Change the answer in place."""
    return _set_status(ctx, news)


def read_acceptance(ctx: ProviderContext, id_: str,
                    props: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """The membership's current status flows back as an input (drift); ``None`` if the owner removed it."""
    image_id, member_id = _split(id_, props)
    member = ctx.client.get_member(image_id, member_id)
    if member is None:
        return None
    inputs = {"image_id": image_id, "member_id": member_id, "status": member.get("status")}
    return id_, _member_outputs(IMAGE_MEMBER_ACCEPTANCE, member, inputs), inputs


def delete_acceptance(ctx: ProviderContext, id_: str, props: Mapping[str, Any]) -> None:
    """Set the membership back to ``rejected``: the image leaves this project's list (servers
    already booted from it keep working). A membership or image already gone is fine."""
    image_id, member_id = _split(id_, props)
    try:
        ctx.client.set_member_status(image_id, member_id, "rejected")
    except NotFound:
        return


IMAGE_MEMBER_OPS = Operations(IMAGE_MEMBER, functools.partial(check_resource, IMAGE_MEMBER), create_member,
                              read_member, delete_member)


IMAGE_MEMBER_ACCEPTANCE_OPS = Operations(
    IMAGE_MEMBER_ACCEPTANCE, functools.partial(check_resource, IMAGE_MEMBER_ACCEPTANCE), create_acceptance,
    read_acceptance, delete_acceptance, update_acceptance)


def _split(id_: str, props: Mapping[str, Any]) -> tuple[str, str]:
    if props.get("image_id") and props.get("member_id"):
        return str(props["image_id"]), str(props["member_id"])
    image_id, _, member_id = id_.partition("/")
    return image_id, member_id


def _explain_refused_share(exc: ApiError, image: Mapping[str, Any] | None, image_id: str) -> ApiError | SharingError:
    """Glance 33 answers 403 "Not allowed to create members for image X." for an image that is not
    `shared`: read the image to tell that case from a missing permission."""
    visibility = (image or {}).get("visibility")
    if visibility not in (None, "shared") and "not allowed to create members" in exc.api_message.lower():
        return NotShareable(image_id=image_id, visibility=visibility, cause=exc)
    return exc


def _not_shared(exc: ApiError, image: Mapping[str, Any] | None, image_id: str, member_id: str) -> NotShared:
    owner = str(image["owner"]) if image and image.get("owner") else None
    return NotShared(image_id=image_id, member_id=member_id, owner=owner, cause=exc)
