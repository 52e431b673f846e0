"""What a provider process works with, whichever adapter serves it: the context (settings and one
client, built from the ``ims:*`` configuration) and a resource's operations on plain values
(:class:`Operations`), which the dynamic provider and the plugin only translate to and from."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import content, os_versions, transfer
from .client import ImsClient
from .config import SETTINGS, ProviderConfig, resolve
from .errors import (
    AuthenticationFailed,
    ConfigError,
    ImsError,
    PermissionDenied,
    TransportError,
)
from .framework import Failure, Plan, Table
from .kinds import TokenTag
from .profiles import ServerProfile
from .staging import ObjectStore, Obs, ObsSettings
from .transport import Credentials, inform, warn, warn_insecure


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
        self._store: ObjectStore | None = None

    @classmethod
    def from_settings(cls, get: Callable[[str], Any]) -> ProviderContext:
        """The context for the ``ims:*`` keys that ``get`` returns (a configure request's config)."""
        raw = {}
        for setting in SETTINGS:
            value = get(f"ims:{setting.key}")
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

    def staging(self) -> transfer.Staging:
        """What the ``ims:obs*`` settings and the credentials allow for OBS (read by the transfer decision)."""
        config = self.config
        return transfer.Staging(config.obs_bucket, config.obs_endpoint, config.credentials.mode)

    def inform(self, message: str) -> None:
        """A line of information the CLI shows (the transfer path of an image)."""
        inform(message)

    def obs(self) -> Obs:
        """What the content workflow needs of OBS (the object store is made when a source is staged)."""
        config = self.config
        setup = self.staging()
        return Obs(setup, self.upload_limit(), config.obs_keep_staged,
                           self.object_store if setup.problem is None else None)

    def object_store(self) -> ObjectStore:
        """The one object store of this context (made on first use; needs ``ims:obsBucket`` and AK/SK)."""
        config = self.config
        problem = self.staging().problem
        if problem is not None:
            raise ConfigError(f"no object store: {problem}")
        with self._lock:
            if self._store is None:
                creds = config.credentials
                self._store = ObjectStore(ObsSettings(
                    endpoint=config.obs_endpoint, bucket=config.obs_bucket, region=config.obs_region,
                    credentials=Credentials(creds.access_key, creds.secret_key, creds.security_token),
                    verify=config.verify, keep=config.obs_keep_staged))
            return self._store

    def close(self) -> None:
        """Release the client's connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            if self._store is not None:
                self._store.close()
            self._store = None


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


def _create_first(table: Table, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Whether a replacement may create the new object before deleting the old one: only when the
    table has a create token (a look-up by it must not find the old object) and the replacement's
    token differs from the old object's (it does not after ``--replace`` or ``replace_on_changes``
    with unchanged values: then the old object goes first). Tables without one delete first."""
    tokens = [f for f in table.inputs if isinstance(f.kind, TokenTag)]
    return bool(tokens) and all(f.kind.distinct(olds.get(f.name), news, f.name) for f in tokens
                                if isinstance(f.kind, TokenTag))


ROTATION_HINT = (
    "Note: {command} uses the provider configuration recorded in the state at the last `pulumi up`, not "
    "the current stack config. If you corrected or rotated the key since, run `pulumi up` first (it records "
    "the new configuration), or add `--run-program` to {command} (see docs/team-setup.md, 'A rotated key')"
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
