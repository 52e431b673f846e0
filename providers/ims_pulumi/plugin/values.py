"""Values between the engine and the tables: names (camelCase <-> snake_case) and ``PropertyValue``.

The engine speaks the schema's camelCase names and ``PropertyValue`` trees (numbers are floats, an
unknown value is ``pulumi.runtime.rpc.UNKNOWN`` or a ``Computed``, secrets are flags on values); the
tables speak snake_case names and plain Python values (ints, Pulumi's ``Unknown`` placeholder). Both
directions are here and nowhere else, so the operations of :mod:`ims_pulumi.provider` and
:mod:`ims_pulumi.sharing` serve the plugin unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.runtime import rpc

from ..core import content
from ..core.framework import Table, is_unknown
from ..core.kinds import ContentSource, SecretUrl
from .schema import camel

#: Pulumi's placeholder of a value known only after apply, as the tables see it.
UNKNOWN: Any = Unknown()  # type: ignore[no-untyped-call]

#: The assets a content source may be (the dynamic provider's ``FileAsset``/``RemoteAsset``).
SOURCE_ASSETS = (pulumi.FileAsset, pulumi.RemoteAsset)


def schema_name(name: str) -> str:
    """The engine's name of a table name: camelCase; bookkeeping names (``__create_token``) as they are."""
    return name if name.startswith("_") else camel(name)


class Names:
    """The two spellings of one table's (or lookup's) names, derived by :func:`schema_name`."""

    def __init__(self, names: Iterable[str]) -> None:
        self.to_engine = {n: schema_name(n) for n in names}
        self.to_table = {v: k for k, v in self.to_engine.items()}
        self._secret: tuple[Table, frozenset[str]] | None = None

    @classmethod
    def of(cls, table: Table) -> Names:
        """The names of every field of ``table``."""
        return cls(f.name for f in table.fields)

    def table_name(self, name: str) -> str:
        """A name from the engine in the table's spelling (an unknown name stays as it is, for check to name it)."""
        return self.to_table.get(name, name)

    def secret_fields(self, table: Table) -> frozenset[str]:
        """The engine names of ``table``'s fields of a secret kind (kept for the last table asked: each
        resource's names serve one table)."""
        if self._secret is None or self._secret[0] is not table:
            self._secret = (table, frozenset(self.engine_name(f.name) for f in table.fields
                                             if isinstance(f.kind, SecretUrl)))
        return self._secret[1]

    def engine_name(self, name: str) -> str:
        """A table name in the engine's spelling."""
        found = self.to_engine.get(name)  # not .get(name, schema_name(name)): that computes the spelling every time
        return found if found is not None else schema_name(name)


def to_plain(value: PropertyValue) -> Any:
    """A ``PropertyValue`` as a plain Python value (secrecy dropped: see :func:`secret_keys`)."""
    inner = value.value
    if isinstance(inner, Computed) or inner == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(inner, bool) or inner is None:
        return inner
    if isinstance(inner, float):
        return int(inner) if inner.is_integer() else inner  # a schema integer arrives as 7.0
    if isinstance(inner, str):
        return inner
    if isinstance(inner, Mapping):
        return {k: to_plain(v) for k, v in inner.items()}
    if isinstance(inner, (tuple, list)):
        return [to_plain(v) for v in inner]
    return inner  # an asset, an archive, a resource reference: as the SDK gives it


def from_plain(value: Any, secret: bool = False) -> PropertyValue:
    """A plain value as a ``PropertyValue`` (unknowns as the engine's UNKNOWN sentinel, ints as floats)."""
    if type(value) is str:  # the common case first (every resource returns a dozen strings)
        out = PropertyValue(value)
    elif is_unknown(value):
        out = PropertyValue(rpc.UNKNOWN)  # PropertyValue.computed() cannot be sent back (SDK 3.272)
    elif isinstance(value, bool) or value is None or isinstance(value, (str, float, pulumi.Asset, pulumi.Archive)):
        out = PropertyValue(value)
    elif isinstance(value, int):
        out = PropertyValue(float(value))
    elif isinstance(value, Mapping):
        out = PropertyValue({str(k): from_plain(v) for k, v in value.items()})
    elif isinstance(value, (list, tuple, set, frozenset)):
        out = PropertyValue([from_plain(v) for v in value])
    else:
        out = PropertyValue(str(value))
    return out.with_secret(True) if secret else out


def secret_keys(props: Mapping[str, PropertyValue]) -> set[str]:
    """The top-level names whose value is or holds a secret."""
    return {k for k, v in props.items() if v.contains_secret()}


def table_props(names: Names, props: Mapping[str, PropertyValue]) -> dict[str, Any]:
    """Engine properties as the table's plain values."""
    return {names.table_name(k): to_plain(v) for k, v in props.items()}


def engine_props(names: Names, table: Table | None, values: Mapping[str, Any],
                 secrets: Iterable[str] = ()) -> dict[str, PropertyValue]:
    """Plain values in the engine's names; secret where the program gave a secret (``secrets``, engine
    names) or the field's kind is a secret one (a URL's secret parts)."""
    hidden = set(secrets)
    if table is not None:
        hidden |= names.secret_fields(table)
    out: dict[str, PropertyValue] = {}
    for name, value in values.items():
        key = names.engine_name(name)
        out[key] = from_plain(value, key in hidden)
    return out


def described_sources(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """The table's content sources (fields of the ``ContentSource`` kind) as the map the dynamic
    resource class registers (``content.describe``: identified by the bytes, a URL redacted), from a
    ``FileAsset``/``RemoteAsset`` or a string (a path, a URL, an OBS object ``obs://bucket/key``: the
    engine refuses an asset of that scheme, so the schema takes a string too), and a URL's secret
    parts as :data:`content.SECRET_URL_KEY` (a secret input, read at ``up``), so the table sees what it
    sees from the dynamic provider."""
    out = dict(values)
    # a declared checksum is part of a URL's identity, as the dynamic resource class registers it
    declared = values.get("checksum") if isinstance(values.get("checksum"), str) else None
    for f in table.fields:
        value = values.get(f.name)
        if isinstance(f.kind, ContentSource) and isinstance(value, (*SOURCE_ASSETS, str)) and value != "":
            out[f.name] = content.describe(value, declared)
            url = content.secret_url(value)
            if url:
                out[content.SECRET_URL_KEY] = url
    return out
