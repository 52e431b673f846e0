"""The operations of ``ImageMetadata`` on plain values (:data:`IMAGE_METADATA_OPS`): check (with the
adoption read at preview), create (idempotent, by create token or client-chosen id), read, update
(one converging PATCH) and delete; the content workflow (:mod:`.workflow`) fills the image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .client import ImsClient, uncertain
from .context import Operations, ProviderContext, _recorded_config_hint, check_resource
from .errors import (
    AdoptionMismatch,
    Conflict,
    ImsError,
    NotFound,
)
from .framework import Failure, Table, contains_unknown, json_patch
from .image_metadata import IMAGE_METADATA
from .kinds import FlatMap, OfflineServices
from .lookup import custom_attributes
from .profiles import ServerProfile
from .transport import Budget
from .workflow import _discard_unreadable, _fill, clean_after_delete


def check_image(ctx: ProviderContext, olds: Mapping[str, Any],
                news: Mapping[str, Any]) -> tuple[dict[str, Any], list[Failure]]:
    """The table's check; then, for a resource that will adopt an image (``adopt_id`` known, the
    adoption not done yet), one read of that image, so that the preview fails as ``pulumi up``
    would. Not with ``ims:skipCredentialsValidation`` (an offline preview)."""
    table = IMAGE_METADATA
    inputs, failures = check_resource(table, ctx, olds, news)
    if not failures and ctx.config.validate_credentials and _adopting(inputs):
        profile = ctx.profile
        desired = table.effective(_inputs(table, inputs), profile)
        image_id = str(desired["adopt_id"])
        _adoptable(table, ctx.client.get_image(image_id), image_id, desired, profile)
    return inputs, failures


def create_image(ctx: ProviderContext, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create (or adopt) the image; its id and every output."""
    table = IMAGE_METADATA
    api, profile = ctx.client, ctx.profile
    budget = api.budget()
    desired = table.effective(_inputs(table, props), profile)
    if desired.get("adopt_id") and not desired.get("__adopted"):
        image = _adopt(table, api, desired, profile, budget)
        image = _fill(api, image, desired, ctx.config.upload_timeout, fresh=False, profile=ctx.profile,
                      url_import=ctx.config.url_import, obs=ctx.obs())
    else:
        image = api.create_image(table.create_body(desired, profile), budget=budget, client_id=profile.client_ids)
        # An image found by its create token (an interrupted earlier run) may predate a
        # change of the declared values: bring it to them, from what the server has.
        image = _converge(table, api, image["id"], image, desired, profile, budget, image=image)
        try:
            image = _fill(api, image, desired, ctx.config.upload_timeout, fresh=True, profile=ctx.profile,
                          url_import=ctx.config.url_import, obs=ctx.obs())
        except ImsError as exc:
            _discard_unreadable(api, str(image["id"]), exc)
            raise
    return str(image["id"]), table.outputs_from_image(image, desired)


