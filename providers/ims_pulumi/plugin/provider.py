"""The ``ims`` provider plugin: a ``pulumi.provider.experimental`` Provider over the same operations
as the dynamic provider (:data:`ims_pulumi.provider.IMAGE_METADATA_OPS`,
:data:`ims_pulumi.sharing.IMAGE_MEMBER_OPS`, ...) and lookups (:func:`ims_pulumi.core.lookup.find_image`).

Each method translates values (:mod:`.values`), runs the blocking operation in a worker thread (the
client is synchronous; a deployment runs many resources at once) and translates the result back.
An engine runs one plugin process per provider instance, so the one :class:`ProviderContext` an
instance holds is that provider's configuration (explicit providers: one process each).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import PropertyValue

from ..core import content, lookup
from ..core.config import SETTINGS
from ..core.context import Operations, ProviderContext, diff_resource
from ..core.framework import is_unknown
from ..core.image_ops import IMAGE_METADATA_OPS
from ..core.kinds import TokenTag
from ..core.sharing import IMAGE_MEMBER_ACCEPTANCE_OPS, IMAGE_MEMBER_OPS
from ..engine import status_sink
from . import schema
from .values import UNKNOWN, Names, described_sources, engine_props, from_plain, secret_keys, table_props, to_plain

T = TypeVar("T")

#: The operations of each resource token.
OPERATIONS: dict[str, Operations] = {
    token: ops for ops in (IMAGE_METADATA_OPS, IMAGE_MEMBER_OPS, IMAGE_MEMBER_ACCEPTANCE_OPS)
    for token, table in schema.RESOURCES.items() if table is ops.table
}
#: The lookup each function token runs (its arguments are those of the schema's lookup signature).
LOOKUPS: dict[str, Callable[..., Any]] = {
    f"{schema.PACKAGE}:index:getImage": lookup.find_image,
    f"{schema.PACKAGE}:index:getImages": lookup.find_images,
}
_NAMES = {token: Names.of(table) for token, table in schema.RESOURCES.items()}
#: The create-token fields of each resource token. The token is bookkeeping kept in the inputs; the
#: outputs leave it out (one key and ~70 bytes less in every state entry, which the engine rewrites at
#: every checkpoint), and diff and update take the previous one from the previous inputs.
TOKEN_FIELDS: dict[str, tuple[str, ...]] = {
    token: tuple(f.name for f in table.inputs if isinstance(f.kind, TokenTag)) for token, table in schema.RESOURCES.items()
}
#: The engine names of every create-token field (what the servicer reads from a request's old inputs).
TOKEN_KEYS = frozenset(Names.of(table).engine_name(name) for token, table in schema.RESOURCES.items()
                       for name in TOKEN_FIELDS[token])
#: The create tokens of the resource's previous inputs, engine names, set by the servicer around Diff and
#: Update (the SDK's request objects do not carry the old inputs); ``None``: not known (a call made
#: without the servicer), then the checked inputs' token stands in, which check keeps equal to the old one.
OLD_TOKENS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("ims_old_tokens", default=None)
_ARGUMENTS = {token: Names(schema.lookup_arguments(fn)) for token, fn in schema.FUNCTIONS.items()}
_INFO = Names(f.name for f in dataclasses.fields(lookup.ImageInfo))


def _in_call(urn: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with ``urn`` as the call's resource, so upload progress is its status line."""
    token = content.STATUS_SINK.set(status_sink(urn))
    try:
        return fn(*args)
    finally:
        content.STATUS_SINK.reset(token)


def base_token(urn: str) -> str:
    """A stable create token base for one resource of one stack (the URN names project, stack, type and
    name), as the dynamic resource class makes one from project, stack and name."""
    return hashlib.sha256(urn.encode()).hexdigest()[:32]


