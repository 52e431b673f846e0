"""The dynamic provider: thin methods over the field table (:mod:`.schema`) and the client.

Pickled *by reference* into every resource's state (module path + class name), so this
module must stay importable under this name and free of import side effects. Nothing is
stored on the instance: configuration lives in this module for the life of the provider
process, and credentials never reach the pickle.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from . import schema
from .client import ImsClient, _uncertain
from .config import SETTINGS, ProviderConfig, resolve
from .errors import Conflict, ImsError, NotFound
from .transport import warn_insecure

_lock = threading.Lock()
_raw_config: dict[str, Any] = {}
#: Images this process deleted. A replacement deletes first, then creates: when the resource
#: still declares ``adopt_id`` of the image it just deleted, the new image is created fresh.
_deleted: set[str] = set()
_resolved: ProviderConfig | None = None
_client: ImsClient | None = None


def _config() -> ProviderConfig:
    """The validated configuration (stack config first, then ``HW_*`` environment)."""
    global _resolved
    with _lock:
        if _resolved is None:
            _resolved = resolve(lambda key: _raw_config.get(key))
            if _resolved.insecure:
                warn_insecure(_resolved.endpoint)  # at preview too, not only when a client is made
        return _resolved


def _api() -> ImsClient:
    global _client
    cfg = _config()
    with _lock:
        if _client is None:
            _client = ImsClient.from_config(cfg)
        return _client


def use_config(raw: Mapping[str, Any] | None = None) -> None:
    """Replace this process's raw ``ims:*`` settings (keys without the namespace) and drop the client.

    Called by ``configure()``; tests call it to run several configurations in one process.
    """
    global _resolved, _client
    with _lock:
        _raw_config.clear()
        _raw_config.update(raw or {})
        _resolved = None
        if _client is not None:
            _client.close()
        _client = None


class ImageMetadataProvider(ResourceProvider):
    """CRUD for ``ImageMetadata``. See the README for the behaviour of each method."""

    # Nothing secret is captured by the instance, so the pickle (module + class name) can be
    # stored as plain text: smaller state, no per-resource encryption.
    serialize_as_secret_always = False

    def configure(self, req: ConfigureRequest) -> None:
        """Keep the ``ims:*`` stack config for this process; validated on first use."""
        raw = {}
        for setting in SETTINGS:
            value = req.config.get(f"ims:{setting.key}")
            if value is not None:
                raw[setting.key] = value
        use_config(raw)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and fill defaults offline; unknown values pass through."""
        profile = _config().profile
        inputs, failures = schema.check_inputs(_olds, news, profile)
        return CheckResult(inputs, [CheckFailure(f.property, f.reason) for f in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare declared fields only; replacement deletes first (names may be unique)."""
        plan = schema.plan(olds, news, _config().profile)
        return DiffResult(changes=plan.changes, replaces=plan.replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create (or adopt) the image and return every output."""
        cfg, api = _config(), _api()
        desired = _inputs(props)
        if desired.get("adopt_id") and desired["adopt_id"] not in _deleted:
            image = _adopt(api, desired, cfg.profile)
        else:
            image = api.create_image(schema.to_create_body(desired, cfg.profile))
            # An image found by its create token (an interrupted earlier run) may predate a
            # change of the declared values: bring it to them.
            current = schema.outputs_from_image(image, desired, cfg.profile)
            image = _converge(api, image["id"], current, desired, cfg.profile, image)
        return CreateResult(image["id"], schema.outputs_from_image(image, desired, cfg.profile))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh from the server; a missing image reports the resource gone."""
        cfg, api = _config(), _api()
        image = api.get_image(id_)
        previous = _inputs(props)
        if image is None:
            if not any(f.name in previous for f in schema.USER_INPUTS):
                # ImageMetadata.get(): nothing was known about the image, so this is not
                # "deleted since the last refresh" but a reference to an image that is not there.
                raise NotFound(operation=f"read image {id_}", status=404, message="no such image in this project",
                               hint="Check the id passed to ImageMetadata.get and ims:projectId")
            return ReadResult("", {})
        managed = set((previous.get("properties") or {}).keys())
        inputs = schema.inputs_from_image(image, managed, cfg.profile, previous)
        return ReadResult(id_, schema.outputs_from_image(image, inputs, cfg.profile), inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """One PATCH (plus tag calls where tags change in place); returns complete outputs."""
        cfg, api = _config(), _api()
        desired = _inputs(news)
        image = _converge(api, id_, olds, desired, cfg.profile)
        return UpdateResult(schema.outputs_from_image(image, desired, cfg.profile))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        """Delete and confirm; a missing image is already deleted; a protected one fails clearly."""
        _api().delete_image(id_)
        with _lock:
            _deleted.add(id_)


def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: props[f.name] for f in schema.INPUTS if props.get(f.name) is not None}


def _converge(
    api: ImsClient, image_id: str, current: Mapping[str, Any], desired: Mapping[str, Any],
    profile: schema.ServerProfile, image: dict[str, Any] | None = None, attempts: int = 4,
) -> dict[str, Any]:
    """Apply the in-place changes from ``current`` to ``desired``; safe to repeat.

    The first attempt trusts ``current`` (the state), costing one PATCH. If the outcome is
    uncertain or the state was stale (409), the image is read and the patch recomputed
    from what the server really has. ``image`` is returned as is when nothing changes.
    """
    tags_in_place = schema.in_place(schema.BY_NAME["tags"], profile)
    for attempt in range(1, attempts + 1):
        ops = schema.patch_ops(current, desired, profile)
        add, remove = schema.tag_changes(current, desired) if tags_in_place else ([], [])
        try:
            if ops:
                image = api.update_image(image_id, ops)
            for tag in add:
                api.add_tag(image_id, tag)
            for tag in remove:
                api.remove_tag(image_id, tag)
            if add or remove or image is None:
                image = api.get_image(image_id)
            if image is None:
                raise NotFound(operation=f"update image {image_id}", status=404,
                               message="the image no longer exists", hint="Run `pulumi refresh`, then `pulumi up`")
            return image
        except ImsError as exc:
            if attempt == attempts or not (isinstance(exc, Conflict) or _uncertain(exc)):
                raise
            fresh = api.get_image(image_id)
            if fresh is None:
                raise
            keys = set((current.get("properties") or {}).keys()) | set((desired.get("properties") or {}).keys())
            current = schema.outputs_from_image(fresh, {**desired, "properties": dict.fromkeys(keys, "")}, profile)
            image = None
    raise AssertionError("unreachable")


def _adopt(api: ImsClient, desired: Mapping[str, Any], profile: schema.ServerProfile) -> dict[str, Any]:
    """Take over an existing image: read it, refuse what only a replacement could change."""
    image_id = str(desired["adopt_id"])
    image = api.get_image(image_id)
    if image is None:
        raise NotFound(operation=f"adopt image {image_id}", status=404, message="no such image in this project",
                       hint="Check adopt_id and ims:projectId")
    keys = (desired.get("properties") or {}).keys()
    current = schema.outputs_from_image(image, {**desired, "properties": dict.fromkeys(keys, "")}, profile)
    fixed = [f.name for f in schema.USER_INPUTS
             if f.name in desired and f.wire and not schema.in_place(f, profile)
             and not schema.same_value(f, current.get(f.name), desired.get(f.name))]
    if fixed:
        detail = "; ".join(f"{n}: image has {current.get(n)!r}, declared {desired.get(n)!r}" for n in fixed)
        raise ImsError(f"adopt image {image_id}: these fields cannot be changed in place, declare the image's "
                       f"values instead: {detail}")
    return _converge(api, image_id, current, desired, profile, image)
