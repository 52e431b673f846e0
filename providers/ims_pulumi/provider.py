"""The dynamic provider of ``ImageMetadata``: thin methods over its table and the client.

Pickled *by reference* into every resource's state (module path + class name), so this
module must stay importable under this name and free of import side effects. The instance
pickles empty: ``configure()`` builds a :class:`ProviderContext` (settings, client) on the
instance in the provider process, after the program has pickled it, and ``__getstate__``
keeps it out of any pickle, so credentials never reach the state.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

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

from . import content, os_versions
from .client import ImsClient, uncertain
from .config import SETTINGS, ProviderConfig, resolve
from .errors import (
    AuthenticationFailed,
    Conflict,
    ImsError,
    NotFound,
    PermissionDenied,
    TransportError,
)
from .framework import Failure, Plan, Table, contains_unknown, json_patch
from .image_metadata import IMAGE_METADATA
from .kinds import FlatMap, OfflineServices, TokenTag
from .lookup import custom_attributes
from .profiles import ServerProfile
from .transport import Budget, warn, warn_insecure
from .workflow import (  # the content workflow; re-exported: its names were provider's until 0.4
    _discard_unreadable,
    _fill,
)


class ProviderContext:
    """What one provider process works with: the validated settings and one client.

    Built from the raw ``ims:*`` settings by ``configure()`` (tests build one directly).
    Settings are validated on first use, so a configuration problem is reported by the
    first call (``check`` at preview) with its message, not as a failed configure.
    """

    def __init__(self, raw: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                 client: ImsClient | None = None) -> None:
        self._raw = dict(raw or {})
        self._environ = environ
        self._lock = threading.Lock()
        self._config: ProviderConfig | None = None
        self._client = client  # tests and tools may bring their own (a recording transport, say)
        #: Scratch space of the field kinds for this process (see ``Kind.derive``).
        self.memo: dict[Any, Any] = {}
        self._os_versions: Mapping[str, str] | None = None
        self._os_versions_read = False
        self._probed: ImsError | bool = False

    @classmethod
    def from_request(cls, req: ConfigureRequest) -> ProviderContext:
        """The context for the ``ims:*`` keys of a configure request."""
        raw = {}
        for setting in SETTINGS:
            value = req.config.get(f"ims:{setting.key}")
            if value is not None:
                raw[setting.key] = value
        return cls(raw)

    @property
    def config(self) -> ProviderConfig:
        """The validated configuration (stack config first, then ``HW_*`` environment)."""
        with self._lock:
            if self._config is None:
                self._config = resolve(self._raw.get, self._environ)
                if self._config.insecure:
                    warn_insecure(self._config.endpoint)  # at preview too, not only when a client is made
            return self._config

    @property
    def profile(self) -> ServerProfile:
        """The server profile of the configured endpoint."""
        return self.config.profile

    @property
    def client(self) -> ImsClient:
        """The one client of this context (made on first use)."""
        config = self.config
        with self._lock:
            if self._client is None:
                self._client = ImsClient.from_config(config)
            return self._client

    def validate_credentials(self) -> None:
        """Once per process, at the first check: one authenticated request, so that `pulumi preview`
        fails on a wrong key or an unreachable endpoint as `pulumi up` would (off with
        ``ims:skipCredentialsValidation``). The outcome, success or error, is kept."""
        if not self.config.validate_credentials:
            return
        with self._lock:
            outcome = self._probed
        if outcome is False:
            try:
                self.client.probe()
                outcome = True
            except (AuthenticationFailed, PermissionDenied, TransportError) as exc:
                outcome = exc
            with self._lock:
                self._probed = outcome
        if isinstance(outcome, ImsError):
            raise outcome

    def os_versions(self) -> Mapping[str, str] | None:
        """The region's OS versions, read at most once per process (``None`` if that failed).

        Only asked for a value the built-in table does not know, so a preview of known values
        sends no request for it.
        """
        with self._lock:
            if self._os_versions_read:
                return self._os_versions
        try:
            found: Mapping[str, str] | None = {os_versions.key(v): v for v in self.client.os_versions()}
        except ImsError as exc:
            self.warn(f"could not read the region's OS versions: {exc}")
            found = None
        with self._lock:
            if not self._os_versions_read:
                self._os_versions, self._os_versions_read = found, True
            return self._os_versions

    def warn(self, message: str) -> None:
        """A warning the CLI shows next to the resource."""
        warn(message)

    def project_id(self) -> str:
        """The configured project (``ims:projectId``), or "" when none is set."""
        return self.config.credentials.project_id

    def upload_limit(self) -> int | None:
        """AK/SK-signed requests carry at most 12 MB (IMS documents it); token auth has no limit."""
        return content.AKSK_BODY_LIMIT if self.config.credentials.mode == "aksk" else None

    def close(self) -> None:
        """Release the client's connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None