class ImsProvider(p.Provider):
    """The plugin's provider: configuration, check, diff, CRUD, invokes and the schema."""

    def __init__(self, context: ProviderContext | None = None) -> None:
        self.context = context or ProviderContext()
        self._lookups: lookup.Lookups | None = None

    # --- the package ------------------------------------------------------------------------

    async def get_schema(self, request: p.GetSchemaRequest) -> p.GetSchemaResponse:
        """The schema generated from the tables (:func:`.schema.build_schema`)."""
        return p.GetSchemaResponse(schema=schema.render(schema.build_schema()))

    async def configure(self, request: p.ConfigureRequest) -> p.ConfigureResponse:
        """Keep the ``ims:*`` settings (explicit provider arguments, else stack config variables);
        validated on first use, like the dynamic provider's."""
        raw: dict[str, Any] = {}
        for setting in SETTINGS:
            value: Any = request.variables.get(f"{schema.PACKAGE}:{setting.key}")
            arg = request.args.get(setting.key)
            if arg is not None and arg.value is not None and not is_unknown(to_plain(arg)):
                value = arg.value
            if isinstance(value, bool):
                value = str(value).lower()
            elif isinstance(value, float):
                value = f"{value:g}"
            if value not in (None, ""):
                raw[setting.key] = str(value)
        self.context = ProviderContext(raw)
        self._lookups = None
        return p.ConfigureResponse(accept_secrets=True, supports_preview=True, accept_outputs=False,
                                   accept_resources=False)

    async def diff_config(self, request: p.DiffRequest) -> p.DiffResponse:
        """Left to the engine (a changed setting updates the provider; no resource is replaced for it)."""
        return p.DiffResponse()

    # --- resources --------------------------------------------------------------------------

    def _ops(self, token: str) -> tuple[Operations, Names]:
        if token not in OPERATIONS:
            raise ValueError(f"unknown resource type {token!r}; this plugin serves {', '.join(OPERATIONS)}")
        return OPERATIONS[token], _NAMES[token]

    @staticmethod
    def _with_old_tokens(token: str, names: Names, olds: dict[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        """The previous outputs with the create token put back (the outputs leave it out): from the previous
        inputs when the servicer passed them, else from the checked inputs (check keeps the old token)."""
        old_tokens = OLD_TOKENS.get()
        for name in TOKEN_FIELDS[token]:
            if not olds.get(name):
                value = news.get(name) if old_tokens is None else old_tokens.get(names.engine_name(name))
                if value:
                    olds[name] = value
        return olds

    @staticmethod
    def _outputs(token: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Outputs without the create token (it stays in the inputs)."""
        tokens = TOKEN_FIELDS[token]
        return {k: v for k, v in values.items() if k not in tokens} if tokens else dict(values)

    async def check(self, request: p.CheckRequest) -> p.CheckResponse:
        """The table's check on the program's inputs (sources described as the dynamic resource class
        does, the create token's base from the URN)."""
        ops, names = self._ops(request.type)
        olds = table_props(names, request.old_inputs)
        news = described_sources(ops.table, table_props(names, request.new_inputs))
        for f in ops.table.inputs:
            if isinstance(f.kind, TokenTag) and not news.get(f.name):
                news[f.name] = base_token(request.urn)
        inputs, failures = await asyncio.to_thread(ops.check, self.context, olds, news)
        return p.CheckResponse(
            inputs=engine_props(names, ops.table, inputs, secret_keys(request.new_inputs)),
            failures=[p.CheckFailure(names.engine_name(f.property) if f.quote and f.property else "", f.reason)
                      for f in failures])

    async def diff(self, request: p.DiffRequest) -> p.DiffResponse:
        """The table's plan: old outputs against the checked inputs."""
        ops, names = self._ops(request.type)
        news = table_props(names, request.new_inputs)
        olds = self._with_old_tokens(request.type, names, table_props(names, request.old_state), news)
        plan, delete_first = diff_resource(self.context, ops.table, olds, news)
        replaces = [names.engine_name(n) for n in plan.replaces]
        changed = [names.engine_name(n) for n in plan.changed]
        detail = {n: p.PropertyDiff(p.PropertyDiffKind.UPDATE_REPLACE if n in replaces else p.PropertyDiffKind.UPDATE,
                                    True) for n in changed}
        return p.DiffResponse(changes=plan.changes, replaces=replaces, delete_before_replace=delete_first,
                              diffs=changed, detailed_diff=detail)

    def _preview(self, token: str, ops: Operations, names: Names, base: Mapping[str, Any],
                 secrets: set[str]) -> dict[str, PropertyValue]:
        """What a create or update will return, as far as known now: the inputs with their defaults,
        computed fields unknown (or as they were)."""
        values = ops.table.effective(dict(base), self.context.profile)
        for f in ops.table.outputs:
            values.setdefault(f.name, UNKNOWN)
        return engine_props(names, ops.table, self._outputs(token, values), secrets)

    async def create(self, request: p.CreateRequest) -> p.CreateResponse:
        """Create the object (or, in a preview, say what is known of it)."""
        ops, names = self._ops(request.type)
        props, secrets = table_props(names, request.properties), secret_keys(request.properties)
        if request.preview:
            return p.CreateResponse(resource_id="", properties=self._preview(request.type, ops, names, props, secrets))
        id_, outs = await asyncio.to_thread(_in_call, request.urn, ops.create, self.context, props)
        return p.CreateResponse(resource_id=id_,
                                properties=engine_props(names, ops.table, self._outputs(request.type, outs), secrets))

    async def read(self, request: p.ReadRequest) -> p.ReadResponse:
        """Refresh, ``pulumi import`` and ``get``: outputs and inputs as the server has them (an empty
        id: the object is gone)."""
        ops, names = self._ops(request.type)
        props = {**table_props(names, request.inputs), **table_props(names, request.properties)}
        secrets = secret_keys(request.properties) | secret_keys(request.inputs)
        found = await asyncio.to_thread(ops.read, self.context, request.resource_id, props)
        if found is None:
            return p.ReadResponse(resource_id="", properties={}, inputs={})
        id_, outs, inputs = found
        if not props:
            inputs = await asyncio.to_thread(self._declarable, ops, inputs)
        return p.ReadResponse(resource_id=id_,
                              properties=engine_props(names, ops.table, self._outputs(request.type, outs), secrets),
                              inputs=engine_props(names, ops.table, inputs, secrets))

    def _declarable(self, ops: Operations, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """An import's inputs: the values read back that a program could declare (the generated code
        declares them): not an empty checksum or the server's bare MD5, which no check would accept."""
        table, profile = ops.table, self.context.profile
        return {k: v for k, v in inputs.items()
                if k in table.by_name and table.by_name[k].kind.declared(v)
                and table.by_name[k].kind.validate(v, profile, self.context) is None}

    async def update(self, request: p.UpdateRequest) -> p.UpdateResponse:
        """Apply in-place changes; complete outputs."""
        ops, names = self._ops(request.type)
        news = table_props(names, request.news)
        olds = self._with_old_tokens(request.type, names, table_props(names, request.olds), news)
        secrets = secret_keys(request.news)
        if ops.update is None:
            raise ValueError(f"{ops.table.resource} has no in-place update: every change replaces it")
        if request.preview:
            merged = {**{k: v for k, v in olds.items() if k in {f.name for f in ops.table.outputs}}, **news}
            return p.UpdateResponse(properties=self._preview(request.type, ops, names, merged, secrets))
        outs = await asyncio.to_thread(_in_call, request.urn, ops.update, self.context, request.resource_id, olds, news)
        return p.UpdateResponse(properties=engine_props(names, ops.table, self._outputs(request.type, outs), secrets))

    async def delete(self, request: p.DeleteRequest) -> None:
        """Delete the object; one already gone counts as deleted."""
        ops, names = self._ops(request.type)
        await asyncio.to_thread(ops.delete, self.context, request.resource_id, table_props(names, request.properties))

    # --- functions --------------------------------------------------------------------------

    def lookups(self) -> lookup.Lookups:
        """This provider's lookups (identical lookups of one deployment make one set of API calls)."""
        if self._lookups is None:
            self._lookups = lookup.Lookups(self.context.client, self.context.profile)
        return self._lookups

    async def invoke(self, request: p.InvokeRequest) -> p.InvokeResponse:
        """``getImage`` / ``getImages``: the same lookups as :func:`ims_pulumi.get_image`."""
        if request.tok not in LOOKUPS:
            raise ValueError(f"unknown function {request.tok!r}; this plugin serves {', '.join(LOOKUPS)}")
        names = _ARGUMENTS[request.tok]
        args = {k: v for k, v in table_props(names, request.args).items() if v is not None}
        unknown = sorted(set(args) - set(names.to_engine))
        if unknown:
            allowed = ", ".join(names.to_engine.values())
            return p.InvokeResponse(failures=[p.CheckFailure(names.engine_name(n), (
                f"unknown argument {names.engine_name(n)!r} of {request.tok}; it takes: {allowed}")) for n in unknown])
        result = await asyncio.to_thread(self._run_lookup, request.tok, args)
        return p.InvokeResponse(return_value=result)

    def _run_lookup(self, token: str, args: dict[str, Any]) -> dict[str, PropertyValue]:
        found = LOOKUPS[token](self.lookups(), **args)
        if isinstance(found, list):
            return {schema.IMAGES_RESULT: from_plain([_info(i) for i in found])}
        return {k: from_plain(v) for k, v in _info(found).items()}


def _info(info: lookup.ImageInfo) -> dict[str, Any]:
    """One ImageInfo in the schema's names (``None`` fields left out)."""
    return {_INFO.engine_name(k): v for k, v in dataclasses.asdict(info).items() if v is not None}