def read_image(ctx: ProviderContext, id_: str,
               props: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """Refresh from the server: ``(id, outputs, inputs)``; ``None`` for an image deleted since. With no
    previous inputs (``ImageMetadata.get``, ``pulumi import``) every declared input is read."""
    table = IMAGE_METADATA
    with _recorded_config_hint("pulumi refresh"):
        image = ctx.client.get_image(id_)
    previous = _inputs(table, props)
    if image is None:
        if not any(f.name in previous for f in table.user_inputs):
            # ImageMetadata.get(): nothing was known about the image, so this is not
            # "deleted since the last refresh" but a reference to an image that is not there.
            raise NotFound(operation=f"read image {id_}", status=404, message="no such image in this project",
                           hint="Check the id passed to ImageMetadata.get and ims:projectId")
        return None
    inputs = table.inputs_from_image(image, previous)
    if not any(f.kind.declared(previous.get(f.name)) for f in table.user_inputs):
        # A reference or an import (nothing declared yet): every input is read, the custom attributes too
        # (a map kind reads the keys it is given: here, every attribute that is not the server's own).
        custom = custom_attributes(image)
        inputs.update({f.name: f.kind.from_wire(f.wire, image, custom) for f in table.user_inputs
                       if isinstance(f.kind, FlatMap) and custom})
    return id_, table.outputs_from_image(image, inputs), inputs


def update_image(ctx: ProviderContext, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
    """One PATCH (plus tag calls where tags change in place, an upload into a ``queued`` image);
    returns complete outputs."""
    table = IMAGE_METADATA
    api = ctx.client
    desired = table.effective(_inputs(table, news), ctx.profile)
    image = _converge(table, api, id_, None, desired, ctx.profile, api.budget(), state=olds)
    if desired.get("source") and image.get("status") != "active":
        # queued: upload; saving/importing: an earlier run's transfer, waited for (never a second one)
        image = _fill(api, image, desired, ctx.config.upload_timeout, fresh=False, profile=ctx.profile,
                      url_import=ctx.config.url_import, obs=ctx.obs())
    return table.outputs_from_image(image, desired)


def delete_image(ctx: ProviderContext, id_: str, props: Mapping[str, Any] | None = None) -> None:
    """Delete and confirm; a missing image is already deleted; a protected one fails clearly. Then what
    staging the image's source in OBS may have left there (see ``workflow.clean_after_delete``)."""
    with _recorded_config_hint("pulumi destroy"):
        ctx.client.delete_image(id_)
    if props and ctx.profile.registers_from_obs:
        clean_after_delete(ctx.obs(), id_, props.get("source"), props.get("disk_format"), ctx.profile)


IMAGE_METADATA_OPS = Operations(IMAGE_METADATA, check_image, create_image, read_image, delete_image, update_image)


def _adopting(inputs: Mapping[str, Any]) -> bool:
    """Whether creating this resource would adopt an image whose every relevant input is known now."""
    return (isinstance(inputs.get("adopt_id"), str) and bool(inputs["adopt_id"]) and not inputs.get("__adopted")
            and not contains_unknown(dict(inputs)))


def _inputs(table: Table, props: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: props[f.name] for f in table.inputs if props.get(f.name) is not None}


def _converge(
    table: Table, api: ImsClient, image_id: str, server: Mapping[str, Any] | None, desired: Mapping[str, Any],
    profile: ServerProfile, budget: Budget, *, state: Mapping[str, Any] | None = None,
    image: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply the in-place changes that bring the image to ``desired``; safe to repeat.

    The PATCH is the difference between two wire bodies over the keys the stack manages: the
    desired inputs', and either the server's image (``server``) or, on the first attempt of
    an update, the state's view of it (``state``: no read needed, one PATCH). If the outcome
    is uncertain or the state was stale (409), the image is read and the PATCH recomputed
    from what the server really has, within the operation's ``budget``. ``image`` is returned
    as is when nothing changes.
    """
    previous = state if state is not None else desired
    keys = table.managed_keys(profile, previous, desired)
    want = table.patch_body(desired, profile)
    attempt = 0
    while True:
        attempt += 1
        if server is not None:
            have = table.image_wire(server, keys, profile)
            tags_now: Mapping[str, Any] = table.inputs_from_image(server, desired)
        else:
            have = table.patch_body(previous, profile)
            tags_now = previous
        ops = json_patch(have, want, keys)
        add, remove = table.tag_changes(tags_now, desired, profile)
        try:
            if ops:
                image = api.update_image(image_id, ops, budget=budget)
            for tag in add:
                api.add_tag(image_id, tag, budget=budget)
            for tag in remove:
                api.remove_tag(image_id, tag, budget=budget)
            if add or remove or image is None:
                image = api.get_image(image_id, budget=budget)
            if image is None:
                raise NotFound(operation=f"update image {image_id}", status=404,
                               message="the image no longer exists", hint="Run `pulumi refresh`, then `pulumi up`")
            return image
        except ImsError as exc:
            delay = api.transport.backoff(attempt)
            if not (isinstance(exc, Conflict) or uncertain(exc)) or not budget.retry(delay, attempt):
                raise
            api.transport.sleep(delay)
            server = api.get_image(image_id, budget=budget)
            if server is None:
                raise
            image = None


def _mismatch(table: Table, name: str, current: Mapping[str, Any], desired: Mapping[str, Any],
              profile: ServerProfile) -> str:
    """``min_ram: the image has 2048, the program 0 (the default when min_ram is not declared)``."""
    f = table.by_name[name]
    want = f.kind.normalise(desired.get(name), OfflineServices())
    default = f.default(profile) if f.default else None
    note = f" (the default when {name} is not declared)" if default is not None and want == default else ""
    return f"{name}: the image has {current.get(name)!r}, the program {want!r}{note}"


def _adopt(table: Table, api: ImsClient, desired: Mapping[str, Any], profile: ServerProfile,
           budget: Budget) -> dict[str, Any]:
    """Take over an existing image: read it, refuse what only a replacement could change."""
    image_id = str(desired["adopt_id"])
    image = _adoptable(table, api.get_image(image_id, budget=budget), image_id, desired, profile)
    return _converge(table, api, image_id, image, desired, profile, budget, image=image)


def _adoptable(table: Table, image: dict[str, Any] | None, image_id: str, desired: Mapping[str, Any],
               profile: ServerProfile) -> dict[str, Any]:
    """``image`` if the resource can take it over; else the error ``pulumi up`` and the preview both show:
    no such image, or fields that only a replacement could change differ from the image's."""
    if image is None:
        raise NotFound(operation=f"adopt image {image_id}", status=404, message="no such image in this project",
                       hint="Check adopt_id and ims:projectId")
    current = table.outputs_from_image(image, desired)
    fixed = [f.name for f in table.user_inputs
             if f.name in desired and f.wire and not table.in_place(f.name, profile)
             and not f.kind.same(current.get(f.name), desired.get(f.name))]
    if fixed:
        raise AdoptionMismatch(image_id=image_id, fields=fixed,
                               details=[_mismatch(table, n, current, desired, profile) for n in fixed])
    return image