class TableProvider(ResourceProvider):
    """What every provider of this package shares: the context ``configure()`` builds, and
    ``check``/``diff`` driven by the resource's table."""

    # Nothing secret is captured by the instance, so the pickle (module + class name) can be
    # stored as plain text: smaller state, no per-resource encryption.
    serialize_as_secret_always = False
    table: Table
    # Class-level default: unpickling restores no instance state and never calls __init__.
    _context: ProviderContext | None = None

    def __getstate__(self) -> None:
        """Pickle nothing of the instance (the context holds credentials and a live client)."""
        return None

    @classmethod
    def with_context(cls: type[P], context: ProviderContext) -> P:
        """A provider working with ``context`` (what ``configure()`` does, for tests and tools)."""
        provider = cls()
        provider._context = context
        return provider

    @property
    def context(self) -> ProviderContext:
        """The context built by ``configure()`` (settings from the environment alone without it)."""
        if self._context is None:
            self._context = ProviderContext()
        return self._context

    def configure(self, req: ConfigureRequest) -> None:
        """Keep the ``ims:*`` stack config for this provider; validated on first use."""
        self._context = ProviderContext.from_request(req)

    #: The operations of this resource on plain values (shared with the ``ims`` plugin).
    ops: Operations

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and fill defaults; unknown values pass through. The first check of a process
        also proves endpoint and credentials (one request, see ``validate_credentials``)."""
        inputs, failures = self.ops.check(self.context, _olds, news)
        # a failure whose value would not print as itself is reported without its property: the CLI
        # would print the raw value next to the message (see framework.Failure.quote)
        return CheckResult(inputs, [CheckFailure(f.property if f.quote else "", f.reason) for f in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare declared fields only (:func:`diff_resource`)."""
        plan, delete_first = diff_resource(self.context, self.table, olds, news)
        return DiffResult(changes=plan.changes, replaces=plan.replaces, delete_before_replace=delete_first)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the object and return every output (:attr:`Operations.create`)."""
        id_, outs = self.ops.create(self.context, props)
        return CreateResult(id_, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh from the server; an object that is gone reports the resource gone."""
        found = self.ops.read(self.context, id_, props)
        return ReadResult("", {}) if found is None else ReadResult(*found)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Apply in-place changes; returns complete outputs."""
        if self.ops.update is None:
            return super().update(id_, olds, news)
        return UpdateResult(self.ops.update(self.context, id_, olds, news))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        """Delete the object; one already gone counts as deleted."""
        self.ops.delete(self.context, id_, _props)


# --- the operations, on plain values: the dynamic provider above and the plugin both call them -----------

#: ``check(context, olds, news) -> (inputs, failures)``.
CheckOp = Callable[["ProviderContext", Mapping[str, Any], Mapping[str, Any]], "tuple[dict[str, Any], list[Failure]]"]


def check_resource(table: Table, ctx: ProviderContext, olds: Mapping[str, Any],
                   news: Mapping[str, Any]) -> tuple[dict[str, Any], list[Failure]]:
    """Validate and fill defaults (the table's check); the first check of a process also proves
    endpoint and credentials (one request, see ``validate_credentials``)."""
    ctx.validate_credentials()
    return table.check(olds, news, ctx.profile, ctx)


def diff_resource(ctx: ProviderContext, table: Table, olds: Mapping[str, Any],
                  news: Mapping[str, Any]) -> tuple[Plan, bool]:
    """The plan and whether a replacement deletes first. A replacement creates the new object before
    it deletes the old one (Pulumi's default: a failed create leaves the old object as it was) where
    the new one's create token tells them apart (:func:`_create_first`); otherwise it deletes first."""
    return table.plan(olds, news, ctx.profile), not _create_first(table, olds, news)


@dataclass(frozen=True)
class Operations:
    """What a resource does, on plain values: ``create`` returns ``(id, outputs)``, ``read``
    ``(id, outputs, inputs)`` or ``None`` when the object is gone, ``update`` the outputs
    (``None``: every change replaces). Both adapters (the dynamic provider, the plugin) only
    translate values to and from these."""

    table: Table
    check: CheckOp
    create: Callable[[ProviderContext, dict[str, Any]], tuple[str, dict[str, Any]]]
    read: Callable[[ProviderContext, str, dict[str, Any]], tuple[str, dict[str, Any], dict[str, Any]] | None]
    delete: Callable[[ProviderContext, str, dict[str, Any]], None]
    update: Callable[[ProviderContext, str, dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None


P = TypeVar("P", bound=TableProvider)


def _create_first(table: Table, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Whether a replacement may create the new object before deleting the old one: only when the
    table has a create token (a look-up by it must not find the old object) and the replacement's
    token differs from the old object's (it does not after ``--replace`` or ``replace_on_changes``
    with unchanged values: then the old object goes first). Tables without one delete first."""
    tokens = [f for f in table.inputs if isinstance(f.kind, TokenTag)]
    return bool(tokens) and all(f.kind.distinct(olds.get(f.name), news, f.name) for f in tokens
                                if isinstance(f.kind, TokenTag))


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
                      url_import=ctx.config.url_import)
    else:
        image = api.create_image(table.create_body(desired, profile), budget=budget, client_id=profile.client_ids)
        # An image found by its create token (an interrupted earlier run) may predate a
        # change of the declared values: bring it to them, from what the server has.
        image = _converge(table, api, image["id"], image, desired, profile, budget, image=image)
        try:
            image = _fill(api, image, desired, ctx.config.upload_timeout, fresh=True, profile=ctx.profile,
                          url_import=ctx.config.url_import)
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
                      url_import=ctx.config.url_import)
    return table.outputs_from_image(image, desired)


def delete_image(ctx: ProviderContext, id_: str, props: Mapping[str, Any] | None = None) -> None:
    """Delete and confirm; a missing image is already deleted; a protected one fails clearly."""
    with _recorded_config_hint("pulumi destroy"):
        ctx.client.delete_image(id_)


IMAGE_METADATA_OPS = Operations(IMAGE_METADATA, check_image, create_image, read_image, delete_image, update_image)


class ImageMetadataProvider(TableProvider):
    """CRUD for ``ImageMetadata`` (:data:`IMAGE_METADATA_OPS`). See the README for the behaviour of each method."""

    table: Table = IMAGE_METADATA
    ops = IMAGE_METADATA_OPS


ROTATION_HINT = (
    "Note: {command} uses the provider configuration recorded in the state at the last `pulumi up`, not "
    "the current stack config. If you corrected or rotated the key since, run `pulumi up` first (it records "
    "the new configuration), or add `--run-program` to {command} (see README 'Team setup')"
)


@contextlib.contextmanager
def _recorded_config_hint(command: str) -> Iterator[None]:
    """Refresh and destroy authenticate with the configuration recorded in the state (Pulumi's design):
    a 401/403 there, after the key was fixed in config, needs `pulumi up` or `--run-program`."""
    try:
        yield
    except (AuthenticationFailed, PermissionDenied) as exc:
        exc.hint = f"{exc.hint}. {ROTATION_HINT.format(command=f'`{command}`')}" if exc.hint else \
            ROTATION_HINT.format(command=f"`{command}`")
        exc.args = (exc._format(),)
        raise


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
        raise ImsError(f"adopt image {image_id}: these fields cannot be changed in place, declare the image's "
                       f"values instead: {'; '.join(_mismatch(table, n, current, desired, profile) for n in fixed)}")
    return image
